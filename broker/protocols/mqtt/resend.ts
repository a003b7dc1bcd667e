/**
 * Resending what was in flight when a session comes back [MQTT-4.4.0-1]: unacknowledged
 * QoS 1/2 PUBLISHes again with DUP=1 and their packet ids, PUBRELs again, in offset order per
 * log partition. A record in flight is not kept in memory (session.ts) and is read back here —
 * by ranges: one budgeted read (read-budget.ts) serves every in-flight offset it covers, so a
 * full window of 1,000 small messages costs a read or two, not a read and a decode of a
 * 64 KiB chunk per message. Each read is preceded by a turn of the event loop: reads near the
 * log's end complete synchronously, and a resend must never hold the loop for a whole window.
 *
 * An in-flight record that is no longer in the log (retention, compaction) or cannot be read
 * is forgotten: the client never gets it again (logged for the read error).
 */

import type { Logger } from 'pino'
import { encodeAck, encodePublish } from './codec.js'
import { outgoingProperties, type Delivery, type Inflight, type SessionOutput } from './delivery.js'
import { readBudgeted, type LogAccess } from './log-access.js'
import { recordToMessage, remainingExpirySec } from './mapping.js'
import type { ReadBudget } from './read-budget.js'
import type { TopicLimits } from './topics.js'

export interface ResendContext {
  readonly log: LogAccess
  readonly budget: ReadBudget
  readonly limits: TopicLimits
  readonly logger: Logger
  now (): number
}

const RESEND_READ_BYTES = 256 * 1024

const yieldTurn = (): Promise<void> => new Promise(resolve => setImmediate(resolve))

/**
 * Resends `inflight` to `out` while `attached()` holds (it is checked after every wait);
 * entries whose record is gone are deleted from `inflight`.
 */
export async function resendInflight (ctx: ResendContext, out: SessionOutput, inflight: Map<number, Inflight>, attached: () => boolean): Promise<void> {
  const byPartition = new Map<string, Inflight[]>()
  for (const f of inflight.values()) {
    if (f.delivery !== null || f.offset < 0) {
      if (f.delivery !== null) write(ctx, out, f, f.delivery)
      continue
    }
    const key = `${f.logTopic}\u0000${f.partition}`
    let list = byPartition.get(key)
    if (list === undefined) byPartition.set(key, (list = []))
    list.push(f)
  }
  for (const list of byPartition.values()) {
    list.sort((a, b) => a.offset - b.offset)
    let i = 0
    while (i < list.length) {
      const first = list[i]!
      if (first.state === 1) {
        out.write(encodeAck('pubrel', first.packetId, 0, out.version))
        i++
        continue
      }
      await yieldTurn()
      if (!attached()) return
      let read
      try {
        read = await readBudgeted(ctx.log, ctx.budget, first.logTopic, first.partition, first.offset, RESEND_READ_BYTES)
      } catch (err) {
        ctx.logger.warn({ err, topic: first.logTopic, partition: first.partition, offset: first.offset }, 'mqtt in-flight message could not be read back')
        inflight.delete(first.packetId)
        i++
        continue
      }
      try {
        if (!attached()) return
        const { records } = read
        const end = Math.max(read.nextOffset, first.offset + 1)
        let r = 0
        for (; i < list.length && list[i]!.offset < end; i++) {
          const f = list[i]!
          if (inflight.get(f.packetId) !== f) continue // acknowledged meanwhile
          if (f.state === 1) {
            out.write(encodeAck('pubrel', f.packetId, 0, out.version))
            continue
          }
          while (r < records.length && records[r]!.offset < f.offset) r++
          const record = records[r]
          const message = record !== undefined && record.offset === f.offset ? recordToMessage(record, ctx.limits) : null
          if (message === null) {
            inflight.delete(f.packetId)
            continue
          }
          write(ctx, out, f, { message, qos: f.qos, retain: false, subIds: null, logTopic: f.logTopic, partition: f.partition, offset: f.offset })
        }
      } finally {
        ctx.budget.give(read.heldBytes)
      }
    }
  }
}

function write (ctx: ResendContext, out: SessionOutput, f: Inflight, d: Delivery): void {
  if (f.state === 1) {
    out.write(encodeAck('pubrel', f.packetId, 0, out.version))
    return
  }
  const expiry = remainingExpirySec(d.message, ctx.now())
  out.write(encodePublish({
    topicBytes: d.message.topicBytes, packetId: f.packetId, qos: f.qos, retain: d.retain, dup: true,
    payload: d.message.payload, properties: out.version === 5 ? outgoingProperties(d, expiry === -1 ? 1 : expiry) : null,
  }, out.version))
}
