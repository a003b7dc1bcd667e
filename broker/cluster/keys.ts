/**
 * The etcd key layout of one cluster, under its prefix P (docs/cluster.md describes each key:
 * what it holds and who writes it):
 *
 *   P/brokers/<nodeId>                  broker registration, under the broker's lease
 *   P/election/controller/<leaseId>     controller candidates (etcd3 election), under their campaign leases
 *   P/topics/<topic>                    topic record                       (controller)
 *   P/partitions/<topic>/<partition>    partition state                    (controller)
 *   P/requests/<requestId>              a request to the controller and its answer (any broker asks,
 *                                       the controller answers), under the asker's lease
 *   P/decommissioned/<nodeId>           a broker being drained             (controller)
 *   P/producer-ids                      next free producer-id block        (any broker, CAS)
 *   P/docs/<kind>/<key>                 ACLs, quotas, users, token keys: JSON (any broker, CAS)
 *
 * Topic names never hold '/', so every key parses back unambiguously.
 */

export type DocumentKind = 'acls' | 'quotas' | 'users' | 'token-keys'
export const DOCUMENT_KINDS: readonly DocumentKind[] = ['acls', 'quotas', 'users', 'token-keys']

export type ParsedKey =
  | { kind: 'broker', nodeId: number }
  | { kind: 'candidate', leaseId: string }
  | { kind: 'topic', topic: string }
  | { kind: 'partition', topic: string, partition: number }
  | { kind: 'request', requestId: string }
  | { kind: 'decommissioned', nodeId: number }
  | { kind: 'producerIds' }
  | { kind: 'document', documentKind: DocumentKind, key: string }

const INT = /^(0|[1-9]\d{0,9})$/

export class ClusterKeys {
  readonly prefix: string
  /** Namespace handed to etcd3's election API (it appends `election/<name>/`). */
  readonly electionNamespace: string
  readonly electionName = 'controller'

  constructor (prefix: string) {
    this.prefix = prefix
    this.electionNamespace = `${prefix}/`
  }

  /** Start of the one range every broker watches. */
  get all (): string { return `${this.prefix}/` }
  get brokers (): string { return `${this.prefix}/brokers/` }
  get candidates (): string { return `${this.prefix}/election/controller/` }
  get requests (): string { return `${this.prefix}/requests/` }
  broker (nodeId: number): string { return `${this.prefix}/brokers/${nodeId}` }
  topic (topic: string): string { return `${this.prefix}/topics/${topic}` }
  partition (topic: string, partition: number): string { return `${this.prefix}/partitions/${topic}/${partition}` }
  request (requestId: string): string { return `${this.prefix}/requests/${requestId}` }
  decommissioned (nodeId: number): string { return `${this.prefix}/decommissioned/${nodeId}` }
  get producerIds (): string { return `${this.prefix}/producer-ids` }
  document (kind: DocumentKind, key: string): string { return `${this.prefix}/docs/${kind}/${encodeURIComponent(key)}` }

  /** What a key under the prefix is, or null for keys this version does not know. */
  parse (key: string): ParsedKey | null {
    if (!key.startsWith(this.all)) return null
    const parts = key.slice(this.all.length).split('/')
    const [head, a, b] = parts
    switch (head) {
      case 'brokers':
        return parts.length === 2 && INT.test(a!) ? { kind: 'broker', nodeId: Number(a) } : null
      case 'election':
        return parts.length === 3 && a === this.electionName && b !== '' ? { kind: 'candidate', leaseId: b! } : null
      case 'topics':
        return parts.length === 2 && a !== '' ? { kind: 'topic', topic: a! } : null
      case 'partitions':
        return parts.length === 3 && a !== '' && INT.test(b!) ? { kind: 'partition', topic: a!, partition: Number(b) } : null
      case 'requests':
        return parts.length === 2 && a !== '' ? { kind: 'request', requestId: a! } : null
      case 'decommissioned':
        return parts.length === 2 && INT.test(a!) ? { kind: 'decommissioned', nodeId: Number(a) } : null
      case 'producer-ids':
        return parts.length === 1 ? { kind: 'producerIds' } : null
      case 'docs':
        if (parts.length !== 3 || !(DOCUMENT_KINDS as readonly string[]).includes(a!)) return null
        try {
          return { kind: 'document', documentKind: a as DocumentKind, key: decodeURIComponent(b!) }
        } catch {
          return null
        }
      default:
        return null
    }
  }
}
