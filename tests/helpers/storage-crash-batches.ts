/** The batches storage-appender.js writes, rebuilt identically by the test to retry them. */
import { encodeBatch } from '../../protocol/record-batch/records.js'
import { utf8 } from './bytes.js'

export const APPENDER_PRODUCER_BASE = 7000

/** Batch `i` of run `run`: 1..7 records, sequence = records written by this run before it. */
export function appenderBatch (run: number, i: number): { batch: Uint8Array, count: number, sequence: number } {
  const count = 1 + (i % 7)
  // Records of batches 0..i-1: sum over k < i of (1 + k % 7).
  const sequence = Math.floor(i / 7) * 28 + (i % 7) * ((i % 7) + 1) / 2
  const records = Array.from({ length: count }, (_, j) => ({
    key: utf8(`k${i % 13}`),
    value: utf8(`${run}:${i}:${j}:${'p'.repeat(40 + ((i * 31 + j) % 200))}`),
    timestamp: 1_700_000_000_000 + i,
  }))
  return { batch: encodeBatch(records, { producerId: APPENDER_PRODUCER_BASE + run, producerEpoch: 0, baseSequence: sequence }), count, sequence }
}
