/**
 * Mesh servers: create a TLS, HTTPS or HTTP/2 server that serves mutual TLS with this service's identity
 * and decides every connection, or attach the same guarantees to a server made elsewhere.
 *
 * Every function here hands the server to a {@link TlsGuard} (guard.ts has the full contract): current leaf
 * and roots, rotation without restart, per-connection verification and authorization (resumed sessions
 * included), counters and events. Get the guard of a created server with {@link tlsGuardOf}, and the
 * verified caller of a connection or request with `peerOf` (peer.ts).
 *
 * ALPN (alpn.ts): HTTPS servers advertise `http/1.1` only; HTTP/2 servers `h2`, plus `http/1.1` with
 * `allowHTTP1`; raw TLS servers nothing unless `alpn` is given. An attached server keeps the ALPN it was
 * built with: make sure it advertises only protocols its listeners speak.
 */
import http2 from 'node:http2'
import type { Http2SecureServer, Http2ServerRequest, Http2ServerResponse } from 'node:http2'
import https from 'node:https'
import type { IncomingMessage, ServerResponse } from 'node:http'
import tls from 'node:tls'
import type { TLSSocket } from 'node:tls'
import { InvalidOptionError } from '../errors.js'
import { HTTP1_ALPN } from './alpn.js'
import { MIN_TLS_VERSION, higherVersion } from './context.js'
import { TlsGuard } from './guard.js'
import { DEFAULT_HANDSHAKE_TIMEOUT_MS, mtlsPart, parseHttp2Options, parseHttpsOptions, parseMtlsOptions, parseTlsServerOptions } from './options.js'
import type { Http2Options, HttpsOptions, MtlsOptions, TlsServerOptions } from './options.js'
import { peerOf } from './peer.js'

const guards = new WeakMap<tls.Server, TlsGuard>()

/**
 * Makes an existing `tls.Server`, `https.Server` or HTTP/2 secure server a mesh server (see guard.ts).
 * Works before or after `listen()`; connections already open are untouched. The server's own
 * `secureConnection` listeners still run for refused sockets (already destroyed, no byte read): HTTP and
 * HTTP/2 ignore those; a raw TLS listener should check `peerOf(socket)`.
 * @throws InvalidOptionError for bad options, a server that is not a TLS server, or one already attached
 *   (a detached server may be attached again)
 * @throws ConnectError ERR_CONNECT_CERT_PARSE when the credentials cannot be loaded into a context
 */
export function attachTls (server: tls.Server, options: MtlsOptions): TlsGuard {
  if (!(server instanceof tls.Server)) {
    throw new InvalidOptionError('server', 'must be a tls.Server, an https.Server or an HTTP/2 secure server')
  }
  const opts = parseMtlsOptions(options)
  const existing = guards.get(server)
  if (existing?.attached === true) throw new InvalidOptionError('server', 'is already attached to the mesh (detach() it first)')
  const guard = new TlsGuard(server, opts)
  existing?.dispose()
  guards.set(server, guard)
  return guard
}

/** The guard of a server created or attached by this module; `undefined` for any other server. */
export function tlsGuardOf (server: tls.Server): TlsGuard | undefined {
  return guards.get(server)
}

/**
 * A raw TLS server (`tls.Server`) that calls `connectionListener` for accepted connections only (with
 * `attachTls`, listeners of the server also run for refused sockets, already destroyed: check `peerOf`).
 * @throws InvalidOptionError for bad options
 */
export function createTlsServer (options: TlsServerOptions, connectionListener?: (socket: TLSSocket) => void): tls.Server {
  const opts = parseTlsServerOptions(options)
  const server = tls.createServer({
    ...opts.serverOptions,
    ...(opts.alpn === undefined ? {} : { ALPNProtocols: [...opts.alpn] }),
    ...ownedServerOptions(opts, opts.serverOptions?.minVersion)
  })
  attachCreated(server, opts)
  // Registered after the guard's prepended listener, and called for accepted sockets only: a listener given
  // to tls.createServer would also see the refused ones (destroyed, but still emitted).
  if (connectionListener !== undefined) {
    server.on('secureConnection', (socket: TLSSocket) => {
      if (peerOf(socket) !== undefined) connectionListener(socket)
    })
  }
  return server
}

/**
 * An HTTPS (HTTP/1.1) server that hands accepted connections' requests to `requestListener`.
 * @throws InvalidOptionError for bad options
 */
export function createHttpsServer (
  options: HttpsOptions,
  requestListener?: (req: IncomingMessage, res: ServerResponse) => void
): https.Server {
  const opts = parseHttpsOptions(options)
  const server = https.createServer({
    ...opts.serverOptions,
    ALPNProtocols: [...HTTP1_ALPN],
    ...ownedServerOptions(opts, opts.serverOptions?.minVersion)
  }, requestListener)
  return attachCreated(server, opts)
}

/**
 * An HTTP/2 server (`h2`; with `allowHTTP1`, HTTP/1.1 clients too) that hands accepted connections'
 * requests to `requestListener` (compatibility API; `stream` events work as usual).
 * @throws InvalidOptionError for bad options
 */
export function createHttp2Server (
  options: Http2Options,
  requestListener?: (req: Http2ServerRequest, res: Http2ServerResponse) => void
): Http2SecureServer {
  const opts = parseHttp2Options(options)
  // Node sets ALPNProtocols from allowHTTP1 (['h2'] or ['h2', 'http/1.1']); no ALPN option is passed.
  const server = http2.createSecureServer({
    ...opts.serverOptions,
    allowHTTP1: opts.allowHTTP1 === true,
    ...ownedServerOptions(opts, opts.serverOptions?.minVersion)
  }, requestListener)
  return attachCreated(server, opts)
}

/**
 * The options the library owns at construction. `ca: []` keeps Node from loading its public root store
 * for the placeholder context that attaching replaces at once.
 */
function ownedServerOptions (opts: MtlsOptions, minVersion: tls.SecureVersion | undefined): tls.TlsOptions {
  return {
    requestCert: true,
    rejectUnauthorized: false,
    handshakeTimeout: opts.handshakeTimeoutMs ?? DEFAULT_HANDSHAKE_TIMEOUT_MS,
    minVersion: higherVersion(minVersion, MIN_TLS_VERSION),
    ca: []
  }
}

function attachCreated<S extends tls.Server> (server: S, opts: MtlsOptions): S {
  guards.set(server, new TlsGuard(server, mtlsPart(opts)))
  return server
}
