/**
 * `spool quota set|remove|list`: byte-rate and request-rate limits, set at run time, kept
 * by the broker in its data dir (in a cluster: in etcd, shared by every broker; they
 * survive restarts) and applied to connections that are already open, from their next
 * request.
 *
 *   spool quota set (--client-id C | --principal P | --group G | --default)
 *                   [--produce-bytes-per-sec N] [--fetch-bytes-per-sec N] [--requests-per-sec N]
 *   spool quota remove (--client-id C | --principal P | --group G | --default)
 *   spool quota list [--format text|json]
 *   (each also: --etcd-endpoints URLS [--cluster-key-prefix P | --cluster-id C] [etcd TLS/auth flags])
 *
 * Byte rates take bytes or units: 1MB (1,000,000), 512KiB, 2.5MiB/s (cli/units.ts).
 * `--principal alice` means `User:alice`. `--default` is the quota of each client id that
 * has none of its own. `set` changes only the limits it names; `remove` removes all of the
 * entity's limits. A throttled client is slowed, never cut off: the broker answers, then
 * reads nothing more from it until its rate is back under the limit.
 *
 * They go through a broker (--broker, the AlterClientQuotas and DescribeClientQuotas apis),
 * or with --etcd-endpoints URLS [--cluster-key-prefix P] (and etcd's TLS and authentication
 * flags, cluster-etcd.ts) straight to a cluster's quota documents in etcd, as `spool user`
 * and `spool acl` do: one read, a compare-and-swap write per entity, and every broker of the
 * cluster applies the change once its watch delivered it (no broker needs to be up).
 */

import { Command, InvalidArgumentError as CommanderArgumentError, Option } from 'commander'
import { ClusterQuotaStore, rawQuotaDocument } from '../../broker/quotas/cluster-quotas.js'
import type { Client, ClientQuota, QuotaEntity, QuotaLimits } from '../../client/index.js'
import { choiceArg, fail, ok, withClient } from '../context.js'
import { UsageError } from '../exit-codes.js'
import { table } from '../output.js'
import { formatLimit, parseBytes } from '../units.js'
import { clusterOptions, clustered, withClusterEtcd, type ClusterEtcd, type ClusterFlags } from './cluster-etcd.js'

interface EntityOptions extends ClusterFlags {
  clientId?: string
  principal?: string
  group?: string
  default?: boolean
}

interface SetOptions extends EntityOptions {
  produceBytesPerSec?: number
  fetchBytesPerSec?: number
  requestsPerSec?: number
}

function bytesArg (value: string): number {
  const n = parseBytes(value)
  if (n === null || n < 1) throw new CommanderArgumentError('expected bytes per second: a number, or with a unit (1MB, 512KiB, 2.5MiB)')
  return n
}

function countArg (value: string): number {
  const n = Number(value)
  if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(n) || n < 1) throw new CommanderArgumentError('expected a whole number of at least 1')
  return n
}

/** The one entity the options name. */
function entityOf (o: EntityOptions): QuotaEntity {
  const given: QuotaEntity[] = []
  if (o.clientId !== undefined) given.push({ type: 'client-id', name: o.clientId })
  if (o.principal !== undefined) given.push({ type: 'principal', name: o.principal.includes(':') ? o.principal : `User:${o.principal}` })
  if (o.group !== undefined) given.push({ type: 'group', name: o.group })
  if (o.default === true) given.push({ type: 'default', name: null })
  if (given.length !== 1) throw new UsageError('name exactly one of --client-id C, --principal P, --group G and --default')
  return given[0]!
}

function describeEntity (e: QuotaEntity): string {
  return e.type === 'default' ? 'the default (each client id without its own quota)' : `${e.type} "${e.name}"`
}

function describeLimits (l: QuotaLimits): string {
  const parts: string[] = []
  if (l.produceBytesPerSec !== undefined) parts.push(`produce ${formatLimit(l.produceBytesPerSec)}/s`)
  if (l.fetchBytesPerSec !== undefined) parts.push(`fetch ${formatLimit(l.fetchBytesPerSec)}/s`)
  if (l.requestsPerSec !== undefined) parts.push(`${l.requestsPerSec} requests/s`)
  return parts.join(', ')
}

/** Where quotas are read and changed: a broker, or a cluster's documents in etcd. */
interface QuotaTarget {
  list (): Promise<ClientQuota[]>
  /** Sets the limits given; the entity's other limits stay. */
  set (entity: QuotaEntity, limits: QuotaLimits): Promise<void>
  removeAll (entity: QuotaEntity): Promise<void>
}

function brokerTarget (client: Client): QuotaTarget {
  const admin = client.admin()
  return {
    list: () => admin.describeClientQuotas(),
    set: (entity, limits) => admin.alterClientQuotas([{ entity, set: limits }]),
    removeAll: entity => admin.alterClientQuotas([{ entity, remove: 'all' }]),
  }
}

/** The cluster's quota documents, read once; documents left out are named on stderr. */
async function clusterTarget (etcd: ClusterEtcd): Promise<QuotaTarget> {
  const store = new ClusterQuotaStore()
  store.bind(await etcd.snapshot('quotas', rawQuotaDocument))
  for (const bad of store.invalid) process.stderr.write(`warning: ${bad.error.message} (${bad.error.code}; left out, it limits nobody)\n`)
  const write = async (entity: QuotaEntity, limits: QuotaLimits): Promise<void> => {
    const [error] = await store.replace([{ entity, limits }])
    if (error !== null && error !== undefined) throw error
  }
  return {
    list: async () => store.list().map(e => ({ entity: { type: e.entity.type, name: e.entity.name }, limits: { ...e.limits } })),
    set: (entity, limits) => write(entity, { ...store.get(entity)?.limits, ...limits }),
    removeAll: entity => write(entity, {}),
  }
}

/** The command's action: through the broker, or with --etcd-endpoints through etcd. */
function quotaAction<O extends ClusterFlags> (run: (target: QuotaTarget, options: O) => Promise<void>): (options: O, command: Command) => Promise<void> {
  const viaBroker = withClient(async (client: Client, _broker: string, options: O, _command: Command) => run(brokerTarget(client), options))
  return async (options, command) => {
    if (!clustered(options)) return viaBroker(options, command)
    try {
      await withClusterEtcd(options, async etcd => run(await clusterTarget(etcd), options))
      ok()
    } catch (err) {
      fail(err, '')
    }
  }
}

async function set (target: QuotaTarget, options: SetOptions): Promise<void> {
  const entity = entityOf(options)
  const limits: QuotaLimits = {}
  if (options.produceBytesPerSec !== undefined) limits.produceBytesPerSec = options.produceBytesPerSec
  if (options.fetchBytesPerSec !== undefined) limits.fetchBytesPerSec = options.fetchBytesPerSec
  if (options.requestsPerSec !== undefined) limits.requestsPerSec = options.requestsPerSec
  if (Object.keys(limits).length === 0) throw new UsageError('give at least one of --produce-bytes-per-sec, --fetch-bytes-per-sec and --requests-per-sec')
  await target.set(entity, limits)
  const now = (await target.list()).find(q => q.entity.type === entity.type && q.entity.name === entity.name)
  process.stdout.write(`quota for ${describeEntity(entity)}: ${describeLimits(now?.limits ?? limits)}\n`)
}

async function remove (target: QuotaTarget, options: EntityOptions): Promise<void> {
  const entity = entityOf(options)
  const had = (await target.list()).some(q => q.entity.type === entity.type && q.entity.name === entity.name)
  await target.removeAll(entity)
  process.stdout.write(had ? `removed the quota of ${describeEntity(entity)}\n` : `${describeEntity(entity)} had no quota\n`)
}

const cell = (n: number | undefined, bytes: boolean): string => n === undefined ? '-' : bytes ? `${formatLimit(n)}/s` : `${n}/s`

async function list (target: QuotaTarget, options: ClusterFlags & { format: 'text' | 'json' }): Promise<void> {
  const quotas: ClientQuota[] = await target.list()
  if (options.format === 'json') {
    process.stdout.write(JSON.stringify(quotas) + '\n')
    return
  }
  if (quotas.length === 0) {
    process.stdout.write('no quotas\n')
    return
  }
  process.stdout.write(table(['ENTITY', 'NAME', 'PRODUCE', 'FETCH', 'REQUESTS'], quotas.map(q => [
    q.entity.type, q.entity.name ?? '(each client id)', cell(q.limits.produceBytesPerSec, true), cell(q.limits.fetchBytesPerSec, true), cell(q.limits.requestsPerSec, false),
  ])))
}

function entityOptions (command: Command): Command {
  return command
    .option('--client-id <id>', 'the client id a client sends (spool top shows it)')
    .option('--principal <principal>', 'an authenticated principal (User:alice; alice means User:alice)')
    .option('--group <group>', 'a consumer group: its members share the limit')
    .option('--default', 'each client id that has no quota of its own')
}

const VIA_ETCD = 'quotas in etcd instead of through a broker'

export function quotaCommand (): Command {
  const quota = new Command('quota').description('limit produce and fetch bytes per second and requests per second, at run time')
  clusterOptions(entityOptions(quota.command('set')), VIA_ETCD)
    .description('set limits for a client id, principal, group or the default (other limits of the entity stay)')
    .option('--produce-bytes-per-sec <rate>', 'bytes per second it may produce (1MB, 512KiB, or bytes)', bytesArg)
    .option('--fetch-bytes-per-sec <rate>', 'bytes per second it may fetch (1MB, 512KiB, or bytes)', bytesArg)
    .option('--requests-per-sec <n>', 'requests per second it may send', countArg)
    .action(quotaAction(set))
  clusterOptions(entityOptions(quota.command('remove')), VIA_ETCD)
    .description('remove every limit of a client id, principal, group or the default')
    .action(quotaAction(remove))
  clusterOptions(quota.command('list'), VIA_ETCD)
    .description('list the quotas set')
    .addOption(new Option('--format <format>', 'text or json').argParser(choiceArg(['text', 'json'] as const)).default('text'))
    .action(quotaAction(list))
  return quota
}
