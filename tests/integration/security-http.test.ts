// The HTTP port and browsers with --auth, against a real broker: fetch for /api and
// /metrics, headless Chromium (playwright-core) for the console's login and for pages that
// use the browser SDK with tokens, and the Node SDK for token expiry on an open connection.
// Proves: /api needs a login (cookie, Bearer or Basic) and /healthz does not; /metrics needs
// one unless --metrics-public; the session cookie is HttpOnly and SameSite=Strict and a
// state-changing call from another site's Origin is refused even with it; /api shows only
// what the principal may describe; a token from /api/tokens or `spool token create`
// authenticates a browser page over /ws (sent in-band, not in the URL), an expired token is
// refused with TOKEN_EXPIRED, a token scoped to a prefix cannot read another topic; a token
// that expires on an open connection closes it with TOKEN_EXPIRED, and a token callback
// gets a fresh one on the reconnect; the console redirects to its login form, refuses a
// wrong password and works after the right one (its live tail rides the session); and no
// password or token is in any log line.
import t, { type Test } from 'tap'
import type { Page } from 'playwright-core'
import { Broker } from '../../broker/broker.js'
import { TokenService } from '../../broker/security/tokens.js'
import { Client, text, utf8 } from '../../client/index.js'
import { ensureWebBuild, launchBrowser, openPage } from '../helpers/browser.js'
import { runCli } from '../helpers/client-cli.js'
import { waitFor } from '../helpers/processes.js'
import { LogAudit, startSecureBroker } from '../helpers/security.js'

type Sdk = typeof import('../../client/browser.js')

const audit = new LogAudit()
const PASSWORDS = { admin: 'admin-Secret-1', alice: 'alice-Secret-2' }
audit.secret(...Object.values(PASSWORDS), 'wrong-Password-9')

const ACLS = [
  { principal: 'User:alice', resourceType: 'topic' as const, resourceName: 'dash.', patternType: 'prefixed' as const, operation: 'read' as const },
  { principal: 'User:alice', resourceType: 'topic' as const, resourceName: 'orders', operation: 'read' as const },
]

await ensureWebBuild()

async function broker (t: Test, extra: Parameters<typeof startSecureBroker>[1] = {}): Promise<Broker> {
  const b = await startSecureBroker(t, { users: PASSWORDS, acls: ACLS, superUsers: ['User:admin'], logger: audit.logger(), ...extra })
  const admin = new Client({ brokers: [`127.0.0.1:${b.ports.native}`], sasl: { username: 'admin', password: PASSWORDS.admin } })
  t.teardown(() => admin.close())
  await admin.admin().createTopics([{ topic: 'dash.sales', partitions: 1 }, { topic: 'orders', partitions: 1 }, { topic: 'hidden', partitions: 1 }])
  const p = admin.producer()
  await p.send({ topic: 'dash.sales', messages: [{ value: utf8('s1') }, { value: utf8('s2') }] })
  await p.send({ topic: 'orders', messages: [{ value: utf8('o1') }] })
  await p.close()
  return b
}

const basic = (user: string, password: string): string => 'Basic ' + Buffer.from(`${user}:${password}`).toString('base64')

async function call (b: Broker, path: string, init: RequestInit = {}): Promise<{ status: number, json: Record<string, unknown>, headers: Headers }> {
  const res = await fetch(`http://127.0.0.1:${b.ports.http}${path}`, { redirect: 'manual', ...init })
  const body = await res.text()
  let json: Record<string, unknown> = {}
  try { json = JSON.parse(body) as Record<string, unknown> } catch { /* not JSON */ }
  return { status: res.status, json, headers: res.headers }
}

const errorCode = (r: { json: Record<string, unknown> }): unknown => (r.json.error as { code?: string } | undefined)?.code

async function login (b: Broker, user: keyof typeof PASSWORDS): Promise<string> {
  const r = await call(b, '/api/login', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: user, password: PASSWORDS[user] }) })
  if (r.status !== 200) throw new Error(`login ${user}: ${r.status} ${JSON.stringify(r.json)}`)
  return r.headers.get('set-cookie')!.split(';')[0]!
}

t.test('/api, /metrics and /healthz with --auth; the session cookie; Origin; filtered answers', async t => {
  const b = await broker(t)
  t.equal((await call(b, '/healthz')).status, 200, '/healthz stays open')
  const anon = await call(b, '/api/topics')
  t.equal(anon.status, 401)
  t.equal(errorCode(anon), 'AUTHENTICATION_REQUIRED', 'no login: 401 AUTHENTICATION_REQUIRED')
  t.equal((await call(b, '/metrics')).status, 401, '/metrics needs a login')
  t.equal((await call(b, '/metrics', { headers: { authorization: basic('admin', PASSWORDS.admin) } })).status, 200, 'Basic works for /metrics (Prometheus basic_auth)')
  const wrongBasic = await call(b, '/api/topics', { headers: { authorization: basic('admin', 'wrong-Password-9') } })
  t.equal(wrongBasic.status, 401)
  t.equal(errorCode(wrongBasic), 'SASL_AUTHENTICATION_FAILED')
  t.match(await (await fetch(`http://127.0.0.1:${b.ports.http}/metrics`, { headers: { authorization: basic('admin', PASSWORDS.admin) } })).text(), /spool_authentications_total\{protocol="http",mechanism="basic",result="failure"\} 1/, 'failed HTTP logins are counted')
  const wrong = await call(b, '/api/login', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'alice', password: 'wrong-Password-9' }) })
  t.equal(wrong.status, 401, 'a wrong password: 401')

  const res = await call(b, '/api/login', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'alice', password: PASSWORDS.alice }) })
  const setCookie = res.headers.get('set-cookie') ?? ''
  t.match(setCookie, /^spool_session=[A-Za-z0-9_-]{40,}; HttpOnly; SameSite=Strict; Path=\//, 'an HttpOnly, SameSite=Strict session cookie')
  const cookie = setCookie.split(';')[0]!
  const topics = await call(b, '/api/topics', { headers: { cookie } })
  t.same((topics.json.topics as Array<{ topic: string }>).map(x => x.topic).sort(), ['dash.sales', 'orders'], 'alice sees only what she may describe')
  t.equal((await call(b, '/api/topics/hidden', { headers: { cookie } })).status, 403, 'and is refused the others (403, not 404)')
  const created = await call(b, '/api/topics', { method: 'POST', headers: { cookie, 'content-type': 'application/json' }, body: JSON.stringify({ topic: 'alice-made' }) })
  t.equal(created.status, 403, 'creating needs an ACL')
  const admin = await login(b, 'admin')
  const forged = await call(b, '/api/topics', { method: 'POST', headers: { cookie: admin, origin: 'http://evil.example', 'content-type': 'application/json' }, body: JSON.stringify({ topic: 'forged' }) })
  t.equal(errorCode(forged), 'ORIGIN_NOT_ALLOWED', 'another site\'s page cannot use the admin\'s cookie')
  t.notOk(b.topics.exists('forged'))
  const made = await call(b, '/api/topics', { method: 'POST', headers: { cookie: admin, 'content-type': 'application/json' }, body: JSON.stringify({ topic: 'admin-made' }) })
  t.equal(made.status, 201, 'the admin\'s own page (no foreign Origin) may')
  const session = await call(b, '/api/session', { headers: { cookie } })
  t.same(session.json.principal, 'User:alice')
  t.equal((await call(b, '/api/logout', { method: 'POST', headers: { cookie, 'content-type': 'application/json' }, body: '{}' })).status, 200)
  t.equal((await call(b, '/api/topics', { headers: { cookie } })).status, 401, 'after logout the cookie is dead')

  const open = await broker(t, { metricsPublic: true })
  t.equal((await call(open, '/metrics')).status, 200, '--metrics-public serves /metrics without a login')
  t.match(await (await fetch(`http://127.0.0.1:${open.ports.http}/metrics`)).text(), /spool_authentications_total\{protocol="native",mechanism="SCRAM-SHA-256",result="success"\} 1/, 'and shows the authentication counts')
})

t.test('tokens: /api/tokens and spool token create; Bearer; scope; a token cannot mint tokens', async t => {
  const b = await broker(t)
  const cookie = await login(b, 'alice')
  const issued = await call(b, '/api/tokens', { method: 'POST', headers: { cookie, 'content-type': 'application/json' }, body: JSON.stringify({ ttl: '5m', topicPrefix: 'dash.' }) })
  t.equal(issued.status, 201)
  const token = issued.json.token as string
  audit.secret(token)
  const bearer = { authorization: `Bearer ${token}` }
  const who = await call(b, '/api/session', { headers: bearer })
  t.same([who.json.principal, who.json.method, (who.json.scope as { topicPrefix: string }).topicPrefix], ['User:alice', 'token', 'dash.'])
  t.same(((await call(b, '/api/topics', { headers: bearer })).json.topics as Array<{ topic: string }>).map(x => x.topic), ['dash.sales'], 'the scope hides orders, which her ACLs allow')
  const again = await call(b, '/api/tokens', { method: 'POST', headers: { ...bearer, 'content-type': 'application/json' }, body: '{}' })
  t.equal(again.status, 403, 'a token cannot issue tokens')
  const other = await call(b, '/api/tokens', { method: 'POST', headers: { cookie, 'content-type': 'application/json' }, body: JSON.stringify({ user: 'admin' }) })
  t.equal(other.status, 403, 'alice cannot get a token for admin')
  const forAlice = await call(b, '/api/tokens', { method: 'POST', headers: { cookie: await login(b, 'admin'), 'content-type': 'application/json' }, body: JSON.stringify({ user: 'alice', ttl: '1m' }) })
  t.equal(forAlice.status, 201, 'a super user can')
  audit.secret(forAlice.json.token as string)
  const cli = await runCli(t, ['token', 'create', '--user', 'alice', '--ttl', '15m', '--topic-prefix', 'dash.', '--data-dir', b.config.dataDir])
  t.equal(cli.code, 0, cli.stderr)
  const cliToken = cli.stdout.trim()
  audit.secret(cliToken)
  t.match(cli.stderr, /token for alice \(topics dash\.\*\), expires/)
  const node = new Client({ brokers: [`127.0.0.1:${b.ports.native}`], token: cliToken })
  t.teardown(() => node.close())
  t.same(await node.admin().listTopics(), ['dash.sales'], 'the CLI\'s token authenticates an SDK connection (OAUTHBEARER)')
})

t.test('a token expiring on an open connection closes it with TOKEN_EXPIRED; a callback renews it', async t => {
  const b = await broker(t)
  const tokens = TokenService.open({ dataDir: b.config.dataDir })
  const short = (await tokens.issue('alice', { ttlMs: 2000 })).token
  audit.secret(short)
  const c = new Client({ brokers: [`127.0.0.1:${b.ports.native}`], token: short, retry: { retries: 0 } })
  t.teardown(() => c.close())
  const consumer = c.consumer({ fromBeginning: true, maxWaitMs: 10_000 })
  await consumer.assign({ topic: 'orders' })
  const seen: string[] = []
  await t.rejects((async () => { for await (const m of consumer) seen.push(text(m.value!)!) })(), { code: 'TOKEN_EXPIRED' }, 'the long poll ends with TOKEN_EXPIRED')
  t.same(seen, ['o1'], 'it read until then')
  t.match(await b.metrics.registry.metrics(), /spool_connection_errors_total\{protocol="native",reason="TOKEN_EXPIRED"\} 1/)
  await consumer.close().catch(() => {})

  let asked = 0
  const renewing = new Client({ brokers: [`127.0.0.1:${b.ports.native}`], token: async () => { asked++; const tk = (await tokens.issue('alice', { ttlMs: 2000 })).token; audit.secret(tk); return tk } })
  t.teardown(() => renewing.close())
  const follower = renewing.consumer({ fromBeginning: true, maxWaitMs: 500 })
  await follower.assign({ topic: 'orders' })
  const admin = new Client({ brokers: [`127.0.0.1:${b.ports.native}`], sasl: { username: 'admin', password: PASSWORDS.admin } })
  t.teardown(() => admin.close())
  const got: string[] = []
  const reading = (async () => { for await (const m of follower) { got.push(text(m.value!)!); if (got.length === 2) break } })()
  await waitFor(() => got.length === 1 && asked >= 2, 15_000, 'a reconnect with a fresh token')
  await admin.producer().send({ topic: 'orders', messages: [{ value: utf8('o2') }] })
  await reading
  t.same(got, ['o1', 'o2'], 'the consumer carried on across the expiry with a fresh token')
  await follower.close()
})

t.test('browser: a page with a token consumes; expired and out-of-scope tokens are refused', async t => {
  const b = await broker(t)
  const tokens = TokenService.open({ dataDir: b.config.dataDir })
  const good = (await tokens.issue('alice', { ttlMs: 300_000, topicPrefix: 'dash.' })).token
  const expired = (await TokenService.open({ dataDir: b.config.dataDir, now: () => Date.now() - 3_600_000 }).issue('alice', { ttlMs: 60_000 })).token
  audit.secret(good, expired)
  const context = await launchBrowser(t)
  const { page, errors } = await openPage(context, `http://127.0.0.1:${b.ports.http}/healthz`)
  t.teardown(() => page.close())
  const outcome = await page.evaluate(async ({ url, good, expired, password }) => {
    const sdk = await import('/sdk/spool.js' as string) as Sdk
    type Auth = { token: string } | { sasl: { username: string, password: string } } | Record<string, never>
    const read = async (auth: Auth | string, topic: string): Promise<{ ok: boolean, values?: string[], code?: string }> => {
      const client = new sdk.Client({ url, retry: { retries: 0 }, ...(typeof auth === 'string' ? { token: auth } : auth) })
      try {
        const consumer = client.consumer({ fromBeginning: true, maxWaitMs: 100 })
        await consumer.assign({ topic })
        const values: string[] = []
        for await (const m of consumer) { values.push(sdk.text(m.value) ?? ''); if (values.length === 2) break }
        await consumer.close()
        return { ok: true, values }
      } catch (err) {
        return { ok: false, code: (err as { code?: string }).code }
      } finally {
        await client.close()
      }
    }
    return {
      good: await read(good, 'dash.sales'),
      expired: await read(expired, 'dash.sales'),
      scoped: await read(good, 'orders'),
      none: await read({}, 'dash.sales'),
      wrong: await read({ sasl: { username: 'alice', password: 'wrong-Password-9' } }, 'dash.sales'),
      scram: await read({ sasl: { username: 'alice', password } }, 'dash.sales'),
    }
  }, { url: `ws://127.0.0.1:${b.ports.http}/ws`, good, expired, password: PASSWORDS.alice })
  t.same(outcome.good, { ok: true, values: ['s1', 's2'] }, 'a page with a valid token consumes over /ws')
  t.same(outcome.expired, { ok: false, code: 'TOKEN_EXPIRED' }, 'an expired token is refused with TOKEN_EXPIRED')
  t.same(outcome.scoped, { ok: false, code: 'TOPIC_AUTHORIZATION_FAILED' }, 'a token scoped to dash. cannot read orders')
  t.same(outcome.none, { ok: false, code: 'AUTHENTICATION_REQUIRED' }, 'no credentials over /ws: AUTHENTICATION_REQUIRED')
  t.same(outcome.wrong, { ok: false, code: 'SASL_AUTHENTICATION_FAILED' }, 'a wrong password over /ws: SASL_AUTHENTICATION_FAILED')
  t.same(outcome.scram, { ok: true, values: ['s1', 's2'] }, 'SCRAM-SHA-256 in the browser (WebCrypto) works too')
  t.same(errors.filter(e => !/WebSocket|ERR_/.test(e)), [], 'no other errors in the page')
  t.notOk(audit.lines.some(l => l.includes('/ws?') || l.includes('token=')), 'no token in a URL the broker saw')
})

t.test('the console asks for a login, refuses a wrong password, then works over its session', async t => {
  const b = await broker(t)
  const context = await launchBrowser(t)
  const { page } = await openPage(context, `http://127.0.0.1:${b.ports.http}/`)
  t.teardown(() => page.close())
  t.match(page.url(), /\/login\?next=%2F$/, 'the console redirects to its login form')
  await fillLogin(page, 'admin', 'wrong-Password-9')
  t.match(await page.textContent('body'), /Wrong user name or password/, 'a wrong password shows the form again')
  await fillLogin(page, 'admin', PASSWORDS.admin)
  await page.waitForURL(`http://127.0.0.1:${b.ports.http}/`)
  const seen = await page.evaluate(async () => {
    const session = await (await fetch('/api/session')).json() as { principal: string }
    const topics = await (await fetch('/api/topics')).json() as { topics: Array<{ topic: string }> }
    return { principal: session.principal, topics: topics.topics.map(x => x.topic).sort(), cookieVisible: document.cookie.includes('spool_session') }
  })
  t.same(seen, { principal: 'User:admin', topics: ['dash.sales', 'hidden', 'orders'], cookieVisible: false }, 'logged in; the cookie is not readable by scripts')
  const tail = await page.evaluate(async ({ url }) => {
    const sdk = await import('/sdk/spool.js' as string) as Sdk
    const client = new sdk.Client({ url, retry: { retries: 0 } })
    try {
      return (await client.admin().listTopics()).sort()
    } finally { await client.close() }
  }, { url: `ws://127.0.0.1:${b.ports.http}/ws` })
  t.same(tail, ['dash.sales', 'hidden', 'orders'], 'a /ws connection from the console rides its session (no token needed)')
  await context.clearCookies()
  const res = await page.goto(`http://127.0.0.1:${b.ports.http}/console/`)
  t.match(page.url(), /\/login\?next=/, `without the cookie: back to the login (${res?.status() ?? '?'})`)
})

async function fillLogin (page: Page, user: string, password: string): Promise<void> {
  await page.fill('input[name=username]', user)
  await page.fill('input[name=password]', password)
  await Promise.all([page.waitForLoadState('load'), page.click('button[type=submit]')])
}

t.test('no password or token in any log line of this file', async t => {
  t.ok(audit.secrets.size >= 8, `${audit.secrets.size} secrets tracked`)
  t.same(audit.leaks(), [])
})
