/**
 * TLS for every listener from three PEM files: the server certificate (chain), its key,
 * and optionally the CA that signs client certificates (mTLS).
 *
 * - `TlsContextManager.load()` reads and checks the files (the key must match the
 *   certificate; client auth `required` needs a CA) and gives `serverOptions()` for
 *   `tls.createServer` / `https.createServer`: TLS 1.2 minimum (TLS 1.3 when both sides have it), Node's
 *   default cipher list, client certificates requested or required as configured.
 * - Reload without a restart: on SIGHUP (when `reloadOnSighup`) and when any of the files
 *   changes (a stat of each every `pollIntervalMs`: inode, size and mtime), the files are
 *   read again and, if they form a valid pair, `setSecureContext` is called on every
 *   attached server. New connections get the new certificate; open ones keep theirs. A
 *   half-replaced pair (new certificate, old key) fails the check, is logged, and is tried
 *   again when the files change again — the old context stays in force meanwhile.
 * - `peerPrincipal(socket)`: for a verified client certificate, `User:<subject>` with the
 *   subject in RFC 2253 form (see x509-name.ts) — or `User:<CN>` with `principalFrom: 'cn'`
 *   (as Mosquitto's use_identity_as_username). An unverified or absent certificate gives
 *   null: the connection stays anonymous (or must authenticate another way).
 */

import { X509Certificate } from 'node:crypto'
import { readFileSync, statSync } from 'node:fs'
import { createSecureContext, type SecureContextOptions, type Server, type TLSSocket, type TlsOptions } from 'node:tls'
import type { Logger } from 'pino'
import { TlsConfigInvalidError } from '../../protocol/errors.js'
import { userPrincipal, type Principal } from './principal.js'
import { rfc2253Subject, subjectCommonName } from './x509-name.js'

export type ClientAuth = 'none' | 'requested' | 'required'

export interface TlsFilesOptions {
  readonly certFile: string
  readonly keyFile: string
  /** CA bundle that client certificates must chain to (needed for clientAuth requested/required). */
  readonly caFile?: string
  readonly clientAuth?: ClientAuth
  readonly minVersion?: 'TLSv1.2' | 'TLSv1.3'
  /** Passphrase of an encrypted key. */
  readonly passphrase?: string
  /** How often the files are checked for changes (default 5000 ms; 0 = never). */
  readonly pollIntervalMs?: number
  readonly reloadOnSighup?: boolean
  readonly principalFrom?: 'dn' | 'cn'
  readonly logger?: Logger
}

export interface CertificateInfo {
  readonly subject: string
  readonly issuer: string
  readonly validFrom: string
  readonly validTo: string
  readonly fingerprint256: string
}

interface Loaded {
  readonly context: SecureContextOptions
  readonly certificate: CertificateInfo
}

function fileSignature (file: string): string {
  try {
    const st = statSync(file, { bigint: true })
    return `${st.ino}:${st.size}:${st.mtimeNs}`
  } catch {
    return 'missing'
  }
}

function read (file: string, what: string): Buffer {
  try {
    return readFileSync(file)
  } catch (err) {
    throw new TlsConfigInvalidError(`TLS ${what} file ${file} cannot be read: ${(err as Error).message}`, { cause: err })
  }
}

export class TlsContextManager {
  readonly options: TlsFilesOptions
  #loaded: Loaded
  #signature: string
  #servers = new Set<Server>()
  #timer: NodeJS.Timeout | null = null
  #onSighup: (() => void) | null = null
  #reloads = 0
  #reloadFailures = 0
  #lastError: TlsConfigInvalidError | null = null

  /** Reads and checks the files; throws TlsConfigInvalidError naming the file and the problem. */
  static load (options: TlsFilesOptions): TlsContextManager {
    return new TlsContextManager(options)
  }

  private constructor (options: TlsFilesOptions) {
    this.options = options
    const clientAuth = options.clientAuth ?? 'none'
    if (clientAuth !== 'none' && options.caFile === undefined) throw new TlsConfigInvalidError(`client auth ${clientAuth} needs a CA file for client certificates`)
    this.#signature = this.#filesSignature()
    this.#loaded = this.#read()
    const every = options.pollIntervalMs ?? 5000
    if (every > 0) {
      this.#timer = setInterval(() => { if (this.#filesSignature() !== this.#signature) this.reload() }, every)
      this.#timer.unref()
    }
    if (options.reloadOnSighup ?? true) {
      this.#onSighup = () => { this.reload() }
      process.on('SIGHUP', this.#onSighup)
    }
  }

  get certificate (): CertificateInfo { return this.#loaded.certificate }
  get reloads (): number { return this.#reloads }
  get reloadFailures (): number { return this.#reloadFailures }
  get lastError (): TlsConfigInvalidError | null { return this.#lastError }

  /** Options for tls.createServer / https.createServer (pass the result of this call; it is a fresh object). */
  serverOptions (): TlsOptions {
    const clientAuth = this.options.clientAuth ?? 'none'
    return {
      ...this.#loaded.context,
      requestCert: clientAuth !== 'none',
      rejectUnauthorized: clientAuth === 'required',
    }
  }

  /** Keeps `server`'s certificate in step with reloads. */
  attach (server: Server): void {
    this.#servers.add(server)
    server.once('close', () => this.#servers.delete(server))
  }

  detach (server: Server): void {
    this.#servers.delete(server)
  }

  /** Reads the files now; true when the new context is in force, false when they are not usable (old one kept). */
  reload (): boolean {
    this.#signature = this.#filesSignature()
    let next: Loaded
    try {
      next = this.#read()
    } catch (err) {
      if (!(err instanceof TlsConfigInvalidError)) throw err
      this.#reloadFailures++
      this.#lastError = err
      this.options.logger?.error({ err: err.message, certFile: this.options.certFile }, 'TLS reload failed; keeping the current certificate')
      return false
    }
    this.#loaded = next
    this.#reloads++
    this.#lastError = null
    for (const s of this.#servers) s.setSecureContext(next.context)
    this.options.logger?.info({ subject: next.certificate.subject, validTo: next.certificate.validTo, fingerprint256: next.certificate.fingerprint256 }, 'TLS certificate reloaded')
    return true
  }

  /** The principal of a verified client certificate on `socket`, or null. */
  peerPrincipal (socket: TLSSocket): Principal | null {
    return peerPrincipal(socket, this.options.principalFrom ?? 'dn')
  }

  close (): void {
    if (this.#timer !== null) clearInterval(this.#timer)
    this.#timer = null
    if (this.#onSighup !== null) process.off('SIGHUP', this.#onSighup)
    this.#onSighup = null
    this.#servers.clear()
  }

  #filesSignature (): string {
    const { certFile, keyFile, caFile } = this.options
    return [certFile, keyFile, ...(caFile === undefined ? [] : [caFile])].map(fileSignature).join('|')
  }

  #read (): Loaded {
    const { certFile, keyFile, caFile, passphrase } = this.options
    const cert = read(certFile, 'certificate')
    const key = read(keyFile, 'key')
    const ca = caFile === undefined ? undefined : read(caFile, 'CA')
    let x509: X509Certificate
    try {
      x509 = new X509Certificate(cert)
    } catch (err) {
      throw new TlsConfigInvalidError(`TLS certificate file ${certFile} holds no PEM certificate: ${(err as Error).message}`, { cause: err })
    }
    const context: SecureContextOptions = {
      cert, key, minVersion: this.options.minVersion ?? 'TLSv1.2',
      ...(ca === undefined ? {} : { ca }),
      ...(passphrase === undefined ? {} : { passphrase }),
    }
    try {
      createSecureContext(context)
    } catch (err) {
      throw new TlsConfigInvalidError(`TLS files ${certFile} and ${keyFile} cannot be used together: ${(err as Error).message}`, { cause: err })
    }
    if (ca !== undefined) {
      try { new X509Certificate(ca) } catch (err) { throw new TlsConfigInvalidError(`TLS CA file ${caFile} holds no PEM certificate: ${(err as Error).message}`, { cause: err }) }
    }
    const certificate: CertificateInfo = {
      subject: rfc2253Subject(new Uint8Array(x509.raw)),
      issuer: x509.issuer.split('\n').reverse().join(','),
      validFrom: x509.validFrom,
      validTo: x509.validTo,
      fingerprint256: x509.fingerprint256,
    }
    if (Date.parse(x509.validTo) < Date.now()) this.options.logger?.warn({ certFile, validTo: x509.validTo }, 'TLS certificate has expired')
    return { context, certificate }
  }
}

/** `User:<RFC 2253 subject>` (or `User:<CN>`) of a verified peer certificate, else null. */
export function peerPrincipal (socket: TLSSocket, from: 'dn' | 'cn' = 'dn'): Principal | null {
  if (!socket.authorized) return null
  const cert = socket.getPeerX509Certificate()
  if (cert === undefined) return null
  const der = new Uint8Array(cert.raw)
  const name = from === 'cn' ? subjectCommonName(der) : rfc2253Subject(der)
  if (name === null || name.length === 0) return null
  return userPrincipal(name, 'mtls')
}
