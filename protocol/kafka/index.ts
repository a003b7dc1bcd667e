/**
 * Kafka wire-protocol codecs for the Kafka listener (server side) and for tests and a
 * Kafka-speaking client (client side). Pure code: no sockets, no Node-only APIs.
 *
 * Server:  decodeRequestHeader(frame) -> (supported?) decodeRequestBody(header, frame)
 *          -> handle `req.body` by `req.apiName` -> encodeResponse(KAFKA_APIS.X, version,
 *          correlationId, body) -> write `parts` (writev) of `size` bytes.
 * Client:  encodeRequest(api, version, correlationId, clientId, body) / decodeResponse(api,
 *          version, frame).
 */

export type { Decoded, Encodable, Fields, FieldSpec, FieldOptions, Primitive, VersionRange } from './schema.js'
export { Message, defineApi, isFlexible } from './api.js'
export type { KafkaApi, ApiDefinition } from './api.js'
export * from './apis/index.js'
export * from './registry.js'
export * from './frame.js'
export * from './api-keys.js'
export * from './error-codes.js'
export * from './consumer-protocol.js'
