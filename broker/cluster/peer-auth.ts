/**
 * How a broker authenticates to the other brokers of its cluster when `--auth` is on
 * (docs/cluster.md, "Security"): every peer connection (replica fetch, OffsetForLeaderEpoch,
 * forwarded appends) runs the native SASL exchange as `interBrokerUser` before its first
 * request — SaslHandshake naming the SCRAM mechanism, then SaslAuthenticate until the client
 * side is done, which for SCRAM includes checking the peer's signature (the peer knows the
 * credential too). The client side of SCRAM is protocol/sasl/client.ts, the one the SDK uses.
 *
 * A refused exchange closes the connection and rejects with the peer's typed error
 * (SASL_AUTHENTICATION_FAILED for a wrong password or an unknown user); the pool logs it and
 * the replica fetcher retries after its backoff, so a misconfigured broker stays out of the
 * ISR (its partitions under-replicated) rather than crashing anything.
 */

import { readFileSync } from 'node:fs'
import { InvalidConfigError, SaslAuthenticationFailedError } from '../../protocol/errors.js'
import { createSaslClient } from '../../protocol/sasl/client.js'
import { runSaslExchange } from '../../protocol/sasl/exchange.js'
import type { ScramMechanism } from '../../protocol/sasl/scram.js'
import { nodeSaslCrypto } from '../../platform/sasl-crypto-node.js'
import type { PeerConnection } from './peer-client.js'

export interface InterBrokerCredentials {
  readonly username: string
  readonly password: string
  readonly mechanism: ScramMechanism
}

/**
 * The inter-broker credentials from the settings: the password is the first line of
 * `passwordFile`. A file that cannot be read or has an empty first line is an
 * InvalidConfigError naming the flag (checked at start-up, before the broker joins).
 */
export function loadInterBrokerCredentials (settings: { interBrokerUser: string | null, interBrokerPasswordFile: string | null, interBrokerSaslMechanism: string }): InterBrokerCredentials {
  const username = settings.interBrokerUser
  if (username === null || username === '') throw new InvalidConfigError('--auth in cluster mode needs --inter-broker-user')
  const file = settings.interBrokerPasswordFile
  if (file === null || file === '') throw new InvalidConfigError('--auth in cluster mode needs --inter-broker-password-file')
  const mechanism = settings.interBrokerSaslMechanism
  if (mechanism !== 'SCRAM-SHA-256' && mechanism !== 'SCRAM-SHA-512') throw new InvalidConfigError(`--inter-broker-sasl-mechanism must be SCRAM-SHA-512 or SCRAM-SHA-256 (got ${JSON.stringify(mechanism)})`)
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (err) {
    throw new InvalidConfigError(`--inter-broker-password-file ${file} cannot be read: ${(err as Error).message}`, { cause: err })
  }
  const password = text.split(/\r?\n/, 1)[0] ?? ''
  if (password === '') throw new InvalidConfigError(`--inter-broker-password-file ${file}: the first line (the password) is empty`)
  return { username, password, mechanism }
}

/** Runs the SASL exchange on a fresh peer connection; rejects with the peer's typed error. */
export async function authenticatePeer (connection: PeerConnection, credentials: InterBrokerCredentials, timeoutMs: number): Promise<void> {
  const client = createSaslClient(credentials.mechanism, { username: credentials.username, password: credentials.password, crypto: nodeSaslCrypto })
  // SCRAM is two round trips; a peer asking for more is not following the mechanism.
  const done = await runSaslExchange(client, {
    handshake: () => connection.request('SaslHandshake', { mechanism: credentials.mechanism }, { timeoutMs }),
    authenticate: async authBytes => (await connection.request('SaslAuthenticate', { authBytes }, { timeoutMs })).body.authBytes,
  }, 4)
  if (done) return
  throw new SaslAuthenticationFailedError(`broker ${connection.address} did not finish the ${credentials.mechanism} exchange`)
}
