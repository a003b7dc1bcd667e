/**
 * `spool acl add|remove|list`: the ACLs the broker enforces with --auth, in
 * `<dataDir>/security/acls.json` (edited directly, like `spool user`; a running broker
 * picks a change up within a second; with --etcd-endpoints a cluster's ACLs in etcd,
 * cluster-security.ts). The flags follow kafka-acls:
 *
 *   spool acl add    (--allow-principal P | --deny-principal P)... [--operation OP]... RESOURCE [--host H]
 *   spool acl remove [--allow-principal P | --deny-principal P]... [--operation OP]... [RESOURCE] [--host H]
 *   spool acl list   [--principal P] [RESOURCE] [--format text|json]
 *
 *   RESOURCE := --topic T | --group G | --cluster | --transactional-id X, with
 *               --resource-pattern-type literal (default) | prefixed (every name starting with it)
 *   OP := read write create delete alter describe describe_configs alter_configs
 *         cluster_action idempotent_write all (default all)
 *
 * `remove` deletes every entry matching what is given (a field left out matches any); `list`
 * with a topic or group shows every entry that applies to it (its literal name, `*`, and
 * prefixes of the name).
 */

import { Command, Option } from 'commander'
import { ACL_OPERATIONS, CLUSTER_NAME, type AclEntry, type AclFilter, type AclOperation, type ResourceType } from '../../broker/security/acl.js'
import { AclStore, type AclRepository } from '../../broker/security/acl-store.js'
import { UsageError } from '../exit-codes.js'
import { choiceArg } from '../context.js'
import { table } from '../output.js'
import { clusterOptions, type ClusterFlags } from './cluster-etcd.js'
import { withSecurityStore } from './cluster-security.js'
import { dataDirOption, local } from './user.js'

/** Runs `fn` on the data directory's ACLs, or the cluster's with --etcd-endpoints. */
function withAcls<T> (o: { dataDir: string } & ClusterFlags, fn: (s: AclRepository) => Promise<T> | T): Promise<T> {
  return withSecurityStore<AclRepository, T>(o, c => c.acls, () => AclStore.open({ dataDir: o.dataDir }), fn)
}

interface ResourceFlags {
  topic?: string
  group?: string
  cluster?: boolean
  transactionalId?: string
  resourcePatternType: 'literal' | 'prefixed' | 'any' | 'match'
}

interface EntryFlags extends ResourceFlags {
  dataDir: string
  allowPrincipal: string[]
  denyPrincipal: string[]
  operation: AclOperation[]
  host?: string
}

const collect = (v: string, prev: string[]): string[] => [...prev, v]

function resourceOptions (command: Command, patternDefault: string): Command {
  return command
    .option('--topic <name>', 'a topic (or * for every topic)')
    .option('--group <name>', 'a consumer group (or *)')
    .option('--cluster', `the cluster (${CLUSTER_NAME})`)
    .option('--transactional-id <id>', 'a transactional id (or *)')
    .addOption(new Option('--resource-pattern-type <type>', 'literal: the name itself; prefixed: every name starting with it')
      .argParser(choiceArg(['literal', 'prefixed', 'any', 'match'] as const)).default(patternDefault))
}

/** The one resource the flags name, or null when none is named. */
function resourceOf (o: ResourceFlags): { resourceType: ResourceType, resourceName: string } | null {
  const named: Array<[ResourceType, string | undefined]> = [
    ['topic', o.topic], ['group', o.group], ['cluster', o.cluster === true ? CLUSTER_NAME : undefined], ['transactional_id', o.transactionalId],
  ]
  const given = named.filter(([, v]) => v !== undefined)
  if (given.length > 1) throw new UsageError('name one resource: --topic, --group, --cluster or --transactional-id')
  if (given.length === 0) return null
  return { resourceType: given[0]![0], resourceName: given[0]![1]! }
}

function principals (o: EntryFlags): Array<{ principal: string, permission: 'allow' | 'deny' }> {
  return [...o.allowPrincipal.map(p => ({ principal: p, permission: 'allow' as const })), ...o.denyPrincipal.map(p => ({ principal: p, permission: 'deny' as const }))]
}

function entryOptions (command: Command, patternDefault: string): Command {
  return clusterOptions(resourceOptions(command, patternDefault))
    .addOption(dataDirOption())
    .option('--allow-principal <principal>', 'User:<name> (User:* for everyone) allowed; repeatable', collect, [])
    .option('--deny-principal <principal>', 'User:<name> denied (deny wins over allow); repeatable', collect, [])
    .option('--operation <op>', `${ACL_OPERATIONS.join(', ')}; repeatable`, (v: string, prev: AclOperation[]) => [...prev, choiceArg(ACL_OPERATIONS)(v)], [] as AclOperation[])
    .option('--host <ip>', 'the client address the entry applies to (default * for any)')
}

function print (entries: readonly AclEntry[], format: 'text' | 'json'): void {
  if (format === 'json') {
    process.stdout.write(JSON.stringify(entries) + '\n')
    return
  }
  process.stdout.write(table(['PRINCIPAL', 'PERMISSION', 'OPERATION', 'RESOURCE', 'PATTERN', 'NAME', 'HOST'],
    entries.map(e => [e.principal, e.permission, e.operation, e.resourceType, e.patternType, e.resourceName, e.host])))
}

export function aclCommand (): Command {
  const acl = new Command('acl').description('manage the ACLs the broker enforces with --auth (stored in the data directory)')
  entryOptions(acl.command('add'), 'literal')
    .description('add ACL entries (one per principal and operation)')
    .action(local(async (o: EntryFlags & ClusterFlags) => {
      const resource = resourceOf(o)
      if (resource === null) throw new UsageError('name the resource: --topic, --group, --cluster or --transactional-id')
      if (o.resourcePatternType !== 'literal' && o.resourcePatternType !== 'prefixed') throw new UsageError('--resource-pattern-type of an entry is literal or prefixed')
      const who = principals(o)
      if (who.length === 0) throw new UsageError('give --allow-principal or --deny-principal')
      const ops = o.operation.length === 0 ? ['all' as const] : o.operation
      const entries = who.flatMap(w => ops.map(operation => ({ ...w, ...resource, operation, patternType: o.resourcePatternType, host: o.host ?? '*' })))
      const added = await withAcls(o, s => s.add(entries))
      process.stdout.write(`added ${added.length} ACL ${added.length === 1 ? 'entry' : 'entries'}${added.length < entries.length ? ` (${entries.length - added.length} existed)` : ''}\n`)
      print(added, 'text')
    }))
  entryOptions(acl.command('remove'), 'any')
    .description('remove the ACL entries matching the flags (a field left out matches any)')
    .action(local(async (o: EntryFlags & ClusterFlags) => {
      const resource = resourceOf(o)
      const base: AclFilter = {
        ...(resource === null ? {} : resource),
        patternType: o.resourcePatternType,
        ...(o.host === undefined ? {} : { host: o.host }),
      }
      const who = principals(o)
      const filters: AclFilter[] = []
      for (const w of who.length === 0 ? [null] : who) {
        for (const op of o.operation.length === 0 ? [null] : o.operation) {
          filters.push({ ...base, ...(w === null ? {} : w), ...(op === null ? {} : { operation: op }) })
        }
      }
      if (resource === null && who.length === 0) throw new UsageError('name a resource or a principal (removing every ACL takes an explicit --topic "*" and the like)')
      const removed = (await withAcls(o, s => s.remove(filters))).flat()
      const unique = [...new Set(removed)]
      process.stdout.write(`removed ${unique.length} ACL ${unique.length === 1 ? 'entry' : 'entries'}\n`)
      print(unique, 'text')
    }))
  clusterOptions(resourceOptions(acl.command('list'), 'any'))
    .description('list ACL entries (with a topic or group: every entry that applies to it)')
    .addOption(dataDirOption())
    .option('--principal <principal>', 'only the entries of this principal')
    .addOption(new Option('--format <format>', 'text or json').argParser(choiceArg(['text', 'json'] as const)).default('text'))
    .action(local(async (o: ResourceFlags & ClusterFlags & { dataDir: string, principal?: string, format: 'text' | 'json' }) => {
      const resource = resourceOf(o)
      const pattern = resource !== null && o.resourcePatternType === 'any' ? 'match' : o.resourcePatternType
      const filter: AclFilter = { ...(resource ?? {}), patternType: pattern, ...(o.principal === undefined ? {} : { principal: o.principal }) }
      print(await withAcls(o, s => s.list(filter)), o.format)
    }))
  return acl
}
