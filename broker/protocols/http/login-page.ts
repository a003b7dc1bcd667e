/**
 * The console's login with --auth: `GET /login` is a plain HTML form (no script, so the
 * console's strict Content-Security-Policy holds), `POST /login` checks the user name and
 * password (application/x-www-form-urlencoded, at most 8 KiB), opens a session (http/auth.ts)
 * and redirects (303) to `next` — a path on this broker only (`/...`, never `//host` or a
 * URL, so the login cannot send anyone elsewhere). A wrong password shows the form again
 * with 401. The POST passes the Origin check (origin.ts) like every state-changing call.
 * Pages of the console (`/`, `/console/`) redirect to `/login?next=<page>` without a login.
 */

import type { IncomingMessage, ServerResponse } from 'node:http'
import { HttpBodyTooLargeError, OriginNotAllowedError, SpoolError } from '../../../protocol/errors.js'
import type { HttpAuth } from './auth.js'
import { originAllowed } from './origin.js'
import { sendError, type RouteHandler } from './server.js'

const MAX_FORM_BYTES = 8 * 1024

const PAGE_HEADERS = {
  'content-type': 'text/html; charset=utf-8',
  'cache-control': 'no-store',
  'content-security-policy': "default-src 'none'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  'x-frame-options': 'DENY',
  // Not no-referrer: with it Chromium sends `Origin: null` on the form's POST, which the Origin check refuses.
  'referrer-policy': 'same-origin',
  'x-content-type-options': 'nosniff',
}

function escapeHtml (s: string): string {
  return s.replace(/[&<>"']/g, c => `&#${c.charCodeAt(0)};`)
}

/** `next` if it is a path on this broker, else `/`. */
export function safeNext (next: string | null): string {
  if (next === null || !next.startsWith('/') || next.startsWith('//') || next.includes('\\') || /[\u0000-\u001f]/.test(next)) return '/'
  return next
}

function page (res: ServerResponse, status: number, next: string, message: string | null): void {
  const note = message === null ? '' : `<p role="alert"><strong>${escapeHtml(message)}</strong></p>`
  res.writeHead(status, PAGE_HEADERS)
  res.end(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width"><title>Spool — log in</title></head>
<body><main><h1>Spool</h1>${note}
<form method="post" action="/login">
<input type="hidden" name="next" value="${escapeHtml(next)}">
<p><label>User <input name="username" autocomplete="username" required autofocus></label></p>
<p><label>Password <input name="password" type="password" autocomplete="current-password" required></label></p>
<p><button type="submit">Log in</button></p>
</form></main></body></html>
`)
}

async function readForm (req: IncomingMessage): Promise<URLSearchParams> {
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length
    if (size > MAX_FORM_BYTES) throw new HttpBodyTooLargeError(`the login form is larger than ${MAX_FORM_BYTES} bytes`)
    chunks.push(chunk)
  }
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'))
}

/** GET and POST /login. */
export function loginRoute (auth: HttpAuth, allowedOrigins: readonly string[] | null): RouteHandler {
  return async (req, res, url) => {
    if (req.method === 'GET' || req.method === 'HEAD') {
      page(res, 200, safeNext(url.searchParams.get('next')), null)
      return
    }
    if (req.method !== 'POST') {
      res.writeHead(405, { allow: 'GET, HEAD, POST' })
      res.end()
      return
    }
    if (!originAllowed(req, allowedOrigins)) {
      sendError(res, new OriginNotAllowedError('the login form may be posted only from this broker\'s own pages'))
      return
    }
    let form: URLSearchParams
    try {
      form = await readForm(req)
    } catch (err) {
      if (err instanceof SpoolError) { sendError(res, err, { connection: 'close' }); return }
      throw err
    }
    const next = safeNext(form.get('next'))
    try {
      const { setCookie } = await auth.login(req, form.get('username') ?? '', form.get('password') ?? '')
      res.writeHead(303, { location: next, 'set-cookie': setCookie, 'cache-control': 'no-store' })
      res.end()
    } catch (err) {
      if (!(err instanceof SpoolError)) throw err
      page(res, 401, next, 'Wrong user name or password.')
    }
  }
}

/** A console page: served with a login, otherwise a redirect to the login form (with --auth). */
export function requireLogin (auth: HttpAuth, handler: RouteHandler): RouteHandler {
  if (!auth.required) return handler
  return async (req, res, url) => {
    let login = null
    try {
      login = await auth.authenticate(req)
    } catch { /* a bad token or password: log in again */ }
    if (login === null) {
      res.writeHead(302, { location: `/login?next=${encodeURIComponent(url.pathname + url.search)}`, 'cache-control': 'no-store' })
      res.end()
      return
    }
    await handler(req, res, url)
  }
}
