/**
 * Headless Chromium for tests: Debian's /usr/bin/chromium
 * driven by playwright-core, in a fresh profile directory, closed and removed at teardown.
 * There is no skip: a missing browser fails the test with the command that installs it
 * (scripts/setup-system.sh installs it for `npm test`).
 *
 * Also: `ensureWebBuild()` rebuilds the browser bundles (scripts/build-web.mjs, ~0.1 s) so the
 * pages under test run the current sources even when only `tsc` ran before the tests, and
 * `saveScreenshot()` writes PNGs to tests/artifacts/ (git-ignored).
 */

import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { chromium, type BrowserContext, type Page } from 'playwright-core'
import type { TestLike } from './broker.js'

export const CHROMIUM = '/usr/bin/chromium'
/** The repository root (this file runs as dist/tests/helpers/browser.js). */
export const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url))
export const ARTIFACTS = join(REPO_ROOT, 'tests', 'artifacts')

const CHROMIUM_ARGS = [
  '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
]

let building: Promise<void> | null = null

/** Runs scripts/build-web.mjs once per process (bundles are replaced atomically). */
export function ensureWebBuild (): Promise<void> {
  building ??= (async () => {
    const mod = await import(new URL('scripts/build-web.mjs', `file://${REPO_ROOT}`).href) as { buildWeb: () => Promise<void> }
    await mod.buildWeb()
  })()
  return building
}

/** Launches Chromium in a temp profile; closed (and the profile removed) at teardown. */
export async function launchBrowser (t: TestLike & { comment? (...args: unknown[]): void }): Promise<BrowserContext> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`${CHROMIUM} is missing: the browser tests need Debian's chromium (sudo apt-get install -y chromium, or run scripts/setup-system.sh as root)`)
  }
  // Chromium can be slow to come up on a loaded machine: one more try before giving up. A
  // failed launch may leave the browser still writing its profile, so removal retries.
  const removeProfile = (dir: string): void => {
    try { rmSync(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 200 }) } catch {}
  }
  let context: BrowserContext | null = null
  let profile = ''
  let lastError: unknown = null
  for (let attempt = 1; attempt <= 2 && context === null; attempt++) {
    profile = mkdtempSync(join(tmpdir(), 'spool-chromium-'))
    try {
      context = await chromium.launchPersistentContext(profile, {
        executablePath: CHROMIUM,
        headless: true,
        args: CHROMIUM_ARGS,
        viewport: { width: 1280, height: 800 },
        timeout: 60_000,
      })
    } catch (err) {
      lastError = err
      t.comment?.(`chromium launch ${attempt} failed: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`)
      removeProfile(profile)
    }
  }
  if (context === null) throw lastError instanceof Error ? lastError : new Error(String(lastError))
  context.setDefaultTimeout(15_000)
  const opened = context
  t.teardown(async () => {
    await opened.close().catch(() => {})
    removeProfile(profile)
  })
  return opened
}

/**
 * A new page whose uncaught errors and console errors are collected (`errors`), so a test
 * can assert there were none and show them when something fails.
 */
export async function openPage (context: BrowserContext, url: string): Promise<{ page: Page, errors: string[] }> {
  const page = await context.newPage()
  const errors: string[] = []
  page.on('pageerror', err => errors.push(`pageerror: ${err.message}`))
  page.on('console', msg => {
    // Chromium asks every site for /favicon.ico on its own; that 404 is not the page's.
    if (msg.type() === 'error' && !msg.location().url.endsWith('/favicon.ico')) errors.push(`console: ${msg.text()} (${msg.location().url})`)
  })
  await page.goto(url)
  return { page, errors }
}

/** Saves a screenshot as tests/artifacts/<name>.png and returns its path. */
export async function saveScreenshot (page: Page, name: string): Promise<string> {
  mkdirSync(ARTIFACTS, { recursive: true })
  const file = join(ARTIFACTS, `${name}.png`)
  await page.screenshot({ path: file })
  return file
}
