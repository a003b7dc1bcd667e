/**
 * `spool broker start`: runs a broker in the foreground. Every setting of broker/config/settings.ts
 * is a flag (kebab-case) and an environment variable (SPOOL_*); `--config file.json` reads a
 * config file. SIGTERM and SIGINT stop it cleanly (connections flushed, logs fsynced,
 * clean-shutdown marker written) and the process exits 0; a second signal exits at once, and
 * a shutdown that could not write everything (a full disk) exits 3 (cli/exit-codes.ts).
 * With --auth --bootstrap-admin NAME and no users yet, the first user is created with the
 * password in SPOOL_ADMIN_PASSWORD, or a generated one printed once on stderr.
 */

import { Command, Option } from 'commander'
import { SETTINGS, envName, flagName, resolveConfig, type SettingName } from '../../broker/config/settings.js'
import { Broker } from '../../broker/broker.js'
import type { LogFormat } from '../../broker/observability/logger.js'
import { printBanner } from '../banner.js'
import { SpoolError } from '../../protocol/errors.js'
import { EXIT_UNCLEAN_SHUTDOWN } from '../exit-codes.js'

function camel (flag: string): string {
  return flag.replace(/^--/, '').replace(/-([a-z])/g, (_m, c: string) => c.toUpperCase())
}

export function brokerCommand (): Command {
  const broker = new Command('broker').description('run and manage a Spool broker')
  const start = broker.command('start').description('start a broker in the foreground (stops cleanly on SIGTERM/SIGINT)')
  for (const [name, setting] of Object.entries(SETTINGS) as Array<[SettingName, (typeof SETTINGS)[SettingName]]>) {
    const flag = name === 'configFile' ? '--config' : flagName(name)
    const value = setting.kind === 'bool' ? '[bool]' : '<value>'
    const def = setting.default === null ? '' : ` (default: ${String(setting.default)})`
    start.addOption(new Option(`${flag} ${value}`, `${setting.doc}${def}; env ${envName(name)}`))
  }
  start.action(async (opts: Record<string, unknown>) => {
    const flags: Partial<Record<SettingName, unknown>> = {}
    for (const [key, value] of Object.entries(opts)) {
      const name = (key === 'config' ? 'configFile' : camel(key)) as SettingName
      if (name in SETTINGS) flags[name] = value === true ? 'true' : value
    }
    let running: Broker
    try {
      const config = resolveConfig({ flags, env: process.env })
      running = await Broker.start({
        ...config,
        // The bootstrap admin's password comes from the environment, never a flag (shell history).
        ...(process.env.SPOOL_ADMIN_PASSWORD === undefined ? {} : { bootstrapPassword: process.env.SPOOL_ADMIN_PASSWORD }),
        onBootstrapPassword: (user, password) => {
          // Printed once, here, not through the logger: log lines never carry a password.
          process.stderr.write(`\n  Created the super user "${user}" with the generated password:\n\n      ${password}\n\n` +
            `  It is shown only now. Change it with: spool user passwd ${user} --data-dir ${config.dataDir}\n\n`)
        },
      })
      printBanner(running, config.logFormat as LogFormat)
    } catch (err) {
      const reason = err instanceof SpoolError || (err as NodeJS.ErrnoException).code !== undefined
        ? (err as Error).message
        : String(err)
      process.stderr.write(`error: broker did not start: ${reason}\n`)
      process.exit(1)
    }
    let stopping = false
    const stop = (signal: string): void => {
      if (stopping) {
        process.stderr.write(`${signal} again: exiting without a clean shutdown\n`)
        process.exit(EXIT_UNCLEAN_SHUTDOWN)
      }
      stopping = true
      running.logger.info({ signal }, 'signal received')
      running.close().then(() => process.exit(0), err => {
        process.stderr.write(`error: unclean shutdown: ${(err as Error).message}\n`)
        process.exit(EXIT_UNCLEAN_SHUTDOWN)
      })
    }
    process.on('SIGTERM', () => stop('SIGTERM'))
    process.on('SIGINT', () => stop('SIGINT'))
    // Under a supervisor that holds the broker's stdin (test harnesses set
    // SPOOL_STOP_ON_STDIN_CLOSE=1): the supervisor's end, even a kill -9, closes stdin, and
    // the broker stops cleanly instead of living on as an orphan.
    if (process.env.SPOOL_STOP_ON_STDIN_CLOSE === '1') {
      process.stdin.on('error', () => {})
      process.stdin.once('end', () => stop('stdin closed'))
      process.stdin.resume()
    }
  })
  return broker
}
