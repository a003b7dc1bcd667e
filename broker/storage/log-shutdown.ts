/**
 * The end of LogManager.close (log-manager.ts), once its timers are stopped and no topic
 * change runs: close every partition log, write the clean-shutdown marker (data-dir.ts) when
 * every log's data was fsynced, and say what could not be done.
 *
 * Shutdown on a full disk: each log's close tries every step (fsync, index files, producer
 * snapshot, checkpoint; log-state.ts closeLogFiles), and the marker is written when every
 * log's data was fsynced — the files that could not be written are caches the next open
 * rebuilds. Then, if anything failed, one line is logged ('shutdown incomplete': which logs,
 * which steps, whether the marker was written) and the call rejects with a StorageError
 * saying the same.
 */

import type pino from 'pino'
import { StorageError } from '../../protocol/errors.js'
import { writeCleanShutdownMarker } from './data-dir.js'
import type { PartitionLog } from './partition-log.js'

/**
 * Closes `logs`, then waits for the background work `background()` names then (retention,
 * compaction passes) to settle, then writes the marker as above; rejects when a log or the
 * marker failed.
 */
export async function closeLogsAndMark (
  dataDir: string, logs: PartitionLog[], background: () => Array<Promise<void> | null>, logger: pino.Logger,
): Promise<void> {
  const results = await Promise.allSettled(logs.map(l => l.close()))
  await Promise.allSettled(background())
  const failures: Array<{ log: string, problems: string[] }> = []
  let dataDurable = true
  results.forEach((r, i) => {
    if (r.status === 'fulfilled') return
    const log = logs[i]!
    const outcome = log.closeOutcome
    if (outcome === null || !outcome.dataDurable) dataDurable = false
    failures.push({ log: `${log.topic}-${log.partition}`, problems: outcome?.problems ?? [String((r.reason as Error).message)] })
  })
  let markerWritten = false
  let markerProblem: string | null = null
  if (dataDurable) {
    try {
      writeCleanShutdownMarker(dataDir)
      markerWritten = true
    } catch (err) {
      markerProblem = (err as Error).message
    }
  }
  if (failures.length > 0 || markerProblem !== null) {
    const steps = [...new Set(failures.flatMap(f => f.problems.map(p => p.slice(0, p.indexOf(':')))))]
    logger.error({
      failedLogs: failures.length, closedLogs: logs.length - failures.length, steps, markerWritten, markerProblem,
      dataDurable, failures: failures.slice(0, 20),
    }, 'shutdown incomplete')
    const what = failures.length > 0 ? `${failures.length} of ${logs.length} logs could not write ${steps.join(', ')}` : 'every log closed'
    throw new StorageError(`shutdown incomplete: ${what}; ${markerWritten
      ? 'all data is fsynced and the clean-shutdown marker was written (the next start rebuilds the rest)'
      : `no clean-shutdown marker (${markerProblem ?? 'some data could not be fsynced'}): the next start recovers the logs`}`,
    { cause: results.find(r => r.status === 'rejected')?.reason })
  }
}
