/**
 * Static files on the HTTP port: the browser SDK bundle (`/sdk/spool.js`), the web console
 * (`/`, `/console/...`) and the browser example (`/examples/browser/`), all built into
 * `dist/` by scripts/build-web.mjs.
 *
 * Caching: every answer carries a strong ETag (a hash of the contents) and
 * `Cache-Control: no-cache`, so a browser keeps its copy and revalidates it on each load
 * (a 304 without a body), and a rebuild is seen at once: the URLs carry no hash, so nothing
 * may be cached blindly. Contents are read once per (mtime, size) of the file and kept in a
 * small cache; a rebuild while the broker runs changes both and is read again.
 *
 * Paths: the part after the mount prefix is URL-decoded and must stay inside the mount's
 * directory: no `..` or `.` segment, no backslash, no NUL (403 otherwise). A missing file is
 * a 404 naming what is missing and how to build it; a directory named without its trailing
 * slash is a 301 to the slash form (where its index is served).
 */

import { createHash } from 'node:crypto'
import { readFileSync, statSync } from 'node:fs'
import type { ServerResponse } from 'node:http'
import { extname, join, sep } from 'node:path'
import type { RouteHandler } from './server.js'
import { readOnly, sendText } from './server.js'

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.txt': 'text/plain; charset=utf-8',
}

/** Files whose contents are kept in memory (the console and the SDK are a handful). */
const MAX_CACHED_FILES = 64

interface Cached {
  mtimeMs: number
  size: number
  body: Buffer
  etag: string
}

export interface StaticMount {
  /** Directory served. */
  dir: string
  /** URL path prefix mapped onto `dir` (e.g. `/sdk/`); the rest of the path names the file. */
  prefix: string
  /** File served for the prefix itself and for paths ending in `/` (e.g. `index.html`). */
  index?: string
  /** Said in the 404 when the file is missing, e.g. how to build it. */
  missingHint: string
  /** Extra headers for HTML answers (the console's Content-Security-Policy). */
  htmlHeaders?: Record<string, string>
  /** Extra headers for every answer (the SDK allows any page to load it: CORS `*`). */
  headers?: Record<string, string>
}

/** The file a request path names inside the mount, or null when the path tries to leave it. */
export function resolveStaticPath (mount: StaticMount, pathname: string): string | null {
  let rest = pathname.startsWith(mount.prefix) ? pathname.slice(mount.prefix.length) : pathname === mount.prefix.replace(/\/$/, '') ? '' : null
  if (rest === null) return null
  try {
    rest = decodeURIComponent(rest)
  } catch {
    return null
  }
  if (rest === '' || rest.endsWith('/')) {
    if (mount.index === undefined) return null
    rest += mount.index
  }
  const segments = rest.split('/')
  if (segments.some(s => s === '..' || s === '.' || s === '' || s.includes('\\') || s.includes('\0'))) return null
  const file = join(mount.dir, ...segments)
  return file.startsWith(mount.dir.endsWith(sep) ? mount.dir : mount.dir + sep) ? file : null
}

/** A route handler serving one mount (GET and HEAD; 405 otherwise). */
export function staticFiles (mount: StaticMount): RouteHandler {
  const cache = new Map<string, Cached>()
  const load = (file: string): Cached | null => {
    let stat
    try {
      stat = statSync(file)
    } catch {
      return null
    }
    if (!stat.isFile()) return null
    const hit = cache.get(file)
    if (hit !== undefined && hit.mtimeMs === stat.mtimeMs && hit.size === stat.size) return hit
    const body = readFileSync(file)
    const entry: Cached = { mtimeMs: stat.mtimeMs, size: stat.size, body, etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"` }
    cache.delete(file)
    cache.set(file, entry)
    if (cache.size > MAX_CACHED_FILES) cache.delete(cache.keys().next().value!)
    return entry
  }
  return (req, res, url) => {
    if (!readOnly(req, res, 'a static file')) return
    const file = resolveStaticPath(mount, url.pathname)
    if (file === null) {
      sendText(res, 404, `not found: ${url.pathname}\n`)
      return
    }
    const entry = load(file)
    if (entry === null && mount.index !== undefined && !url.pathname.endsWith('/') && isDirectory(file)) {
      // A directory named without its trailing slash (`/examples/browser`): its index is at
      // the slash form, where the page's relative URLs resolve inside the directory.
      res.writeHead(301, { location: `${url.pathname}/${url.search}`, 'cache-control': 'no-cache' })
      res.end()
      return
    }
    if (entry === null) {
      sendText(res, 404, `not found: ${url.pathname} (${mount.missingHint})\n`)
      return
    }
    send(res, req.method === 'HEAD', req.headers['if-none-match'], file, entry, mount)
  }
}

function isDirectory (file: string): boolean {
  try {
    return statSync(file).isDirectory()
  } catch {
    return false
  }
}

function send (res: ServerResponse, head: boolean, ifNoneMatch: string | undefined, file: string, entry: Cached, mount: StaticMount): void {
  const type = CONTENT_TYPES[extname(file)] ?? 'application/octet-stream'
  const headers: Record<string, string | number> = {
    etag: entry.etag,
    'cache-control': 'no-cache',
    'x-content-type-options': 'nosniff',
    ...mount.headers,
  }
  if (type.startsWith('text/html')) Object.assign(headers, mount.htmlHeaders)
  if (ifNoneMatch !== undefined && ifNoneMatch.split(',').some(t => t.trim() === entry.etag || t.trim() === `W/${entry.etag}`)) {
    res.writeHead(304, headers)
    res.end()
    return
  }
  res.writeHead(200, { ...headers, 'content-type': type, 'content-length': entry.body.length })
  res.end(head ? undefined : entry.body)
}
