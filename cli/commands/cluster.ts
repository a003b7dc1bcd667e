/**
 * `spool cluster status|decommission|recommission|import-security` (docs/cluster.md).
 *
 *   spool cluster status [--format text|json] [--all]
 *   spool cluster decommission <nodeId>
 *   spool cluster recommission <nodeId>
 *   spool cluster import-security --data-dir D --etcd-endpoints URLS [--dry-run]   (cluster-import.ts)
 *
 * status asks one broker (any broker answers for the whole cluster) and prints the brokers
 * (node id, address, rack, controller, decommissioned), then the partitions that need
 * attention: under-replicated (fewer in-sync replicas than replicas), offline (no leader),
 * and being reassigned — with `--all`, every partition with its leader, epoch, replicas and
 * ISR. The last line sums up. `--format json` prints the whole description on one line.
 * The exit code is 0 whatever the state (the output says it).
 */

import { Command, Option } from 'commander'
import type { Client, ClusterDescription, ClusterPartition } from '../../client/index.js'
import { choiceArg, intArg, withClient } from '../context.js'
import { table } from '../output.js'
import { addImportSecurity } from './cluster-import.js'

type Format = 'text' | 'json'

export interface PartitionStatus extends ClusterPartition {
  topic: string
  underReplicated: boolean
  offline: boolean
  reassigning: boolean
}

/** Every partition of the description with its state flags. */
export function partitionStatuses (d: ClusterDescription): PartitionStatus[] {
  return d.topics.flatMap(t => t.partitions.map(p => ({
    ...p,
    topic: t.topic,
    underReplicated: p.isr.length < p.replicas.length,
    offline: p.leader < 0,
    reassigning: p.addingReplicas.length > 0 || p.removingReplicas.length > 0,
  })))
}

const ids = (list: number[]): string => (list.length === 0 ? '-' : list.join(','))

/** The text form of `cluster status`. */
export function statusText (d: ClusterDescription, all: boolean): string {
  const parts = partitionStatuses(d)
  const brokers = table(['NODE', 'ADDRESS', 'RACK', 'ROLE'], d.brokers.map(b => [
    b.nodeId, `${b.host}:${b.port}`, b.rack ?? '-', [b.nodeId === d.controllerId ? 'controller' : '', b.decommissioned ? 'decommissioned' : ''].filter(Boolean).join(',') || '-',
  ]))
  const shown = all ? parts : parts.filter(p => p.underReplicated || p.offline || p.reassigning)
  const state = (p: PartitionStatus): string => [p.offline ? 'offline' : '', p.underReplicated ? 'under-replicated' : '', p.reassigning ? 'reassigning' : ''].filter(Boolean).join(',') || 'ok'
  const partitions = shown.length === 0
    ? 'every partition is fully replicated\n'
    : table(['TOPIC', 'PARTITION', 'LEADER', 'EPOCH', 'REPLICAS', 'ISR', 'STATE'], shown.map(p => [
      p.topic, p.partition, p.leader < 0 ? '-' : p.leader, p.leaderEpoch, ids(p.replicas), ids(p.isr), state(p),
    ]))
  const under = parts.filter(p => p.underReplicated).length
  const offline = parts.filter(p => p.offline).length
  const moving = parts.filter(p => p.reassigning).length
  const summary = `cluster ${d.clusterId}: ${d.brokers.length} broker${d.brokers.length === 1 ? '' : 's'}, controller ${d.controllerId < 0 ? 'none' : d.controllerId}, ` +
    `${parts.length} partitions, ${under} under-replicated, ${offline} offline, ${moving} reassigning\n`
  return `${brokers}\n${partitions}\n${summary}`
}

async function status (client: Client, _broker: string, options: { format: Format, all?: boolean }): Promise<void> {
  const d = await client.admin().describeCluster()
  if (options.format === 'json') {
    const parts = partitionStatuses(d)
    process.stdout.write(JSON.stringify({
      ...d,
      underReplicatedPartitions: parts.filter(p => p.underReplicated).length,
      offlinePartitions: parts.filter(p => p.offline).length,
      reassigningPartitions: parts.filter(p => p.reassigning).length,
    }) + '\n')
    return
  }
  process.stdout.write(statusText(d, options.all === true))
}

async function decommission (client: Client, _broker: string, nodeId: number): Promise<void> {
  const { moved } = await client.admin().decommissionBroker(nodeId)
  process.stdout.write(`decommissioning broker ${nodeId}: ${moved} replica${moved === 1 ? '' : 's'} moving to other brokers (watch spool cluster status)\n`)
}

async function recommission (client: Client, _broker: string, nodeId: number): Promise<void> {
  await client.admin().recommissionBroker(nodeId)
  process.stdout.write(`broker ${nodeId} may take replicas again\n`)
}

export function clusterCommand (): Command {
  const cluster = new Command('cluster').description('see and manage a cluster of brokers')
  cluster.command('status')
    .description('brokers, controller, and partitions that are under-replicated, offline or being reassigned')
    .addOption(new Option('--format <format>', 'text or json').argParser(choiceArg(['text', 'json'] as const)).default('text'))
    .option('--all', 'list every partition with its leader, replicas and ISR')
    .action(withClient(status))
  cluster.command('decommission')
    .description('move every replica off a broker (it then gets no new ones)')
    .argument('<nodeId>', 'the broker\'s node id', intArg(0))
    .action(withClient(decommission))
  cluster.command('recommission')
    .description('let a decommissioned broker take replicas again')
    .argument('<nodeId>', 'the broker\'s node id', intArg(0))
    .action(withClient(recommission))
  addImportSecurity(cluster)
  return cluster
}
