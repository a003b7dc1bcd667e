// The layering rules, read from the source files' imports (type-only imports included):
// no file imports another in a circle; protocol/ imports nothing outside protocol/ (and no
// Node built-in); broker/ never imports client/; broker/network/ never imports a protocol
// front-end; a protocol front-end (broker/protocols/) reaches storage only through
// broker/services/ (type-only imports of storage types, and the fault points, are allowed);
// web/ and client/ never
// import broker/ code (types only).
import t from 'tap'
import { readFileSync, readdirSync, statSync } from 'node:fs'
import { dirname, join, normalize, relative } from 'node:path'
import { fileURLToPath } from 'node:url'

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..')
const SOURCE_DIRS = ['protocol', 'platform', 'broker', 'client', 'cli', 'web', 'bench', 'examples', 'tests']

interface Edge { from: string, to: string, typeOnly: boolean, line: number }

function files (dir: string): string[] {
  const out: string[] = []
  for (const name of readdirSync(dir)) {
    const p = join(dir, name)
    if (statSync(p).isDirectory()) {
      if (name === 'node_modules' || name === 'fixtures' || name === 'artifacts') continue
      out.push(...files(p))
    } else if (name.endsWith('.ts') && !name.endsWith('.d.ts')) {
      out.push(p)
    }
  }
  return out
}

const IMPORT = /^\s*(import|export)\s+(type\s+)?(?:[^'"]*?\sfrom\s+)?['"]([^'"]+)['"]/
const DYNAMIC = /import\(\s*['"]([^'"]+)['"]\s*\)/g

export function readEdges (): { edges: Edge[], bare: Array<{ from: string, spec: string, line: number }> } {
  const edges: Edge[] = []
  const bare: Array<{ from: string, spec: string, line: number }> = []
  for (const d of SOURCE_DIRS) {
    for (const file of files(join(ROOT, d))) {
      const from = relative(ROOT, file)
      const lines = readFileSync(file, 'utf8').split('\n')
      lines.forEach((text, i) => {
        const specs: Array<{ spec: string, typeOnly: boolean }> = []
        const m = IMPORT.exec(text)
        // `import { type A, type B }` is type-only too when every name is.
        if (m !== null) specs.push({ spec: m[3]!, typeOnly: m[2] !== undefined || /^\s*import\s*\{\s*(type\s+[^,}]+\s*,?\s*)+\}\s*from/.test(text) })
        for (const d of text.matchAll(DYNAMIC)) specs.push({ spec: d[1]!, typeOnly: /typeof\s+import\(|:\s*import\(|<import\(/.test(text) })
        for (const { spec, typeOnly } of specs) {
          if (spec.startsWith('.')) {
            const target = normalize(join(dirname(from), spec)).replace(/\.js$/, '.ts')
            edges.push({ from, to: target, typeOnly, line: i + 1 })
          } else {
            bare.push({ from, spec, line: i + 1 })
          }
        }
      })
    }
  }
  return { edges, bare }
}

const { edges, bare } = readEdges()
const under = (p: string, dir: string): boolean => p.startsWith(dir + '/')
const where = (e: { from: string, line: number }): string => `${e.from}:${e.line}`

t.test('the graph was read', async t => {
  t.ok(edges.length > 500, `${edges.length} relative imports read`)
  t.ok(edges.some(e => e.from === 'broker/broker.ts'), 'broker.ts is in it')
})

t.test('no import cycles between files (type-only imports included)', async t => {
  const graph = new Map<string, string[]>()
  for (const e of edges) {
    if (!graph.has(e.from)) graph.set(e.from, [])
    graph.get(e.from)!.push(e.to)
  }
  // Tarjan's strongly connected components.
  let index = 0
  const idx = new Map<string, number>()
  const low = new Map<string, number>()
  const stack: string[] = []
  const on = new Set<string>()
  const cycles: string[][] = []
  const visit = (v: string): void => {
    idx.set(v, index)
    low.set(v, index)
    index++
    stack.push(v)
    on.add(v)
    for (const w of graph.get(v) ?? []) {
      if (!idx.has(w)) {
        visit(w)
        low.set(v, Math.min(low.get(v)!, low.get(w)!))
      } else if (on.has(w)) {
        low.set(v, Math.min(low.get(v)!, idx.get(w)!))
      }
    }
    if (low.get(v) === idx.get(v)) {
      const scc: string[] = []
      let w: string
      do {
        w = stack.pop()!
        on.delete(w)
        scc.push(w)
      } while (w !== v)
      if (scc.length > 1 || (graph.get(v) ?? []).includes(v)) cycles.push(scc.sort())
    }
  }
  for (const v of graph.keys()) if (!idx.has(v)) visit(v)
  t.same(cycles, [], 'every strongly connected component is a single file')
})

t.test('protocol/ imports nothing outside protocol/ and no Node built-in', async t => {
  const outside = edges.filter(e => under(e.from, 'protocol') && !under(e.to, 'protocol')).map(where)
  t.same(outside, [], 'relative imports stay in protocol/')
  const node = bare.filter(b => under(b.from, 'protocol') && (b.spec.startsWith('node:') || ['fs', 'net', 'path', 'crypto', 'zlib', 'buffer'].includes(b.spec))).map(where)
  t.same(node, [], 'no Node built-ins')
})

t.test('broker/ never imports client/; client/ and web/ import broker/ types only', async t => {
  t.same(edges.filter(e => under(e.from, 'broker') && under(e.to, 'client')).map(where), [])
  t.same(edges.filter(e => (under(e.from, 'client') || under(e.from, 'web')) && under(e.to, 'broker') && !e.typeOnly).map(where), [])
})

t.test('broker/network/ never imports a protocol front-end', async t => {
  t.same(edges.filter(e => under(e.from, 'broker/network') && under(e.to, 'broker/protocols')).map(where), [])
})

t.test('protocol front-ends reach storage only through services (type-only imports allowed)', async t => {
  // The named fault points (storage/testing) are a test facility every layer may call.
  t.same(edges.filter(e => under(e.from, 'broker/protocols') && under(e.to, 'broker/storage') && !under(e.to, 'broker/storage/testing') && !e.typeOnly).map(where), [])
})
