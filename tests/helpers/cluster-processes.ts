/**
 * Clusters of real broker processes for failure tests: `spool broker start` per broker, each
 * in its own process group under `setpriv --pdeathsig KILL` (it dies with the test process
 * even when that is killed outright), on free ports (port 0, read back from the 'broker
 * started' log line), in its own data dir, all under one fresh etcd key prefix. A broker can
 * be killed (SIGKILL of its group), paused and resumed (SIGSTOP/SIGCONT), stopped (SIGTERM,
 * a clean shutdown) and started again on the same data dir and node id. Teardown (and
 * process exit) kills every group.
 *
 *   const c = await startProcessCluster(t, { brokers: 3, etcd, args: ['--min-insync-replicas', '2'] })
 *   c.broker(1).kill(); await c.broker(1).start()
 *   c.broker(2).pause(); c.broker(2).resume()
 *
 * `inNamespace` runs a broker inside a network namespace (cluster-netns.ts makes them): the
 * command is prefixed with it (`nsenter -t <pid> -n`) and the broker binds `host`, the
 * namespace's address.
 */

import { spawn, type ChildProcess } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import { randomUUID } from 'node:crypto'
import { SPOOL_BIN } from './processes.js'
import { tempDir, type TestLike } from './broker.js'
import type { EtcdCluster } from './etcd.js'

const STDOUT_TAIL_BYTES = 256 * 1024
const liveGroups = new Set<number>()
let exitHookInstalled = false

function installExitHook (): void {
  if (exitHookInstalled) return
  exitHookInstalled = true
  process.on('exit', () => {
    for (const pid of liveGroups) {
      try { process.kill(-pid, 'SIGKILL') } catch { /* gone */ }
    }
  })
}

export interface BrokerProcessOptions {
  nodeId: number
  dataDir: string
  etcdEndpoints: string[]
  prefix: string
  host?: string
  /** Extra `spool broker start` flags. */
  args?: string[]
  /** A command prefix that enters a network namespace (NetnsLab.exec). */
  inNamespace?: string[]
  /** A file that gets everything the broker writes, across its restarts (for diagnosis). */
  transcript?: string
}

export interface BrokerPorts { native: number, http: number | null }

export class BrokerProcess {
  readonly nodeId: number
  readonly dataDir: string
  readonly options: BrokerProcessOptions
  #child: ChildProcess | null = null
  #out = ''
  #err = ''
  #exited: Promise<number | string> = Promise.resolve(0)
  #ports: BrokerPorts | null = null
  #paused = false

  constructor (options: BrokerProcessOptions) {
    this.options = options
    this.nodeId = options.nodeId
    this.dataDir = options.dataDir
  }

  get running (): boolean { return this.#child !== null }
  get paused (): boolean { return this.#paused }
  get pid (): number | null { return this.#child?.pid ?? null }
  /** The ports of the current run (null before it reported them). */
  get ports (): BrokerPorts {
    if (this.#ports === null) throw new Error(`broker ${this.nodeId} has not started`)
    return this.#ports
  }

  get address (): string { return `${this.options.host ?? '127.0.0.1'}:${this.ports.native}` }
  /** Everything the broker wrote to stdout (its JSON log lines), the last 256 KiB. */
  get stdout (): string { return this.#out }
  get stderr (): string { return this.#err }

  /** Log lines (parsed) whose msg is `msg`. */
  logLines (msg: string): Array<Record<string, unknown>> {
    const out: Array<Record<string, unknown>> = []
    for (const line of this.#out.split('\n')) {
      if (!line.includes(`"${msg}"`)) continue
      try {
        const parsed = JSON.parse(line) as Record<string, unknown>
        if (parsed.msg === msg) out.push(parsed)
      } catch { /* a torn line */ }
    }
    return out
  }

  /** Starts the process and waits (bounded) until it logged 'broker started'. */
  async start (timeoutMs = 30_000): Promise<void> {
    if (this.#child !== null) throw new Error(`broker ${this.nodeId} is running`)
    installExitHook()
    const o = this.options
    const brokerArgs = [
      SPOOL_BIN, 'broker', 'start', '--node-id', String(o.nodeId), '--data-dir', o.dataDir,
      '--host', o.host ?? '127.0.0.1', '--port', '0', '--http-port', '0', '--mqtt-port', 'off', '--kafka-port', 'off',
      // Inside a test's network namespaces the brokers bind other addresses than loopback;
      // these tests run without --auth, so they accept anonymous clients there.
      ...(o.host === undefined || o.host === '127.0.0.1' ? [] : ['--allow-anonymous']),
      '--etcd-endpoints', o.etcdEndpoints.join(','), '--cluster-key-prefix', o.prefix, '--log-level', 'info', ...(o.args ?? []),
    ]
    const command = [...(o.inNamespace ?? []), 'setpriv', '--pdeathsig', 'KILL', '--', process.execPath, ...brokerArgs]
    this.#out = ''
    this.#err = ''
    this.#ports = null
    this.#paused = false
    const child = spawn(command[0]!, command.slice(1), { detached: true, stdio: ['ignore', 'pipe', 'pipe'] })
    this.#child = child
    liveGroups.add(child.pid!)
    const transcript = o.transcript
    child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      this.#out = (this.#out + d).slice(-STDOUT_TAIL_BYTES)
      if (transcript !== undefined) fs.appendFileSync(transcript, d)
    })
    child.stderr!.setEncoding('utf8').on('data', (d: string) => { this.#err = (this.#err + d).slice(-STDOUT_TAIL_BYTES) })
    this.#exited = new Promise(resolve => child.once('exit', (code, signal) => {
      liveGroups.delete(child.pid!)
      if (this.#child === child) this.#child = null
      resolve(code ?? signal ?? -1)
    }))
    const deadline = Date.now() + timeoutMs
    while (this.#ports === null) {
      const started = this.logLines('broker started')[0]
      if (started !== undefined) {
        const ports = started.ports as { native: number, http: number | null }
        this.#ports = { native: ports.native, http: ports.http }
        break
      }
      if (this.#child !== child) throw new Error(`broker ${this.nodeId} exited while starting: ${this.#err.slice(-2000)}`)
      if (Date.now() > deadline) throw new Error(`broker ${this.nodeId} did not start within ${timeoutMs} ms: ${this.#err.slice(-1000)} ${this.#out.slice(-2000)}`)
      await new Promise(resolve => setTimeout(resolve, 50))
    }
  }

  /** SIGKILL of the process group; resolves once it is gone. */
  async kill (): Promise<void> {
    await this.#signal('SIGKILL')
  }

  /** SIGTERM (a clean shutdown); resolves with the exit code once it is gone (SIGKILL after `timeoutMs`). */
  async stop (timeoutMs = 20_000): Promise<number | string> {
    const child = this.#child
    if (child === null) return 0
    if (this.#paused) this.resume()
    try { process.kill(child.pid!, 'SIGTERM') } catch { /* gone */ }
    const timer = setTimeout(() => { try { process.kill(-child.pid!, 'SIGKILL') } catch { /* gone */ } }, timeoutMs)
    const code = await this.#exited
    clearTimeout(timer)
    return code
  }

  /** SIGSTOP of the process group: the broker stops answering, its sockets stay open. */
  pause (): void {
    const child = this.#child
    if (child === null || this.#paused) return
    process.kill(-child.pid!, 'SIGSTOP')
    this.#paused = true
  }

  resume (): void {
    const child = this.#child
    if (child === null || !this.#paused) return
    process.kill(-child.pid!, 'SIGCONT')
    this.#paused = false
  }

  async #signal (signal: NodeJS.Signals): Promise<void> {
    const child = this.#child
    if (child === null) return
    try { process.kill(-child.pid!, signal) } catch { /* gone */ }
    await this.#exited
  }
}

export interface ProcessCluster {
  readonly prefix: string
  readonly brokers: BrokerProcess[]
  broker (nodeId: number): BrokerProcess
  /** Native addresses of the running brokers. */
  addresses (): string[]
}

/** Starts `brokers` broker processes (node ids 1..N) against `etcd`; all killed at teardown. */
export async function startProcessCluster (t: TestLike, options: {
  etcd: Pick<EtcdCluster, 'endpoints'>, brokers?: number, args?: string[], perBroker?: Record<number, Partial<BrokerProcessOptions>>, prefix?: string,
}): Promise<ProcessCluster> {
  const prefix = options.prefix ?? `/spool/p-${randomUUID().slice(0, 8)}`
  const count = options.brokers ?? 3
  const brokers: BrokerProcess[] = []
  for (let id = 1; id <= count; id++) {
    const extra = options.perBroker?.[id] ?? {}
    brokers.push(new BrokerProcess({
      nodeId: id, dataDir: tempDir(t, `spool-proc-${id}-`), etcdEndpoints: options.etcd.endpoints, prefix, ...extra,
      args: [...(options.args ?? []), ...(extra.args ?? [])],
    }))
  }
  t.teardown(async () => { await Promise.all(brokers.map(b => b.kill())) })
  await Promise.all(brokers.map(b => b.start()))
  return {
    prefix,
    brokers,
    broker (nodeId) {
      const b = brokers.find(x => x.nodeId === nodeId)
      if (b === undefined) throw new Error(`no broker ${nodeId}`)
      return b
    },
    addresses: () => brokers.filter(b => b.running).map(b => b.address),
  }
}

/** The concatenated .log bytes of a partition directory, in offset order (segmentation aside). */
export function logBytes (dataDir: string, topic: string, partition: number): Buffer {
  const dir = path.join(dataDir, `${topic}-${partition}`)
  const files = fs.readdirSync(dir).filter(f => /^\d{20}\.log$/.test(f)).sort()
  return Buffer.concat(files.map(f => fs.readFileSync(path.join(dir, f))))
}
