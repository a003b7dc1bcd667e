/**
 * The logger the client writes to: four levels, each taking a fields object and a message
 * (pino's argument order, so a pino logger can be passed as is). The default discards
 * everything, and the browser bundle needs no logging library.
 */

export interface Logger {
  debug (fields: object, message: string): void
  info (fields: object, message: string): void
  warn (fields: object, message: string): void
  error (fields: object, message: string): void
}

const ignore = (): void => {}

export const silentLogger: Logger = { debug: ignore, info: ignore, warn: ignore, error: ignore }
