/** Every codec target of `npm run fuzz` (`--target codec:<name>`), in the order they run. */

import type { CodecTarget } from '../engine.js'
import { kafkaTargets } from './kafka.js'
import { mqttTarget } from './mqtt.js'
import { nativeTarget } from './native.js'
import { recordBatchTarget } from './record-batch.js'
import { webSocketTarget } from './websocket.js'

export function codecTargets (): CodecTarget[] {
  return [nativeTarget, recordBatchTarget, mqttTarget, webSocketTarget, ...kafkaTargets()]
}
