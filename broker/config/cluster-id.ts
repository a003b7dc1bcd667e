/**
 * The cluster id every Metadata and DescribeCluster answer reports (native and Kafka). Kafka
 * clients compare it across connections and restarts, so it must not change while the data
 * stays: with the `clusterId` setting left at `auto`, the first start generates one (22
 * characters of base64url, as Kafka's own ids) and keeps it in `<dataDir>/cluster-id`
 * (written atomically and durably); later starts read it back. Any other value of the
 * setting is used as given and the file is left alone. In cluster mode every broker must
 * report the same id (and the cluster's etcd keys live under it), so there `auto` stands for
 * the fixed id `spool` (clusterIdOfCluster); several clusters on one etcd each set their own.
 *
 *   cluster-id := the id, then a newline (nothing else)
 */

import { randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { StorageError } from '../../protocol/errors.js'
import { writeFileAtomic } from '../storage/atomic-file.js'

export const CLUSTER_ID_FILE = 'cluster-id'
const AUTO = 'auto'
const VALID = /^[A-Za-z0-9._-]{1,64}$/

/** Cluster mode: the configured id, `spool` for `auto`. */
export function clusterIdOfCluster (configured: string): string {
  return configured === AUTO ? CLUSTER_DEFAULT_ID : configured
}

const CLUSTER_DEFAULT_ID = 'spool'

/** The configured id, or (for `auto`) the one kept in the data dir, created on first use. */
export function resolveClusterId (dataDir: string, configured: string): string {
  if (configured !== AUTO) return configured
  const path = join(dataDir, CLUSTER_ID_FILE)
  let text: string | null = null
  try {
    text = readFileSync(path, 'utf8').trim()
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new StorageError(`cannot read ${path}: ${(err as Error).message}`, { cause: err })
  }
  if (text !== null) {
    if (!VALID.test(text)) throw new StorageError(`${path} does not hold a cluster id (1-64 of A-Z a-z 0-9 . _ -): remove it to generate a new one`)
    return text
  }
  const id = randomBytes(16).toString('base64url')
  try {
    writeFileAtomic(path, Buffer.from(id + '\n'), true)
  } catch (err) {
    throw new StorageError(`cannot write ${path}: ${(err as Error).message}`, { cause: err })
  }
  return id
}
