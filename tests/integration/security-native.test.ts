// Authentication and authorization on the native protocol with --auth, against a real
// broker on 127.0.0.1 with the SDK, a raw socket client and the `spool` CLI as child
// processes. Proves: an unauthenticated connection is served nothing but ApiVersions and
// SASL and its frames are size-limited; wrong passwords and unknown users fail alike;
// SCRAM-SHA-256/512 work and PLAIN needs TLS unless allowed; READ without WRITE consumes
// but cannot produce; a prefixed ACL covers `logs.app` and not `logsx`; deny beats allow;
// a group ACL keeps a member out of another team's group; metadata and lists show only what
// the principal may describe; idempotent producers need write somewhere; failed logins are
// throttled and counted; the CLI authenticates from a password file; the safe-default
// checks refuse to expose an unauthenticated broker; and no password, proof or token is in
// any log line of this file.
import t from 'tap'
import { readFileSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { Broker } from '../../broker/broker.js'
import { Client, text, utf8 } from '../../client/index.js'
import { ERROR_TABLE, type ErrorName } from '../../protocol/errors.js'
import { runCli } from '../helpers/client-cli.js'
import { spawnBroker } from '../helpers/processes.js'
import { RawClient } from '../helpers/raw-client.js'
import { LogAudit, seedSecurity, startSecureBroker, tempDir } from '../helpers/security.js'

const code = (name: ErrorName): number => ERROR_TABLE[name].code
const audit = new LogAudit()
const PASSWORDS = { admin: 'admin-Secret-1', alice: 'alice-Secret-2', bob: 'bob-Secret-3', carol: 'carol-Secret-4' }
audit.secret(...Object.values(PASSWORDS), 'wrong-Password-9')

const ACLS = [
  { principal: 'User:alice', resourceType: 'topic' as const, resourceName: 'orders', operation: 'read' as const },
  { principal: 'User:alice', resourceType: 'group' as const, resourceName: 'team-a.', patternType: 'prefixed' as const, operation: 'read' as const },
  { principal: 'User:bob', resourceType: 'topic' as const, resourceName: 'logs.', patternType: 'prefixed' as const, operation: 'all' as const },
  { principal: 'User:bob', resourceType: 'topic' as const, resourceName: 'logs.secret', operation: 'read' as const, permission: 'deny' as const },
  { principal: 'User:*', resourceType: 'topic' as const, resourceName: 'public', operation: 'describe' as const },
]

async function broker (t: Parameters<typeof startSecureBroker>[0], extra: Parameters<typeof startSecureBroker>[1] = {}): Promise<Broker> {
  return startSecureBroker(t, { users: PASSWORDS, acls: ACLS, superUsers: ['User:admin'], logger: audit.logger(), ...extra })
}

function client (t: { teardown: (fn: () => unknown) => void }, b: Broker, user: keyof typeof PASSWORDS | null, extra: ConstructorParameters<typeof Client>[0] = {}): Client {
  const c = new Client({
    brokers: [`127.0.0.1:${b.ports.native}`], retry: { retries: 1, initialRetryTimeMs: 10, maxRetryTimeMs: 20 },
    ...(user === null ? {} : { sasl: { username: user, password: PASSWORDS[user] } }),
    ...extra,
  })
  t.teardown(() => c.close())
  return c
}

async function readAll (c: Client, topic: string, n: number): Promise<string[]> {
  const consumer = c.consumer({ fromBeginning: true })
  await consumer.assign({ topic })
  const out: string[] = []
  for await (const m of consumer) {
    out.push(text(m.value!))
    if (out.length >= n) break
  }
  await consumer.close()
  return out
}

t.test('unauthenticated: only ApiVersions and SASL, small frames, then AUTHENTICATION_REQUIRED', async t => {
  const b = await broker(t)
  const raw = await RawClient.connect(b.ports.native!)
  t.teardown(() => raw.close())
  const versions = await raw.call('ApiVersions', {})
  t.ok(versions.apis.some(a => a.name === 'SaslHandshake'), 'ApiVersions is served and lists SaslHandshake')
  raw.send('Metadata', { topics: null, allowAutoCreate: false })
  await raw.until(() => raw.closed)
  const notice = raw.responses.find(r => r.correlationId === 0)
  t.equal(notice?.body.errorCode, code('AUTHENTICATION_REQUIRED'), 'a Metadata request closes the connection with AUTHENTICATION_REQUIRED')

  const big = await RawClient.connect(b.ports.native!)
  t.teardown(() => big.close())
  big.send('SaslAuthenticate', { authBytes: new Uint8Array(20_000) })
  await big.until(() => big.closed)
  t.equal(big.responses.find(r => r.correlationId === 0)?.body.errorCode, code('FRAME_TOO_LARGE'), 'a 20 KB frame before authentication is refused')

  const sdk = client(t, b, null)
  await t.rejects(sdk.admin().listTopics(), { code: 'AUTHENTICATION_REQUIRED' }, 'the SDK without credentials gets the named error')
})

t.test('SCRAM-SHA-256/512 authenticate; wrong and unknown users fail alike; PLAIN needs TLS', async t => {
  const b = await broker(t)
  for (const mechanism of ['SCRAM-SHA-256', 'SCRAM-SHA-512'] as const) {
    const c = client(t, b, null, { sasl: { mechanism, username: 'admin', password: PASSWORDS.admin } })
    await c.admin().createTopics([{ topic: `m-${mechanism.toLowerCase()}`, partitions: 1 }])
    t.ok((await c.admin().listTopics()).includes(`m-${mechanism.toLowerCase()}`), `${mechanism}: the super user works`)
  }
  const wrong = client(t, b, null, { sasl: { username: 'alice', password: 'wrong-Password-9' } })
  await t.rejects(wrong.admin().listTopics(), { code: 'SASL_AUTHENTICATION_FAILED' }, 'a wrong password')
  const nobody = client(t, b, null, { sasl: { username: 'nobody', password: 'wrong-Password-9' } })
  await t.rejects(nobody.admin().listTopics(), { code: 'SASL_AUTHENTICATION_FAILED', message: /invalid user name or password/ }, 'an unknown user fails the same way')
  const plain = client(t, b, null, { sasl: { mechanism: 'PLAIN', username: 'alice', password: PASSWORDS.alice } })
  await t.rejects(plain.admin().listTopics(), { code: 'UNSUPPORTED_SASL_MECHANISM', message: /needs a TLS connection/ }, 'PLAIN without TLS is refused')
  t.match(audit.lines.join('\n'), /"reason":"unknown-user"/, 'the log says which it was')

  const lax = await broker(t, { saslPlainWithoutTls: true })
  const plainOk = client(t, lax, null, { sasl: { mechanism: 'PLAIN', username: 'admin', password: PASSWORDS.admin } })
  t.same(await plainOk.admin().listTopics(), [], 'PLAIN works when explicitly allowed without TLS')
})

t.test('READ without WRITE consumes but cannot produce; prefixed ACLs; deny beats allow; describe filtering', async t => {
  const b = await broker(t)
  const admin = client(t, b, 'admin')
  await admin.admin().createTopics([{ topic: 'orders', partitions: 1 }, { topic: 'logs.app', partitions: 1 }, { topic: 'logsx', partitions: 1 }, { topic: 'logs.secret', partitions: 1 }, { topic: 'public', partitions: 1 }])
  const p = admin.producer()
  await p.send({ topic: 'orders', messages: [{ value: utf8('o1') }, { value: utf8('o2') }] })
  await p.send({ topic: 'logs.secret', messages: [{ value: utf8('s1') }] })
  await p.close()

  const alice = client(t, b, 'alice')
  t.same(await readAll(alice, 'orders', 2), ['o1', 'o2'], 'alice (read on orders) consumes')
  await t.rejects(alice.producer({ idempotent: false }).send({ topic: 'orders', messages: [{ value: utf8('nope') }] }), { code: 'TOPIC_AUTHORIZATION_FAILED' }, 'but may not produce')
  await t.rejects(alice.producer().send({ topic: 'orders', messages: [{ value: utf8('nope') }] }), { code: 'CLUSTER_AUTHORIZATION_FAILED' }, 'nor get an idempotent producer id (no write anywhere)')
  t.same((await alice.admin().listTopics()).sort(), ['orders', 'public'], 'alice lists only what she may describe')
  await t.rejects(alice.admin().describeTopics(['logs.app']), { code: 'TOPIC_AUTHORIZATION_FAILED' }, 'and cannot describe the others')
  await t.rejects(alice.admin().createTopics([{ topic: 'alice-new' }]), { code: 'TOPIC_AUTHORIZATION_FAILED' })
  await t.rejects(alice.admin().deleteTopics(['orders']), { code: 'TOPIC_AUTHORIZATION_FAILED' })

  const bob = client(t, b, 'bob')
  const bp = bob.producer()
  t.same((await bp.send({ topic: 'logs.app', messages: [{ value: utf8('l1') }] })).map(m => m.offset), [0], 'bob (all on prefix logs.) produces to logs.app with an idempotent producer')
  await t.rejects(bp.send({ topic: 'logsx', messages: [{ value: utf8('x') }] }), { code: 'TOPIC_AUTHORIZATION_FAILED' }, 'the prefix logs. does not cover logsx')
  await bp.close()
  t.same(await readAll(bob, 'logs.app', 1), ['l1'])
  const denied = bob.consumer({ fromBeginning: true })
  await t.rejects(denied.assign({ topic: 'logs.secret' }).then(async () => { for await (const _ of denied) break }), { code: 'TOPIC_AUTHORIZATION_FAILED' }, 'deny read on logs.secret beats allow all on logs.')
  await denied.close().catch(() => {})
  t.same((await bob.admin().listTopics()).sort(), ['logs.app', 'logs.secret', 'public'], 'a deny of read leaves describe (denies are not implied)')
  t.same((await admin.admin().listTopics()).sort(), ['logs.app', 'logs.secret', 'logsx', 'orders', 'public'], 'the super user sees everything')
})

t.test('a group ACL keeps a member out of another team\'s group; group lists are filtered', async t => {
  const b = await broker(t)
  const admin = client(t, b, 'admin')
  await admin.admin().createTopics([{ topic: 'orders', partitions: 1 }])
  await admin.producer().send({ topic: 'orders', messages: [{ value: utf8('g1') }] })
  const alice = client(t, b, 'alice')
  const mine = alice.consumer({ groupId: 'team-a.billing', fromBeginning: true })
  await mine.subscribe({ topics: ['orders'] })
  for await (const m of mine) { t.equal(text(m.value!), 'g1', 'alice reads in her team\'s group'); break }
  await mine.close()
  const theirs = alice.consumer({ groupId: 'team-b.billing', fromBeginning: true })
  await t.rejects((async () => { await theirs.subscribe({ topics: ['orders'] }); for await (const _ of theirs) break })(), { code: 'GROUP_AUTHORIZATION_FAILED' }, 'but not in team b\'s')
  await theirs.close().catch(() => {})
  const other = admin.consumer({ groupId: 'team-b.billing', fromBeginning: true })
  await other.subscribe({ topics: ['orders'] })
  for await (const _ of other) break
  await other.close()
  t.same((await alice.admin().listGroups()).map(g => g.groupId), ['team-a.billing'], 'alice lists only her groups')
  t.same((await admin.admin().listGroups()).map(g => g.groupId).sort(), ['team-a.billing', 'team-b.billing'])
  await t.rejects(alice.admin().describeGroups(['team-b.billing']), { code: 'GROUP_AUTHORIZATION_FAILED' })
  await t.rejects(alice.admin().deleteGroups(['team-a.billing']), { code: 'GROUP_AUTHORIZATION_FAILED' }, 'read on a group does not allow deleting it')
})

t.test('failed logins are throttled per address and counted; denials are counted', async t => {
  const b = await broker(t)
  for (let i = 0; i < 4; i++) {
    const c = client(t, b, null, { sasl: { username: 'carol', password: 'wrong-Password-9' } })
    await t.rejects(c.admin().listTopics(), { code: 'SASL_AUTHENTICATION_FAILED' })
  }
  t.equal(b.security.throttle.stats.failures, 4, 'four failures recorded')
  t.ok(b.security.throttle.stats.delayed >= 2, 'attempts after the first failures were delayed')
  const carol = client(t, b, 'carol')
  t.same(await carol.admin().listTopics(), [], 'the right password still works')
  await t.rejects(carol.admin().createTopics([{ topic: 'carols' }]), { code: 'TOPIC_AUTHORIZATION_FAILED' })
  const admin = client(t, b, 'admin')
  t.ok(admin)
  const lines = audit.lines.filter(l => l.includes('"authorization denied"'))
  t.ok(lines.some(l => l.includes('"principal":"User:carol"') && l.includes('"operation":"create"') && l.includes('"resourceName":"carols"') && l.includes('"host":"127.0.0.1"')), 'the denial is logged with principal, operation, resource and peer')
  const metrics = b.metrics.registry
  const text = await metrics.metrics()
  t.match(text, /spool_authentications_total\{protocol="native",mechanism="SCRAM-SHA-256",result="failure"\} 4/, 'failures on /metrics')
  t.match(text, /spool_authentication_throttled_total [1-9]/)
  t.match(text, /spool_authorization_denied_total\{resource_type="topic"\} [1-9]/, 'denials on /metrics')
})

t.test('the CLI authenticates with --user and --password-file (or SPOOL_PASSWORD)', async t => {
  const b = await broker(t)
  const dir = tempDir(t)
  const pw = path.join(dir, 'admin.pw')
  writeFileSync(pw, `${PASSWORDS.admin}\n`, { mode: 0o600 })
  const address = `127.0.0.1:${b.ports.native}`
  const made = await runCli(t, ['--broker', address, '--user', 'admin', '--password-file', pw, 'topic', 'create', 'cli-topic'])
  t.equal(made.code, 0, made.stderr)
  const listed = await runCli(t, ['topic', 'list', '--format', 'json', '--broker', address], { env: { SPOOL_USER: 'admin', SPOOL_PASSWORD: PASSWORDS.admin } })
  t.equal(listed.code, 0, listed.stderr)
  t.match(listed.stdout, /"topic":"cli-topic"/)
  const anonymous = await runCli(t, ['--broker', address, 'topic', 'list'])
  t.equal(anonymous.code, 1)
  t.match(anonymous.stderr, /^error: .*requires authentication/m, 'without --user: one line naming the problem')
  writeFileSync(pw, 'wrong-Password-9\n')
  const wrong = await runCli(t, ['--broker', address, '--user', 'admin', '--password-file', pw, 'topic', 'list'])
  t.equal(wrong.code, 1)
  t.match(wrong.stderr, /^error: Authentication failed/m)
})

t.test('spool user add/list/passwd/delete edit the store a running broker uses', async t => {
  const b = await broker(t)
  const dataDir = b.config.dataDir
  const add = await runCli(t, ['user', 'add', 'dave', '--data-dir', dataDir], { input: 'dave-Secret-5\n' })
  audit.secret('dave-Secret-5', 'dave-Secret-6')
  t.equal(add.code, 0, add.stderr)
  const dave = client(t, b, null, { sasl: { username: 'dave', password: 'dave-Secret-5' } })
  t.same(await dave.admin().listTopics(), [], 'a user added while the broker runs can log in')
  const again = await runCli(t, ['user', 'add', 'dave', '--data-dir', dataDir], { input: 'x-Secret-77\n' })
  t.equal(again.code, 1)
  t.match(again.stderr, /already exists/)
  const listed = await runCli(t, ['user', 'list', '--format', 'json', '--data-dir', dataDir])
  t.same((JSON.parse(listed.stdout) as Array<{ user: string }>).map(u => u.user), ['admin', 'alice', 'bob', 'carol', 'dave'])
  t.notMatch(listed.stdout, /Secret/, 'no secret in the listing')
  const passwd = await runCli(t, ['user', 'passwd', 'dave', '--data-dir', dataDir], { input: 'dave-Secret-6\n' })
  t.equal(passwd.code, 0, passwd.stderr)
  const old = client(t, b, null, { sasl: { username: 'dave', password: 'dave-Secret-5' } })
  await t.rejects(old.admin().listTopics(), { code: 'SASL_AUTHENTICATION_FAILED' }, 'the old password stops working')
  const fresh = client(t, b, null, { sasl: { username: 'dave', password: 'dave-Secret-6' } })
  t.same(await fresh.admin().listTopics(), [])
  const del = await runCli(t, ['user', 'delete', 'dave', '--data-dir', dataDir])
  t.equal(del.code, 0, del.stderr)
  const gone = client(t, b, null, { sasl: { username: 'dave', password: 'dave-Secret-6' } })
  await t.rejects(gone.admin().listTopics(), { code: 'SASL_AUTHENTICATION_FAILED' }, 'a deleted user cannot log in')
  const empty = await runCli(t, ['user', 'add', 'erin', '--data-dir', dataDir], { input: '' })
  t.equal(empty.code, 1)
  t.match(empty.stderr, /no password on stdin/)
})

t.test('safe defaults: no unauthenticated broker on a non-loopback address; --auth needs a user', async t => {
  const dir = tempDir(t)
  await t.rejects(Broker.start({ dataDir: dir, host: '0.0.0.0', port: 0, httpPort: null, mqttPort: null, kafkaPort: null, logLevel: 'silent' }),
    { code: 'INVALID_CONFIG', message: /--host 0\.0\.0\.0 would let other machines connect.*spool user add admin.*--auth.*--allow-anonymous/ })
  await t.rejects(Broker.start({ dataDir: dir, host: '127.0.0.1', port: 0, httpPort: null, mqttPort: null, kafkaPort: null, logLevel: 'silent', auth: true }),
    { code: 'INVALID_CONFIG', message: /no user exists/ }, '--auth with no user at all is refused too')
  const cli = await runCli(t, ['broker', 'start', '--data-dir', dir, '--host', '0.0.0.0', '--port', '0', '--http-port', 'off', '--mqtt-port', 'off', '--kafka-port', 'off'])
  t.equal(cli.code, 1, 'spool broker start exits 1')
  t.match(cli.stderr, /^error: broker did not start: --host 0\.0\.0\.0 would let other machines connect/m)
  t.match(cli.stderr, /spool user add admin --data-dir/, 'and says how to set up a user')
  t.notMatch(cli.stdout, /listening/, 'nothing listened')
  // The loopback first run is unchanged: anonymous, everything allowed.
  const open = await Broker.start({ dataDir: dir, host: '127.0.0.1', port: 0, httpPort: null, mqttPort: null, kafkaPort: null, logLevel: 'silent' })
  t.teardown(() => open.close())
  const c = new Client({ brokers: [`127.0.0.1:${open.ports.native}`] })
  t.teardown(() => c.close())
  await c.admin().createTopics([{ topic: 'first-run' }])
  t.same(await c.admin().listTopics(), ['first-run'])
  await seedSecurity(tempDir(t), {})
})

t.test('the container\'s command (--auth --bootstrap-admin admin): a generated password printed once, or SPOOL_ADMIN_PASSWORD', async t => {
  const compose = readFileSync(new URL('../../../docker-compose.yml', import.meta.url), 'utf8')
  const dockerfile = readFileSync(new URL('../../../Dockerfile', import.meta.url), 'utf8')
  const command = JSON.parse(/^ {4}command: (\[.*\])$/m.exec(compose)![1]!) as string[]
  t.same(JSON.parse(/^CMD (\[.*\])$/m.exec(dockerfile)![1]!), command, 'the image and compose run the same command')
  t.ok(command.includes('--auth') && command.includes('--host'), 'with --auth, since it binds every interface')
  t.match(compose, /SPOOL_ADMIN_PASSWORD: "\$\{SPOOL_ADMIN_PASSWORD:-\}"/, 'the password may come from the environment or a .env file')
  // The same flags here, but on loopback: a test never listens on another address.
  const flags = command.slice(2).map(a => a === '0.0.0.0' ? '127.0.0.1' : a).map(a => a === '/data' ? tempDir(t) : a)
  const dataDir = flags[flags.indexOf('--data-dir') + 1]!
  const first = spawnBroker(t, dataDir, [...flags.filter(f => f !== dataDir && f !== '--data-dir'), '--mqtt-port', 'off'])
  const started = await first
  const password = /^ {6}(\S+)$/m.exec(started.stderr())?.[1]
  t.ok(password !== undefined && password.length >= 20, 'a generated password is printed on stderr')
  audit.secret(password!)
  t.notMatch(started.stdout(), new RegExp(password!), 'and is not in the log (stdout)')
  const admin = new Client({ brokers: [`127.0.0.1:${started.ports.native}`], sasl: { username: 'admin', password: password! } })
  t.teardown(() => admin.close())
  await admin.admin().createTopics([{ topic: 'from-admin' }])
  t.same(await admin.admin().listTopics(), ['from-admin'], 'the admin is a super user')
  await admin.close()
  started.child.kill('SIGTERM')
  t.equal(await started.exited, 0)
  const second = await spawnBroker(t, dataDir, [...flags.filter(f => f !== dataDir && f !== '--data-dir'), '--mqtt-port', 'off'])
  t.notMatch(second.stderr(), /generated password/, 'the next start prints nothing: the user exists')
  second.child.kill('SIGTERM')
  await second.exited
  const given = tempDir(t)
  const third = await spawnBroker(t, given, ['--auth', '--bootstrap-admin', 'admin', '--mqtt-port', 'off'], { SPOOL_ADMIN_PASSWORD: 'given-Secret-8' })
  audit.secret('given-Secret-8')
  t.notMatch(third.stderr(), /generated password/)
  const byEnv = new Client({ brokers: [`127.0.0.1:${third.ports.native}`], sasl: { username: 'admin', password: 'given-Secret-8' } })
  t.teardown(() => byEnv.close())
  t.same(await byEnv.admin().listTopics(), [], 'SPOOL_ADMIN_PASSWORD is the admin\'s password')
  await byEnv.close()
  third.child.kill('SIGTERM')
  await third.exited
  audit.lines.push(started.stdout(), second.stdout(), third.stdout())
})

t.test('no password, SCRAM proof or token in any log line of this file', async t => {
  t.ok(audit.lines.length > 50, `${audit.lines.length} log lines were written`)
  t.ok(audit.lines.some(l => l.includes('"authentication failed"')), 'failures were logged')
  t.same(audit.leaks(), [], 'no secret appears')
  t.notOk(audit.lines.some(l => /[",]p=[A-Za-z0-9+/]{20,}/.test(l) || /auth=Bearer/.test(l)), 'no SCRAM client-final or bearer message appears')
})
