/**
 * Summarizes a V8 .cpuprofile (from `node --cpu-prof`): the functions with the most self
 * time, and the share of idle/GC/program time. No dependencies.
 *
 *   node dist/bench/tools/cpuprofile.js <file.cpuprofile> [--top 25]
 *
 * Self time = samples whose top frame is the function, times the sampling interval
 * (derived from the profile's timeDeltas). Functions are grouped by name + url + line, so
 * the same function inlined in different call paths is one row.
 */

import { readFileSync } from 'node:fs'
import { relative } from 'node:path'

interface CallFrame { functionName: string, url: string, lineNumber: number }
interface ProfileNode { id: number, callFrame: CallFrame, children?: number[] }
interface CpuProfile { nodes: ProfileNode[], samples: number[], timeDeltas: number[], startTime: number, endTime: number }

export interface SelfTimeRow { name: string, where: string, ms: number, share: number }

/** Self time per function, largest first. */
export function summarizeProfile (profile: CpuProfile): { totalMs: number, rows: SelfTimeRow[] } {
  const byId = new Map<number, ProfileNode>()
  for (const n of profile.nodes) byId.set(n.id, n)
  const selfUs = new Map<number, number>()
  for (let i = 0; i < profile.samples.length; i++) {
    const id = profile.samples[i]!
    // timeDeltas[i] is the time before sample i; attribute the next delta to this sample.
    const dt = profile.timeDeltas[i + 1] ?? profile.timeDeltas[i] ?? 0
    selfUs.set(id, (selfUs.get(id) ?? 0) + Math.max(0, dt))
  }
  const grouped = new Map<string, SelfTimeRow>()
  let totalUs = 0
  for (const [id, us] of selfUs) {
    totalUs += us
    const f = byId.get(id)!.callFrame
    const name = f.functionName === '' ? '(anonymous)' : f.functionName
    const url = f.url.startsWith('file://') ? relative(process.cwd(), new URL(f.url).pathname) : f.url
    const where = url === '' ? '' : `${url}:${f.lineNumber + 1}`
    const key = `${name} ${where}`
    const row = grouped.get(key) ?? { name, where, ms: 0, share: 0 }
    row.ms += us / 1000
    grouped.set(key, row)
  }
  const rows = [...grouped.values()].sort((a, b) => b.ms - a.ms)
  for (const r of rows) r.share = totalUs > 0 ? r.ms * 1000 / totalUs : 0
  return { totalMs: totalUs / 1000, rows }
}

if (process.argv[1] !== undefined && import.meta.url.endsWith(process.argv[1].replace(/^.*\/dist\//, '/dist/'))) {
  const file = process.argv[2]
  if (file === undefined) {
    console.error('usage: node dist/bench/tools/cpuprofile.js <file.cpuprofile> [--top 25]')
    process.exit(2)
  }
  const topAt = process.argv.indexOf('--top')
  const top = topAt > 0 ? Number(process.argv[topAt + 1]) : 25
  const { totalMs, rows } = summarizeProfile(JSON.parse(readFileSync(file, 'utf8')) as CpuProfile)
  console.log(`${file}: ${(totalMs / 1000).toFixed(2)} s of samples`)
  console.log('| self ms | share | function | where |')
  console.log('| ---: | ---: | --- | --- |')
  for (const r of rows.slice(0, top)) console.log(`| ${r.ms.toFixed(0)} | ${(r.share * 100).toFixed(1)}% | ${r.name} | ${r.where} |`)
}
