/**
 * Appends by the broker's own writers to partitions led by another broker (services/
 * replication.ts AppendForwarder): the MQTT gateway of every broker publishes into MQTT log
 * topics and writes its session and retained topics, whose partitions are led all over the
 * cluster. Each partition has a queue; its batches go to the current leader one Produce at a
 * time (acks=all), in order, so a partition's records keep the order the gateway appended
 * them in. A request that fails with a retriable error (the leader moved, a broker
 * restarting) is sent again to the leader the metadata names then, with backoff, for up to
 * FORWARD_DEADLINE_MS; past that the batch fails and the next flush() of the partition
 * rejects with the error (an MQTT QoS 1/2 publish is then not acknowledged).
 *
 * Idempotence is not used: a retry after an answer that was lost may write a batch twice,
 * as an MQTT QoS 1 publish may be delivered twice.
 */

import type { Logger } from 'pino'
import { LeaderNotAvailableError, SpoolError, errorFromCode } from '../../protocol/errors.js'
import type { AppendForwarder } from '../services/replication.js'
import type { PeerPool } from './peer-client.js'

const FORWARD_DEADLINE_MS = 30_000
const REQUEST_TIMEOUT_MS = 10_000
const BACKOFF_MS = 100

interface Queue {
  tail: Promise<void>
  failure: unknown
}

export class ClusterAppendForwarder implements AppendForwarder {
  readonly #peers: PeerPool
  readonly #leaderOf: (topic: string, partition: number) => number
  readonly #logger: Logger
  readonly #queues = new Map<string, Queue>()

  constructor (o: { peers: PeerPool, leaderOf: (topic: string, partition: number) => number, logger: Logger }) {
    this.#peers = o.peers
    this.#leaderOf = o.leaderOf
    this.#logger = o.logger
  }

  forward (topic: string, partition: number, payload: Uint8Array): void {
    const key = `${topic}/${partition}`
    let q = this.#queues.get(key)
    if (q === undefined) this.#queues.set(key, (q = { tail: Promise.resolve(), failure: null }))
    const queue = q
    const bytes = new Uint8Array(payload)
    queue.tail = queue.tail.then(() => this.#send(topic, partition, bytes)).catch((err: unknown) => {
      queue.failure ??= err
      this.#logger.warn({ topic, partition, code: (err as SpoolError).code, err: (err as Error).message }, 'a forwarded append failed')
    })
  }

  async flush (topic: string, partition: number): Promise<void> {
    const q = this.#queues.get(`${topic}/${partition}`)
    if (q === undefined) return
    await q.tail
    const failure = q.failure
    q.failure = null
    if (failure !== null) throw failure
  }

  async #send (topic: string, partition: number, payload: Uint8Array): Promise<void> {
    const deadline = Date.now() + FORWARD_DEADLINE_MS
    for (let attempt = 0; ; attempt++) {
      try {
        const leader = this.#leaderOf(topic, partition)
        if (leader < 0) throw new LeaderNotAvailableError(`${topic}-${partition} has no leader right now`)
        const connection = await this.#peers.connection(leader)
        const { body } = await connection.request('Produce', {
          acks: -1, timeoutMs: REQUEST_TIMEOUT_MS, topics: [{ topic, partitions: [{ partition, recordsBytes: payload.length }] }],
        }, { records: [payload], timeoutMs: REQUEST_TIMEOUT_MS + 2000 })
        const result = body.topics[0]?.partitions[0]
        if (result !== undefined && result.errorCode !== 0) throw errorFromCode(result.errorCode, result.errorMessage ?? undefined)
        return
      } catch (err) {
        const retriable = err instanceof SpoolError && err.retriable
        if (!retriable || Date.now() + BACKOFF_MS > deadline) throw err
        await new Promise(resolve => setTimeout(resolve, Math.min(1000, BACKOFF_MS * 2 ** Math.min(attempt, 4))))
      }
    }
  }
}
