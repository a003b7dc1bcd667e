/**
 * Real etcd servers for tests: one member or a three-member cluster on 127.0.0.1, each in a
 * fresh temp data dir, on free ports. Every member runs in its own process group under
 * `setpriv --pdeathsig KILL`, so it dies with the test process even when that is killed
 * outright; the test's teardown (and process exit) kills the groups too.
 *
 * etcd cannot take port 0, so ports are picked by binding 127.0.0.1:0, reading the port and
 * closing the socket; another process may take the port before etcd binds it, so a start
 * that fails with "address already in use" is retried on new ports (up to 5 times).
 *
 *   const etcd = await startEtcd(t, { members: 3 })
 *   etcd.endpoints                      // ['http://127.0.0.1:P1', ...]
 *   await etcd.members[0].kill()        // SIGKILL the member (its data dir stays)
 *   await etcd.members[0].start()       // restart it on the same ports and data
 *   await etcd.waitHealthy()
 *
 * With `{ tls: true }` the members serve https with a test CA (made with openssl) and require
 * client certificates; `etcd.tls` has the CA and a client certificate and key. `enableAuth`
 * turns etcd authentication on with a root user (etcdctl).
 */

import { execFileSync, spawn, type ChildProcess } from 'node:child_process'
import fs from 'node:fs'
import https from 'node:https'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'

export interface EtcdTestLike { teardown (fn: () => unknown): void }

export const ETCD_BIN = process.env.SPOOL_ETCD_BIN ?? 'etcd'
const STDERR_TAIL_BYTES = 16 * 1024
const START_ATTEMPTS = 5

const liveGroups = new Set<number>()
const liveDirs = new Set<string>()
let exitHookInstalled = false

function installExitHook (): void {
  if (exitHookInstalled) return
  exitHookInstalled = true
  process.on('exit', () => {
    for (const pid of liveGroups) {
      try { process.kill(-pid, 'SIGKILL') } catch { /* already gone */ }
    }
    for (const dir of liveDirs) fs.rmSync(dir, { recursive: true, force: true })
  })
}

/**
 * `count` distinct free loopback ports (all held open at once so none repeats), below the
 * kernel's ephemeral range (32768 and up): etcd keeps its ports across a restart, and while
 * a member is down an ephemeral port can be taken by any outgoing connection — even a client
 * retrying that very port (a TCP self-connect) — so the member could not bind it again.
 */
export async function freePorts (count: number): Promise<number[]> {
  const servers: net.Server[] = []
  const ports: number[] = []
  try {
    for (let attempt = 0; ports.length < count && attempt < 1000; attempt++) {
      const port = 20_000 + Math.floor(Math.random() * 12_000)
      if (ports.includes(port)) continue
      const server = net.createServer()
      const bound = await new Promise<boolean>(resolve => {
        server.once('error', () => resolve(false))
        server.listen(port, '127.0.0.1', () => resolve(true))
      })
      if (!bound) continue
      servers.push(server)
      ports.push(port)
    }
    if (ports.length < count) throw new Error(`found only ${ports.length} of ${count} free ports in 20000-31999`)
    return ports
  } finally {
    await Promise.all(servers.map(s => new Promise(resolve => s.close(resolve))))
  }
}

export interface EtcdTestTls {
  caFile: string
  /** A client certificate and key signed by the CA. */
  certFile: string
  keyFile: string
}

/** A CA, a server certificate for 127.0.0.1 and a client certificate, in `dir`. */
export function makeTestCertificates (dir: string): EtcdTestTls & { serverCertFile: string, serverKeyFile: string } {
  const f = (name: string): string => path.join(dir, name)
  const openssl = (...args: string[]): void => { execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'], timeout: 20_000 }) }
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes']
  openssl('req', '-x509', ...ec, '-keyout', f('ca.key'), '-out', f('ca.crt'), '-days', '2', '-subj', '/CN=spool-test-ca')
  for (const [name, ext] of [['server', 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth'], ['client', 'extendedKeyUsage=clientAuth']] as const) {
    fs.writeFileSync(f(`${name}.ext`), `${ext}\n`)
    openssl('req', ...ec, '-keyout', f(`${name}.key`), '-out', f(`${name}.csr`), '-subj', `/CN=${name === 'server' ? '127.0.0.1' : 'spool-test-client'}`)
    openssl('x509', '-req', '-in', f(`${name}.csr`), '-CA', f('ca.crt'), '-CAkey', f('ca.key'), '-CAcreateserial', '-out', f(`${name}.crt`), '-days', '2', '-extfile', f(`${name}.ext`))
  }
  return { caFile: f('ca.crt'), certFile: f('client.crt'), keyFile: f('client.key'), serverCertFile: f('server.crt'), serverKeyFile: f('server.key') }
}

export class EtcdMember {
  readonly name: string
  readonly clientUrl: string
  readonly peerUrl: string
  readonly dataDir: string
  #args: string[]
  #child: ChildProcess | null = null
  #stderr = ''
  #exited: Promise<void> = Promise.resolve()
  #crashed = false

  readonly #tls: EtcdTestTls | null

  constructor (name: string, clientPort: number, peerPort: number, initialCluster: string, clusterToken: string, dataDir: string,
    tls: (EtcdTestTls & { serverCertFile: string, serverKeyFile: string }) | null = null) {
    this.name = name
    this.#tls = tls
    this.clientUrl = `${tls === null ? 'http' : 'https'}://127.0.0.1:${clientPort}`
    this.peerUrl = `http://127.0.0.1:${peerPort}`
    this.dataDir = dataDir
    this.#args = [
      '--name', name, '--data-dir', dataDir,
      '--listen-client-urls', this.clientUrl, '--advertise-client-urls', this.clientUrl,
      '--listen-peer-urls', this.peerUrl, '--initial-advertise-peer-urls', this.peerUrl,
      '--initial-cluster', initialCluster, '--initial-cluster-state', 'new', '--initial-cluster-token', clusterToken,
      '--logger', 'zap', '--log-level', 'warn',
      ...(tls === null ? [] : ['--cert-file', tls.serverCertFile, '--key-file', tls.serverKeyFile, '--trusted-ca-file', tls.caFile, '--client-cert-auth']),
    ]
  }

  get running (): boolean { return this.#child !== null }
  /** It exited without being killed (bad flags, port taken, ...). */
  get crashed (): boolean { return this.#crashed }
  get pid (): number | null { return this.#child?.pid ?? null }
  /** The last 16 KiB etcd wrote to stderr. */
  get stderr (): string { return this.#stderr }

  /** Spawns the member (with its existing data dir after a kill). Health is the cluster's to check. */
  start (): void {
    if (this.#child !== null) throw new Error(`etcd ${this.name} is already running`)
    installExitHook()
    this.#stderr = ''
    this.#crashed = false
    const child = spawn('setpriv', ['--pdeathsig', 'KILL', '--', ETCD_BIN, ...this.#args], { detached: true, stdio: ['ignore', 'ignore', 'pipe'] })
    this.#child = child
    const pid = child.pid!
    liveGroups.add(pid)
    child.stderr!.setEncoding('utf8').on('data', (d: string) => {
      this.#stderr = (this.#stderr + d).slice(-STDERR_TAIL_BYTES)
    })
    this.#exited = new Promise(resolve => child.once('exit', () => {
      liveGroups.delete(pid)
      if (this.#child === child) {
        this.#child = null
        this.#crashed = true
      }
      resolve()
    }))
  }

  /** Kills the member's process group (SIGKILL by default) and waits for it to exit. */
  async kill (signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const child = this.#child
    if (child === null) return
    this.#child = null
    try { process.kill(-child.pid!, signal) } catch { /* already gone */ }
    await this.#exited
  }

  /** Whether the member answers /health with true within `timeoutMs`. */
  async healthy (timeoutMs = 1000): Promise<boolean> {
    const tls = this.#tls
    if (tls !== null) {
      return await new Promise(resolve => {
        const req = https.get(`${this.clientUrl}/health`, {
          ca: fs.readFileSync(tls.caFile), cert: fs.readFileSync(tls.certFile), key: fs.readFileSync(tls.keyFile), timeout: timeoutMs,
        }, res => {
          let body = ''
          res.setEncoding('utf8').on('data', (d: string) => { body += d }).on('end', () => resolve(body.includes('"health":"true"')))
        })
        req.on('error', () => resolve(false)).on('timeout', () => { req.destroy(); resolve(false) })
      })
    }
    try {
      const res = await fetch(`${this.clientUrl}/health`, { signal: AbortSignal.timeout(timeoutMs) })
      const body = await res.json() as { health?: string }
      return body.health === 'true'
    } catch {
      return false
    }
  }
}

export class EtcdCluster {
  readonly members: EtcdMember[]
  readonly rootDir: string
  readonly tls: EtcdTestTls | null

  constructor (members: EtcdMember[], rootDir: string, tls: EtcdTestTls | null = null) {
    this.members = members
    this.rootDir = rootDir
    this.tls = tls
  }

  /** Turns on etcd authentication with user root / `password` (etcdctl, bounded). */
  enableAuth (password: string): void {
    const tls = this.tls === null ? [] : ['--cacert', this.tls.caFile, '--cert', this.tls.certFile, '--key', this.tls.keyFile]
    const ctl = (...args: string[]): void => {
      execFileSync(process.env.SPOOL_ETCDCTL_BIN ?? 'etcdctl', ['--endpoints', this.endpoints.join(','), ...tls, ...args], { stdio: ['ignore', 'ignore', 'pipe'], timeout: 20_000, env: { ...process.env, ETCDCTL_API: '3' } })
    }
    ctl('role', 'add', 'root')
    ctl('user', 'add', `root:${password}`)
    ctl('user', 'grant-role', 'root', 'root')
    ctl('auth', 'enable')
  }

  get endpoints (): string[] { return this.members.map(m => m.clientUrl) }

  /** Waits (bounded) until every running member reports healthy (a leader exists). */
  async waitHealthy (timeoutMs = 15_000): Promise<void> {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const crashed = this.members.find(m => m.crashed)
      if (crashed !== undefined) throw new Error(`etcd ${crashed.name} exited: ${crashed.stderr.slice(-2000)}`)
      const running = this.members.filter(m => m.running)
      const states = await Promise.all(running.map(m => m.healthy()))
      if (running.length > 0 && states.every(Boolean)) return
      if (Date.now() > deadline) {
        throw new Error(`etcd did not become healthy within ${timeoutMs} ms: ${this.members.map(m => `${m.name} ${m.running ? 'running' : 'stopped'}: ${m.stderr.slice(-500)}`).join(' | ')}`)
      }
      await new Promise(resolve => setTimeout(resolve, 100))
    }
  }

  async stop (): Promise<void> {
    await Promise.all(this.members.map(m => m.kill()))
    fs.rmSync(this.rootDir, { recursive: true, force: true })
    liveDirs.delete(this.rootDir)
  }
}

/** Starts a 1- or 3-member etcd cluster on free loopback ports, stopped at teardown. */
export async function startEtcd (t: EtcdTestLike, options: { members?: 1 | 3, tls?: boolean } = {}): Promise<EtcdCluster> {
  const count = options.members ?? 1
  let lastError: Error | null = null
  for (let attempt = 0; attempt < START_ATTEMPTS; attempt++) {
    const rootDir = fs.mkdtempSync(path.join(os.tmpdir(), 'spool-etcd-'))
    liveDirs.add(rootDir)
    installExitHook()
    const tls = options.tls === true ? makeTestCertificates(rootDir) : null
    const ports = await freePorts(2 * count)
    const names = Array.from({ length: count }, (_, i) => `n${i + 1}`)
    const initialCluster = names.map((n, i) => `${n}=http://127.0.0.1:${ports[2 * i + 1]}`).join(',')
    const members = names.map((n, i) => {
      const dataDir = path.join(rootDir, n)
      return new EtcdMember(n, ports[2 * i]!, ports[2 * i + 1]!, initialCluster, path.basename(rootDir), dataDir, tls)
    })
    const cluster = new EtcdCluster(members, rootDir, tls === null ? null : { caFile: tls.caFile, certFile: tls.certFile, keyFile: tls.keyFile })
    for (const m of members) m.start()
    try {
      await cluster.waitHealthy()
      t.teardown(() => cluster.stop())
      return cluster
    } catch (err) {
      lastError = err as Error
      const portClash = members.some(m => /address already in use/.test(m.stderr))
      await cluster.stop()
      if (!portClash) throw err
    }
  }
  throw lastError ?? new Error('etcd did not start')
}
