/**
 * consul-connect-native: the public API. Every export is named here explicitly; test helpers live on the
 * `consul-connect-native/testing` subpath.
 */

// errors
export { ConnectError, InvalidOptionError, SpiffeIdError, CertificateError, AgentError, AuthorizationError, ErrorCodes, hasCode } from './errors.js'
export type { ErrorCode, CertificateErrorCode, AgentErrorCode, AgentErrorOptions, ConnectErrorOptions } from './errors.js'

// SPIFFE IDs
export { parseSpiffeId, formatSpiffeId, isSpiffeId, serviceId, sameService } from './spiffe-id.js'
export type { SpiffeId, SpiffeIdKind, SpiffeIdInput, ServiceId, AgentId, ServerId, MeshGatewayId, SigningId, SameServiceOptions } from './spiffe-id.js'

// certificates and trust
export { parseCertificate, parseCertificates, formatSerial, spiffeUriOf, peerSpiffeUri } from './identity/x509.js'
export type { Certificate, KeyUsageName } from './identity/x509.js'
export { verifyChain, assertChain } from './identity/verify.js'
export type { ChainUsage, ChainResult, VerifyChainOptions } from './identity/verify.js'
export { TrustBundle } from './identity/bundle.js'
export { Identity } from './identity/identity.js'
export type { IdentityPem } from './identity/identity.js'

// the Consul agent
export { AgentClient } from './agent/client.js'
export type { AgentRequest, AgentResponse, CallOptions, QueryValue } from './agent/client.js'
export { agentOptionsFromEnv } from './agent/env.js'
export type { AgentClientOptions, AgentTlsOptions } from './agent/options.js'
export type { AgentResponseMeta } from './agent/response-meta.js'
export { BlockingQuery } from './agent/blocking-query.js'
export type { BlockingQueryOptions, WatchOptions, QuerySnapshot, QueryCounters, QueryErrorInfo, QueryRequestInfo, BlockingQueryEvents } from './agent/blocking-query.js'
export type { BackoffOptions, JitterMode } from './agent/backoff.js'
export type { RateLimitOptions } from './agent/rate-limiter.js'
export { watchRoots, watchLeaf, watchIntentions, watchHealthConnect } from './agent/watchers.js'
export type { WatcherOptions, IntentionsWatchOptions, HealthConnectWatchOptions } from './agent/watchers.js'
export type {
  CaRoot, CaRoots, LeafCert, Intention, IntentionPermission, IntentionHttpMatch, IntentionHeaderMatch, IntentionsMatch,
  AuthorizeAnswer, IntentionCheckAnswer, HealthServiceEntry, HealthCheck, HealthConnectAnswer, AgentSelf
} from './agent/schemas.js'

// authorization building blocks
export { intentionPrecedence, compareIntentions, sortIntentions } from './authz/precedence.js'
