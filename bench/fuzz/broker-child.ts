/**
 * A `spool broker start` child process for the listener fuzzer and the soak: every listener
 * on 127.0.0.1 port 0 (the ports are read from its "broker started" log line), its log lines
 * watched (errors are internal errors: a client's bytes must never cause one), and what
 * /proc says about it sampled on a timer: resident memory, open descriptors (sockets apart),
 * and whether it is still alive.
 */

import { readFileSync, readdirSync, readlinkSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { spawnServer, waitForLine, type ServerProcess } from '../lib/procs.js'

const SPOOL_CLI = fileURLToPath(new URL('../../cli/spool.js', import.meta.url))

export interface BrokerPorts {
  native: number
  http: number
  mqtt: number
  /** The Kafka listener's port, when this broker has one. */
  kafka: number | null
}

export interface LogLine {
  level: number
  msg: string
  raw: string
}

/** pino's level names (the broker logs them as labels). */
const LEVELS: Record<string, number> = { trace: 10, debug: 20, info: 30, warn: 40, error: 50, fatal: 60 }

export class BrokerChild {
  readonly server: ServerProcess
  readonly ports: BrokerPorts
  /** Lines at level error (50) or above, as logged. */
  readonly errors: LogLine[] = []
  /** Warnings by message (bad input that closed a connection, mostly). */
  readonly warnings = new Map<string, number>()
  #exit: { code: number | null, signal: string | null } | null = null

  private constructor (server: ServerProcess, ports: BrokerPorts) {
    this.server = server
    this.ports = ports
    let buffered = ''
    server.child.stdout!.on('data', (d: Buffer) => {
      buffered += d.toString()
      const lines = buffered.split('\n')
      buffered = lines.pop() ?? ''
      for (const raw of lines) this.#line(raw)
    })
    server.child.once('exit', (code, signal) => { this.#exit = { code, signal } })
  }

  #line (raw: string): void {
    if (raw.trim() === '') return
    let parsed: { level?: number | string, msg?: string }
    try {
      parsed = JSON.parse(raw) as { level?: number | string, msg?: string }
    } catch {
      this.errors.push({ level: 60, msg: 'unparsable output line', raw: raw.slice(0, 2000) })
      return
    }
    const level = typeof parsed.level === 'number' ? parsed.level : (LEVELS[String(parsed.level)] ?? 30)
    const msg = parsed.msg ?? ''
    if (level >= 50) this.errors.push({ level, msg, raw: raw.slice(0, 4000) })
    else if (level >= 40) this.warnings.set(msg, (this.warnings.get(msg) ?? 0) + 1)
  }

  static async start (dataDir: string, extra: string[] = [], options: { kafka?: boolean } = {}): Promise<BrokerChild> {
    const args = [SPOOL_CLI, 'broker', 'start', '--data-dir', dataDir, '--host', '127.0.0.1', '--port', '0', '--http-port', '0', '--mqtt-port', '0',
      '--kafka-port', options.kafka === true ? '0' : 'off', '--log-level', 'info', ...extra]
    const server = spawnServer('spool broker', process.execPath, args)
    const line = await waitForLine(server, l => l.includes('"broker started"'), 60_000)
    const ports = (JSON.parse(line) as { ports: Record<string, number | null> }).ports
    return new BrokerChild(server, { native: ports.native!, http: ports.http!, mqtt: ports.mqtt!, kafka: ports.kafka ?? null })
  }

  get pid (): number { return this.server.pid }

  /** True while the process runs. */
  get alive (): boolean { return this.#exit === null && this.server.child.exitCode === null && this.server.child.signalCode === null }

  get exit (): { code: number | null, signal: string | null } | null { return this.#exit }

  async stop (): Promise<number | string | null> {
    await this.server.stop(10_000)
    return this.server.child.exitCode ?? this.server.child.signalCode
  }
}

export interface ResourceSample {
  /** Milliseconds since the sampler started. */
  atMs: number
  rssBytes: number
  fds: number
  sockets: number
}

function sample (pid: number, atMs: number): ResourceSample | null {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8')
    const m = /^VmRSS:\s+(\d+) kB/m.exec(status)
    let fds = 0
    let sockets = 0
    for (const fd of readdirSync(`/proc/${pid}/fd`)) {
      fds++
      try {
        if (readlinkSync(`/proc/${pid}/fd/${fd}`).startsWith('socket:')) sockets++
      } catch {
        // closed between the listing and the readlink
      }
    }
    return { atMs, rssBytes: m === null ? NaN : Number(m[1]) * 1024, fds, sockets }
  } catch {
    return null
  }
}

/** Samples a process's memory and descriptors every `intervalMs`, keeping every sample. */
export class ResourceSampler {
  readonly samples: ResourceSample[] = []
  readonly #pid: number
  readonly #started = performance.now()
  readonly #timer: ReturnType<typeof setInterval>

  constructor (pid: number, intervalMs = 250) {
    this.#pid = pid
    this.now()
    this.#timer = setInterval(() => this.now(), intervalMs)
    this.#timer.unref()
  }

  /** Takes a sample now (and keeps it). */
  now (): ResourceSample | null {
    const s = sample(this.#pid, performance.now() - this.#started)
    if (s !== null) this.samples.push(s)
    return s
  }

  max (field: 'rssBytes' | 'fds' | 'sockets', fromMs = 0): number {
    let m = 0
    for (const s of this.samples) if (s.atMs >= fromMs && s[field] > m) m = s[field]
    return m
  }

  stop (): void { clearInterval(this.#timer) }
}

export const MiB = 1024 * 1024
