// SCRAM and PLAIN against implementations that are not ours:
// - a Python SCRAM client and server (hashlib/hmac from the standard library, below),
//   talking to our SaslServer and our client over a pipe;
// - kcat (librdkafka 2.0.2) doing SASL SCRAM-SHA-256/512 and PLAIN over a real socket to
//   a minimal Kafka front written here (ApiVersions, SaslHandshake v1, SaslAuthenticate v0
//   framing only) that hands the SASL bytes to our SaslServer. librdkafka checks the
//   server's v= signature; it asking for Metadata afterwards proves the whole exchange was
//   accepted, and a corrupted v= (the front's test switch) must stop it.
import t, { type Test } from 'tap'
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import net from 'node:net'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { CredentialStore } from '../../broker/security/credentials.js'
import { SaslServer, type SaslStep } from '../../broker/security/sasl-server.js'
import { createSaslClient } from '../../protocol/sasl/client.js'
import { SaslAuthenticationFailedError } from '../../protocol/errors.js'
import { nodeSaslCrypto } from '../../platform/sasl-crypto-node.js'

const PYTHON_SCRAM = String.raw`
import sys, os, base64, hashlib, hmac
mode, mech, user, pw = sys.argv[1:5]
h = {'SCRAM-SHA-256': 'sha256', 'SCRAM-SHA-512': 'sha512'}[mech]
def send(b):
    sys.stdout.write(base64.b64encode(b).decode() + '\n'); sys.stdout.flush()
def recv():
    line = sys.stdin.readline()
    if not line: print('EOF', file=sys.stderr); sys.exit(5)
    return base64.b64decode(line.strip())
def attrs(s):
    return dict(kv.split('=', 1) for kv in s.split(','))
def keys(salt, it):
    sp = hashlib.pbkdf2_hmac(h, pw.encode(), salt, it)
    ck = hmac.new(sp, b'Client Key', h).digest()
    return ck, hashlib.new(h, ck).digest(), hmac.new(sp, b'Server Key', h).digest()
if mode == 'client':
    cnonce = base64.b64encode(os.urandom(18)).decode()
    bare = 'n=%s,r=%s' % (user.replace('=', '=3D').replace(',', '=2C'), cnonce)
    send(('n,,' + bare).encode())
    sf = recv().decode(); a = attrs(sf)
    assert a['r'].startswith(cnonce) and len(a['r']) > len(cnonce)
    ck, sk, svk = keys(base64.b64decode(a['s']), int(a['i']))
    without = 'c=biws,r=' + a['r']
    am = (bare + ',' + sf + ',' + without).encode()
    proof = bytes(x ^ y for x, y in zip(ck, hmac.new(sk, am, h).digest()))
    send((without + ',p=' + base64.b64encode(proof).decode()).encode())
    final = recv().decode()
    if final.startswith('e='): print('REFUSED ' + final, file=sys.stderr); sys.exit(3)
    ok = hmac.compare_digest(base64.b64decode(attrs(final)['v']), hmac.new(svk, am, h).digest())
    print('VERIFIED' if ok else 'BADSIG', file=sys.stderr); sys.exit(0 if ok else 4)
else:
    cf = recv().decode()
    assert cf.startswith('n,,'), cf
    bare = cf[3:]; a = attrs(bare)
    assert a['n'] == user, a
    nonce = a['r'] + base64.b64encode(os.urandom(18)).decode()
    salt = os.urandom(16)
    ck, sk, svk = keys(salt, 4096)
    sf = 'r=%s,s=%s,i=4096' % (nonce, base64.b64encode(salt).decode())
    send(sf.encode())
    fin = recv().decode()
    without, p = fin.rsplit(',p=', 1)
    b = attrs(without)
    assert b['c'] == 'biws' and b['r'] == nonce, fin
    am = (bare + ',' + sf + ',' + without).encode()
    client_key = bytes(x ^ y for x, y in zip(base64.b64decode(p), hmac.new(sk, am, h).digest()))
    if hashlib.new(h, client_key).digest() != sk:
        send(b'e=invalid-proof'); print('REJECTED', file=sys.stderr); sys.exit(3)
    send(('v=' + base64.b64encode(hmac.new(svk, am, h).digest()).decode()).encode())
    print('AUTHENTICATED', file=sys.stderr)
`

interface Proc { child: ChildProcessWithoutNullStreams, lines: string[], stderr: () => string, exited: Promise<number | null> }

/** Spawns a program in its own process group, killed at teardown and if this process exits. */
function start (t: Test, cmd: string, args: string[]): Proc {
  const child = spawn(cmd, args, { detached: true, stdio: ['pipe', 'pipe', 'pipe'] })
  const kill = (): void => { try { process.kill(-child.pid!, 'SIGKILL') } catch { /* gone */ } }
  t.teardown(kill)
  process.once('exit', kill)
  const timer = setTimeout(kill, 30_000)
  const lines: string[] = []
  let buf = ''
  let err = ''
  child.stdout.setEncoding('utf8').on('data', (d: string) => {
    buf += d
    let i
    while ((i = buf.indexOf('\n')) >= 0) { lines.push(buf.slice(0, i)); buf = buf.slice(i + 1) }
  })
  child.stderr.setEncoding('utf8').on('data', (d: string) => { err += d })
  const exited = new Promise<number | null>(resolve => child.once('exit', code => { clearTimeout(timer); process.off('exit', kill); resolve(code) }))
  return { child, lines, stderr: () => err, exited }
}

async function waitFor (what: string, predicate: () => boolean, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise(resolve => setTimeout(resolve, 20))
  }
}

async function nextLine (p: Proc, n: number): Promise<Uint8Array> {
  await waitFor(`line ${n} from python`, () => p.lines.length >= n || p.child.exitCode !== null)
  if (p.lines.length < n) throw new Error(`python ended: ${p.stderr()}`)
  return new Uint8Array(Buffer.from(p.lines[n - 1]!, 'base64'))
}

function storeIn (t: Test): CredentialStore {
  const dir = mkdtempSync(path.join(tmpdir(), 'spool-interop-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  return CredentialStore.open({ dataDir: dir })
}

t.test('Python SCRAM client against our server', async t => {
  const store = storeIn(t)
  await store.addUser('alice', 'pa55 wörd')
  await store.addUser('a,b=c', 'x')
  const server = new SaslServer({ credentials: store })
  for (const mech of ['SCRAM-SHA-256', 'SCRAM-SHA-512'] as const) {
    for (const [user, pw, expect] of [['alice', 'pa55 wörd', 0], ['a,b=c', 'x', 0], ['alice', 'wrong', 3], ['nobody', 'x', 3]] as const) {
      const py = start(t, '/usr/bin/python3', ['-c', PYTHON_SCRAM, 'client', mech, user, pw])
      const session = server.start(mech)
      let last: SaslStep | null = null
      for (let n = 1; n <= 2; n++) {
        last = await session.step(await nextLine(py, n))
        const response = last.kind === 'failure' ? last.response : last.response
        if (response !== null) py.child.stdin.write(`${Buffer.from(response).toString('base64')}\n`)
        if (last.kind !== 'challenge') break
      }
      py.child.stdin.end()
      t.equal(await py.exited, expect, `${mech} ${user}/${pw}: python exits ${expect} (${py.stderr().trim()})`)
      t.equal(last?.kind, expect === 0 ? 'success' : 'failure')
      if (expect === 0) t.match(py.stderr(), 'VERIFIED', 'python verified our v= signature')
      else t.match(py.stderr(), 'REFUSED e=invalid-proof')
    }
  }
})

t.test('our client against a Python SCRAM server', async t => {
  for (const mech of ['SCRAM-SHA-256', 'SCRAM-SHA-512'] as const) {
    for (const [pw, ok] of [['s3cret ✓', true], ['nope', false]] as const) {
      const py = start(t, '/usr/bin/python3', ['-c', PYTHON_SCRAM, 'server', mech, 'bob', 's3cret ✓'])
      const client = createSaslClient(mech, { username: 'bob', password: pw, crypto: nodeSaslCrypto })
      py.child.stdin.write(`${Buffer.from(await client.start()).toString('base64')}\n`)
      const final = await client.step(await nextLine(py, 1))
      py.child.stdin.write(`${Buffer.from(final!).toString('base64')}\n`)
      const verdict = await nextLine(py, 2)
      if (ok) {
        t.equal(await client.step(verdict), null, `${mech}: our client verified python's v=`)
        t.ok(client.done)
      } else {
        await t.rejects(client.step(verdict), SaslAuthenticationFailedError, `${mech}: python's e= is a typed failure`)
      }
      py.child.stdin.end()
      t.equal(await py.exited, ok ? 0 : 3)
      t.match(py.stderr(), ok ? 'AUTHENTICATED' : 'REJECTED')
    }
  }
})

// ---- a minimal Kafka SASL front for kcat -------------------------------------------------

interface Front { port: number, events: string[], corruptFinal: boolean }

async function kafkaSaslFront (t: Test, server: SaslServer): Promise<Front> {
  const front: Front = { port: 0, events: [], corruptFinal: false }
  const sockets = new Set<net.Socket>()
  const srv = net.createServer(socket => {
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
    socket.on('error', () => {})
    let buf = Buffer.alloc(0)
    let session: ReturnType<SaslServer['start']> | null = null
    const reply = (correlationId: number, body: Buffer): void => {
      const head = Buffer.alloc(8)
      head.writeInt32BE(4 + body.length, 0)
      head.writeInt32BE(correlationId, 4)
      socket.write(Buffer.concat([head, body]))
    }
    const handle = async (frame: Buffer): Promise<void> => {
      const apiKey = frame.readInt16BE(0)
      const version = frame.readInt16BE(2)
      const corr = frame.readInt32BE(4)
      const clientIdLen = frame.readInt16BE(8)
      const body = frame.subarray(10 + Math.max(0, clientIdLen))
      if (apiKey === 18) { // ApiVersions: answered in the v0 format (KIP-511 fallback for newer requests)
        const apis: Array<[number, number, number]> = [[18, 0, 0], [17, 0, 1], [36, 0, 0], [3, 0, 1]]
        const b = Buffer.alloc(2 + 4 + apis.length * 6)
        b.writeInt16BE(version > 0 ? 35 : 0, 0)
        b.writeInt32BE(apis.length, 2)
        apis.forEach(([k, lo, hi], i) => { b.writeInt16BE(k, 6 + i * 6); b.writeInt16BE(lo, 8 + i * 6); b.writeInt16BE(hi, 10 + i * 6) })
        front.events.push(`ApiVersions v${version}`)
        reply(corr, b)
      } else if (apiKey === 17) { // SaslHandshake v1
        const mech = body.subarray(2, 2 + body.readInt16BE(0)).toString()
        front.events.push(`SaslHandshake ${mech}`)
        let code = 0
        try { session = server.start(mech) } catch { code = 33 }
        const names = server.mechanisms.map(m => Buffer.from(m))
        const b = Buffer.alloc(2 + 4 + names.reduce((n, x) => n + 2 + x.length, 0))
        b.writeInt16BE(code, 0)
        b.writeInt32BE(names.length, 2)
        let o = 6
        for (const n of names) { b.writeInt16BE(n.length, o); n.copy(b, o + 2); o += 2 + n.length }
        reply(corr, b)
      } else if (apiKey === 36 && session !== null) { // SaslAuthenticate v0
        const bytes = body.subarray(4, 4 + body.readInt32BE(0))
        const step = await session.step(new Uint8Array(bytes))
        front.events.push(step.kind === 'success' ? `success ${step.principal.name} ${step.principal.method}` : step.kind === 'failure' ? `failure ${step.reason}` : 'challenge')
        let out = Buffer.from(step.kind === 'failure' ? [] : step.response)
        if (step.kind === 'success' && front.corruptFinal && out.length > 4) { out = Buffer.from(out); out[4] = out[4] === 0x41 ? 0x42 : 0x41 }
        const msg = step.kind === 'failure' ? Buffer.from(step.error.message) : null
        const b = Buffer.alloc(2 + 2 + (msg?.length ?? 0) + 4 + out.length)
        b.writeInt16BE(step.kind === 'failure' ? step.error.errorCode : 0, 0)
        b.writeInt16BE(msg === null ? -1 : msg.length, 2)
        let o = 4
        if (msg !== null) { msg.copy(b, 4); o += msg.length }
        b.writeInt32BE(out.length, o)
        out.copy(b, o + 4)
        reply(corr, b)
        if (step.kind === 'failure') socket.end()
      } else {
        front.events.push(`api ${apiKey}`)
        socket.destroy() // Metadata (3) after authentication: the exchange was accepted; that is all we need.
      }
    }
    let chain = Promise.resolve()
    socket.on('data', d => {
      buf = Buffer.concat([buf, d])
      while (buf.length >= 4 && buf.length >= 4 + buf.readInt32BE(0)) {
        const frame = buf.subarray(4, 4 + buf.readInt32BE(0))
        buf = buf.subarray(4 + frame.length)
        chain = chain.then(async () => await handle(frame)).catch(() => { socket.destroy() })
      }
    })
  })
  await new Promise<void>(resolve => srv.listen(0, '127.0.0.1', resolve))
  t.teardown(() => { for (const s of sockets) s.destroy(); return new Promise<void>(resolve => srv.close(() => resolve())) })
  front.port = (srv.address() as net.AddressInfo).port
  return front
}

t.test('kcat (librdkafka) authenticates with SCRAM-SHA-256, SCRAM-SHA-512 and PLAIN', async t => {
  const store = storeIn(t)
  await store.addUser('alice', 'al1ce-pw')
  const server = new SaslServer({ credentials: store })
  const kcat = (front: Front, mech: string, password: string): Proc => start(t, '/usr/bin/kcat', [
    '-b', `127.0.0.1:${front.port}`, '-L', '-m', '20',
    '-X', 'security.protocol=SASL_PLAINTEXT', '-X', `sasl.mechanisms=${mech}`,
    '-X', 'sasl.username=alice', '-X', `sasl.password=${password}`, '-X', 'debug=security',
  ])
  for (const mech of ['SCRAM-SHA-256', 'SCRAM-SHA-512', 'PLAIN']) {
    const front = await kafkaSaslFront(t, server)
    const ok = kcat(front, mech, 'al1ce-pw')
    await waitFor(`kcat ${mech} to ask for metadata`, () => front.events.includes('api 3')).catch(err => { t.comment(front.events.join(' | '), ok.stderr().slice(0, 3000)); throw err })
    ok.child.kill('SIGKILL')
    await ok.exited
    t.same(front.events.filter(e => !e.startsWith('ApiVersions')).slice(0, mech === 'PLAIN' ? 3 : 4),
      mech === 'PLAIN'
        ? [`SaslHandshake ${mech}`, 'success alice plain', 'api 3']
        : [`SaslHandshake ${mech}`, 'challenge', `success alice ${mech.toLowerCase()}`, 'api 3'],
      `${mech}: handshake, exchange, then metadata`)
    if (mech !== 'PLAIN') t.match(ok.stderr(), `Authenticated as alice using ${mech}`, 'librdkafka verified our server signature')

    const bad = kafkaSaslFront(t, server)
    const front2 = await bad
    const wrong = kcat(front2, mech, 'not-the-password')
    await waitFor(`the ${mech} failure`, () => front2.events.some(e => e.startsWith('failure')))
    await waitFor('kcat to report it', () => /Authentication failed/i.test(wrong.stderr()))
    wrong.child.kill('SIGKILL')
    await wrong.exited
    t.notOk(front2.events.includes('api 3'), `${mech}: a wrong password gets no further`)
    t.ok(front2.events.includes(mech === 'PLAIN' ? 'failure bad-password' : 'failure invalid-proof'))
  }

  // librdkafka checks our v=: corrupt it and it must refuse to go on.
  const front3 = await kafkaSaslFront(t, server)
  front3.corruptFinal = true
  const tampered = kcat(front3, 'SCRAM-SHA-256', 'al1ce-pw')
  await waitFor('our side to accept', () => front3.events.includes('success alice scram-sha-256'))
  await waitFor('librdkafka to reject the signature', () => /ServerSignature mismatch/.test(tampered.stderr()))
  tampered.child.kill('SIGKILL')
  await tampered.exited
  t.notOk(front3.events.includes('api 3'), 'no metadata request after a bad server signature')
  t.notMatch(tampered.stderr(), 'Authenticated as alice')
})
