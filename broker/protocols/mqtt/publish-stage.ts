/**
 * Inbound PUBLISHes of one read, gathered per log partition into record batches, so a burst
 * of small messages costs one append (one write) per partition rather than one per message.
 * A batch is closed before it would pass maxBatchBytes (the topic's batch limit), so a
 * staged batch is always appendable.
 */

import { RecordBatchBuilder } from '../../../protocol/record-batch/records.js'
import { messageHeaders, type MqttMessage, type Route } from './mapping.js'

export interface StagedBatch {
  readonly logTopic: string
  readonly partition: number
  readonly builder: RecordBatchBuilder
  readonly messages: MqttMessage[]
  /** Set by the append: the first offset, or the error that refused the batch. */
  baseOffset: number
  error: unknown
}

const RECORD_OVERHEAD = 64

export class PublishStage {
  readonly batches: StagedBatch[] = []
  readonly #maxBatchBytes: number

  constructor (maxBatchBytes: number) {
    this.#maxBatchBytes = maxBatchBytes
  }

  get empty (): boolean { return this.batches.length === 0 }

  /** Adds a message; returns the batch it went into. */
  add (route: Route, m: MqttMessage): StagedBatch {
    const size = RECORD_OVERHEAD + m.topicBytes.length + m.payload.length + (m.properties === null ? 0 : 512)
    let batch: StagedBatch | undefined
    for (let i = this.batches.length - 1; i >= 0; i--) {
      const b = this.batches[i]!
      if (b.logTopic === route.logTopic && b.partition === route.partition) {
        batch = b
        break
      }
    }
    if (batch === undefined || batch.builder.sizeBytes + size > this.#maxBatchBytes) {
      batch = {
        logTopic: route.logTopic,
        partition: route.partition,
        builder: new RecordBatchBuilder(Math.min(64 * 1024, Math.max(1024, size * 4))),
        messages: [],
        baseOffset: -1,
        error: null,
      }
      this.batches.push(batch)
    }
    batch.builder.append({ key: m.topicBytes, value: m.payload, headers: messageHeaders(m), timestamp: m.timestampMs })
    batch.messages.push(m)
    return batch
  }

  /** Hands the batches over and starts empty again. */
  take (): StagedBatch[] {
    return this.batches.splice(0, this.batches.length)
  }
}
