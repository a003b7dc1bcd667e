// SASL PLAIN and SCRAM-SHA-256/512: the server state machine (broker/security/sasl-server.ts)
// against the published RFC 7677 exchange byte for byte, against the client state machine
// (protocol/sasl/client.ts) with both crypto back-ends, and against broken, hostile and
// random input. The independent peers (a Python SCRAM implementation and kcat/librdkafka)
// are in tests/integration/security-interop.test.ts.
import t, { type Test } from 'tap'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { randomBytes } from 'node:crypto'
import { CredentialStore } from '../../broker/security/credentials.js'
import { SaslServer, type SaslStep } from '../../broker/security/sasl-server.js'
import { IllegalSaslStateError, SaslAuthenticationFailedError, UnsupportedSaslMechanismError } from '../../protocol/errors.js'
import { createSaslClient, type SaslClient } from '../../protocol/sasl/client.js'
import type { SaslCrypto } from '../../protocol/sasl/crypto.js'
import { base64Decode, base64Encode, fromUtf8, utf8 } from '../../protocol/sasl/encoding.js'
import {
  authMessage, clientProof, decodeSaslName, encodeSaslName, parseServerFirst, saltedPassword, scramCredential, scramKeys, type ScramMechanism,
} from '../../protocol/sasl/scram.js'
import { nodeSaslCrypto } from '../../platform/sasl-crypto-node.js'
import { webSaslCrypto } from '../../platform/sasl-crypto-web.js'

const text = (b: Uint8Array | null): string => b === null ? '<null>' : fromUtf8(b) ?? '<not utf8>'

function tempStore (t: { teardown (fn: () => unknown): void }): CredentialStore {
  const dir = mkdtempSync(path.join(tmpdir(), 'spool-sasl-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  return CredentialStore.open({ dataDir: dir })
}

/** Runs a whole exchange; returns the server's last step. */
async function exchange (t: Test, server: SaslServer, client: SaslClient): Promise<SaslStep> {
  const session = server.start(client.mechanism)
  let msg: Uint8Array | null = await client.start()
  for (let i = 0; i < 4 && msg !== null; i++) {
    const step = await session.step(msg)
    if (step.kind !== 'challenge') {
      if (step.kind === 'success') t.equal(await client.step(step.response), null, 'client accepts the final server message')
      return step
    }
    msg = await client.step(step.response)
  }
  throw new Error('exchange did not finish')
}

t.test('RFC 7677 SCRAM-SHA-256 exchange, byte for byte (server and client)', async t => {
  const store = tempStore(t)
  const salt = base64Decode('W22ZaJ0SNY7soEsUEjb6gQ==')!
  store.putCredential('user', 'SCRAM-SHA-256', await scramCredential(nodeSaslCrypto, 'SCRAM-SHA-256', 'pencil', 4096, salt))
  const server = new SaslServer({ credentials: store, serverNonce: () => '%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0' })
  const session = server.start('SCRAM-SHA-256')
  const s1 = await session.step(utf8('n,,n=user,r=rOprNGfwEbeRWgbNEkqO'))
  t.equal(s1.kind, 'challenge')
  t.equal(text(s1.kind === 'challenge' ? s1.response : null), 'r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096')
  const s2 = await session.step(utf8('c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ='))
  t.equal(s2.kind, 'success')
  if (s2.kind !== 'success') return
  t.equal(text(s2.response), 'v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=')
  t.same(s2.principal, { type: 'User', name: 'user', method: 'scram-sha-256' })
  t.ok(session.finished)

  // The client, given the RFC's nonce, produces the RFC's messages and accepts its v=.
  for (const crypto of [nodeSaslCrypto, webSaslCrypto()]) {
    const client = createSaslClient('SCRAM-SHA-256', { username: 'user', password: 'pencil', crypto, nonce: 'rOprNGfwEbeRWgbNEkqO' })
    t.equal(text(await client.start()), 'n,,n=user,r=rOprNGfwEbeRWgbNEkqO')
    t.equal(text(await client.step(utf8('r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096'))),
      'c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=')
    t.equal(await client.step(utf8('v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=')), null)
    t.ok(client.done)
  }
})

t.test('node:crypto and WebCrypto back-ends agree', async t => {
  const web = webSaslCrypto()
  const key = randomBytes(40)
  const data = randomBytes(300)
  for (const hash of ['SHA-256', 'SHA-512'] as const) {
    t.same(await web.hmac(hash, key, data), await nodeSaslCrypto.hmac(hash, key, data), `hmac ${hash}`)
    t.same(await web.digest(hash, data), await nodeSaslCrypto.digest(hash, data), `digest ${hash}`)
    t.same(await web.pbkdf2(hash, utf8('pw'), key, 4096, 64), await nodeSaslCrypto.pbkdf2(hash, utf8('pw'), key, 4096, 64), `pbkdf2 ${hash}`)
  }
  const r = web.randomBytes(70_000)
  t.equal(r.length, 70_000)
  t.ok(r.subarray(65_536).some(b => b !== 0), 'bytes past the first 64 KiB are filled too')
})

t.test('client and server agree for every mechanism, both crypto back-ends, awkward names', async t => {
  const store = tempStore(t)
  const names = ['alice', 'a,b=c', 'jörg 用户', 'x=2Cy']
  for (const n of names) await store.addUser(n, `pw of ${n} ✓`)
  const server = new SaslServer({ credentials: store })
  for (const crypto of [nodeSaslCrypto, webSaslCrypto()] as SaslCrypto[]) {
    for (const mech of ['SCRAM-SHA-256', 'SCRAM-SHA-512', 'PLAIN'] as const) {
      for (const n of names) {
        const step = await exchange(t, server, createSaslClient(mech, { username: n, password: `pw of ${n} ✓`, crypto }))
        t.equal(step.kind, 'success', `${mech} ${n}`)
        if (step.kind === 'success') {
          t.equal(step.principal.name, n)
          t.equal(step.principal.method, mech.toLowerCase())
        }
      }
      const bad = await exchange(t, server, createSaslClient(mech, { username: 'alice', password: 'wrong', crypto }))
      t.equal(bad.kind, 'failure', `${mech} wrong password fails`)
      if (bad.kind === 'failure') {
        t.ok(bad.error instanceof SaslAuthenticationFailedError)
        t.equal(bad.error.errorCode, 58)
        t.equal(bad.reason, mech === 'PLAIN' ? 'bad-password' : 'invalid-proof')
        t.equal(text(bad.response), mech === 'PLAIN' ? '<null>' : 'e=invalid-proof')
        t.equal(bad.username, 'alice')
        t.notMatch(bad.error.message, /wrong/, 'the password is not in the error')
      }
    }
  }
  t.same(encodeSaslName('a,b=c'), 'a=2Cb=3Dc')
  t.equal(decodeSaslName('a=2Cb=3Dc'), 'a,b=c')
  t.throws(() => decodeSaslName('a=2'), /escape/)
  t.throws(() => decodeSaslName('a=41'), /escape/)
})

t.test('unknown users look like wrong passwords (decoy salt, failure at the proof)', async t => {
  const store = tempStore(t)
  await store.addUser('alice', 'secret')
  const server = new SaslServer({ credentials: store })
  const salts: string[] = []
  for (const user of ['ghost', 'ghost', 'phantom']) {
    const client = createSaslClient('SCRAM-SHA-512', { username: user, password: 'x', crypto: nodeSaslCrypto })
    const session = server.start('SCRAM-SHA-512')
    const first = await session.step(await client.start())
    t.equal(first.kind, 'challenge', 'an unknown user still gets a challenge')
    if (first.kind !== 'challenge') return
    const sf = text(first.response)
    t.match(sf, /,i=4096$/)
    salts.push(/s=([^,]+)/.exec(sf)![1]!)
    const last = await session.step((await client.step(first.response))!)
    t.equal(last.kind, 'failure')
    if (last.kind === 'failure') {
      t.equal(last.reason, 'unknown-user', 'the log can tell')
      t.equal(text(last.response), 'e=invalid-proof', 'the client cannot')
      t.equal(last.error.message, 'Authentication failed: invalid user name or password')
    }
  }
  t.equal(salts[0], salts[1], 'the decoy salt is stable for a name')
  t.not(salts[0], salts[2], 'and differs between names')
  t.equal(base64Decode(salts[0]!)!.length, 32)
  // PLAIN: no difference in the answer either.
  const plain = await server.start('PLAIN').step(utf8('\0ghost\0x'))
  t.equal(plain.kind === 'failure' && plain.reason, 'bad-password')
})

t.test('nonces, channel binding, authzid and extensions', async t => {
  const store = tempStore(t)
  await store.addUser('alice', 'secret')
  const server = new SaslServer({ credentials: store })
  async function first (msg: string, mech: ScramMechanism = 'SCRAM-SHA-256'): Promise<{ step: SaslStep, session: ReturnType<SaslServer['start']> }> {
    const session = server.start(mech)
    return { step: await session.step(utf8(msg)), session }
  }
  const reason = (s: SaslStep): string => s.kind === 'failure' ? s.reason : s.kind

  // The server nonce extends the client's with fresh random bytes each time.
  const a = await first('n,,n=alice,r=abc')
  const b = await first('n,,n=alice,r=abc')
  const nonceOf = (s: SaslStep): string => /^r=([^,]+)/.exec(text(s.kind === 'challenge' ? s.response : null))![1]!
  t.ok(nonceOf(a.step).startsWith('abc') && nonceOf(a.step).length >= 3 + 32)
  t.not(nonceOf(a.step), nonceOf(b.step))

  // A client-final whose nonce is not the combined one fails; so does a replay into a new session.
  const client = createSaslClient('SCRAM-SHA-256', { username: 'alice', password: 'secret', crypto: nodeSaslCrypto, nonce: 'abc' })
  await client.start()
  const final = text(await client.step(a.step.kind === 'challenge' ? a.step.response : new Uint8Array()))
  const tampered = final.replace(`r=${nonceOf(a.step)}`, `r=${nonceOf(a.step)}x`)
  t.equal(reason(await a.session.step(utf8(tampered))), 'nonce-mismatch')
  const replay = await first('n,,n=alice,r=abc')
  t.equal(reason(await replay.session.step(utf8(final))), 'nonce-mismatch', 'a recorded client-final does not work in another session')

  t.equal(reason((await first('n,,n=alice,r=ab,c')).step), 'malformed', 'a comma cannot be in a nonce')
  t.equal(reason((await first('n,,n=alice,r=a\u0001b')).step), 'malformed', 'nor a control character')
  t.equal(reason((await first('p=tls-unique,,n=alice,r=abc')).step), 'channel-binding', 'no -PLUS: channel binding is refused')
  t.equal(reason((await first('q,,n=alice,r=abc')).step), 'malformed')
  t.equal(reason((await first('n,,m=ext,n=alice,r=abc')).step), 'unsupported-extension', 'a mandatory extension is refused')
  t.equal(reason((await first('n,,n=alice,r=abc,tokenauth=true')).step), 'unsupported-extension', 'delegation tokens are not supported')
  t.equal(reason((await first('n,,n=alice,r=abc,foo=bar')).step), 'challenge', 'other extensions are ignored')
  t.equal(reason((await first('n,a=bob,n=alice,r=abc')).step), 'authzid-mismatch', 'no acting as another user')

  // 'y' (client could bind, server offers no -PLUS) and a matching authzid both succeed; c= must echo the header.
  async function finalFor (bare: string, serverFirst: string, cbind: string, nonce?: string): Promise<string> {
    const sf = parseServerFirst(serverFirst)
    const keys = await scramKeys(nodeSaslCrypto, 'SCRAM-SHA-256', await saltedPassword(nodeSaslCrypto, 'SCRAM-SHA-256', 'secret', sf.salt, sf.iterations))
    const withoutProof = `c=${base64Encode(utf8(cbind))},r=${nonce ?? sf.nonce}`
    const proof = await clientProof(nodeSaslCrypto, 'SCRAM-SHA-256', keys, authMessage(bare, serverFirst, withoutProof))
    return `${withoutProof},p=${base64Encode(proof)}`
  }
  for (const gs2 of ['y,,', 'n,a=alice,']) {
    const f = await first(`${gs2}n=alice,r=xyz`)
    const sf = text(f.step.kind === 'challenge' ? f.step.response : null)
    t.equal(reason(await f.session.step(utf8(await finalFor('n=alice,r=xyz', sf, gs2)))), 'success', `GS2 header ${gs2}`)
    const g = await first(`${gs2}n=alice,r=xyz`)
    const sg = text(g.step.kind === 'challenge' ? g.step.response : null)
    t.equal(reason(await g.session.step(utf8(await finalFor('n=alice,r=xyz', sg, 'n,,')))), 'channel-binding', `c= not echoing ${gs2} fails`)
  }
  // librdkafka < 2.6.1 repeats its client nonce: accepted in exactly that form, unless disabled.
  const strict = new SaslServer({ credentials: store, acceptDuplicatedClientNonce: false })
  for (const [srv, prefix, expected] of [[server, 'dup', 'success'], [strict, 'dup', 'nonce-mismatch'], [server, 'dux', 'nonce-mismatch'], [server, '', 'success']] as const) {
    const s = srv.start('SCRAM-SHA-256')
    const st = await s.step(utf8('n,,n=alice,r=dup'))
    const sf = text(st.kind === 'challenge' ? st.response : null)
    const fin = await finalFor('n=alice,r=dup', sf, 'n,,', prefix + parseServerFirst(sf).nonce)
    t.equal(reason(await s.step(utf8(fin))), expected, `nonce ${prefix ? `${prefix} + combined` : 'combined'}${srv === strict ? ' (strict)' : ''}`)
  }

  const withAuthz = await exchange(t, server, createSaslClient('SCRAM-SHA-512', { username: 'alice', password: 'secret', authzid: 'alice', crypto: nodeSaslCrypto }))
  t.equal(reason(withAuthz), 'success', 'the client sends a=alice and c= to match')

  const mechClient = createSaslClient('PLAIN', { username: 'alice', password: 'secret', authzid: 'bob', crypto: nodeSaslCrypto })
  const pl = await server.start('PLAIN').step(await mechClient.start())
  t.equal(reason(pl), 'authzid-mismatch', 'PLAIN authzid must equal the user')
  const ok = await server.start('PLAIN').step(utf8('alice\0alice\0secret'))
  t.equal(reason(ok), 'success', 'PLAIN authzid equal to the user is fine')
})

t.test('the client checks the server: nonce, iterations, v= signature, e= errors', async t => {
  const store = tempStore(t)
  await store.addUser('alice', 'secret')
  const server = new SaslServer({ credentials: store })
  const mk = (opts: { minIterations?: number, maxIterations?: number } = {}): SaslClient =>
    createSaslClient('SCRAM-SHA-256', { username: 'alice', password: 'secret', crypto: nodeSaslCrypto, ...opts })

  let c = mk()
  await c.start()
  await t.rejects(c.step(utf8('r=someone-else-nonce,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096')), SaslAuthenticationFailedError, 'nonce must extend ours')

  c = mk({ minIterations: 10_000 })
  const session = server.start('SCRAM-SHA-256')
  const s1 = await session.step(await c.start())
  await t.rejects(c.step(s1.kind === 'challenge' ? s1.response : new Uint8Array()), /4096 iterations/, 'too few iterations refused')

  c = mk({ maxIterations: 5000 })
  const m1 = await c.start()
  const nonce = /r=([^,]+)/.exec(text(m1))![1]!
  await t.rejects(c.step(utf8(`r=${nonce}srv,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=2000000`)), /2000000 iterations/, 'too many iterations refused')

  // A server that does not know the password cannot produce v=.
  c = mk()
  const sess = server.start('SCRAM-SHA-256')
  const f = await sess.step(await c.start())
  const fin = await c.step(f.kind === 'challenge' ? f.response : new Uint8Array())
  const ok = await sess.step(fin!)
  t.equal(ok.kind, 'success')
  const forged = text(ok.kind === 'success' ? ok.response : null).replace(/v=(.)/, (_m, ch: string) => `v=${ch === 'A' ? 'B' : 'A'}`)
  await t.rejects(c.step(utf8(forged)), /server signature does not verify/)
  t.notOk(c.done)

  c = mk()
  const sess2 = server.start('SCRAM-SHA-256')
  const f2 = await sess2.step(await c.start())
  await c.step(f2.kind === 'challenge' ? f2.response : new Uint8Array())
  await t.rejects(c.step(utf8('e=invalid-proof')), /refused: invalid-proof/)
  await t.rejects(c.step(utf8('v=x')), IllegalSaslStateError, 'a failed client stays failed')

  const plain = createSaslClient('PLAIN', { username: 'a', password: 'b', crypto: nodeSaslCrypto })
  await t.rejects(plain.step(new Uint8Array()), IllegalSaslStateError, 'PLAIN step before start')
  await plain.start()
  await t.rejects(plain.start(), IllegalSaslStateError)
  t.equal(await plain.step(new Uint8Array()), null)
  t.ok(plain.done)
  t.throws(() => createSaslClient('GSSAPI', { username: 'a', password: 'b', crypto: nodeSaslCrypto }), UnsupportedSaslMechanismError)
  t.throws(() => createSaslClient('PLAIN', { username: 'a\0', password: 'b', crypto: nodeSaslCrypto }), /NUL/)
})

t.test('states, mechanisms and limits on the server', async t => {
  const store = tempStore(t)
  await store.addUser('alice', 'secret')
  const server = new SaslServer({ credentials: store, mechanisms: ['SCRAM-SHA-256', 'PLAIN'], maxMessageBytes: 512 })
  t.same(server.mechanisms, ['SCRAM-SHA-256', 'PLAIN'])
  t.throws(() => server.start('SCRAM-SHA-512'), UnsupportedSaslMechanismError, 'a mechanism not enabled')
  try {
    server.start('GSSAPI')
    t.fail('GSSAPI started')
  } catch (err) {
    t.ok(err instanceof UnsupportedSaslMechanismError && err.errorCode === 33, 'UNSUPPORTED_SASL_MECHANISM (33)')
  }
  t.throws(() => new SaslServer({ credentials: store, mechanisms: ['CRAM-MD5' as 'PLAIN'] }), UnsupportedSaslMechanismError)

  const step = await exchange(t, server, createSaslClient('PLAIN', { username: 'alice', password: 'secret', crypto: nodeSaslCrypto }))
  t.equal(step.kind, 'success')
  const s = server.start('PLAIN')
  await s.step(utf8('\0alice\0secret'))
  const again = await s.step(utf8('\0alice\0secret'))
  t.ok(again.kind === 'failure' && again.error instanceof IllegalSaslStateError && again.error.errorCode === 34, 'a message after the end is ILLEGAL_SASL_STATE')
  const sc = server.start('SCRAM-SHA-256')
  await sc.step(utf8('garbage'))
  const after = await sc.step(utf8('n,,n=alice,r=abc'))
  t.equal(after.kind === 'failure' && after.reason, 'illegal-state', 'a failed SCRAM exchange cannot be continued')

  const big = await server.start('PLAIN').step(new Uint8Array(513))
  t.equal(big.kind === 'failure' && big.reason, 'too-large')
  const big2 = await server.start('SCRAM-SHA-256').step(utf8(`n,,n=alice,r=${'a'.repeat(600)}`))
  t.equal(big2.kind === 'failure' && big2.reason, 'too-large')

  for (const [msg, why] of [['alice\0secret', 'one NUL'], ['\0\0secret', 'empty user'], ['\0alice\0', 'empty password'], ['\0a\0b\0c', 'three NULs']] as const) {
    const r = await server.start('PLAIN').step(utf8(msg))
    t.equal(r.kind === 'failure' && r.reason, 'malformed', `PLAIN ${why}`)
  }
  const notUtf8 = await server.start('PLAIN').step(new Uint8Array([0, 0xc3, 0x28, 0, 0x41]))
  t.equal(notUtf8.kind === 'failure' && notUtf8.reason, 'malformed', 'invalid UTF-8')
})

t.test('random and mutated input always gives a typed failure, never a throw', async t => {
  const store = tempStore(t)
  await store.addUser('alice', 'secret')
  const server = new SaslServer({ credentials: store })
  const good = 'n,,n=alice,r=abcdef'
  let failures = 0
  for (let i = 0; i < 300; i++) {
    for (const mech of ['SCRAM-SHA-256', 'SCRAM-SHA-512', 'PLAIN']) {
      const session = server.start(mech)
      const input = i % 2 === 0 ? randomBytes(i % 64) : utf8(good.slice(0, i % good.length) + String.fromCharCode(i % 128) + good.slice(i % good.length))
      const r = await session.step(input)
      if (r.kind === 'failure') {
        failures++
        t.ok(r.error instanceof SaslAuthenticationFailedError || r.error instanceof IllegalSaslStateError)
      } else if (r.kind === 'challenge') {
        // Follow up with garbage as the client-final.
        const r2 = await session.step(randomBytes(i % 90))
        if (r2.kind !== 'failure') t.fail('random client-final accepted')
        else failures++
      } else {
        t.fail(`random input authenticated: ${text(input)}`)
      }
    }
  }
  t.ok(failures >= 900, `every exchange failed (${failures})`)
})

t.test('strict base64', async t => {
  for (let n = 0; n < 20; n++) {
    const b = randomBytes(n)
    t.equal(base64Encode(b), b.toString('base64'))
    t.same(base64Decode(b.toString('base64')), new Uint8Array(b))
  }
  for (const bad of ['a', 'ab=c', 'abc', 'ab\ncd==', 'YQ=', 'YR==', '====', 'Y?==']) t.equal(base64Decode(bad), null, JSON.stringify(bad))
})
