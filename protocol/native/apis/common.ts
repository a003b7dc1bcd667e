/** Field schemas shared by several apis. */

import { int, nullable, optional, str } from '../schema.js'

/** Topic names are validated by the broker; the codec only bounds their length. */
export const topicName = str(249)
export const partitionId = int(0, 0x7fffffff)
/** Offsets and timestamps: int64 carried as msgpack integers, exact up to 2^53. */
export const offset = int()
export const errorCode = int(-1, 0xffff)
export const errorMessage = nullable(str(4096))

/** Every response may carry a request-level error at the top of its body. */
export const topLevelError = {
  errorCode: optional(errorCode, 0),
  errorMessage,
}
