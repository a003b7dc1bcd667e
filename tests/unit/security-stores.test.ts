// The files of <dataDir>/security: the credential store (users.json) and the token keys
// (token-keys.json) with the token format. Proves: what is stored (never the password),
// 0600/0700 modes, atomic rewrite, reload when another process changes a file, concurrent
// writers from two processes losing nothing, named errors for hand-broken files, and the
// token rules (expiry, signature, malformed, unknown key, rotation and its horizon).
import t, { type Test } from 'tap'
import { spawn } from 'node:child_process'
import { createHmac } from 'node:crypto'
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { CredentialStore } from '../../broker/security/credentials.js'
import { TokenService } from '../../broker/security/tokens.js'
import { writeFileAtomic } from '../../broker/security/secure-file.js'
import {
  InvalidArgumentError, SecurityFileInvalidError, TokenExpiredError, TokenInvalidError, TokenKeyUnknownError,
  TokenSignatureInvalidError, UserAlreadyExistsError, UserNotFoundError,
} from '../../protocol/errors.js'

const DIST = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')

function tempDir (t: Test): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'spool-sec-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

/** Runs a program to completion (bounded; its process group is killed at teardown or if this process exits). */
async function runProcess (t: Test, cmd: string, args: string[]): Promise<{ code: number | null, stdout: string, stderr: string }> {
  const child = spawn(cmd, args, { cwd: DIST, detached: true, stdio: ['ignore', 'pipe', 'pipe'] })
  const kill = (): void => { try { process.kill(-child.pid!, 'SIGKILL') } catch { /* gone */ } }
  t.teardown(kill)
  process.once('exit', kill)
  let stdout = ''
  let stderr = ''
  child.stdout.setEncoding('utf8').on('data', (d: string) => { stdout += d })
  child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d })
  const timer = setTimeout(kill, 20_000)
  const exit = await new Promise<number | null>(resolve => child.once('exit', c => resolve(c)))
  clearTimeout(timer)
  process.off('exit', kill)
  return { code: exit, stdout, stderr }
}

/** Runs an ES module snippet in another Node process. */
async function otherProcess (t: Test, code: string): Promise<{ code: number | null, stdout: string, stderr: string }> {
  return await runProcess(t, process.execPath, ['--input-type=module', '-e', code])
}

const mod = (p: string): string => JSON.stringify(path.join(DIST, p))

t.test('credentials: add, list, verify, change, delete; the file holds keys, never the password', async t => {
  const dir = tempDir(t)
  let now = 1_700_000_000_000
  const store = CredentialStore.open({ dataDir: dir, now: () => now })
  t.equal(store.file, path.join(dir, 'security', 'users.json'))
  t.same(store.listUsers(), [], 'starts empty without a file')
  await store.addUser('alice', 'correct horse')
  now += 1000
  await store.addUser('bob', 'hunter2', { iterations: 8192, mechanisms: ['SCRAM-SHA-512'] })
  await t.rejects(store.addUser('alice', 'x'), UserAlreadyExistsError)
  await t.rejects(store.addUser('*', 'x'), InvalidArgumentError, 'the ACL wildcard is not a user name')
  await t.rejects(store.addUser('eve', ''), InvalidArgumentError, 'empty password')
  await t.rejects(store.addUser('eve', 'x', { iterations: 1000 }), /4096/, 'fewer than 4096 iterations refused')

  t.same(store.listUsers(), [
    { name: 'alice', mechanisms: [{ mechanism: 'SCRAM-SHA-256', iterations: 4096 }, { mechanism: 'SCRAM-SHA-512', iterations: 4096 }], createdAtMs: 1_700_000_000_000, updatedAtMs: 1_700_000_000_000 },
    { name: 'bob', mechanisms: [{ mechanism: 'SCRAM-SHA-512', iterations: 8192 }], createdAtMs: 1_700_000_001_000, updatedAtMs: 1_700_000_001_000 },
  ])
  t.ok(await store.verifyPassword('alice', 'correct horse'))
  t.notOk(await store.verifyPassword('alice', 'correct horse '))
  t.ok(await store.verifyPassword('bob', 'hunter2'), 'verified against the SHA-512 key when that is all there is')
  t.notOk(await store.verifyPassword('nobody', 'hunter2'))
  t.equal(store.getScramCredential('bob', 'SCRAM-SHA-256'), undefined)
  t.equal(store.getScramCredential('bob', 'SCRAM-SHA-512')?.iterations, 8192)

  const raw = readFileSync(store.file, 'utf8')
  t.notMatch(raw, /correct horse|hunter2/, 'no password in the file')
  t.notMatch(raw, /Y29ycmVjdCBob3JzZQ|aHVudGVyMg/, 'not even in base64')
  const json = JSON.parse(raw) as { version: number, users: Record<string, { scram: Record<string, { salt: string, storedKey: string, serverKey: string }> }> }
  t.equal(json.version, 1)
  t.equal(Buffer.from(json.users.alice!.scram['SCRAM-SHA-512']!.storedKey, 'base64').length, 64)
  t.equal(Buffer.from(json.users.alice!.scram['SCRAM-SHA-256']!.salt, 'base64').length, 32)
  t.not(json.users.alice!.scram['SCRAM-SHA-256']!.salt, json.users.alice!.scram['SCRAM-SHA-512']!.salt, 'a salt per mechanism')
  t.equal(statSync(store.file).mode & 0o777, 0o600, 'users.json is 0600')
  t.equal(statSync(path.dirname(store.file)).mode & 0o777, 0o700, 'security/ is 0700')
  t.same(readdirSync(path.dirname(store.file)), ['users.json'], 'no temp or lock file left behind')

  const before = store.getScramCredential('alice', 'SCRAM-SHA-256')!
  now += 1000
  await store.changePassword('alice', 'battery staple')
  t.notOk(await store.verifyPassword('alice', 'correct horse'), 'old password gone')
  t.ok(await store.verifyPassword('alice', 'battery staple'))
  t.notSame(store.getScramCredential('alice', 'SCRAM-SHA-256')!.salt, before.salt, 'a new salt with a new password')
  t.equal(store.listUsers()[0]!.updatedAtMs, 1_700_000_002_000)
  t.equal(store.listUsers()[0]!.createdAtMs, 1_700_000_000_000)
  await t.rejects(store.changePassword('nobody', 'x'), UserNotFoundError)
  store.deleteUser('bob')
  t.throws(() => store.deleteUser('bob'), UserNotFoundError)
  t.same(store.listUsers().map(u => u.name), ['alice'])

  const again = CredentialStore.open({ dataDir: dir })
  t.ok(await again.verifyPassword('alice', 'battery staple'), 'survives reopening')
  t.notOk(again.hasUser('bob'))
})

t.test('credentials: independent check of the stored keys with Python hashlib', async t => {
  const dir = tempDir(t)
  const store = CredentialStore.open({ dataDir: dir })
  await store.addUser('carol', 'pässwörd', { iterations: 5000 })
  const script = `
import json, sys, hashlib, hmac, base64
users = json.load(open(sys.argv[1]))['users']
for mech, c in users['carol']['scram'].items():
    h = {'SCRAM-SHA-256': 'sha256', 'SCRAM-SHA-512': 'sha512'}[mech]
    sp = hashlib.pbkdf2_hmac(h, sys.argv[2].encode(), base64.b64decode(c['salt']), c['iterations'])
    ck = hmac.new(sp, b'Client Key', h).digest()
    ok = hashlib.new(h, ck).digest() == base64.b64decode(c['storedKey']) and hmac.new(sp, b'Server Key', h).digest() == base64.b64decode(c['serverKey'])
    print(mech, c['iterations'], 'ok' if ok else 'MISMATCH')
`
  const run = async (pw: string): Promise<string> => {
    const r = await runProcess(t, '/usr/bin/python3', ['-c', script, store.file, pw])
    t.equal(r.code, 0, r.stderr)
    return r.stdout
  }
  t.equal(await run('pässwörd'), 'SCRAM-SHA-256 5000 ok\nSCRAM-SHA-512 5000 ok\n')
  t.equal(await run('password'), 'SCRAM-SHA-256 5000 MISMATCH\nSCRAM-SHA-512 5000 MISMATCH\n', 'and the check can fail')
})

t.test('credentials: another process adds a user while this one runs; concurrent writers lose nothing', async t => {
  const dir = tempDir(t)
  const store = CredentialStore.open({ dataDir: dir })
  await store.addUser('alice', 'a-password')
  t.notOk(await store.verifyPassword('dave', 'd-password'))
  const r = await otherProcess(t, `
    import { CredentialStore } from ${mod('broker/security/credentials.js')}
    const s = CredentialStore.open({ dataDir: ${JSON.stringify(dir)} })
    await s.addUser('dave', 'd-password')
    s.deleteUser('alice')
    console.log(JSON.stringify(s.listUsers().map(u => u.name)))`)
  t.equal(r.code, 0, r.stderr)
  t.equal(r.stdout.trim(), '["dave"]')
  t.ok(await store.verifyPassword('dave', 'd-password'), 'the running store sees the new user at its next lookup')
  t.notOk(await store.verifyPassword('alice', 'a-password'), 'and the deletion')
  t.ok(store.getScramCredential('dave', 'SCRAM-SHA-256'))

  // Two processes and this one add users at the same time: the lock makes each read-modify-write whole.
  const adder = (prefix: string): string => `
    import { CredentialStore } from ${mod('broker/security/credentials.js')}
    const s = CredentialStore.open({ dataDir: ${JSON.stringify(dir)} })
    for (let i = 0; i < 15; i++) await s.addUser('${prefix}' + i, 'pw' + i)`
  const results = await Promise.all([
    otherProcess(t, adder('p')), otherProcess(t, adder('q')),
    (async () => { for (let i = 0; i < 15; i++) await store.addUser(`r${i}`, `pw${i}`) })(),
  ])
  t.same(results.slice(0, 2).map(x => x && x.code), [0, 0], results.map(x => x?.stderr).join(''))
  const names = new Set(store.listUsers().map(u => u.name))
  t.equal(names.size, 46, 'dave + 45 added from three processes')
  for (const p of ['p', 'q', 'r']) for (let i = 0; i < 15; i++) t.ok(names.has(`${p}${i}`), `${p}${i}`)
})

t.test('credentials: hand-broken files give a named error, never a crash; a bad reload keeps the last good users', async t => {
  const dir = tempDir(t)
  const store = CredentialStore.open({ dataDir: dir })
  await store.addUser('alice', 'pw-alice')
  const good = readFileSync(store.file, 'utf8')
  const cases: Array<[string, string, RegExp]> = [
    ['truncated', good.slice(0, good.length / 2), /not valid JSON/],
    ['empty', '', /empty \(truncated\?\)/],
    ['not JSON at all', 'c2VjcmV0LWtleQ==', /not valid JSON: Unexpected token 'c'$/],
    ['not an object', '[]', /\(top level\): expected an object/],
    ['wrong version', '{"version":2,"users":{}}', /version: expected 1, got 2/],
    ['no users', '{"version":1}', /users: expected an object/],
    ['bad iterations', good.replace('"iterations": 4096', '"iterations": 12'), /users\["alice"\]\.scram\["SCRAM-SHA-256"\]\.iterations: expected an integer from 4096/],
    ['bad base64', good.replace(/"storedKey": "[^"]+"/, '"storedKey": "%%%"'), /storedKey: expected non-empty base64/],
    ['short key', good.replace(/"serverKey": "[^"]+"/, '"serverKey": "AAAA"'), /serverKey: expected 32 bytes, got 3/],
    ['unknown mechanism', good.replace('"SCRAM-SHA-512"', '"SCRAM-MD5"'), /unknown mechanism "SCRAM-MD5"/],
    ['bad user name', good.replace('"alice"', '"*"'), /users\["\*"\]: "\*" is the ACL wildcard/],
  ]
  for (const [what, contents, message] of cases) {
    const d = tempDir(t)
    const file = path.join(d, 'security', 'users.json')
    CredentialStore.open({ dataDir: d })
    writeFileSync(file, contents, { mode: 0o600 })
    try {
      CredentialStore.open({ dataDir: d })
      t.fail(`${what}: opened`)
    } catch (err) {
      t.ok(err instanceof SecurityFileInvalidError, `${what}: SecurityFileInvalidError`)
      t.match((err as Error).message, file, `${what}: names the file`)
      t.match((err as Error).message, message, `${what}: says what is wrong`)
      t.notMatch((err as Error).message, 'c2VjcmV0', `${what}: quotes no file contents`)
      t.equal((err as Error).cause, undefined, `${what}: carries no parser error that could quote them`)
    }
  }
  // While running: a broken file is reported and ignored; the users stay; a fixed file is taken.
  writeFileSync(store.file, good.slice(0, 20))
  t.ok(await store.verifyPassword('alice', 'pw-alice'), 'still authenticates with the last good contents')
  t.match(store.lastError?.message ?? '', /not valid JSON/)
  await t.rejects(store.addUser('bob', 'x'), SecurityFileInvalidError, 'no write over a broken file')
  writeFileAtomic(store.file, good)
  t.ok(store.hasUser('alice'))
  t.equal(store.lastError, null, 'the repaired file is loaded')
})

t.test('tokens: issue and verify; the claims and header as documented; checked by Python hmac', async t => {
  const dir = tempDir(t)
  let now = 1_800_000_000_000
  const tokens = TokenService.open({ dataDir: dir, now: () => now })
  const issued = await tokens.issue('alice', { ttlMs: 60_000, topicPrefix: 'orders.' })
  t.equal(issued.expiresAtMs, 1_800_000_060_000)
  const [h, p, s] = issued.token.split('.') as [string, string, string]
  t.same(JSON.parse(Buffer.from(h, 'base64url').toString()), { alg: 'HS256', typ: 'JWT', kid: issued.kid })
  t.same(JSON.parse(Buffer.from(p, 'base64url').toString()), { iss: 'spool', sub: 'alice', iat: 1_800_000_000, exp: 1_800_000_060, jti: issued.tokenId, scope: { topicPrefix: 'orders.' } })
  t.notMatch(issued.token, /=/, 'base64url without padding')
  const v = tokens.verify(issued.token)
  t.same(v.principal, { type: 'User', name: 'alice', method: 'token', scope: { topicPrefix: 'orders.' } })
  t.same(v.scope, { topicPrefix: 'orders.' })
  t.equal(v.expiresAtMs, issued.expiresAtMs)
  t.equal(v.kid, issued.kid)
  t.equal(tokens.verify((await tokens.issue('bob')).token).scope, null, 'unscoped by default')
  t.equal(tokens.verify((await tokens.issue('bob')).token).expiresAtMs, now + 15 * 60_000, 'default ttl 15 minutes')
  await t.rejects(tokens.issue('bob', { ttlMs: 25 * 3600_000 }), InvalidArgumentError, 'longer than maxTtlMs refused')
  await t.rejects(tokens.issue(''), InvalidArgumentError)

  // Independent verification: HMAC-SHA256 over header.payload with the secret from token-keys.json.
  const keys = JSON.parse(readFileSync(tokens.file, 'utf8')) as { keys: Array<{ kid: string, secret: string }> }
  t.equal(statSync(tokens.file).mode & 0o777, 0o600, 'token-keys.json is 0600')
  const secret = keys.keys.find(k => k.kid === issued.kid)!.secret
  const py = await runProcess(t, '/usr/bin/python3', ['-c', `
import sys, hmac, hashlib, base64
h, p, s = sys.argv[2].split('.')
mac = hmac.new(base64.b64decode(sys.argv[1]), (h + '.' + p).encode(), hashlib.sha256).digest()
print('valid' if hmac.compare_digest(base64.urlsafe_b64encode(mac).rstrip(b'=').decode(), s) else 'invalid')
`, secret, issued.token])
  const out = py.stdout
  t.equal(out.trim(), 'valid', 'Python verifies the signature')
  t.equal(createHmac('sha256', Buffer.from(secret, 'base64')).update(`${h}.${p}`).digest('base64url'), s)

  // Expiry, with the clock tolerance (5 s by default).
  now = issued.expiresAtMs + 4000
  t.ok(tokens.verify(issued.token), 'within the tolerance')
  now = issued.expiresAtMs + 5000
  t.throws(() => tokens.verify(issued.token), TokenExpiredError)
  try { tokens.verify(issued.token) } catch (err) { t.equal((err as TokenExpiredError).errorCode, 1300) }
})

t.test('tokens: tampering, malformed input and unknown keys are typed errors', async t => {
  const dir = tempDir(t)
  let now = 1_800_000_000_000
  const tokens = TokenService.open({ dataDir: dir, now: () => now })
  const { token } = await tokens.issue('alice', { topicPrefix: 'a.' })
  const [h, p, s] = token.split('.') as [string, string, string]
  const enc = (o: unknown): string => Buffer.from(JSON.stringify(o)).toString('base64url')
  const payload = JSON.parse(Buffer.from(p, 'base64url').toString()) as Record<string, unknown>
  const header = JSON.parse(Buffer.from(h, 'base64url').toString()) as Record<string, unknown>
  const cases: Array<[string, string, new (...a: never[]) => Error]> = [
    ['payload changed (wider scope)', `${h}.${enc({ ...payload, scope: { topicPrefix: '' } })}.${s}`, TokenSignatureInvalidError],
    ['payload changed (subject)', `${h}.${enc({ ...payload, sub: 'admin' })}.${s}`, TokenSignatureInvalidError],
    ['signature changed', `${h}.${p}.${s.slice(0, -2)}${s.endsWith('AA') ? 'BA' : 'AA'}`, TokenSignatureInvalidError],
    ['signature removed', `${h}.${p}.`, TokenSignatureInvalidError],
    ['alg none', `${enc({ ...header, alg: 'none' })}.${p}.`, TokenInvalidError],
    ['alg HS512', `${enc({ ...header, alg: 'HS512' })}.${p}.${s}`, TokenInvalidError],
    ['extra header field', `${enc({ ...header, jku: 'http://x' })}.${p}.${s}`, TokenInvalidError],
    ['no kid', `${enc({ alg: 'HS256', typ: 'JWT' })}.${p}.${s}`, TokenInvalidError],
    ['unknown kid', `${enc({ ...header, kid: 'nope' })}.${p}.${s}`, TokenKeyUnknownError],
    ['two parts', `${h}.${p}`, TokenInvalidError],
    ['four parts', `${token}.x`, TokenInvalidError],
    ['header not base64url', `${h}+.${p}.${s}`, TokenInvalidError],
    ['header not JSON', `${Buffer.from('{nope').toString('base64url')}.${p}.${s}`, TokenInvalidError],
    ['empty', '', TokenInvalidError],
    ['huge', 'a'.repeat(10_000), TokenInvalidError],
  ]
  for (const [what, bad, cls] of cases) t.throws(() => tokens.verify(bad), cls, what)

  // A well-signed token with bad claims is still refused (a key holder's mistake, not trusted blindly).
  const secret = Buffer.from((JSON.parse(readFileSync(tokens.file, 'utf8')) as { keys: Array<{ secret: string }> }).keys[0]!.secret, 'base64')
  const sign = (claims: unknown): string => {
    const body = enc(claims)
    return `${h}.${body}.${createHmac('sha256', secret).update(`${h}.${body}`).digest('base64url')}`
  }
  t.ok(tokens.verify(sign(payload)), 'the re-signing helper itself works')
  t.throws(() => tokens.verify(sign({ ...payload, sub: '' })), TokenInvalidError, 'empty subject')
  t.throws(() => tokens.verify(sign({ ...payload, exp: 'soon' })), TokenInvalidError, 'exp not a number')
  t.throws(() => tokens.verify(sign({ ...payload, scope: { topicPrefix: 7 } })), TokenInvalidError, 'bad scope')
  t.throws(() => tokens.verify(sign({ ...payload, iat: Math.floor(now / 1000) + 60 })), /issued in the future/)
  now += 1
})

t.test('tokens: rotation keeps old keys verifying until their tokens cannot be valid, then drops them', async t => {
  const dir = tempDir(t)
  let now = 1_800_000_000_000
  const hour = 3600_000
  const tokens = TokenService.open({ dataDir: dir, now: () => now, maxTtlMs: 2 * hour, rotationIntervalMs: 24 * hour })
  const first = await tokens.issue('alice', { ttlMs: 2 * hour })
  now += hour
  const kid2 = await tokens.rotate()
  t.not(kid2, first.kid)
  const second = await tokens.issue('alice', { ttlMs: 60_000 })
  t.equal(second.kid, kid2, 'the new key signs')
  t.ok(tokens.verify(first.token), 'a token of the retired key still verifies')
  t.same(tokens.listKeys().map(k => [k.kid, k.retiredAtMs, k.verifiesUntilMs]), [
    [first.kid, now, now + 2 * hour + 5000], [kid2, null, null],
  ])
  t.notMatch(JSON.stringify(tokens.listKeys()), /secret/, 'listKeys has no secrets')

  // Another process (the CLI) rotates: this one learns the new kid when it meets a token signed with it.
  const r = await otherProcess(t, `
    import { TokenService } from ${mod('broker/security/tokens.js')}
    const s = TokenService.open({ dataDir: ${JSON.stringify(dir)}, now: () => ${now}, maxTtlMs: ${2 * hour} })
    await s.rotate()
    console.log((await s.issue('carol', { ttlMs: 60000 })).token)`)
  t.equal(r.code, 0, r.stderr)
  const fromCli = tokens.verify(r.stdout.trim())
  t.equal(fromCli.principal.name, 'carol')
  t.not(fromCli.kid, kid2)

  // Past the horizon of the first key: its tokens are expired anyway; a rotation deletes it.
  now += 2 * hour + 5001
  t.throws(() => tokens.verify(first.token), TokenKeyUnknownError, 'the key is past its horizon')
  await tokens.rotate()
  const left = tokens.listKeys().map(k => k.kid)
  t.notOk(left.includes(first.kid) || left.includes(kid2), 'keys retired more than the horizon ago are pruned at the next rotation')
  t.equal(left[0], fromCli.kid, 'the key retired just now stays')
  t.equal(left.length, 2, 'plus the new one')

  // Rotation on schedule: issuing with a signing key older than rotationIntervalMs makes a new key.
  const kids = tokens.listKeys().map(k => k.kid)
  now += 24 * hour
  const late = await tokens.issue('alice', { ttlMs: 60_000 })
  t.notOk(kids.includes(late.kid), 'a new key after rotationIntervalMs')
  t.ok(tokens.verify(late.token))

  // Revocation: every key goes, every token issued so far with it.
  const before = await tokens.issue('alice', { ttlMs: 60_000 })
  await tokens.rotate({ revoke: true })
  t.throws(() => tokens.verify(before.token), TokenKeyUnknownError, 'revoked')
  t.throws(() => tokens.verify(late.token), TokenKeyUnknownError, 'revoked too')
  t.equal(tokens.listKeys().length, 1, 'only the new key is left')
  t.ok(tokens.verify((await tokens.issue('alice')).token), 'new tokens work')

  // A broken key file: named error at open.
  writeFileSync(tokens.file, '{"version":1,"keys":[{"kid":"a b","secret":"AAAA","createdAtMs":1}]}')
  t.throws(() => TokenService.open({ dataDir: dir }), /token-keys\.json: keys\[0\]\.kid: expected 1-64 characters/)
  writeFileSync(tokens.file, '{"version":1,"keys":[{"kid":"ab","secret":"AAAA","createdAtMs":1}]}')
  t.throws(() => TokenService.open({ dataDir: dir }), /keys\[0\]\.secret: expected base64 of at least 32 bytes/)
})
