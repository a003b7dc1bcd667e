// TLS on the broker's listeners, with certificates made by openssl for the test: the native
// protocol over TLS (beside the plain port) with the SDK and the `spool` CLI, HTTPS and wss://
// on the HTTP routes, mTLS where the client certificate's subject is the principal the ACLs
// name, and a certificate replaced while the broker runs (SIGHUP) served to new connections
// while an open one keeps working. Proves also that a client that does not trust the CA, a
// TLS 1.1 client and (with client auth required) a client without a certificate are refused,
// and that a TLS listener without a certificate is a named configuration error.
import t from 'tap'
import { copyFileSync, readFileSync, renameSync } from 'node:fs'
import https from 'node:https'
import tls from 'node:tls'
import { WebSocket } from 'ws'
import { Broker } from '../../broker/broker.js'
import { Client, text, utf8, type WebSocketConstructor } from '../../client/index.js'
import { runCli } from '../helpers/client-cli.js'
import { waitFor } from '../helpers/processes.js'
import { LogAudit, makePki, startSecureBroker, tempDir, type Pki } from '../helpers/security.js'

const audit = new LogAudit()
audit.secret('admin-Secret-1')

function tlsBroker (t: Parameters<typeof startSecureBroker>[0], pki: Pki, extra: Parameters<typeof startSecureBroker>[1] = {}): Promise<Broker> {
  return startSecureBroker(t, {
    auth: false, users: {}, tlsPort: 0, httpsPort: 0, tlsCertFile: pki.file('server.crt'), tlsKeyFile: pki.file('server.key'),
    logger: audit.logger(), ...extra,
  })
}

function sdk (t: { teardown: (fn: () => unknown) => void }, options: ConstructorParameters<typeof Client>[0]): Client {
  const c = new Client({ retry: { retries: 1, initialRetryTimeMs: 10, maxRetryTimeMs: 20 }, ...options })
  t.teardown(() => c.close())
  return c
}

async function roundTrip (c: Client, topic: string, value: string): Promise<string> {
  await c.producer().send({ topic, messages: [{ value: utf8(value) }] })
  const consumer = c.consumer({ fromBeginning: true })
  await consumer.assign({ topic })
  for await (const m of consumer) {
    if (text(m.value!) === value) { await consumer.close(); return value }
  }
  return ''
}

/** The CN of the certificate a TLS listener serves now. */
function servedCn (port: number, ca: Buffer): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = tls.connect({ host: '127.0.0.1', port, ca }, () => {
      const cn = s.getPeerX509Certificate()?.subject.split('\n').find(l => l.startsWith('CN='))?.slice(3) ?? ''
      s.destroy()
      resolve(cn)
    })
    s.once('error', reject)
  })
}

t.test('native TLS beside plain TCP: SDK and CLI with --ca; an untrusted CA and TLS 1.1 are refused', async t => {
  const pki = await makePki(t)
  const b = await tlsBroker(t, pki)
  const ca = readFileSync(pki.file('ca.crt'), 'utf8')
  t.ok(b.ports.native !== null && b.ports.nativeTls !== null && b.ports.native !== b.ports.nativeTls, 'plain and TLS ports side by side')
  const secure = sdk(t, { brokers: [`127.0.0.1:${b.ports.nativeTls}`], tls: { ca } })
  t.equal(await roundTrip(secure, 'tls-orders', 'over tls'), 'over tls', 'the SDK produces and consumes over TLS')
  const plain = sdk(t, { brokers: [`127.0.0.1:${b.ports.native}`] })
  t.equal(await roundTrip(plain, 'tls-orders', 'over tcp'), 'over tcp', 'the plain port serves the same logs')
  t.ok(b.connections.list().some(c => c.peer.encrypted), 'the broker sees an encrypted peer')
  const untrusted = sdk(t, { brokers: [`127.0.0.1:${b.ports.nativeTls}`], tls: true })
  await t.rejects(untrusted.admin().listTopics(), { code: 'BROKER_UNREACHABLE', message: /SELF_SIGNED|UNABLE_TO_VERIFY|unable to get/i }, 'a certificate the client does not trust is refused')
  const old = await new Promise<string>(resolve => {
    const s = tls.connect({ host: '127.0.0.1', port: b.ports.nativeTls!, ca, minVersion: 'TLSv1', maxVersion: 'TLSv1.1' })
    s.once('error', err => resolve((err as NodeJS.ErrnoException).code ?? err.message))
    s.once('secureConnect', () => { s.destroy(); resolve('connected') })
  })
  t.not(old, 'connected', `TLS 1.1 is refused (${old})`)
  const cli = await runCli(t, ['--broker', `127.0.0.1:${b.ports.nativeTls}`, '--ca', pki.file('ca.crt'), 'topic', 'list'])
  t.equal(cli.code, 0, cli.stderr)
  t.match(cli.stdout, /tls-orders/, 'the CLI lists topics over TLS with --ca')
  const noCa = await runCli(t, ['--broker', `127.0.0.1:${b.ports.nativeTls}`, '--tls', 'topic', 'list'])
  t.equal(noCa.code, 2, 'without the CA the CLI cannot reach the broker')
})

t.test('HTTPS and wss://: /healthz and the SDK over WebSocket with TLS', async t => {
  const pki = await makePki(t)
  const b = await tlsBroker(t, pki)
  const ca = readFileSync(pki.file('ca.crt'))
  const health = await new Promise<{ status: number, body: string }>((resolve, reject) => {
    https.get({ host: '127.0.0.1', port: b.ports.https!, path: '/healthz', ca }, res => {
      let body = ''
      res.setEncoding('utf8').on('data', (d: string) => { body += d }).on('end', () => resolve({ status: res.statusCode ?? 0, body }))
    }).on('error', reject)
  })
  t.equal(health.status, 200)
  t.match(health.body, /"status":"ok"/, '/healthz over HTTPS')
  class TrustingWebSocket extends WebSocket { constructor (url: string) { super(url, { ca }) } }
  const ws = sdk(t, { url: `wss://127.0.0.1:${b.ports.https}/ws`, WebSocket: TrustingWebSocket as unknown as WebSocketConstructor })
  t.equal(await roundTrip(ws, 'wss-topic', 'over wss'), 'over wss', 'the SDK over wss://')
  t.ok(b.connections.list().some(c => c.transport === 'ws' && c.peer.encrypted), 'a WebSocket over HTTPS is an encrypted peer')
})

t.test('mTLS: the certificate subject is the principal the ACLs name; required client auth refuses others', async t => {
  const pki = await makePki(t)
  const alice = 'User:CN=alice,OU=eng,O=acme,C=US'
  const b = await tlsBroker(t, pki, {
    auth: true, users: { admin: 'admin-Secret-1' }, superUsers: ['User:admin'], tlsCaFile: pki.file('ca.crt'), tlsClientAuth: 'requested',
    acls: [{ principal: alice, resourceType: 'topic', resourceName: 'certs', operation: 'all' }],
  })
  const ca = readFileSync(pki.file('ca.crt'), 'utf8')
  const cert = readFileSync(pki.file('alice.crt'), 'utf8')
  const key = readFileSync(pki.file('alice.key'), 'utf8')
  const withCert = sdk(t, { brokers: [`127.0.0.1:${b.ports.nativeTls}`], tls: { ca, cert, key } })
  t.equal(await roundTrip(withCert, 'certs', 'by certificate'), 'by certificate', 'alice\'s certificate authenticates her, no password')
  await t.rejects(withCert.producer().send({ topic: 'others', messages: [{ value: utf8('x') }] }), { code: 'TOPIC_AUTHORIZATION_FAILED' }, 'and the ACLs of her subject apply')
  t.ok(b.connections.list().some(c => c.principal.name === 'CN=alice,OU=eng,O=acme,C=US' && c.principal.method === 'mtls'), 'the connection\'s principal is the RFC 2253 subject')
  const bob = sdk(t, { brokers: [`127.0.0.1:${b.ports.nativeTls}`], tls: { ca, cert: readFileSync(pki.file('bob.crt'), 'utf8'), key: readFileSync(pki.file('bob.key'), 'utf8') } })
  await t.rejects(bob.admin().describeTopics(['certs']), { code: 'TOPIC_AUTHORIZATION_FAILED' }, 'bob\'s certificate is another principal')
  const none = sdk(t, { brokers: [`127.0.0.1:${b.ports.nativeTls}`], tls: { ca } })
  await t.rejects(none.admin().listTopics(), { code: 'AUTHENTICATION_REQUIRED' }, 'no certificate and no password: not authenticated')
  const cli = await runCli(t, ['--broker', `127.0.0.1:${b.ports.nativeTls}`, '--ca', pki.file('ca.crt'), '--cert', pki.file('alice.crt'), '--cert-key', pki.file('alice.key'), 'topic', 'list'])
  t.equal(cli.code, 0, cli.stderr)
  t.match(cli.stdout, /certs/, 'the CLI with --cert/--cert-key is alice')

  const strict = await tlsBroker(t, pki, { auth: true, users: { admin: 'admin-Secret-1' }, tlsCaFile: pki.file('ca.crt'), tlsClientAuth: 'required' })
  const refused = sdk(t, { brokers: [`127.0.0.1:${strict.ports.nativeTls}`], tls: { ca } })
  await t.rejects(refused.admin().listTopics(), { code: 'BROKER_UNREACHABLE' }, 'required: no certificate, no connection')
  const mallory = sdk(t, { brokers: [`127.0.0.1:${strict.ports.nativeTls}`], tls: { ca, cert: readFileSync(pki.file('mallory.crt'), 'utf8'), key: readFileSync(pki.file('mallory.key'), 'utf8') } })
  await t.rejects(mallory.admin().listTopics(), { code: 'BROKER_UNREACHABLE' }, 'required: a certificate from another CA, no connection')
})

t.test('a replaced certificate is served after SIGHUP without a restart; open connections stay', async t => {
  const pki = await makePki(t)
  const install = (name: string): void => {
    for (const ext of ['crt', 'key']) {
      copyFileSync(pki.file(`${name}.${ext}`), pki.file(`live.${ext}.new`))
      renameSync(pki.file(`live.${ext}.new`), pki.file(`live.${ext}`))
    }
  }
  install('server')
  const b = await tlsBroker(t, pki, { tlsCertFile: pki.file('live.crt'), tlsKeyFile: pki.file('live.key') })
  const ca = readFileSync(pki.file('ca.crt'))
  t.equal(await servedCn(b.ports.nativeTls!, ca), 'spool-one')
  const open = sdk(t, { brokers: [`127.0.0.1:${b.ports.nativeTls}`], tls: { ca: ca.toString() } })
  await open.admin().createTopics([{ topic: 'reload' }])
  install('server2')
  process.kill(process.pid, 'SIGHUP')
  await waitFor(() => b.security.tls!.reloads >= 1, 10_000, 'the reload')
  t.equal(await servedCn(b.ports.nativeTls!, ca), 'spool-two', 'new connections get the new certificate')
  t.equal(await servedCn(b.ports.https!, ca), 'spool-two', 'on HTTPS too')
  t.same(await open.admin().listTopics(), ['reload'], 'the connection opened before the reload still works')
  t.match(await b.metrics.registry.metrics(), /spool_tls_reloads_total\{result="success"\} [1-9]/)
})

t.test('TLS listeners without a certificate, or client auth without a CA, are named errors', async t => {
  const dir = tempDir(t)
  await t.rejects(Broker.start({ dataDir: dir, port: 0, httpPort: null, mqttPort: null, kafkaPort: null, tlsPort: 0, logLevel: 'silent' }), { code: 'INVALID_CONFIG', message: /--tls-port need a certificate and its key: give --tls-cert-file and --tls-key-file/ })
  await t.rejects(Broker.start({ dataDir: dir, port: 0, httpPort: null, mqttPort: null, kafkaPort: null, tlsClientAuth: 'required', logLevel: 'silent' }), { code: 'INVALID_CONFIG', message: /--tls-ca-file/ })
  await t.rejects(Broker.start({ dataDir: dir, port: 0, httpPort: null, mqttPort: null, kafkaPort: null, tlsPort: 0, tlsCertFile: '/nonexistent.crt', tlsKeyFile: '/nonexistent.key', logLevel: 'silent' }), { code: 'TLS_CONFIG_INVALID', message: /nonexistent\.crt cannot be read/ })
})

t.test('no secret in any log line of this file', async t => {
  t.ok(audit.lines.length > 20)
  t.same(audit.leaks(), [])
  t.notOk(audit.lines.some(l => l.includes('PRIVATE KEY')), 'no key material')
})
