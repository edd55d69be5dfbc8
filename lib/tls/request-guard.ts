/**
 * Per-request (L7) authorization for mesh HTTP servers: https, HTTP/2 (both the compatibility `request` API and
 * raw `stream` handlers) and WebSocket `upgrade`s.
 *
 * The guard wraps the server's `emit`, so it sits in front of every `request`, `stream` and `upgrade` listener,
 * those added later and those of a server made elsewhere (`attach`) included: a denied request never reaches
 * application code. A denied request is answered `403 Forbidden` with the decision's reason as a plain-text body
 * (and in an `x-connect-reason` header); the connection stays open for the peer's next request, as Envoy does.
 * An upgrade is answered 403 and its socket closed.
 *
 * Requests on connections without a verified peer (which the TLS guard would have destroyed already) are refused
 * too: fail closed.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { IncomingHttpHeaders, ServerHttp2Stream } from 'node:http2'
import type { Duplex } from 'node:stream'
import type { Server as TlsServer } from 'node:tls'
import { safeAuthorize } from '../authz/authorizer.js'
import type { Authorizer, Decision, HttpRequestInfo, Peer } from '../authz/authorizer.js'
import { peerOf } from './peer.js'

/** A request refused by the guard. */
export interface DeniedRequest {
  readonly peer: Peer | undefined
  readonly method: string
  readonly path: string
  readonly decision: Decision
}

export interface RequestGuardOptions {
  readonly authorizer: Authorizer
  /** Called for every denied request, after the 403 was written. Must not throw. */
  readonly onDenied?: (denied: DeniedRequest) => void
}

const NO_PEER: Decision = Object.freeze({ allowed: false, reason: 'denied: no verified mesh peer on this connection', layer: 'L7' })
const kGuarded = Symbol.for('consul-connect-native.request-guard')

/** Installs the guard; returns a function that removes it. Installing twice replaces the first guard. */
export function guardRequests (server: TlsServer, options: RequestGuardOptions): () => void {
  const target = server as unknown as Record<symbol, (() => void) | undefined> & { emit: (event: string | symbol, ...args: unknown[]) => boolean }
  target[kGuarded]?.()
  const { authorizer, onDenied } = options
  const originalEmit = target.emit
  const decide = (peer: Peer | undefined, info: HttpRequestInfo): Decision => peer === undefined ? NO_PEER : safeAuthorize(authorizer, peer, info)
  const report = (peer: Peer | undefined, info: HttpRequestInfo, decision: Decision): void => {
    try { onDenied?.({ peer, method: info.method, path: info.path, decision }) } catch { /* observers must not break serving */ }
  }

  target.emit = function guardedEmit (this: unknown, event: string | symbol, ...args: unknown[]): boolean {
    if (event === 'request') {
      const req = args[0] as IncomingMessage & { stream?: unknown }
      const res = args[1] as ServerResponse
      // HTTP/2 compatibility requests were decided on their 'stream' already.
      if (req.stream === undefined) {
        const info = requestInfo(req.method, req.url, distinctHeaders(req))
        const peer = peerOf(req)
        const decision = decide(peer, info)
        if (!decision.allowed) {
          forbid(res, decision)
          report(peer, info, decision)
          return true
        }
      }
    } else if (event === 'stream') {
      const stream = args[0] as ServerHttp2Stream
      const headers = args[1] as IncomingHttpHeaders
      const info = requestInfo(headers[':method'], headers[':path'], headers)
      const peer = peerOf(stream.session?.socket)
      const decision = decide(peer, info)
      if (!decision.allowed) {
        if (!stream.destroyed && !stream.headersSent) {
          stream.respond({ ':status': 403, 'content-type': 'text/plain; charset=utf-8', 'x-connect-reason': headerSafe(decision.reason) })
          stream.end(`${decision.reason}\n`)
        }
        report(peer, info, decision)
        return true
      }
    } else if (event === 'upgrade') {
      const req = args[0] as IncomingMessage
      const socket = args[1] as Duplex
      const info = requestInfo(req.method, req.url, distinctHeaders(req))
      const peer = peerOf(req)
      const decision = decide(peer, info)
      if (!decision.allowed) {
        const body = `${decision.reason}\n`
        socket.end(`HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`)
        report(peer, info, decision)
        return true
      }
    }
    return originalEmit.call(this, event, ...args)
  }
  const remove = (): void => {
    if (target.emit !== originalEmit) target.emit = originalEmit
    delete target[kGuarded]
  }
  target[kGuarded] = remove
  return remove
}

/**
 * Repeated headers as separate values (`headersDistinct`, Node >= 18.3): the L7 matcher joins them with `,` as
 * Envoy does, where `req.headers` would have joined them with `, `.
 */
function distinctHeaders (req: IncomingMessage): HttpRequestInfo['headers'] {
  return (req as IncomingMessage & { headersDistinct?: HttpRequestInfo['headers'] }).headersDistinct ?? req.headers
}

function requestInfo (method: string | undefined, url: string | undefined, headers: HttpRequestInfo['headers'] | IncomingHttpHeaders): HttpRequestInfo {
  const raw = url ?? '/'
  const q = raw.indexOf('?')
  // L7 path matchers see the path without the query string, as Envoy's path matchers do.
  return { method: method ?? 'GET', path: q === -1 ? raw : raw.slice(0, q), headers }
}

function forbid (res: ServerResponse, decision: Decision): void {
  if (res.headersSent) return
  const body = `${decision.reason}\n`
  res.writeHead(403, {
    'content-type': 'text/plain; charset=utf-8',
    'content-length': Buffer.byteLength(body),
    'x-connect-reason': headerSafe(decision.reason)
  })
  res.end(body)
}

function headerSafe (text: string): string {
  // Header values must be visible ASCII; reasons may quote intention names with any character.
  return text.replace(/[^\x20-\x7e]/g, '?').slice(0, 512)
}
