/** Provenance: the machine, the versions of everything measured, the Spool commit. */

import { spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { cpus, platform, release, totalmem } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { natsVersion } from '../peers/nats.js'
import { redisVersion } from '../peers/redis.js'
import { mosquittoVersion } from '../peers/mqtt.js'
import { commandOutput } from './procs.js'
import type { HostInfo } from './results.js'

export const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url))

export function hostInfo (): HostInfo {
  let virtualization: string | null = commandOutput('systemd-detect-virt', [])
  if (virtualization === null || virtualization === 'none') {
    try {
      virtualization = /^flags\s*:.*\bhypervisor\b/m.test(readFileSync('/proc/cpuinfo', 'utf8')) ? 'a virtual machine (cpuinfo: hypervisor)' : null
    } catch {
      virtualization = null
    }
  }
  return {
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model.trim() ?? 'unknown',
    memoryGiB: Math.round(totalmem() / 1024 ** 3),
    kernel: release(),
    platform: platform(),
    virtualization,
  }
}

/** Short commit of the working tree, with "+dirty" when tracked files differ from it. */
export function spoolSha (): string {
  const sha = spawnSync('git', ['-C', REPO_ROOT, 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8' })
  if (sha.status !== 0) return 'unknown'
  const status = spawnSync('git', ['-C', REPO_ROOT, 'status', '--porcelain', '--untracked-files=no', '--', '.', ':!bench/results', ':!bench/RESULTS.md'], { encoding: 'utf8' })
  return sha.stdout.trim() + (status.stdout.trim().length > 0 ? '+dirty' : '')
}

/** The installed version of an npm package (also one whose exports hide package.json). */
export function npmVersion (name: string): string | null {
  const require = createRequire(import.meta.url)
  let dir: string
  try {
    dir = dirname(require.resolve(name))
  } catch {
    return null
  }
  for (; dir !== dirname(dir); dir = dirname(dir)) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: string, version?: string }
      if (pkg.name === name) return pkg.version ?? null
    } catch { /* keep walking up */ }
  }
  return null
}

export function versions (): Record<string, string | null> {
  return {
    node: process.version,
    spool: spoolSha(),
    'nats-server': natsVersion(),
    'redis-server': redisVersion(),
    mosquitto: mosquittoVersion(),
    aedes: npmVersion('aedes'),
    'nats (npm)': npmVersion('nats'),
    ioredis: npmVersion('ioredis'),
    ws: npmVersion('ws'),
  }
}
