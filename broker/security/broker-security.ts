/**
 * The broker's security, built once from the settings (broker.ts keeps only a few lines for
 * it): the user store, the token keys, the authenticator every listener uses, the
 * authorizer behind the services' AccessPolicy, the failed-login throttle, and the checks
 * that keep a first run safe.
 *
 * What "authentication configured" means: `--auth` is on, and some principal can
 * authenticate — at least one user in `<dataDir>/security/users.json` (or `--bootstrap-admin`
 * to create the first), or client certificates (`--tls-client-auth requested|required`).
 * With `--auth` off the authorizer allows everything (the first-run behaviour) and the
 * broker must listen on loopback only: a non-loopback `--host` without `--auth` refuses to
 * start before anything listens, unless `--allow-anonymous` says that is intended.
 *
 * With `--auth`: every listener requires a principal (SASL/token on the native protocol and
 * /ws, a password or certificate on MQTT, a login on /api), the ACLs in
 * `<dataDir>/security/acls.json` decide every service call, super users (`--super-users`,
 * and the bootstrap admin) may do everything.
 */

import { randomBytes } from 'node:crypto'
import type { Logger } from 'pino'
import { InvalidConfigError, MetadataConflictError, UserAlreadyExistsError } from '../../protocol/errors.js'
import type { BrokerConfig } from '../config/settings.js'
import type { BrokerMetrics } from '../observability/metrics.js'
import { ALLOW_ALL, type AccessPolicy } from '../services/access.js'
import { AclAccessPolicy } from './access-policy.js'
import { AuthThrottle, type AuthThrottleOptions } from './auth-throttle.js'
import { Authenticator } from './authenticator.js'
import { AclAuthorizer, AllowAllAuthorizer, type Authorizer } from './authorizer.js'
import type { AclEntry } from './acl.js'
import { ClusterAclStore } from './cluster-acls.js'
import { ClusterUserStore, type UserDocument } from './cluster-users.js'
import { CredentialStore, type UserStore } from './credentials.js'
import type { SharedDocuments } from './shared-documents.js'
import { ClusterTokenKeys } from './cluster-token-keys.js'
import { TokenService } from './tokens.js'
import { TlsContextManager, type ClientAuth } from './tls.js'

export interface BrokerSecurityOptions {
  readonly config: BrokerConfig
  readonly logger: Logger
  readonly now: () => number
  /** Failed-login throttle tuning (tests shorten it). */
  readonly throttle?: AuthThrottleOptions
  /** The bootstrap admin's password (the CLI passes SPOOL_ADMIN_PASSWORD); generated when absent. */
  readonly bootstrapPassword?: string
  /** Told the generated bootstrap password, once (the CLI prints it on stderr; it is never logged). */
  readonly onBootstrapPassword?: (user: string, password: string) => void
}

/** Creates the bootstrap admin unless another broker of the cluster did it first. */
async function createBootstrapAdmin (credentials: UserStore, user: string, options: BrokerSecurityOptions): Promise<void> {
  const generated = options.bootstrapPassword === undefined || options.bootstrapPassword === ''
  const password = generated ? randomBytes(18).toString('base64url') : options.bootstrapPassword!
  try {
    await credentials.addUser(user, password)
  } catch (err) {
    if (err instanceof UserAlreadyExistsError || err instanceof MetadataConflictError) return
    throw err
  }
  options.logger.info({ user, generated }, 'bootstrap admin created')
  if (generated) options.onBootstrapPassword?.(user, password)
}

const LOOPBACK = /^(127\.\d{1,3}\.\d{1,3}\.\d{1,3}|::1|localhost|::ffff:127\.\d{1,3}\.\d{1,3}\.\d{1,3})$/i

/** True for an address only this machine can reach. */
export function isLoopbackHost (host: string): boolean {
  return LOOPBACK.test(host)
}

/**
 * Refuses a configuration that would expose the broker without authentication: a
 * non-loopback --host with --auth off and no --allow-anonymous. Checked before anything
 * listens.
 */
export function checkExposure (config: BrokerConfig): void {
  if (config.auth || config.allowAnonymous || isLoopbackHost(config.host)) return
  throw new InvalidConfigError(`--host ${config.host} would let other machines connect with no authentication. ` +
    'Create a user (spool user add admin --data-dir <dir>), then start with --auth --super-users User:admin ' +
    '(or --auth --bootstrap-admin admin); or pass --allow-anonymous to accept anonymous clients anyway')
}

/** Options of TlsContextManager.load from the settings (null when no TLS listener is configured). */
function tlsOptions (config: BrokerConfig, logger: Logger): Parameters<typeof TlsContextManager.load>[0] | null {
  if (config.tlsPort === null && config.kafkaTlsPort === null && config.httpsPort === null && config.mqttTlsPort === null) return null
  return {
    certFile: config.tlsCertFile!,
    keyFile: config.tlsKeyFile!,
    ...(config.tlsCaFile === null ? {} : { caFile: config.tlsCaFile }),
    clientAuth: config.tlsClientAuth as ClientAuth,
    principalFrom: config.tlsPrincipal as 'dn' | 'cn',
    logger,
  }
}

/** Cluster mode: the cluster's user and ACL documents, and who this broker is to its peers. */
export interface ClusterSecurityBinding {
  readonly users: SharedDocuments<UserDocument>
  readonly acls: SharedDocuments<AclEntry>
  /** The token signing keys (cluster-token-keys.ts). */
  readonly tokenKeys: SharedDocuments<unknown>
  /** --auth: the inter-broker user and password (created in the cluster if absent). */
  readonly interBroker: { readonly username: string, readonly password: string } | null
}

type Init = Omit<BrokerSecurity, 'registerMetrics' | 'close' | 'bindCluster' | 'isInterBroker'> & {
  readonly clusterUsers: ClusterUserStore | null
  readonly clusterTokenKeys: ClusterTokenKeys | null
  readonly clusterAcls: ClusterAclStore | null
  readonly options: BrokerSecurityOptions
}

export class BrokerSecurity {
  /** --auth: principals required on every listener, ACLs enforced. */
  readonly required: boolean
  /** users.json on a single broker, the cluster's user documents in cluster mode. */
  readonly credentials: UserStore
  readonly tokens: TokenService
  readonly throttle: AuthThrottle
  readonly authenticator: Authenticator
  readonly authorizer: Authorizer
  /** What the services ask: ALLOW_ALL without --auth, the ACLs with it. */
  readonly access: AccessPolicy
  /** The certificate of the TLS listeners, null when none is configured. */
  readonly tls: TlsContextManager | null
  readonly superUsers: readonly string[]
  /** Cluster mode with --auth: the principal (`User:<name>`) other brokers authenticate as, else null. */
  readonly interBrokerPrincipal: string | null
  readonly #clusterUsers: ClusterUserStore | null
  readonly #clusterAcls: ClusterAclStore | null
  readonly #clusterTokenKeys: ClusterTokenKeys | null
  readonly #options: BrokerSecurityOptions

  private constructor (init: Init) {
    this.interBrokerPrincipal = init.interBrokerPrincipal
    this.#clusterUsers = init.clusterUsers
    this.#clusterAcls = init.clusterAcls
    this.#clusterTokenKeys = init.clusterTokenKeys
    this.#options = init.options
    this.required = init.required
    this.credentials = init.credentials
    this.tokens = init.tokens
    this.throttle = init.throttle
    this.authenticator = init.authenticator
    this.authorizer = init.authorizer
    this.access = init.access
    this.tls = init.tls
    this.superUsers = init.superUsers
  }

  /**
   * Checks the exposure rule, opens the security files, creates the bootstrap admin if asked.
   * In cluster mode (etcdEndpoints) users and ACLs live in etcd instead: the stores are empty
   * until bindCluster connects them, which also creates the bootstrap admin once cluster-wide.
   */
  static async open (options: BrokerSecurityOptions): Promise<BrokerSecurity> {
    const { config, logger, now } = options
    checkExposure(config)
    const clustered = config.etcdEndpoints !== null
    const clusterUsers = clustered ? new ClusterUserStore({ now }) : null
    const clusterAcls = clustered ? new ClusterAclStore() : null
    const credentials: UserStore = clusterUsers ?? CredentialStore.open({ dataDir: config.dataDir, logger, now })
    // In a cluster the signing keys are etcd documents too, so a token verifies at every broker.
    const clusterTokenKeys = clustered ? new ClusterTokenKeys({ logger }) : null
    const tokens = TokenService.open({ dataDir: config.dataDir, ...(clusterTokenKeys === null ? {} : { keys: clusterTokenKeys }), logger, now })
    const interBrokerPrincipal = clustered && config.auth && config.interBrokerUser !== null ? `User:${config.interBrokerUser}` : null
    const superUsers = [...new Set([
      ...(config.superUsers ?? []),
      ...(config.bootstrapAdmin === null ? [] : [`User:${config.bootstrapAdmin}`]),
      ...(interBrokerPrincipal === null ? [] : [interBrokerPrincipal]),
    ])]
    if (!clustered && config.auth && config.bootstrapAdmin !== null && credentials.listUsers().length === 0) {
      await createBootstrapAdmin(credentials, config.bootstrapAdmin, options)
    }
    if (!clustered && config.auth && credentials.listUsers().length === 0 && config.tlsClientAuth === 'none') {
      throw new InvalidConfigError(`--auth is on but no user exists in ${credentials.location}, so nobody could connect: ` +
        'create one with spool user add admin --data-dir <dir> (and --super-users User:admin), or start with --bootstrap-admin admin')
    }
    const tlsSettings = tlsOptions(config, logger)
    const tls = tlsSettings === null ? null : TlsContextManager.load(tlsSettings)
    const throttle = new AuthThrottle({ now, ...options.throttle })
    const authenticator = new Authenticator({ credentials, tokens, throttle, plainWithoutTls: config.saslPlainWithoutTls, logger })
    let authorizer: Authorizer
    let access: AccessPolicy
    if (config.auth) {
      const acl = AclAuthorizer.open({
        dataDir: config.dataDir, superUsers, allowEveryoneIfNoAclFound: config.allowEveryoneIfNoAclFound, logger, now,
        ...(clusterAcls === null ? {} : { repository: clusterAcls }),
      })
      authorizer = acl
      access = new AclAccessPolicy(acl)
    } else {
      authorizer = new AllowAllAuthorizer()
      access = ALLOW_ALL
    }
    logger.info({ auth: config.auth, superUsers, users: clustered ? 'cluster' : credentials.listUsers().length, tls: tls?.certificate.subject }, 'security ready')
    return new BrokerSecurity({
      required: config.auth, credentials, tokens, throttle, authenticator, authorizer, access, tls, superUsers, interBrokerPrincipal, clusterUsers, clusterAcls, clusterTokenKeys, options,
    })
  }

  /** True for the inter-broker principal (`User:<interBrokerUser>`): exempt from quotas. */
  isInterBroker (principal: string): boolean {
    return this.interBrokerPrincipal !== null && principal === this.interBrokerPrincipal
  }

  /**
   * Cluster mode, once the broker has joined: the user and ACL stores read and write the
   * cluster's documents from now on. With --auth the inter-broker user is created if the
   * cluster has none (with this broker's password; one that exists is never overwritten —
   * a broker whose password differs cannot authenticate to its peers and says so here), and
   * the bootstrap admin if the cluster has no user yet. Both creations are conditioned on
   * the key being absent, so brokers starting together create each user once.
   */
  async bindCluster (binding: ClusterSecurityBinding): Promise<void> {
    const users = this.#clusterUsers
    if (users === null || this.#clusterAcls === null) throw new InvalidConfigError('bindCluster: this broker is not in cluster mode')
    const { config, logger } = this.#options
    users.bind(binding.users)
    this.#clusterAcls.bind(binding.acls)
    this.#clusterTokenKeys?.bind(binding.tokenKeys)
    if (!config.auth) return
    if (config.bootstrapAdmin !== null && users.listUsers().length === 0) {
      await createBootstrapAdmin(users, config.bootstrapAdmin, this.#options)
    }
    const ib = binding.interBroker
    if (ib !== null) {
      if (!users.hasUser(ib.username)) {
        try {
          await users.addUser(ib.username, ib.password)
          logger.info({ user: ib.username }, 'inter-broker user created in the cluster')
        } catch (err) {
          if (!(err instanceof UserAlreadyExistsError)) throw err
          // Another broker created it at the same moment; its document reaches this cache shortly.
          for (let i = 0; i < 100 && !users.hasUser(ib.username); i++) await new Promise(resolve => setTimeout(resolve, 50))
        }
      }
      if (!await users.verifyPassword(ib.username, ib.password)) {
        logger.error({ user: ib.username }, 'the inter-broker password does not match the cluster\'s user: the other brokers will refuse this broker\'s replica fetches (check --inter-broker-password-file)')
      }
    }
  }

  /** The security series on /metrics. */
  registerMetrics (metrics: BrokerMetrics): void {
    const stats = this.authenticator.stats
    const split = (key: string): { protocol: string, mechanism: string } => {
      const [protocol, mechanism] = key.split('\u0000') as [string, string]
      return { protocol, mechanism }
    }
    metrics.counter('spool_authentications_total', 'Authentication attempts, by protocol, mechanism and result', ['protocol', 'mechanism', 'result'], function * () {
      for (const [k, n] of stats.successes) yield [{ ...split(k), result: 'success' }, n]
      for (const [k, n] of stats.failures) yield [{ ...split(k), result: 'failure' }, n]
    })
    const throttle = this.throttle
    metrics.counter('spool_authentication_throttled_total', 'Authentication attempts delayed because their address failed before', [], () => [[{}, throttle.stats.delayed]])
    metrics.gauge('spool_authentication_throttled_hosts', 'Addresses with recent failed authentications', [], () => [[{}, throttle.stats.hosts]])
    const authorizer = this.authorizer
    if (authorizer instanceof AclAuthorizer) {
      const s = authorizer.stats
      metrics.counter('spool_authorization_decisions_total', 'Authorization decisions of service calls, by result', ['result'], () => [[{ result: 'allowed' }, s.allowed], [{ result: 'denied' }, s.denied]])
      metrics.counter('spool_authorization_denied_total', 'Service calls denied by the ACLs, by resource type', ['resource_type'], function * () {
        for (const [type, n] of Object.entries(s.deniedByResourceType)) yield [{ resource_type: type }, n]
      })
      metrics.gauge('spool_authorization_cache_entries', 'Authorization decisions cached', [], () => [[{}, s.cacheEntries]])
    }
    const tls = this.tls
    if (tls !== null) {
      metrics.counter('spool_tls_reloads_total', 'TLS certificate reloads, by result', ['result'], () => [[{ result: 'success' }, tls.reloads], [{ result: 'failure' }, tls.reloadFailures]])
      metrics.gauge('spool_tls_certificate_expiry_seconds', 'When the served TLS certificate expires (seconds since the epoch)', [], () => [[{}, Date.parse(tls.certificate.validTo) / 1000]])
    }
  }

  close (): void {
    this.authorizer.close()
    this.#clusterTokenKeys?.close()
    this.tls?.close()
  }
}
