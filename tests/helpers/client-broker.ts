/**
 * A real embedded broker for client tests: 127.0.0.1, free ports, a temp data dir that is
 * removed in teardown, and a restart on the same ports and data dir (for reconnect tests).
 */

import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Test } from 'tap'
import { Broker } from '../../broker/index.js'

export interface TestBroker {
  readonly dataDir: string
  readonly nativePort: number
  readonly httpPort: number
  readonly address: string
  readonly wsUrl: string
  /** Closes the broker and starts it again on the same ports and data dir. */
  restart (): Promise<void>
  /** Stops the broker (restart() starts it again). */
  stop (): Promise<void>
}

export async function startTestBroker (t: Test, options: Record<string, unknown> = {}): Promise<TestBroker> {
  const dataDir = mkdtempSync(join(tmpdir(), 'spool-client-test-'))
  const start = (port: number, httpPort: number): Promise<Broker> =>
    // Listeners these tests do not use are off, so no fixed default port (MQTT's 1883) is taken.
    Broker.start({ dataDir, host: '127.0.0.1', port, httpPort, mqttPort: null, kafkaPort: null, logLevel: 'silent', ...options })
  let broker: Broker | null = await start(0, 0)
  const nativePort = broker.ports.native!
  const httpPort = broker.ports.http!
  const stop = async (): Promise<void> => {
    const b = broker
    broker = null
    await b?.close()
  }
  t.teardown(async () => {
    await stop()
    rmSync(dataDir, { recursive: true, force: true })
  })
  return {
    dataDir,
    nativePort,
    httpPort,
    address: `127.0.0.1:${nativePort}`,
    wsUrl: `ws://127.0.0.1:${httpPort}/ws`,
    stop,
    async restart () {
      await stop()
      broker = await start(nativePort, httpPort)
    },
  }
}
