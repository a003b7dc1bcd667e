/**
 * Shared pieces of the security tests: a broker with --auth whose users and ACLs are written
 * to its data dir before it starts (as `spool user add` / `spool acl add` would), a logger
 * that keeps every line so a test can check that no secret was ever logged, and a small PKI
 * made by openssl (a CA, a server certificate for 127.0.0.1, client certificates).
 */

import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { pino, type Logger } from 'pino'
import type { Test } from 'tap'
import { Broker, type BrokerOptions } from '../../broker/broker.js'
import { AclStore } from '../../broker/security/acl-store.js'
import type { AclEntry } from '../../broker/security/acl.js'
import { CredentialStore } from '../../broker/security/credentials.js'
import { tempDir, type TestLike } from './broker.js'

/** A logger at debug level whose every line is kept in `lines` (and nothing is printed). */
export function capturingLogger (): { logger: Logger, lines: string[] } {
  const lines: string[] = []
  const logger = pino({ level: 'debug' }, { write (line: string) { lines.push(line) } })
  return { logger, lines }
}

/** Every log line of a test file, and the secrets that must not be in any of them. */
export class LogAudit {
  readonly lines: string[] = []
  readonly secrets = new Set<string>()

  logger (): Logger {
    const lines = this.lines
    return pino({ level: 'debug' }, { write (line: string) { lines.push(line) } })
  }

  secret (...values: string[]): void {
    for (const v of values) if (v.length >= 6) this.secrets.add(v)
  }

  /** The lines that contain a secret (empty when all is well). */
  leaks (): string[] {
    return this.lines.filter(line => [...this.secrets].some(s => line.includes(s)))
  }
}

export interface SecureBrokerOptions extends BrokerOptions {
  users?: Record<string, string>
  acls?: Array<Partial<AclEntry>>
}

/** Writes users and ACLs into a data dir, as the CLI would. */
export async function seedSecurity (dataDir: string, users: Record<string, string>, acls: Array<Partial<AclEntry>> = []): Promise<void> {
  const store = CredentialStore.open({ dataDir })
  for (const [name, password] of Object.entries(users)) await store.addUser(name, password)
  if (acls.length > 0) AclStore.open({ dataDir }).add(acls)
}

/** A broker with --auth on free loopback ports, its users and ACLs seeded; closed at teardown. */
export async function startSecureBroker (t: TestLike, options: SecureBrokerOptions = {}): Promise<Broker> {
  const { users = {}, acls = [], ...rest } = options
  const dataDir = rest.dataDir ?? tempDir(t, 'spool-secure-')
  await seedSecurity(dataDir, users, acls)
  const broker = await Broker.start({
    host: '127.0.0.1', port: 0, httpPort: 0, mqttPort: null, kafkaPort: null, logLevel: 'silent', auth: true,
    authThrottle: { baseDelayMs: 1, maxDelayMs: 5 },
    ...rest, dataDir,
  })
  t.teardown(() => broker.close())
  return broker
}

/** Runs a program to completion (bounded; killed at teardown or exit); rejects on a non-zero exit. */
export async function runProgram (t: Test, cmd: string, args: string[], cwd: string): Promise<string> {
  const child = spawn(cmd, args, { cwd, detached: true, stdio: ['ignore', 'pipe', 'pipe'] })
  const kill = (): void => { try { process.kill(-child.pid!, 'SIGKILL') } catch { /* gone */ } }
  t.teardown(kill)
  process.once('exit', kill)
  let out = ''
  let err = ''
  child.stdout.setEncoding('utf8').on('data', (d: string) => { out += d })
  child.stderr.setEncoding('utf8').on('data', (d: string) => { err += d })
  const timer = setTimeout(kill, 20_000)
  const code = await new Promise<number | null>(resolve => child.once('exit', c => resolve(c)))
  clearTimeout(timer)
  process.off('exit', kill)
  if (code !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${code}: ${err}`)
  return out
}

export interface Pki { dir: string, file: (name: string) => string }

/**
 * A CA (`ca.crt`), server certificates for 127.0.0.1 (`server.crt`/`.key`, and `server2.*`
 * for reload tests), client certificates from the CA (`alice`: /C=US/O=acme/OU=eng/CN=alice,
 * `bob`: /O=acme/CN=bob) and one from another CA (`mallory`).
 */
export async function makePki (t: Test): Promise<Pki> {
  const dir = mkdtempSync(path.join(tmpdir(), 'spool-pki-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const ossl = (...args: string[]): Promise<string> => runProgram(t, 'openssl', args, dir)
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes']
  writeFileSync(path.join(dir, 'server.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n')
  for (const ca of ['ca', 'otherca']) await ossl('req', '-x509', ...ec, '-keyout', `${ca}.key`, '-out', `${ca}.crt`, '-subj', `/CN=Spool test ${ca}`, '-days', '2')
  const leaf = async (name: string, subj: string, ca: string): Promise<void> => {
    await ossl('req', ...ec, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', subj)
    await ossl('x509', '-req', '-in', `${name}.csr`, '-CA', `${ca}.crt`, '-CAkey', `${ca}.key`, '-CAcreateserial', '-out', `${name}.crt`, '-days', '2',
      ...(name.startsWith('server') ? ['-extfile', 'server.ext'] : []))
  }
  await leaf('server', '/O=acme/CN=spool-one', 'ca')
  await leaf('server2', '/O=acme/CN=spool-two', 'ca')
  await leaf('alice', '/C=US/O=acme/OU=eng/CN=alice', 'ca')
  await leaf('bob', '/O=acme/CN=bob', 'ca')
  await leaf('mallory', '/CN=mallory', 'otherca')
  return { dir, file: name => path.join(dir, name) }
}

export { tempDir }
