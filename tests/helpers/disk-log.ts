/**
 * The broker's real storage and services for gateway tests: a data dir in a temp folder and
 * the broker running on it (started by tests/helpers/mqtt.ts startGateway). `logs` is the
 * running broker's LogManager; `append` writes through the partition service as any
 * protocol does. Stopping the gateway's broker and starting another on the same DiskLog is
 * a broker restart: the second one sees only what was persisted.
 */

import type { Broker } from '../../broker/broker.js'
import type { LogAccess } from '../../broker/protocols/mqtt/log-access.js'
import { INTERNAL_CALLER } from '../../broker/security/principal.js'
import type { PartitionService } from '../../broker/services/partitions.js'
import type { TopicService } from '../../broker/services/topics.js'
import type { LogManager } from '../../broker/storage/log-manager.js'
import { tempDir, type TestLike } from './broker.js'

export class DiskLog implements LogAccess {
  readonly dataDir: string
  #broker: Broker | null = null

  private constructor (dataDir: string) {
    this.dataDir = dataDir
  }

  static async open (t: TestLike): Promise<DiskLog> {
    return new DiskLog(tempDir(t, 'spool-mqtt-log-'))
  }

  /** The broker now running on this data dir. */
  attach (broker: Broker): void { this.#broker = broker }

  #running (): Broker {
    if (this.#broker === null) throw new Error('no broker is running on this DiskLog (startGateway first)')
    return this.#broker
  }

  /** Kept for the tests' restart sequence: the next startGateway opens the logs from disk. */
  async restart (): Promise<void> {
    this.#broker = null
  }

  get logs (): LogManager { return this.#running().logs }
  get topics (): TopicService { return this.#running().topics }
  get partitions (): PartitionService { return this.#running().partitions }

  append (topic: string, partition: number, payload: Uint8Array): { baseOffset: number, lastOffset: number } {
    return this.partitions.append(INTERNAL_CALLER, topic, partition, payload)
  }
}
