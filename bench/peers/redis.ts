/**
 * Redis Streams as a peer: Debian's `redis-server` on a free port with its data in a temp
 * dir, the append-only file on (`appendonly yes`) and `appendfsync everysec` (the default
 * durability: fsync once a second, like a page-cache write plus a periodic flush) or
 * `always` (fsync before replying, Redis's group commit: one fsync per event-loop turn
 * covers every client's writes), RDB snapshots off. Client: ioredis, XADD pipelined in
 * batches; read-back with XREAD COUNT.
 */

import { Redis } from 'ioredis'
import { commandOutput, findExecutable, freePort, spawnServer, waitForPort, type ServerProcess } from '../lib/procs.js'

export const REDIS = 'Redis Streams'

export interface RedisServer extends ServerProcess {
  readonly port: number
  readonly appendfsync: 'everysec' | 'always'
}

export function redisServerPath (): string | null {
  return findExecutable('redis-server')
}

export function redisVersion (): string | null {
  const bin = redisServerPath()
  if (bin === null) return null
  const line = commandOutput(bin, ['--version'])
  return /v=(\S+)/.exec(line ?? '')?.[1] ?? line
}

export async function startRedis (dir: string, appendfsync: 'everysec' | 'always' = 'everysec'): Promise<RedisServer> {
  const bin = redisServerPath()
  if (bin === null) throw new Error('redis-server is not installed (run bench/setup)')
  const port = await freePort()
  const server = spawnServer('redis-server', bin, [
    '--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--daemonize', 'no', '--protected-mode', 'no',
    '--appendonly', 'yes', '--appendfsync', appendfsync, '--save', '', '--loglevel', 'warning',
  ])
  await waitForPort(port, server)
  return { ...server, port, appendfsync }
}

export function redisClient (server: RedisServer, options: { autoPipelining?: boolean } = {}): Redis {
  return new Redis({
    host: '127.0.0.1', port: server.port, lazyConnect: false, maxRetriesPerRequest: 0,
    enableAutoPipelining: options.autoPipelining ?? false, enableOfflineQueue: true,
  })
}

/**
 * XADDs `count` entries (field `v` = payload) in pipelines of `batch` commands, keeping up
 * to `window` pipelines in flight; each pipeline goes to the next key in turn (as a sticky
 * partitioner fills one partition's batch at a time). Stops starting pipelines after
 * `maxSeconds`; resolves with the entries acknowledged.
 */
export async function xaddPipelined (client: Redis, keys: string[], payload: Buffer, count: number, maxSeconds: number, batch: number, window: number): Promise<number> {
  const deadline = performance.now() + maxSeconds * 1000
  const outstanding = new Set<Promise<unknown>>()
  let acknowledged = 0
  let k = 0
  for (let sent = 0; sent < count && performance.now() < deadline; sent += batch) {
    const n = Math.min(batch, count - sent)
    const key = keys[k++ % keys.length]!
    const p = client.pipeline()
    for (let i = 0; i < n; i++) p.xadd(key, '*', 'v', payload)
    const exec = p.exec().then(results => {
      for (const [err] of results ?? []) if (err === null) acknowledged++
    })
    outstanding.add(exec)
    void exec.finally(() => outstanding.delete(exec))
    if (outstanding.size >= window) await Promise.race(outstanding)
  }
  await Promise.all(outstanding)
  return acknowledged
}

/** Reads every key from the start with XREAD COUNT `count` until `expected` entries came. */
export async function xreadAll (client: Redis, keys: string[], expected: number, maxSeconds: number, count = 10_000): Promise<number> {
  const deadline = performance.now() + maxSeconds * 1000
  const last = keys.map(() => '0-0')
  let total = 0
  while (total < expected && performance.now() < deadline) {
    const res = await client.xreadBuffer('COUNT', count, 'STREAMS', ...keys, ...last) as Array<[Buffer, Array<[Buffer, Buffer[]]>]> | null
    if (res === null) break
    for (const [key, entries] of res) {
      if (entries.length === 0) continue
      total += entries.length
      last[keys.indexOf(key.toString())] = entries[entries.length - 1]![0].toString()
    }
  }
  return total
}
