/**
 * Who makes an HTTP request: the console's login session, a token, or a user name and
 * password — for `/api`, `/metrics`, the console's pages and the `/ws` upgrade.
 *
 *   Cookie: spool_session=<id>          a login session (POST /api/login or the /login form)
 *   Authorization: Bearer <token>       a broker token (spool token create, POST /api/tokens)
 *   Authorization: Basic <user:pass>    a password per request (curl -u, Prometheus basic_auth)
 *
 * Sessions: 32 random bytes, kept in this process's memory only (a restart logs everyone
 * out), valid for SESSION_TTL_MS after the login; at most MAX_SESSIONS (the oldest go first).
 * The cookie is `HttpOnly` (page scripts cannot read it), `SameSite=Strict` (no other site's
 * page can make the browser send it), `Path=/`, and `Secure` on HTTPS.
 *
 * Cross-site request forgery, for the calls that change something: a browser sends the
 * cookie only on requests from the broker's own pages (SameSite=Strict); the /api router
 * refuses a request whose Origin is another site's (origin.ts) before it reads the cookie;
 * and POST bodies must be application/json, which no plain form can send without a CORS
 * preflight the broker does not grant to other sites. The /login form is a plain form POST
 * and passes the same Origin check.
 *
 * Failed logins (passwords and tokens) go through the authenticator: throttled per address,
 * counted, one log line without the secret.
 */

import { randomBytes } from 'node:crypto'
import type { IncomingMessage } from 'node:http'
import type { Socket } from 'node:net'
import type { TLSSocket } from 'node:tls'
import { SaslAuthenticationFailedError } from '../../../protocol/errors.js'
import { peerOf, type Peer } from '../../network/channel.js'
import type { Authenticator } from '../../security/authenticator.js'
import type { Principal } from '../../security/principal.js'

export const SESSION_COOKIE = 'spool_session'
export const SESSION_TTL_MS = 12 * 3600_000
const MAX_SESSIONS = 10_000

/** An authenticated request (or connection): who, and until when. */
export interface HttpLogin {
  readonly principal: Principal
  readonly expiresAtMs: number | null
}

interface Session {
  readonly principal: Principal
  readonly expiresAtMs: number
}

/** The peer of an HTTP request, for the throttle and the log. */
export function requestPeer (req: IncomingMessage): Peer {
  return peerOf(req.socket as Socket, 'tcp', req)
}

function cookieValue (req: IncomingMessage, name: string): string | null {
  const header = req.headers.cookie
  if (header === undefined) return null
  for (const part of header.split(';')) {
    const eq = part.indexOf('=')
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim()
  }
  return null
}

export class HttpAuth {
  /** --auth: requests without a login are refused (except the login itself and /healthz). */
  readonly required: boolean
  readonly authenticator: Authenticator
  readonly #sessions = new Map<string, Session>()
  readonly #now: () => number

  constructor (options: { required: boolean, authenticator: Authenticator, now: () => number }) {
    this.required = options.required
    this.authenticator = options.authenticator
    this.#now = options.now
  }

  /**
   * The login of a request, or null (no credentials, or a session that is unknown or
   * over). A wrong password or a bad token throws its named error (SASL_AUTHENTICATION_FAILED,
   * TOKEN_EXPIRED, ...), so the answer can say which.
   */
  async authenticate (req: IncomingMessage): Promise<HttpLogin | null> {
    const header = req.headers.authorization
    if (header !== undefined) {
      const context = { peer: requestPeer(req), protocol: 'http' as const }
      const [scheme, value = ''] = header.split(' ', 2) as [string, string | undefined]
      if (/^bearer$/i.test(scheme)) {
        const v = await this.authenticator.token(value.trim(), context)
        return { principal: v.principal, expiresAtMs: v.expiresAtMs }
      }
      if (/^basic$/i.test(scheme)) {
        const decoded = Buffer.from(value.trim(), 'base64').toString('utf8')
        const colon = decoded.indexOf(':')
        const principal = colon <= 0 ? null : await this.authenticator.password(decoded.slice(0, colon), decoded.slice(colon + 1), context, 'plain', 'basic')
        if (principal === null) throw new SaslAuthenticationFailedError('Authentication failed: invalid user name or password')
        return { principal, expiresAtMs: null }
      }
    }
    return this.session(req)
  }

  /** The login session of the request's cookie, or null. */
  session (req: IncomingMessage): HttpLogin | null {
    const id = cookieValue(req, SESSION_COOKIE)
    if (id === null) return null
    const s = this.#sessions.get(id)
    if (s === undefined) return null
    if (this.#now() >= s.expiresAtMs) {
      this.#sessions.delete(id)
      return null
    }
    return s
  }

  /**
   * Checks a user name and password and opens a session: the principal and the Set-Cookie
   * header. Throws SASL_AUTHENTICATION_FAILED (throttled, logged) when they are wrong.
   */
  async login (req: IncomingMessage, username: string, password: string): Promise<{ principal: Principal, setCookie: string, expiresAtMs: number }> {
    const principal = await this.authenticator.password(username, password, { peer: requestPeer(req), protocol: 'http' }, 'session-cookie', 'login')
    if (principal === null) throw new SaslAuthenticationFailedError('Authentication failed: invalid user name or password')
    const id = randomBytes(32).toString('base64url')
    const expiresAtMs = this.#now() + SESSION_TTL_MS
    if (this.#sessions.size >= MAX_SESSIONS) this.#sessions.delete(this.#sessions.keys().next().value!)
    this.#sessions.set(id, { principal, expiresAtMs })
    return { principal, setCookie: this.#cookie(req, id, SESSION_TTL_MS / 1000), expiresAtMs }
  }

  /** Ends the request's session; the Set-Cookie header that clears the cookie. */
  logout (req: IncomingMessage): string {
    const id = cookieValue(req, SESSION_COOKIE)
    if (id !== null) this.#sessions.delete(id)
    return this.#cookie(req, '', 0)
  }

  /** Open sessions (metrics). */
  get sessions (): number { return this.#sessions.size }

  #cookie (req: IncomingMessage, value: string, maxAgeSec: number): string {
    const secure = (req.socket as Partial<TLSSocket>).encrypted === true ? '; Secure' : ''
    return `${SESSION_COOKIE}=${value}; HttpOnly; SameSite=Strict; Path=/; Max-Age=${Math.floor(maxAgeSec)}${secure}`
  }
}
