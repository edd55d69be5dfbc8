/**
 * Dialling a mesh service over mutual TLS, verifying that the server is the service we meant to reach.
 *
 * How a server is verified (see expectation.ts for the identity rule):
 * - OpenSSL verifies the server's chain against the current roots of the snapshot the options were built
 *   from (`ca` is those roots only, never Node's public store; `rejectUnauthorized` is always true);
 * - then `checkServerIdentity`, replaced by the SPIFFE check: exactly one SPIFFE URI SAN, parsed strictly,
 *   a service ID, matching the expectation. Node's default check (DNS names, CN) is never used: Consul
 *   leaves carry no DNS names, and identity lives in the URI SAN only.
 *
 * No SNI is sent unless `servername` is given: Consul's Go clients send none, and a mesh server does not
 * choose its certificate by name.
 *
 * Session resumption: Node skips `checkServerIdentity` entirely when a session is resumed, and OpenSSL
 * reuses the verification result stored in the session. `connectTls` therefore never resumes. Callers of
 * {@link clientTlsOptions} who cache sessions (undici does, per origin, by default) must only reuse a session
 * with options built from the same snapshot (`credentials.generation`) and the same expectation, or disable
 * the cache (`maxCachedSessions: 0`).
 *
 * TLS 1.3 note: a client finishes its handshake before the server has checked the client certificate, so a
 * server that refuses us (not authorized, unknown CA) shows up as the socket closing or erroring right
 * after `connectTls` resolved, not as a rejection.
 */
import tls from 'node:tls'
import type { ConnectionOptions, PeerCertificate, TLSSocket } from 'node:tls'
import { z } from 'zod'
import { CertificateError, ConnectError, SpiffeIdError, abortError } from '../errors.js'
import type { Credentials, CredentialsSource } from '../identity/source.js'
import { alpnSchema } from './alpn.js'
import { MIN_TLS_VERSION, credentialOptions, higherVersion, requireReady, secureContextOf } from './context.js'
import { compileExpectation } from './expectation.js'
import type { IdentityCheck, ServerExpectation, SpiffeIdCode } from './expectation.js'
import { parseObjectOptions, sourceSchema, timeoutSchema } from './options.js'
import { certificateCodeOf, isVerifyErrorCode, verifyErrorName } from './verify-error.js'

export interface ConnectTlsOptions {
  readonly host: string
  readonly port: number
  /** This service's leaf and the trusted roots; read once, when the connection starts. */
  readonly source: CredentialsSource
  /** The service the server must be (see expectation.ts for the rule), or a predicate over its SPIFFE ID. */
  readonly expect: ServerExpectation
  /** SNI to send. Default none. */
  readonly servername?: string
  /** ALPN protocols to offer. Default none. */
  readonly alpn?: readonly string[]
  /** Aborts the attempt: the promise rejects with ERR_CONNECT_ABORTED and the socket is destroyed. */
  readonly signal?: AbortSignal
  /** Time allowed for TCP connect plus TLS handshake. Default 10 000 ms; ERR_CONNECT_TIMEOUT after it. */
  readonly timeoutMs?: number
}

export const DEFAULT_CONNECT_TIMEOUT_MS = 10_000

/** `tls.connect` options that shape the SecureContext (besides cert, key, ca and minVersion, which are ours). */
const CONTEXT_SETTINGS = [
  'ciphers', 'sigalgs', 'ecdhCurve', 'dhparam', 'honorCipherOrder', 'maxVersion', 'secureOptions', 'secureProtocol',
  'crl', 'clientCertEngine', 'privateKeyEngine', 'privateKeyIdentifier', 'sessionIdContext', 'ticketKeys', 'sessionTimeout'
] as const satisfies ReadonlyArray<keyof ConnectionOptions>

const connectSchema = z.object({
  host: z.string().min(1, 'must not be empty'),
  port: z.number().int().min(1).max(65_535),
  source: sourceSchema,
  // The expectation's own fields are checked by compileExpectation, which names them.
  expect: z.custom<ServerExpectation>((value) => typeof value === 'function' || (typeof value === 'object' && value !== null),
    { message: 'must be { service, namespace?, partition?, datacenter? } or a function of the SPIFFE ID' }),
  servername: z.string().min(1, 'must not be empty').optional(),
  alpn: alpnSchema.optional(),
  signal: z.custom<AbortSignal>((value) => value instanceof AbortSignal, { message: 'must be an AbortSignal' }).optional(),
  timeoutMs: timeoutSchema.optional()
}).strict()

/**
 * The `tls.connect` options that present this service's leaf and verify the server as `expect`, for
 * callers that make the connection themselves (an undici `connect` function, a ws agent, http2.connect).
 * Synchronous and cheap: the client `SecureContext` is built once per snapshot and shared.
 *
 * `extra` is merged first (host, port, servername, ALPNProtocols, maxVersion, ciphers...); the library's
 * keys always win: `cert`, `key`, `ca`, `minVersion` (TLS 1.2 at least), `rejectUnauthorized: true`,
 * `checkServerIdentity`; `pfx`, `passphrase` and `secureContext` of `extra` are dropped. The shared
 * per-snapshot `secureContext` is included only when `extra` sets no context setting (maxVersion,
 * ciphers...), which it would otherwise override. Read the module comment before reusing TLS sessions
 * with these options.
 * @throws ConnectError ERR_CONNECT_NOT_READY when the snapshot lacks a leaf or roots
 * @throws InvalidOptionError when `expect` is malformed
 */
export function clientTlsOptions (credentials: Credentials, expect: ServerExpectation, extra: ConnectionOptions = {}): ConnectionOptions {
  return buildClientOptions(credentials, compileExpectation(expect), extra, 'building TLS client options')
}

/**
 * Connects to `host:port`, completes the TLS handshake and verifies the server's identity.
 * Resolves with the connected socket, which then belongs to the caller.
 *
 * Rejects with: ERR_CONNECT_NOT_READY at once when the source has no leaf or roots;
 * ERR_CONNECT_LEAF_EXPIRED at once when our own leaf has expired; a CertificateError (ERR_CONNECT_CERT_*)
 * when the server's chain does not verify against the current roots; ERR_CONNECT_CERT_SAN,
 * ERR_CONNECT_SPIFFE_ID_* or ERR_CONNECT_PEER_VERIFICATION when its identity is not the expected one;
 * ERR_CONNECT_ABORTED on abort; ERR_CONNECT_TIMEOUT after `timeoutMs`; InvalidOptionError for bad options.
 * Network and TLS protocol failures (ECONNREFUSED, ECONNRESET, TLS alerts) reject with Node's own error,
 * whose `code` retry logic can switch on.
 */
export async function connectTls (options: ConnectTlsOptions): Promise<TLSSocket> {
  const opts = parseObjectOptions(connectSchema, options) as ConnectTlsOptions
  const what = `connecting to ${opts.host}:${opts.port}`
  const check = compileExpectation(opts.expect)
  if (opts.signal?.aborted === true) throw abortError(what, opts.signal)
  const credentials = requireReady(opts.source.credentials, what)
  const expiredFor = -credentials.identity.expiresIn()
  if (expiredFor > 0) {
    throw new ConnectError('ERR_CONNECT_LEAF_EXPIRED',
      `${what}: our leaf ${credentials.identity.serial} expired at ${credentials.identity.validBefore.toISOString()} and no fresh one has arrived`)
  }
  const tlsOptions = buildClientOptions(credentials, check, {
    host: opts.host,
    port: opts.port,
    ...(opts.servername === undefined ? {} : { servername: opts.servername }),
    ...(opts.alpn === undefined ? {} : { ALPNProtocols: [...opts.alpn] })
  }, what)
  return await handshake(tlsOptions, what, opts.timeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS, opts.signal)
}

function buildClientOptions (credentials: Credentials, check: IdentityCheck, extra: ConnectionOptions, what: string): ConnectionOptions {
  const ready = requireReady(credentials, what)
  // The identity is ours alone: another certificate source in `extra` would be presented beside it.
  const { pfx: _pfx, passphrase: _passphrase, secureContext: _secureContext, ...rest } = extra
  const minVersion = higherVersion(extra.minVersion, MIN_TLS_VERSION)
  // A shared context ignores context settings in the options (maxVersion, ciphers...): use it only when
  // there are none, else let Node build one from the merged options.
  const custom = minVersion !== MIN_TLS_VERSION || CONTEXT_SETTINGS.some((key) => extra[key] !== undefined)
  const { cert, key, ca } = credentialOptions(ready)
  return {
    ...rest,
    cert,
    key,
    // A copy: the cached array is shared by every connection of this snapshot.
    ca: [...ca],
    minVersion,
    ...(custom ? {} : { secureContext: secureContextOf(ready) }),
    rejectUnauthorized: true,
    // Node calls this only after OpenSSL verified the chain, and needs a returned (not thrown) error.
    checkServerIdentity: (_hostname: string, presented: PeerCertificate): Error | undefined => {
      const der = (presented as Partial<PeerCertificate> | undefined)?.raw
      if (!Buffer.isBuffer(der) || der.length === 0) {
        return new ConnectError('ERR_CONNECT_PEER_VERIFICATION', `server identity: expected ${check.description}, but the server presented no certificate`)
      }
      const result = check.verify(der)
      return result.ok ? undefined : result.error
    }
  }
}

function handshake (options: ConnectionOptions, what: string, timeoutMs: number, signal: AbortSignal | undefined): Promise<TLSSocket> {
  return new Promise<TLSSocket>((resolve, reject) => {
    const socket = tls.connect(options)
    const onSecure = (): void => {
      cleanup()
      resolve(socket)
    }
    const fail = (err: Error): void => {
      cleanup()
      socket.destroy()
      reject(err)
    }
    const onError = (err: Error): void => fail(translate(err, what))
    const onClose = (): void => fail(Object.assign(new Error(`${what}: connection closed before the TLS handshake completed`), { code: 'ECONNRESET' }))
    const onAbort = (): void => fail(abortError(what, signal))
    const timer = setTimeout(() => {
      fail(new ConnectError('ERR_CONNECT_TIMEOUT', `${what}: no TLS connection within ${timeoutMs} ms`))
    }, timeoutMs)
    timer.unref()
    function cleanup (): void {
      clearTimeout(timer)
      signal?.removeEventListener('abort', onAbort)
      socket.off('secureConnect', onSecure)
      socket.off('error', onError)
      socket.off('close', onClose)
    }
    socket.once('secureConnect', onSecure)
    socket.on('error', onError)
    socket.once('close', onClose)
    signal?.addEventListener('abort', onAbort, { once: true })
  })
}

/** Our errors gain the target; OpenSSL verification results become CertificateErrors; the rest pass as is. */
function translate (err: Error, what: string): Error {
  if (err instanceof ConnectError) {
    const message = `${what}: ${err.message}`
    if (err instanceof SpiffeIdError) return new SpiffeIdError(err.code as SpiffeIdCode, err.input, message, { cause: err })
    if (err instanceof CertificateError) return new CertificateError(err.code as ConstructorParameters<typeof CertificateError>[0], message, { cause: err })
    return new ConnectError(err.code, message, { cause: err })
  }
  const code = (err as { code?: unknown }).code
  if (isVerifyErrorCode(code)) {
    return new CertificateError(certificateCodeOf(code),
      `${what}: the server's certificate does not verify against the current roots (${verifyErrorName(code)}: ${err.message})`, { cause: err })
  }
  return err
}
