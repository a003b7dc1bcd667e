#!/usr/bin/env node
/**
 * The `spool` command line (docs/architecture.md §7): `broker start` runs a broker
 * (cli/commands/broker.ts); the client-side commands (topic, produce, consume, tail, group,
 * top, quota) talk to the broker at --broker (env SPOOL_BROKER, default 127.0.0.1:7420), with
 * TLS and a user when asked (cli/context.ts); user, acl and token edit the data directory's
 * security files (cli/commands/user.ts says why). Exit codes: 0 ok,
 * 1 usage or not found, 2 broker unreachable (cli/exit-codes.ts).
 */

import { readFileSync } from 'node:fs'
import { Command } from 'commander'
import { brokerCommand } from './commands/broker.js'
import { clusterCommand } from './commands/cluster.js'
import { consumeCommand, tailCommand } from './commands/consume.js'
import { groupCommand } from './commands/group.js'
import { produceCommand } from './commands/produce.js'
import { quotaCommand } from './commands/quota.js'
import { topCommand } from './commands/top.js'
import { topicCommand } from './commands/topic.js'
import { aclCommand } from './commands/acl.js'
import { tokenCommand } from './commands/token.js'
import { userCommand } from './commands/user.js'
import { brokerOption, securityOptions } from './context.js'

const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }

const program = new Command('spool')
  .description('Spool: a Kafka-like pub/sub broker — run a broker, manage topics, produce and consume')
  .version(pkg.version, '-V, --version', 'print the version')
  .addOption(brokerOption())
for (const option of securityOptions()) program.addOption(option)
program
  .showHelpAfterError('(run with --help for usage)')

program.addCommand(brokerCommand())
program.addCommand(topicCommand())
program.addCommand(produceCommand())
program.addCommand(consumeCommand())
program.addCommand(tailCommand())
program.addCommand(groupCommand())
program.addCommand(userCommand())
program.addCommand(aclCommand())
program.addCommand(tokenCommand())
program.addCommand(topCommand())
program.addCommand(quotaCommand())
program.addCommand(clusterCommand())

await program.parseAsync(process.argv)
