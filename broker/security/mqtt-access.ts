/**
 * MQTT clients against the one user store and the one set of ACLs.
 *
 * Authentication (CONNECT's authenticate step, protocols/mqtt/connect.ts):
 *   - a user name and password: checked against the user store (throttled and logged like
 *     every login); wrong → CONNACK 0x86 Bad User Name or Password (3.1.1: 4);
 *   - no user name, on a TLS listener with a verified client certificate: the certificate's
 *     subject (or CN, with --tls-principal cn) is the principal;
 *   - neither: with --auth, CONNACK 0x87 Not Authorized (3.1.1: 5).
 *   MQTT 5 enhanced authentication (an Authentication Method) is answered 0x8C Bad
 *   Authentication Method by the check step: not supported.
 *
 * Authorization: what an MQTT ACL names. MQTT topics are not Kafka resources: every MQTT
 * topic lands in a log topic (the default `mqtt`, or the first `--mqtt-map` rule that
 * matches), and the ACLs name those log topics, as for every other protocol. So
 *   - PUBLISH (a retained one too, and the will, checked at CONNECT) needs `write` on the
 *     log topic the message routes to;
 *   - SUBSCRIBE needs `read` on every log topic its filter can reach: the log topic of each
 *     rule whose filter overlaps it, and the default log topic unless one rule's filter
 *     covers it whole (a conservative reading: never more than the ACLs grant).
 * To give teams different MQTT topics, route them to different log topics with --mqtt-map
 * (`factory-a/#=factory-a`) and write ACLs on those. A denied PUBLISH is answered 0x87
 * (MQTT 5 QoS 1/2; 3.1.1 gets a positive acknowledgement and the message is dropped, as
 * [MQTT-3.3.5-2] allows), a denied filter gets SUBACK 0x87 (3.1.1: 0x80). A persistent
 * session taken over by a connection keeps only the subscriptions its principal may make.
 */

import type { Peer } from '../network/channel.js'
import type { AccessPolicy } from '../services/access.js'
import type { Authenticator } from './authenticator.js'
import { userPrincipal, type Caller, type Principal } from './principal.js'
import { rfc2253Subject, subjectCommonName } from './x509-name.js'

/** MQTT 5 CONNACK reason codes of a refused login (3.1.1: return codes 4 and 5). */
export const BAD_USER_NAME_OR_PASSWORD = 0x86
export const NOT_AUTHORIZED = 0x87

export type MqttLogin = Principal | { reason: number, why: string }

/** `User:<subject>` (or `User:<CN>`) of the peer's verified TLS client certificate, else null. */
export function certificatePrincipal (peer: Peer, from: 'dn' | 'cn'): Principal | null {
  const cert = peer.certificate()
  if (cert === null || cert.raw === undefined) return null
  const der = new Uint8Array(cert.raw)
  const name = from === 'cn' ? subjectCommonName(der) : rfc2253Subject(der)
  return name === null || name.length === 0 ? null : userPrincipal(name, 'mtls')
}

/** The gateway's authenticator when --auth is on (without --auth MQTT clients stay anonymous, as before). */
export function mqttAuthenticator (authenticator: Authenticator, principalFrom: 'dn' | 'cn') {
  return async (c: { username: string | null, password: Uint8Array | null, peer: Peer }): Promise<MqttLogin> => {
    const context = { peer: c.peer, protocol: 'mqtt' as const }
    if (c.username !== null && c.username !== '') {
      const password = c.password === null ? '' : Buffer.from(c.password).toString('utf8')
      const principal = await authenticator.password(c.username, password, context, 'mqtt-password', 'mqtt-password')
      return principal ?? { reason: BAD_USER_NAME_OR_PASSWORD, why: 'bad user name or password' }
    }
    const cert = certificatePrincipal(c.peer, principalFrom)
    if (cert !== null) return cert
    return { reason: NOT_AUTHORIZED, why: 'no user name and no client certificate: anonymous clients are refused (--auth)' }
  }
}

export interface MqttRouteRule {
  readonly filter: string
  readonly logTopic: string
}

/** The ACL checks of the MQTT gateway's paths (see the file header). */
export class MqttAccess {
  readonly #access: AccessPolicy
  readonly #rules: readonly MqttRouteRule[]
  readonly #defaultLogTopic: string

  constructor (access: AccessPolicy, rules: readonly MqttRouteRule[], defaultLogTopic: string) {
    this.#access = access
    this.#rules = rules
    this.#defaultLogTopic = defaultLogTopic
  }

  /** May `caller` publish to MQTT topic `topic`, which routes to `logTopic`? (Denials are logged and counted.) */
  publish (caller: Caller, logTopic: string, _topic: string): boolean {
    return this.#allowed(caller, 'write', logTopic)
  }

  /** May `caller` subscribe to `filter` (`$share/<group>/` stripped)? */
  subscribe (caller: Caller, filter: string): boolean {
    for (const logTopic of this.reachable(filter)) if (!this.#allowed(caller, 'read', logTopic)) return false
    return true
  }

  /** The log topics a subscription filter can receive messages from. */
  reachable (filter: string): string[] {
    const f = filter.startsWith('$share/') ? filter.split('/').slice(2).join('/') : filter
    const out = new Set<string>()
    for (const r of this.#rules) if (filtersOverlap(f, r.filter)) out.add(r.logTopic)
    if (!this.#rules.some(r => filterCovers(r.filter, f))) out.add(this.#defaultLogTopic)
    return [...out]
  }

  #allowed (caller: Caller, operation: 'read' | 'write', logTopic: string): boolean {
    try {
      this.#access.check(caller, operation, 'topic', logTopic)
      return true
    } catch {
      return false
    }
  }
}

/** Whether some topic name matches both filters. */
export function filtersOverlap (a: string, b: string): boolean {
  const x = a.split('/')
  const y = b.split('/')
  for (let i = 0; ; i++) {
    const p = x[i]
    const q = y[i]
    if (p === '#' || q === '#') return true // `a/#` also matches `a` itself
    if (p === undefined || q === undefined) return p === q // one ended, the other goes on without #
    if (p !== '+' && q !== '+' && p !== q) return false
  }
}

/** Whether every topic name that `inner` matches also matches `outer`. */
export function filterCovers (outer: string, inner: string): boolean {
  const o = outer.split('/')
  const n = inner.split('/')
  for (let i = 0; ; i++) {
    const p = o[i]
    const q = n[i]
    if (p === '#') return true
    if (q === '#') return false
    if (p === undefined || q === undefined) return p === q
    if (p === '+') continue
    if (q === '+' || p !== q) return false
  }
}
