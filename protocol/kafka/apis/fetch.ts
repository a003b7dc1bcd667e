/**
 * Fetch (key 1): read batches from partitions, long-polling up to maxWaitMs for minBytes. The
 * response's records field is never decoded: the encoder writes each partition's records (one
 * buffer or a list of segment slices) by reference, so the encoded parts go to writev without
 * a copy. Sessions (v7+) are carried as fields; v12 is flexible; v13+ (topic ids) is not
 * implemented.
 */

import { defineApi } from '../api.js'
import { int8, int16, int32, int64, string, records, array, struct } from '../schema.js'

export const Fetch = defineApi({
  name: 'Fetch',
  key: 1,
  versions: '4-12',
  flexibleVersions: '12+',
  request: {
    clusterId: string({ versions: '12+', nullable: '12+', tag: 0, taggedVersions: '12+', default: null }),
    replicaId: int32({ default: -1 }),
    maxWaitMs: int32(),
    minBytes: int32(),
    maxBytes: int32({ default: 2147483647 }),
    isolationLevel: int8(),
    sessionId: int32({ versions: '7+' }),
    sessionEpoch: int32({ versions: '7+', default: -1 }),
    topics: array({
      topic: string(),
      partitions: array({
        partition: int32(),
        currentLeaderEpoch: int32({ versions: '9+', default: -1 }),
        fetchOffset: int64(),
        lastFetchedEpoch: int32({ versions: '12+', default: -1 }),
        logStartOffset: int64({ versions: '5+', default: -1 }),
        partitionMaxBytes: int32(),
      }),
    }),
    forgottenTopicsData: array({
      topic: string({ versions: '7-12' }),
      partitions: array('int32', { versions: '7+' }),
    }, { versions: '7+' }),
    rackId: string({ versions: '11+' }),
  },
  response: {
    throttleTimeMs: int32(),
    errorCode: int16({ versions: '7+' }),
    sessionId: int32({ versions: '7+' }),
    responses: array({
      topic: string(),
      partitions: array({
        partitionIndex: int32(),
        errorCode: int16(),
        highWatermark: int64(),
        lastStableOffset: int64({ default: -1 }),
        logStartOffset: int64({ versions: '5+', default: -1 }),
        divergingEpoch: struct({
          epoch: int32({ versions: '12+', default: -1 }),
          endOffset: int64({ versions: '12+', default: -1 }),
        }, { versions: '12+', tag: 0, taggedVersions: '12+' }),
        currentLeader: struct({
          leaderId: int32({ versions: '12+', default: -1 }),
          leaderEpoch: int32({ versions: '12+', default: -1 }),
        }, { versions: '12+', tag: 1, taggedVersions: '12+' }),
        snapshotId: struct({
          endOffset: int64({ default: -1 }),
          epoch: int32({ default: -1 }),
        }, { versions: '12+', tag: 2, taggedVersions: '12+' }),
        abortedTransactions: array({
          producerId: int64(),
          firstOffset: int64(),
        }, { nullable: '4+' }),
        preferredReadReplica: int32({ versions: '11+', default: -1 }),
        records: records({ nullable: '0+' }),
      }),
    }),
  },
})
