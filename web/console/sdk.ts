/**
 * The console is a client of the broker like any other page: the live tail loads the
 * browser SDK the broker serves (`/sdk/spool.js`) at run time, so it runs exactly what users
 * run, and the console's bundle does not contain a second copy of it.
 *
 * The broker never imports the client (docs/architecture.md §1), so the part of the SDK the
 * console uses is described here, structurally; tests/integration/console.test.ts checks at
 * compile time that the real SDK (client/browser.ts) satisfies it.
 */

export interface SdkMessage {
  readonly topic: string
  readonly partition: number
  readonly offset: number
  readonly timestamp: number
  readonly key: Uint8Array | null
  readonly value: Uint8Array | null
  readonly headers: ReadonlyArray<{ key: string, value: Uint8Array | null }>
}

export interface SdkTopicPartition {
  topic: string
  partition: number
}

export interface SdkConsumer {
  assign (target: { topic: string, partitions?: number[] }): Promise<void>
  assignment (): SdkTopicPartition[]
  seek (position: SdkTopicPartition & { offset: number }): void
  seekToBeginning (): Promise<void>
  seekToEnd (): Promise<void>
  seekToTimestamp (timestamp: number): Promise<void>
  endOffsets (): Promise<Array<SdkTopicPartition & { offset: number }>>
  pause (partitions: SdkTopicPartition[]): void
  resume (partitions: SdkTopicPartition[]): void
  run (options: { eachBatch: (payload: { batch: { topic: string, partition: number, highWatermark: number, messages: SdkMessage[] } }) => void | Promise<void> }): Promise<void>
  close (): Promise<void>
}

export interface SdkClient {
  consumer (options: { maxWaitMs?: number, maxBytes?: number, maxBytesPerPartition?: number, autoOffsetReset?: 'earliest' | 'latest' | 'none' }): SdkConsumer
  close (): Promise<void>
}

export interface ConsoleSdk {
  Client: new (options: { url: string, clientId?: string, retry?: { retries?: number, initialRetryTimeMs?: number, maxRetryTimeMs?: number } }) => SdkClient
}

export const SDK_URL = '/sdk/spool.js'

/** Loads the broker's browser SDK (once). */
let loading: Promise<ConsoleSdk> | null = null
export function loadSdk (): Promise<ConsoleSdk> {
  loading ??= (import(SDK_URL) as Promise<ConsoleSdk>).catch((err: unknown) => {
    loading = null
    throw err
  })
  return loading
}

/** ws://host/ws of the broker that served this page. */
export function brokerWebSocketUrl (): string {
  return `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws`
}
