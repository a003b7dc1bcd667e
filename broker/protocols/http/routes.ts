/**
 * What the HTTP port serves, besides its WebSocket endpoints: `/healthz`, `/metrics`
 * (Prometheus text), the JSON api under `/api/` (api/), the login form (`/login`), and the
 * files built by scripts/build-web.mjs — the web console at `/`, the browser SDK at
 * `/sdk/spool.js`, the browser example at `/examples/browser/` (static-files.ts).
 *
 * With --auth: `/healthz` stays open; `/metrics` needs a login (a session, a Bearer token or
 * Basic; `--metrics-public` opens it); `/api` needs one for everything but `/api/login`; the
 * console's pages redirect to `/login`. The SDK bundle and the examples are public files.
 */

import { join } from 'node:path'
import type { Logger } from 'pino'
import type { BrokerConfig } from '../../config/settings.js'
import type { BrokerMetrics } from '../../observability/metrics.js'
import { AuthenticationRequiredError, SpoolError } from '../../../protocol/errors.js'
import { apiRoutes, type ApiContext } from './api/http-api.js'
import { apiRouter } from './api/router.js'
import { sessionRoutes, type SessionApiContext } from './api/session-api.js'
import type { HttpAuth } from './auth.js'
import { loginRoute, requireLogin } from './login-page.js'
import { readOnly, sendError, sendJson, sendText, type HttpRoutes } from './server.js'
import { staticFiles } from './static-files.js'

/**
 * The console's pages may load scripts, styles and connections from the broker only, and may
 * not be framed by another site (its buttons delete topics).
 */
const CONSOLE_CSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"

export interface HealthState {
  closing: boolean
  uptimeMs: number
  topics: number
  connections: number
  ports: unknown
  /** Storage refuses writes (a full disk) while reads are still served. */
  storage: { readOnly: boolean, reason: string | null }
}

export function registerHttpRoutes (routes: HttpRoutes, deps: {
  config: BrokerConfig
  metrics: BrokerMetrics
  api: ApiContext
  health: () => HealthState
  webRoot: string
  logger: Logger
  /** Who asks; its `required` says whether a login is needed. */
  auth: HttpAuth
  session: Omit<SessionApiContext, 'auth'>
}): void {
  const auth = deps.auth
  routes.routes.set('/healthz', (req, res) => {
    if (!readOnly(req, res, 'a health check')) return
    const h = deps.health()
    sendJson(res, h.closing ? 503 : 200, { status: h.closing ? 'closing' : h.storage.readOnly ? 'read-only' : 'ok', ...h, closing: undefined })
  })
  routes.routes.set('/metrics', async (req, res) => {
    if (!readOnly(req, res, 'metrics')) return
    if (auth.required && !deps.config.metricsPublic) {
      try {
        if (await auth.authenticate(req) === null) throw new AuthenticationRequiredError('/metrics needs a login with --auth (Basic, a Bearer token or a session; --metrics-public opens it)')
      } catch (err) {
        if (!(err instanceof SpoolError)) throw err
        sendError(res, err)
        return
      }
    }
    sendText(res, 200, await deps.metrics.render(), deps.metrics.contentType)
  })
  const api = apiRouter(apiRoutes(deps.api, sessionRoutes({ ...deps.session, auth })), { allowedOrigins: deps.config.httpAllowedOrigins, maxBodyBytes: deps.config.httpMaxBodyBytes, logger: deps.logger, auth })
  routes.routes.set('/login', loginRoute(auth, deps.config.httpAllowedOrigins))
  routes.routes.set('/api', api)
  routes.prefixes.set('/api/', api)
  const build = 'run `npm run build` to build it'
  const consoleDir = join(deps.webRoot, 'console')
  const htmlHeaders = { 'content-security-policy': CONSOLE_CSP, 'x-frame-options': 'DENY', 'referrer-policy': 'no-referrer' }
  const missingConsole = `the web console is missing from ${consoleDir}: ${build}`
  routes.routes.set('/', requireLogin(auth, staticFiles({ dir: consoleDir, prefix: '/', index: 'index.html', missingHint: missingConsole, htmlHeaders })))
  routes.prefixes.set('/console/', requireLogin(auth, staticFiles({ dir: consoleDir, prefix: '/console/', index: 'index.html', missingHint: missingConsole, htmlHeaders })))
  const sdkDir = join(deps.webRoot, 'browser')
  // Any page may load the SDK (it is public code); connecting is what the Origin check decides.
  routes.prefixes.set('/sdk/', staticFiles({
    dir: sdkDir,
    prefix: '/sdk/',
    missingHint: `the browser SDK bundle ${join(sdkDir, 'spool.js')} is missing: ${build}`,
    headers: { 'access-control-allow-origin': '*' },
  }))
  const examplesDir = join(deps.webRoot, 'examples')
  routes.prefixes.set('/examples/', staticFiles({ dir: examplesDir, prefix: '/examples/', index: 'index.html', missingHint: `the examples are missing from ${examplesDir}: ${build}` }))
}
