/**
 * Authorizers decide whether a verified peer may connect (L4) or make a request (L7).
 *
 * An `Authorizer` is a plain synchronous function, as in go-spiffe's tlsconfig: it runs on every connection
 * (resumed sessions included) and must do no I/O. The TLS layer calls it only after the peer's chain verified
 * against the current roots and its single SPIFFE URI SAN parsed; an authorizer that throws denies (fail closed).
 */
import type { SpiffeId } from '../spiffe-id.js'
import type { Certificate } from '../identity/x509.js'

/** A verified peer: what authorizers see. */
export interface Peer {
  /** The peer's parsed SPIFFE ID. */
  readonly id: SpiffeId
  /** The peer's leaf certificate; absent when only a SPIFFE ID was given (e.g. `svc.authorize(uri)`). */
  readonly certificate?: Certificate
}

/** The parts of an HTTP request that L7 intentions match on. */
export interface HttpRequestInfo {
  readonly method: string
  /** The request path without the query string. */
  readonly path: string
  /** Header lookup; names are matched case-insensitively. */
  readonly headers: Readonly<Record<string, string | string[] | undefined>>
}

/** The outcome of an authorization. */
export interface Decision {
  readonly allowed: boolean
  /** Human-readable, names what decided (an intention, the default policy, a missing input). */
  readonly reason: string
  readonly layer: 'L4' | 'L7'
  /** The intention that decided, when one did. */
  readonly intention?: unknown
}

/** Decides one peer (and, for L7, one request). Synchronous and I/O-free. */
export type Authorizer = (peer: Peer, request?: HttpRequestInfo) => Decision

/** Allows every verified peer. */
export function allowAll (): Authorizer {
  const decision: Decision = Object.freeze({ allowed: true, reason: 'allowed: authorizer allows all', layer: 'L4' })
  return () => decision
}

/** Denies every peer: the fail-closed default until intentions are configured. */
export function denyAll (reason = 'denied: no authorizer configured (fail closed)'): Authorizer {
  const decision: Decision = Object.freeze({ allowed: false, reason, layer: 'L4' })
  return () => decision
}

/**
 * Runs an authorizer so that it can never throw or return garbage: an exception or a malformed result denies,
 * with a reason naming the failure.
 */
export function safeAuthorize (authorizer: Authorizer, peer: Peer, request?: HttpRequestInfo): Decision {
  try {
    const decision = authorizer(peer, request)
    if (decision === null || typeof decision !== 'object' || typeof decision.allowed !== 'boolean') {
      return { allowed: false, reason: 'denied: authorizer returned no decision', layer: request ? 'L7' : 'L4' }
    }
    return decision
  } catch (err) {
    return { allowed: false, reason: `denied: authorizer threw: ${(err as Error)?.message ?? String(err)}`, layer: request ? 'L7' : 'L4' }
  }
}
