/**
 * What a guarded server reports: one decision per TLS connection, handshake failures, context swaps.
 * Payloads are plain frozen objects, safe to log (no key material; `peer.certificate` is public).
 */
import type { Decision, Peer } from '../authz/authorizer.js'
import type { ConnectError, ErrorCode } from '../errors.js'
import type { TlsErrorReason } from './handshake-error.js'

/** A connection that passed every check; its peer is available through `peerOf`. */
export interface AcceptedConnection {
  readonly allowed: true
  readonly peer: Peer
  readonly decision: Decision
  readonly remoteAddress: string | undefined
  /** The TLS session was resumed (the peer was still re-checked and re-authorized). */
  readonly resumed: boolean
}

/** A connection destroyed before any application byte was read, or a handshake refused while not ready. */
export interface RefusedConnection {
  readonly allowed: false
  /** Why, as a stable code: ERR_CONNECT_CERT_* for certificate defects, ERR_CONNECT_NOT_AUTHORIZED for a deny... */
  readonly code: ErrorCode
  /** A sentence naming the failure (an authorizer's reason, OpenSSL's verification result...). */
  readonly reason: string
  readonly remoteAddress: string | undefined
  readonly resumed: boolean
  /** The verified peer, when the refusal came after verification (authorization, our own leaf expired). */
  readonly peer?: Peer
  /** The authorizer's decision, when it was asked. */
  readonly decision?: Decision
}

export type ConnectionDecision = AcceptedConnection | RefusedConnection

/** A handshake that failed before there was a peer to decide on. */
export interface TlsErrorInfo {
  readonly reason: TlsErrorReason
  /** Node's error code (`ERR_SSL_HTTP_REQUEST`, `ERR_TLS_HANDSHAKE_TIMEOUT`, `ECONNRESET`...). */
  readonly code: string | undefined
  readonly message: string
  readonly remoteAddress: string | undefined
}

/** The server's secure context was rebuilt for a new credentials snapshot. */
export interface ContextChange {
  readonly generation: number
  /** False when the snapshot lacks a leaf or roots: every handshake is then refused. */
  readonly ready: boolean
}

// A type alias (not an interface): EventEmitter's event map needs an index-signature-compatible type.
export type TlsGuardEvents = {
  accepted: [connection: AcceptedConnection]
  refused: [connection: RefusedConnection]
  tlsError: [info: TlsErrorInfo]
  context: [change: ContextChange]
  /** Building the context for a new snapshot failed; the previous context stays in force. */
  contextError: [error: ConnectError]
}
