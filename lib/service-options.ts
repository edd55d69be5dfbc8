/**
 * The types, option validation and pure helpers of ConnectService (service.ts): what it accepts, what it
 * emits and reports, and the conversions it needs. No state lives here.
 */
import { X509Certificate } from 'node:crypto'
import { z } from 'zod'
import { AgentClient } from './agent/client.js'
import type { AgentClientOptions } from './agent/options.js'
import { safeAuthorize } from './authz/authorizer.js'
import type { Authorizer, Peer } from './authz/authorizer.js'
import type { Intentions } from './authz/intentions.js'
import type { ClosedConnection } from './connection-tracker.js'
import { InvalidOptionError } from './errors.js'
import type { ConnectError } from './errors.js'
import type { AgentCredentialsWatchOptions } from './identity/agent-source.js'
import type { Credentials, CredentialsSource } from './identity/source.js'
import { parseCertificate, spiffeUriOf } from './identity/x509.js'
import type { Certificate } from './identity/x509.js'
import type { Resolver } from './net/resolver.js'
import type { MeshDispatcherOptions } from './net/undici.js'
import { isLogger } from './observe.js'
import type { Logger } from './observe.js'
import { parseSpiffeId } from './spiffe-id.js'
import type { SpiffeId } from './spiffe-id.js'
import type { RefusedConnection, TlsErrorInfo } from './tls/guard-events.js'
import type { DeniedRequest } from './tls/request-guard.js'

/** What `identity` reports about the current leaf. Frozen. */
export interface ServiceIdentity {
  /** The leaf's SPIFFE ID URI. */
  readonly spiffeId: string
  /** The parsed SPIFFE ID. */
  readonly id: SpiffeId
  readonly service: string
  readonly namespace: string
  readonly partition: string
  readonly datacenter: string
  readonly trustDomain: string
  /** Leaf serial, Consul colon-hex. */
  readonly serial: string
  readonly validAfter: Date
  readonly validBefore: Date
  /** Leaf then intermediates, PEM. */
  readonly certPem: string
}

export interface ConnectServiceOptions {
  /** The service name this process runs as (its leaf is issued for it). Required. */
  readonly service: string
  /**
   * How to reach the local agent: options (merged over the `CONSUL_*` environment) or an `AgentClient` you own.
   * Default: everything from the environment.
   */
  readonly agent?: AgentClientOptions | AgentClient
  /** Where the leaf and roots come from. Default: the agent (live, watched). Pass `staticCredentials(...)` or
   * `fileCredentials(...)` to run from fixed or file-based certificates. */
  readonly credentials?: CredentialsSource
  /**
   * Decides every inbound connection (and, on HTTP servers, every request). Default: the service's intentions,
   * watched from the agent and decided in-process with Consul's semantics.
   */
  readonly authorizer?: Authorizer
  /** Settings of the default intentions authorizer (ignored when `authorizer` is given). */
  readonly intentions?: {
    /** Decision when no intention matches. Default: learned from the agent (default_intention_policy, else the ACL default). */
    readonly defaultAllow?: boolean
  }
  /**
   * Live enforcement: when the intentions change, re-decide every open connection and close those now denied
   * (event 'connectionClosed' with the reason). Default false, as in Consul and its sidecars.
   */
  readonly liveEnforcement?: boolean
  /** Close any inbound connection older than this, ms (event 'connectionClosed'). Default: no limit. */
  readonly maxConnectionLifetimeMs?: number
  /** Resolves mesh targets for `dial`, `fetch` and `webSocket`. Default: the agent's health/connect answers. */
  readonly resolver?: Resolver
  /** Handshake timeout of the servers this service creates or attaches to, ms. Default 10 000. */
  readonly handshakeTimeoutMs?: number
  /** Tuning of the leaf and roots watches (backoff, rate limit, wait). */
  readonly watch?: AgentCredentialsWatchOptions
  /** Options of the undici dispatcher behind `fetch` and `dispatcher()`. */
  readonly dispatcher?: Omit<MeshDispatcherOptions, 'source' | 'resolver'>
  /**
   * Where to log the service's events (ready, new leaf and roots, intention changes, closed connections at
   * `info`; refusals and denials at `debug`; failed updates at `warn`, an expired leaf at `error`). Any object
   * with some of `debug`, `info`, `warn`, `error` as `(message, fields) => void`, e.g. `console`. Default: none.
   */
  readonly logger?: Logger
}

// A type alias: EventEmitter's event map wants an index-signature-compatible type.
export type ConnectServiceEvents = {
  /** Leaf, roots and (with the default authorizer) intentions are loaded: servers accept and clients dial. */
  ready: []
  /** A new leaf is in use for new connections (renewal or re-issue after a root rotation). */
  leaf: [identity: ServiceIdentity]
  /** The trusted roots changed (rotation, pruning). */
  roots: [info: { trustDomain: string, roots: number }]
  /** An update failed and was discarded; the last good state keeps serving. Only emitted when listened to. */
  error: [error: ConnectError]
  /** A connection was refused, with its reason. */
  refused: [event: RefusedConnection]
  /** A handshake failed before any decision (plain bytes, no shared protocol, timeout). */
  tlsError: [info: TlsErrorInfo]
  /** An HTTP request (or WebSocket upgrade) was answered 403 by L7 authorization. */
  requestDenied: [denied: DeniedRequest]
  /** An open connection was closed by live enforcement or its maximum lifetime. */
  connectionClosed: [closed: ClosedConnection]
  /** The intentions in force changed (only with the default intentions authorizer). */
  intentions: [intentions: Intentions]
}

const optionsSchema = z.looseObject({
  service: z.string().min(1, 'must be a non-empty service name').regex(/^[^/\s]+$/, 'must not contain "/" or whitespace'),
  agent: z.union([z.instanceof(AgentClient), z.record(z.string(), z.unknown())]).optional(),
  credentials: z.custom<CredentialsSource>((v) => typeof v === 'object' && v !== null && 'credentials' in v && typeof (v as CredentialsSource).onChange === 'function', 'expected a CredentialsSource').optional(),
  authorizer: z.custom<Authorizer>((v) => typeof v === 'function', 'expected a function (peer, request?) => Decision').optional(),
  resolver: z.custom<Resolver>((v) => typeof v === 'object' && v !== null && typeof (v as Resolver).resolve === 'function', 'expected an object with a resolve() method').optional(),
  handshakeTimeoutMs: z.number().int().positive().optional(),
  intentions: z.looseObject({ defaultAllow: z.boolean().optional() }).optional(),
  liveEnforcement: z.boolean().optional(),
  maxConnectionLifetimeMs: z.number().int().positive().optional(),
  watch: z.record(z.string(), z.unknown()).optional(),
  dispatcher: z.record(z.string(), z.unknown()).optional(),
  logger: z.custom<Logger>(isLogger, 'expected an object whose debug, info, warn and error, when present, are functions').optional()
})

/** Validates `options` eagerly; throws InvalidOptionError naming the first bad field. */
export function validateServiceOptions (options: ConnectServiceOptions): void {
  const parsed = optionsSchema.safeParse(options)
  if (!parsed.success) {
    const issue = parsed.error.issues[0]
    const field = issue?.path.join('.') || 'options'
    throw new InvalidOptionError(field, issue?.message ?? 'invalid', { cause: parsed.error })
  }
}

/** Inputs `authorize` accepts for the peer. */
export type PeerInput = string | SpiffeId | Certificate | X509Certificate | Uint8Array

/** Options for `createServer`. */
export interface ServerOptions {
  /** Further Node server options (timeouts, limits); credentials, ALPN and verification are the library's. */
  readonly serverOptions?: Record<string, unknown>
}

/**
 * The connection-time authorizer of HTTP servers: a connection whose deciding intention has L7 permissions is
 * accepted, because each of its requests is then decided with the request (the request guard). Any other
 * decision stands as is.
 */
export function httpConnectionAuthorizer (authorizer: Authorizer): Authorizer {
  return (peer) => {
    const decision = safeAuthorize(authorizer, peer)
    if (decision.allowed) return decision
    const permissions = (decision.intention as { Permissions?: readonly unknown[] } | undefined)?.Permissions
    if (permissions !== undefined && permissions.length > 0) {
      return { allowed: true, reason: `${decision.reason}; connection accepted, each request is decided`, layer: 'L4', intention: decision.intention }
    }
    return decision
  }
}


/** The frozen summary of the current leaf that `identity` reports. */
export function summarise (credentials: Credentials): ServiceIdentity | undefined {
  const identity = credentials.identity
  if (identity === undefined) return undefined
  const id = parseSpiffeId(identity.spiffeId)
  return Object.freeze({
    spiffeId: identity.spiffeId,
    id,
    service: id.kind === 'service' ? id.service : '',
    namespace: id.kind === 'service' ? id.namespace : '',
    partition: id.kind === 'service' || id.kind === 'agent' || id.kind === 'mesh-gateway' ? id.partition : 'default',
    datacenter: id.kind === 'signing' ? '' : id.datacenter,
    trustDomain: id.trustDomain,
    serial: identity.serial,
    validAfter: identity.validAfter,
    validBefore: identity.validBefore,
    certPem: identity.certPem
  })
}

/** The peer `authorize` decides, from a SPIFFE ID or a certificate in any accepted form. */
export function toPeer (input: PeerInput): Peer {
  if (typeof input === 'string') {
    if (input.startsWith('spiffe://')) return { id: parseSpiffeId(input) } as Peer
    const certificate = parseCertificate(input)
    return { id: parseSpiffeId(spiffeUriOf(certificate)), certificate }
  }
  if (input instanceof X509Certificate || input instanceof Uint8Array) {
    const certificate = parseCertificate(input)
    return { id: parseSpiffeId(spiffeUriOf(certificate)), certificate }
  }
  if (typeof input === 'object' && input !== null && 'kind' in input && 'uri' in input) return { id: input } as Peer
  if (typeof input === 'object' && input !== null && 'der' in input && 'uriSans' in input) {
    return { id: parseSpiffeId(spiffeUriOf(input)), certificate: input }
  }
  throw new InvalidOptionError('peer', 'expected a certificate (PEM, DER, X509Certificate) or a SPIFFE ID')
}
