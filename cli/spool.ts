#!/usr/bin/env node
/** The `spool` command line (commander). */

import { Command } from 'commander'
import { brokerCommand } from './commands/broker.js'

const program = new Command('spool')
  .description('Spool: a Kafka-like pub/sub broker — run a broker, manage topics, produce and consume')
  .option('--broker <host:port>', 'broker address (env SPOOL_BROKER)', process.env.SPOOL_BROKER ?? '127.0.0.1:7420')
program.addCommand(brokerCommand())

await program.parseAsync(process.argv)
