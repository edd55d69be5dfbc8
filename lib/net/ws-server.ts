/**
 * attachWebSocketServer: accept WebSockets on a mutual-TLS HTTPS server, deciding every upgrade before the
 * handshake.
 *
 * ws documents that authentication belongs in the HTTP server's 'upgrade' handler with `noServer: true`,
 * not in `verifyClient`; this follows it. For each upgrade request:
 * 1. `path` (when set) must equal the request path, query excluded. Other paths are left to other
 *    'upgrade' listeners; when this is the only one, they get `404 Not Found`.
 * 2. The peer is the one a guarded server (lib/tls/server.ts) recorded for the connection, else it is
 *    checked here from the TLS socket (chain verified by OpenSSL, one SPIFFE URI SAN, a service ID, leaf
 *    valid now). A connection with no verified mesh peer gets `403 Forbidden` (fail closed).
 * 3. `authorize(peer, request)` decides (a throwing or malformed authorizer denies). It sees the request as
 *    {@link HttpRequestInfo} (method, path, headers), so an L7 {@link Authorizer} can be passed as is, plus
 *    the raw `IncomingMessage`. Without `authorize`, any verified peer is accepted: the server's own
 *    per-connection (L4) decision already ran, but per-request (L7) intentions do not, since an upgrade
 *    never reaches the server's 'request' handler. Pass the service's authorizer to enforce them.
 * 4. Denied: `HTTP/1.1 403 Forbidden` with the decision's reason as a text body, then the socket is closed.
 *    Allowed: ws's `handleUpgrade`, then `onConnection(ws, request, peer)`.
 *
 * `ws` is loaded on first use, so the function is async. `close()` removes the listener, closes every
 * WebSocket it accepted (1001, going away) and the WebSocketServer; it is idempotent.
 */
import type { IncomingMessage, Server as HttpServer } from 'node:http'
import type { Server as HttpsServer } from 'node:https'
import type { Duplex } from 'node:stream'
import type { TLSSocket } from 'node:tls'
import type { ServerOptions, WebSocket, WebSocketServer } from 'ws'
import type { Decision, HttpRequestInfo, Peer } from '../authz/authorizer.js'
import { InvalidOptionError } from '../errors.js'
import { checkPeer, peerOf } from '../tls/peer.js'
import { loadWs } from './ws.js'

/** What an upgrade authorizer sees of the request: the L7 fields, and the raw request. */
export interface UpgradeRequestInfo extends HttpRequestInfo {
  readonly request: IncomingMessage
}

/** Decides one upgrade; synchronous, as every authorizer. */
export type WebSocketAuthorizer = (peer: Peer, request: UpgradeRequestInfo) => Decision

/** ws server options that may pass through (`noServer` is always on; the server is the one given). */
export type PassThroughServerOptions = Pick<ServerOptions,
  'perMessageDeflate' | 'maxPayload' | 'skipUTF8Validation' | 'allowSynchronousEvents' | 'autoPong' |
  'handleProtocols' | 'clientTracking'>

export interface AttachWebSocketOptions extends PassThroughServerOptions {
  /** Only upgrades to this exact path (query excluded), e.g. `/room`. Default: every path. */
  readonly path?: string
  /** Decides each upgrade; default: every verified peer. See the module comment. */
  readonly authorize?: WebSocketAuthorizer
}

export interface MeshWebSocketServer {
  /** The underlying ws server (`noServer` mode). */
  readonly wss: WebSocketServer
  close (): Promise<void>
}

export type OnMeshWebSocket = (ws: WebSocket, request: IncomingMessage, peer: Peer) => void

/** Attaches to `server`'s 'upgrade' event; see the module comment. */
export async function attachWebSocketServer (server: HttpsServer | HttpServer, options: AttachWebSocketOptions, onConnection: OnMeshWebSocket): Promise<MeshWebSocketServer> {
  if (server === null || typeof server !== 'object' || typeof server.on !== 'function') throw new InvalidOptionError('server', 'expected an https.Server')
  if (typeof onConnection !== 'function') throw new InvalidOptionError('onConnection', 'expected a function')
  const { path, authorize, ...wsOptions } = options ?? {}
  if (path !== undefined && (typeof path !== 'string' || !path.startsWith('/'))) throw new InvalidOptionError('path', 'expected an absolute path such as "/room"')
  if (authorize !== undefined && typeof authorize !== 'function') throw new InvalidOptionError('authorize', 'expected a function (peer, request) => Decision')
  const { WebSocketServer: WebSocketServerClass } = await loadWs()
  const wss = new WebSocketServerClass({ ...wsOptions, noServer: true })

  const onUpgrade = (request: IncomingMessage, socket: Duplex, head: Buffer): void => {
    // A client that resets mid-refusal must not crash the process with an unheard 'error'.
    socket.on('error', () => socket.destroy())
    const requestPath = pathOf(request.url)
    if (path !== undefined && requestPath !== path) {
      if (server.listenerCount('upgrade') === 1) refuse(socket, 404, 'Not Found', `no WebSocket endpoint at ${requestPath}`)
      return
    }
    const checked = meshPeer(socket)
    if (!checked.ok) {
      refuse(socket, 403, 'Forbidden', `denied: ${checked.reason}`)
      return
    }
    const { peer } = checked
    const decision = authorize === undefined
      ? { allowed: true, reason: 'allowed: verified mesh peer', layer: 'L4' as const }
      : decide(authorize, peer, { method: request.method ?? 'GET', path: requestPath, headers: request.headers, request })
    if (!decision.allowed) {
      refuse(socket, 403, 'Forbidden', decision.reason)
      return
    }
    wss.handleUpgrade(request, socket, head, (ws) => onConnection(ws, request, peer))
  }
  server.on('upgrade', onUpgrade)

  let closing: Promise<void> | undefined
  return {
    wss,
    close (): Promise<void> {
      closing ??= new Promise<void>((resolve) => {
        server.off('upgrade', onUpgrade)
        for (const client of wss.clients) client.close(1001, 'server closing')
        wss.close(() => resolve())
      })
      return closing
    }
  }
}

/** Runs the authorizer so it can never throw or return garbage: either denies, naming the failure. */
function decide (authorize: WebSocketAuthorizer, peer: Peer, info: UpgradeRequestInfo): Decision {
  try {
    const decision = authorize(peer, info)
    if (decision === null || typeof decision !== 'object' || typeof decision.allowed !== 'boolean') {
      return { allowed: false, reason: 'denied: authorizer returned no decision', layer: 'L7' }
    }
    return decision
  } catch (err) {
    return { allowed: false, reason: `denied: authorizer threw: ${(err as Error)?.message ?? String(err)}`, layer: 'L7' }
  }
}

/**
 * The peer of an upgrade's connection: the one a guarded server (lib/tls/server.ts) already verified and
 * authorized, else the result of the same checks on the socket (OpenSSL's chain verification, one SPIFFE
 * URI SAN parsed strictly, a service ID, the leaf valid now), for an https server made elsewhere with
 * `requestCert` and the mesh roots.
 */
function meshPeer (socket: Duplex): { ok: true, peer: Peer } | { ok: false, reason: string } {
  const known = peerOf(socket)
  if (known !== undefined) return { ok: true, peer: known }
  const tlsSocket = socket as Partial<TLSSocket>
  if (tlsSocket.encrypted !== true || typeof tlsSocket.getPeerX509Certificate !== 'function') return { ok: false, reason: 'the connection is not TLS' }
  const checked = checkPeer(socket as TLSSocket)
  return checked.ok ? checked : { ok: false, reason: checked.reason }
}

/** Writes a minimal HTTP refusal and closes the socket once it is flushed. */
function refuse (socket: Duplex, status: number, statusText: string, reason: string): void {
  // One line, no control characters: the reason is text for people, never a header injection.
  const body = reason.replace(/[\r\n\t\v\f\0]+/g, ' ')
  const bytes = Buffer.byteLength(body)
  socket.once('finish', () => socket.destroy())
  socket.end(`HTTP/1.1 ${status} ${statusText}\r\nConnection: close\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${bytes}\r\n\r\n${body}`)
}

function pathOf (url: string | undefined): string {
  const raw = url ?? '/'
  const q = raw.indexOf('?')
  return q === -1 ? raw : raw.slice(0, q)
}
