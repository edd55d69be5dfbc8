/**
 * Errors raised by consul-connect-native.
 *
 * Every error is a {@link ConnectError} with a stable `code` (`ERR_CONNECT_*`) that callers may switch on;
 * messages read like a path (`fetching leaf for "web": agent answered 403: Permission denied`) and may
 * change between releases, codes do not. The original failure, when there is one, is kept as `cause`.
 *
 * `instanceof` works across copies of this package (two versions in one `node_modules` tree) through a
 * `Symbol.for` brand, as undici does for its errors.
 *
 * Every code is listed in {@link ErrorCodes} and documented in docs/errors.md; a test keeps the two in step.
 */

/** Every error code this library raises, with a one-line summary. */
export const ErrorCodes = {
  // options and input
  ERR_CONNECT_INVALID_OPTION: 'an option passed to the library is missing or invalid',
  ERR_CONNECT_ABORTED: 'the operation was aborted through its AbortSignal',
  ERR_CONNECT_CLOSED: 'the object was used after close()',
  // SPIFFE IDs
  ERR_CONNECT_SPIFFE_ID_INVALID: 'a string is not a well-formed SPIFFE ID',
  ERR_CONNECT_SPIFFE_ID_UNSUPPORTED: 'a well-formed SPIFFE ID is not one of the kinds Consul issues',
  // certificates and chains
  ERR_CONNECT_CERT_PARSE: 'a certificate or key could not be parsed (PEM/DER)',
  ERR_CONNECT_CERT_EXPIRED: 'a certificate in the chain is past its notAfter',
  ERR_CONNECT_CERT_NOT_YET_VALID: 'a certificate in the chain is before its notBefore',
  ERR_CONNECT_CERT_UNKNOWN_ISSUER: 'the chain does not lead to a trusted root',
  ERR_CONNECT_CERT_BAD_SIGNATURE: 'a certificate signature does not verify with its issuer key',
  ERR_CONNECT_CERT_NOT_CA: 'an issuing certificate is not a CA (basicConstraints/keyUsage)',
  ERR_CONNECT_CERT_WRONG_USAGE: 'a leaf lacks the key usage or extended key usage needed',
  ERR_CONNECT_CERT_SAN: 'a certificate does not carry exactly one valid SPIFFE URI SAN',
  ERR_CONNECT_CERT_KEY_MISMATCH: 'a private key does not match its certificate',
  ERR_CONNECT_NO_ROOTS: 'no trusted CA roots are available',
  ERR_CONNECT_CREDENTIALS_FILE: 'a certificate, key or roots file could not be read or watched',
  // the agent
  ERR_CONNECT_AGENT_UNREACHABLE: 'the Consul agent could not be reached',
  ERR_CONNECT_AGENT_TIMEOUT: 'the Consul agent did not answer in time',
  ERR_CONNECT_AGENT_PERMISSION_DENIED: 'the Consul agent refused the token (HTTP 403)',
  ERR_CONNECT_AGENT_NOT_FOUND: 'the Consul agent answered 404 for the resource',
  ERR_CONNECT_AGENT_HTTP: 'the Consul agent answered with an unexpected HTTP status',
  ERR_CONNECT_AGENT_INVALID_ANSWER: 'the Consul agent answered with a body that is not the expected shape',
  ERR_CONNECT_AGENT_CONFIG: 'the agent connection settings (address, TLS files, token file) are unusable',
  // the service
  ERR_CONNECT_NOT_READY: 'the service has no leaf certificate or no CA roots yet',
  ERR_CONNECT_LEAF_EXPIRED: 'the service leaf certificate has expired and no fresh one has arrived',
  ERR_CONNECT_NOT_AUTHORIZED: 'authorization denied the connection or request',
  ERR_CONNECT_PEER_VERIFICATION: 'the peer identity does not match what was expected',
  ERR_CONNECT_NO_INSTANCES: 'no healthy instance of the target service was found',
  ERR_CONNECT_TIMEOUT: 'a connection or TLS handshake to a mesh peer did not complete in time',
  ERR_CONNECT_INTENTION_INVALID: 'an intention in an answer is malformed',
} as const

export type ErrorCode = keyof typeof ErrorCodes

const kConnectError = Symbol.for('consul-connect-native.error')

export interface ConnectErrorOptions {
  cause?: unknown
}

/** Base class of every error this library raises. */
export class ConnectError extends Error {
  readonly code: ErrorCode

  constructor (code: ErrorCode, message: string, options?: ConnectErrorOptions) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause })
    this.name = 'ConnectError'
    this.code = code
    Object.defineProperty(this, kConnectError, { value: true })
  }

  static override [Symbol.hasInstance] (instance: unknown): boolean {
    return isBranded(instance, kConnectError) && (this === ConnectError || isSubclassInstance(this, instance))
  }
}

function isBranded (instance: unknown, brand: symbol): boolean {
  return typeof instance === 'object' && instance !== null && (instance as Record<symbol, unknown>)[brand] === true
}

function isSubclassInstance (ctor: unknown, instance: unknown): boolean {
  // For subclasses, fall back to the prototype chain, but compare by name so copies match too.
  const name = (ctor as { prototype?: { name?: string }, name?: string }).name
  for (let p = Object.getPrototypeOf(instance); p != null; p = Object.getPrototypeOf(p)) {
    if (p.constructor?.name === name) return true
  }
  return false
}

/** An option is missing or invalid. `field` names it with a dotted path (`agent.address`). */
export class InvalidOptionError extends ConnectError {
  readonly field: string
  constructor (field: string, message: string, options?: ConnectErrorOptions) {
    super('ERR_CONNECT_INVALID_OPTION', `invalid option "${field}": ${message}`, options)
    this.name = 'InvalidOptionError'
    this.field = field
  }
}

/** A string is not a SPIFFE ID, or not one Consul issues. `input` is the offending string. */
export class SpiffeIdError extends ConnectError {
  readonly input: string
  constructor (code: 'ERR_CONNECT_SPIFFE_ID_INVALID' | 'ERR_CONNECT_SPIFFE_ID_UNSUPPORTED', input: string, message: string, options?: ConnectErrorOptions) {
    super(code, message, options)
    this.name = 'SpiffeIdError'
    this.input = input
  }
}

export type CertificateErrorCode =
  | 'ERR_CONNECT_CERT_PARSE'
  | 'ERR_CONNECT_CERT_EXPIRED'
  | 'ERR_CONNECT_CERT_NOT_YET_VALID'
  | 'ERR_CONNECT_CERT_UNKNOWN_ISSUER'
  | 'ERR_CONNECT_CERT_BAD_SIGNATURE'
  | 'ERR_CONNECT_CERT_NOT_CA'
  | 'ERR_CONNECT_CERT_WRONG_USAGE'
  | 'ERR_CONNECT_CERT_SAN'
  | 'ERR_CONNECT_CERT_KEY_MISMATCH'
  | 'ERR_CONNECT_NO_ROOTS'

/** A certificate, key or chain is malformed or does not verify. */
export class CertificateError extends ConnectError {
  constructor (code: CertificateErrorCode, message: string, options?: ConnectErrorOptions) {
    super(code, message, options)
    this.name = 'CertificateError'
  }
}

export type AgentErrorCode =
  | 'ERR_CONNECT_AGENT_UNREACHABLE'
  | 'ERR_CONNECT_AGENT_TIMEOUT'
  | 'ERR_CONNECT_AGENT_PERMISSION_DENIED'
  | 'ERR_CONNECT_AGENT_NOT_FOUND'
  | 'ERR_CONNECT_AGENT_HTTP'
  | 'ERR_CONNECT_AGENT_INVALID_ANSWER'
  | 'ERR_CONNECT_AGENT_CONFIG'

export interface AgentErrorOptions extends ConnectErrorOptions {
  /** HTTP status of the agent's answer, when there was one. */
  status?: number
  /** The request path (never the query string's token: tokens are sent in headers only). */
  path?: string
}

/** The agent could not be reached, refused, or answered something unusable. */
export class AgentError extends ConnectError {
  readonly status: number | undefined
  readonly path: string | undefined
  constructor (code: AgentErrorCode, message: string, options?: AgentErrorOptions) {
    super(code, message, options)
    this.name = 'AgentError'
    this.status = options?.status
    this.path = options?.path
  }
}

/** Authorization refused a peer or request. `reason` is the decision's reason. */
export class AuthorizationError extends ConnectError {
  readonly reason: string
  constructor (reason: string, options?: ConnectErrorOptions) {
    super('ERR_CONNECT_NOT_AUTHORIZED', `not authorized: ${reason}`, options)
    this.name = 'AuthorizationError'
    this.reason = reason
  }
}

/** Creates the error raised when an AbortSignal fires; keeps the signal's reason as `cause`. */
export function abortError (what: string, signal?: AbortSignal): ConnectError {
  return new ConnectError('ERR_CONNECT_ABORTED', `${what}: aborted`, { cause: signal?.reason })
}

/** True when `err` is a ConnectError carrying `code`. */
export function hasCode (err: unknown, code: ErrorCode): boolean {
  return err instanceof ConnectError && err.code === code
}
