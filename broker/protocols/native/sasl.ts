/**
 * SaslHandshake and SaslAuthenticate (protocol/native/apis/sasl.ts): the wire side of the
 * authenticator (security/authenticator.ts). The handshake picks the connection's mechanism
 * and opens its exchange; each SaslAuthenticate carries one client message and answers the
 * server's next one. Success sets the connection's principal (and, for a token, when the
 * connection must close); a failure is answered with its named error and the connection is
 * closed right after, as Kafka does — a client tries again on a new connection.
 */

import { IllegalSaslStateError } from '../../../protocol/errors.js'
import type { Connection } from '../../network/connection.js'
import type { Dispatcher } from './dispatcher.js'
import type { NativeAuth } from './wire.js'

/** Closes the connection once the error answer being sent now is written. */
function closeAfterAnswer (conn: Connection): void {
  setImmediate(() => conn.close(null))
}

export function registerSaslHandlers (dispatcher: Dispatcher, auth: NativeAuth, now: () => number): void {
  dispatcher.register('SaslHandshake', (req, rc) => {
    const conn = rc.connection
    if (conn.isAuthenticated || rc.sasl.mechanism !== null) {
      throw new IllegalSaslStateError(conn.isAuthenticated ? 'this connection is already authenticated' : `a SASL handshake (${rc.sasl.mechanism}) was already made on this connection`)
    }
    const exchange = auth.authenticator.start(req.mechanism, { peer: conn.peer, protocol: 'native' })
    rc.sasl.mechanism = exchange.mechanism
    rc.sasl.exchange = exchange
    return { body: { mechanisms: auth.authenticator.mechanisms(conn.peer) } }
  })
  dispatcher.register('SaslAuthenticate', async (req, rc) => {
    const conn = rc.connection
    const exchange = rc.sasl.exchange
    if (exchange === null || exchange.finished || conn.isAuthenticated) {
      closeAfterAnswer(conn)
      throw new IllegalSaslStateError(exchange === null ? 'SaslAuthenticate before SaslHandshake' : 'the SASL exchange of this connection is over')
    }
    const step = await exchange.step(req.authBytes)
    if (step.kind === 'challenge') return { body: { authBytes: step.response, sessionLifetimeMs: 0 } }
    if (step.kind === 'success') {
      conn.authenticated(step.principal, step.expiresAtMs)
      return { body: { authBytes: step.response, sessionLifetimeMs: step.expiresAtMs === null ? 0 : Math.max(1, step.expiresAtMs - now()) } }
    }
    closeAfterAnswer(conn)
    throw step.error
  })
}
