/**
 * Quotas, set and read at run time (Kafka's DescribeClientQuotas / AlterClientQuotas, keys
 * 48 and 49, in the native shape). An entity is a client id, a principal (`User:alice`), a
 * consumer group, or the default (name null: each client id without a quota of its own).
 * Limits, in bytes (or requests) per second, whole numbers >= 1: produceBytesPerSec,
 * fetchBytesPerSec, requestsPerSec. Every matching quota applies; the broker stores them in
 * its data dir and applies changes to open connections from their next request.
 *
 * DescribeClientQuotas (key 48):
 *   request  v0 := {}
 *   response v0 := { errorCode, errorMessage, quotas: [{ entity: { type, name|null },
 *                    produceBytesPerSec|null, fetchBytesPerSec|null, requestsPerSec|null }] }
 *
 * AlterClientQuotas (key 49): per entity, ops that set (value) or remove (value null) a
 * limit; an entity left without limits is removed. validateOnly checks without changing.
 *   request  v0 := { entries: [{ entity: { type, name|null }, ops: [{ key, value|null }] }], validateOnly }
 *   response v0 := { errorCode, errorMessage, entries: [{ entity: { type, name|null }, errorCode, errorMessage }] }
 *
 * Errors: INVALID_REQUEST (unknown entity type or key, a limit that is not a whole number
 * >= 1), CLUSTER_AUTHORIZATION_FAILED.
 */

import { array, bool, int, nullable, object, optional, str } from '../schema.js'
import type { Infer } from '../schema.js'
import { errorCode, errorMessage, topLevelError } from './common.js'

export const QuotaEntitySchema = object({ type: str(32), name: nullable(str(256)) })
export type QuotaEntityWire = Infer<typeof QuotaEntitySchema>

const limit = nullable(int(1))

export const DescribeClientQuotasRequest = object({})
export const DescribeClientQuotasResponse = object({
  ...topLevelError,
  quotas: array(object({
    entity: QuotaEntitySchema,
    produceBytesPerSec: limit,
    fetchBytesPerSec: limit,
    requestsPerSec: limit,
  }), 1_000_000),
})
export type DescribeClientQuotasResponse = Infer<typeof DescribeClientQuotasResponse>
export type ClientQuota = DescribeClientQuotasResponse['quotas'][number]

export const AlterClientQuotasRequest = object({
  entries: array(object({
    entity: QuotaEntitySchema,
    ops: array(object({ key: str(64), value: nullable(int(1)) }), 16),
  }), 10_000),
  validateOnly: optional(bool, false),
})
export type AlterClientQuotasRequest = Infer<typeof AlterClientQuotasRequest>

export const AlterClientQuotasResponse = object({
  ...topLevelError,
  entries: array(object({ entity: QuotaEntitySchema, errorCode, errorMessage })),
})
export type AlterClientQuotasResponse = Infer<typeof AlterClientQuotasResponse>
