/**
 * Subscriptions: SUBSCRIBE and UNSUBSCRIBE for a session, and the routing structure the
 * tailers deliver through — one trie of filters (subscription-index.ts) whose entries are
 * a live session's subscriptions or a share group ([MQTT-4.8.2], one member gets each
 * message). Only sessions with a live connection are in the trie; an offline session's
 * subscriptions stay with the session and rejoin when it reconnects.
 */

import type { ISubscribePacket } from 'mqtt-packet'
import { Reason } from './reason-codes.js'
import type { RetainedStore } from './retained-store.js'
import type { Delivery, Session, Subscription } from './session.js'
import type { StoredSubscription } from './session-store.js'
import { SharedGroup, type Target } from './shared-group.js'
import { SubscriptionIndex } from './subscription-index.js'
import { parseSubscriptionFilter, type TopicLimits } from './topics.js'

export class Subscriptions {
  readonly index = new SubscriptionIndex<Target>()
  readonly #shares = new Map<string, SharedGroup>()
  readonly #limits: TopicLimits
  readonly #maxPerSession: number
  readonly #onSharedDrop: () => void

  constructor (options: { limits: TopicLimits, maxPerSession: number, onSharedDrop: () => void }) {
    this.#limits = options.limits
    this.#maxPerSession = options.maxPerSession
    this.#onSharedDrop = options.onSharedDrop
  }

  /**
   * SUBSCRIBE: one granted QoS or failure code per filter, and what to do after the SUBACK
   * (queue the retained messages [MQTT-3.3.1-6]); null for a protocol error (a shared
   * subscription with No Local [MQTT-3.8.3-4]).
   */
  subscribe (session: Session, p: ISubscribePacket, retained: RetainedStore, nowMs: number, allowed?: (filter: string) => boolean): { codes: number[], afterAck: () => void } | null {
    const v5 = session.protocolVersion === 5
    const subId = p.properties?.subscriptionIdentifier ?? null
    const codes: number[] = []
    const toSend: Delivery[] = []
    for (const s of p.subscriptions) {
      const parsed = parseSubscriptionFilter(s.topic, this.#limits)
      if (typeof parsed === 'string') {
        codes.push(v5 ? Reason.topicFilterInvalid : 0x80)
        continue
      }
      if (parsed.shareGroup !== null && s.nl === true) return null
      if (allowed !== undefined && !allowed(s.topic)) {
        codes.push(v5 ? Reason.notAuthorized : 0x80)
        continue
      }
      const existed = session.subscriptions.get(s.topic)
      if (existed === undefined && session.subscriptions.size >= this.#maxPerSession) {
        codes.push(v5 ? Reason.quotaExceeded : 0x80)
        continue
      }
      const stored: StoredSubscription = { filter: s.topic, qos: s.qos, nl: s.nl === true, rap: s.rap === true, rh: s.rh ?? 0, subId }
      const sub = this.add(session, stored, true)
      codes.push(s.qos)
      // Retained messages: rh 0 always, 1 only for a new subscription, 2 never; never to shares.
      if (parsed.shareGroup === null && (stored.rh === 0 || (stored.rh === 1 && existed === undefined))) {
        for (const m of retained.match(parsed.filter, nowMs)) {
          toSend.push({ message: m, qos: (m.qos < sub.qos ? m.qos : sub.qos), retain: true, subIds: subId === null ? null : [subId], logTopic: '', partition: 0, offset: -1 })
        }
      }
    }
    return { codes, afterAck: () => { if (toSend.length > 0) session.queueRetained(toSend) } }
  }

  /** UNSUBSCRIBE: one reason code per filter. */
  unsubscribe (session: Session, filters: string[]): number[] {
    return filters.map(f => {
      const sub = session.subscriptions.get(f)
      if (sub === undefined) return typeof parseSubscriptionFilter(f, this.#limits) === 'string' ? Reason.topicFilterInvalid : Reason.noSubscriptionExisted
      session.subscriptions.delete(f)
      if (session.output !== null) this.#indexRemove(sub)
      return Reason.success
    })
  }

  /** Adds (or replaces) a session's subscription; `online` puts it in the trie now. */
  add (session: Session, s: StoredSubscription, online: boolean): Subscription {
    const parsed = parseSubscriptionFilter(s.filter, this.#limits)
    const { filter, shareGroup } = typeof parsed === 'string' ? { filter: s.filter, shareGroup: null } : parsed
    const old = session.subscriptions.get(s.filter)
    if (old !== undefined && online) this.#indexRemove(old)
    const sub: Subscription = { kind: 'sub', session, raw: s.filter, filter, shareGroup, qos: s.qos, nl: s.nl, rap: s.rap, rh: s.rh, subId: s.subId }
    session.subscriptions.set(s.filter, sub)
    if (online) this.#indexAdd(sub)
    return sub
  }

  /** A session went live: its subscriptions join the trie. */
  goLive (session: Session): void {
    for (const sub of session.subscriptions.values()) this.#indexAdd(sub)
  }

  /** A session went offline (or ended): its subscriptions leave the trie. */
  goOffline (session: Session): void {
    for (const sub of session.subscriptions.values()) this.#indexRemove(sub)
  }

  #indexAdd (sub: Subscription): void {
    if (sub.shareGroup === null) {
      this.index.add(sub.filter, sub)
      return
    }
    const key = `${sub.shareGroup}\u0000${sub.filter}`
    let group = this.#shares.get(key)
    if (group === undefined) {
      group = new SharedGroup(sub.shareGroup, sub.filter, this.#onSharedDrop)
      this.#shares.set(key, group)
      this.index.add(sub.filter, group)
    }
    group.add(sub)
  }

  #indexRemove (sub: Subscription): void {
    if (sub.shareGroup === null) {
      this.index.remove(sub.filter, sub)
      return
    }
    const key = `${sub.shareGroup}\u0000${sub.filter}`
    const group = this.#shares.get(key)
    if (group === undefined) return
    group.remove(sub)
    if (group.members.length === 0) {
      this.#shares.delete(key)
      this.index.remove(sub.filter, group)
    }
  }
}
