/**
 * Fetch, a long poll, for every protocol that fetches (native, Kafka). Reads every
 * requested partition (whole batches as they lie on disk, no decoding); if fewer than
 * minBytes came back and maxWaitMs has not passed, waits for an append to any of the
 * partitions (or the deadline, or the connection closing) and reads again — except at the
 * deadline with nothing appended, when it answers with what it read. The caller
 * writes the response as header + body + the read buffers, never joined.
 *
 * Budget: each partition gets at most its maxBytes and the request at most its maxBytes
 * (capped by half of the connection's maxQueuedBytes so one response can never trip the
 * slow-reader limit, and by the connection's response room, so pipelined fetches that are
 * not read cannot pile up reads in memory); the first batch found is returned even if
 * larger (KIP-74), so a consumer always moves.
 *
 * Metering: a fetch made for a connection passes the connection as `meter` (any fetching
 * protocol: `meter: rc.connection`). When the fetch arrives, the meter learns where each
 * partition is read from and the high watermark then (how far behind the log end the
 * client reads); the answer it returns — not the passes of a long poll that came back empty
 * or short — is told partition by partition (bytes, records), then as a whole, which
 * charges the fetch quota; `throttleTimeMs` in the result is what the response reports.
 */

import type { Logger } from 'pino'
import { SlowReaderError, SpoolError } from '../../protocol/errors.js'
import type { Caller } from '../security/principal.js'
import { longPolls } from './deadline-wheel.js'
import { countRecords, type PartitionService } from './partitions.js'
import type { ResponseRoom } from './response-room.js'

export interface FetchPartition {
  readonly topic: string
  readonly partition: number
  readonly fetchOffset: number
  readonly maxBytes: number
}

export interface FetchRequest {
  readonly partitions: readonly FetchPartition[]
  readonly maxWaitMs: number
  readonly minBytes: number
  readonly maxBytes: number
  /** The consumer's rack (KIP-392): it may be sent to, and read from, a replica in it. '' = none. */
  readonly rackId?: string
}

export interface FetchedPartition {
  readonly topic: string
  readonly partition: number
  /** The partition's error (its other fields are -1 then), null when it was read. */
  readonly error: unknown
  readonly highWatermark: number
  readonly lastStableOffset: number
  readonly logStartOffset: number
  /** Whole batches (a view of what storage read), empty when none. */
  readonly records: Uint8Array
  /** Cluster mode, KIP-392: the replica this consumer should fetch the partition from (-1: here). */
  readonly preferredReadReplica: number
}

export interface FetchResult {
  /** One entry per requested partition, in request order. */
  readonly partitions: FetchedPartition[]
  /** The non-empty record buffers, in order (to be written after the response body). */
  readonly records: Uint8Array[]
  readonly bytes: number
  /** How long the client must wait before it is served again (a quota); 0 when not throttled. */
  readonly throttleTimeMs: number
}

/** Who a fetch is for (a network Connection is one): told what the answer holds. */
export interface FetchMeter {
  /** A partition is asked for from `fetchOffset` while its high watermark is `highWatermark`. */
  fetchPosition (topic: string, partition: number, fetchOffset: number, highWatermark: number): void
  /** A partition's part of the answer (only partitions with data). */
  fetchedPartition (topic: string, bytes: number, records: number): void
  /** The whole answer: charged to the fetch quota; returns the throttle time to report (ms). */
  fetchedRequest (bytes: number): number
}

export interface FetchContext {
  readonly partitions: PartitionService
  readonly caller: Caller
  readonly room: ResponseRoom
  readonly signal: AbortSignal
  readonly now: () => number
  readonly logger: Logger
  /** The connection the fetch is for (activity and fetch quota); none for the broker's own reads. */
  readonly meter?: FetchMeter
}

/** One read of the request's partitions; `starved`: it had no room to read into. */
type Pass = Omit<FetchResult, 'throttleTimeMs'> & { anyError: boolean, redirected: boolean, starved: boolean }

const EMPTY = new Uint8Array(0)

export async function fetchRecords (ctx: FetchContext, req: FetchRequest): Promise<FetchResult> {
  const deadline = ctx.now() + req.maxWaitMs
  const keys = req.partitions.map(p => [p.topic, p.partition] as const)
  if (ctx.meter !== undefined) {
    for (const p of req.partitions) {
      if (ctx.partitions.has(p.topic, p.partition)) ctx.meter.fetchPosition(p.topic, p.partition, p.fetchOffset, ctx.partitions.offsets(p.topic, p.partition).highWatermark)
    }
  }
  for (;;) {
    // Subscribe before reading, so an append that lands during the read still wakes us.
    let woken = false
    let wake: () => void = () => { woken = true }
    const cancel = ctx.partitions.onNextAppend(keys, () => wake())
    let pass: Pass
    try {
      pass = await readOnce(ctx, req)
    } catch (err) {
      cancel()
      throw err
    }
    const remaining = deadline - ctx.now()
    if (pass.bytes >= req.minBytes || pass.anyError || pass.redirected || remaining <= 0 || ctx.signal.aborted) {
      cancel()
      return metered(ctx, pass)
    }
    let timedOut = false
    if (!woken) {
      await new Promise<void>(resolve => {
        const cancelTimer = longPolls.after(remaining, () => {
          timedOut = true
          done()
        })
        // Read again as soon as the reads that took the room are done (see ResponseRoom).
        const cancelRoom = pass.starved ? ctx.room.onRelease(done) : null
        function done (): void {
          cancelTimer()
          cancelRoom?.()
          ctx.signal.removeEventListener('abort', done)
          resolve()
        }
        wake = done
        ctx.signal.addEventListener('abort', done)
      })
    }
    cancel()
    if (ctx.signal.aborted) return { partitions: [], records: [], bytes: 0, throttleTimeMs: 0 }
    // The deadline passed with no append to (or high watermark move of) these partitions
    // since the pass: reading again would find what it found (an idle consumer's poll).
    if (timedOut) return metered(ctx, pass)
  }
}

/** Tells the meter what the answer holds; the fetch quota's throttle time goes in the result. */
function metered (ctx: FetchContext, pass: Pass): FetchResult {
  const meter = ctx.meter
  if (meter === undefined) return { partitions: pass.partitions, records: pass.records, bytes: pass.bytes, throttleTimeMs: 0 }
  for (const p of pass.partitions) {
    if (p.records.length > 0) meter.fetchedPartition(p.topic, p.records.length, countRecords(p.records))
  }
  return { partitions: pass.partitions, records: pass.records, bytes: pass.bytes, throttleTimeMs: meter.fetchedRequest(pass.bytes) }
}

async function readOnce (ctx: FetchContext, req: FetchRequest): Promise<Pass> {
  // The connection's room: what is queued for it and what its other fetches are reading
  // count against maxQueuedBytes. With no room because other fetches of this connection
  // are reading, this pass reads nothing (starved: a long poll reads again when they
  // release their room, a fetch with no wait answers empty and the client asks again);
  // with no room because responses are not being read, the connection is a slow reader.
  // The budget is reserved before reading, since fetches that arrive together all read at
  // once.
  const room = ctx.room.available()
  if (room <= 0 && ctx.room.queued() >= ctx.room.limit / 2) {
    throw new SlowReaderError(`${ctx.room.queued()} response bytes queued and no room for more fetch data (maxQueuedBytes ${ctx.room.limit})`)
  }
  const budget = Math.max(0, Math.min(req.maxBytes, Math.floor(ctx.room.limit / 2), room))
  ctx.room.reserve(budget)
  try {
    const pass = await readPartitions(ctx, req, budget)
    pass.starved = budget === 0 && req.maxBytes > 0
    return pass
  } finally {
    ctx.room.release(budget)
  }
}

async function readPartitions (ctx: FetchContext, req: FetchRequest, budget: number): Promise<Pass> {
  // The first batch found is returned even if larger than the budget (KIP-74), unless
  // there is no room at all.
  const mayExceed = budget > 0
  const records: Uint8Array[] = []
  const partitions: FetchedPartition[] = []
  let bytes = 0
  let anyError = false
  let redirected = false
  const rack = req.rackId ?? ''
  for (const p of req.partitions) {
    try {
      const offsets = ctx.partitions.offsets(p.topic, p.partition)
      let data: Uint8Array = EMPTY
      // A leader that prefers another replica for this consumer says so instead of reading.
      const preferred = ctx.partitions.preferredReadReplica(p.topic, p.partition, rack)
      if (preferred >= 0) redirected = true
      if (preferred < 0 && (budget > 0 || (bytes === 0 && mayExceed))) {
        const r = await ctx.partitions.read(ctx.caller, p.topic, p.partition, p.fetchOffset, Math.min(p.maxBytes, budget), bytes === 0, { followerRead: rack !== '' })
        data = r.bytes
      }
      partitions.push({
        topic: p.topic,
        partition: p.partition,
        error: null,
        highWatermark: offsets.highWatermark,
        lastStableOffset: offsets.highWatermark,
        logStartOffset: offsets.logStartOffset,
        records: data,
        preferredReadReplica: preferred,
      })
      if (data.length > 0) {
        records.push(data)
        bytes += data.length
        budget -= data.length
      }
    } catch (err) {
      if (err instanceof SlowReaderError) throw err
      if (!(err instanceof SpoolError)) ctx.logger.error({ err, topic: p.topic, partition: p.partition }, 'fetch read failed')
      anyError = true
      partitions.push({ topic: p.topic, partition: p.partition, error: err, highWatermark: -1, lastStableOffset: -1, logStartOffset: -1, records: EMPTY, preferredReadReplica: -1 })
    }
  }
  return { partitions, records, bytes, anyError, redirected, starved: false }
}
