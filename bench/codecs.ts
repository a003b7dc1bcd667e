/**
 * What each compression codec costs the broker on append: CPU milliseconds per MiB of
 * record data appended, for every codec and each implementation this process has.
 *
 *   node dist/bench/codecs.js [--mb 64] [--quick] [--json out.json]
 *
 * One batch of 1,000 records (~1 KiB JSON-like values, keys) is built per codec with that
 * codec's encoder, then validated again and again exactly as `PartitionLog.append` does it
 * before writing (CRC-32C over the compressed bytes, decompression bounded at 64 MiB, the
 * walk over every record) — `validateBatch` with the implementation's synchronous
 * decompressor — until `--mb` MiB of uncompressed record data went through. The numbers are
 * process CPU time (user + system) per MiB of uncompressed records, the least of 5 runs (CPU
 * time still grows when other processes share the cores and caches), and the compression
 * ratio of the batch. The `best` set is what the broker uses (native where
 * installed), `pure` what an install without the optional packages falls back to.
 *
 * Rival in the same run: `none` (the same checks without decompression). Disk writes are not
 * included (they cost the same per stored byte whatever the codec; see bench/storage.ts).
 * Not a test: it never passes or fails on a time.
 */

import { writeFileSync } from 'node:fs'
import { bestNodeCodecs, installNodeCodecs, pureNodeCodecs, type NodeCodec } from '../platform/node-codecs.js'
import { hasNativeCrc32c } from '../protocol/bytes/crc32c.js'
import { DEFAULT_MAX_DECOMPRESSED_BYTES } from '../protocol/record-batch/compression.js'
import { BATCH_HEADER_SIZE, Compression, OFFSET_ATTRIBUTES, updateCrc, validateBatch, type CompressionCode } from '../protocol/record-batch/header.js'
import { RecordBatchBuilder } from '../protocol/record-batch/records.js'
import { snappyEncodeRaw } from '../protocol/record-batch/snappy.js'

interface Row { codec: string, implementation: string, ratio: number, cpuMsPerMiB: number, mibPerCpuSecond: number }

function argValue (name: string): string | undefined {
  const at = process.argv.indexOf(name)
  return at > 0 ? process.argv[at + 1] : undefined
}

function plainBatch (): Uint8Array {
  const builder = new RecordBatchBuilder()
  const enc = new TextEncoder()
  for (let i = 0; i < 1000; i++) {
    const value = JSON.stringify({
      id: i, user: `user-${i % 97}`, event: i % 3 === 0 ? 'click' : 'view', path: `/products/${i % 211}/details`,
      ts: 1_700_000_000_000 + i * 13, tags: ['a', 'b', `t${i % 7}`], note: 'lorem ipsum dolor sit amet '.repeat(1 + (i % 30)),
    })
    builder.append({ key: enc.encode(`key-${i % 50}`), value: enc.encode(value), timestamp: 1_700_000_000_000 + i })
  }
  return builder.build()
}

function compressed (plain: Uint8Array, code: number, compress: (d: Uint8Array) => Uint8Array): Uint8Array {
  const blob = compress(plain.subarray(BATCH_HEADER_SIZE))
  const b = new Uint8Array(BATCH_HEADER_SIZE + blob.length)
  b.set(plain.subarray(0, BATCH_HEADER_SIZE))
  b.set(blob, BATCH_HEADER_SIZE)
  b[OFFSET_ATTRIBUTES + 1] = (b[OFFSET_ATTRIBUTES + 1]! & ~7) | code
  new DataView(b.buffer).setInt32(8, b.length - 12)
  updateCrc(b, 0, b.length)
  return b
}

/** Runs per measurement; the least CPU time is kept (on a shared machine contention only adds). */
const RUNS = 5

function cpuMs (): number {
  const u = process.cpuUsage()
  return (u.user + u.system) / 1000
}

/** CPU ms per MiB of records for validating `batch` until `mib` MiB of records went through. */
function measure (batch: Uint8Array, recordsBytes: number, mib: number, decompress?: NodeCodec): number {
  const rounds = Math.max(1, Math.round(mib * 1024 * 1024 / recordsBytes))
  const options = decompress === undefined
    ? {}
    : { decompress: (_c: number, bytes: Uint8Array) => decompress.decompressSync(bytes, DEFAULT_MAX_DECOMPRESSED_BYTES) }
  let best = Infinity
  for (let r = 0; r < RUNS; r++) {
    const start = cpuMs()
    for (let i = 0; i < rounds; i++) validateBatch(batch, 0, batch.length, options)
    best = Math.min(best, (cpuMs() - start) / (rounds * recordsBytes / (1024 * 1024)))
  }
  return best
}

function main (): void {
  installNodeCodecs()
  const mib = Number(argValue('--mb') ?? (process.argv.includes('--quick') ? 8 : 64))
  const plain = plainBatch()
  const recordsBytes = plain.length - BATCH_HEADER_SIZE
  const best = bestNodeCodecs()
  const pure = pureNodeCodecs()
  const rows: Row[] = []
  const noneMs = measure(plain, recordsBytes, mib)
  rows.push({ codec: 'none', implementation: '-', ratio: 1, cpuMsPerMiB: noneMs, mibPerCpuSecond: 1000 / noneMs })
  const variants: Array<[string, CompressionCode, (d: Uint8Array) => Uint8Array]> = [
    ['gzip', Compression.gzip, best.get(Compression.gzip)!.compressSync!],
    ['snappy (xerial-framed, as Java)', Compression.snappy, best.get(Compression.snappy)!.compressSync!],
    ['snappy (raw, as librdkafka)', Compression.snappy, snappyEncodeRaw],
    ['lz4', Compression.lz4, best.get(Compression.lz4)!.compressSync!],
    ['zstd', Compression.zstd, best.get(Compression.zstd)!.compressSync!],
  ]
  for (const [name, code, compress] of variants) {
    const batch = compressed(plain, code, compress)
    const ratio = recordsBytes / (batch.length - BATCH_HEADER_SIZE)
    for (const set of [best, pure]) {
      const codec = set.get(code)!
      if (set === pure && codec.implementation === best.get(code)!.implementation) continue
      const ms = measure(batch, recordsBytes, mib, codec)
      rows.push({ codec: name, implementation: codec.implementation, ratio, cpuMsPerMiB: ms, mibPerCpuSecond: 1000 / ms })
    }
  }
  console.log(`# Broker CPU per MiB appended, by codec (${mib} MiB of records per run, least of ${RUNS} runs)`)
  console.log(`node ${process.version}, CRC-32C ${hasNativeCrc32c() ? 'native' : 'pure JS'}, batch of 1,000 records, ${(recordsBytes / 1024).toFixed(0)} KiB uncompressed\n`)
  console.log('| codec | implementation | ratio | CPU ms per MiB | MiB per CPU second |')
  console.log('| --- | --- | ---: | ---: | ---: |')
  for (const r of rows) console.log(`| ${r.codec} | ${r.implementation} | ${r.ratio.toFixed(2)} | ${r.cpuMsPerMiB.toFixed(2)} | ${r.mibPerCpuSecond.toFixed(0)} |`)
  const json = argValue('--json')
  if (json !== undefined) {
    const out = rows.map(r => ({ name: `codec-append-${r.codec}`, system: r.implementation, metric: 'cpu-ms-per-mib', value: r.cpuMsPerMiB, unit: 'ms/MiB' }))
    writeFileSync(json, JSON.stringify(out, null, 2))
  }
}

main()
