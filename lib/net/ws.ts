/**
 * WebSocket client over the mesh identity: `meshWebSocket('wss://chat.service.consul/room', { source,
 * resolver })` resolves the service, dials an instance with {@link dialService} (failover, mutual TLS, the
 * server's SPIFFE ID verified), then runs the WebSocket handshake of the `ws` package on that socket.
 *
 * - The promise settles when the handshake does: it resolves with the open WebSocket, or rejects with the
 *   dial's error (codes in dial.ts), AuthorizationError (ERR_CONNECT_NOT_AUTHORIZED, `reason` = the
 *   server's answer body) when the server answers 403, ws's own error for any other refusal, or
 *   ERR_CONNECT_ABORTED when `signal` aborts first.
 * - `ws` is imported on first use (see {@link loadWs}), so code that never opens a WebSocket never loads it.
 * - Redirects are not followed: a redirect would lead to another origin, which would need its own dial.
 * - Options that would bypass the mesh TLS (`agent`, `createConnection`, certificates, `rejectUnauthorized`,
 *   `checkServerIdentity`) are not accepted; the rest of ws's client options pass through.
 */
import type { TLSSocket } from 'node:tls'
import type { ClientOptions, WebSocket } from 'ws'
import type * as Ws from 'ws'
import { abortError, AuthorizationError, InvalidOptionError } from '../errors.js'
import type { CredentialsSource } from '../identity/source.js'
import { dialService } from './dial.js'
import { parseMeshHost } from './mesh-host.js'
import type { Resolver } from './resolver.js'

type WsModule = typeof Ws

let loading: Promise<WsModule> | undefined

/**
 * Imports `ws` once, on first use. A failed import is not cached (installing the package fixes it) and
 * rejects with InvalidOptionError (field `ws`) saying what to install.
 */
export function loadWs (): Promise<WsModule> {
  loading ??= import('ws').catch((err: unknown) => {
    loading = undefined
    throw new InvalidOptionError('ws', 'the "ws" package is needed for WebSockets and could not be loaded (npm install ws)', { cause: err })
  })
  return loading
}

/** ws client options that may pass through (none of them touches TLS or the connection). */
export type PassThroughClientOptions = Pick<ClientOptions,
  'handshakeTimeout' | 'perMessageDeflate' | 'protocolVersion' | 'headers' | 'origin' | 'maxPayload' |
  'skipUTF8Validation' | 'allowSynchronousEvents' | 'autoPong' | 'generateMask' | 'finishRequest'>

export interface MeshWebSocketOptions extends PassThroughClientOptions {
  readonly source: CredentialsSource
  readonly resolver: Resolver
  /** WebSocket subprotocols to offer. */
  readonly protocols?: string | readonly string[]
  readonly signal?: AbortSignal
  /** Deadline to resolve and connect, ms; also the default `handshakeTimeout`. Default 10 000. */
  readonly timeoutMs?: number
  readonly attemptTimeoutMs?: number
  readonly maxAttempts?: number
  /** Consul's DNS domain in URLs. Default `consul`. */
  readonly domain?: string
}

const REFUSED_OPTIONS = ['agent', 'createConnection', 'followRedirects', 'ca', 'cert', 'key', 'pfx', 'rejectUnauthorized', 'checkServerIdentity', 'host', 'localAddress', 'family']
/** How much of a refusal's body is kept as the reason. */
const MAX_REASON_BYTES = 1024

/** Opens a WebSocket to a mesh service; see the module comment. */
export async function meshWebSocket (url: string | URL, options: MeshWebSocketOptions): Promise<WebSocket> {
  const { source, resolver, protocols, signal, timeoutMs = 10_000, attemptTimeoutMs, maxAttempts, domain, ...wsOptions } = options
  for (const key of REFUSED_OPTIONS) {
    if (key in wsOptions) throw new InvalidOptionError(key, 'is not accepted: the mesh dialer makes the connection and verifies the server')
  }
  const parsed = parseUrl(url)
  const target = parseMeshHost(parsed.hostname, domain === undefined ? {} : { domain })
  const what = `opening WebSocket ${parsed.href}`
  const { WebSocket: WebSocketClass } = await loadWs()
  const socket = await dialService(target, {
    resolver,
    source,
    timeoutMs,
    alpn: ['http/1.1'],
    ...(signal === undefined ? {} : { signal }),
    ...(attemptTimeoutMs === undefined ? {} : { attemptTimeoutMs }),
    ...(maxAttempts === undefined ? {} : { maxAttempts })
  })

  let handedOut = false
  const createConnection = (): TLSSocket => {
    // ws asks once per handshake; a second call could only come from a redirect, which is disabled.
    if (handedOut) throw new InvalidOptionError('url', 'the mesh connection was already used')
    handedOut = true
    return socket
  }
  let client: WebSocket
  try {
    if (signal?.aborted === true) throw abortError(what, signal)
    client = new WebSocketClass(parsed, protocols === undefined ? [] : typeof protocols === 'string' ? [protocols] : [...protocols], {
      handshakeTimeout: timeoutMs,
      ...wsOptions,
      createConnection: createConnection as unknown as ClientOptions['createConnection'],
      followRedirects: false
    })
  } catch (err) {
    socket.destroy()
    throw err
  }
  return opened(client, socket, what, signal)
}

/** Waits for the handshake; see the module comment for how each outcome maps. */
function opened (client: WebSocket, socket: TLSSocket, what: string, signal: AbortSignal | undefined): Promise<WebSocket> {
  return new Promise<WebSocket>((resolve, reject) => {
    const done = (err?: unknown): void => {
      client.off('open', onOpen)
      client.off('error', onError)
      client.off('unexpected-response', onRefused)
      signal?.removeEventListener('abort', onAbort)
      if (err === undefined) {
        resolve(client)
        return
      }
      // ws needs an 'error' listener while it tears down, or a late error would be thrown.
      client.on('error', () => {})
      client.terminate()
      socket.destroy()
      reject(err)
    }
    const onOpen = (): void => done()
    const onError = (err: Error): void => done(err)
    const onAbort = (): void => done(abortError(what, signal))
    const onRefused = (req: { destroy (): void }, res: NodeJS.ReadableStream & { statusCode?: number, statusMessage?: string }): void => {
      const status = res.statusCode ?? 0
      const chunks: Buffer[] = []
      let size = 0
      res.on('data', (chunk: Buffer) => {
        if (size < MAX_REASON_BYTES) chunks.push(chunk)
        size += chunk.length
      })
      const finish = (): void => {
        req.destroy()
        const body = Buffer.concat(chunks).subarray(0, MAX_REASON_BYTES).toString('utf8').trim()
        if (status === 403) {
          done(new AuthorizationError(body === '' ? 'the server refused the WebSocket upgrade (403)' : body))
        } else {
          done(new Error(`Unexpected server response: ${status}${body === '' ? '' : `: ${body}`}`))
        }
      }
      res.once('end', finish)
      res.once('error', finish)
    }
    client.once('open', onOpen)
    client.once('error', onError)
    client.once('unexpected-response', onRefused as never)
    signal?.addEventListener('abort', onAbort, { once: true })
  })
}

function parseUrl (url: string | URL): URL {
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch (err) {
    throw new InvalidOptionError('url', `${JSON.stringify(String(url))} is not a URL`, { cause: err })
  }
  if (parsed.protocol === 'https:') parsed.protocol = 'wss:'
  if (parsed.protocol !== 'wss:') throw new InvalidOptionError('url', `${parsed.protocol} is not accepted: mesh WebSockets are wss: (or https:) URLs`)
  if (parsed.port !== '') throw new InvalidOptionError('url', 'mesh URLs take no port (instances\' registered ports are used)')
  if (parsed.hash !== '') throw new InvalidOptionError('url', 'a WebSocket URL has no fragment')
  return parsed
}
