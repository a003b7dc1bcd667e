/** Starting and stopping an embedded broker in a temp data dir for a tap test. */

import { Broker, type BrokerOptions } from '../../broker/broker.js'
import { tempDir, type TestLike } from './temp.js'

export { tempDir, type TestLike }

/** A broker on free ports in a temp data dir, closed at teardown. */
export async function startBroker (t: TestLike, options: BrokerOptions = {}): Promise<Broker> {
  const dataDir = options.dataDir ?? tempDir(t)
  const broker = await Broker.start({ host: '127.0.0.1', port: 0, httpPort: 0, mqttPort: 0, kafkaPort: 0, logLevel: 'silent', ...options, dataDir })
  t.teardown(() => broker.close())
  return broker
}

/** GET a path on the broker's HTTP port. */
export async function httpGet (broker: Broker, path: string, headers: Record<string, string> = {}): Promise<{ status: number, text: string, headers: Headers }> {
  const res = await fetch(`http://127.0.0.1:${broker.ports.http}${path}`, { headers })
  return { status: res.status, text: await res.text(), headers: res.headers }
}
