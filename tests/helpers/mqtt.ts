/** Helpers for MQTT tests: an embedded gateway, mqtt.js clients, spawned mosquitto tools. */

import { spawn, type ChildProcess } from 'node:child_process'
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt'
import { pino } from 'pino'
import { defaultConfig, type BrokerConfig } from '../../broker/config.js'
import { startMqttGateway, type MqttGatewayHandle } from '../../broker/listeners/mqtt/gateway.js'
import { MemoryLog } from './memory-log.js'

export interface TestLike {
  teardown (fn: () => unknown): void
}

/** A gateway over an in-memory log on a free port, closed at teardown. */
export async function startMemoryGateway (t: TestLike, overrides: Partial<BrokerConfig> = {}, log = new MemoryLog()): Promise<{ handle: MqttGatewayHandle, log: MemoryLog, port: number }> {
  const config = { ...defaultConfig(), host: '127.0.0.1', mqttPort: 0, ...overrides }
  const handle = await startMqttGateway({ config, partitions: log, logger: pino({ level: process.env.SPOOL_TEST_LOG ?? 'silent' }) })
  t.teardown(() => handle.close())
  return { handle, log, port: handle.port! }
}

/** An mqtt.js client connected to 127.0.0.1:port, ended at teardown. */
export async function connectClient (t: TestLike, port: number, options: IClientOptions = {}): Promise<MqttClient> {
  const client = mqtt.connect(`mqtt://127.0.0.1:${port}`, { reconnectPeriod: 0, connectTimeout: 5000, protocolVersion: 4, ...options })
  t.teardown(() => { client.end(true) })
  await new Promise<void>((resolve, reject) => {
    client.once('connect', () => resolve())
    client.once('error', reject)
    client.once('close', () => reject(new Error('closed before connect')))
  })
  return client
}

/** Waits for `n` messages on a client (bounded by `timeoutMs`). */
export function collect (client: MqttClient, n: number, timeoutMs = 5000): Promise<Array<{ topic: string, payload: string, packet: mqtt.IPublishPacket }>> {
  return new Promise((resolve, reject) => {
    const got: Array<{ topic: string, payload: string, packet: mqtt.IPublishPacket }> = []
    const timer = setTimeout(() => {
      client.removeListener('message', on)
      reject(new Error(`timed out with ${got.length}/${n} messages: ${JSON.stringify(got.map(g => g.topic + '=' + g.payload))}`))
    }, timeoutMs)
    const on = (topic: string, payload: Buffer, packet: mqtt.IPublishPacket): void => {
      got.push({ topic, payload: payload.toString(), packet })
      if (got.length >= n) {
        clearTimeout(timer)
        client.removeListener('message', on)
        resolve(got)
      }
    }
    client.on('message', on)
  })
}

/** Resolves with what a spawned process printed, killing it after `timeoutMs`; killed at teardown too. */
export function run (t: TestLike, cmd: string, args: string[], options: { timeoutMs?: number, stdin?: string } = {}): Promise<{ code: number | null, stdout: string, stderr: string }> {
  const child: ChildProcess = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] })
  t.teardown(() => { if (child.exitCode === null) child.kill('SIGKILL') })
  let stdout = ''
  let stderr = ''
  child.stdout!.on('data', (d: Buffer) => { stdout += d.toString() })
  child.stderr!.on('data', (d: Buffer) => { stderr += d.toString() })
  if (options.stdin !== undefined) child.stdin!.end(options.stdin)
  else child.stdin!.end()
  const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 10_000)
  return new Promise(resolve => {
    child.on('close', code => {
      clearTimeout(timer)
      resolve({ code, stdout, stderr })
    })
  })
}

export function sleep (ms: number): Promise<void> {
  return new Promise(resolve => setTimeout(resolve, ms))
}
