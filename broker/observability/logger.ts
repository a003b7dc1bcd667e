/**
 * The broker's pino logger: one line per event, to stdout — structured JSON (the default when
 * stdout is not a terminal: containers, process managers, log shippers), or readable lines
 * through pino-pretty (the default on a terminal). `logFormat` chooses: `auto`, `json`,
 * `pretty`.
 */

import { pino, type Logger } from 'pino'
import pretty from 'pino-pretty'

export type LogFormat = 'auto' | 'json' | 'pretty'

/** The format `auto` resolves to for this process. */
export function resolveLogFormat (format: LogFormat, isTTY = process.stdout.isTTY === true): 'json' | 'pretty' {
  if (format === 'auto') return isTTY ? 'pretty' : 'json'
  return format
}

export function createLogger (level: string, format: LogFormat = 'json', name = 'spool'): Logger {
  const options = {
    name,
    level,
    base: { pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label: string) => ({ level: label }) },
  }
  if (resolveLogFormat(format) === 'json') return pino(options)
  // Synchronous pretty printing in the process (no worker thread): a broker logs little.
  return pino({ ...options, formatters: {} }, pretty({
    sync: true,
    colorize: process.stdout.isTTY === true,
    translateTime: 'SYS:HH:MM:ss.l',
    ignore: 'pid,hostname,name',
    singleLine: true,
  }))
}
