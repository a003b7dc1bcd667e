// The web half of the build (run by `npm run build` and `prepare`, after tsc): bundles the
// browser SDK and the web console with esbuild and copies the static files the broker serves.
//
//   client/browser.ts        -> dist/browser/spool.js      (served at /sdk/spool.js)
//   web/console/app.ts    -> dist/console/app.js        (served at /console/app.js)
//   web/console/*.html|css -> dist/console/             (index.html is served at /)
//   examples/browser/*       -> dist/examples/browser/     (served at /examples/browser/)
//
// Bundles are ESM for es2022 browsers with no Node built-ins (platform=browser makes esbuild
// refuse a node: import) and no CDN: everything is in the file. Each output is written to a
// temporary name and renamed, so a broker serving dist/ never reads half a file (tests run
// this while other test files' brokers serve the same dist/).
//
// Usage: node scripts/build-web.mjs [--out dist]      (or import { buildWeb } from here)
import { build } from 'esbuild'
import { copyFileSync, existsSync, mkdirSync, readdirSync, renameSync, statSync, writeFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..')

function writeAtomically (file, contents) {
  mkdirSync(dirname(file), { recursive: true })
  const tmp = `${file}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`
  writeFileSync(tmp, contents)
  renameSync(tmp, file)
}

function copyAtomically (from, to) {
  mkdirSync(dirname(to), { recursive: true })
  const tmp = `${to}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`
  copyFileSync(from, tmp)
  renameSync(tmp, to)
}

async function bundle (entry, outfile) {
  const result = await build({
    entryPoints: [join(ROOT, entry)],
    outfile,
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    sourcemap: 'linked',
    legalComments: 'none',
    logLevel: 'warning',
    write: false,
  })
  for (const file of result.outputFiles) writeAtomically(file.path, file.contents)
}

/** Copies the files of `from` (not recursive) whose names match `pattern` into `to`. */
function copyDir (from, to, pattern) {
  if (!existsSync(from)) return
  for (const name of readdirSync(from)) {
    const file = join(from, name)
    if (pattern.test(name) && statSync(file).isFile()) copyAtomically(file, join(to, name))
  }
}

/** Builds everything into `outDir` (default: the repository's dist/). */
export async function buildWeb ({ outDir = join(ROOT, 'dist') } = {}) {
  await bundle('client/browser.ts', join(outDir, 'browser', 'spool.js'))
  await bundle('web/console/app.ts', join(outDir, 'console', 'app.js'))
  copyDir(join(ROOT, 'web', 'console'), join(outDir, 'console'), /\.(html|css|svg|png)$/)
  copyDir(join(ROOT, 'examples', 'browser'), join(outDir, 'examples', 'browser'), /\.(html|css|js|svg|png)$/)
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const at = process.argv.indexOf('--out')
  await buildWeb(at > 0 ? { outDir: resolve(process.argv[at + 1]) } : {})
}
