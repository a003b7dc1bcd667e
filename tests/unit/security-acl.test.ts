// ACLs and the authorizer (broker/security/acl*.ts, authorizer.ts) and the failed-login
// throttle (auth-throttle.ts). Proves Kafka's AclAuthorizer semantics case by case (deny
// wins, `all`, implied describe, literal/wildcard/prefixed patterns, hosts, super users,
// no-ACL default), token scopes, DescribeAcls/DeleteAcls filters, persistence and reload
// from another writer, cache invalidation, rate-limited denial reports, and measures the
// cost of a cached and an uncached decision (printed, never asserted on time).
import t, { type Test } from 'tap'
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { performance } from 'node:perf_hooks'
import { CLUSTER_RESOURCE, type AclEntry, type AclOperation, type Resource } from '../../broker/security/acl.js'
import { AclAuthorizer, AllowAllAuthorizer, authorizationError, type AclAuthorizerOptions, type DenialEvent } from '../../broker/security/authorizer.js'
import { AuthThrottle } from '../../broker/security/auth-throttle.js'
import { userPrincipal, type Caller } from '../../broker/security/principal.js'
import { InvalidArgumentError, SecurityFileInvalidError } from '../../protocol/errors.js'

function tempDir (t: Test): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'spool-acl-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

function open (t: Test, options: Partial<AclAuthorizerOptions> = {}): AclAuthorizer {
  const a = AclAuthorizer.open({ dataDir: options.dataDir ?? tempDir(t), reloadIntervalMs: 0, onDenied: () => {}, ...options })
  t.teardown(() => a.close())
  return a
}

function caller (name: string, host = '127.0.0.1', scope?: { topicPrefix: string }): Caller {
  return { principal: userPrincipal(name, 'scram-sha-256', scope), clientId: 'c', host, protocol: 'kafka' }
}

/** Asserts `fn` throws an instance of `cls` whose message matches `re`. */
function throwsNamed (t: Test, fn: () => unknown, cls: new (...args: never[]) => Error, re: RegExp): void {
  try {
    fn()
    t.fail(`did not throw (${String(re)})`)
  } catch (err) {
    t.ok(err instanceof cls, `${cls.name}: ${String(err)}`)
    t.match((err as Error).message, re)
  }
}

const topic = (name: string): Resource => ({ type: 'topic', name })
const acl = (e: Partial<AclEntry> & Pick<AclEntry, 'principal' | 'operation' | 'resourceName'>): Partial<AclEntry> => ({ resourceType: 'topic', patternType: 'literal', permission: 'allow', host: '*', ...e })

t.test('validation of entries', async t => {
  const a = open(t)
  const bad: Array<[Partial<Record<keyof AclEntry, unknown>>, RegExp]> = [
    [{ ...acl({ principal: 'alice', operation: 'read', resourceName: 'x' }) }, /principal must be User:/],
    [{ ...acl({ principal: 'User:a', operation: 'read', resourceName: 'x' }), host: 'example.com' }, /host must be \* or an IP/],
    [{ ...acl({ principal: 'User:a', operation: 'read', resourceName: 'x' }), resourceType: 'cluster' }, /literal name kafka-cluster/],
    [{ ...acl({ principal: 'User:a', operation: 'read', resourceName: 'kafka-cluster' }), resourceType: 'cluster' }, /read does not apply to a cluster/],
    [{ ...acl({ principal: 'User:a', operation: 'write', resourceName: 'g' }), resourceType: 'group' }, /write does not apply to a group/],
    [{ ...acl({ principal: 'User:a', operation: 'fly' as AclOperation, resourceName: 'x' }) }, /operation must be one of/],
    [{ ...acl({ principal: 'User:a', operation: 'read', resourceName: '' }) }, /resourceName must be a non-empty/],
    [{ ...acl({ principal: 'User:a', operation: 'read', resourceName: 'x' }), patternType: 'match' }, /patternType must be one of literal, prefixed/],
    [{ ...acl({ principal: 'User:a', operation: 'read', resourceName: 'x' }), permission: 'maybe' }, /permission must be/],
  ]
  for (const [e, msg] of bad) throwsNamed(t, () => a.addAcls([e]), InvalidArgumentError, msg)
  t.same(a.listAcls(), [], 'nothing was added')
  // One bad entry in a batch adds none of the batch.
  t.throws(() => a.addAcls([acl({ principal: 'User:a', operation: 'read', resourceName: 'x' }), { principal: 'x' }]))
  t.same(a.listAcls(), [])
  t.throws(() => AclAuthorizer.open({ dataDir: tempDir(t), superUsers: ['admin'] }), /super user must be User:/)
})

t.test("Kafka's semantics, case by case", async t => {
  const check = (a: AclAuthorizer, c: Caller, op: AclOperation, r: Resource, allowed: boolean, reason: string, what: string): void => {
    const d = a.authorize(c, op, r)
    t.same({ allowed: d.allowed, reason: d.reason }, { allowed, reason }, what)
  }
  const alice = caller('alice')
  const bob = caller('bob')

  let a = open(t)
  check(a, alice, 'read', topic('orders'), false, 'no-acl-deny', 'no ACL on the resource: denied by default')
  a = open(t, { allowEveryoneIfNoAclFound: true })
  check(a, alice, 'read', topic('orders'), true, 'no-acl-allow', 'allowEveryoneIfNoAclFound allows it')
  a.addAcls([acl({ principal: 'User:alice', operation: 'read', resourceName: 'orders' })])
  check(a, bob, 'read', topic('orders'), false, 'no-allow-acl', '... but once the resource has an ACL, others are denied')
  check(a, bob, 'read', topic('payments'), true, 'no-acl-allow', '... and resources without ACLs stay open')

  a = open(t)
  a.addAcls([acl({ principal: 'User:alice', operation: 'read', resourceName: 'orders' })])
  check(a, alice, 'read', topic('orders'), true, 'acl-allow', 'allowed by a literal ACL')
  check(a, alice, 'describe', topic('orders'), true, 'acl-allow', 'read implies describe')
  check(a, alice, 'write', topic('orders'), false, 'no-allow-acl', 'read does not imply write')
  check(a, alice, 'read', topic('orders2'), false, 'no-acl-deny', 'literal means that name only')
  check(a, bob, 'read', topic('orders'), false, 'no-allow-acl', 'another principal')
  check(a, alice, 'read', { type: 'group', name: 'orders' }, false, 'no-acl-deny', 'resource types are separate')

  for (const [op, implied] of [['write', true], ['delete', true], ['alter', true], ['create', false], ['alter_configs', false], ['describe_configs', false]] as const) {
    const b = open(t)
    b.addAcls([acl({ principal: 'User:alice', operation: op, resourceName: 't' })])
    check(b, alice, 'describe', topic('t'), implied, implied ? 'acl-allow' : 'no-allow-acl', `${op} ${implied ? 'implies' : 'does not imply'} describe`)
  }
  const cfg = open(t)
  cfg.addAcls([acl({ principal: 'User:alice', operation: 'alter_configs', resourceName: 't' }), acl({ principal: 'User:bob', operation: 'describe_configs', resourceName: 't' })])
  check(cfg, alice, 'describe_configs', topic('t'), true, 'acl-allow', 'alter_configs implies describe_configs')
  check(cfg, bob, 'alter_configs', topic('t'), false, 'no-allow-acl', 'describe_configs does not imply alter_configs')

  a = open(t)
  a.addAcls([
    acl({ principal: 'User:*', operation: 'all', resourceName: 'orders', patternType: 'prefixed' }),
    acl({ principal: 'User:bob', operation: 'write', resourceName: 'orders.eu', permission: 'deny' }),
  ])
  for (const op of ['read', 'write', 'create', 'delete', 'alter', 'describe', 'describe_configs', 'alter_configs'] as const) {
    check(a, alice, op, topic('orders.eu'), true, 'acl-allow', `all covers ${op}`)
  }
  check(a, bob, 'write', topic('orders.eu'), false, 'acl-deny', 'deny wins over allow')
  check(a, bob, 'read', topic('orders.eu'), true, 'acl-allow', 'deny write leaves read')
  check(a, bob, 'write', topic('orders.us'), true, 'acl-allow', 'the deny is literal')
  check(a, alice, 'read', topic('order'), false, 'no-acl-deny', 'prefix orders does not match order')
  check(a, alice, 'read', topic('orders'), true, 'acl-allow', 'a prefix matches the name equal to it')

  a = open(t)
  a.addAcls([
    acl({ principal: 'User:bob', operation: 'describe', resourceName: 't' }),
    acl({ principal: 'User:bob', operation: 'read', resourceName: 't', permission: 'deny' }),
    acl({ principal: 'User:carol', operation: 'all', resourceName: 't' }),
    acl({ principal: 'User:carol', operation: 'all', resourceName: '*', permission: 'deny' }),
  ])
  check(a, bob, 'describe', topic('t'), true, 'acl-allow', 'deny read does not deny describe (deny is not implied)')
  check(a, caller('carol'), 'describe', topic('t'), false, 'acl-deny', 'deny all on literal * denies everything')
  check(a, caller('carol'), 'read', topic('other'), false, 'acl-deny', '... on every topic')

  a = open(t, { superUsers: ['User:admin'] })
  a.addAcls([acl({ principal: 'User:*', operation: 'all', resourceName: '*', permission: 'deny' })])
  check(a, caller('admin'), 'alter', topic('x'), true, 'super-user', 'super users bypass deny')
  check(a, caller('admin'), 'cluster_action', CLUSTER_RESOURCE, true, 'super-user', '... everywhere')
  check(a, alice, 'read', topic('x'), false, 'acl-deny', 'everyone else denied by the wildcard deny')

  a = open(t)
  a.addAcls([acl({ principal: 'User:alice', operation: 'read', resourceName: 't', host: '10.0.0.1' })])
  check(a, caller('alice', '10.0.0.1'), 'read', topic('t'), true, 'acl-allow', 'from the host the ACL names')
  check(a, caller('alice', '::ffff:10.0.0.1'), 'read', topic('t'), true, 'acl-allow', 'IPv4-mapped form of that host')
  check(a, caller('alice', '10.0.0.2'), 'read', topic('t'), false, 'no-allow-acl', 'not from another host')

  a = open(t)
  const cert = 'CN=alice,OU=eng,O=acme'
  a.addAcls([acl({ principal: `User:${cert}`, operation: 'write', resourceName: 'iot.', patternType: 'prefixed' })])
  check(a, { principal: userPrincipal(cert, 'mtls'), clientId: '', host: '127.0.0.1', protocol: 'mqtt' }, 'write', topic('iot.sensors'), true, 'acl-allow', 'a certificate subject as principal')

  a = open(t, { superUsers: ['User:admin'] })
  a.addAcls([acl({ principal: 'User:alice', operation: 'all', resourceName: '*' }), { ...acl({ principal: 'User:alice', operation: 'read', resourceName: 'g' }), resourceType: 'group' }])
  const scoped = caller('alice', '127.0.0.1', { topicPrefix: 'dash.' })
  check(a, scoped, 'read', topic('dash.clicks'), true, 'acl-allow', 'a scoped token inside its prefix: the ACLs decide')
  check(a, scoped, 'read', topic('payroll'), false, 'token-scope', 'outside its prefix: denied')
  check(a, caller('admin', '127.0.0.1', { topicPrefix: 'dash.' }), 'read', topic('payroll'), false, 'token-scope', 'the scope restricts super users too')
  check(a, scoped, 'read', { type: 'group', name: 'g' }, true, 'acl-allow', 'the scope is about topics only')

  const codes = (['topic', 'group', 'cluster', 'transactional_id'] as const).map(type => authorizationError({ type, name: 'n' }, 'read').errorCode)
  t.same(codes, [29, 30, 31, 53], 'denials map to Kafka\'s per-resource error codes')
  t.match(authorizationError(topic('orders'), 'write').message, 'Not authorized to write topic orders')

  const all = new AllowAllAuthorizer()
  t.equal(all.enabled, false)
  t.ok(all.authorize().allowed)
  t.same(all.filterAuthorized(alice, 'describe', 'topic', ['a', 'b'], x => x), ['a', 'b'])
})

t.test('filters: any, match, literal, prefixed; delete returns what each filter matched', async t => {
  const a = open(t)
  const entries = [
    acl({ principal: 'User:alice', operation: 'read', resourceName: 'orders' }),
    acl({ principal: 'User:alice', operation: 'write', resourceName: 'ord', patternType: 'prefixed' }),
    acl({ principal: 'User:bob', operation: 'read', resourceName: '*' }),
    acl({ principal: 'User:bob', operation: 'read', resourceName: 'orders', patternType: 'prefixed', permission: 'deny' }),
    { ...acl({ principal: 'User:bob', operation: 'read', resourceName: 'orders' }), resourceType: 'group' as const },
    acl({ principal: 'User:carol', operation: 'read', resourceName: 'payments', host: '10.1.2.3' }),
  ]
  t.equal(a.addAcls(entries).length, 6)
  t.equal(a.addAcls(entries.slice(0, 2)).length, 0, 'adding an existing entry is a no-op')
  const names = (f: Parameters<AclAuthorizer['listAcls']>[0]): string[] => a.listAcls(f).map(e => `${e.principal}/${e.resourceType}/${e.patternType}:${e.resourceName}/${e.operation}/${e.permission}`)
  t.equal(a.listAcls().length, 6, 'empty filter: everything')
  t.same(names({ resourceType: 'topic', patternType: 'match', resourceName: 'orders' }), [
    'User:alice/topic/literal:orders/read/allow', 'User:alice/topic/prefixed:ord/write/allow',
    'User:bob/topic/literal:*/read/allow', 'User:bob/topic/prefixed:orders/read/deny',
  ], 'match: every pattern that applies to the topic orders')
  t.same(names({ resourceType: 'topic', patternType: 'literal', resourceName: 'orders' }), ['User:alice/topic/literal:orders/read/allow'])
  t.same(names({ patternType: 'literal', resourceName: '*' }), ['User:bob/topic/literal:*/read/allow'], 'literal * finds only the wildcard entries')
  t.same(names({ patternType: 'prefixed' }), ['User:alice/topic/prefixed:ord/write/allow', 'User:bob/topic/prefixed:orders/read/deny'])
  t.same(names({ patternType: 'any', resourceName: 'orders' }), ['User:alice/topic/literal:orders/read/allow', 'User:bob/topic/prefixed:orders/read/deny', 'User:bob/group/literal:orders/read/allow'], 'any: exact name, every pattern type and resource type')
  t.same(names({ principal: 'User:bob', permission: 'deny' }), ['User:bob/topic/prefixed:orders/read/deny'])
  t.same(names({ host: '10.1.2.3' }), ['User:carol/topic/literal:payments/read/allow'])
  t.same(names({ operation: 'write' }), ['User:alice/topic/prefixed:ord/write/allow'])
  t.throws(() => a.listAcls({ operation: 'fly' as AclOperation }), InvalidArgumentError)

  const removed = a.removeAcls([{ principal: 'User:bob', resourceType: 'topic' }, { resourceName: 'orders', patternType: 'prefixed' }, { principal: 'User:nobody' }])
  t.same(removed.map(r => r.length), [2, 1, 0], 'per filter, what it matched (an entry may appear under two filters)')
  t.equal(a.listAcls().length, 4, 'the union of the two non-empty matches was removed')
})

t.test('persistence, reload from another writer, cache invalidation, bad file', async t => {
  const dir = tempDir(t)
  const a = open(t, { dataDir: dir })
  const alice = caller('alice')
  t.equal(a.authorize(alice, 'read', topic('t')).allowed, false)
  a.addAcls([acl({ principal: 'User:alice', operation: 'read', resourceName: 't' })])
  t.equal(a.authorize(alice, 'read', topic('t')).allowed, true, 'an add invalidates the cached denial')
  const file = a.store.location
  t.equal(file, path.join(dir, 'security', 'acls.json'))
  t.equal(statSync(file).mode & 0o777, 0o600)
  t.same(JSON.parse(readFileSync(file, 'utf8')), { version: 1, acls: [{ principal: 'User:alice', host: '*', resourceType: 'topic', patternType: 'literal', resourceName: 't', operation: 'read', permission: 'allow' }] })

  // A second authorizer on the same data dir (as the CLI would be) removes it; the first sees it on refresh.
  const other = open(t, { dataDir: dir })
  t.same(other.listAcls().length, 1, 'survives reopening')
  other.removeAcls([{ principal: 'User:alice' }])
  t.equal(a.authorize(alice, 'read', topic('t')).allowed, true, 'cached until the file is checked')
  a.refresh()
  t.equal(a.authorize(alice, 'read', topic('t')).allowed, false, 'after refresh the removal is in force')

  // The timer does the same by itself.
  const polled = open(t, { dataDir: dir, reloadIntervalMs: 20 })
  t.equal(polled.authorize(alice, 'write', topic('t')).allowed, false)
  other.addAcls([acl({ principal: 'User:alice', operation: 'write', resourceName: 't' })])
  const deadline = Date.now() + 5000
  while (!polled.authorize(alice, 'write', topic('t')).allowed && Date.now() < deadline) await new Promise(resolve => setTimeout(resolve, 20))
  t.equal(polled.authorize(alice, 'write', topic('t')).allowed, true, 'a change by another writer is picked up by the poll')

  // A hand-broken file: named error at open, last good ACLs kept while running.
  const good = readFileSync(file, 'utf8')
  t.match(good, '"write"')
  a.refresh()
  t.equal(a.authorize(alice, 'write', topic('t')).allowed, true, 'a has the write ACL before the file breaks')
  writeFileSync(file, good.replace('"write"', '"fly"'))
  throwsNamed(t, () => AclAuthorizer.open({ dataDir: dir, reloadIntervalMs: 0 }), SecurityFileInvalidError, /acls\.json: acls\[0\]: operation must be one of/)
  a.refresh()
  t.match(a.store.lastError?.message ?? '', /acls\[0\]/)
  t.equal(a.authorize(alice, 'write', topic('t')).allowed, true, 'the last good entries stay in force')
  writeFileSync(file, '{"version":1,"acls":{}}')
  t.throws(() => AclAuthorizer.open({ dataDir: dir, reloadIntervalMs: 0 }), /acls\.json: acls: expected an array/)
})

t.test('cache: per principal object and host, whatever Caller object carries them; bounded', async t => {
  const a = open(t, { cacheMaxEntries: 50 })
  a.addAcls([acl({ principal: 'User:alice', operation: 'read', resourceName: 'orders', patternType: 'prefixed' })])
  const c1 = caller('alice')
  a.authorize(c1, 'read', topic('orders.1'))
  a.authorize(c1, 'read', topic('orders.1'))
  t.same([a.stats.cacheMisses, a.stats.cacheHits], [1, 1])
  a.authorize({ ...c1, clientId: 'other' }, 'read', topic('orders.1'))
  t.same([a.stats.cacheMisses, a.stats.cacheHits], [1, 2], 'a fresh Caller object with the same principal object and host hits the cache')
  a.authorize(caller('alice'), 'read', topic('orders.1'))
  t.same([a.stats.cacheMisses, a.stats.cacheHits], [2, 2], 'another principal object (another connection) has its own entries')
  a.authorize({ ...c1, host: '10.9.9.9' }, 'read', topic('orders.1'))
  t.equal(a.stats.cacheMisses, 3, 'another host is another entry')
  a.authorize(c1, 'describe', topic('orders.1'))
  t.equal(a.stats.cacheMisses, 4, 'another operation is another entry')
  for (let i = 0; i < 200; i++) t.equal(a.authorize(c1, 'read', topic(`orders.${i}`)).allowed, true)
  t.ok(a.stats.cacheEntries <= 50, `bounded (${a.stats.cacheEntries} entries)`)
  t.equal(a.authorize(c1, 'read', topic('x')).allowed, false, 'still correct after a reset')
})

t.test('denials: reported once per key per interval with a suppressed count; counted; list filtering is silent', async t => {
  let now = 0
  const events: DenialEvent[] = []
  const a = open(t, { now: () => now, denialLogIntervalMs: 60_000, onDenied: e => events.push(e) })
  a.addAcls([acl({ principal: 'User:alice', operation: 'describe', resourceName: 'a', patternType: 'prefixed' })])
  const bob = caller('bob', '10.0.0.7')
  for (let i = 0; i < 5; i++) a.authorize(bob, 'write', topic('a1'))
  a.authorize(bob, 'write', topic('a2'))
  t.same(events.map(e => [e.resourceName, e.suppressed]), [['a1', 0], ['a2', 0]], 'one event per key')
  t.same(events[0], { principal: 'User:bob', host: '10.0.0.7', clientId: 'c', protocol: 'kafka', operation: 'write', resourceType: 'topic', resourceName: 'a1', reason: 'no-allow-acl', suppressed: 0 })
  now = 60_000
  a.authorize(bob, 'write', topic('a1'))
  t.same(events.map(e => [e.resourceName, e.suppressed]), [['a1', 0], ['a2', 0], ['a1', 4]], 'the next event says how many were suppressed')
  t.equal(a.stats.denied, 7)
  t.equal(a.stats.deniedByResourceType.topic, 7)
  a.authorize(caller('alice'), 'describe', topic('a1'))
  t.equal(a.stats.allowed, 1)

  const visible = a.filterAuthorized(caller('alice'), 'describe', 'topic', ['a1', 'b1', 'a2', 'zz'], x => x)
  t.same(visible, ['a1', 'a2'], 'only what the caller may describe')
  t.same(a.filterAuthorized(bob, 'describe', 'topic', ['a1', 'b1'], x => x), [])
  t.equal(events.length, 3, 'list filtering reports no denial')
  t.equal(a.stats.denied, 7, 'nor counts one')

  // Bounded: with room for 2 keys, a third starts the limiter over.
  const few: DenialEvent[] = []
  const c = open(t, { now: () => now, denialLogMaxKeys: 2, onDenied: e => few.push(e) })
  for (const n of ['k1', 'k2', 'k1', 'k3', 'k1', 'k1']) c.authorize(bob, 'read', topic(n))
  t.same(few.map(e => e.resourceName), ['k1', 'k2', 'k3', 'k1'], 'k1 reported again only after the reset')

  // The default hook is a pino-style warn line with the event's fields and no secrets.
  const lines: Array<[unknown, string]> = []
  const logger = { warn: (obj: unknown, msg: string) => { lines.push([obj, msg]) } } as unknown as NonNullable<AclAuthorizerOptions['logger']>
  const b = AclAuthorizer.open({ dataDir: tempDir(t), reloadIntervalMs: 0, logger })
  t.teardown(() => b.close())
  b.authorize(bob, 'read', topic('x'))
  t.equal(lines.length, 1)
  t.equal(lines[0]![1], 'authorization denied')
  t.match(lines[0]![0], { principal: 'User:bob', operation: 'read', resourceName: 'x', suppressed: 0 })
})

t.test('authorizeByResourceType (idempotent producers: write on some topic)', async t => {
  const alice = caller('alice')
  let a = open(t)
  t.equal(a.authorizeByResourceType(alice, 'write', 'topic').reason, 'no-acl-deny')
  a = open(t, { allowEveryoneIfNoAclFound: true })
  t.equal(a.authorizeByResourceType(alice, 'write', 'topic').reason, 'no-acl-allow')
  a = open(t)
  a.addAcls([acl({ principal: 'User:alice', operation: 'write', resourceName: 'orders.', patternType: 'prefixed' })])
  t.ok(a.authorizeByResourceType(alice, 'write', 'topic').allowed, 'a prefixed allow is enough')
  t.notOk(a.authorizeByResourceType(caller('bob'), 'write', 'topic').allowed, 'not for another principal')
  t.notOk(a.authorizeByResourceType(alice, 'write', 'group').allowed, 'nor another type')
  t.ok(a.authorizeByResourceType(alice, 'describe', 'topic').allowed, 'write implies describe')
  a.addAcls([acl({ principal: 'User:alice', operation: 'write', resourceName: 'ord', patternType: 'prefixed', permission: 'deny' })])
  t.notOk(a.authorizeByResourceType(alice, 'write', 'topic').allowed, 'a deny covering every name of the allow')
  a.addAcls([acl({ principal: 'User:alice', operation: 'write', resourceName: 'payments' })])
  t.ok(a.authorizeByResourceType(alice, 'write', 'topic').allowed, 'another allow outside the deny')
  a.addAcls([acl({ principal: 'User:*', operation: 'all', resourceName: '*', permission: 'deny' })])
  t.notOk(a.authorizeByResourceType(alice, 'write', 'topic').allowed, 'deny all on * covers everything')
  const s = open(t)
  s.addAcls([acl({ principal: 'User:alice', operation: 'write', resourceName: 'orders.', patternType: 'prefixed' })])
  t.notOk(s.authorizeByResourceType(caller('alice', '127.0.0.1', { topicPrefix: 'dash.' }), 'write', 'topic').allowed, 'a token scope outside the allowed prefix')
  t.ok(s.authorizeByResourceType(caller('alice', '127.0.0.1', { topicPrefix: 'orders.eu.' }), 'write', 'topic').allowed, 'a scope inside it')
})

t.test('micro-benchmark: cost of a cached and of an uncached decision', async t => {
  const a = open(t)
  const entries: Array<Partial<AclEntry>> = []
  for (let i = 0; i < 1000; i++) entries.push(acl({ principal: `User:u${i}`, operation: i % 2 === 0 ? 'write' : 'read', resourceName: `t${i}.`, patternType: i % 3 === 0 ? 'prefixed' : 'literal' }))
  entries.push(acl({ principal: 'User:producer', operation: 'write', resourceName: 'bench.', patternType: 'prefixed' }))
  a.addAcls(entries)
  const producer = caller('producer')
  const resources = Array.from({ length: 8 }, (_, i) => topic(`bench.p${i}`))
  const N = 2_000_000
  const hits0 = a.stats.cacheHits
  let allowed = 0
  for (let i = 0; i < 10_000; i++) a.authorize(producer, 'write', resources[i & 7]!) // warm-up
  const t0 = performance.now()
  for (let i = 0; i < N; i++) if (a.authorize(producer, 'write', resources[i & 7]!).allowed) allowed++
  const cachedNs = (performance.now() - t0) * 1e6 / N
  const t0b = performance.now()
  for (let i = 0; i < N; i++) if (a.authorize({ ...producer }, 'write', resources[i & 7]!).allowed) allowed++
  const freshCallerNs = (performance.now() - t0b) * 1e6 / N
  t.equal(allowed, 2 * N, 'every call allowed')
  t.equal(a.stats.cacheHits - hits0, 2 * N + 10_000 - 8, 'and every one after the first per resource served from the cache')

  const M = 50_000
  const callers = Array.from({ length: 1000 }, (_, i) => caller(`u${i}`))
  const names = Array.from({ length: M }, (_, i) => topic(`t${i % 1000}.x${i}`))
  const misses0 = a.stats.cacheMisses
  const t1 = performance.now()
  for (let i = 0; i < M; i++) a.authorize(callers[i % 1000]!, 'read', names[i]!)
  const missNs = (performance.now() - t1) * 1e6 / M
  t.equal(a.stats.cacheMisses - misses0, M, 'those were all misses')
  const R = 2000
  const t2 = performance.now()
  for (let i = 0; i < R; i++) a.refresh()
  const refreshNs = (performance.now() - t2) * 1e6 / R
  t.comment(`authorize, cached: ${cachedNs.toFixed(0)} ns/call (${freshCallerNs.toFixed(0)} ns with a new Caller object per call); uncached with 1001 ACLs: ${missNs.toFixed(0)} ns/call; refresh (stat of acls.json, no change): ${refreshNs.toFixed(0)} ns`)
})

t.test('failed-authentication throttle', async t => {
  let now = 0
  const th = new AuthThrottle({ now: () => now, baseDelayMs: 100, maxDelayMs: 10_000, forgetAfterMs: 60_000, maxHosts: 3 })
  const delays: number[] = []
  for (let i = 0; i < 10; i++) { delays.push(th.delayFor('10.0.0.1')); th.recordFailure('10.0.0.1') }
  t.same(delays, [0, 0, 100, 200, 400, 800, 1600, 3200, 6400, 10_000], '0 for the first failures, then 100 ms doubling to the cap')
  for (let i = 0; i < 100; i++) th.recordFailure('10.0.0.1')
  t.equal(th.delayFor('10.0.0.1'), 10_000, 'stays at the cap however many failures')
  t.equal(th.delayFor('10.0.0.2'), 0, 'other addresses are not affected')
  t.equal(th.delayFor('::ffff:10.0.0.1'), 10_000, 'the IPv4-mapped form is the same peer')

  const th2 = new AuthThrottle({ now: () => now })
  for (let i = 0; i < 6; i++) th2.recordFailure('h')
  t.equal(th2.delayFor('h'), 1600)
  th2.recordSuccess('h')
  t.equal(th2.delayFor('h'), 200, 'a success halves the failure count (6 -> 3)')
  th2.recordSuccess('h')
  t.equal(th2.delayFor('h'), 0, '3 -> 1')
  th2.recordSuccess('h')
  th2.recordFailure('h')
  th2.recordFailure('h')
  t.equal(th2.delayFor('h'), 100, 'cleared by enough successes, then counted again')
  now += 59_999
  t.equal(th2.delayFor('h'), 100)
  now += 1
  t.equal(th2.delayFor('h'), 0, 'forgotten after a quiet period')
  t.equal(th2.stats.hosts, 0)

  for (const h of ['a', 'b', 'c', 'd']) th.recordFailure(h)
  t.equal(th.stats.hosts, 3, 'bounded to maxHosts')
  t.equal(th.stats.evicted, 2, 'the least recently touched went first (10.0.0.1, then a)')
  t.equal(th.delayFor('10.0.0.1'), 0)
  t.same({ failures: th.stats.failures, successes: th.stats.successes }, { failures: 114, successes: 0 })
  t.ok(th.stats.delayed > 0)
})

// ---- the wiring's pure pieces: the services' policy, MQTT reach, OAUTHBEARER, safe defaults ----

t.test('AclAccessPolicy: Kafka\'s alternatives, the internal caller, errors per resource', async t => {
  const { AclAccessPolicy } = await import('../../broker/security/access-policy.js')
  const { INTERNAL_CALLER } = await import('../../broker/security/principal.js')
  const a = open(t)
  a.addAcls([
    { principal: 'User:creator', resourceType: 'cluster', resourceName: 'kafka-cluster', operation: 'create' },
    { principal: 'User:writer', resourceType: 'topic', resourceName: 'orders', operation: 'write' },
    { principal: 'User:idem', resourceType: 'cluster', resourceName: 'kafka-cluster', operation: 'idempotent_write' },
  ])
  const p = new AclAccessPolicy(a)
  t.ok(p.allows(caller('creator'), 'create', 'topic', 'anything'), 'create on the cluster allows creating any topic')
  t.notOk(p.allows(caller('writer'), 'create', 'topic', 'anything'))
  t.ok(p.allows(caller('writer'), 'idempotent_write', 'cluster', 'kafka-cluster'), 'write on some topic allows an idempotent producer id')
  t.ok(p.allows(caller('idem'), 'idempotent_write', 'cluster', 'kafka-cluster'), 'as does idempotent_write on the cluster')
  t.notOk(p.allows(caller('creator'), 'idempotent_write', 'cluster', 'kafka-cluster'))
  t.ok(p.allows(INTERNAL_CALLER, 'delete', 'topic', '__consumer_offsets'), 'the broker itself is always allowed')
  throwsNamed(t, () => p.check(caller('writer'), 'read', 'topic', 'orders'), Error, /Not authorized to read topic orders/)
  throwsNamed(t, () => p.check(caller('writer'), 'read', 'group', 'g'), Error, /group g/)
  const before = a.stats.denied
  p.allows(caller('nobody'), 'read', 'topic', 'orders')
  t.equal(a.stats.denied, before, 'allows() (list filtering) is not counted as a denial')
  p.check(caller('creator'), 'create', 'topic', 'x')
  t.equal(a.stats.denied, before, 'a denial the cluster ACL lifts is not counted either')
})

t.test('MQTT: which log topics a filter reaches; filter overlap and cover', async t => {
  const { MqttAccess, filterCovers, filtersOverlap } = await import('../../broker/security/mqtt-access.js')
  const overlap: Array<[string, string, boolean]> = [
    ['a/b', 'a/b', true], ['a/+', 'a/b', true], ['a/#', 'a', true], ['#', 'x/y', true], ['a/b', 'a/c', false],
    ['a/+/c', 'a/b/+', true], ['a/b', 'a/b/c', false], ['+', 'a/b', false], ['a/+', '+/b', true], ['$share/g/a', 'a', false],
  ]
  for (const [x, y, want] of overlap) {
    t.equal(filtersOverlap(x, y), want, `${x} ∩ ${y}`)
    t.equal(filtersOverlap(y, x), want, `${y} ∩ ${x}`)
  }
  const cover: Array<[string, string, boolean]> = [
    ['a/#', 'a/b/c', true], ['a/#', 'a', true], ['a/+', 'a/b', true], ['a/+', 'a/#', false], ['a/b', 'a/+', false],
    ['#', '#', true], ['a/+/c', 'a/b/c', true], ['a/b', 'a/b/c', false], ['+/+', 'a/b', true], ['a', 'a/#', false],
  ]
  for (const [outer, inner, want] of cover) t.equal(filterCovers(outer, inner), want, `${outer} ⊇ ${inner}`)
  const m = new MqttAccess({ check () {}, allows: () => true }, [{ filter: 'orders/#', logTopic: 'orders' }, { filter: 'sensors/+/temp', logTopic: 'temps' }], 'mqtt')
  t.same(m.reachable('orders/eu/1'), ['orders'], 'inside a rule: only its log topic')
  t.same(m.reachable('orders/#'), ['orders'])
  t.same(m.reachable('sensors/#').sort(), ['mqtt', 'temps'], 'partly covered: the rule\'s and the default')
  t.same(m.reachable('#').sort(), ['mqtt', 'orders', 'temps'], '# reaches every log topic')
  t.same(m.reachable('$share/g/orders/+'), ['orders'], 'a shared subscription by its filter')
  t.same(m.reachable('other/x'), ['mqtt'])
})

t.test('OAUTHBEARER client messages (RFC 7628) are parsed strictly', async t => {
  const { bearerToken } = await import('../../broker/security/authenticator.js')
  const enc = (s: string): Uint8Array => new TextEncoder().encode(s)
  t.equal(bearerToken(enc('n,,\u0001auth=Bearer a.b.c\u0001\u0001')), 'a.b.c')
  t.equal(bearerToken(enc('n,a=alice,\u0001host=x\u0001auth=Bearer a.b-_c\u0001\u0001')), 'a.b-_c', 'authzid and other keys allowed')
  for (const bad of ['auth=Bearer a.b.c', 'n,,\u0001auth=Bearer a.b.c\u0001', 'n,,\u0001auth=Basic xyz\u0001\u0001', 'n,,\u0001\u0001', 'p=x,,\u0001auth=Bearer t\u0001\u0001',
    'n,,\u0001auth=Bearer a b\u0001\u0001', 'n,,\u0001auth=Bearer a\u0001auth=Bearer b\u0001\u0001', 'n,,\u0001garbage\u0001\u0001']) {
    t.equal(bearerToken(enc(bad)), null, JSON.stringify(bad))
  }
  t.equal(bearerToken(new Uint8Array([0xff, 0xfe])), null, 'not UTF-8')
})

t.test('safe defaults: loopback hosts, the exposure rule; the login redirect stays on the broker', async t => {
  const { checkExposure, isLoopbackHost } = await import('../../broker/security/broker-security.js')
  const { defaultConfig } = await import('../../broker/config/settings.js')
  const { safeNext } = await import('../../broker/protocols/http/login-page.js')
  for (const h of ['127.0.0.1', '127.1.2.3', '::1', 'localhost', '::ffff:127.0.0.1']) t.ok(isLoopbackHost(h), h)
  for (const h of ['0.0.0.0', '::', '10.0.0.5', '192.168.1.2', 'example.com', '128.0.0.1']) t.notOk(isLoopbackHost(h), h)
  const base = defaultConfig()
  t.doesNotThrow(() => checkExposure(base), 'the first run (loopback, no auth) is fine')
  t.throws(() => checkExposure({ ...base, host: '0.0.0.0' }), { code: 'INVALID_CONFIG', message: /--allow-anonymous/ })
  t.doesNotThrow(() => checkExposure({ ...base, host: '0.0.0.0', auth: true }))
  t.doesNotThrow(() => checkExposure({ ...base, host: '0.0.0.0', allowAnonymous: true }))
  for (const [next, want] of [['/console/', '/console/'], ['/?x=1', '/?x=1'], [null, '/'], ['//evil.example/', '/'], ['https://evil.example/', '/'], ['/\\evil', '/'], ['x', '/']] as Array<[string | null, string]>) {
    t.equal(safeNext(next), want, `next=${String(next)}`)
  }
})
