/**
 * The JSON api's request path, shared by every endpoint under `/api/`:
 *
 *   match the path against the route table (`/api/topics/:name`)  → 404 HTTP_NOT_FOUND
 *   Origin check (protocols/http/origin.ts; CSRF)                        → 403 ORIGIN_NOT_ALLOWED
 *   OPTIONS preflight from a listed Origin                          → 204 with CORS headers
 *   method check (HEAD is GET without a body)                       → 405 HTTP_METHOD_NOT_ALLOWED + Allow
 *   who asks (http/auth.ts: session cookie, Bearer token, Basic)     → 401 SASL_AUTHENTICATION_FAILED,
 *     with --auth, a login for every route but /api/login              TOKEN_EXPIRED, ..., AUTHENTICATION_REQUIRED
 *   body (methods with one): application/json only                  → 415 HTTP_UNSUPPORTED_MEDIA_TYPE
 *     at most maxBodyBytes, counted before buffering                → 413 HTTP_BODY_TOO_LARGE
 *     valid JSON                                                    → 400 INVALID_REQUEST
 *   handler → 2xx JSON, or a named error → its status (statusFor) with
 *   `{ "error": { "code", "message", "retriable" } }`
 *
 * Requests from a refused Origin are answered 403 whatever the method: reads are refused as
 * well as writes, so the rule is the same everywhere. A page from a listed Origin gets
 * `Access-Control-Allow-Origin` so it may read the answers.
 */

import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Logger } from 'pino'
import {
  AuthenticationRequiredError, HttpBodyTooLargeError, HttpMethodNotAllowedError, HttpNotFoundError, HttpUnsupportedMediaTypeError, InvalidRequestError,
  OriginNotAllowedError, SpoolError, UnknownServerError, type ErrorName,
} from '../../../../protocol/errors.js'
import { checkOrigin } from '../origin.js'
import type { HttpAuth, HttpLogin } from '../auth.js'
import { ANONYMOUS, type Caller, type Principal } from '../../../security/principal.js'

export type ApiMethod = 'GET' | 'POST' | 'DELETE'

export interface ApiRequest {
  /** Who asks (anonymous without a login). */
  caller: Caller
  /** The login behind the caller (a session, a token, Basic), null when anonymous. */
  login: HttpLogin | null
  /** The HTTP request itself (its cookie, its socket), for the login endpoints. */
  http: IncomingMessage
  /** Path parameters (`:name` in the pattern), URL-decoded. */
  params: Record<string, string>
  query: URLSearchParams
  /** The parsed JSON body (undefined for methods without one). */
  body: unknown
}

export interface ApiAnswer {
  status?: number
  body: unknown
  /** Extra response headers (Set-Cookie of a login). */
  headers?: Record<string, string>
}

export type ApiHandler = (req: ApiRequest) => ApiAnswer | Promise<ApiAnswer>

export interface ApiRoute {
  /** `/api/topics/:name`: literal segments and `:param` segments. */
  pattern: string
  methods: Partial<Record<ApiMethod, ApiHandler>>
  /** One line for the `/api` index. */
  doc: string
  /** Served without a login when --auth is on (the login itself). */
  public?: boolean
}

export interface RouterOptions {
  allowedOrigins: readonly string[] | null
  maxBodyBytes: number
  logger: Logger
  /** Who asks; null: every request is anonymous. */
  auth?: HttpAuth | null
}

const METHODS_WITH_BODY = new Set<string>(['POST'])

/** The HTTP status for a named error. */
export function statusFor (err: SpoolError): number {
  const byName: Partial<Record<ErrorName, number>> = {
    HTTP_NOT_FOUND: 404,
    UNKNOWN_TOPIC_OR_PARTITION: 404,
    GROUP_ID_NOT_FOUND: 404,
    HTTP_METHOD_NOT_ALLOWED: 405,
    TOPIC_ALREADY_EXISTS: 409,
    NON_EMPTY_GROUP: 409,
    HTTP_BODY_TOO_LARGE: 413,
    HTTP_UNSUPPORTED_MEDIA_TYPE: 415,
    ORIGIN_NOT_ALLOWED: 403,
    AUTHENTICATION_REQUIRED: 401,
    SASL_AUTHENTICATION_FAILED: 401,
    UNSUPPORTED_SASL_MECHANISM: 401,
    TOKEN_EXPIRED: 401,
    TOKEN_INVALID: 401,
    TOKEN_SIGNATURE_INVALID: 401,
    TOKEN_KEY_UNKNOWN: 401,
    TOPIC_AUTHORIZATION_FAILED: 403,
    GROUP_AUTHORIZATION_FAILED: 403,
    CLUSTER_AUTHORIZATION_FAILED: 403,
    TRANSACTIONAL_ID_AUTHORIZATION_FAILED: 403,
    UNKNOWN_SERVER_ERROR: 500,
  }
  return byName[err.code] ?? (err.retriable ? 503 : 400)
}

const JSON_HEADERS = {
  'content-type': 'application/json; charset=utf-8',
  'cache-control': 'no-store',
  'x-content-type-options': 'nosniff',
}

function writeJson (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = status === 204 ? '' : JSON.stringify(body)
  res.writeHead(status, { ...JSON_HEADERS, 'content-length': Buffer.byteLength(text), ...headers })
  res.end(text)
}

/**
 * The error body. `retriable` says whether the same request may succeed later: an answer
 * below 500 (not found, conflict, bad request) is not, whatever the native protocol's table
 * says (UNKNOWN_TOPIC_OR_PARTITION is retriable there because metadata may lag).
 */
export function errorBody (err: SpoolError): { error: { code: ErrorName, message: string, retriable: boolean } } {
  return { error: { code: err.code, message: err.message, retriable: err.retriable && statusFor(err) >= 500 } }
}

interface Compiled {
  route: ApiRoute
  segments: string[]
}

/** Matches `pathname` against the routes; params are URL-decoded (null when a decode fails). */
function match (compiled: readonly Compiled[], pathname: string): { route: ApiRoute, params: Record<string, string> } | null {
  const parts = pathname.replace(/\/+$/, '').split('/')
  for (const { route, segments } of compiled) {
    if (segments.length !== parts.length) continue
    const params: Record<string, string> = {}
    let ok = true
    for (let i = 0; i < segments.length && ok; i++) {
      const seg = segments[i]!
      const part = parts[i]!
      if (seg.startsWith(':')) {
        try {
          params[seg.slice(1)] = decodeURIComponent(part)
        } catch {
          ok = false
        }
        ok &&= part.length > 0
      } else {
        ok = seg === part
      }
    }
    if (ok) return { route, params }
  }
  return null
}

/**
 * Reads a JSON body of at most `maxBytes`: refused from Content-Length before reading, or
 * once the bytes received pass the bound (nothing past it is kept).
 */
async function readJsonBody (req: IncomingMessage, maxBytes: number): Promise<unknown> {
  const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase()
  if (type !== 'application/json') {
    throw new HttpUnsupportedMediaTypeError(`request body must be application/json (got ${type === '' ? 'no content-type' : JSON.stringify(type.slice(0, 64))})`)
  }
  const declared = Number(req.headers['content-length'] ?? NaN)
  const tooLarge = (): HttpBodyTooLargeError => new HttpBodyTooLargeError(`request body is larger than httpMaxBodyBytes (${maxBytes} bytes)`)
  if (Number.isFinite(declared) && declared > maxBytes) throw tooLarge()
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length
    if (size > maxBytes) throw tooLarge()
    chunks.push(chunk)
  }
  const text = Buffer.concat(chunks, size).toString('utf8')
  if (text.trim() === '') throw new InvalidRequestError('request body is empty: expected a JSON object')
  try {
    return JSON.parse(text)
  } catch (err) {
    throw new InvalidRequestError(`request body is not valid JSON: ${(err as Error).message}`)
  }
}

/** The caller of an HTTP request: its principal (anonymous without a login) and the peer's address. */
export function httpCaller (req: IncomingMessage, principal: Principal = ANONYMOUS): Caller {
  const raw = req.socket.remoteAddress ?? ''
  return { principal, clientId: '', host: raw.startsWith('::ffff:') && raw.includes('.') ? raw.slice(7) : raw, protocol: 'http' }
}

/** A route handler for the HTTP listener that serves `routes` (register it on the `/api` prefix). */
export function apiRouter (routes: readonly ApiRoute[], options: RouterOptions) {
  const compiled: Compiled[] = routes.map(route => ({ route, segments: route.pattern.split('/') }))
  return async (req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> => {
    const method = (req.method ?? 'GET').toUpperCase()
    const extra: Record<string, string> = {}
    const fail = (err: SpoolError, headers: Record<string, string> = {}): void => {
      // A refused or oversized body may still be arriving: do not keep the connection for it.
      if (!req.complete) headers.connection = 'close'
      writeJson(res, statusFor(err), errorBody(err), { ...extra, ...headers })
      if (!req.complete) req.resume()
    }
    const verdict = checkOrigin(req, options.allowedOrigins)
    if (verdict === 'refused') {
      options.logger.warn({ origin: req.headers.origin?.slice(0, 200), method, path: url.pathname.slice(0, 200) }, 'api request from a refused origin')
      fail(new OriginNotAllowedError(`Origin ${JSON.stringify(String(req.headers.origin).slice(0, 200))} may not use /api: it is not this broker's host nor in httpAllowedOrigins`))
      return
    }
    if (verdict === 'listed') {
      extra['access-control-allow-origin'] = req.headers.origin!
      extra.vary = 'Origin'
    }
    const found = match(compiled, url.pathname)
    if (found === null) {
      fail(new HttpNotFoundError(`no endpoint at ${url.pathname.slice(0, 200)} (GET /api lists them)`))
      return
    }
    const allow = Object.keys(found.route.methods)
    const allowHeader = [...allow, ...(allow.includes('GET') ? ['HEAD'] : []), 'OPTIONS'].join(', ')
    if (method === 'OPTIONS') {
      writeJson(res, 204, null, {
        ...extra,
        allow: allowHeader,
        ...(verdict === 'listed'
          ? { 'access-control-allow-methods': allowHeader, 'access-control-allow-headers': 'content-type', 'access-control-max-age': '600' }
          : {}),
      })
      return
    }
    const handler = found.route.methods[(method === 'HEAD' ? 'GET' : method) as ApiMethod]
    if (handler === undefined) {
      fail(new HttpMethodNotAllowedError(`${method.slice(0, 16)} is not allowed on ${found.route.pattern} (allowed: ${allowHeader})`), { allow: allowHeader })
      return
    }
    try {
      const login = options.auth == null ? null : await options.auth.authenticate(req)
      if (login === null && options.auth?.required === true && found.route.public !== true) {
        throw new AuthenticationRequiredError('this broker requires a login: POST /api/login, or a token (Authorization: Bearer) or user and password (Authorization: Basic)')
      }
      const body = METHODS_WITH_BODY.has(method) ? await readJsonBody(req, options.maxBodyBytes) : undefined
      const answer = await handler({ caller: httpCaller(req, login?.principal), login, http: req, params: found.params, query: url.searchParams, body })
      writeJson(res, answer.status ?? 200, answer.body, { ...extra, ...answer.headers })
    } catch (err) {
      if (err instanceof SpoolError) {
        fail(err)
        return
      }
      if (req.destroyed && !req.complete) {
        // The client closed the connection before its body arrived: nobody to answer, and
        // not the broker's fault (an error line here would let any client write them).
        options.logger.debug({ method, path: url.pathname.slice(0, 200) }, 'api request body cut off')
        return
      }
      options.logger.error({ err, method, path: url.pathname }, 'api handler failed')
      fail(new UnknownServerError('internal error (see the broker log)'))
    }
  }
}
