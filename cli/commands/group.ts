/**
 * `spool group list|describe|reset-offsets|delete` (docs/architecture.md §7).
 *
 *   spool group list [--format text|json]
 *   spool group describe <group> [--format text|json]
 *   spool group reset-offsets <group> --topic T (--to-earliest | --to-latest | --to-offset N | --to-time ISO) [--create]
 *   spool group delete <group>
 *
 * describe shows the members (member id, client id, host, instance id, partitions) and per
 * partition the committed offset, the log end offset, the lag and the owner, with the total
 * lag; `--format json` prints the SDK's GroupDescription on one line. reset-offsets and
 * delete work only on a group without members (stop its consumers first): otherwise one
 * line `error: group "G" has N active members: ...` and exit 1; on a group that does not
 * exist they say so (exit 1), unless reset-offsets is given --create. --to-offset is clamped to
 * each partition's [log start, log end]; --to-time takes the first offset at or after the
 * time (the log end when there is none).
 */

import { Command, Option } from 'commander'
import { GroupIdNotFoundError, NonEmptyGroupError, type Client, type GroupDescription } from '../../client/index.js'
import { choiceArg, intArg, withClient } from '../context.js'
import { UsageError } from '../exit-codes.js'
import { table } from '../output.js'

type Format = 'text' | 'json'

function formatOption (): Option {
  return new Option('--format <format>', 'text or json').argParser(choiceArg(['text', 'json'] as const)).default('text')
}

const dash = (n: number): number | string => (n < 0 ? '-' : n)

async function list (client: Client, _broker: string, options: { format: Format }): Promise<void> {
  const groups = await client.admin().listGroups()
  if (options.format === 'json') {
    process.stdout.write(JSON.stringify(groups) + '\n')
    return
  }
  if (groups.length === 0) {
    process.stdout.write('no groups\n')
    return
  }
  process.stdout.write(table(['GROUP', 'STATE', 'MEMBERS'], groups.map(g => [g.groupId, g.state, g.members])))
}

/** A member id as text tables show it: its first 8 characters (the console does the same; JSON keeps the whole id). */
export function shortId (id: string): string {
  return id.length > 9 ? `${id.slice(0, 8)}…` : id
}

/**
 * The text form of `describe`, made to fit 80 columns: a header line, the partitions (with
 * each owner's short member id and client id), the members (host, instance id, partitions).
 */
export function describeText (d: GroupDescription): string {
  const byMember = new Map(d.members.map(m => [m.memberId, m]))
  let out = `Group: ${d.groupId}  State: ${d.state}  Members: ${d.members.length}  Epoch: ${d.groupEpoch}  Total lag: ${d.totalLag}\n\n`
  if (d.offsets.length === 0) {
    out += 'no partitions assigned or committed\n'
  } else {
    out += table(['TOPIC', 'PARTITION', 'COMMITTED', 'LOG END', 'LAG', 'MEMBER', 'CLIENT ID'], d.offsets.map(o => {
      const m = o.memberId === null ? undefined : byMember.get(o.memberId)
      return [o.topic, o.partition, dash(o.committedOffset), dash(o.logEndOffset), dash(o.lag), o.memberId === null ? '-' : shortId(o.memberId), m?.clientId ?? '-']
    }))
  }
  if (d.members.length > 0) {
    out += '\n' + table(['MEMBER', 'CLIENT ID', 'HOST', 'INSTANCE', 'PARTITIONS'], d.members.map(m => [
      shortId(m.memberId), m.clientId, m.clientHost, m.instanceId ?? '-',
      m.assignment.map(a => `${a.topic}:${a.partitions.join(',')}`).join(' ') || '-',
    ]))
  }
  return out
}

async function describe (client: Client, _broker: string, group: string, options: { format: Format }): Promise<void> {
  const [d] = await client.admin().describeGroups([group])
  if (d === undefined) throw new Error(`no description returned for group "${group}"`)
  process.stdout.write(options.format === 'json' ? JSON.stringify(d) + '\n' : describeText(d))
}

interface ResetOptions {
  topic: string
  toEarliest?: boolean
  toLatest?: boolean
  toOffset?: number
  toTime?: string
  create?: boolean
}

/**
 * Refuses (one line, exit 1) while the group has members, and when it does not exist unless
 * `create` (reset-offsets --create makes a group holding just the new offsets).
 */
async function assertEmpty (client: Client, group: string, doing: string, create = false): Promise<void> {
  let members = 0
  try {
    members = (await client.admin().describeGroups([group]))[0]?.members.length ?? 0
  } catch (err) {
    if (!(err instanceof GroupIdNotFoundError)) throw err
    if (!create) throw new GroupIdNotFoundError(`group "${group}" does not exist${doing === 'resetting its offsets' ? ' (give --create to create it with these offsets)' : ''}`, { cause: err })
  }
  if (members > 0) {
    throw new NonEmptyGroupError(`group "${group}" has ${members} active member${members === 1 ? '' : 's'}: stop ${members === 1 ? 'it' : 'them'} before ${doing}`)
  }
}

async function resetOffsets (client: Client, _broker: string, group: string, options: ResetOptions): Promise<void> {
  const chosen = [options.toEarliest === true, options.toLatest === true, options.toOffset !== undefined, options.toTime !== undefined].filter(Boolean).length
  if (chosen !== 1) throw new UsageError('give exactly one of --to-earliest, --to-latest, --to-offset N and --to-time ISO')
  let time: number | undefined
  if (options.toTime !== undefined) {
    time = Date.parse(options.toTime)
    if (Number.isNaN(time) || time < 0) throw new UsageError(`--to-time takes an ISO date or time, got "${options.toTime}"`)
  }
  const admin = client.admin()
  await assertEmpty(client, group, 'resetting its offsets', options.create === true)
  const ranges = await admin.fetchTopicOffsets(options.topic)
  const byTime = time === undefined ? null : new Map((await admin.fetchTopicOffsetsByTimestamp(options.topic, time)).map(x => [x.partition, x.offset]))
  const targets = ranges.map(r => {
    let offset: number
    if (options.toEarliest === true) offset = r.low
    else if (options.toLatest === true) offset = r.high
    else if (options.toOffset !== undefined) offset = Math.min(Math.max(options.toOffset, r.low), r.high)
    else offset = byTime!.get(r.partition)! < 0 ? r.high : byTime!.get(r.partition)!
    return { topic: options.topic, partition: r.partition, offset }
  })
  const previous = new Map((await admin.fetchOffsets(group, [options.topic])).map(o => [o.partition, o.offset]))
  try {
    await admin.setOffsets(group, targets)
  } catch (err) {
    // A member joined between the check and the reset.
    if (err instanceof NonEmptyGroupError) await assertEmpty(client, group, 'resetting its offsets', true)
    throw err
  }
  process.stdout.write(`reset group "${group}" on topic "${options.topic}" (${targets.length} partition${targets.length === 1 ? '' : 's'})\n`)
  process.stdout.write(table(['TOPIC', 'PARTITION', 'PREVIOUS', 'NEW'], targets.map(x => [x.topic, x.partition, dash(previous.get(x.partition) ?? -1), x.offset])))
}

async function remove (client: Client, _broker: string, group: string): Promise<void> {
  await assertEmpty(client, group, 'deleting it')
  await client.admin().deleteGroups([group])
  process.stdout.write(`deleted group "${group}"\n`)
}

export function groupCommand (): Command {
  const group = new Command('group').description('list, describe, reset and delete consumer groups')
  group.command('list')
    .description('list consumer groups with their state and member count')
    .addOption(formatOption())
    .action(withClient(list))
  group.command('describe')
    .description('show a group\'s members and, per partition, committed offset, log end offset and lag')
    .argument('<group>')
    .addOption(formatOption())
    .action(withClient(describe))
  group.command('reset-offsets')
    .description('set a group\'s committed offsets for a topic (only while the group has no members)')
    .argument('<group>')
    .requiredOption('--topic <topic>', 'the topic whose offsets are reset')
    .option('--to-earliest', 'to each partition\'s log start')
    .option('--to-latest', 'to each partition\'s log end (skip everything there now)')
    .option('--to-offset <n>', 'to this offset (clamped to each partition\'s range)', intArg(0))
    .option('--to-time <iso>', 'to the first message at or after this time (e.g. 2024-05-01T12:00:00Z)')
    .option('--create', 'create the group if it does not exist (default: a group that does not exist is an error)')
    .action(withClient(resetOffsets))
  group.command('delete')
    .description('delete a group and its committed offsets (only while it has no members)')
    .argument('<group>')
    .action(withClient(remove))
  return group
}
