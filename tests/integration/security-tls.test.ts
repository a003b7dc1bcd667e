// TLS context loading and reload (broker/security/tls.ts) and mTLS principals
// (x509-name.ts), with certificates made by openssl for the test and real TLS sockets on
// 127.0.0.1. Proves: a replaced certificate is served to new connections while an open
// connection stays up (file poll and SIGHUP), a half-replaced pair keeps the old context,
// client-certificate subjects come out in Kafka's RFC 2253 form (checked against openssl's
// own RFC 2253 printer), clients without a certificate, with one from another CA, or
// offering only TLS 1.1 are refused, and broken files are named errors.
import t, { type Test } from 'tap'
import { X509Certificate } from 'node:crypto'
import { copyFileSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import tls from 'node:tls'
import { TlsContextManager, peerPrincipal, type TlsFilesOptions } from '../../broker/security/tls.js'
import { rfc2253Subject, subjectCommonName } from '../../broker/security/x509-name.js'
import { TlsConfigInvalidError } from '../../protocol/errors.js'
import { runProgram as run } from '../helpers/security.js'


async function waitFor (what: string, predicate: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise(resolve => setTimeout(resolve, 20))
  }
}

interface Pki { dir: string, file: (name: string) => string }

/** A CA, two server certificates, client certificates from that CA and one from another CA. */
async function makePki (t: Test): Promise<Pki> {
  const dir = mkdtempSync(path.join(tmpdir(), 'spool-tls-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const ossl = async (...args: string[]): Promise<string> => await run(t, 'openssl', args, dir)
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes']
  writeFileSync(path.join(dir, 'server.ext'), 'subjectAltName=IP:127.0.0.1\n')
  for (const ca of ['ca', 'otherca']) await ossl('req', '-x509', ...ec, '-keyout', `${ca}.key`, '-out', `${ca}.crt`, '-subj', `/CN=Spool ${ca}`, '-days', '2')
  const leaf = async (name: string, subj: string, ca: string, extra: string[] = []): Promise<void> => {
    await ossl('req', ...ec, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', subj, ...extra)
    await ossl('x509', '-req', '-in', `${name}.csr`, '-CA', `${ca}.crt`, '-CAkey', `${ca}.key`, '-CAcreateserial', '-out', `${name}.crt`, '-days', '2',
      ...(name.startsWith('server') ? ['-extfile', 'server.ext'] : []))
  }
  await leaf('server1', '/O=acme/CN=server-one', 'ca')
  await leaf('server2', '/O=acme/CN=server-two', 'ca')
  await leaf('alice', '/C=US/O=acme/OU=eng/CN=alice', 'ca')
  await leaf('bob', '/C=US/O=Acme\\, Inc/CN=bob+UID=42/emailAddress=bob@example.com', 'ca', ['-multivalue-rdn'])
  await leaf('odd', '/O= lead#;"<x>"/CN=#hash trail ', 'ca')
  await leaf('mallory', '/CN=mallory', 'otherca')
  return { dir, file: name => path.join(dir, name) }
}

interface Served { port: number, server: tls.Server, principals: string[], errors: string[] }

/** A TLS server that writes the peer's principal (or "anonymous") then echoes. */
async function serve (t: Test, manager: TlsContextManager): Promise<Served> {
  const principals: string[] = []
  const errors: string[] = []
  const server = tls.createServer(manager.serverOptions(), socket => {
    const p = manager.peerPrincipal(socket)
    const line = p === null ? 'anonymous' : `User:${p.name}`
    principals.push(line)
    socket.write(`${line}\n`)
    socket.on('data', d => socket.write(d))
    socket.on('error', () => {})
  })
  server.on('tlsClientError', err => errors.push((err as NodeJS.ErrnoException).code ?? err.message))
  manager.attach(server)
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>(resolve => server.close(() => resolve())))
  return { port: (server.address() as { port: number }).port, server, principals, errors }
}

interface Conn { socket: tls.TLSSocket, lines: string[], error: () => NodeJS.ErrnoException | null, closed: () => boolean, serverCn: string | null }

/** Connects; resolves once the first line arrives or the connection fails/closes. */
async function connect (t: Test, pki: Pki, port: number, options: tls.ConnectionOptions = {}): Promise<Conn> {
  const socket = tls.connect({ host: '127.0.0.1', port, ca: readFileSync(pki.file('ca.crt')), ...options })
  t.teardown(() => { socket.destroy() })
  const lines: string[] = []
  let buf = ''
  let error: NodeJS.ErrnoException | null = null
  let closed = false
  socket.setEncoding('utf8').on('data', (d: string) => {
    buf += d
    let i
    while ((i = buf.indexOf('\n')) >= 0) { lines.push(buf.slice(0, i)); buf = buf.slice(i + 1) }
  })
  socket.on('error', err => { error = err })
  socket.on('close', () => { closed = true })
  let serverCn: string | null = null
  socket.once('secureConnect', () => {
    serverCn = socket.getPeerX509Certificate()?.subject.split('\n').find(l => l.startsWith('CN='))?.slice(3) ?? null
  })
  await waitFor('the first line or the end', () => lines.length > 0 || closed)
  return { socket, lines, error: () => error, closed: () => closed, serverCn }
}

const withCert = (pki: Pki, name: string): tls.ConnectionOptions => ({ cert: readFileSync(pki.file(`${name}.crt`)), key: readFileSync(pki.file(`${name}.key`)) })

/** Puts a certificate/key pair in place the way an operator's tooling would: write elsewhere, rename over. */
function install (pki: Pki, name: string, which: 'cert' | 'key' | 'both' = 'both'): void {
  for (const [suffix, target] of [['crt', 'live.crt'], ['key', 'live.key']] as const) {
    if (which !== 'both' && which !== (suffix === 'crt' ? 'cert' : 'key')) continue
    copyFileSync(pki.file(`${name}.${suffix}`), pki.file(`${target}.new`))
    renameSync(pki.file(`${target}.new`), pki.file(target))
  }
}

function load (t: Test, pki: Pki, options: Partial<TlsFilesOptions> = {}): TlsContextManager {
  const m = TlsContextManager.load({ certFile: pki.file('live.crt'), keyFile: pki.file('live.key'), caFile: pki.file('ca.crt'), pollIntervalMs: 30, reloadOnSighup: false, ...options })
  t.teardown(() => m.close())
  return m
}

const serverCn = (c: Conn): string | null => c.serverCn

t.test('TLS: reload on file change keeps open connections, a half-replaced pair is refused, SIGHUP reloads', async t => {
  const pki = await makePki(t)
  install(pki, 'server1')
  const manager = load(t, pki, { clientAuth: 'required' })
  t.equal(manager.certificate.subject, 'CN=server-one,O=acme')
  const opts = manager.serverOptions()
  t.equal(opts.minVersion, 'TLSv1.2')
  t.same([opts.requestCert, opts.rejectUnauthorized], [true, true])
  const srv = await serve(t, manager)

  const c1 = await connect(t, pki, srv.port, withCert(pki, 'alice'))
  t.equal(serverCn(c1), 'server-one')
  t.equal(c1.lines[0], 'User:CN=alice,OU=eng,O=acme,C=US', 'mTLS principal in RFC 2253 order')
  t.equal(c1.socket.getProtocol(), 'TLSv1.3')

  install(pki, 'server2')
  await waitFor('the reload', () => manager.reloads === 1)
  t.equal(manager.certificate.subject, 'CN=server-two,O=acme')
  const c2 = await connect(t, pki, srv.port, withCert(pki, 'alice'))
  t.equal(serverCn(c2), 'server-two', 'a new connection gets the new certificate')
  c1.socket.write('still here\n')
  await waitFor('the echo on the old connection', () => c1.lines.length === 2)
  t.equal(c1.lines[1], 'still here', 'the old connection stays open and working')
  t.notOk(c1.closed())
  t.equal(serverCn(c1), 'server-one', '... with its old certificate')

  // Only the certificate replaced: it does not match the key, so the current context stays.
  install(pki, 'server1', 'cert')
  await waitFor('the failed reload', () => manager.reloadFailures === 1)
  t.match(manager.lastError?.message ?? '', /cannot be used together/)
  t.ok(manager.lastError instanceof TlsConfigInvalidError)
  const c3 = await connect(t, pki, srv.port, withCert(pki, 'alice'))
  t.equal(serverCn(c3), 'server-two', 'still the last good certificate')
  install(pki, 'server1', 'key')
  await waitFor('the reload after the key arrived', () => manager.reloads === 2)
  const c4 = await connect(t, pki, srv.port, withCert(pki, 'alice'))
  t.equal(serverCn(c4), 'server-one', 'the completed pair is served')
  t.equal(manager.lastError, null)

  // SIGHUP with polling off.
  const sighupBefore = process.listenerCount('SIGHUP')
  const hup = load(t, pki, { pollIntervalMs: 0, reloadOnSighup: true })
  t.equal(process.listenerCount('SIGHUP'), sighupBefore + 1)
  const srv2 = await serve(t, hup)
  install(pki, 'server2')
  await new Promise(resolve => setTimeout(resolve, 100))
  t.equal(hup.reloads, 0, 'no poll: nothing happens by itself')
  const d1 = await connect(t, pki, srv2.port)
  process.kill(process.pid, 'SIGHUP')
  await waitFor('the SIGHUP reload', () => hup.reloads === 1)
  const d2 = await connect(t, pki, srv2.port)
  t.same([serverCn(d1), serverCn(d2)], ['server-one', 'server-two'])
  d1.socket.write('ping\n')
  await waitFor('echo', () => d1.lines.length === 2)
  t.equal(d1.lines[1], 'ping')
  hup.close()
  t.equal(process.listenerCount('SIGHUP'), sighupBefore, 'close() removes the SIGHUP handler')
})

t.test('mTLS: required, requested, other CA, no certificate, TLS 1.1, subject formats', async t => {
  const pki = await makePki(t)
  install(pki, 'server1')
  const required = await serve(t, load(t, pki, { clientAuth: 'required' }))

  const none = await connect(t, pki, required.port)
  await waitFor('the refusal', () => none.closed())
  t.same(none.lines, [], 'no certificate: refused before the application sees anything')
  t.match(none.error()?.code ?? '', /CERTIFICATE_REQUIRED/)
  const other = await connect(t, pki, required.port, withCert(pki, 'mallory'))
  await waitFor('the refusal', () => other.closed())
  t.same(other.lines, [], 'a certificate from another CA: refused')
  t.equal(required.errors.length, 2, `the server reported both refusals (${required.errors.join(', ')})`)
  t.same(required.principals, [], 'the server handed no connection to the application')

  const old = await connect(t, pki, required.port, { ...withCert(pki, 'alice'), minVersion: 'TLSv1', maxVersion: 'TLSv1.1', ciphers: 'DEFAULT@SECLEVEL=0' })
  await waitFor('the refusal', () => old.closed())
  t.match(old.error()?.code ?? '', /PROTOCOL_VERSION/, 'a TLS 1.1-only client gets a protocol_version alert from the server')
  const v12 = await connect(t, pki, required.port, { ...withCert(pki, 'alice'), maxVersion: 'TLSv1.2' })
  t.equal(v12.socket.getProtocol(), 'TLSv1.2', 'TLS 1.2 is accepted')

  const bob = await connect(t, pki, required.port, withCert(pki, 'bob'))
  t.equal(bob.lines[0], 'User:1.2.840.113549.1.9.1=#160f626f62406578616d706c652e636f6d,CN=bob+UID=42,O=Acme\\, Inc,C=US',
    'multi-valued RDN joined by +, escaped comma, emailAddress as OID=#DER-hex (as Java prints it)')

  const requested = await serve(t, load(t, pki, { clientAuth: 'requested' }))
  t.equal((await connect(t, pki, requested.port)).lines[0], 'anonymous', 'requested: no certificate is fine, and anonymous')
  t.equal((await connect(t, pki, requested.port, withCert(pki, 'mallory'))).lines[0], 'anonymous', 'an unverified certificate gives no principal')
  t.equal((await connect(t, pki, requested.port, withCert(pki, 'alice'))).lines[0], 'User:CN=alice,OU=eng,O=acme,C=US')

  const cn = await serve(t, load(t, pki, { clientAuth: 'required', principalFrom: 'cn' }))
  t.equal((await connect(t, pki, cn.port, withCert(pki, 'alice'))).lines[0], 'User:alice', "principalFrom 'cn'")
  const plain = await serve(t, load(t, pki))
  t.equal((await connect(t, pki, plain.port, withCert(pki, 'alice'))).lines[0], 'anonymous', 'client auth none: certificates are not asked for')

  // Our RFC 2253 printer against openssl's, for subjects with only well-known attributes, including escapes.
  for (const name of ['alice', 'server1', 'odd', 'mallory']) {
    const ours = rfc2253Subject(new Uint8Array(new X509Certificate(readFileSync(pki.file(`${name}.crt`))).raw))
    const theirs = (await run(t, 'openssl', ['x509', '-noout', '-subject', '-nameopt', 'RFC2253', '-in', `${name}.crt`], pki.dir)).trim().replace(/^subject=/, '')
    t.equal(ours, theirs, `${name}: ${ours}`)
  }
  t.equal(subjectCommonName(new Uint8Array(new X509Certificate(readFileSync(pki.file('odd.crt'))).raw)), '#hash trail ', 'CN unescaped')
  const fake = { authorized: true, getPeerX509Certificate: () => undefined } as unknown as tls.TLSSocket
  t.equal(peerPrincipal(fake), null, 'no certificate, no principal')
})

t.test('broken TLS files are named errors', async t => {
  const pki = await makePki(t)
  const cases: Array<[string, Partial<TlsFilesOptions>, RegExp]> = [
    ['missing cert', { certFile: pki.file('nope.crt'), keyFile: pki.file('server1.key') }, /TLS certificate file .*nope\.crt cannot be read/],
    ['mismatched pair', { certFile: pki.file('server1.crt'), keyFile: pki.file('server2.key') }, /server1\.crt and .*server2\.key cannot be used together/],
    ['not PEM', { certFile: pki.file('server.ext'), keyFile: pki.file('server1.key') }, /server\.ext holds no PEM certificate/],
    ['key is not a key', { certFile: pki.file('server1.crt'), keyFile: pki.file('server1.crt') }, /cannot be used together/],
    ['bad CA', { certFile: pki.file('server1.crt'), keyFile: pki.file('server1.key'), caFile: pki.file('server.ext'), clientAuth: 'required' }, /CA file .*server\.ext holds no PEM certificate|cannot be used together/],
    ['client auth without CA', { certFile: pki.file('server1.crt'), keyFile: pki.file('server1.key'), caFile: undefined, clientAuth: 'required' }, /needs a CA file/],
  ]
  for (const [what, opts, re] of cases) {
    try {
      const m = TlsContextManager.load({ certFile: '', keyFile: '', pollIntervalMs: 0, reloadOnSighup: false, ...opts })
      m.close()
      t.fail(`${what}: loaded`)
    } catch (err) {
      t.ok(err instanceof TlsConfigInvalidError, `${what}: TlsConfigInvalidError`)
      t.match((err as Error).message, re, what)
    }
  }
})
