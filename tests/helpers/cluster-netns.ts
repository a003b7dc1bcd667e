/**
 * Network namespaces for partition tests: every node (broker or etcd member) runs in a
 * network namespace of its own, wired by a veth pair to one bridge that lives in a "hub"
 * namespace; a last veth pair joins the hub to the test's namespace, whose end holds .254 of a
 * private /24 picked at random (10.213.X.0/24) so the test process (the clients) reaches every
 * node. Cutting a node sets its hub-side veth down: its packets are dropped both ways, as on a
 * pulled cable (its own link stays up, so connections hang rather than fail at once); healing
 * sets it up again. These are the only tests that bind addresses other than loopback, and only
 * inside their namespaces.
 *
 * No namespace is named (no `ip netns add`, nothing under /run/netns): each is held by a
 * `sleep` process started with `unshare --net` under `setpriv --pdeathsig KILL`, and commands
 * enter it with `nsenter -t <pid> -n`. A namespace lives only while a process is in it, and
 * every process in these namespaces dies with the test process (pdeathsig), even when that is
 * killed with SIGKILL; the veth pairs and the bridge go with their namespaces, the test-side
 * veth with its hub peer. Teardown (and process exit) kills the holders at once. Needs root
 * (CAP_NET_ADMIN, CAP_SYS_ADMIN): without it `createNetnsLab` throws an error saying so.
 *
 *   const lab = await createNetnsLab(t, ['e1', 'b1', 'b2', 'b3'])
 *   lab.address('b1')     // '10.213.42.2'
 *   lab.exec('b1')        // ['nsenter', '-t', '<pid>', '-n']: a command prefix
 *   lab.cut('b1'); lab.heal('b1')
 *   const etcd = await startNetnsEtcd(t, lab, ['e1'])
 *
 * Run directly (`node cluster-netns.js hold`), it makes a lab of two nodes, prints
 * {"hostLink":..,"holders":[..]} and waits to be killed: the test that checks a killed test
 * process leaves nothing behind uses it.
 */

import { execFileSync, spawn, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import type { TestLike } from './broker.js'
import { ETCD_BIN } from './etcd.js'

const holders = new Set<number>()
let hook = false

function run (command: string[]): void {
  execFileSync(command[0]!, command.slice(1), { stdio: ['ignore', 'ignore', 'pipe'], timeout: 10_000 })
}

/** Why namespaces cannot be made here, or null when they can. */
export function netnsUnavailable (): string | null {
  if (typeof process.getuid === 'function' && process.getuid() !== 0) {
    return 'this test needs root (CAP_NET_ADMIN, CAP_SYS_ADMIN) to create network namespaces, veth pairs and a bridge; run it as root (CI does)'
  }
  try {
    execFileSync('unshare', ['--net', '--', 'ip', 'link', 'show', 'lo'], { stdio: 'ignore', timeout: 5000 })
  } catch (err) {
    return `\`unshare --net\` does not work here (${(err as Error).message}); the test needs util-linux, iproute2 and network namespace support`
  }
  return null
}

export interface NetnsLab {
  /** A command prefix that runs a program inside the node's namespace. */
  exec (node: string): string[]
  address (node: string): string
  cut (node: string): void
  heal (node: string): void
  isCut (node: string): boolean
  /** The test-side veth (gone once the lab is). */
  readonly hostLink: string
  /** The pids of the processes holding the namespaces. */
  readonly holders: number[]
  /** Removes everything (teardown does it too). */
  destroy (): void
}

/** Starts a process in a new network namespace; resolves with its pid once it is inside. */
async function holdNamespace (): Promise<number> {
  const child = spawn('setpriv', ['--pdeathsig', 'KILL', '--', 'unshare', '--net', '--', 'sleep', 'infinity'], { detached: true, stdio: 'ignore' })
  const pid = child.pid
  if (pid === undefined) throw new Error('could not start a namespace holder')
  holders.add(pid)
  child.once('exit', () => holders.delete(pid))
  const own = fs.readlinkSync('/proc/self/ns/net')
  const deadline = Date.now() + 10_000
  for (;;) {
    let ns: string | null = null
    let comm = ''
    try {
      ns = fs.readlinkSync(`/proc/${pid}/ns/net`)
      comm = fs.readFileSync(`/proc/${pid}/comm`, 'utf8').trim()
    } catch { /* not yet, or gone */ }
    if (ns !== null && ns !== own && comm === 'sleep') return pid
    if (child.exitCode !== null || child.signalCode !== null) throw new Error('the namespace holder exited at once')
    if (Date.now() > deadline) throw new Error('the namespace holder did not enter a new network namespace within 10 s')
    await new Promise(resolve => setTimeout(resolve, 20))
  }
}

function killHolder (pid: number): void {
  try { process.kill(-pid, 'SIGKILL') } catch { /* gone */ }
  holders.delete(pid)
}

export async function createNetnsLab (t: TestLike, nodes: string[]): Promise<NetnsLab> {
  const why = netnsUnavailable()
  if (why !== null) throw new Error(why)
  if (!hook) {
    hook = true
    process.on('exit', () => { for (const pid of holders) killHolder(pid) })
  }
  const tag = randomBytes(2).toString('hex')
  const subnet = `10.213.${1 + Math.floor(Math.random() * 250)}`
  const hostLink = `sp${tag}r`
  const mine: number[] = []
  const destroy = (): void => {
    for (const pid of mine) killHolder(pid)
    try { run(['ip', 'link', 'del', hostLink]) } catch { /* gone with the hub */ }
  }
  t.teardown(destroy)
  try {
    const hub = await holdNamespace()
    mine.push(hub)
    const inHub = ['nsenter', '-t', String(hub), '-n']
    run([...inHub, 'ip', 'link', 'set', 'lo', 'up'])
    run([...inHub, 'ip', 'link', 'add', 'br0', 'type', 'bridge'])
    run([...inHub, 'ip', 'link', 'set', 'br0', 'up'])
    run(['ip', 'link', 'add', hostLink, 'type', 'veth', 'peer', 'name', `sp${tag}u`])
    run(['ip', 'link', 'set', `sp${tag}u`, 'netns', String(hub)])
    run([...inHub, 'ip', 'link', 'set', `sp${tag}u`, 'master', 'br0', 'up'])
    run(['ip', 'addr', 'add', `${subnet}.254/24`, 'dev', hostLink])
    run(['ip', 'link', 'set', hostLink, 'up'])
    const nsPid = new Map<string, number>()
    const hubSide = new Map<string, string>()
    const addr = new Map<string, string>()
    for (const [i, node] of nodes.entries()) {
      const pid = await holdNamespace()
      mine.push(pid)
      nsPid.set(node, pid)
      const h = `sp${tag}h${i}`
      const n = `sp${tag}n${i}`
      run(['ip', 'link', 'add', h, 'type', 'veth', 'peer', 'name', n])
      run(['ip', 'link', 'set', h, 'netns', String(hub)])
      run(['ip', 'link', 'set', n, 'netns', String(pid)])
      run([...inHub, 'ip', 'link', 'set', h, 'master', 'br0', 'up'])
      hubSide.set(node, h)
      const a = `${subnet}.${i + 1}`
      addr.set(node, a)
      const inNode = ['nsenter', '-t', String(pid), '-n']
      run([...inNode, 'ip', 'link', 'set', 'lo', 'up'])
      run([...inNode, 'ip', 'addr', 'add', `${a}/24`, 'dev', n])
      run([...inNode, 'ip', 'link', 'set', n, 'up'])
    }
    const get = <V>(map: Map<string, V>, node: string): V => {
      const v = map.get(node)
      if (v === undefined) throw new Error(`no node ${node} in the lab`)
      return v
    }
    const cut = new Set<string>()
    return {
      exec: node => ['nsenter', '-t', String(get(nsPid, node)), '-n'],
      address: node => get(addr, node),
      cut (node) {
        run([...inHub, 'ip', 'link', 'set', get(hubSide, node), 'down'])
        cut.add(node)
      },
      heal (node) {
        run([...inHub, 'ip', 'link', 'set', get(hubSide, node), 'up'])
        cut.delete(node)
      },
      isCut: node => cut.has(node),
      hostLink,
      holders: [...mine],
      destroy,
    }
  } catch (err) {
    destroy()
    throw err
  }
}

/** An etcd member running in a lab namespace (its data dir survives kill for a restart). */
export class NetnsEtcdMember {
  readonly node: string
  readonly clientUrl: string
  readonly #args: string[]
  readonly #exec: string[]
  #child: ChildProcess | null = null
  #exited: Promise<void> = Promise.resolve()
  #stderr = ''

  constructor (lab: NetnsLab, node: string, args: string[]) {
    this.node = node
    this.#exec = lab.exec(node)
    this.clientUrl = `http://${lab.address(node)}:2379`
    this.#args = args
  }

  get running (): boolean { return this.#child !== null }
  get stderr (): string { return this.#stderr }

  start (): void {
    if (this.#child !== null) return
    const child = spawn(this.#exec[0]!, [...this.#exec.slice(1), 'setpriv', '--pdeathsig', 'KILL', '--', ETCD_BIN, ...this.#args], { detached: true, stdio: ['ignore', 'ignore', 'pipe'] })
    this.#child = child
    child.stderr!.setEncoding('utf8').on('data', (d: string) => { this.#stderr = (this.#stderr + d).slice(-8192) })
    this.#exited = new Promise(resolve => child.once('exit', () => {
      if (this.#child === child) this.#child = null
      resolve()
    }))
  }

  async kill (): Promise<void> {
    const child = this.#child
    if (child === null) return
    this.#child = null
    try { process.kill(-child.pid!, 'SIGKILL') } catch { /* gone */ }
    await this.#exited
  }
}

/** Starts etcd members on the lab nodes named (one cluster), waits until every one is healthy. */
export async function startNetnsEtcd (t: TestLike, lab: NetnsLab, nodes: string[]): Promise<{ members: NetnsEtcdMember[], endpoints: string[] }> {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'spool-netns-etcd-'))
  const initial = nodes.map(n => `${n}=http://${lab.address(n)}:2380`).join(',')
  const members = nodes.map(n => new NetnsEtcdMember(lab, n, [
    '--name', n, '--data-dir', path.join(root, n),
    '--listen-client-urls', `http://${lab.address(n)}:2379`, '--advertise-client-urls', `http://${lab.address(n)}:2379`,
    '--listen-peer-urls', `http://${lab.address(n)}:2380`, '--initial-advertise-peer-urls', `http://${lab.address(n)}:2380`,
    '--initial-cluster', initial, '--initial-cluster-state', 'new', '--initial-cluster-token', path.basename(root),
    '--logger', 'zap', '--log-level', 'error',
  ]))
  t.teardown(async () => {
    await Promise.all(members.map(m => m.kill()))
    fs.rmSync(root, { recursive: true, force: true })
  })
  for (const m of members) m.start()
  const deadline = Date.now() + 20_000
  for (;;) {
    const healthy = await Promise.all(members.map(async m => {
      try {
        const res = await fetch(`${m.clientUrl}/health`, { signal: AbortSignal.timeout(1000) })
        return ((await res.json()) as { health?: string }).health === 'true'
      } catch {
        return false
      }
    }))
    if (healthy.every(Boolean)) break
    if (Date.now() > deadline) throw new Error(`etcd in the lab did not become healthy: ${members.map(m => m.stderr.slice(-300)).join(' | ')}`)
    await new Promise(resolve => setTimeout(resolve, 200))
  }
  return { members, endpoints: members.map(m => m.clientUrl) }
}

/** `node cluster-netns.js hold`: a lab for the test that kills its maker (see the header). */
async function main (): Promise<void> {
  const lab = await createNetnsLab({ teardown: () => {} }, ['a', 'b'])
  process.stdout.write(JSON.stringify({ hostLink: lab.hostLink, holders: lab.holders }) + '\n')
  setInterval(() => {}, 60_000)
}

if (process.argv[2] === 'hold' && process.argv[1] !== undefined && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) await main()
