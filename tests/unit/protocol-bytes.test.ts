// Pure codecs: CRC-32C (check value, JS vs native, slicing boundaries), zigzag varints,
// int64 helpers and the murmur2 partitioner against Kafka's vectors (docs/formats.md §5).
import t from 'tap'
import { crc32c, crc32cJs, setNativeCrc32c, hasNativeCrc32c } from '../../protocol/bytes/crc32c.js'
import { murmur2, partitionForKey } from '../../protocol/bytes/murmur2.js'
import { VarintCursor, varintSize, varlongSize, writeVarint, writeVarlong } from '../../protocol/bytes/varint.js'
import { readInt64, writeInt64 } from '../../protocol/bytes/int64.js'
import { CorruptRecordError } from '../../protocol/errors.js'
import { installNodeCodecs } from '../../platform/node-codecs.js'

const ascii = (s: string): Uint8Array => new TextEncoder().encode(s)

t.test('crc32c check value', async t => {
  t.equal(crc32cJs(ascii('123456789')), 0xe3069283)
  t.equal(crc32c(ascii('123456789')), 0xe3069283)
  t.equal(crc32cJs(new Uint8Array(0)), 0)
})

t.test('crc32c slicing-by-8 agrees with bytewise at every length and alignment', async t => {
  const data = new Uint8Array(300)
  for (let i = 0; i < data.length; i++) data[i] = (i * 131 + 7) & 0xff
  // Reference: plain bitwise CRC.
  const ref = (d: Uint8Array, s: number, e: number): number => {
    let c = 0xffffffff
    for (let i = s; i < e; i++) {
      c ^= d[i]!
      for (let k = 0; k < 8; k++) c = c & 1 ? 0x82f63b78 ^ (c >>> 1) : c >>> 1
    }
    return (c ^ 0xffffffff) >>> 0
  }
  let mismatches = 0
  for (let s = 0; s < 9; s++) {
    for (let e = s; e <= data.length; e += 7) if (crc32cJs(data, s, e) !== ref(data, s, e)) mismatches++
  }
  t.equal(mismatches, 0)
})

t.test('native crc32c, when installed, agrees with JS on large inputs', async t => {
  installNodeCodecs()
  t.ok(hasNativeCrc32c(), '@node-rs/crc32 is installed as an optional dependency')
  const big = new Uint8Array(1 << 20)
  for (let i = 0; i < big.length; i++) big[i] = (i * 2654435761) >>> 24
  t.equal(crc32c(big), crc32cJs(big))
  t.equal(crc32c(big, 10, 5000), crc32cJs(big, 10, 5000))
  // Either side of the size where the native call takes over, at odd offsets.
  let agree = 0
  for (let len = 100; len <= 160; len++) if (crc32c(big, 3, 3 + len) === crc32cJs(big, 3, 3 + len)) agree++
  t.equal(agree, 61, 'every length from 100 to 160 B agrees')
  setNativeCrc32c(null)
  t.equal(crc32c(big), crc32cJs(big))
})

t.test('murmur2 vectors', async t => {
  const vectors: Array<[string, number, number, number, number, number]> = [
    ['21', -973932308, 0, 0, 0, 0],
    ['foobar', -790332482, 0, 0, 6, 6],
    ['a-little-bit-long-string', -985981536, 2, 2, 2, 8],
    ['a-little-bit-longer-string', -1486304829, 2, 5, 9, 11],
    ['lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8', -58897971, 2, 5, 7, 5],
    ['abc', 479470107, 0, 3, 7, 3],
    ['key', -1079937367, 1, 1, 1, 1],
    ['key1', 28543940, 2, 2, 0, 8],
    ['user-42', 1459644460, 1, 4, 0, 4],
    ['', 275646681, 0, 3, 1, 9],
    ['ü', 1419834458, 2, 2, 8, 2],
  ]
  for (const [key, hash, p3, p6, p10, p12] of vectors) {
    const bytes = ascii(key)
    t.equal(murmur2(bytes), hash, `murmur2(${JSON.stringify(key)})`)
    t.same([3, 6, 10, 12].map(n => partitionForKey(bytes, n)), [p3, p6, p10, p12], `partitions of ${JSON.stringify(key)}`)
  }
})

t.test('zigzag varints match Kafka examples', async t => {
  const cases: Array<[number, number[]]> = [
    [0, [0x00]], [-1, [0x01]], [1, [0x02]], [63, [0x7e]], [64, [0x80, 0x01]], [-65, [0x81, 0x01]], [300, [0xd8, 0x04]],
  ]
  for (const [value, bytes] of cases) {
    const buf = new Uint8Array(10)
    const end = writeVarint(buf, 0, value)
    t.same([...buf.subarray(0, end)], bytes, `varint ${value}`)
    t.equal(varintSize(value), bytes.length)
    t.equal(new VarintCursor(buf, 0, end).varint(), value)
  }
})

t.test('varint and varlong round trips at the edges', async t => {
  const ints = [0, 1, -1, 127, 128, -128, 2 ** 31 - 1, -(2 ** 31), 123456789, -987654321]
  const longs = [...ints, 2 ** 40, -(2 ** 40), 2 ** 52 - 1, -(2 ** 52), 1700000000000, -1700000000000]
  const buf = new Uint8Array(16)
  for (const v of ints) {
    const end = writeVarint(buf, 0, v)
    t.equal(end, varintSize(v))
    t.equal(new VarintCursor(buf, 0, end).varint(), v, `varint ${v}`)
  }
  for (const v of longs) {
    const end = writeVarlong(buf, 0, v)
    t.equal(end, varlongSize(v), `size of ${v}`)
    t.equal(new VarintCursor(buf, 0, end).varlong(), v, `varlong ${v}`)
  }
})

t.test('malformed varints are named errors', async t => {
  t.throws(() => new VarintCursor(Uint8Array.of(0x80, 0x80)).varint(), CorruptRecordError)
  t.throws(() => new VarintCursor(Uint8Array.of(0x80, 0x80, 0x80, 0x80, 0x80, 0x01)).varint(), CorruptRecordError)
  t.throws(() => new VarintCursor(new Uint8Array(11).fill(0x80)).varlong(), CorruptRecordError)
  t.throws(() => new VarintCursor(Uint8Array.of(1, 2)).bytes(3), CorruptRecordError)
})

t.test('int64 helpers', async t => {
  const buf = new Uint8Array(8)
  const view = new DataView(buf.buffer)
  for (const v of [0, -1, 1700000000000, Number.MAX_SAFE_INTEGER, -(2 ** 40), 2 ** 32]) {
    writeInt64(view, 0, v)
    t.equal(readInt64(view, 0), v)
    t.equal(view.getBigInt64(0), BigInt(v))
  }
  view.setBigInt64(0, 2n ** 62n)
  t.throws(() => readInt64(view, 0), CorruptRecordError)
})
