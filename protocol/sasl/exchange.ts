/**
 * The client side of a SASL exchange over Spool's native API, whoever runs it (the SDK's
 * connection, a broker's connection to a peer): SaslHandshake and the first
 * SaslAuthenticate go out together, then one SaslAuthenticate per server challenge until
 * the mechanism's client is done (for SCRAM: the server's signature verified).
 */

import type { SaslClient } from './client.js'

/** The two requests of the exchange, as the caller's connection sends them. */
export interface SaslRequests {
  /** SaslHandshake naming the mechanism. */
  handshake (): Promise<unknown>
  /** Sends the client's message; resolves with the server's next one. */
  authenticate (authBytes: Uint8Array): Promise<Uint8Array>
}

/**
 * Runs the exchange; true once the client is done, false when the server still asked for
 * more after `maxSteps` answers (a server not following the mechanism). A refused
 * handshake rejects with the handshake's error.
 */
export async function runSaslExchange (client: Pick<SaslClient, 'start' | 'step'>, requests: SaslRequests, maxSteps = Number.POSITIVE_INFINITY): Promise<boolean> {
  const first = await client.start()
  const handshake = requests.handshake()
  const answer = requests.authenticate(first)
  answer.catch(() => {}) // a refused handshake fails it too; the handshake's error is the one to report
  await handshake
  let serverMessage = await answer
  for (let step = 0; step < maxSteps; step++) {
    const next = await client.step(serverMessage)
    if (next === null) return true
    serverMessage = await requests.authenticate(next)
  }
  return false
}
