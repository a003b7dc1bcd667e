/**
 * The one place that builds an etcd client and runs calls on it. Every call has a deadline
 * (etcdOperationTimeoutMs) and every failure that comes from etcd or the network — deadline,
 * no leader, member down, open circuit — becomes MetadataUnavailableError naming the call, so
 * callers see one retriable error for "etcd did not answer" (lost quorum, partition, restart).
 *
 * Fault handling (cockatiel, as etcd3 expects): a failed call is retried on another endpoint
 * (up to 3 tries within the deadline); an endpoint that failed 3 times in a row is skipped for
 * 1 s (etcd3's default is 5 s, which would hold a broker back that long after etcd recovers).
 * Watch streams reconnect after 100 ms growing to at most 1 s.
 */

import fs from 'node:fs'
import { Etcd3, isRecoverableError, type IOptions } from 'etcd3'
import { ConsecutiveBreaker, ExponentialBackoff, circuitBreaker, handleWhen, retry } from 'cockatiel'
import { MetadataUnavailableError, SpoolError } from '../../protocol/errors.js'
import type { ClusterSettings } from './settings.js'

export type EtcdSettings = Pick<ClusterSettings, 'etcdEndpoints' | 'etcdTls' | 'etcdUsername' | 'etcdPassword' | 'etcdOperationTimeoutMs'>

export function createEtcdClient (settings: EtcdSettings): Etcd3 {
  const timeoutMs = settings.etcdOperationTimeoutMs
  const options: IOptions = {
    hosts: settings.etcdEndpoints,
    dialTimeout: timeoutMs,
    defaultCallOptions: context => (context.isStream ? {} : { deadline: Date.now() + timeoutMs }),
    faultHandling: {
      host: () => circuitBreaker(handleWhen(isRecoverableError), { halfOpenAfter: 1000, breaker: new ConsecutiveBreaker(3) }),
      global: retry(handleWhen(isRecoverableError), { maxAttempts: 2 }),
      watchBackoff: new ExponentialBackoff({ initialDelay: 100, maxDelay: 1000 }).next(),
    },
  }
  if (settings.etcdTls !== null) {
    const tls = settings.etcdTls
    options.credentials = {
      rootCertificate: fs.readFileSync(tls.caFile),
      ...(tls.certFile === null ? {} : { certChain: fs.readFileSync(tls.certFile) }),
      ...(tls.keyFile === null ? {} : { privateKey: fs.readFileSync(tls.keyFile) }),
    }
  }
  if (settings.etcdUsername !== null && settings.etcdPassword !== null) {
    options.auth = { username: settings.etcdUsername, password: settings.etcdPassword }
  }
  return new Etcd3(options)
}

interface WatchManagerInternals { watchers?: Array<{ cancel: () => Promise<void> }> }

/**
 * Cancels every watcher still attached to the client's watch manager, waiting up to
 * `timeoutMs` for etcd to confirm, then closes the client. With etcd3 1.1.2 a watcher left
 * attached outlives `close()` and, once its stream breaks, its watch manager retries forever on
 * a timer that keeps the process alive. The manager's watcher list is not public API: it is
 * read by name, and only the public `cancel()` is called.
 */
export async function closeEtcdClient (client: Etcd3, timeoutMs = 1000): Promise<void> {
  const manager = (client as unknown as { watchManager?: WatchManagerInternals }).watchManager
  const cancels = (manager?.watchers?.slice() ?? []).map(w => w.cancel().catch(() => undefined))
  let timer: NodeJS.Timeout | undefined
  await Promise.race([Promise.all(cancels), new Promise(resolve => { timer = setTimeout(resolve, timeoutMs) })])
  clearTimeout(timer)
  client.close()
}

/** The error callers see for a failed etcd call: typed Spool errors pass through. */
export function asMetadataError (what: string, err: unknown): SpoolError {
  if (err instanceof SpoolError) return err
  const message = err instanceof Error ? err.message : String(err)
  return new MetadataUnavailableError(`${what}: ${message}`, { cause: err })
}

/**
 * Runs `call` with a deadline of `timeoutMs`; any failure or the deadline becomes
 * MetadataUnavailableError (a call still running at the deadline is left to end on its own
 * grpc deadline).
 */
export async function etcdCall<T> (what: string, timeoutMs: number, call: () => Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const deadline = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new MetadataUnavailableError(`${what}: etcd did not answer within ${timeoutMs} ms`)), timeoutMs)
  })
  try {
    return await Promise.race([call(), deadline])
  } catch (err) {
    throw asMetadataError(what, err)
  } finally {
    clearTimeout(timer)
  }
}

export const utf8 = (b: Buffer | Uint8Array): string => Buffer.from(b).toString('utf8')
export const bytes = (s: string): Buffer => Buffer.from(s, 'utf8')

/** etcd's int64 strings as numbers (revisions stay below 2^53 in any real cluster). */
export const rev = (s: string | number): number => Number(s)
