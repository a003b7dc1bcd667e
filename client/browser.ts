/**
 * The browser entry of the SDK (bundled to dist/browser/spool.js): the same API as
 * `spool/client` over WebSocket only (`new Client({ url: 'ws://host:7421/ws' })`, using the
 * global WebSocket). Codecs: gzip through CompressionStream, snappy and lz4 in pure TS (read
 * and write), zstd read-only through a pure-JS decoder; CRC-32C the pure-JS implementation.
 * Nothing in this file's import graph may import node: modules or `ws`
 * (tests/unit/client.test.ts checks).
 */

import { installBrowserCodecs } from '../platform/browser-codecs.js'

installBrowserCodecs()

export * from './api.js'
