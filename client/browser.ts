/**
 * The browser entry of the SDK (bundled to dist/browser/spool.js): the same API as
 * `spool/client` over WebSocket only (`new Client({ url: 'ws://host:7421/ws' })`, using the
 * global WebSocket). Gzip uses CompressionStream and CRC-32C the pure-JS implementation.
 * Nothing in this file's import graph may import node: modules or `ws`
 * (tests/unit/client.test.ts checks).
 */

export * from './api.js'
