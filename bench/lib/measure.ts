/**
 * Measuring a phase: wall time, this (client) process's CPU time, a server process's CPU
 * time from /proc, and the server's peak resident memory sampled during the phase.
 */

import { cpuSecondsBetween, cpuTicks, RssSampler } from './procs.js'
import type { Row } from './result.js'

export interface Measured<T> {
  value: T
  seconds: number
  clientCpuSeconds: number
  /** NaN when no server pid was given (or it was unreadable). */
  serverCpuSeconds: number
  /** The kernel's part of serverCpuSeconds (system time). */
  serverSystemSeconds: number
  serverPeakRssBytes: number
}

/** Runs `fn`, measuring it; `serverPid` is the broker (or peer server) measured alongside. */
export async function measure<T> (serverPid: number | null, fn: () => Promise<T>): Promise<Measured<T>> {
  const sampler = serverPid === null ? null : new RssSampler([serverPid], 50)
  const serverBefore = serverPid === null ? { user: NaN, system: NaN } : cpuTicks(serverPid)
  const clientBefore = process.cpuUsage()
  const started = performance.now()
  const value = await fn()
  const seconds = (performance.now() - started) / 1000
  const client = process.cpuUsage(clientBefore)
  const serverAfter = serverPid === null ? { user: NaN, system: NaN } : cpuTicks(serverPid)
  const server = cpuSecondsBetween(serverBefore, serverAfter)
  const peaks = sampler?.stop()
  return {
    value,
    seconds,
    clientCpuSeconds: (client.user + client.system) / 1e6,
    serverCpuSeconds: server.total,
    serverSystemSeconds: server.system,
    serverPeakRssBytes: serverPid === null ? NaN : peaks!.get(serverPid) ?? NaN,
  }
}

/**
 * The standard rows of a throughput phase: records/s, MB/s (of record values), server and
 * client CPU seconds per million records, and the server's peak RSS.
 */
export function throughputRows (name: string, system: string, records: number, valueBytes: number, m: Measured<unknown>, options: { mbps?: boolean } = {}): Row[] {
  const rows: Row[] = [
    { name, system, metric: 'records/s', value: records / m.seconds, unit: 'rec/s' },
  ]
  if (options.mbps !== false) rows.push({ name, system, metric: 'MB/s (values)', value: records * valueBytes / m.seconds / 1e6, unit: 'MB/s' })
  rows.push(
    { name, system, metric: 'server CPU s per 1M records', value: m.serverCpuSeconds / records * 1e6, unit: 's', better: 'lower' },
    { name, system, metric: 'client CPU s per 1M records', value: m.clientCpuSeconds / records * 1e6, unit: 's', better: 'lower' },
    { name, system, metric: 'server peak RSS', value: m.serverPeakRssBytes / 1e6, unit: 'MB', better: 'lower' },
  )
  return rows
}

/** Runs `sendOne` from `workers` loops, `outstanding` each, until `seconds` pass; returns records acknowledged. */
export async function drive (workers: number, outstanding: number, perSend: number, seconds: number, sendOne: (worker: number) => Promise<unknown>): Promise<number> {
  const deadline = performance.now() + seconds * 1000
  let acknowledged = 0
  await Promise.all(Array.from({ length: workers * outstanding }, async (_, i) => {
    const worker = i % workers
    while (performance.now() < deadline) {
      await sendOne(worker)
      acknowledged += perSend
    }
  }))
  return acknowledged
}
