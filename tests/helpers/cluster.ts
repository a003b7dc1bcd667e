/**
 * Clusters of embedded brokers for tests: one etcd (tests/helpers/etcd.ts) and N brokers in
 * this process, each on free loopback ports in its own temp data dir, with a fresh key
 * prefix so clusters never meet. Brokers can be stopped (a clean close: the broker leaves
 * the cluster) and started again on the same data dir and node id. Everything is closed at
 * teardown. For brokers killed with SIGKILL, see cluster-processes.ts.
 *
 *   const c = await startCluster(t, { brokers: 3 })
 *   const client = c.client(t)
 *   await c.stop(2); await c.start(2)
 *   await c.waitFor(() => c.leaderOf('orders', 0) !== 2, 'a new leader')
 */

import { randomUUID } from 'node:crypto'
import { Broker, type BrokerOptions } from '../../broker/broker.js'
import type { PartitionState } from '../../broker/cluster/records.js'
import { Client, type ClientOptions } from '../../client/index.js'
import { forEachBatch } from '../../protocol/record-batch/records.js'
import { tempDir, type TestLike } from './broker.js'
import { startEtcd, type EtcdCluster } from './etcd.js'

export interface ClusterOptions {
  brokers?: number
  /** Settings for every broker (leaseTtlMs, replicaLagTimeMs, minInsyncReplicas, ...). */
  config?: BrokerOptions
  /** Per-broker settings by node id (rack, ...). */
  perBroker?: Record<number, BrokerOptions>
  etcd?: EtcdCluster
}

export interface EmbeddedCluster {
  readonly etcd: EtcdCluster
  readonly prefix: string
  /** Running brokers by node id. */
  readonly brokers: Map<number, Broker>
  broker (id: number): Broker
  start (id: number): Promise<Broker>
  stop (id: number): Promise<void>
  /** "127.0.0.1:port" of every running broker's native listener. */
  addresses (): string[]
  client (t: TestLike, options?: ClientOptions): Client
  /** The partition record as some running broker's metadata has it. */
  partition (topic: string, partition: number): PartitionState | undefined
  leaderOf (topic: string, partition: number): number
  waitFor (predicate: () => boolean, what: string, timeoutMs?: number): Promise<void>
}

export async function startCluster (t: TestLike, options: ClusterOptions = {}): Promise<EmbeddedCluster> {
  const etcd = options.etcd ?? await startEtcd(t)
  const prefix = `/spool/t-${randomUUID().slice(0, 8)}`
  const count = options.brokers ?? 3
  const dirs = new Map<number, string>()
  const brokers = new Map<number, Broker>()
  const start = async (id: number): Promise<Broker> => {
    if (brokers.has(id)) throw new Error(`broker ${id} is running`)
    if (!dirs.has(id)) dirs.set(id, tempDir(t, `spool-cluster-${id}-`))
    const broker = await Broker.start({
      // A long session timeout: tests here stop brokers cleanly (the lease is revoked at once),
      // and a loaded machine must not expire a live broker's lease.
      host: '127.0.0.1', port: 0, httpPort: 0, mqttPort: null, kafkaPort: null, logLevel: 'silent', leaseTtlMs: 8000,
      ...options.config, ...options.perBroker?.[id],
      nodeId: id, dataDir: dirs.get(id)!, etcdEndpoints: etcd.endpoints, clusterKeyPrefix: prefix,
    })
    brokers.set(id, broker)
    return broker
  }
  const stop = async (id: number): Promise<void> => {
    const b = brokers.get(id)
    if (b === undefined) return
    brokers.delete(id)
    await b.close()
  }
  t.teardown(async () => { await Promise.allSettled([...brokers.keys()].map(stop)) })
  await Promise.all(Array.from({ length: count }, (_, i) => start(i + 1)))
  const any = (): Broker => {
    const b = [...brokers.values()][0]
    if (b === undefined) throw new Error('no broker is running')
    return b
  }
  const cluster: EmbeddedCluster = {
    etcd,
    prefix,
    brokers,
    broker (id) {
      const b = brokers.get(id)
      if (b === undefined) throw new Error(`broker ${id} is not running`)
      return b
    },
    start,
    stop,
    addresses: () => [...brokers.values()].map(b => `127.0.0.1:${b.ports.native}`),
    client (tt, clientOptions = {}) {
      const client = new Client({ brokers: cluster.addresses(), retry: { retries: 20, initialRetryTimeMs: 100, maxRetryTimeMs: 1000 }, ...clientOptions })
      tt.teardown(() => client.close())
      return client
    },
    partition: (topic, partition) => any().cluster?.agent?.metadata.partition(topic, partition),
    leaderOf: (topic, partition) => cluster.partition(topic, partition)?.leader ?? -1,
    async waitFor (predicate, what, timeoutMs = 20_000) {
      const deadline = Date.now() + timeoutMs
      while (!predicate()) {
        if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
        await new Promise(resolve => setTimeout(resolve, 25))
      }
    },
  }
  return cluster
}

/** Every stored batch of a partition on one broker, as hex, read from its local log up to its log end. */
export async function storedBatches (broker: Broker, topic: string, partition: number): Promise<string[]> {
  const log = broker.logs.partition(topic, partition)
  const out: string[] = []
  for (let offset = log.logStartOffset, guard = 0; offset < log.logEndOffset && guard < 100_000; guard++) {
    const r = await log.read(offset, 1 << 20, { maxOffset: log.logEndOffset })
    forEachBatch(r.bytes, (pos, size) => { out.push(Buffer.from(r.bytes.subarray(pos, pos + size)).toString('hex')) })
    offset = r.nextOffset
  }
  return out
}
