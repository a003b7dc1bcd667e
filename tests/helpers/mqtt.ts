/** Helpers for MQTT tests: an embedded gateway, mqtt.js clients, spawned mosquitto tools. */

import { spawn, type ChildProcess } from 'node:child_process'
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt'
import mqttPacket from 'mqtt-packet'
import { pino } from 'pino'
import { Broker } from '../../broker/broker.js'
import type { BrokerConfig } from '../../broker/config/settings.js'
import type { MqttGateway } from '../../broker/protocols/mqtt/gateway.js'
import { DiskLog } from './disk-log.js'
import { sleep } from './wait.js'

export interface TestLike {
  teardown (fn: () => unknown): void
}

export interface MqttGatewayHandle {
  readonly gateway: MqttGateway
  /** The MQTT TCP port. */
  readonly port: number
  /** The HTTP port (`/mqtt`), when asked for with `httpPort: 0`. */
  readonly httpPort: number | null
  readonly broker: Broker
  close (): Promise<void>
}

/**
 * A broker serving MQTT on a free port over a DiskLog's data dir (the other listeners off
 * unless overridden), closed at teardown.
 */
export async function startGateway (t: TestLike, overrides: Partial<BrokerConfig> = {}, given?: DiskLog): Promise<{ handle: MqttGatewayHandle, log: DiskLog, port: number }> {
  const log = given ?? await DiskLog.open(t)
  const broker = await Broker.start({
    dataDir: log.dataDir,
    host: '127.0.0.1',
    port: null,
    httpPort: null,
    mqttPort: 0,
    kafkaPort: null,
    retentionCheckIntervalMs: 0,
    ...overrides,
    logger: pino({ level: process.env.SPOOL_TEST_LOG ?? 'silent' }),
  })
  log.attach(broker)
  t.teardown(() => broker.close())
  const handle: MqttGatewayHandle = { gateway: broker.mqtt!, port: broker.ports.mqtt!, httpPort: broker.ports.http, broker, close: () => broker.close() }
  return { handle, log, port: handle.port }
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
      reject(new Error(`timed out with ${got.length}/${n} messages: ${JSON.stringify(got.slice(0, 5).map(g => g.topic + '=' + g.payload.slice(0, 40)))}`))
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

export { sleep }

/** A hand-driven MQTT client on a raw socket: exact packets out, every packet in. */
export class RawClient {
  readonly socket: import('node:net').Socket
  readonly packets: mqttPacket.Packet[] = []
  closed = false
  readonly #waiters: Array<() => void> = []
  readonly #version: 4 | 5

  private constructor (socket: import('node:net').Socket, version: 4 | 5) {
    this.socket = socket
    this.#version = version
    const parser = mqttPacket.parser({ protocolVersion: version })
    parser.on('packet', (p: mqttPacket.Packet) => { this.packets.push(p); this.#wake() })
    socket.on('data', (d: Buffer) => parser.parse(d))
    socket.on('close', () => { this.closed = true; this.#wake() })
    socket.on('error', () => {})
  }

  static async open (t: TestLike, port: number, version: 4 | 5 = 4): Promise<RawClient> {
    const { connect } = await import('node:net')
    const socket = connect({ host: '127.0.0.1', port, noDelay: true })
    t.teardown(() => { socket.destroy() })
    await new Promise<void>((resolve, reject) => { socket.once('connect', resolve); socket.once('error', reject) })
    return new RawClient(socket, version)
  }

  #wake (): void { for (const w of this.#waiters.splice(0)) w() }

  send (packet: mqttPacket.Packet): void {
    this.socket.write(mqttPacket.generate(packet, { protocolVersion: this.#version }))
  }

  /** The next packet of `cmd` (removed from `packets`), or null on close/timeout. */
  async next (cmd: string, timeoutMs = 3000): Promise<mqttPacket.Packet | null> {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const i = this.packets.findIndex(p => p.cmd === cmd)
      if (i >= 0) return this.packets.splice(i, 1)[0]!
      const left = deadline - Date.now()
      if (this.closed || left <= 0) return null
      await new Promise<void>(resolve => {
        const timer = setTimeout(resolve, left)
        this.#waiters.push(() => { clearTimeout(timer); resolve() })
      })
    }
  }

  /** Waits for the socket to close (bounded). */
  async waitClosed (timeoutMs = 3000): Promise<boolean> {
    const deadline = Date.now() + timeoutMs
    while (!this.closed && Date.now() < deadline) await sleep(20)
    return this.closed
  }

  async connect (options: Partial<mqttPacket.IConnectPacket> = {}): Promise<mqttPacket.IConnackPacket | null> {
    this.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: this.#version, clean: true, keepalive: 60, clientId: '', ...options } as mqttPacket.IConnectPacket)
    return await this.next('connack') as mqttPacket.IConnackPacket | null
  }
}
