/**
 * `spool/client` for Node: the SDK with the TCP transport and Node codecs installed.
 * (Browsers use client/browser.ts: the same API over WebSocket only.)
 *
 * ```js
 * import { Client, utf8, text } from 'spool/client'
 *
 * const client = new Client({ brokers: ['127.0.0.1:7420'] })   // or { url: 'ws://127.0.0.1:7421/ws' }
 *
 * const producer = client.producer({ acks: 1, lingerMs: 5 })
 * const [meta] = await producer.send({ topic: 'orders', messages: [{ key: 'user-42', value: utf8('hello') }] })
 * // meta = { topic: 'orders', partition: 1, offset: 0 }
 * await producer.close()                                         // flushes
 *
 * const consumer = client.consumer({ fromBeginning: true })
 * await consumer.assign({ topic: 'orders' })                     // every partition
 * for await (const m of consumer) console.log(m.partition, m.offset, text(m.value))
 * // or: await consumer.run({ eachMessage: async ({ message }) => { ... } })   (or eachBatch)
 *
 * const admin = client.admin()
 * await admin.createTopics([{ topic: 'orders', partitions: 3 }])
 * await admin.describeTopics(['orders'])                         // config, offsets and sizes per partition
 * await client.close()
 * ```
 *
 * Keys, values and header values are Uint8Array (the producer also takes strings and sends
 * their UTF-8). Helpers: `utf8(string)`, `text(bytes)`, `toJson(value)`, `json(bytes)`.
 * Keyed messages go to murmur2(key) % partitions (Kafka's default partitioner); null keys
 * use the sticky partitioner. Errors are the typed classes of protocol/errors.ts (each has
 * `code`, `retriable`, and `cause` when it wraps another error), re-exported here.
 */

import { AsyncLocalStorage } from 'node:async_hooks'
import { createRequire } from 'node:module'
import { setDefaultTcpTransport, setFallbackWebSocket } from './client.js'
import { setCallbackScope } from './consumer.js'
import { installNodeCodecs } from '../platform/node-codecs.js'
import { nodeTcpTransport } from './transport/node-tcp.js'

installNodeCodecs()
setDefaultTcpTransport(nodeTcpTransport)
// Node 20 has no global WebSocket: `ws` (a dependency) stands in, loaded only there.
setFallbackWebSocket(() => (createRequire(import.meta.url)('ws') as typeof import('ws')).WebSocket)
const runContext = new AsyncLocalStorage<object>()
setCallbackScope({ run: (owner, fn) => runContext.run(owner, fn), current: () => runContext.getStore() })

export * from './api.js'
export { nodeTcpTransport } from './transport/node-tcp.js'
