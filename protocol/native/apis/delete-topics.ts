/**
 * DeleteTopics (key 20). Deletes the topics' logs from disk.
 *
 *   request  v0 := { topics: [topic] }
 *   response v0 := { errorCode, errorMessage, topics: [{ topic, errorCode, errorMessage }] }
 */

import { array, object } from '../schema.js'
import type { Infer } from '../schema.js'
import { errorCode, errorMessage, topLevelError, topicName } from './common.js'

export const DeleteTopicsRequest = object({ topics: array(topicName, 10_000) })
export type DeleteTopicsRequest = Infer<typeof DeleteTopicsRequest>

export const DeleteTopicsResponse = object({
  ...topLevelError,
  topics: array(object({ topic: topicName, errorCode, errorMessage })),
})
export type DeleteTopicsResponse = Infer<typeof DeleteTopicsResponse>
