/**
 * A shared subscription `$share/<group>/<filter>` (MQTT 5.0 §4.8.2): each message matching
 * the filter goes to ONE connected member, round robin, skipping members whose window or
 * queue is full. Retained messages are not sent to shared subscriptions (5.0 §4.8.2).
 *
 * Limits: a share group delivers live only. When every member is full, or none is
 * connected, a message is not delivered to the group (it stays in the log for SDK
 * consumers; counted as dropped). Members' stored sessions keep the subscription.
 */

import type { QoS } from './codec.js'
import type { Delivery, Subscription } from './session.js'

/** What the subscription trie holds: a live session's subscription or a share group. */
export type Target = Subscription | SharedGroup

export class SharedGroup {
  readonly kind = 'share'
  readonly name: string
  readonly filter: string
  readonly members: Subscription[] = []
  /** Highest QoS any member asked for: each delivery is capped again by the chosen member. */
  qos: QoS = 0
  #next = 0
  #onDrop: () => void

  constructor (name: string, filter: string, onDrop: () => void) {
    this.name = name
    this.filter = filter
    this.#onDrop = onDrop
  }

  /** Applied at fan-out: no-local and retain-as-published do not apply to shares. */
  readonly nl = false
  readonly rap = false

  add (sub: Subscription): void {
    if (!this.members.includes(sub)) this.members.push(sub)
    this.#recomputeQos()
  }

  remove (sub: Subscription): void {
    const i = this.members.indexOf(sub)
    if (i >= 0) this.members.splice(i, 1)
    this.#recomputeQos()
  }

  #recomputeQos (): void {
    let q = 0
    for (const m of this.members) if (m.qos > q) q = m.qos
    this.qos = q as QoS
  }

  deliver (d: Delivery): void {
    const n = this.members.length
    for (let i = 0; i < n; i++) {
      const index = (this.#next + i) % n
      const m = this.members[index]!
      const qos = (d.qos < m.qos ? d.qos : m.qos) as QoS
      if (m.session.send({ ...d, qos, subIds: m.subId === null ? null : [m.subId] })) {
        this.#next = index + 1
        return
      }
    }
    this.#onDrop()
  }
}
