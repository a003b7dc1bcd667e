// The client conformance suite (tests/helpers/conformance.ts) over both transports against a
// real embedded broker: TCP on the native port, WebSocket at /ws on the HTTP port — once with
// `ws` injected and once with the SDK's own choice (Node >= 22: the global WebSocket).
import t from 'tap'
import { startTestBroker } from '../helpers/client-broker.js'
import { clientConformance } from '../helpers/conformance.js'

// Group members heartbeat every 300 ms (not 3 s) so a join is noticed quickly.
const broker = await startTestBroker(t, { groupHeartbeatIntervalMs: 300 })
const limited = await startTestBroker(t, { maxFrameBytes: 64 * 1024, maxBatchBytes: 32 * 1024, idleTimeoutMs: 400 })

t.test('tcp', async t => clientConformance(t, broker, limited, 'tcp'))
t.test('websocket', async t => clientConformance(t, broker, limited, 'websocket'))
t.test(`websocket, the runtime's own (${typeof globalThis.WebSocket === 'function' ? 'global WebSocket' : 'ws fallback'}, Node ${process.version})`,
  async t => clientConformance(t, broker, limited, 'websocket-runtime'))
