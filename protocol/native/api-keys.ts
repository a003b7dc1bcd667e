/**
 * The native apis: key, name, supported versions and the request/response schemas. The
 * broker answers ApiVersions from this table and the dispatcher refuses keys and versions
 * outside it; the client types its calls from it. Keys follow Kafka's numbering where the
 * api means the same thing; Spool's own apis start at 1000.
 */

import type { Infer, Schema } from './schema.js'
import { ApiVersionsRequest, ApiVersionsResponse } from './apis/api-versions.js'
import {
  AlterPartitionReassignmentsRequest, AlterPartitionReassignmentsResponse, DecommissionBrokerRequest, DecommissionBrokerResponse,
} from './apis/cluster-admin.js'
import { CreateTopicsRequest, CreateTopicsResponse } from './apis/create-topics.js'
import { DeleteTopicsRequest, DeleteTopicsResponse } from './apis/delete-topics.js'
import { DescribeTopicsRequest, DescribeTopicsResponse } from './apis/describe-topics.js'
import { FetchRequest, FetchResponse } from './apis/fetch.js'
import { FindCoordinatorRequest, FindCoordinatorResponse } from './apis/find-coordinator.js'
import { ListOffsetsRequest, ListOffsetsResponse } from './apis/list-offsets.js'
import { MetadataRequest, MetadataResponse } from './apis/metadata.js'
import { ProduceRequest, ProduceResponse } from './apis/produce.js'
import { GroupHeartbeatRequest, GroupHeartbeatResponse } from './apis/group-heartbeat.js'
import { OffsetCommitRequest, OffsetCommitResponse, OffsetFetchRequest, OffsetFetchResponse } from './apis/offsets.js'
import {
  DeleteGroupsRequest, DeleteGroupsResponse, DescribeGroupsRequest, DescribeGroupsResponse, ListGroupsRequest, ListGroupsResponse,
} from './apis/groups.js'
import { InitProducerIdRequest, InitProducerIdResponse } from './apis/init-producer-id.js'
import { SaslAuthenticateRequest, SaslAuthenticateResponse, SaslHandshakeRequest, SaslHandshakeResponse } from './apis/sasl.js'
import { DescribeConnectionsRequest, DescribeConnectionsResponse } from './apis/describe-connections.js'
import {
  AlterClientQuotasRequest, AlterClientQuotasResponse, DescribeClientQuotasRequest, DescribeClientQuotasResponse,
} from './apis/client-quotas.js'
import {
  OffsetForLeaderEpochRequest, OffsetForLeaderEpochResponse, ReplicaFetchRequest, ReplicaFetchResponse,
} from './apis/replication.js'

export const ApiKey = {
  Produce: 0,
  Fetch: 1,
  ListOffsets: 2,
  Metadata: 3,
  OffsetCommit: 8,
  OffsetFetch: 9,
  FindCoordinator: 10,
  DescribeGroups: 15,
  ListGroups: 16,
  SaslHandshake: 17,
  ApiVersions: 18,
  CreateTopics: 19,
  DeleteTopics: 20,
  InitProducerId: 22,
  OffsetForLeaderEpoch: 23,
  SaslAuthenticate: 36,
  DeleteGroups: 42,
  AlterPartitionReassignments: 45,
  DescribeClientQuotas: 48,
  AlterClientQuotas: 49,
  GroupHeartbeat: 68,
  DescribeTopics: 1000,
  ReplicaFetch: 1001,
  DecommissionBroker: 1002,
  DescribeConnections: 1003,
} as const
export type ApiName = keyof typeof ApiKey

export interface ApiSpec<Req, Res> {
  key: number
  name: ApiName
  minVersion: number
  maxVersion: number
  request: Schema<Req>
  response: Schema<Res>
}

function spec<Req, Res> (name: ApiName, request: Schema<Req>, response: Schema<Res>, minVersion = 0, maxVersion = 0): ApiSpec<Req, Res> {
  return { key: ApiKey[name], name, minVersion, maxVersion, request, response }
}

export const APIS = {
  Produce: spec('Produce', ProduceRequest, ProduceResponse),
  Fetch: spec('Fetch', FetchRequest, FetchResponse),
  ListOffsets: spec('ListOffsets', ListOffsetsRequest, ListOffsetsResponse),
  Metadata: spec('Metadata', MetadataRequest, MetadataResponse),
  ApiVersions: spec('ApiVersions', ApiVersionsRequest, ApiVersionsResponse),
  CreateTopics: spec('CreateTopics', CreateTopicsRequest, CreateTopicsResponse),
  DeleteTopics: spec('DeleteTopics', DeleteTopicsRequest, DeleteTopicsResponse),
  DescribeTopics: spec('DescribeTopics', DescribeTopicsRequest, DescribeTopicsResponse),
  GroupHeartbeat: spec('GroupHeartbeat', GroupHeartbeatRequest, GroupHeartbeatResponse),
  OffsetCommit: spec('OffsetCommit', OffsetCommitRequest, OffsetCommitResponse),
  OffsetFetch: spec('OffsetFetch', OffsetFetchRequest, OffsetFetchResponse),
  FindCoordinator: spec('FindCoordinator', FindCoordinatorRequest, FindCoordinatorResponse),
  ListGroups: spec('ListGroups', ListGroupsRequest, ListGroupsResponse),
  DescribeGroups: spec('DescribeGroups', DescribeGroupsRequest, DescribeGroupsResponse),
  DeleteGroups: spec('DeleteGroups', DeleteGroupsRequest, DeleteGroupsResponse),
  InitProducerId: spec('InitProducerId', InitProducerIdRequest, InitProducerIdResponse),
  SaslHandshake: spec('SaslHandshake', SaslHandshakeRequest, SaslHandshakeResponse),
  SaslAuthenticate: spec('SaslAuthenticate', SaslAuthenticateRequest, SaslAuthenticateResponse),
  DescribeClientQuotas: spec('DescribeClientQuotas', DescribeClientQuotasRequest, DescribeClientQuotasResponse),
  AlterClientQuotas: spec('AlterClientQuotas', AlterClientQuotasRequest, AlterClientQuotasResponse),
  DescribeConnections: spec('DescribeConnections', DescribeConnectionsRequest, DescribeConnectionsResponse),
  OffsetForLeaderEpoch: spec('OffsetForLeaderEpoch', OffsetForLeaderEpochRequest, OffsetForLeaderEpochResponse),
  ReplicaFetch: spec('ReplicaFetch', ReplicaFetchRequest, ReplicaFetchResponse),
  AlterPartitionReassignments: spec('AlterPartitionReassignments', AlterPartitionReassignmentsRequest, AlterPartitionReassignmentsResponse),
  DecommissionBroker: spec('DecommissionBroker', DecommissionBrokerRequest, DecommissionBrokerResponse),
} as const
export type Apis = typeof APIS

export type RequestOf<N extends ApiName> = Infer<Apis[N]['request']>
export type ResponseOf<N extends ApiName> = Infer<Apis[N]['response']>

const BY_KEY = new Map<number, ApiSpec<unknown, unknown>>()
for (const api of Object.values(APIS) as Array<ApiSpec<unknown, unknown>>) BY_KEY.set(api.key, api)

/** The spec for an api key, or undefined for an unknown key. */
export function apiByKey (key: number): ApiSpec<unknown, unknown> | undefined {
  return BY_KEY.get(key)
}

/** Every api, for ApiVersions. */
export function allApis (): Array<ApiSpec<unknown, unknown>> {
  return [...BY_KEY.values()]
}
