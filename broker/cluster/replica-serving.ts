/**
 * The leader's side of the replication apis (protocol/native/apis/replication.ts), served
 * through the partition service like any other read:
 *
 * ReplicaFetch: for each partition, the follower's request is checked against this
 * leadership (ReplicaManager.validateFollower), its fetch offset recorded as its log end
 * offset (which may move the high watermark and grow the ISR), and whole batches from that
 * offset up to this log's end are read. When nothing is there — no records, no high
 * watermark newer than the follower's, no error — the fetch waits up to maxWaitMs for an
 * append or a high-watermark move of any of its partitions (or the connection closing), and
 * reads again. An offset past the log end or below its start is OFFSET_OUT_OF_RANGE with the
 * leader's offsets, so the follower knows where to go.
 *
 * OffsetForLeaderEpoch: the epoch and end offset this log gives for the follower's latest
 * epoch (PartitionLog.endOffsetForEpoch), with the log's start and end.
 */

import type { RequestOf, ResponseOf } from '../../protocol/native/api-keys.js'
import { OffsetOutOfRangeError, SpoolError, UnknownServerError } from '../../protocol/errors.js'
import type { ReplicaManager } from './replica-manager.js'

type FetchAnswer = ResponseOf<'ReplicaFetch'>['partitions'][number]

function errorFields (err: unknown): { errorCode: number, errorMessage: string } {
  const named = err instanceof SpoolError ? err : new UnknownServerError('internal error', { cause: err })
  return { errorCode: named.errorCode, errorMessage: named.message }
}

export async function serveReplicaFetch (
  manager: ReplicaManager, req: RequestOf<'ReplicaFetch'>, signal: AbortSignal,
): Promise<{ body: Omit<ResponseOf<'ReplicaFetch'>, 'errorCode' | 'errorMessage'>, records: Uint8Array[] }> {
  const deadline = manager.now() + req.maxWaitMs
  const keys = req.partitions.map(p => `${p.topic}/${p.partition}`)
  for (;;) {
    let woken = false
    let wake: () => void = () => { woken = true }
    const cancel = manager.onReplicaWake(keys, () => wake())
    const pass = await readOnce(manager, req)
    const remaining = deadline - manager.now()
    if (pass.ready || remaining <= 0 || signal.aborted) {
      cancel()
      return { body: { partitions: pass.partitions }, records: pass.records }
    }
    if (!woken) {
      await new Promise<void>(resolve => {
        const timer = setTimeout(done, remaining)
        function done (): void {
          clearTimeout(timer)
          signal.removeEventListener('abort', done)
          resolve()
        }
        wake = done
        signal.addEventListener('abort', done)
      })
    }
    cancel()
  }
}

async function readOnce (manager: ReplicaManager, req: RequestOf<'ReplicaFetch'>): Promise<{ partitions: FetchAnswer[], records: Uint8Array[], ready: boolean }> {
  const partitions: FetchAnswer[] = []
  const records: Uint8Array[] = []
  let budget = req.maxBytes
  let ready = false
  for (const p of req.partitions) {
    try {
      const r = manager.validateFollower(p.topic, p.partition, req.replicaId, p.leaderEpoch)
      const log = manager.log(p.topic, p.partition)
      if (p.fetchOffset > log.logEndOffset || p.fetchOffset < log.logStartOffset) {
        throw new OffsetOutOfRangeError(`fetch offset ${p.fetchOffset} is outside [${log.logStartOffset}, ${log.logEndOffset}] of ${p.topic}-${p.partition} on the leader`)
      }
      manager.followerFetched(r, req.replicaId, p.fetchOffset, log)
      let data: Uint8Array = new Uint8Array(0)
      if (p.fetchOffset < log.logEndOffset && (budget > 0 || records.length === 0)) {
        data = (await manager.partitionService.readReplica(p.topic, p.partition, p.fetchOffset, Math.max(0, Math.min(p.maxBytes, budget)))).bytes
      }
      if (data.length > 0) {
        records.push(data)
        budget -= data.length
        ready = true
      }
      if (log.highWatermark > p.highWatermark) ready = true
      partitions.push({
        topic: p.topic, partition: p.partition, errorCode: 0, errorMessage: null,
        highWatermark: log.highWatermark, logStartOffset: log.logStartOffset, logEndOffset: log.logEndOffset, recordsBytes: data.length,
      })
    } catch (err) {
      ready = true
      let offsets = { highWatermark: -1, logStartOffset: -1, logEndOffset: -1 }
      try {
        const log = manager.log(p.topic, p.partition)
        offsets = { highWatermark: log.highWatermark, logStartOffset: log.logStartOffset, logEndOffset: log.logEndOffset }
      } catch { /* no such partition here */ }
      if (!(err instanceof SpoolError)) manager.logger.error({ err, topic: p.topic, partition: p.partition }, 'replica fetch failed')
      partitions.push({ topic: p.topic, partition: p.partition, ...errorFields(err), ...offsets, recordsBytes: 0 })
    }
  }
  return { partitions, records, ready }
}

export function serveOffsetForLeaderEpoch (manager: ReplicaManager, req: RequestOf<'OffsetForLeaderEpoch'>): Omit<ResponseOf<'OffsetForLeaderEpoch'>, 'errorCode' | 'errorMessage'> {
  return {
    partitions: req.partitions.map(p => {
      try {
        manager.validateFollower(p.topic, p.partition, req.replicaId, p.currentLeaderEpoch)
        const log = manager.log(p.topic, p.partition)
        const answer = log.endOffsetForEpoch(p.leaderEpoch)
        return {
          topic: p.topic, partition: p.partition, errorCode: 0, errorMessage: null,
          leaderEpoch: answer.epoch, endOffset: answer.endOffset, logStartOffset: log.logStartOffset, logEndOffset: log.logEndOffset,
        }
      } catch (err) {
        return { topic: p.topic, partition: p.partition, ...errorFields(err), leaderEpoch: -1, endOffset: -1, logStartOffset: 0, logEndOffset: 0 }
      }
    }),
  }
}
