/** The security building blocks the listeners, services and CLI use. */

export * from './principal.js'
export { SCRAM_MECHANISM_NAMES, CredentialStore, validateUserName, type CredentialSource, type CredentialStoreOptions, type UserInfo } from './credentials.js'
export { SASL_MECHANISMS, SaslServer, type SaslFailureReason, type SaslMechanism, type SaslServerOptions, type SaslServerSession, type SaslStep } from './sasl-server.js'
export { TokenService, type IssuedToken, type TokenKeyInfo, type TokenServiceOptions, type VerifiedToken } from './tokens.js'
export * from './acl.js'
export { AclStore } from './acl-store.js'
export {
  AclAuthorizer, AllowAllAuthorizer, DECISIONS, authorizationError,
  type AclAuthorizerOptions, type Authorizer, type AuthorizerStats, type Decision, type DecisionReason, type DenialEvent,
} from './authorizer.js'
export { AuthThrottle, type AuthThrottleOptions, type AuthThrottleStats } from './auth-throttle.js'
export { TlsContextManager, peerPrincipal, type CertificateInfo, type ClientAuth, type TlsFilesOptions } from './tls.js'
export { rfc2253Subject, subjectCommonName } from './x509-name.js'
export { securityDir } from './secure-file.js'
