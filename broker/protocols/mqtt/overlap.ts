/**
 * Overlapping subscriptions ([MQTT-3.3.4-2], MQTT 5 §3.3.4): a message that matches several
 * of one session's subscriptions goes to that session once, with the highest QoS among them,
 * retain-as-published if any of them asks for it, and every subscription identifier. The live
 * tailer and the catch-up sweep both fold the matches of one message this way.
 */

import type { QoS } from './codec.js'
import type { Session, Subscription } from './session.js'

export interface OverlapGrant {
  qos: QoS
  rap: boolean
  subIds: number[] | null
}

/** Folds one matching subscription into `grants` (made on first use, so a message no session takes allocates nothing). */
export function grantOverlapping (grants: Map<Session, OverlapGrant> | null, sub: Subscription): Map<Session, OverlapGrant> {
  const map = grants ?? new Map<Session, OverlapGrant>()
  const g = map.get(sub.session)
  if (g === undefined) {
    map.set(sub.session, { qos: sub.qos, rap: sub.rap, subIds: sub.subId === null ? null : [sub.subId] })
  } else {
    if (sub.qos > g.qos) g.qos = sub.qos
    if (sub.rap) g.rap = true
    if (sub.subId !== null) (g.subIds ??= []).push(sub.subId)
  }
  return map
}
