/**
 * Who is asking. Every connection carries a Principal from the moment it is accepted
 * (anonymous until an authenticator says otherwise), and every service call takes a
 * Caller: the principal plus what the authorizer and the logs need to know about where
 * the call came from. The names follow Kafka's (`User:alice`, `User:ANONYMOUS`) so ACLs
 * read the same on every listener.
 */

/** How a principal proved who it is. */
export type AuthMethod =
  | 'anonymous'
  | 'plain'
  | 'scram-sha-256'
  | 'scram-sha-512'
  | 'mtls'
  | 'token'
  | 'mqtt-password'
  | 'session-cookie'
  | 'inter-broker'

export interface Principal {
  /** The principal type; `User` for people and programs, as Kafka's KafkaPrincipal. */
  readonly type: 'User'
  /** The user name, a client certificate's subject, or `ANONYMOUS`. */
  readonly name: string
  readonly method: AuthMethod
  /** A restriction the credential carries (a browser token scoped to a topic prefix); absent = none. */
  readonly scope?: TokenScope
}

/** What a scoped token may reach: topics whose names start with `topicPrefix` (other resources as the ACLs say). */
export interface TokenScope {
  readonly topicPrefix: string
}

/** A frozen `User:<name>` principal. */
export function userPrincipal (name: string, method: AuthMethod, scope?: TokenScope): Principal {
  return Object.freeze(scope === undefined ? { type: 'User', name, method } : { type: 'User', name, method, scope: Object.freeze({ ...scope }) })
}

export const ANONYMOUS: Principal = Object.freeze({ type: 'User', name: 'ANONYMOUS', method: 'anonymous' })

/** `User:alice`: the form ACLs and logs use. */
export function principalString (p: Principal): string {
  return `${p.type}:${p.name}`
}

/** The wire protocols a caller can arrive over (also the `protocol` label of metrics). */
export type ProtocolName = 'native' | 'kafka' | 'mqtt' | 'http' | 'internal'

/** The origin of one service call. */
export interface Caller {
  readonly principal: Principal
  /** The client id the peer sent (native/Kafka request header, MQTT client id); '' if none. */
  readonly clientId: string
  /** The peer's address without the port (ACLs may name a host). */
  readonly host: string
  readonly protocol: ProtocolName
}

/** The broker itself (the group coordinator writing its offsets, MQTT's internal topics, recovery). */
export const INTERNAL_CALLER: Caller = Object.freeze({ principal: Object.freeze({ type: 'User', name: 'spool-internal', method: 'inter-broker' }), clientId: 'spool-broker', host: '', protocol: 'internal' })
