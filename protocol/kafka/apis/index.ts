/**
 * Every Kafka API Spool implements, in one registry. Each entry's version range is what the
 * Kafka listener advertises in ApiVersions (see api-versions-data.ts) and what the codecs
 * decode and encode; nothing outside these ranges is accepted.
 */

import { ApiVersions } from './api-versions.js'
import { Metadata } from './metadata.js'
import { Produce } from './produce.js'
import { Fetch } from './fetch.js'
import { ListOffsets } from './list-offsets.js'
import { FindCoordinator } from './find-coordinator.js'
import { JoinGroup } from './join-group.js'
import { SyncGroup } from './sync-group.js'
import { Heartbeat } from './heartbeat.js'
import { LeaveGroup } from './leave-group.js'
import { OffsetCommit } from './offset-commit.js'
import { OffsetFetch } from './offset-fetch.js'
import { ListGroups } from './list-groups.js'
import { DescribeGroups } from './describe-groups.js'
import { CreateTopics } from './create-topics.js'
import { DeleteTopics } from './delete-topics.js'
import { InitProducerId } from './init-producer-id.js'
import { DescribeConfigs } from './describe-configs.js'
import { OffsetForLeaderEpoch } from './offset-for-leader-epoch.js'
import { SaslHandshake } from './sasl-handshake.js'
import { SaslAuthenticate } from './sasl-authenticate.js'
import { CreatePartitions } from './create-partitions.js'
import { DeleteRecords } from './delete-records.js'
import { AlterConfigs } from './alter-configs.js'
import { IncrementalAlterConfigs } from './incremental-alter-configs.js'
import { DescribeCluster } from './describe-cluster.js'
import { DeleteGroups } from './delete-groups.js'
import { OffsetDelete } from './offset-delete.js'
import { CreateAcls } from './create-acls.js'
import { DescribeAcls } from './describe-acls.js'
import { DeleteAcls } from './delete-acls.js'
import { DescribeClientQuotas } from './describe-client-quotas.js'
import { AlterClientQuotas } from './alter-client-quotas.js'

export {
  ApiVersions,
  Metadata,
  Produce,
  Fetch,
  ListOffsets,
  FindCoordinator,
  JoinGroup,
  SyncGroup,
  Heartbeat,
  LeaveGroup,
  OffsetCommit,
  OffsetFetch,
  ListGroups,
  DescribeGroups,
  CreateTopics,
  DeleteTopics,
  InitProducerId,
  DescribeConfigs,
  OffsetForLeaderEpoch,
  SaslHandshake,
  SaslAuthenticate,
  CreatePartitions,
  DeleteRecords,
  AlterConfigs,
  IncrementalAlterConfigs,
  DescribeCluster,
  DeleteGroups,
  OffsetDelete,
  CreateAcls,
  DescribeAcls,
  DeleteAcls,
  DescribeClientQuotas,
  AlterClientQuotas,
}

/** The implemented APIs by name (the discriminant of decoded requests). */
export const KAFKA_APIS = {
  ApiVersions,
  Metadata,
  Produce,
  Fetch,
  ListOffsets,
  FindCoordinator,
  JoinGroup,
  SyncGroup,
  Heartbeat,
  LeaveGroup,
  OffsetCommit,
  OffsetFetch,
  ListGroups,
  DescribeGroups,
  CreateTopics,
  DeleteTopics,
  InitProducerId,
  DescribeConfigs,
  OffsetForLeaderEpoch,
  SaslHandshake,
  SaslAuthenticate,
  CreatePartitions,
  DeleteRecords,
  AlterConfigs,
  IncrementalAlterConfigs,
  DescribeCluster,
  DeleteGroups,
  OffsetDelete,
  CreateAcls,
  DescribeAcls,
  DeleteAcls,
  DescribeClientQuotas,
  AlterClientQuotas,
} as const
