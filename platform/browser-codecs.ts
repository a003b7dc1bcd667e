/**
 * What the browser entry of the SDK installs on top of protocol/'s codecs (gzip through
 * CompressionStream, snappy and lz4 in pure TS, which read and write): a zstd *decoder* in
 * pure JS (fzstd), so a browser reads batches in every Kafka codec. Browsers get no zstd
 * encoder (none in pure JS is both small and maintained), so a browser producer offers
 * none, gzip, snappy and lz4. Nothing here imports a Node API.
 */

import { asyncCodec, registerCompressionCodec } from '../protocol/record-batch/compression.js'
import { Compression } from '../protocol/record-batch/header.js'
import { jsZstd } from './zstd-js.js'

let installed = false

export function installBrowserCodecs (): void {
  if (installed) return
  installed = true
  registerCompressionCodec(Compression.zstd, asyncCodec('zstd', jsZstd))
}
