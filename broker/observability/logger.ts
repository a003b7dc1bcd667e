/** The broker's pino logger: structured JSON, one line per event, to stdout. */

import { pino, type Logger } from 'pino'

export function createLogger (level: string, name = 'spool'): Logger {
  return pino({
    name,
    level,
    base: { pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: label => ({ level: label }) },
  })
}
