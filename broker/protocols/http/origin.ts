/**
 * Which web pages may use the broker from a browser: the Origin check applied to WebSocket
 * upgrades (`/ws`, `/mqtt`) and to the `/api` requests that change something (CSRF).
 *
 * Browsers send `Origin` on every WebSocket handshake and on every POST/DELETE; programs
 * (the SDK in Node, the CLI, curl) usually send none. The rule:
 *
 *   - no Origin header                        allowed (not a browser page)
 *   - httpAllowedOrigins contains `*`          allowed
 *   - the Origin is in httpAllowedOrigins      allowed (compared as scheme://host:port,
 *                                              case-insensitive, trailing `/` ignored)
 *   - the Origin's host:port equals the Host   allowed when that host is an IP address or
 *     header (the page came from this broker)  `localhost`; a broker reached by a DNS name
 *                                              lists its own origin in httpAllowedOrigins
 *   - anything else (other sites, `null`       refused
 *     from file:// pages and sandboxes)
 *
 * Why a DNS name is not trusted by default: with DNS rebinding, a page from
 * http://evil.example:7421 can have its name re-pointed at 127.0.0.1; the browser then sends
 * Origin and Host both `evil.example:7421` to the broker, which a plain same-host comparison
 * would accept. IP literals and `localhost` cannot be re-pointed that way.
 */

import type { IncomingMessage } from 'node:http'
import { isIP } from 'node:net'

/** Normal form of an origin for comparison: lower case, no trailing slash. */
export function normalizeOrigin (origin: string): string {
  return origin.trim().toLowerCase().replace(/\/+$/, '')
}

function trustedHostName (hostname: string): boolean {
  const bare = hostname.startsWith('[') && hostname.endsWith(']') ? hostname.slice(1, -1) : hostname
  return bare === 'localhost' || bare.endsWith('.localhost') || isIP(bare) !== 0
}

export type OriginVerdict = 'no-origin' | 'same-origin' | 'listed' | 'refused'

/**
 * How the Origin of `req` stands against the allow-list (see the file header).
 * `allowedOrigins` null or empty means: the broker's own host only.
 */
export function checkOrigin (req: IncomingMessage, allowedOrigins: readonly string[] | null): OriginVerdict {
  const origin = req.headers.origin
  if (origin === undefined) return 'no-origin'
  const normal = normalizeOrigin(origin)
  let url: URL | null = null
  try {
    url = new URL(origin)
  } catch {
    url = null
  }
  const host = req.headers.host?.toLowerCase()
  if (url !== null && url.host === host && trustedHostName(url.hostname)) return 'same-origin'
  if (allowedOrigins !== null && allowedOrigins.some(o => o === '*' || normalizeOrigin(o) === normal)) return 'listed'
  return 'refused'
}

/** Whether a browser Origin may open a WebSocket or change something through /api. */
export function originAllowed (req: IncomingMessage, allowedOrigins: readonly string[] | null): boolean {
  return checkOrigin(req, allowedOrigins) !== 'refused'
}
