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
export { allowAll, denyAll, safeAuthorize } from './authz/authorizer.js'
export type { Authorizer, Decision, Peer, HttpRequestInfo } from './authz/authorizer.js'

// the service facade
export { ConnectService } from './service.js'
export { serviceChannels } from './observe.js'
export type { Logger, LogMethod } from './observe.js'
export type { ConnectServiceOptions, ConnectServiceEvents, ServiceIdentity, ServerOptions, PeerInput } from './service.js'

// credentials sources
export type { Credentials, CredentialsSource, CredentialsChange, CredentialsStatus } from './identity/source.js'
export { agentCredentials, AgentCredentialsSource } from './identity/agent-source.js'
export type { AgentCredentialsOptions, AgentCredentialsWatchOptions, AgentCredentialsCounters } from './identity/agent-source.js'
export { staticCredentials, StaticCredentialsSource } from './identity/static-source.js'
export type { StaticCredentialsInput, BundlePem } from './identity/static-source.js'
export { fileCredentials, FileCredentialsSource } from './identity/file-source.js'
export type { FileCredentialsOptions } from './identity/file-source.js'

// mutual TLS building blocks
export { createTlsServer, createHttpsServer, createHttp2Server, attachTls, tlsGuardOf } from './tls/server.js'
export type { TlsGuard } from './tls/guard.js'
export type { MtlsOptions, TlsServerOptions, HttpsOptions, Http2Options } from './tls/options.js'
export type { AcceptedConnection, RefusedConnection, ConnectionDecision, TlsErrorInfo, ContextChange, TlsGuardEvents } from './tls/guard-events.js'
export { peerOf } from './tls/peer.js'
export { connectTls, clientTlsOptions } from './tls/client.js'
export type { ConnectTlsOptions } from './tls/client.js'
export type { ExpectedService, ServerExpectation } from './tls/expectation.js'

// resolving and dialling mesh services
export { staticResolver } from './net/static-resolver.js'
export type { StaticInstance, StaticInstances, StaticResolverOptions } from './net/static-resolver.js'
export { consulResolver } from './net/consul-resolver.js'
export type { ConsulResolver, ConsulResolverOptions } from './net/consul-resolver.js'
export type { Resolver, Target, ServiceTarget, QueryTarget, Instance, ResolveOptions } from './net/resolver.js'
export { parseMeshHost } from './net/mesh-host.js'
export { dialService } from './net/dial.js'
export type { DialOptions } from './net/dial.js'
export { meshDispatcher, meshFetch } from './net/undici.js'
export type { MeshDispatcherOptions } from './net/undici.js'
export { meshWebSocket } from './net/ws.js'
export type { MeshWebSocketOptions } from './net/ws.js'
export { attachWebSocketServer } from './net/ws-server.js'
export type { AttachWebSocketOptions, MeshWebSocketServer, OnMeshWebSocket, WebSocketAuthorizer, UpgradeRequestInfo } from './net/ws-server.js'

// authorization: intentions, L7, constructors, the agent's authorize, plugin authenticators
export { Intentions } from './authz/intentions.js'
export type { IntentionInput, IntentionsMatchAnswer, ResolvedIntention, SourceService, DecideInput, IntentionsOptions } from './authz/intentions.js'
export { Re2, Re2SyntaxError, RE2_MAX_REPEAT } from './authz/re2.js'
export { HttpPermission, firstMatchingPermission } from './authz/l7.js'
export { authorizeAny, authorizeNone, authorizeServices, authorizeSpiffeIds, authorizeTrustDomain, anyOf, allOf, intentionsAuthorizer } from './authz/constructors.js'
export type { ServiceSelector } from './authz/constructors.js'
export { agentAuthorize } from './authz/agent-authorize.js'
export type { AgentAuthorizeOptions, AgentAuthorizer } from './authz/agent-authorize.js'
export { defaultDecisionFrom, defaultDecisionFromAuthorize, probeDefaultDecision } from './authz/default-policy.js'
export type { DefaultDecision, DefaultPolicySource, DefaultPolicyInput } from './authz/default-policy.js'
export { certificateAuthenticator } from './authz/certificate-authenticator.js'
export type { CertificateAuthenticator, CertificateAuthenticatorOptions, CertificateChainInput, Principal } from './authz/certificate-authenticator.js'
export { LiveIntentions } from './live-intentions.js'
export type { LiveIntentionsOptions } from './live-intentions.js'
export { guardRequests } from './tls/request-guard.js'
export type { DeniedRequest, RequestGuardOptions } from './tls/request-guard.js'
export type { ClosedConnection } from './connection-tracker.js'
