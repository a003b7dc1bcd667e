/**
 * The log systems the throughput and latency scenarios compare: Spool, and unless
 * --no-peers, NATS JetStream and Redis Streams, each skipped with a note in the results
 * when its server is not installed (bench/setup installs them). Each is started in its own
 * directory under `dir`; `runs` turns a started server into the scenario's run function.
 */

import { tempDir } from './cleanup.js'
import { SPOOL, type Recorder } from './result.js'
import { startSpool, type SpoolBroker } from './spool.js'
import { NATS, natsServerPath, startNats, type NatsServer } from '../peers/nats.js'
import { REDIS, redisServerPath, startRedis, type RedisServer } from '../peers/redis.js'

export interface LogSystem<R> {
  name: string
  run: R
  stop: () => Promise<void>
}

export async function startLogSystems<R> (rec: Recorder, dir: string, noPeers: boolean, runs: {
  spool: (broker: SpoolBroker) => R
  nats: (server: NatsServer) => R
  redis: (server: RedisServer) => R
}): Promise<Array<LogSystem<R>>> {
  const systems: Array<LogSystem<R>> = []
  const broker = await startSpool({ dataDir: `${dir}/spool` })
  systems.push({ name: SPOOL, run: runs.spool(broker), stop: () => broker.stop() })
  if (noPeers) {
    rec.skip('peers (--no-peers)')
    return systems
  }
  if (natsServerPath() === null) rec.skip(`${NATS}: nats-server is not installed (bench/setup)`)
  else {
    const server = await startNats(tempDir('nats', dir))
    systems.push({ name: NATS, run: runs.nats(server), stop: () => server.stop() })
  }
  if (redisServerPath() === null) rec.skip(`${REDIS}: redis-server is not installed (bench/setup)`)
  else {
    const server = await startRedis(tempDir('redis', dir))
    systems.push({ name: REDIS, run: runs.redis(server), stop: () => server.stop() })
  }
  return systems
}
