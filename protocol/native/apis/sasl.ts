/**
 * Authentication on the native protocol, in Kafka's shape (KIP-43, KIP-152): the client
 * names a mechanism with SaslHandshake, then carries the mechanism's messages in
 * SaslAuthenticate requests until the broker answers with success or an error. Until a
 * connection of a broker with authentication on has authenticated, only ApiVersions and
 * these two apis are served, and frames are limited to what a handshake needs.
 *
 * SaslHandshake (key 17): picks the mechanism of this connection.
 *   request  v0 := { mechanism }
 *   response v0 := { errorCode, errorMessage, mechanisms: [string] }   (the broker's, strongest first)
 *   errors: UNSUPPORTED_SASL_MECHANISM (PLAIN without TLS, an unknown name), ILLEGAL_SASL_STATE
 *           (a second handshake, or one after authenticating)
 *
 * SaslAuthenticate (key 36): one client message of the mechanism's exchange.
 *   request  v0 := { authBytes: bin }
 *   response v0 := { errorCode, errorMessage, authBytes: bin, sessionLifetimeMs }
 *   authBytes: the server's next message (SCRAM's server-first, then its v=signature;
 *   nothing for PLAIN and OAUTHBEARER). sessionLifetimeMs: 0, or how long the credential
 *   stays valid (a token: the broker closes the connection with TOKEN_EXPIRED then).
 *   errors: SASL_AUTHENTICATION_FAILED, ILLEGAL_SASL_STATE, TOKEN_EXPIRED, TOKEN_INVALID,
 *           TOKEN_SIGNATURE_INVALID, TOKEN_KEY_UNKNOWN; after an error the broker closes the
 *           connection.
 *
 * Mechanisms: SCRAM-SHA-512, SCRAM-SHA-256, PLAIN (TLS only unless the broker allows it),
 * OAUTHBEARER carrying a broker token (`n,,\x01auth=Bearer <token>\x01\x01`).
 */

import { array, bytes, int, object, optional, str } from '../schema.js'
import type { Infer } from '../schema.js'
import { topLevelError } from './common.js'

export const SaslHandshakeRequest = object({ mechanism: str(64) })
export type SaslHandshakeRequest = Infer<typeof SaslHandshakeRequest>

export const SaslHandshakeResponse = object({
  ...topLevelError,
  mechanisms: optional(array(str(64), 16), []),
})
export type SaslHandshakeResponse = Infer<typeof SaslHandshakeResponse>

export const SaslAuthenticateRequest = object({ authBytes: bytes })
export type SaslAuthenticateRequest = Infer<typeof SaslAuthenticateRequest>

const EMPTY = new Uint8Array(0)

export const SaslAuthenticateResponse = object({
  ...topLevelError,
  authBytes: optional(bytes, EMPTY),
  sessionLifetimeMs: optional(int(0), 0),
})
export type SaslAuthenticateResponse = Infer<typeof SaslAuthenticateResponse>

/** The largest frame a connection may send before it has authenticated (a SASL message is at most 4 KiB, a token 8 KiB). */
export const PRE_AUTH_MAX_FRAME_BYTES = 16 * 1024
