/** `spool/protocol`: pure codecs shared by broker and client (no Node-only APIs). */
export * from './errors.js'
export * from './bytes/crc32c.js'
export * from './bytes/murmur2.js'
export * from './bytes/varint.js'
export * from './bytes/int64.js'
export * from './record-batch/index.js'
export * from './native/index.js'
