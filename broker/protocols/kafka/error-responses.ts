/**
 * The answer to a Kafka request that failed as a whole (a handler threw a typed error, the
 * connection has too many requests in flight, a bug was caught by the failure rule). Kafka
 * has no one error shape: each api says where its error codes go, as Kafka's own
 * `getErrorResponse` does per request type —
 *   - a top-level `errorCode` when the api has one at that version (the group apis,
 *     FindCoordinator < 4, InitProducerId, ApiVersions, Fetch ≥ 7, ...);
 *   - otherwise every item the request named gets the code (Produce's partitions, Metadata's
 *     topics, CreateTopics' topics, ...).
 * An api that has neither is not answered (null): the connection is closed instead, since
 * Kafka clients match answers to requests in order and a missing answer would stall them.
 */

import { inRange } from '../../../protocol/kafka/schema.js'
import type { KafkaRequest } from '../../../protocol/kafka/frame.js'
import { KAFKA_APIS } from '../../../protocol/kafka/apis/index.js'

type Body = Record<string, unknown>

function topLevel (request: KafkaRequest, errorCode: number, errorMessage: string): Body | null {
  const fields = KAFKA_APIS[request.apiName].response.fields as Record<string, { versions: { min: number, max: number } } | undefined>
  const spec = fields.errorCode
  if (spec === undefined || !inRange(spec.versions, request.apiVersion)) return null
  return { errorCode, errorMessage }
}

/** The error answer of a request, or null when its api has no place for one. */
export function errorResponse (request: KafkaRequest, errorCode: number, errorMessage: string): Body | null {
  const e = { errorCode, errorMessage }
  switch (request.apiName) {
    case 'Produce':
      return { responses: request.body.topicData.map(t => ({ name: t.name, partitionResponses: t.partitionData.map(p => ({ index: p.index, errorCode, baseOffset: -1 })) })) }
    case 'Fetch':
      return { errorCode, responses: request.body.topics.map(t => ({ topic: t.topic, partitions: t.partitions.map(p => ({ partitionIndex: p.partition, errorCode, highWatermark: -1, records: null })) })) }
    case 'ListOffsets':
      return { topics: request.body.topics.map(t => ({ name: t.name, partitions: t.partitions.map(p => ({ partitionIndex: p.partitionIndex, errorCode })) })) }
    case 'OffsetForLeaderEpoch':
      return { topics: request.body.topics.map(t => ({ topic: t.topic, partitions: t.partitions.map(p => ({ partition: p.partition, errorCode })) })) }
    case 'Metadata':
      return { topics: (request.body.topics ?? []).map(t => ({ name: t.name, errorCode })) }
    case 'OffsetCommit':
      return { topics: request.body.topics.map(t => ({ name: t.name, partitions: t.partitions.map(p => ({ partitionIndex: p.partitionIndex, errorCode })) })) }
    case 'OffsetFetch':
      if (request.apiVersion >= 8) return { groups: request.body.groups.map(g => ({ groupId: g.groupId, errorCode })) }
      if (request.apiVersion >= 2) return { errorCode }
      return { topics: (request.body.topics ?? []).map(t => ({ name: t.name, partitions: t.partitionIndexes.map(p => ({ partitionIndex: p, committedOffset: -1, metadata: null, errorCode })) })) }
    case 'FindCoordinator':
      if (request.apiVersion >= 4) return { coordinators: request.body.coordinatorKeys.map(key => ({ key, nodeId: -1, host: '', port: -1, ...e })) }
      return { ...e, nodeId: -1, host: '', port: -1 }
    case 'CreateTopics':
      return { topics: request.body.topics.map(t => ({ name: t.name, ...e })) }
    case 'DeleteTopics':
      return request.apiVersion >= 6
        ? { responses: request.body.topics.map(t => ({ name: t.name, topicId: t.topicId, ...e })) }
        : { responses: request.body.topicNames.map(name => ({ name, ...e })) }
    case 'CreatePartitions':
      return { results: request.body.topics.map(t => ({ name: t.name, ...e })) }
    case 'DeleteRecords':
      return { topics: request.body.topics.map(t => ({ name: t.name, partitions: t.partitions.map(p => ({ partitionIndex: p.partitionIndex, lowWatermark: -1, errorCode })) })) }
    case 'DescribeConfigs':
      return { results: request.body.resources.map(r => ({ ...e, resourceType: r.resourceType, resourceName: r.resourceName, configs: [] })) }
    case 'AlterConfigs':
    case 'IncrementalAlterConfigs':
      return { responses: request.body.resources.map(r => ({ ...e, resourceType: r.resourceType, resourceName: r.resourceName })) }
    case 'DescribeGroups':
      return { groups: request.body.groups.map(groupId => ({ errorCode, groupId })) }
    case 'DeleteGroups':
      return { results: request.body.groupsNames.map(groupId => ({ groupId, errorCode })) }
    default:
      return topLevel(request, errorCode, errorMessage)
  }
}
