/**
 * Logins and tokens on `/api` (http/auth.ts has the rules of sessions and cookies):
 *
 *   POST /api/login   { username, password }               → { principal, expiresAtMs } + the session cookie
 *   POST /api/logout                                        → { loggedOut: true }, the cookie cleared
 *   GET  /api/session                                       → { principal, method, expiresAtMs } of this request
 *   POST /api/tokens  { ttl?: "15m", topicPrefix?, user? }  → 201 { token, tokenId, user, expiresAtMs, topicPrefix }
 *
 * A token is issued to the caller's own user: a browser page's backend (or the console) logs
 * in with a password and hands the page a short-lived token instead. `user` names another
 * user, for super users only. A token cannot issue tokens (its scope and expiry would not
 * bind the new one). Without --auth anyone may ask, for any existing user.
 */

import {
  ClusterAuthorizationFailedError, InvalidRequestError, UserNotFoundError,
} from '../../../../protocol/errors.js'
import type { UserStore } from '../../../security/credentials.js'
import { principalString } from '../../../security/principal.js'
import type { TokenService } from '../../../security/tokens.js'
import type { HttpAuth } from '../auth.js'
import type { ApiRoute } from './router.js'

export interface SessionApiContext {
  auth: HttpAuth
  tokens: TokenService
  credentials: UserStore
  superUsers: readonly string[]
}

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }

function fields (body: unknown, allowed: readonly string[], example: string): Record<string, unknown> {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new InvalidRequestError(`body must be a JSON object: ${example}`)
  const unknown = Object.keys(body).find(k => !allowed.includes(k))
  if (unknown !== undefined) throw new InvalidRequestError(`unknown field ${JSON.stringify(unknown.slice(0, 64))} (fields: ${allowed.join(', ')})`)
  return body as Record<string, unknown>
}

function ttlOf (v: unknown): number | undefined {
  if (v === undefined) return undefined
  const m = typeof v === 'string' ? /^(\d+)(ms|s|m|h)$/.exec(v.trim()) : null
  if (m === null) throw new InvalidRequestError(`ttl must be a number and a unit (90s, 15m, 2h), got ${JSON.stringify(v)?.slice(0, 32)}`)
  return Number(m[1]) * UNITS[m[2]!]!
}

export function sessionRoutes (ctx: SessionApiContext): ApiRoute[] {
  return [
    {
      pattern: '/api/login',
      doc: 'POST { username, password }: a login session (an HttpOnly cookie) for the console and /api',
      public: true,
      methods: {
        POST: async req => {
          const b = fields(req.body, ['username', 'password'], '{ "username": "alice", "password": "..." }')
          if (typeof b.username !== 'string' || typeof b.password !== 'string') throw new InvalidRequestError('username and password must be strings')
          const { principal, setCookie, expiresAtMs } = await ctx.auth.login(req.http, b.username, b.password)
          return { body: { principal: principalString(principal), expiresAtMs }, headers: { 'set-cookie': setCookie } }
        },
      },
    },
    {
      pattern: '/api/logout',
      doc: 'POST: ends this login session',
      public: true,
      methods: { POST: req => ({ body: { loggedOut: true }, headers: { 'set-cookie': ctx.auth.logout(req.http) } }) },
    },
    {
      pattern: '/api/session',
      doc: 'who this request is (principal, how it logged in, until when)',
      methods: {
        GET: req => ({
          body: { principal: principalString(req.caller.principal), method: req.caller.principal.method, expiresAtMs: req.login?.expiresAtMs ?? null, scope: req.caller.principal.scope ?? null },
        }),
      },
    },
    {
      pattern: '/api/tokens',
      doc: 'POST { ttl?, topicPrefix?, user? }: a short-lived token for browsers (your own user; super users may name another)',
      methods: {
        POST: async req => {
          const b = fields(req.body ?? {}, ['ttl', 'topicPrefix', 'user'], '{ "ttl": "15m", "topicPrefix": "dashboards." }')
          const me = req.caller.principal
          if (me.method === 'token') throw new ClusterAuthorizationFailedError('a token cannot issue tokens: log in with a password')
          if (b.user !== undefined && typeof b.user !== 'string') throw new InvalidRequestError('user must be a string')
          if (b.topicPrefix !== undefined && typeof b.topicPrefix !== 'string') throw new InvalidRequestError('topicPrefix must be a string')
          const authenticated = req.login !== null
          const user = (b.user as string | undefined) ?? (authenticated ? me.name : undefined)
          if (user === undefined) throw new InvalidRequestError('name the user: { "user": "alice" } (or log in)')
          if (authenticated && user !== me.name && !ctx.superUsers.includes(principalString(me))) {
            throw new ClusterAuthorizationFailedError(`Not authorized to issue tokens for ${user} (only super users may)`)
          }
          if (ctx.auth.required && !authenticated) throw new ClusterAuthorizationFailedError('log in to get a token')
          if (!ctx.credentials.hasUser(user)) throw new UserNotFoundError(`user ${user} does not exist`)
          const ttlMs = ttlOf(b.ttl)
          const issued = await ctx.tokens.issue(user, { ...(ttlMs === undefined ? {} : { ttlMs }), ...(b.topicPrefix === undefined ? {} : { topicPrefix: b.topicPrefix as string }) })
          return { status: 201, body: { token: issued.token, tokenId: issued.tokenId, user, expiresAtMs: issued.expiresAtMs, topicPrefix: b.topicPrefix ?? null } }
        },
      },
    },
  ]
}
