/**
 * Options of the TLS layer's entry points and their eager validation. Shape errors throw
 * InvalidOptionError naming the field (`handshakeTimeoutMs`, `serverOptions.cert`).
 */
import type { SecureServerOptions } from 'node:http2'
import type { ServerOptions as HttpsServerOptions } from 'node:https'
import type { TlsOptions } from 'node:tls'
import { z } from 'zod'
import { InvalidOptionError } from '../errors.js'
import { parseOptions } from '../agent/validate.js'
import type { Authorizer } from '../authz/authorizer.js'
import type { CredentialsSource } from '../identity/source.js'
import { alpnSchema } from './alpn.js'
import type { ConnectionDecision } from './guard-events.js'

/** What every mTLS server needs. */
export interface MtlsOptions {
  /** Where this service's leaf and the trusted roots come from; read on every connection. */
  readonly source: CredentialsSource
  /** Decides every verified peer (resumed sessions included). Synchronous, no I/O; a throw denies. */
  readonly authorizer: Authorizer
  /** A TLS handshake not finished within this time is dropped and counted. Default 10 000 ms. */
  readonly handshakeTimeoutMs?: number
  /** Called with every accept or refuse decision, after the matching event. Must not throw (a throw is ignored). */
  readonly onDecision?: (decision: ConnectionDecision) => void
}

/** Node server options the library owns: passing them is an error, so nothing silently bypasses mTLS. */
const OWNED_SERVER_OPTIONS = [
  'cert', 'key', 'ca', 'pfx', 'passphrase', 'secureContext', 'requestCert', 'rejectUnauthorized', 'ALPNProtocols',
  'ALPNCallback', 'SNICallback', 'handshakeTimeout', 'ticketKeys', 'sessionIdContext', 'pskCallback', 'allowHTTP1', 'crl'
] as const
type Owned = typeof OWNED_SERVER_OPTIONS[number]

export interface TlsServerOptions extends MtlsOptions {
  /** Protocols to advertise through ALPN. Default none: a raw TLS server advertises nothing (see alpn.ts). */
  readonly alpn?: readonly string[]
  /** Further `tls.Server` options (ciphers, keepAlive...); credentials, ALPN and verification are the library's. */
  readonly serverOptions?: Omit<TlsOptions, Owned>
}

export interface HttpsOptions extends MtlsOptions {
  /** Further `https.Server` options (timeouts, header limits...); credentials, ALPN and verification are the library's. */
  readonly serverOptions?: Omit<HttpsServerOptions, Owned>
}

export interface Http2Options extends MtlsOptions {
  /** Also serve HTTP/1.1 clients (ALPN `http/1.1`). Default false: `h2` only. */
  readonly allowHTTP1?: boolean
  /** Further `http2.createSecureServer` options (settings, limits...); credentials, ALPN and verification are the library's. */
  readonly serverOptions?: Omit<SecureServerOptions, Owned>
}

export const DEFAULT_HANDSHAKE_TIMEOUT_MS = 10_000
const MAX_TIMER_MS = 2 ** 31 - 1

export const sourceSchema = z.custom<CredentialsSource>((value) =>
  typeof value === 'object' && value !== null && 'credentials' in value &&
  typeof (value as { onChange?: unknown }).onChange === 'function',
{ message: 'must be a CredentialsSource (with credentials and onChange)' })

export const timeoutSchema = z.number().int().positive().max(MAX_TIMER_MS)

const fn = <T>(message: string): z.ZodType<T> => z.custom<T>((value) => typeof value === 'function', { message })

const serverOptionsSchema = z.record(z.string(), z.unknown()).superRefine((value, ctx) => {
  for (const key of OWNED_SERVER_OPTIONS) {
    if (value[key] !== undefined) ctx.addIssue({ code: 'custom', path: [key], message: 'is set by the library (mTLS credentials, ALPN and peer verification are not configurable here)' })
  }
})

const mtlsShape = {
  source: sourceSchema,
  authorizer: fn<Authorizer>('must be an Authorizer function'),
  handshakeTimeoutMs: timeoutSchema.optional(),
  onDecision: fn<(decision: ConnectionDecision) => void>('must be a function').optional()
}

const mtlsSchema = z.object(mtlsShape).strict()
const tlsServerSchema = z.object({ ...mtlsShape, alpn: alpnSchema.optional(), serverOptions: serverOptionsSchema.optional() }).strict()
const httpsSchema = z.object({ ...mtlsShape, serverOptions: serverOptionsSchema.optional() }).strict()
const http2Schema = z.object({ ...mtlsShape, allowHTTP1: z.boolean().optional(), serverOptions: serverOptionsSchema.optional() }).strict()

/**
 * Runs `schema` over an options object; a non-object is reported as `options` itself.
 * @throws InvalidOptionError naming the first offending field
 */
export function parseObjectOptions<S extends z.ZodType> (schema: S, options: unknown): z.output<S> {
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new InvalidOptionError('options', 'must be an object')
  }
  return parseOptions(schema, options, '')
}

/** Validates the options of `attachTls`. */
export function parseMtlsOptions (options: unknown): MtlsOptions {
  return parseObjectOptions(mtlsSchema, options) as MtlsOptions
}

/** Validates the options of `createTlsServer`. */
export function parseTlsServerOptions (options: unknown): TlsServerOptions {
  return parseObjectOptions(tlsServerSchema, options) as TlsServerOptions
}

/** Validates the options of `createHttpsServer`. */
export function parseHttpsOptions (options: unknown): HttpsOptions {
  return parseObjectOptions(httpsSchema, options) as HttpsOptions
}

/** Validates the options of `createHttp2Server`. */
export function parseHttp2Options (options: unknown): Http2Options {
  return parseObjectOptions(http2Schema, options) as Http2Options
}

/** The subset of {@link MtlsOptions} a guard keeps. */
export function mtlsPart (options: MtlsOptions): MtlsOptions {
  const { source, authorizer, handshakeTimeoutMs, onDecision } = options
  return {
    source,
    authorizer,
    ...(handshakeTimeoutMs === undefined ? {} : { handshakeTimeoutMs }),
    ...(onDecision === undefined ? {} : { onDecision })
  }
}
