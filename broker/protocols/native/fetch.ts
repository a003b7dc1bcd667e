/**
 * Fetch, a long poll. Reads every requested partition (whole batches as they lie on disk,
 * no decoding); if fewer than minBytes came back and maxWaitMs has not passed, waits for an
 * append to any of the partitions (or the deadline, or the connection closing) and reads
 * again. The response is written as header + body + the read buffers, never joined.
 *
 * Budget: each partition gets at most its maxBytes and the request at most its maxBytes
 * (capped by half of maxQueuedBytes so one response can never trip the slow-reader limit,
 * and by the connection's response room, so pipelined fetches that are not read cannot pile
 * up reads in memory); the first batch found is returned even if larger (KIP-74), so a
 * consumer always moves.
 */

import { SlowReaderError, SpoolError } from '../../../protocol/errors.js'
import type { RequestOf, ResponseOf } from '../../../protocol/native/api-keys.js'
import type { RequestContext } from './connection.js'
import { errorFields, type BrokerContext } from './context.js'
import type { Reply } from './dispatcher.js'

type FetchTopics = ResponseOf<'Fetch'>['topics']

interface Pass {
  topics: FetchTopics
  records: Uint8Array[]
  bytes: number
  anyError: boolean
}

async function readOnce (ctx: BrokerContext, req: RequestOf<'Fetch'>, rc: RequestContext): Promise<Pass> {
  // The connection's room: what is queued for it and what its other fetches are reading
  // count against maxQueuedBytes. With no room because other fetches of this connection
  // are reading, this pass reads nothing (the fetch answers empty or long-polls, and the
  // client asks again); with no room because responses are not being read, the connection
  // is a slow reader. Never more memory for a connection than the limit. The budget is
  // reserved before reading, since fetches that arrive together all read at once.
  const room = rc.room.available()
  if (room <= 0 && rc.room.queued() >= ctx.config.maxQueuedBytes / 2) {
    // Not a crowd of concurrent reads but responses piling up unread: a slow reader.
    throw new SlowReaderError(`${rc.room.queued()} response bytes queued and no room for more fetch data (maxQueuedBytes ${ctx.config.maxQueuedBytes})`)
  }
  const budget = Math.max(0, Math.min(req.maxBytes, Math.floor(ctx.config.maxQueuedBytes / 2), room))
  rc.room.reserve(budget)
  try {
    return await readPartitions(ctx, req, budget)
  } finally {
    rc.room.release(budget)
  }
}

async function readPartitions (ctx: BrokerContext, req: RequestOf<'Fetch'>, budget: number): Promise<Pass> {
  // The first batch found is returned even if larger than the budget (KIP-74), unless
  // there is no room at all.
  const mayExceed = budget > 0
  const records: Uint8Array[] = []
  let bytes = 0
  let anyError = false
  const topics: FetchTopics = []
  for (const t of req.topics) {
    const partitions: FetchTopics[number]['partitions'] = []
    for (const p of t.partitions) {
      try {
        const log = ctx.logs.partition(t.topic, p.partition)
        let data: Uint8Array = EMPTY
        if (budget > 0 || (bytes === 0 && mayExceed)) {
          const r = await ctx.partitions.read(t.topic, p.partition, p.fetchOffset, Math.min(p.maxBytes, budget), bytes === 0)
          data = r.bytes
        }
        partitions.push({
          partition: p.partition,
          errorCode: 0,
          errorMessage: null,
          highWatermark: log.highWatermark,
          lastStableOffset: log.highWatermark,
          logStartOffset: log.logStartOffset,
          recordsBytes: data.length,
        })
        if (data.length > 0) {
          records.push(data)
          bytes += data.length
          budget -= data.length
        }
      } catch (err) {
        if (!(err instanceof SpoolError)) ctx.logger.error({ err, topic: t.topic, partition: p.partition }, 'fetch read failed')
        anyError = true
        partitions.push({ partition: p.partition, ...errorFields(err), highWatermark: -1, lastStableOffset: -1, logStartOffset: -1, recordsBytes: 0 })
      }
    }
    topics.push({ topic: t.topic, partitions })
  }
  return { topics, records, bytes, anyError }
}

const EMPTY = new Uint8Array(0)

export async function fetch (ctx: BrokerContext, req: RequestOf<'Fetch'>, rc: RequestContext): Promise<Reply<'Fetch'>> {
  const deadline = ctx.now() + req.maxWaitMs
  const keys = req.topics.flatMap(t => t.partitions.map(p => [t.topic, p.partition] as const))
  for (;;) {
    // Subscribe before reading, so an append that lands during the read still wakes us.
    let woken = false
    let wake: () => void = () => { woken = true }
    const cancel = ctx.partitions.onNextAppend(keys, () => wake())
    let pass: Pass
    try {
      pass = await readOnce(ctx, req, rc)
    } catch (err) {
      cancel()
      throw err
    }
    const remaining = deadline - ctx.now()
    if (pass.bytes >= req.minBytes || pass.anyError || remaining <= 0 || rc.signal.aborted) {
      cancel()
      return { body: { topics: pass.topics }, records: pass.records }
    }
    if (!woken) {
      await new Promise<void>(resolve => {
        const timer = setTimeout(done, remaining)
        function done (): void {
          clearTimeout(timer)
          rc.signal.removeEventListener('abort', done)
          resolve()
        }
        wake = done
        rc.signal.addEventListener('abort', done)
      })
    }
    cancel()
    if (rc.signal.aborted) return { body: { topics: [] } }
  }
}
