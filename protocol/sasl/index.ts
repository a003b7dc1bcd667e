/** SASL PLAIN and SCRAM for clients and servers: message grammar, key derivation, client state machines. */

export type { HashName, SaslCrypto } from './crypto.js'
export { base64Decode, base64Encode, constantTimeEqual } from './encoding.js'
export { createSaslClient, type SaslClient, type SaslClientOptions, type SaslMechanismName } from './client.js'
export {
  SCRAM_MAX_ITERATIONS, SCRAM_MECHANISMS, SCRAM_MIN_ITERATIONS, isScramMechanism, scramCredential,
  type ScramCredential, type ScramMechanism,
} from './scram.js'
