/**
 * The two servers the Kafka fixture capture (kafka-capture.ts) puts in front of real
 * clients, both recording every frame they see:
 *
 * - KafkaResponder: a small in-memory Kafka broker built on protocol/kafka. It advertises
 *   Spool's ApiVersions ranges, so each client picks the versions it will send to Spool's
 *   listener, and it answers enough of every API (single node, single-member groups,
 *   batches kept in memory) for produce, consume, group and admin flows to complete.
 *   It is a capture tool, not a broker: no validation beyond decoding, no durability.
 * - RecordingProxy: a TCP proxy to librdkafka's mock cluster, recording real request bytes
 *   and the mock's real response bytes. Broker addresses in Metadata and FindCoordinator
 *   responses are rewritten (decoded and re-encoded with protocol/kafka) to point at the
 *   proxy, so the clients keep talking through it.
 */

import net from 'node:net'
import {
  ADVERTISED_APIS, KAFKA_APIS, decodeRequestBody, decodeRequestHeader, decodeResponse, encodeApiVersionsUnsupported,
  encodeResponse, KafkaErrorCode,
} from '../../protocol/kafka/index.js'
import type { AnyKafkaApi, EncodedFrame, KafkaRequest } from '../../protocol/kafka/index.js'
import { joinParts } from '../../protocol/bytes/writer.js'
import { setBaseOffset, batchSizeAt, readBatchHeader } from '../../protocol/record-batch/header.js'

export interface CapturedFrame {
  scenario: string
  direction: 'request' | 'response'
  apiKey: number
  apiVersion: number
  correlationId: number
  /** The frame without its 4-byte size prefix. */
  bytes: Uint8Array
}

/** Splits a TCP stream into size-prefixed frames. */
export class FrameSplitter {
  #buf = new Uint8Array(0)
  push (chunk: Uint8Array, onFrame: (frame: Uint8Array) => void): void {
    const merged = new Uint8Array(this.#buf.length + chunk.length)
    merged.set(this.#buf)
    merged.set(chunk, this.#buf.length)
    let pos = 0
    while (merged.length - pos >= 4) {
      const size = new DataView(merged.buffer, merged.byteOffset + pos).getInt32(0)
      if (size < 0 || size > 64 * 1024 * 1024) throw new Error(`frame size ${size}`)
      if (merged.length - pos - 4 < size) break
      onFrame(merged.slice(pos + 4, pos + 4 + size))
      pos += 4 + size
    }
    this.#buf = merged.slice(pos)
  }
}

function sizePrefixed (frame: Uint8Array): Uint8Array {
  const out = new Uint8Array(frame.length + 4)
  new DataView(out.buffer).setInt32(0, frame.length)
  out.set(frame, 4)
  return out
}

interface Partition { batches: Uint8Array[], nextOffset: number }
interface Group { generation: number, protocol: string, leader: string, members: Map<string, Uint8Array>, assignments: Map<string, Uint8Array>, offsets: Map<string, number> }

export class KafkaResponder {
  readonly frames: CapturedFrame[] = []
  scenario = 'setup'
  readonly #server = net.createServer(socket => this.#serve(socket))
  readonly #sockets = new Set<net.Socket>()
  readonly #topics = new Map<string, Partition[]>()
  readonly #groups = new Map<string, Group>()
  #port = 0
  #nextProducerId = 1000
  #nextMember = 1

  async listen (): Promise<number> {
    await new Promise<void>(resolve => this.#server.listen(0, '127.0.0.1', resolve))
    this.#port = (this.#server.address() as net.AddressInfo).port
    return this.#port
  }

  async close (): Promise<void> {
    for (const s of this.#sockets) s.destroy()
    await new Promise<void>(resolve => this.#server.close(() => resolve()))
  }

  #serve (socket: net.Socket): void {
    this.#sockets.add(socket)
    socket.on('close', () => this.#sockets.delete(socket))
    socket.on('error', () => socket.destroy())
    socket.setNoDelay(true)
    const splitter = new FrameSplitter()
    let rawSaslNext = false
    socket.on('data', chunk => splitter.push(chunk, frame => {
      try {
        handle(frame)
      } catch (err) {
        console.log(`responder: ${(err as Error).message}`)
        socket.destroy()
      }
    }))
    const handle = (frame: Uint8Array): void => {
      if (rawSaslNext) {
        // SaslHandshake v0: the token comes as a bare frame and gets a bare (empty) answer.
        rawSaslNext = false
        socket.write(sizePrefixed(new Uint8Array(0)))
        return
      }
      const header = decodeRequestHeader(frame)
      this.frames.push({ scenario: this.scenario, direction: 'request', apiKey: header.apiKey, apiVersion: header.apiVersion, correlationId: header.correlationId, bytes: frame })
      if (!header.supported) {
        if (header.apiKey === KAFKA_APIS.ApiVersions.key) socket.write(joinParts(encodeApiVersionsUnsupported(header.correlationId).parts))
        else socket.destroy()
        return
      }
      // Lenient here: the capture records what clients send, quirks included.
      const req = decodeRequestBody(header, frame, { allowTrailingBytes: true })
      if (req.apiName === 'SaslHandshake' && req.apiVersion === 0) rawSaslNext = true
      void this.#answer(req).then(out => {
        if (out !== null && !socket.destroyed) socket.write(joinParts(out.parts))
      }, err => {
        console.log(`responder: ${req.apiName} v${req.apiVersion}: ${(err as Error).message}`)
        socket.destroy()
      })
    }
  }

  #partitions (topic: string, create = true, count = 1): Partition[] | undefined {
    let p = this.#topics.get(topic)
    if (p === undefined && create) {
      p = Array.from({ length: count }, () => ({ batches: [], nextOffset: 0 }))
      this.#topics.set(topic, p)
    }
    return p
  }

  #group (id: string): Group {
    let g = this.#groups.get(id)
    if (g === undefined) {
      g = { generation: 0, protocol: '', leader: '', members: new Map(), assignments: new Map(), offsets: new Map() }
      this.#groups.set(id, g)
    }
    return g
  }

  #metadataTopic (name: string, parts: Partition[]): { name: string, errorCode: number, partitions: Array<{ partitionIndex: number, leaderId: number, replicaNodes: number[], isrNodes: number[] }> } {
    return { name, errorCode: 0, partitions: parts.map((_, i) => ({ partitionIndex: i, leaderId: 1, replicaNodes: [1], isrNodes: [1] })) }
  }

  /** One case per API, each a few lines; a table of closures would only hide the narrowing of `req`. */
  async #answer (req: KafkaRequest): Promise<EncodedFrame | null> {
    const respond = <A extends AnyKafkaApi>(api: A, body: Parameters<typeof encodeResponse<A>>[3]): EncodedFrame =>
      encodeResponse(api, req.apiVersion, req.correlationId, body)
    const host = '127.0.0.1'
    const port = this.#port
    switch (req.apiName) {
      case 'ApiVersions': return respond(KAFKA_APIS.ApiVersions, { apiKeys: [...ADVERTISED_APIS] })
      case 'Metadata': {
        const names = req.body.topics === null || (req.apiVersion === 0 && req.body.topics.length === 0)
          ? [...this.#topics.keys()]
          : req.body.topics.map(t => t.name)
        return respond(KAFKA_APIS.Metadata, {
          brokers: [{ nodeId: 1, host, port }], clusterId: 'capture-cluster', controllerId: 1,
          topics: names.map(n => this.#metadataTopic(n, this.#partitions(n, req.body.allowAutoTopicCreation)!)),
        })
      }
      case 'Produce': {
        const responses = req.body.topicData.map(t => ({
          name: t.name,
          partitionResponses: t.partitionData.map(p => {
            const part = this.#partitions(t.name)![p.index]
            if (part === undefined || p.records === null) return { index: p.index, errorCode: KafkaErrorCode.UNKNOWN_TOPIC_OR_PARTITION, baseOffset: -1 }
            const baseOffset = part.nextOffset
            for (let pos = 0; pos < p.records.length;) {
              const size = batchSizeAt(p.records, pos)
              const batch = p.records.slice(pos, pos + size)
              setBaseOffset(batch, 0, part.nextOffset)
              part.nextOffset += readBatchHeader(batch).lastOffsetDelta + 1
              part.batches.push(batch)
              pos += size
            }
            return { index: p.index, errorCode: 0, baseOffset, logAppendTimeMs: -1, logStartOffset: 0 }
          }),
        }))
        return req.body.acks === 0 ? null : respond(KAFKA_APIS.Produce, { responses })
      }
      case 'Fetch': {
        const build = (): Array<{ topic: string, partitions: Array<{ partitionIndex: number, errorCode: number, highWatermark: number, lastStableOffset: number, logStartOffset: number, records: Uint8Array[] }> }> =>
          req.body.topics.map(t => ({
            topic: t.topic,
            partitions: t.partitions.map(p => {
              const part = this.#partitions(t.topic, false)?.[p.partition]
              const records = part === undefined ? [] : part.batches.filter(b => readBatchHeader(b).baseOffset + readBatchHeader(b).lastOffsetDelta >= p.fetchOffset)
              return { partitionIndex: p.partition, errorCode: part === undefined ? KafkaErrorCode.UNKNOWN_TOPIC_OR_PARTITION : 0, highWatermark: part?.nextOffset ?? -1, lastStableOffset: part?.nextOffset ?? -1, logStartOffset: 0, records }
            }),
          }))
        let responses = build()
        if (responses.every(t => t.partitions.every(p => p.records.length === 0))) {
          await new Promise(resolve => setTimeout(resolve, Math.min(req.body.maxWaitMs, 200)))
          responses = build()
        }
        return respond(KAFKA_APIS.Fetch, { responses })
      }
      case 'ListOffsets': return respond(KAFKA_APIS.ListOffsets, {
        topics: req.body.topics.map(t => ({
          name: t.name,
          partitions: t.partitions.map(p => {
            const part = this.#partitions(t.name, false)?.[p.partitionIndex]
            return { partitionIndex: p.partitionIndex, errorCode: part === undefined ? 3 : 0, timestamp: -1, offset: p.timestamp === -2 ? 0 : part?.nextOffset ?? -1 }
          }),
        })),
      })
      case 'FindCoordinator': return respond(KAFKA_APIS.FindCoordinator, {
        nodeId: 1, host, port,
        coordinators: req.body.coordinatorKeys.map(key => ({ key, nodeId: 1, host, port })),
      })
      case 'JoinGroup': {
        const g = this.#group(req.body.groupId)
        if (req.body.memberId === '' && req.apiVersion >= 4) {
          return respond(KAFKA_APIS.JoinGroup, { errorCode: KafkaErrorCode.MEMBER_ID_REQUIRED, memberId: `${req.clientId ?? 'member'}-${this.#nextMember++}` })
        }
        const memberId = req.body.memberId === '' ? `${req.clientId ?? 'member'}-${this.#nextMember++}` : req.body.memberId
        g.members.clear()
        g.members.set(memberId, req.body.protocols[0]?.metadata ?? new Uint8Array(0))
        g.generation++
        g.protocol = req.body.protocols[0]?.name ?? ''
        g.leader = memberId
        return respond(KAFKA_APIS.JoinGroup, {
          generationId: g.generation, protocolName: g.protocol, leader: memberId, memberId,
          members: [...g.members].map(([id, metadata]) => ({ memberId: id, metadata })),
        })
      }
      case 'SyncGroup': {
        const g = this.#group(req.body.groupId)
        for (const a of req.body.assignments) g.assignments.set(a.memberId, a.assignment)
        return respond(KAFKA_APIS.SyncGroup, { assignment: g.assignments.get(req.body.memberId) ?? new Uint8Array(0) })
      }
      case 'Heartbeat': return respond(KAFKA_APIS.Heartbeat, {})
      case 'LeaveGroup': return respond(KAFKA_APIS.LeaveGroup, { members: req.body.members.map(m => ({ memberId: m.memberId, groupInstanceId: m.groupInstanceId })) })
      case 'OffsetCommit': {
        const g = this.#group(req.body.groupId)
        for (const t of req.body.topics) for (const p of t.partitions) g.offsets.set(`${t.name}:${p.partitionIndex}`, p.committedOffset)
        return respond(KAFKA_APIS.OffsetCommit, { topics: req.body.topics.map(t => ({ name: t.name, partitions: t.partitions.map(p => ({ partitionIndex: p.partitionIndex })) })) })
      }
      case 'OffsetFetch': {
        const lookup = (groupId: string, topics: Array<{ name: string, partitionIndexes: number[] }> | null): Array<{ name: string, partitions: Array<{ partitionIndex: number, committedOffset: number, metadata: string | null }> }> => {
          const g = this.#group(groupId)
          return (topics ?? []).map(t => ({ name: t.name, partitions: t.partitionIndexes.map(i => ({ partitionIndex: i, committedOffset: g.offsets.get(`${t.name}:${i}`) ?? -1, metadata: '' })) }))
        }
        return respond(KAFKA_APIS.OffsetFetch, {
          topics: lookup(req.body.groupId, req.body.topics),
          groups: req.body.groups.map(g => ({ groupId: g.groupId, topics: lookup(g.groupId, g.topics) })),
        })
      }
      case 'ListGroups': return respond(KAFKA_APIS.ListGroups, { groups: [...this.#groups.keys()].map(groupId => ({ groupId, protocolType: 'consumer', groupState: 'Stable' })) })
      case 'DescribeGroups': return respond(KAFKA_APIS.DescribeGroups, {
        groups: req.body.groups.map(groupId => {
          const g = this.#group(groupId)
          return {
            groupId, groupState: g.members.size > 0 ? 'Stable' : 'Empty', protocolType: 'consumer', protocolData: g.protocol,
            members: [...g.members].map(([memberId, memberMetadata]) => ({ memberId, clientId: memberId, clientHost: '/127.0.0.1', memberMetadata, memberAssignment: g.assignments.get(memberId) ?? new Uint8Array(0) })),
          }
        }),
      })
      case 'DeleteGroups': return respond(KAFKA_APIS.DeleteGroups, { results: req.body.groupsNames.map(groupId => ({ groupId, errorCode: this.#groups.delete(groupId) ? 0 : KafkaErrorCode.GROUP_ID_NOT_FOUND })) })
      case 'OffsetDelete': return respond(KAFKA_APIS.OffsetDelete, { topics: req.body.topics.map(t => ({ name: t.name, partitions: t.partitions.map(p => ({ partitionIndex: p.partitionIndex })) })) })
      case 'CreateTopics': return respond(KAFKA_APIS.CreateTopics, {
        topics: req.body.topics.map(t => {
          const exists = this.#topics.has(t.name)
          if (!req.body.validateOnly && !exists) this.#partitions(t.name, true, t.numPartitions > 0 ? t.numPartitions : 1)
          return { name: t.name, topicId: '0123456789abcdef0123456789abcdef', errorCode: exists ? KafkaErrorCode.TOPIC_ALREADY_EXISTS : 0, errorMessage: null, numPartitions: t.numPartitions, replicationFactor: 1, configs: [] }
        }),
      })
      case 'DeleteTopics': {
        const names = req.apiVersion >= 6 ? req.body.topics.map(t => t.name ?? '') : req.body.topicNames
        return respond(KAFKA_APIS.DeleteTopics, { responses: names.map(name => ({ name, errorCode: this.#topics.delete(name) ? 0 : KafkaErrorCode.UNKNOWN_TOPIC_OR_PARTITION })) })
      }
      case 'CreatePartitions': return respond(KAFKA_APIS.CreatePartitions, {
        results: req.body.topics.map(t => {
          const parts = this.#partitions(t.name, false)
          if (parts !== undefined && !req.body.validateOnly) while (parts.length < t.count) parts.push({ batches: [], nextOffset: 0 })
          return { name: t.name, errorCode: parts === undefined ? KafkaErrorCode.UNKNOWN_TOPIC_OR_PARTITION : 0 }
        }),
      })
      case 'DeleteRecords': return respond(KAFKA_APIS.DeleteRecords, { topics: req.body.topics.map(t => ({ name: t.name, partitions: t.partitions.map(p => ({ partitionIndex: p.partitionIndex, lowWatermark: p.offset })) })) })
      case 'InitProducerId': return respond(KAFKA_APIS.InitProducerId, { producerId: this.#nextProducerId++, producerEpoch: 0 })
      case 'DescribeConfigs': return respond(KAFKA_APIS.DescribeConfigs, {
        results: req.body.resources.map(r => ({
          resourceType: r.resourceType, resourceName: r.resourceName,
          configs: [{ name: 'retention.ms', value: '604800000', configSource: 5, synonyms: [] }, { name: 'cleanup.policy', value: 'delete', configSource: 5, synonyms: [] }],
        })),
      })
      case 'AlterConfigs': return respond(KAFKA_APIS.AlterConfigs, { responses: req.body.resources.map(r => ({ resourceType: r.resourceType, resourceName: r.resourceName })) })
      case 'IncrementalAlterConfigs': return respond(KAFKA_APIS.IncrementalAlterConfigs, { responses: req.body.resources.map(r => ({ resourceType: r.resourceType, resourceName: r.resourceName })) })
      case 'DescribeCluster': return respond(KAFKA_APIS.DescribeCluster, { clusterId: 'capture-cluster', controllerId: 1, brokers: [{ brokerId: 1, host, port }] })
      case 'OffsetForLeaderEpoch': return respond(KAFKA_APIS.OffsetForLeaderEpoch, {
        topics: req.body.topics.map(t => ({ topic: t.topic, partitions: t.partitions.map(p => ({ partition: p.partition, leaderEpoch: 0, endOffset: this.#partitions(t.topic, false)?.[p.partition]?.nextOffset ?? -1 })) })),
      })
      case 'SaslHandshake': return respond(KAFKA_APIS.SaslHandshake, { mechanisms: ['PLAIN'] })
      case 'SaslAuthenticate': return respond(KAFKA_APIS.SaslAuthenticate, { authBytes: new Uint8Array(0) })
      case 'CreateAcls': return respond(KAFKA_APIS.CreateAcls, { results: req.body.creations.map(() => ({ errorMessage: null })) })
      case 'DescribeAcls': return respond(KAFKA_APIS.DescribeAcls, { errorMessage: null, resources: [] })
      case 'DeleteAcls': return respond(KAFKA_APIS.DeleteAcls, { filterResults: req.body.filters.map(() => ({ errorMessage: null, matchingAcls: [] })) })
      case 'DescribeClientQuotas': return respond(KAFKA_APIS.DescribeClientQuotas, { errorMessage: null, entries: [] })
      case 'AlterClientQuotas': return respond(KAFKA_APIS.AlterClientQuotas, { entries: req.body.entries.map(e => ({ errorMessage: null, entity: e.entity })) })
    }
  }
}

/**
 * A recording proxy in front of one broker of librdkafka's mock cluster. Responses are
 * matched to requests by correlation id; Metadata and FindCoordinator answers are
 * rewritten so the advertised broker is the proxy.
 */
export class RecordingProxy {
  readonly frames: CapturedFrame[] = []
  scenario = 'setup'
  readonly #server = net.createServer(socket => this.#serve(socket))
  readonly #sockets = new Set<net.Socket>()
  #port = 0

  constructor (readonly upstreamHost: string, readonly upstreamPort: number) {}

  async listen (): Promise<number> {
    await new Promise<void>(resolve => this.#server.listen(0, '127.0.0.1', resolve))
    this.#port = (this.#server.address() as net.AddressInfo).port
    return this.#port
  }

  async close (): Promise<void> {
    for (const s of this.#sockets) s.destroy()
    await new Promise<void>(resolve => this.#server.close(() => resolve()))
  }

  #serve (client: net.Socket): void {
    const upstream = net.connect(this.upstreamPort, this.upstreamHost)
    for (const s of [client, upstream]) {
      this.#sockets.add(s)
      s.on('close', () => { this.#sockets.delete(s); client.destroy(); upstream.destroy() })
      s.on('error', () => s.destroy())
    }
    const pending = new Map<number, { apiKey: number, apiVersion: number, scenario: string }>()
    const fromClient = new FrameSplitter()
    const fromServer = new FrameSplitter()
    client.on('data', chunk => fromClient.push(chunk, frame => {
      const h = decodeRequestHeader(frame)
      pending.set(h.correlationId, { apiKey: h.apiKey, apiVersion: h.apiVersion, scenario: this.scenario })
      this.frames.push({ scenario: this.scenario, direction: 'request', apiKey: h.apiKey, apiVersion: h.apiVersion, correlationId: h.correlationId, bytes: frame })
      upstream.write(sizePrefixed(frame))
    }))
    upstream.on('data', chunk => fromServer.push(chunk, frame => {
      const correlationId = new DataView(frame.buffer, frame.byteOffset).getInt32(0)
      const req = pending.get(correlationId)
      pending.delete(correlationId)
      if (req === undefined) {
        client.write(sizePrefixed(frame))
        return
      }
      this.frames.push({ scenario: req.scenario, direction: 'response', apiKey: req.apiKey, apiVersion: req.apiVersion, correlationId, bytes: frame })
      client.write(this.#rewrite(req.apiKey, req.apiVersion, frame))
    }))
  }

  #rewrite (apiKey: number, apiVersion: number, frame: Uint8Array): Uint8Array {
    const port = this.#port
    if (apiKey === KAFKA_APIS.Metadata.key) {
      const { correlationId, body } = decodeResponse(KAFKA_APIS.Metadata, apiVersion, frame)
      body.brokers = body.brokers.map(b => ({ ...b, host: '127.0.0.1', port }))
      return joinParts(encodeResponse(KAFKA_APIS.Metadata, apiVersion, correlationId, body).parts)
    }
    if (apiKey === KAFKA_APIS.FindCoordinator.key) {
      const { correlationId, body } = decodeResponse(KAFKA_APIS.FindCoordinator, apiVersion, frame)
      body.host = '127.0.0.1'
      body.port = port
      body.coordinators = body.coordinators.map(c => ({ ...c, host: '127.0.0.1', port }))
      return joinParts(encodeResponse(KAFKA_APIS.FindCoordinator, apiVersion, correlationId, body).parts)
    }
    return sizePrefixed(frame)
  }
}
