// The browser SDK in headless Chromium: pages import `/sdk/spool.js` from the broker and talk
// to it over ws://host/ws. A page consumes 10,000 records (assign + seek), produces keyed
// records that land where Node's producer puts the same keys, sees the same named errors as
// Node, carries on after the broker restarts, and a page from a disallowed Origin is
// refused (WebSocket, SDK and /api), while the same page from a listed Origin is not. In a
// consumer group, a page consumes 10,000 records and commits; a second page joins and the
// partitions are shared. The browser example tails a topic.
import t, { type Test } from 'tap'
import { createServer, type Server } from 'node:http'
import type { Page } from 'playwright-core'
import { Client, text, utf8 } from '../../client/index.js'
import { startTestBroker } from '../helpers/client-broker.js'
import { ensureWebBuild, launchBrowser, openPage } from '../helpers/browser.js'
import type { GroupDetail } from '../../broker/protocols/http/api/types.js'

type Sdk = typeof import('../../client/browser.js')

/** A page-side result or the error it threw, as plain data. */
interface Outcome<T> { ok: boolean, value?: T, error?: { name: string, code?: string, message: string } }

/** A plain web server on another port: the "other site" whose pages must be refused. */
async function otherSite (t: Test): Promise<{ server: Server, port: number }> {
  const server = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' })
    res.end('<!doctype html><title>another site</title><p>another site')
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>(resolve => { server.closeAllConnections(); server.close(() => resolve()) }))
  return { server, port: (server.address() as { port: number }).port }
}

await ensureWebBuild()
const site = await otherSite(t)
const allowedOrigin = `http://localhost:${site.port}`
const broker = await startTestBroker(t, { httpAllowedOrigins: [allowedOrigin] })
const base = `http://127.0.0.1:${broker.httpPort}`
// Pages are served by `broker`: the small broker lists its origin so they may connect to it.
const limited = await startTestBroker(t, { maxFrameBytes: 64 * 1024, maxBatchBytes: 32 * 1024, httpAllowedOrigins: [base] })
const context = await launchBrowser(t)
const node = new Client({ brokers: [broker.address] })
t.teardown(() => node.close())

/**
 * Opens a page on the broker's own origin (any same-origin URL will do), closed at teardown;
 * `noErrors()` asserts that nothing failed in it.
 */
async function brokerPage (t: Test): Promise<Page & { noErrors (expected?: RegExp): void }> {
  const { page, errors } = await openPage(context, `${base}/healthz`)
  t.teardown(() => page.close())
  return Object.assign(page, {
    noErrors: (expected?: RegExp) => { t.same(errors.filter(e => expected === undefined || !expected.test(e)), [], 'no errors in the page') },
  })
}

t.test('a page consumes 10,000 records with assign and seek, in order per partition', async t => {
  const topic = 'browser-10k'
  await node.admin().createTopics([{ topic, partitions: 3 }])
  const producer = node.producer({ lingerMs: 5 })
  await Promise.all(Array.from({ length: 10_000 }, (_, i) => producer.send({ topic, messages: [{ key: `k${i}`, value: utf8(String(i).padStart(100, '0')) }] })))
  await producer.close()
  const page = await brokerPage(t)
  const result = await page.evaluate(async ({ wsUrl, topic }) => {
    const sdk = await import('/sdk/spool.js' as string) as Sdk
    const client = new sdk.Client({ url: wsUrl, clientId: 'browser-10k' })
    const started = performance.now()
    const consumer = client.consumer({ maxWaitMs: 100 })
    await consumer.assign({ topic })
    for (const partition of [0, 1, 2]) consumer.seek({ topic, partition, offset: 0 })
    const seen = new Set<string>()
    const next = [0, 0, 0]
    let inOrder = true
    for await (const m of consumer) {
      if (m.offset !== next[m.partition]) inOrder = false
      next[m.partition] = m.offset + 1
      seen.add(sdk.text(m.value) ?? '')
      if (seen.size === 10_000) break
    }
    const ms = performance.now() - started
    // seek into the middle of a partition: the next message is at that offset
    const middle = client.consumer({ maxWaitMs: 100 })
    await middle.assign({ topic, partitions: [1] })
    middle.seek({ topic, partition: 1, offset: 7 })
    const first = (await middle[Symbol.asyncIterator]().next()).value
    await client.close()
    let all = true
    for (let i = 0; i < 10_000; i++) if (!seen.has(String(i).padStart(100, '0'))) all = false
    return { count: seen.size, all, inOrder, ends: next, ms, firstAfterSeek: first?.offset }
  }, { wsUrl: broker.wsUrl, topic })
  t.equal(result.count, 10_000)
  t.ok(result.all, 'every record, once')
  t.ok(result.inOrder, 'offsets contiguous per partition')
  t.equal(result.ends.reduce((a, b) => a + b, 0), 10_000)
  t.equal(result.firstAfterSeek, 7, 'seek to offset 7')
  t.comment(`10,000 records in ${Math.round(result.ms)} ms in the page`)
  page.noErrors()
})

t.test('a page produces keyed records with headers; they land where Node puts the same keys', async t => {
  const topic = 'browser-produce'
  await node.admin().createTopics([{ topic, partitions: 6 }])
  const page = await brokerPage(t)
  const keys = Array.from({ length: 20 }, (_, i) => `user-${i}`)
  const fromPage = await page.evaluate(async ({ wsUrl, topic, keys }) => {
    const sdk = await import('/sdk/spool.js' as string) as Sdk
    const client = new sdk.Client({ url: wsUrl, clientId: 'browser-producer' })
    const producer = client.producer({ acks: 'all', idempotent: true })
    const metas = await producer.send({ topic, messages: keys.map(key => ({ key, value: `hello ${key}`, headers: { source: 'browser', n: sdk.utf8(key.length.toString()) } })) })
    await client.close()
    return metas.map(m => m.partition)
  }, { wsUrl: broker.wsUrl, topic, keys })
  const producer = node.producer({ lingerMs: 0 })
  const fromNode = (await producer.send({ topic, messages: keys.map(key => ({ key, value: 'x' })) })).map(m => m.partition)
  await producer.close()
  t.same(fromPage, fromNode, 'murmur2(key) % partitions, same as Node')
  const consumer = node.consumer({ fromBeginning: true, maxWaitMs: 100 })
  t.teardown(() => consumer.close())
  await consumer.assign({ topic })
  const got: Array<{ key: string, value: string, headers: Record<string, string> }> = []
  for await (const m of consumer) {
    const value = text(m.value) ?? ''
    if (value.startsWith('hello')) got.push({ key: text(m.key) ?? '', value, headers: Object.fromEntries(m.headers.map(h => [h.key, text(h.value) ?? ''])) })
    if (got.length === keys.length) break
  }
  got.sort((a, b) => keys.indexOf(a.key) - keys.indexOf(b.key))
  t.same(got, keys.map(key => ({ key, value: `hello ${key}`, headers: { source: 'browser', n: String(key.length) } })))
  page.noErrors()
})

t.test('the same named errors in the browser as in Node', async t => {
  await node.admin().createTopics([{ topic: 'browser-exists', partitions: 1 }])
  const page = await brokerPage(t)
  const errors = await page.evaluate(async ({ wsUrl, limitedUrl }) => {
    const sdk = await import('/sdk/spool.js' as string) as Sdk
    const describe = async (fn: () => unknown): Promise<Outcome<unknown>> => {
      try {
        return { ok: true, value: await fn() }
      } catch (err) {
        const e = err as Error & { code?: string }
        return { ok: false, error: { name: `${e.name}${err instanceof sdk.SpoolError ? ' (SpoolError)' : ''}`, code: e.code, message: e.message } }
      }
    }
    const client = new sdk.Client({ url: wsUrl })
    const small = new sdk.Client({ url: limitedUrl })
    const out = {
      exists: await describe(() => client.admin().createTopics([{ topic: 'browser-exists' }])),
      badName: await describe(() => client.admin().createTopics([{ topic: 'no spaces allowed' }])),
      unknown: await describe(() => client.admin().describeTopics(['browser-no-such-topic'])),
      badUrl: await describe(() => new sdk.Client({ url: 'http://not-a-websocket' })),
      tooLarge: await describe(() => small.producer({ lingerMs: 0 }).send({ topic: 'browser-big', messages: [{ value: new Uint8Array(100_000) }] })),
      afterTooLarge: await describe(async () => (await small.producer({ lingerMs: 0 }).send({ topic: 'browser-big', messages: [{ value: 'small' }] }))[0]?.offset),
    }
    await client.close()
    await small.close()
    return out
  }, { wsUrl: broker.wsUrl, limitedUrl: limited.wsUrl })
  t.match(errors.exists, { ok: false, error: { name: 'TopicAlreadyExistsError (SpoolError)', code: 'TOPIC_ALREADY_EXISTS' } })
  t.match(errors.badName, { ok: false, error: { name: 'InvalidTopicError (SpoolError)', code: 'INVALID_TOPIC' } })
  t.match(errors.unknown, { ok: false, error: { name: 'UnknownTopicOrPartitionError (SpoolError)', code: 'UNKNOWN_TOPIC_OR_PARTITION' } })
  t.match(errors.badUrl, { ok: false, error: { name: 'InvalidArgumentError (SpoolError)', code: 'INVALID_ARGUMENT' } })
  t.match(errors.tooLarge, { ok: false, error: { name: 'FrameTooLargeError (SpoolError)', code: 'FRAME_TOO_LARGE' } }, 'over the broker\'s maxFrameBytes')
  t.match(errors.afterTooLarge, { ok: true }, 'and the client carries on over a new connection')
  page.noErrors()
})

t.test('a page keeps consuming and producing after the broker restarts', async t => {
  const topic = 'browser-restart'
  await node.admin().createTopics([{ topic, partitions: 1 }])
  const page = await brokerPage(t)
  await page.evaluate(async ({ wsUrl, topic }) => {
    const sdk = await import('/sdk/spool.js' as string) as Sdk
    const client = new sdk.Client({ url: wsUrl, clientId: 'browser-restart', retry: { retries: 20, initialRetryTimeMs: 50, maxRetryTimeMs: 500 } })
    const state = globalThis as unknown as { received: string[], client: InstanceType<Sdk['Client']>, produce: (v: string) => Promise<number> }
    state.received = []
    state.client = client
    const producer = client.producer({ lingerMs: 0 })
    state.produce = async v => (await producer.send({ topic, messages: [{ value: v }] }))[0]!.offset
    const consumer = client.consumer({ fromBeginning: true, maxWaitMs: 100 })
    await consumer.assign({ topic })
    void consumer.run({ eachMessage: ({ message }) => { state.received.push(sdk.text(message.value) ?? '') } })
  }, { wsUrl: broker.wsUrl, topic })
  const received = (): Promise<string[]> => page.evaluate(() => (globalThis as unknown as { received: string[] }).received)
  const waitReceived = async (n: number): Promise<string[]> => {
    const deadline = Date.now() + 15_000
    for (;;) {
      const r = await received()
      if (r.length >= n || Date.now() > deadline) return r
      await new Promise(resolve => setTimeout(resolve, 50))
    }
  }
  const producer = node.producer({ lingerMs: 0 })
  await producer.send({ topic, messages: [{ value: 'before-1' }, { value: 'before-2' }] })
  t.same(await waitReceived(2), ['before-1', 'before-2'])
  await broker.restart()
  await producer.send({ topic, messages: [{ value: 'after-node' }] })
  const offset = await page.evaluate(() => (globalThis as unknown as { produce: (v: string) => Promise<number> }).produce('after-page'))
  t.equal(offset, 3, 'the page\'s producer sends after the restart')
  t.same(await waitReceived(4), ['before-1', 'before-2', 'after-node', 'after-page'], 'the page\'s consumer continues')
  await producer.close()
  await page.evaluate(() => (globalThis as unknown as { client: { close (): Promise<void> } }).client.close())
  page.noErrors(/ERR_CONNECTION_REFUSED/)
})

t.test('a page from another Origin is refused: WebSocket, SDK and /api; a listed Origin is not', async t => {
  const refusedOrigin = `http://127.0.0.1:${site.port}`
  const { page, errors } = await openPage(context, `${refusedOrigin}/`)
  t.teardown(() => page.close())
  const attempt = (): Promise<{ ws: string, sdk: Outcome<unknown>, postJson: string, postSimple: string }> => page.evaluate(async ({ base, wsUrl }) => {
    const ws = await new Promise<string>(resolve => {
      const socket = new WebSocket(wsUrl)
      socket.onopen = () => { socket.close(); resolve('open') }
      socket.onerror = () => resolve('error')
      setTimeout(() => resolve('timeout'), 5000)
    })
    const sdk = await import(`${base}/sdk/spool.js`) as Sdk
    const client = new sdk.Client({ url: wsUrl, retry: { retries: 0 }, connectTimeoutMs: 3000 })
    let sdkOutcome: Outcome<unknown>
    try {
      sdkOutcome = { ok: true, value: await client.admin().listTopics() }
    } catch (err) {
      sdkOutcome = { ok: false, error: { name: (err as Error).name, code: (err as { code?: string }).code, message: (err as Error).message } }
    }
    await client.close()
    const postJson = await fetch(`${base}/api/topics`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ topic: 'from-other-site-json' }) })
      .then(r => `status ${r.status}`, (err: Error) => `${err.name}`)
    // A "simple" request needs no preflight: the browser sends it, the broker must refuse it.
    const postSimple = await fetch(`${base}/api/topics`, { method: 'POST', mode: 'no-cors', headers: { 'content-type': 'text/plain' }, body: JSON.stringify({ topic: 'from-other-site-simple' }) })
      .then(r => `sent (${r.type})`, (err: Error) => `${err.name}`)
    return { ws, sdk: sdkOutcome, postJson, postSimple }
  }, { base, wsUrl: broker.wsUrl })
  const refused = await attempt()
  t.equal(refused.ws, 'error', 'the WebSocket is refused')
  t.match(refused.sdk, { ok: false, error: { name: 'BrokerUnreachableError', code: 'BROKER_UNREACHABLE', message: /httpAllowedOrigins/ } }, 'the SDK loads (CORS *) but cannot connect, and says the Origin rule may be why')
  t.equal(refused.postJson, 'TypeError', 'a JSON POST fails its preflight')
  t.equal(refused.postSimple, 'sent (opaque)')
  const topics = await node.admin().listTopics()
  t.notOk(topics.includes('from-other-site-json') || topics.includes('from-other-site-simple'), 'no topic was created')
  t.same(errors.filter(e => !/WebSocket|CORS|Failed to load resource|ERR_FAILED/.test(e)), [], 'only the expected refusals in the console')

  await page.goto(`${allowedOrigin}/`)
  const listed = await attempt()
  t.equal(listed.ws, 'open', 'a listed origin opens the WebSocket')
  t.match(listed.sdk, { ok: true }, 'and the SDK works')
  t.equal(listed.postJson, 'status 201', 'and may use /api (CORS)')
})

t.test('examples/browser/ (served at /examples/browser/) tails a topic', async t => {
  const topic = 'browser-example'
  await node.admin().createTopics([{ topic, partitions: 2 }])
  const producer = node.producer({ lingerMs: 0 })
  await producer.send({ topic, messages: [{ key: 'a', value: 'written before' }] })
  const { page, errors } = await openPage(context, `${base}/examples/browser/?topic=${topic}&fromBeginning`)
  t.teardown(() => page.close())
  await page.locator('#status[data-state=tailing]').waitFor({ timeout: 10_000 })
  await producer.send({ topic, messages: [{ key: 'b', value: 'written after' }] })
  await page.locator('#messages li', { hasText: 'written after' }).waitFor({ timeout: 5000 })
  const lines = await page.locator('#messages li').allInnerTexts()
  t.equal(lines.length, 2)
  t.ok(lines.some(l => /^\d:0 a\s*written before$/.test(l)), 'the earlier record, with partition, offset and key')
  await producer.close()
  t.same(errors, [], 'no errors in the page')
})

t.test('two pages share a group: the first consumes 10,000 records and commits, the second takes half the partitions', async t => {
  const topic = 'browser-group'
  const groupId = 'browser-group'
  await node.admin().createTopics([{ topic, partitions: 4 }])
  const producer = node.producer({ lingerMs: 5 })
  await Promise.all(Array.from({ length: 10_000 }, (_, i) => producer.send({ topic, messages: [{ key: `k${i}`, value: `before-${i}` }] })))
  interface Member { seen: string[], assignment: () => number[], close: () => Promise<void>, commit: () => Promise<void> }
  const join = (page: Page, clientId: string): Promise<void> => page.evaluate(async ({ wsUrl, topic, groupId, clientId }) => {
    const sdk = await import('/sdk/spool.js' as string) as Sdk
    const client = new sdk.Client({ url: wsUrl, clientId })
    const consumer = client.consumer({ groupId, fromBeginning: true, autoCommit: false, sessionTimeoutMs: 10_000, maxWaitMs: 100 })
    const state = globalThis as unknown as { member: Member }
    const seen: string[] = []
    state.member = {
      seen,
      assignment: () => consumer.assignment().map(tp => tp.partition).sort((a, b) => a - b),
      close: () => client.close(),
      commit: () => consumer.commit(),
    }
    await consumer.subscribe({ topics: [topic] })
    void consumer.run({ eachBatch: ({ batch }) => { for (const m of batch.messages) seen.push(sdk.text(m.value) ?? '') } })
  }, { wsUrl: broker.wsUrl, topic, groupId, clientId })
  const inPage = <T>(page: Page, fn: (m: Member) => T | Promise<T>): Promise<T> =>
    page.evaluate(`(${fn.toString()})(globalThis.member)`) as Promise<T>
  const waitPage = async <T>(what: string, page: Page, fn: (m: Member) => T, ok: (v: T) => boolean, timeoutMs = 15_000): Promise<T> => {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const v = await inPage(page, fn)
      if (ok(v)) return v
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(v)}`)
      await new Promise(resolve => setTimeout(resolve, 50))
    }
  }

  const first = await brokerPage(t)
  await join(first, 'page-one')
  await waitPage('10,000 records in the first page', first, m => m.seen.length, n => n >= 10_000)
  await inPage(first, m => m.commit())
  const describe = async (): Promise<GroupDetail> => ((await (await fetch(`${base}/api/groups/${groupId}`)).json()) as { group: GroupDetail }).group
  const committed = await describe()
  t.equal(committed.offsets.reduce((s, o) => s + o.committedOffset, 0), 10_000, 'the commit covers the 10,000 records')
  t.equal(committed.totalLag, 0, 'lag 0')
  t.same(await inPage(first, m => m.assignment()), [0, 1, 2, 3], 'alone, it owns every partition')

  const second = await brokerPage(t)
  await join(second, 'page-two')
  const a = await waitPage('the first page to give up partitions', first, m => m.assignment(), p => p.length === 2)
  const b = await waitPage('the second page to get them', second, m => m.assignment(), p => p.length === 2)
  t.same([...a, ...b].sort(), [0, 1, 2, 3], 'the partitions are shared, none twice')
  const members = (await describe()).members
  t.same(members.map(m => m.clientId).sort(), ['page-one', 'page-two'], 'two members, with their client ids')

  await Promise.all(Array.from({ length: 1000 }, (_, i) => producer.send({ topic, messages: [{ key: `k${i}`, value: `after-${i}` }] })))
  await producer.close()
  const after = async (page: Page): Promise<string[]> => (await inPage(page, m => m.seen)).filter(v => v.startsWith('after-'))
  const deadline = Date.now() + 15_000
  let one: string[] = []
  let two: string[] = []
  while (Date.now() < deadline) {
    one = await after(first)
    two = await after(second)
    if (one.length + two.length >= 1000) break
    await new Promise(resolve => setTimeout(resolve, 50))
  }
  t.equal(new Set([...one, ...two]).size, 1000, 'every new record once, across the two pages')
  t.equal(one.length + two.length, 1000, 'no duplicates')
  t.ok(one.length > 0 && two.length > 0, `both pages got records (${one.length} and ${two.length})`)
  const beforeInSecond = (await inPage(second, m => m.seen)).filter(v => v.startsWith('before-')).length
  t.equal(beforeInSecond, 0, 'the second page starts at the committed offsets: nothing before is read again')
  await inPage(first, m => m.close())
  await inPage(second, m => m.close())
  first.noErrors()
  second.noErrors()
})
