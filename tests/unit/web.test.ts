// Pure parts of the HTTP port and the console: the Origin rule (same host only for IP
// addresses and localhost, the allow-list, `*`), static paths that cannot leave their
// directory, the HTTP status of each named error, and the console's number formats and
// chart scales.
import t from 'tap'
import type { IncomingMessage } from 'node:http'
import { checkOrigin, normalizeOrigin } from '../../broker/protocols/http/origin.js'
import { resolveStaticPath } from '../../broker/protocols/http/static-files.js'
import { errorBody, statusFor } from '../../broker/protocols/http/api/router.js'
import { ERROR_CLASSES, StorageError, UnknownTopicOrPartitionError } from '../../protocol/errors.js'
import { formatBytes, formatConfigValue, formatCount, formatDuration, formatRetention, lagClass } from '../../web/console/dom.js'
import { chartScale, niceBinaryCeiling, niceCeiling } from '../../web/console/chart.js'

const req = (headers: Record<string, string>): IncomingMessage => ({ headers }) as unknown as IncomingMessage

t.test('Origin rule', async t => {
  const cases: Array<[Record<string, string>, readonly string[] | null, string]> = [
    [{ host: '127.0.0.1:7421' }, null, 'no-origin'],
    [{ host: '127.0.0.1:7421', origin: 'http://127.0.0.1:7421' }, null, 'same-origin'],
    [{ host: 'localhost:7421', origin: 'http://localhost:7421' }, null, 'same-origin'],
    [{ host: 'app.localhost:7421', origin: 'http://app.localhost:7421' }, null, 'same-origin'],
    [{ host: '[::1]:7421', origin: 'http://[::1]:7421' }, null, 'same-origin'],
    [{ host: 'LOCALHOST:7421', origin: 'http://localhost:7421' }, null, 'same-origin'],
    [{ host: '127.0.0.1:7421', origin: 'http://127.0.0.1:8080' }, null, 'refused'],
    [{ host: '127.0.0.1:7421', origin: 'http://localhost:7421' }, null, 'refused'],
    [{ host: '127.0.0.1:7421', origin: 'https://127.0.0.1:7421' }, null, 'same-origin'],
    [{ host: 'spool.example:7421', origin: 'http://spool.example:7421' }, null, 'refused'],
    [{ host: 'spool.example:7421', origin: 'http://spool.example:7421' }, ['http://spool.example:7421'], 'listed'],
    [{ host: '127.0.0.1:7421', origin: 'null' }, null, 'refused'],
    [{ host: '127.0.0.1:7421', origin: 'null' }, ['null'], 'listed'],
    [{ host: '127.0.0.1:7421', origin: 'not a url' }, null, 'refused'],
    [{ host: '127.0.0.1:7421', origin: 'http://evil.example' }, ['*'], 'listed'],
    [{ host: '127.0.0.1:7421', origin: 'http://evil.example' }, [], 'refused'],
    [{ host: '127.0.0.1:7421', origin: 'HTTP://App.Example:3000' }, ['http://app.example:3000/'], 'listed'],
    [{ origin: 'http://127.0.0.1:7421' }, null, 'refused'],
  ]
  for (const [headers, list, verdict] of cases) t.equal(checkOrigin(req(headers), list), verdict, `${JSON.stringify(headers)} with ${JSON.stringify(list)}`)
  t.equal(normalizeOrigin(' HTTP://A.B:1/ '), 'http://a.b:1')
})

t.test('static paths stay inside their directory', async t => {
  const mount = { dir: '/srv/web', prefix: '/sdk/', missingHint: '' }
  t.equal(resolveStaticPath(mount, '/sdk/spool.js'), '/srv/web/spool.js')
  t.equal(resolveStaticPath(mount, '/sdk/a/b.js'), '/srv/web/a/b.js')
  t.equal(resolveStaticPath(mount, '/sdk/a%20b.js'), '/srv/web/a b.js')
  for (const bad of ['/sdk/../x', '/sdk/%2e%2e/x', '/sdk/..%2fx', '/sdk/a//b', '/sdk/./x', '/sdk/a%5c..%5cb', '/sdk/%00', '/sdk/%E0%A4%A', '/sdk/', '/sdk', '/other/x']) {
    t.equal(resolveStaticPath(mount, bad), null, bad)
  }
  const withIndex = { ...mount, prefix: '/', index: 'index.html' }
  t.equal(resolveStaticPath(withIndex, '/'), '/srv/web/index.html')
  t.equal(resolveStaticPath({ ...mount, prefix: '/examples/', index: 'index.html' }, '/examples/browser/'), '/srv/web/browser/index.html')
})

t.test('HTTP status of every named error', async t => {
  const status = new Map(ERROR_CLASSES.map(c => [c.errorName, statusFor(new c())]))
  t.same([...status.values()].filter(s => s < 400 || s > 599), [], 'all 4xx or 5xx')
  t.equal(status.get('TOPIC_ALREADY_EXISTS'), 409)
  t.equal(status.get('UNKNOWN_TOPIC_OR_PARTITION'), 404)
  t.equal(status.get('INVALID_TOPIC'), 400)
  t.equal(status.get('ORIGIN_NOT_ALLOWED'), 403)
  t.equal(status.get('HTTP_BODY_TOO_LARGE'), 413)
  t.equal(status.get('KAFKA_STORAGE_ERROR'), 503, 'retriable: try again')
  t.equal(status.get('UNKNOWN_SERVER_ERROR'), 500)
  t.equal(errorBody(new UnknownTopicOrPartitionError('gone')).error.retriable, false, 'a 404 is not worth retrying, whatever the native table says')
  t.equal(errorBody(new StorageError('disk')).error.retriable, true, 'a 503 is')
})

t.test('console number formats and chart scales', async t => {
  t.equal(formatBytes(0), '0 B')
  t.equal(formatBytes(1536), '1.5 KiB')
  t.equal(formatBytes(12 * 1024 * 1024), '12.0 MiB', 'one decimal from KiB up, as the CLI')
  t.equal(formatBytes(15.5 * 1024), '15.5 KiB')
  t.equal(formatCount(999), '999')
  t.equal(formatCount(12_345), '12.3k')
  t.equal(formatCount(2_500_000), '2.5M')
  t.equal(formatCount(0.5), '0.5')
  t.equal(formatRetention(-1), 'forever')
  t.equal(formatRetention(7 * 86_400_000), '7d')
  t.equal(formatRetention(3_600_000), '1h')
  t.equal(formatDuration(125_000), '2m 5s')
  t.same([lagClass(-1), lagClass(0), lagClass(10), lagClass(5000)], ['muted', 'ok', 'warn', 'bad'])
  t.same([0, 0.3, 1, 7, 12, 480, 501].map(niceCeiling), [1, 0.5, 1, 10, 20, 500, 1000])
  t.equal(niceBinaryCeiling(500_000), 500 * 1024, "500 KiB, not 488 KiB")
  t.equal(niceBinaryCeiling(3 * 1024 * 1024), 5 * 1024 * 1024)
  t.equal(niceBinaryCeiling(700), 1000)
})

t.test('topic config values with their units', async t => {
  t.equal(formatConfigValue('retentionMs', 604_800_000), '7d (604800000 ms)')
  t.equal(formatConfigValue('segmentMs', 3_600_000), '1h (3600000 ms)')
  t.equal(formatConfigValue('deleteRetentionMs', 90_000), '1m 30s (90000 ms)')
  t.equal(formatConfigValue('fooMs', 1500), '1500 ms')
  t.equal(formatConfigValue('retentionMs', -1), 'forever (-1)')
  t.equal(formatConfigValue('segmentBytes', 1_073_741_824), '1.0 GiB (1073741824 bytes)')
  t.equal(formatConfigValue('maxBatchBytes', 1_048_576), '1.0 MiB (1048576 bytes)')
  t.equal(formatConfigValue('indexIntervalBytes', 512), '512 bytes')
  t.equal(formatConfigValue('retentionBytes', -1), 'no limit (-1)')
  t.equal(formatConfigValue('minCleanableDirtyRatio', 0.5), '0.5 (50%)')
  t.equal(formatConfigValue('cleanupPolicy', 'compact'), 'compact')
})

t.test('chart scale: a spike does not flatten steady traffic', async t => {
  const steady = Array.from({ length: 60 }, () => 100)
  t.same(chartScale(steady), { yMax: 100, clipped: false, peak: 100 }, 'steady traffic: the largest value')
  const spiked = chartScale([...steady, 50_000, 80_000, ...steady])
  t.equal(spiked.clipped, true, 'a spike is clipped')
  t.equal(spiked.peak, 80_000, 'and its peak kept')
  t.equal(spiked.yMax, 200, 'the scale follows steady traffic (1.5 x its 90th percentile, rounded up)')
  t.ok(100 / spiked.yMax >= 0.5, 'so steady traffic sits half way up, not on zero')
  t.same(chartScale([0, 0, 0, 5000, 0]), { yMax: 5000, clipped: false, peak: 5000 }, 'a lone burst with nothing else is not clipped')
  t.equal(chartScale([...steady.map((v, i) => v + i), 250]).clipped, false, 'growth within 3x is not a spike')
  t.equal(chartScale([], niceCeiling).yMax, 1, 'no data: a unit scale')
  t.equal(chartScale([...steady, 1e7], niceBinaryCeiling).yMax, niceBinaryCeiling(150), 'bytes use the binary ceiling')
})
