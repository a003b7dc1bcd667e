export * from './frame.js'
export * from './api-keys.js'
export type { Schema, Infer } from './schema.js'
export { LATEST_TIMESTAMP, EARLIEST_TIMESTAMP } from './apis/list-offsets.js'
