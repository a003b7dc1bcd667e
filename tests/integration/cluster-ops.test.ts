// Operating a cluster (embedded brokers, real etcd; the real `spool` CLI; headless Chromium
// for the console): `spool topic create --replication-factor`, `spool cluster status` (text
// and JSON) while healthy and with a broker down (under-replicated partitions named),
// `spool topic reassign` moving a partition to other brokers with throttled catch-up (the
// new replicas end up with the same bytes, the old ones are emptied), `spool cluster
// decommission` draining a broker, the cluster metrics on /metrics, /api/cluster and the
// console's Brokers screen.
import t from 'tap'
import type { Broker } from '../../broker/broker.js'
import { startCluster, storedBatches } from '../helpers/cluster.js'
import { runCli } from '../helpers/client-cli.js'
import { httpGet } from '../helpers/broker.js'
import { ensureWebBuild, launchBrowser, openPage } from '../helpers/browser.js'

type T = Parameters<Parameters<typeof t.test>[0]>[0]

async function spool (t: T, broker: Broker, args: string[]): Promise<string> {
  const r = await runCli(t, [...args, '--broker', `127.0.0.1:${broker.ports.native}`], { timeoutMs: 30_000 })
  if (r.code !== 0) throw new Error(`spool ${args.join(' ')} exited ${r.code}: ${r.stderr}`)
  return r.stdout
}

t.test('topic create with a replication factor, cluster status healthy and degraded, metrics, /api/cluster, console', async t => {
  const c = await startCluster(t, { brokers: 3 })
  const b1 = c.broker(1)
  t.equal(await spool(t, b1, ['topic', 'create', 'ops', '--partitions', '3', '--replication-factor', '3']), 'created topic "ops" with 3 partitions and 3 replicas each\n')
  await c.waitFor(() => [0, 1, 2].every(p => (c.partition('ops', p)?.isr.length ?? 0) === 3), 'ops fully replicated')
  await c.waitFor(() => [...Array(8).keys()].every(p => (c.partition('__consumer_offsets', p)?.isr.length ?? 0) === 3), 'offsets fully replicated')
  const healthy = await spool(t, b1, ['cluster', 'status'])
  const controller = b1.cluster!.agent!.controller!.nodeId
  t.match(healthy, /^NODE +ADDRESS +RACK +ROLE\n/, 'a broker table')
  for (const b of c.brokers.values()) t.match(healthy, new RegExp(`^ *${b.config.nodeId} +127\\.0\\.0\\.1:${b.ports.native} +- +${b.config.nodeId === controller ? 'controller' : '-'}$`, 'm'), `broker ${b.config.nodeId} listed`)
  t.match(healthy, /every partition is fully replicated/)
  t.match(healthy, /3 brokers, controller \d, 11 partitions, 0 under-replicated, 0 offline, 0 reassigning\n$/, 'the summary line')
  const all = await spool(t, b1, ['cluster', 'status', '--all'])
  t.match(all, /^ops +0 +\d +\d+ +\d,\d,\d +\d,\d,\d +ok$/m, '--all lists every partition with leader, epoch, replicas and ISR')

  const down = 3
  await c.stop(down)
  await c.waitFor(() => [0, 1, 2].every(p => c.partition('ops', p)?.isr.length === 2), 'the stopped broker out of every ISR')
  const degraded = JSON.parse(await spool(t, b1, ['cluster', 'status', '--format', 'json'])) as { brokers: unknown[], underReplicatedPartitions: number, offlinePartitions: number }
  t.equal(degraded.brokers.length, 2, 'JSON: two live brokers')
  t.equal(degraded.underReplicatedPartitions, 11, 'JSON: every partition under-replicated')
  t.equal(degraded.offlinePartitions, 0, 'none offline')
  const text = await spool(t, b1, ['cluster', 'status'])
  t.match(text, /^ops +0 +\d +\d+ +\d,\d,\d +\d,\d +under-replicated$/m, 'text: the partitions needing attention')

  const metrics = (await httpGet(b1, '/metrics')).text
  for (const name of ['spool_cluster_brokers 2', 'spool_cluster_controller_changes_total', 'spool_cluster_offline_partitions 0', 'spool_cluster_isr_shrinks_total', 'spool_cluster_replica_lag_records']) {
    t.match(metrics, name, `/metrics has ${name}`)
  }
  t.match(metrics, /spool_cluster_under_replicated_partitions [1-9]/, 'the partitions broker 1 leads are under-replicated')
  const api = JSON.parse((await httpGet(b1, '/api/cluster')).text) as { clustered: boolean, brokers: Array<{ nodeId: number }>, partitions: { underReplicated: number } }
  t.same([api.clustered, api.brokers.map(b => b.nodeId), api.partitions.underReplicated], [true, [1, 2], 11], '/api/cluster')

  await ensureWebBuild()
  const context = await launchBrowser(t)
  const { page, errors } = await openPage(context, `http://127.0.0.1:${b1.ports.http}/#/brokers`)
  t.teardown(() => page.close())
  await page.locator('.broker-card').nth(1).waitFor({ timeout: 10_000 })
  t.equal(await page.locator('.broker-card').count(), 2, 'the Brokers screen shows a card per live broker')
  t.match(await page.locator('.broker-card[data-node="1"]').innerText(), /broker 1/i, 'a card names its broker')
  await page.locator('table.attention tbody tr').first().waitFor({ timeout: 10_000 })
  t.match(await page.locator('table.attention').innerText(), /under-replicated/, 'and the partitions needing attention')
  await c.start(down)
  await c.waitFor(() => [0, 1, 2].every(p => c.partition('ops', p)?.isr.length === 3), 'back in every ISR')
  await page.locator('table.attention td.empty').waitFor({ timeout: 15_000 })
  t.equal(await page.locator('.broker-card').count(), 3, 'three cards once it is back')
  t.same(errors, [], 'no console errors')
})

t.test('reassignment with throttled catch-up, then a decommission', async t => {
  const c = await startCluster(t, { brokers: 4, config: { reassignmentThrottleBytesPerSec: 256 * 1024 } })
  const b1 = c.broker(1)
  const client = c.client(t)
  await client.admin().createTopics([{ topic: 'moving', partitions: 1, replicationFactor: 2 }])
  await c.waitFor(() => c.partition('moving', 0)?.isr.length === 2, 'two in-sync replicas')
  const before = c.partition('moving', 0)!.replicas
  const target = [1, 2, 3, 4].filter(id => !before.includes(id))
  const producer = client.producer({ acks: 'all', lingerMs: 5, batchBytes: 16 * 1024 })
  const value = 'x'.repeat(500)
  await Promise.all(Array.from({ length: 3000 }, (_, i) => producer.send({ topic: 'moving', messages: [{ key: `k${i}`, value }] })))
  await producer.close()
  const leaderBefore = c.broker(c.leaderOf('moving', 0))
  const reference = await storedBatches(leaderBefore, 'moving', 0)
  const bytes = leaderBefore.logs.partition('moving', 0).sizeBytes
  t.ok(bytes > 1024 * 1024, `about ${Math.round(bytes / 1024)} KiB to move`)
  const startedAt = Date.now()
  const out = await spool(t, b1, ['topic', 'reassign', 'moving', '--partition', '0', '--replicas', target.join(',')])
  t.match(out, /^reassignment: 1 started, 0 already complete/)
  await c.waitFor(() => (c.partition('moving', 0)?.addingReplicas.length ?? 0) > 0 || c.partition('moving', 0)?.replicas.join() === target.join(), 'the move under way')
  const status = await spool(t, b1, ['cluster', 'status'])
  if ((c.partition('moving', 0)?.addingReplicas.length ?? 0) > 0) t.match(status, /^moving +0 .*reassigning$/m, 'status shows the partition being reassigned')
  await c.waitFor(() => {
    const p = c.partition('moving', 0)
    return p !== undefined && p.replicas.join() === target.join() && p.isr.length === 2 && p.addingReplicas.length === 0
  }, 'the move completes', 60_000)
  const tookMs = Date.now() - startedAt
  t.ok(tookMs >= 2000, `the catch-up was throttled (${tookMs} ms for ${Math.round(bytes / 1024)} KiB at 256 KiB/s)`)
  for (const id of target) t.same(await storedBatches(c.broker(id), 'moving', 0), reference, `new replica ${id} holds the same batches`)
  for (const id of before) {
    await c.waitFor(() => c.broker(id).logs.partition('moving', 0).logEndOffset === 0, `old replica ${id} emptied`)
  }

  const drained = target[0]!
  const moved = await spool(t, b1, ['cluster', 'decommission', String(drained)])
  t.match(moved, new RegExp(`^decommissioning broker ${drained}: \\d+ replicas? moving`))
  await c.waitFor(() => {
    const ids = [...c.brokers.values()][0]!.cluster!.agent!.metadata
    return [...ids.partitions()].every(p => !p.replicas.includes(drained))
  }, `no replica left on broker ${drained}`, 90_000)
  t.match(await spool(t, b1, ['cluster', 'status']), new RegExp(`^ *${drained} +.*decommissioned$`, 'm'), 'status marks it decommissioned')
  t.equal(await spool(t, b1, ['cluster', 'recommission', String(drained)]), `broker ${drained} may take replicas again\n`)
})

t.test('docker-compose.cluster.yml: three brokers on three etcd members, loopback ports, settings the broker takes', async t => {
  const { execFileSync } = await import('node:child_process')
  const { fileURLToPath } = await import('node:url')
  const { resolveConfig } = await import('../../broker/config/settings.js')
  const { checkExposure } = await import('../../broker/security/broker-security.js')
  const root = fileURLToPath(new URL('../../../', import.meta.url))
  execFileSync('docker-compose', ['-f', 'docker-compose.cluster.yml', 'config', '-q'], { cwd: root, timeout: 30_000 })
  t.pass('docker-compose config -q accepts the file')
  const normalized = execFileSync('docker-compose', ['-f', 'docker-compose.cluster.yml', 'config'], { cwd: root, timeout: 30_000, encoding: 'utf8' })
  const services = [...normalized.matchAll(/^ {2}([a-z0-9]+):$/gm)].map(m => m[1]!)
  t.same(services.filter(s => s.startsWith('etcd')).sort(), ['etcd1', 'etcd2', 'etcd3'], 'three etcd members')
  t.same(services.filter(s => s.startsWith('spool')).sort(), ['spool1', 'spool2', 'spool3'], 'three brokers')
  const commandOf = (service: string): string[] => {
    const block = normalized.slice(normalized.indexOf(`\n  ${service}:\n`) + 1)
    const end = block.search(/\n {2}[a-z0-9]+:\n/)
    const body = end < 0 ? block : block.slice(0, end)
    const command = /\n {4}command:\n((?: {4}- .*\n)+)/.exec(body)?.[1] ?? ''
    return command.trim().split('\n').map(l => l.replace(/^\s*- /, '').replace(/^'(.*)'$/, '$1'))
  }
  const portsOf = (service: string): string[] => {
    const block = normalized.slice(normalized.indexOf(`\n  ${service}:\n`) + 1)
    return (/\n {4}ports:\n((?: {4}- .*\n)+)/.exec(block)?.[1] ?? '').trim().split('\n').map(l => l.replace(/^\s*- /, ''))
  }
  const nodeIds = new Set<number>()
  for (const service of ['spool1', 'spool2', 'spool3']) {
    const args = commandOf(service)
    t.same(args.slice(0, 2), ['broker', 'start'], `${service} runs spool broker start`)
    const flags: Record<string, string> = {}
    for (let i = 2; i < args.length; i += 2) flags[args[i]!.replace(/^--/, '').replace(/-([a-z])/g, (_m, ch: string) => ch.toUpperCase())] = args[i + 1]!
    const block = normalized.slice(normalized.indexOf(`\n  ${service}:\n`) + 1)
    const environment = Object.fromEntries([...(/\n {4}environment:\n((?: {6}\S+: .*\n)+)/.exec(block)?.[1] ?? '').matchAll(/^ {6}(\S+): ['"]?([^'"\n]*)['"]?$/gm)].map(m => [m[1]!, m[2]!]))
    const config = resolveConfig({ flags: flags as never, env: environment })
    // It listens on 0.0.0.0 inside its container: the broker's exposure rule must let it.
    t.doesNotThrow(() => checkExposure(config), `${service}: may listen on ${config.host} (allowAnonymous ${String(config.allowAnonymous)})`)
    nodeIds.add(config.nodeId)
    t.same(config.etcdEndpoints, ['http://etcd1:2379', 'http://etcd2:2379', 'http://etcd3:2379'], `${service}: every etcd member`)
    const advertised = Object.fromEntries((config.advertisedListeners ?? []).map(e => e.split('=') as [string, string]))
    t.same(advertised, { native: `${service}:${config.port}`, http: `${service}:${config.httpPort}`, mqtt: `${service}:${config.mqttPort}` }, `${service}: advertises its own name and ports`)
    t.same(portsOf(service), [config.port, config.httpPort, config.mqttPort].map(p => `127.0.0.1:${p}:${p}/tcp`), `${service}: its ports published on 127.0.0.1 only`)
  }
  t.same([...nodeIds].sort(), [1, 2, 3], 'distinct node ids')
})
