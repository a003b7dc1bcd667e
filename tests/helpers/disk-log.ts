/**
 * The broker's real storage for gateway tests: a LogManager on a temp data dir behind a
 * PartitionService, which the MQTT gateway uses as its log. `restart()` closes the logs
 * cleanly and opens them again from disk, as a broker restart does, so a second gateway sees
 * only what was persisted.
 */

import { pino } from 'pino'
import { BrokerMetrics } from '../../broker/observability/metrics.js'
import { PartitionService } from '../../broker/services/partitions.js'
import { LogManager } from '../../broker/storage/log-manager.js'
import type { LogAccess } from '../../broker/protocols/mqtt/log-access.js'
import { tempDir, type TestLike } from './broker.js'

export class DiskLog implements LogAccess {
  readonly dataDir: string
  #service: PartitionService

  private constructor (dataDir: string, service: PartitionService) {
    this.dataDir = dataDir
    this.#service = service
  }

  static async open (t: TestLike): Promise<DiskLog> {
    const dataDir = tempDir(t, 'spool-mqtt-log-')
    const log = new DiskLog(dataDir, await DiskLog.#openService(dataDir))
    t.teardown(() => log.#service.logs.close())
    return log
  }

  static async #openService (dataDir: string): Promise<PartitionService> {
    const logs = await LogManager.open({ dataDir, logger: pino({ level: 'silent' }), retentionCheckIntervalMs: 0 })
    return new PartitionService(logs, new BrokerMetrics())
  }

  /** Closes the logs (clean shutdown) and reopens them from disk. */
  async restart (): Promise<void> {
    await this.#service.logs.close()
    this.#service = await DiskLog.#openService(this.dataDir)
  }

  get logs (): PartitionService['logs'] { return this.#service.logs }
  append (topic: string, partition: number, payload: Uint8Array): { baseOffset: number, lastOffset: number } { return this.#service.append(topic, partition, payload) }
  sync (topic: string, partition: number): Promise<void> { return this.#service.sync(topic, partition) }
  read (topic: string, partition: number, offset: number, maxBytes: number, minOneBatch: boolean): Promise<{ bytes: Uint8Array, nextOffset: number }> {
    return this.#service.read(topic, partition, offset, maxBytes, minOneBatch)
  }

  onNextAppend (partitions: ReadonlyArray<readonly [string, number]>, fn: () => void): () => void { return this.#service.onNextAppend(partitions, fn) }
}
