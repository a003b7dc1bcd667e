/**
 * Every error Spool names, in one table: the stable string code, the numeric code used on
 * the wire (Kafka's number where Kafka has the same condition, 1000+ for Spool's own), whether
 * a client may retry, and the default message. Each entry has one typed class below; the
 * wire codec maps numbers to classes through `errorFromCode`, in one place.
 *
 * The README's "Errors" section lists the same rows; tests/unit/errors.test.ts keeps the two
 * in step.
 */

export const ERROR_TABLE = {
  UNKNOWN_SERVER_ERROR: { code: -1, retriable: false, message: 'The server hit an unexpected error' },
  OFFSET_OUT_OF_RANGE: { code: 1, retriable: false, message: 'The requested offset is outside the range of offsets held by the partition' },
  CORRUPT_MESSAGE: { code: 2, retriable: false, message: 'A record batch failed validation (length, magic or CRC32C)' },
  UNKNOWN_TOPIC_OR_PARTITION: { code: 3, retriable: true, message: 'The topic or partition does not exist' },
  LEADER_NOT_AVAILABLE: { code: 5, retriable: true, message: 'The partition has no leader right now (an election is under way or the partition is offline)' },
  NOT_LEADER_OR_FOLLOWER: { code: 6, retriable: true, message: 'This broker is not the leader or a follower of the partition' },
  REQUEST_TIMED_OUT: { code: 7, retriable: true, message: 'The request timed out' },
  BROKER_NOT_AVAILABLE: { code: 8, retriable: false, message: 'The broker is not registered in the cluster' },
  REPLICA_NOT_AVAILABLE: { code: 9, retriable: true, message: 'The replica is not available on this broker' },
  MESSAGE_TOO_LARGE: { code: 10, retriable: false, message: 'A record batch is larger than the configured maximum' },
  STALE_CONTROLLER_EPOCH: { code: 11, retriable: false, message: 'The controller epoch is stale: another broker became the controller' },
  COORDINATOR_LOAD_IN_PROGRESS: { code: 14, retriable: true, message: 'The coordinator is loading the group\'s state' },
  COORDINATOR_NOT_AVAILABLE: { code: 15, retriable: true, message: 'The group coordinator is not available (its offsets partition has no leader)' },
  NOT_COORDINATOR: { code: 16, retriable: true, message: 'This broker is not the coordinator for the group' },
  INVALID_TOPIC: { code: 17, retriable: false, message: 'The topic name is invalid' },
  NOT_ENOUGH_REPLICAS: { code: 19, retriable: true, message: 'Fewer in-sync replicas than required' },
  NOT_ENOUGH_REPLICAS_AFTER_APPEND: { code: 20, retriable: true, message: 'The batch was written, but fewer in-sync replicas than required have it' },
  INVALID_REQUIRED_ACKS: { code: 21, retriable: false, message: 'acks must be 0, 1 or -1 (all)' },
  ILLEGAL_GENERATION: { code: 22, retriable: false, message: 'The member generation is not current' },
  INCONSISTENT_GROUP_PROTOCOL: { code: 23, retriable: false, message: 'The member\'s group protocol does not match the group\'s (protocol type, assignors, or a native and a Kafka-protocol member in one group)' },
  INVALID_GROUP_ID: { code: 24, retriable: false, message: 'The group id is empty or invalid' },
  UNKNOWN_MEMBER_ID: { code: 25, retriable: false, message: 'The member id is not known to the group' },
  INVALID_SESSION_TIMEOUT: { code: 26, retriable: false, message: 'The session timeout is outside the allowed range' },
  REBALANCE_IN_PROGRESS: { code: 27, retriable: true, message: 'The group is rebalancing' },
  TOPIC_AUTHORIZATION_FAILED: { code: 29, retriable: false, message: 'Not authorized to access the topic' },
  GROUP_AUTHORIZATION_FAILED: { code: 30, retriable: false, message: 'Not authorized to access the group' },
  CLUSTER_AUTHORIZATION_FAILED: { code: 31, retriable: false, message: 'Not authorized for this cluster operation' },
  INVALID_TIMESTAMP: { code: 32, retriable: false, message: 'The timestamp is invalid' },
  UNSUPPORTED_SASL_MECHANISM: { code: 33, retriable: false, message: 'The SASL mechanism is not enabled on this listener' },
  ILLEGAL_SASL_STATE: { code: 34, retriable: false, message: 'The SASL message is not valid in the current state of the exchange' },
  UNSUPPORTED_VERSION: { code: 35, retriable: false, message: 'The api version is not supported' },
  TOPIC_ALREADY_EXISTS: { code: 36, retriable: false, message: 'The topic already exists' },
  INVALID_PARTITIONS: { code: 37, retriable: false, message: 'The partition count is invalid' },
  INVALID_REPLICATION_FACTOR: { code: 38, retriable: false, message: 'The replication factor is invalid or larger than the number of live brokers' },
  INVALID_CONFIG: { code: 40, retriable: false, message: 'A configuration value is invalid' },
  NOT_CONTROLLER: { code: 41, retriable: true, message: 'This broker is not the controller' },
  INVALID_REQUEST: { code: 42, retriable: false, message: 'The request is malformed' },
  OUT_OF_ORDER_SEQUENCE_NUMBER: { code: 45, retriable: false, message: 'The producer sequence number is not the next one expected' },
  INVALID_PRODUCER_EPOCH: { code: 47, retriable: false, message: 'The producer epoch is stale' },
  TRANSACTIONAL_ID_AUTHORIZATION_FAILED: { code: 53, retriable: false, message: 'Not authorized to use the transactional id' },
  KAFKA_STORAGE_ERROR: { code: 56, retriable: true, message: 'The broker could not read or write the log' },
  SASL_AUTHENTICATION_FAILED: { code: 58, retriable: false, message: 'Authentication failed: invalid credentials or a malformed exchange' },
  UNKNOWN_PRODUCER_ID: { code: 59, retriable: false, message: 'The producer id is not known' },
  REASSIGNMENT_IN_PROGRESS: { code: 60, retriable: false, message: 'A partition reassignment is in progress' },
  NON_EMPTY_GROUP: { code: 68, retriable: false, message: 'The group has active members' },
  GROUP_ID_NOT_FOUND: { code: 69, retriable: false, message: 'The group does not exist' },
  FENCED_LEADER_EPOCH: { code: 74, retriable: true, message: 'The leader epoch in the request is older than the current one' },
  UNKNOWN_LEADER_EPOCH: { code: 75, retriable: true, message: 'The leader epoch in the request is newer than the one this broker knows' },
  UNSUPPORTED_COMPRESSION_TYPE: { code: 76, retriable: false, message: 'The compression type is not supported' },
  GROUP_MAX_SIZE_REACHED: { code: 81, retriable: false, message: 'The group has reached its maximum number of members' },
  MEMBER_ID_REQUIRED: { code: 79, retriable: false, message: 'The member must rejoin with the member id it was given' },
  FENCED_INSTANCE_ID: { code: 82, retriable: false, message: 'Another member with the same group instance id took over' },
  INVALID_RECORD: { code: 87, retriable: false, message: 'A record batch is not valid for this topic' },
  INVALID_UPDATE_VERSION: { code: 95, retriable: false, message: 'The partition epoch in the request is stale' },
  INELIGIBLE_REPLICA: { code: 107, retriable: false, message: 'A replica proposed for the ISR is not eligible (not a live, registered replica)' },
  FENCED_MEMBER_EPOCH: { code: 110, retriable: false, message: 'The member epoch is fenced: the member was evicted' },
  STALE_MEMBER_EPOCH: { code: 113, retriable: true, message: 'The member epoch is stale' },
  FRAME_TOO_LARGE: { code: 1000, retriable: false, message: 'A frame is larger than maxFrameBytes' },
  MALFORMED_FRAME: { code: 1001, retriable: false, message: 'A frame could not be decoded' },
  TOO_MANY_IN_FLIGHT: { code: 1002, retriable: true, message: 'Too many requests in flight on this connection' },
  TOO_MANY_CONNECTIONS: { code: 1003, retriable: true, message: 'The broker has reached maxConnections' },
  SLOW_READER: { code: 1004, retriable: true, message: 'The connection did not read its responses; queued bytes exceeded the limit' },
  IDLE_TIMEOUT: { code: 1005, retriable: true, message: 'The connection was idle longer than idleTimeoutMs' },
  UNSUPPORTED_API: { code: 1006, retriable: false, message: 'The api key is not known to this broker' },
  CONNECTION_ERROR: { code: 1007, retriable: true, message: 'The connection to the broker failed or closed' },
  BROKER_UNREACHABLE: { code: 1008, retriable: true, message: 'No broker could be reached' },
  ORIGIN_NOT_ALLOWED: { code: 1009, retriable: false, message: 'The WebSocket Origin is not allowed' },
  CLIENT_CLOSED: { code: 1010, retriable: false, message: 'The client, producer or consumer is closed' },
  LOG_CLOSED: { code: 1011, retriable: false, message: 'The log is closed' },
  INVALID_ARGUMENT: { code: 1012, retriable: false, message: 'An argument is invalid' },
  LISTEN_FAILED: { code: 1013, retriable: false, message: 'A listener could not bind its address and port' },
  MQTT_PACKET_TOO_LARGE: { code: 1100, retriable: false, message: 'An MQTT packet is larger than mqttMaxPacketBytes' },
  MQTT_MALFORMED_PACKET: { code: 1101, retriable: false, message: 'An MQTT packet could not be decoded' },
  MQTT_PROTOCOL_ERROR: { code: 1102, retriable: false, message: 'An MQTT client broke a rule of the protocol' },
  HTTP_NOT_FOUND: { code: 1200, retriable: false, message: 'No HTTP endpoint at this path' },
  HTTP_METHOD_NOT_ALLOWED: { code: 1201, retriable: false, message: 'The HTTP method is not allowed on this endpoint' },
  HTTP_BODY_TOO_LARGE: { code: 1202, retriable: false, message: 'An HTTP request body is larger than httpMaxBodyBytes' },
  HTTP_UNSUPPORTED_MEDIA_TYPE: { code: 1203, retriable: false, message: 'An HTTP request body is not application/json' },
  TOKEN_EXPIRED: { code: 1300, retriable: false, message: 'The token has expired' },
  TOKEN_INVALID: { code: 1301, retriable: false, message: 'The token is malformed' },
  TOKEN_SIGNATURE_INVALID: { code: 1302, retriable: false, message: 'The token signature does not verify' },
  TOKEN_KEY_UNKNOWN: { code: 1303, retriable: false, message: 'The token was signed with a key this broker does not know' },
  SECURITY_FILE_INVALID: { code: 1310, retriable: false, message: 'A security file in the data directory is not valid' },
  TLS_CONFIG_INVALID: { code: 1311, retriable: false, message: 'The TLS certificate, key or CA files cannot be used' },
  USER_NOT_FOUND: { code: 1320, retriable: false, message: 'No such user' },
  USER_ALREADY_EXISTS: { code: 1321, retriable: false, message: 'The user already exists' },
  AUTHENTICATION_REQUIRED: { code: 1330, retriable: false, message: 'The broker requires authentication before this request' },
  METADATA_UNAVAILABLE: { code: 1400, retriable: true, message: 'Cluster metadata is unavailable: etcd did not answer (quorum lost or unreachable)' },
  DUPLICATE_BROKER_ID: { code: 1401, retriable: false, message: 'Another live broker is registered with the same node id' },
  METADATA_CONFLICT: { code: 1402, retriable: true, message: 'A metadata change lost a race with a concurrent change; retry' },
  CLUSTER_DOCUMENT_INVALID: { code: 1403, retriable: false, message: 'A document in the cluster\'s etcd (a user, an ACL or a quota) is not valid' },
} as const satisfies Record<string, { code: number, retriable: boolean, message: string }>

export type ErrorName = keyof typeof ERROR_TABLE

/**
 * Base class of every Spool error. `code` is the stable string name, `errorCode` the wire
 * number, `retriable` whether the same request may succeed if sent again.
 */
export class SpoolError extends Error {
  static readonly errorName: ErrorName = 'UNKNOWN_SERVER_ERROR'
  readonly code: ErrorName
  readonly errorCode: number
  readonly retriable: boolean

  constructor (message?: string, options?: ErrorOptions) {
    const errorName = (new.target as typeof SpoolError).errorName
    const entry = ERROR_TABLE[errorName]
    super(message ?? entry.message, options)
    this.name = new.target.name
    this.code = errorName
    this.errorCode = entry.code
    this.retriable = entry.retriable
  }
}

export class UnknownServerError extends SpoolError { static override readonly errorName = 'UNKNOWN_SERVER_ERROR' }
export class OffsetOutOfRangeError extends SpoolError { static override readonly errorName = 'OFFSET_OUT_OF_RANGE' }
export class CorruptRecordError extends SpoolError { static override readonly errorName = 'CORRUPT_MESSAGE' }
export class UnknownTopicOrPartitionError extends SpoolError { static override readonly errorName = 'UNKNOWN_TOPIC_OR_PARTITION' }
export class LeaderNotAvailableError extends SpoolError { static override readonly errorName = 'LEADER_NOT_AVAILABLE' }
export class NotLeaderOrFollowerError extends SpoolError { static override readonly errorName = 'NOT_LEADER_OR_FOLLOWER' }
export class RequestTimedOutError extends SpoolError { static override readonly errorName = 'REQUEST_TIMED_OUT' }
export class BrokerNotAvailableError extends SpoolError { static override readonly errorName = 'BROKER_NOT_AVAILABLE' }
export class ReplicaNotAvailableError extends SpoolError { static override readonly errorName = 'REPLICA_NOT_AVAILABLE' }
export class MessageTooLargeError extends SpoolError { static override readonly errorName = 'MESSAGE_TOO_LARGE' }
export class StaleControllerEpochError extends SpoolError { static override readonly errorName = 'STALE_CONTROLLER_EPOCH' }
export class CoordinatorLoadInProgressError extends SpoolError { static override readonly errorName = 'COORDINATOR_LOAD_IN_PROGRESS' }
export class CoordinatorNotAvailableError extends SpoolError { static override readonly errorName = 'COORDINATOR_NOT_AVAILABLE' }
export class NotCoordinatorError extends SpoolError { static override readonly errorName = 'NOT_COORDINATOR' }
export class InvalidTopicError extends SpoolError { static override readonly errorName = 'INVALID_TOPIC' }
export class NotEnoughReplicasError extends SpoolError { static override readonly errorName = 'NOT_ENOUGH_REPLICAS' }
export class NotEnoughReplicasAfterAppendError extends SpoolError { static override readonly errorName = 'NOT_ENOUGH_REPLICAS_AFTER_APPEND' }
export class InvalidRequiredAcksError extends SpoolError { static override readonly errorName = 'INVALID_REQUIRED_ACKS' }
export class IllegalGenerationError extends SpoolError { static override readonly errorName = 'ILLEGAL_GENERATION' }
export class InconsistentGroupProtocolError extends SpoolError { static override readonly errorName = 'INCONSISTENT_GROUP_PROTOCOL' }
export class InvalidGroupIdError extends SpoolError { static override readonly errorName = 'INVALID_GROUP_ID' }
export class MemberIdRequiredError extends SpoolError { static override readonly errorName = 'MEMBER_ID_REQUIRED' }
export class FencedInstanceIdError extends SpoolError { static override readonly errorName = 'FENCED_INSTANCE_ID' }
export class UnknownMemberIdError extends SpoolError { static override readonly errorName = 'UNKNOWN_MEMBER_ID' }
export class InvalidSessionTimeoutError extends SpoolError { static override readonly errorName = 'INVALID_SESSION_TIMEOUT' }
export class RebalanceInProgressError extends SpoolError { static override readonly errorName = 'REBALANCE_IN_PROGRESS' }
export class TopicAuthorizationFailedError extends SpoolError { static override readonly errorName = 'TOPIC_AUTHORIZATION_FAILED' }
export class GroupAuthorizationFailedError extends SpoolError { static override readonly errorName = 'GROUP_AUTHORIZATION_FAILED' }
export class ClusterAuthorizationFailedError extends SpoolError { static override readonly errorName = 'CLUSTER_AUTHORIZATION_FAILED' }
export class InvalidTimestampError extends SpoolError { static override readonly errorName = 'INVALID_TIMESTAMP' }
export class UnsupportedSaslMechanismError extends SpoolError { static override readonly errorName = 'UNSUPPORTED_SASL_MECHANISM' }
export class IllegalSaslStateError extends SpoolError { static override readonly errorName = 'ILLEGAL_SASL_STATE' }
export class UnsupportedVersionError extends SpoolError { static override readonly errorName = 'UNSUPPORTED_VERSION' }
export class TopicAlreadyExistsError extends SpoolError { static override readonly errorName = 'TOPIC_ALREADY_EXISTS' }
export class InvalidPartitionsError extends SpoolError { static override readonly errorName = 'INVALID_PARTITIONS' }
export class InvalidReplicationFactorError extends SpoolError { static override readonly errorName = 'INVALID_REPLICATION_FACTOR' }
export class InvalidConfigError extends SpoolError { static override readonly errorName = 'INVALID_CONFIG' }
export class NotControllerError extends SpoolError { static override readonly errorName = 'NOT_CONTROLLER' }
export class InvalidRequestError extends SpoolError { static override readonly errorName = 'INVALID_REQUEST' }
export class OutOfOrderSequenceError extends SpoolError { static override readonly errorName = 'OUT_OF_ORDER_SEQUENCE_NUMBER' }
export class InvalidProducerEpochError extends SpoolError { static override readonly errorName = 'INVALID_PRODUCER_EPOCH' }
export class TransactionalIdAuthorizationFailedError extends SpoolError { static override readonly errorName = 'TRANSACTIONAL_ID_AUTHORIZATION_FAILED' }
export class StorageError extends SpoolError { static override readonly errorName = 'KAFKA_STORAGE_ERROR' }
export class SaslAuthenticationFailedError extends SpoolError { static override readonly errorName = 'SASL_AUTHENTICATION_FAILED' }
export class UnknownProducerIdError extends SpoolError { static override readonly errorName = 'UNKNOWN_PRODUCER_ID' }
export class ReassignmentInProgressError extends SpoolError { static override readonly errorName = 'REASSIGNMENT_IN_PROGRESS' }
export class NonEmptyGroupError extends SpoolError { static override readonly errorName = 'NON_EMPTY_GROUP' }
export class GroupIdNotFoundError extends SpoolError { static override readonly errorName = 'GROUP_ID_NOT_FOUND' }
export class FencedLeaderEpochError extends SpoolError { static override readonly errorName = 'FENCED_LEADER_EPOCH' }
export class UnknownLeaderEpochError extends SpoolError { static override readonly errorName = 'UNKNOWN_LEADER_EPOCH' }
export class UnsupportedCompressionTypeError extends SpoolError { static override readonly errorName = 'UNSUPPORTED_COMPRESSION_TYPE' }
export class GroupMaxSizeReachedError extends SpoolError { static override readonly errorName = 'GROUP_MAX_SIZE_REACHED' }
export class InvalidRecordError extends SpoolError { static override readonly errorName = 'INVALID_RECORD' }
export class InvalidUpdateVersionError extends SpoolError { static override readonly errorName = 'INVALID_UPDATE_VERSION' }
export class IneligibleReplicaError extends SpoolError { static override readonly errorName = 'INELIGIBLE_REPLICA' }
export class FencedMemberEpochError extends SpoolError { static override readonly errorName = 'FENCED_MEMBER_EPOCH' }
export class StaleMemberEpochError extends SpoolError { static override readonly errorName = 'STALE_MEMBER_EPOCH' }
export class FrameTooLargeError extends SpoolError { static override readonly errorName = 'FRAME_TOO_LARGE' }
export class MalformedFrameError extends SpoolError { static override readonly errorName = 'MALFORMED_FRAME' }
export class TooManyInFlightError extends SpoolError { static override readonly errorName = 'TOO_MANY_IN_FLIGHT' }
export class TooManyConnectionsError extends SpoolError { static override readonly errorName = 'TOO_MANY_CONNECTIONS' }
export class SlowReaderError extends SpoolError { static override readonly errorName = 'SLOW_READER' }
export class IdleTimeoutError extends SpoolError { static override readonly errorName = 'IDLE_TIMEOUT' }
export class UnsupportedApiError extends SpoolError { static override readonly errorName = 'UNSUPPORTED_API' }
export class ConnectionError extends SpoolError { static override readonly errorName = 'CONNECTION_ERROR' }
export class BrokerUnreachableError extends SpoolError { static override readonly errorName = 'BROKER_UNREACHABLE' }
export class OriginNotAllowedError extends SpoolError { static override readonly errorName = 'ORIGIN_NOT_ALLOWED' }
export class ClientClosedError extends SpoolError { static override readonly errorName = 'CLIENT_CLOSED' }
export class LogClosedError extends SpoolError { static override readonly errorName = 'LOG_CLOSED' }
export class InvalidArgumentError extends SpoolError { static override readonly errorName = 'INVALID_ARGUMENT' }
export class ListenFailedError extends SpoolError { static override readonly errorName = 'LISTEN_FAILED' }
export class MqttPacketTooLargeError extends SpoolError { static override readonly errorName = 'MQTT_PACKET_TOO_LARGE' }
export class MqttMalformedPacketError extends SpoolError { static override readonly errorName = 'MQTT_MALFORMED_PACKET' }
export class MqttProtocolError extends SpoolError { static override readonly errorName = 'MQTT_PROTOCOL_ERROR' }
export class HttpNotFoundError extends SpoolError { static override readonly errorName = 'HTTP_NOT_FOUND' }
export class HttpMethodNotAllowedError extends SpoolError { static override readonly errorName = 'HTTP_METHOD_NOT_ALLOWED' }
export class HttpBodyTooLargeError extends SpoolError { static override readonly errorName = 'HTTP_BODY_TOO_LARGE' }
export class HttpUnsupportedMediaTypeError extends SpoolError { static override readonly errorName = 'HTTP_UNSUPPORTED_MEDIA_TYPE' }
export class MetadataUnavailableError extends SpoolError { static override readonly errorName = 'METADATA_UNAVAILABLE' }
export class DuplicateBrokerIdError extends SpoolError { static override readonly errorName = 'DUPLICATE_BROKER_ID' }
export class MetadataConflictError extends SpoolError { static override readonly errorName = 'METADATA_CONFLICT' }
export class ClusterDocumentInvalidError extends SpoolError { static override readonly errorName = 'CLUSTER_DOCUMENT_INVALID' }

export class TokenExpiredError extends SpoolError { static override readonly errorName = 'TOKEN_EXPIRED' }
export class TokenInvalidError extends SpoolError { static override readonly errorName = 'TOKEN_INVALID' }
export class TokenSignatureInvalidError extends SpoolError { static override readonly errorName = 'TOKEN_SIGNATURE_INVALID' }
export class TokenKeyUnknownError extends SpoolError { static override readonly errorName = 'TOKEN_KEY_UNKNOWN' }
export class SecurityFileInvalidError extends SpoolError { static override readonly errorName = 'SECURITY_FILE_INVALID' }
export class TlsConfigInvalidError extends SpoolError { static override readonly errorName = 'TLS_CONFIG_INVALID' }
export class UserNotFoundError extends SpoolError { static override readonly errorName = 'USER_NOT_FOUND' }
export class UserAlreadyExistsError extends SpoolError { static override readonly errorName = 'USER_ALREADY_EXISTS' }
export class AuthenticationRequiredError extends SpoolError { static override readonly errorName = 'AUTHENTICATION_REQUIRED' }

/** Every concrete class, one per table row (checked by a unit test). */
export const ERROR_CLASSES: ReadonlyArray<typeof SpoolError> = [
  UnknownServerError, OffsetOutOfRangeError, CorruptRecordError, UnknownTopicOrPartitionError,
  RequestTimedOutError, MessageTooLargeError, NotCoordinatorError, InvalidTopicError,
  InvalidRequiredAcksError, IllegalGenerationError, UnknownMemberIdError, InvalidSessionTimeoutError,
  RebalanceInProgressError, InvalidTimestampError, UnsupportedVersionError, TopicAlreadyExistsError,
  InvalidPartitionsError, InvalidConfigError, InvalidRequestError, OutOfOrderSequenceError,
  InvalidProducerEpochError, StorageError, UnknownProducerIdError, NonEmptyGroupError,
  GroupIdNotFoundError, UnsupportedCompressionTypeError, GroupMaxSizeReachedError, InvalidRecordError,
  FencedMemberEpochError, StaleMemberEpochError, FrameTooLargeError, MalformedFrameError,
  TooManyInFlightError, TooManyConnectionsError, SlowReaderError, IdleTimeoutError,
  UnsupportedApiError, ConnectionError, BrokerUnreachableError, OriginNotAllowedError,
  ClientClosedError, LogClosedError, InvalidArgumentError, ListenFailedError,
  MqttPacketTooLargeError, MqttMalformedPacketError, MqttProtocolError,
  HttpNotFoundError, HttpMethodNotAllowedError, HttpBodyTooLargeError, HttpUnsupportedMediaTypeError,
  TopicAuthorizationFailedError, GroupAuthorizationFailedError, ClusterAuthorizationFailedError,
  UnsupportedSaslMechanismError, IllegalSaslStateError, TransactionalIdAuthorizationFailedError,
  SaslAuthenticationFailedError, TokenExpiredError, TokenInvalidError, TokenSignatureInvalidError,
  TokenKeyUnknownError, SecurityFileInvalidError, TlsConfigInvalidError, UserNotFoundError,
  UserAlreadyExistsError, InconsistentGroupProtocolError, InvalidGroupIdError, MemberIdRequiredError, FencedInstanceIdError,
  LeaderNotAvailableError, NotLeaderOrFollowerError, BrokerNotAvailableError, ReplicaNotAvailableError,
  StaleControllerEpochError, NotEnoughReplicasError, NotEnoughReplicasAfterAppendError,
  InvalidReplicationFactorError, NotControllerError, ReassignmentInProgressError, FencedLeaderEpochError,
  UnknownLeaderEpochError, InvalidUpdateVersionError, IneligibleReplicaError,
  MetadataUnavailableError, DuplicateBrokerIdError, MetadataConflictError, ClusterDocumentInvalidError,
  AuthenticationRequiredError,
  CoordinatorLoadInProgressError, CoordinatorNotAvailableError,
]

const BY_NUMBER = new Map<number, typeof SpoolError>()
for (const cls of ERROR_CLASSES) BY_NUMBER.set(ERROR_TABLE[cls.errorName].code, cls)

/** The typed error for a wire code (unknown codes become UnknownServerError). */
export function errorFromCode (errorCode: number, message?: string): SpoolError {
  const cls = BY_NUMBER.get(errorCode) ?? UnknownServerError
  return new cls(message ?? undefined)
}

/** The wire code for any thrown value (non-Spool errors are UNKNOWN_SERVER_ERROR). */
export function errorCodeOf (err: unknown): number {
  return err instanceof SpoolError ? err.errorCode : ERROR_TABLE.UNKNOWN_SERVER_ERROR.code
}
