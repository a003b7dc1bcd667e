/**
 * MQTT 5 reason codes the gateway sends (MQTT 5.0 §2.4, table 2-6). MQTT 3.1.1 has only the
 * CONNACK return codes (§3.2.2.3) and SUBACK 0x80; everything else is a closed socket.
 */

export const Reason = {
  success: 0x00,
  grantedQos1: 0x01,
  grantedQos2: 0x02,
  disconnectWithWill: 0x04,
  noMatchingSubscribers: 0x10,
  noSubscriptionExisted: 0x11,
  unspecifiedError: 0x80,
  malformedPacket: 0x81,
  protocolError: 0x82,
  implementationSpecificError: 0x83,
  unsupportedProtocolVersion: 0x84,
  clientIdentifierNotValid: 0x85,
  badUserNameOrPassword: 0x86,
  notAuthorized: 0x87,
  serverUnavailable: 0x88,
  serverBusy: 0x89,
  serverShuttingDown: 0x8b,
  badAuthenticationMethod: 0x8c,
  keepAliveTimeout: 0x8d,
  sessionTakenOver: 0x8e,
  topicFilterInvalid: 0x8f,
  topicNameInvalid: 0x90,
  packetIdentifierInUse: 0x91,
  packetIdentifierNotFound: 0x92,
  receiveMaximumExceeded: 0x93,
  topicAliasInvalid: 0x94,
  packetTooLarge: 0x95,
  quotaExceeded: 0x97,
  payloadFormatInvalid: 0x99,
  qosNotSupported: 0x9b,
  sharedSubscriptionsNotSupported: 0x9e,
  connectionRateExceeded: 0x9f,
  subscriptionIdentifiersNotSupported: 0xa1,
  wildcardSubscriptionsNotSupported: 0xa2,
} as const

/** MQTT 3.1.1 CONNACK return codes (§3.2.2.3). */
export const ReturnCode = {
  accepted: 0,
  unacceptableProtocolVersion: 1,
  identifierRejected: 2,
  serverUnavailable: 3,
  badUserNameOrPassword: 4,
  notAuthorized: 5,
} as const

/** The 3.1.1 CONNACK return code closest to a v5 CONNACK reason code. */
export function v4ReturnCode (reason: number): number {
  if (reason === Reason.success) return ReturnCode.accepted
  if (reason === Reason.unsupportedProtocolVersion) return ReturnCode.unacceptableProtocolVersion
  if (reason === Reason.clientIdentifierNotValid) return ReturnCode.identifierRejected
  if (reason === Reason.badUserNameOrPassword) return ReturnCode.badUserNameOrPassword
  if (reason === Reason.notAuthorized) return ReturnCode.notAuthorized
  return ReturnCode.serverUnavailable
}

/** The DISCONNECT reason for a connection closed by the network layer for `err`. */
export function reasonForError (err: { readonly code: string }): number {
  switch (err.code) {
    case 'IDLE_TIMEOUT': return Reason.keepAliveTimeout
    case 'MQTT_PACKET_TOO_LARGE': return Reason.packetTooLarge
    case 'MQTT_MALFORMED_PACKET': return Reason.malformedPacket
    case 'MQTT_PROTOCOL_ERROR': return Reason.protocolError
    case 'LOG_CLOSED': return Reason.serverShuttingDown
    default: return Reason.unspecifiedError
  }
}
