/**
 * MQTT peers: Mosquitto (Debian, persistence off, noDelay) and Aedes (npm, in memory, in
 * its own Node process), each on a free port on 127.0.0.1.
 */

import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { commandOutput, findExecutable, freePort, spawnServer, waitForLine, waitForPort, type ServerProcess } from '../lib/procs.js'

export const MOSQUITTO = 'Mosquitto'
export const AEDES = 'Aedes'

export interface MqttServer extends ServerProcess {
  readonly port: number
}

export function mosquittoPath (): string | null {
  return findExecutable('mosquitto')
}

export function mosquittoVersion (): string | null {
  const bin = mosquittoPath()
  if (bin === null) return null
  const line = commandOutput(bin, ['-h'])
  return /version (\S+)/.exec(line ?? '')?.[1] ?? line
}

export async function startMosquitto (dir: string): Promise<MqttServer> {
  const bin = mosquittoPath()
  if (bin === null) throw new Error('mosquitto is not installed (run bench/setup)')
  const port = await freePort()
  const conf = join(dir, 'mosquitto.conf')
  writeFileSync(conf, [
    `listener ${port} 127.0.0.1`, 'allow_anonymous true', 'persistence false',
    'max_queued_messages 100000', 'max_inflight_messages 1000', 'set_tcp_nodelay true',
    `log_dest file ${join(dir, 'mosquitto.log')}`, 'log_type error', '',
  ].join('\n'))
  const server = spawnServer('mosquitto', bin, ['-c', conf])
  await waitForPort(port, server)
  return { ...server, port }
}

export async function startAedes (): Promise<MqttServer> {
  const script = fileURLToPath(new URL('./aedes-server.js', import.meta.url))
  const server = spawnServer('aedes', process.execPath, [script, '0'])
  const line = await waitForLine(server, l => l.startsWith('ready '))
  return { ...server, port: Number(line.split(' ')[1]) }
}
