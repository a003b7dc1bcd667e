// Security in cluster mode, the pure parts: the inter-broker settings (flags, environment,
// config file; --auth in cluster mode without them is an InvalidConfigError naming the
// missing flag), the inter-broker password file, and the codecs of the etcd documents that
// hold users and ACLs (a document that does not parse is refused with a named error).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import t, { type Test } from 'tap'
import { ClusterKeys } from '../../broker/cluster/keys.js'
import { loadInterBrokerCredentials } from '../../broker/cluster/peer-auth.js'
import { readConfigFile, resolveConfig } from '../../broker/config/settings.js'
import { validateAclEntry } from '../../broker/security/acl.js'
import { aclDocumentKey, parseAclDocument } from '../../broker/security/cluster-acls.js'
import { decodeUserDocument, encodeUserDocument, parseUserDocument } from '../../broker/security/cluster-users.js'
import { decodeTokenKeyDocument } from '../../broker/security/cluster-token-keys.js'
import { deriveCredentials, verifyUserPassword } from '../../broker/security/credentials.js'
import { InvalidArgumentError, InvalidConfigError, SecurityFileInvalidError } from '../../protocol/errors.js'

function tmp (t: Test): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'spool-cluster-security-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

const CLUSTER = { etcdEndpoints: ['http://127.0.0.1:2379'], auth: true }

t.test('--auth in cluster mode needs the inter-broker flags', async t => {
  t.throws(() => resolveConfig({ overrides: CLUSTER }), { name: 'InvalidConfigError', message: /--inter-broker-user/ })
  t.throws(() => resolveConfig({ overrides: { ...CLUSTER, interBrokerUser: 'broker' } }), { name: 'InvalidConfigError', message: /--inter-broker-password-file/ })
  t.throws(() => resolveConfig({ overrides: { ...CLUSTER, interBrokerUser: 'broker', interBrokerPasswordFile: '/x', interBrokerSaslMechanism: 'PLAIN' } }), { name: 'InvalidConfigError', message: /SCRAM-SHA-512 or SCRAM-SHA-256/ })
  const ok = resolveConfig({ overrides: { ...CLUSTER, interBrokerUser: 'broker', interBrokerPasswordFile: '/x' } })
  t.equal(ok.interBrokerSaslMechanism, 'SCRAM-SHA-512', 'SCRAM-SHA-512 by default')
  t.doesNotThrow(() => resolveConfig({ overrides: { etcdEndpoints: CLUSTER.etcdEndpoints } }), 'without --auth nothing is needed')
  t.doesNotThrow(() => resolveConfig({ overrides: { auth: false, interBrokerUser: null } }), 'nor on a single broker')
})

t.test('the inter-broker settings from flags, environment and config file', async t => {
  const dir = tmp(t)
  const fromFlags = resolveConfig({ flags: { etcdEndpoints: 'http://127.0.0.1:2379', auth: true, interBrokerUser: 'b1', interBrokerPasswordFile: '/pw', interBrokerSaslMechanism: 'SCRAM-SHA-256' } })
  t.same([fromFlags.interBrokerUser, fromFlags.interBrokerPasswordFile, fromFlags.interBrokerSaslMechanism], ['b1', '/pw', 'SCRAM-SHA-256'])
  const fromEnv = resolveConfig({ env: { SPOOL_ETCD_ENDPOINTS: 'http://127.0.0.1:2379', SPOOL_AUTH: 'true', SPOOL_INTER_BROKER_USER: 'b2', SPOOL_INTER_BROKER_PASSWORD_FILE: '/pw2' } })
  t.same([fromEnv.interBrokerUser, fromEnv.interBrokerPasswordFile], ['b2', '/pw2'])
  const file = path.join(dir, 'spool.json')
  writeFileSync(file, JSON.stringify({ interBrokerUser: 'b3', 'inter-broker-password-file': '/pw3', interBrokerSaslMechanism: 'SCRAM-SHA-512' }))
  t.same(readConfigFile(file), { interBrokerUser: 'b3', interBrokerPasswordFile: '/pw3', interBrokerSaslMechanism: 'SCRAM-SHA-512' }, 'camelCase and kebab-case keys')
})

t.test('the inter-broker password file', async t => {
  const dir = tmp(t)
  const settings = (file: string | null): Parameters<typeof loadInterBrokerCredentials>[0] => ({ interBrokerUser: 'broker', interBrokerPasswordFile: file, interBrokerSaslMechanism: 'SCRAM-SHA-512' })
  t.throws(() => loadInterBrokerCredentials(settings(path.join(dir, 'missing'))), { name: 'InvalidConfigError', message: /--inter-broker-password-file .* cannot be read/ })
  const empty = path.join(dir, 'empty')
  writeFileSync(empty, '\nsecond line\n')
  t.throws(() => loadInterBrokerCredentials(settings(empty)), { name: 'InvalidConfigError', message: /first line .* is empty/ })
  const good = path.join(dir, 'good')
  writeFileSync(good, 's3cret-Pw\r\nignored\n')
  t.same(loadInterBrokerCredentials(settings(good)), { username: 'broker', password: 's3cret-Pw', mechanism: 'SCRAM-SHA-512' }, 'the first line, without its line ending')
  t.throws(() => loadInterBrokerCredentials(settings(null)), InvalidConfigError)
})

t.test('user documents: encode, decode, refuse what does not parse', async t => {
  const scram = await deriveCredentials('alice-Secret-1', 4096, ['SCRAM-SHA-256', 'SCRAM-SHA-512'])
  const record = { createdAtMs: 1_760_000_000_000, updatedAtMs: 1_760_000_000_001, scram }
  const stored = JSON.parse(JSON.stringify(encodeUserDocument(record))) as unknown // as etcd holds it
  const back = decodeUserDocument(parseUserDocument(stored))
  t.same([back.createdAtMs, back.updatedAtMs, [...back.scram.keys()]], [record.createdAtMs, record.updatedAtMs, ['SCRAM-SHA-256', 'SCRAM-SHA-512']])
  t.same(Buffer.from(back.scram.get('SCRAM-SHA-512')!.storedKey), Buffer.from(scram.get('SCRAM-SHA-512')!.storedKey), 'keys survive byte for byte')
  t.ok(await verifyUserPassword(back, 'alice-Secret-1', 4096), 'the password verifies against the decoded record')
  t.notOk(await verifyUserPassword(back, 'wrong', 4096), 'a wrong one does not')
  t.notOk(await verifyUserPassword(undefined, 'alice-Secret-1', 4096), 'nor any for an unknown user')
  t.notOk(JSON.stringify(stored).includes('alice-Secret-1'), 'the password is not in the document')
  const good = stored as { scram: Record<string, { storedKey: string }> }
  const bad: unknown[] = [
    null, 'x', [], {}, { createdAtMs: 1, updatedAtMs: 1, scram: {} },
    { ...good, scram: { 'SCRAM-SHA-1': good.scram['SCRAM-SHA-256'] } },
    { ...good, scram: { 'SCRAM-SHA-256': { ...good.scram['SCRAM-SHA-256'], storedKey: 'AAAA' } } },
    { ...good, scram: { 'SCRAM-SHA-256': { ...good.scram['SCRAM-SHA-256'], iterations: 1 } } },
    { ...good, createdAtMs: -1 },
  ]
  for (const v of bad) t.throws(() => parseUserDocument(v), SecurityFileInvalidError, JSON.stringify(v)?.slice(0, 60) ?? 'undefined')
})

t.test('ACL documents: one per entry, keyed by its identity', async t => {
  const e = validateAclEntry({ principal: 'User:alice', resourceType: 'topic', resourceName: 'orders/eu', operation: 'read', patternType: 'prefixed' })
  const stored = JSON.parse(JSON.stringify(e)) as unknown
  t.same(parseAclDocument(stored), e, 'round trip')
  const same = validateAclEntry({ ...e })
  t.equal(aclDocumentKey(same), aclDocumentKey(e), 'the same entry has the same key (a set: CAS on create makes a duplicate a no-op)')
  t.not(aclDocumentKey(validateAclEntry({ ...e, permission: 'deny' })), aclDocumentKey(e), 'another permission is another key')
  const keys = new ClusterKeys('/spool/c1')
  const k = keys.document('acls', aclDocumentKey(e))
  t.notOk(k.slice('/spool/c1/docs/acls/'.length).includes('/'), 'the key is one path segment even when the name holds /')
  t.same(keys.parse(k), { kind: 'document', documentKind: 'acls', key: aclDocumentKey(e) }, 'and parses back')
  t.same(keys.parse(keys.document('users', 'bob')), { kind: 'document', documentKind: 'users', key: 'bob' })
  t.throws(() => parseAclDocument(null), InvalidArgumentError)
  t.throws(() => parseAclDocument([]), InvalidArgumentError)
  t.throws(() => parseAclDocument({ ...e, operation: 'fly' }), InvalidArgumentError)
  t.throws(() => parseAclDocument({ ...e, principal: 'alice' }), InvalidArgumentError)
})

t.test('token key documents: a valid one decodes; a bad id, a short secret or bad times are refused by name', async t => {
  const secret = Buffer.alloc(32, 7).toString('base64')
  const key = decodeTokenKeyDocument('k1abc', { secret, createdAtMs: 1000, retiredAtMs: null })
  t.same([key.kid, key.secret.length, key.createdAtMs, key.retiredAtMs], ['k1abc', 32, 1000, null])
  t.equal(decodeTokenKeyDocument('k2', { secret, createdAtMs: 5, retiredAtMs: 9 }).retiredAtMs, 9)
  for (const [kid, value, why] of [
    ['a b', { secret, createdAtMs: 1 }, /key id/],
    ['k', { secret: Buffer.alloc(16).toString('base64'), createdAtMs: 1 }, /at least 32 bytes/],
    ['k', { secret: 'not base64!', createdAtMs: 1 }, /at least 32 bytes/],
    ['k', { secret, createdAtMs: -1 }, /createdAtMs/],
    ['k', { secret, createdAtMs: 1, retiredAtMs: 1.5 }, /retiredAtMs/],
    ['k', [secret], /not a JSON object/],
    ['k', null, /not a JSON object/],
  ] as const) {
    t.throws(() => decodeTokenKeyDocument(kid, value), { code: 'CLUSTER_DOCUMENT_INVALID', message: why }, `${kid}: ${String(why)}`)
  }
  t.equal(new ClusterKeys('/spool/x').document('token-keys', 'k1'), '/spool/x/docs/token-keys/k1', 'under the cluster\'s prefix')
})
