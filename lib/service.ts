/**
 * ConnectService: the facade that makes this process a Connect-native member of the mesh.
 *
 * It composes a credentials source (the local agent's leaf and roots by default), an authorizer, the mTLS
 * servers and the mesh clients, and owns their lifecycle:
 *
 * - `ready({ signal })` resolves once a leaf and the roots are loaded (and whatever the authorizer needs);
 *   it never rejects on transient agent errors, so the caller picks the deadline with `signal`.
 * - Servers can be created before `ready`: until then they refuse handshakes (fail closed). Leaf renewal and
 *   root rotation swap the servers' contexts for new connections; open connections are untouched.
 * - `dial`, `fetch`, `dispatcher()` and `webSocket` read the current identity per new connection and verify
 *   the server's SPIFFE ID; before `ready` they reject with ERR_CONNECT_NOT_READY.
 * - `close()` is idempotent: it detaches from the servers it manages (which then refuse new connections; the
 *   servers themselves belong to the caller), closes the dispatcher, the resolver, the watches and the agent
 *   client it created. Nothing the service creates keeps the process alive.
 *
 * Who owns what: objects passed in (an `AgentClient`, a `CredentialsSource`, a `Resolver`) stay the caller's
 * and are not closed; objects the service created from options are.
 *
 * Its options, events and the types it reports are in service-options.ts.
 */
import { EventEmitter } from 'node:events'
import { Server as HttpsServerClass } from 'node:https'
import type { Server as HttpsServer } from 'node:https'
import type { Http2SecureServer } from 'node:http2'
import type { Server as TlsServer, TLSSocket } from 'node:tls'
import type { RequestListener } from 'node:http'
import type { Dispatcher } from 'undici'
import type { WebSocket } from 'ws'
import { AgentClient } from './agent/client.js'
import type { AgentClientOptions } from './agent/options.js'
import type { AgentRequester } from './agent/blocking-query.js'
import { safeAuthorize } from './authz/authorizer.js'
import { intentionsAuthorizer } from './authz/constructors.js'
import type { Intentions } from './authz/intentions.js'
import { certificateAuthenticator } from './authz/certificate-authenticator.js'
import type { CertificateAuthenticator } from './authz/certificate-authenticator.js'
import { LiveIntentions } from './live-intentions.js'
import { httpConnectionAuthorizer, summarise, toPeer, validateServiceOptions } from './service-options.js'
import type { ConnectServiceEvents, ConnectServiceOptions, PeerInput, ServerOptions, ServiceIdentity } from './service-options.js'
import { ServiceObserver } from './observe.js'
import type { ObservedEvents } from './observe.js'
import { guardRequests } from './tls/request-guard.js'
import { ConnectionTracker } from './connection-tracker.js'
import type { Authorizer, Decision, HttpRequestInfo, Peer } from './authz/authorizer.js'
import { ConnectError, InvalidOptionError, abortError } from './errors.js'
import { agentCredentials } from './identity/agent-source.js'
import type { Credentials, CredentialsSource } from './identity/source.js'
import { dialService } from './net/dial.js'
import { consulResolver } from './net/consul-resolver.js'
import type { ConsulResolver } from './net/consul-resolver.js'
import type { Resolver, Target } from './net/resolver.js'
import { meshDispatcher, meshFetch } from './net/undici.js'
import { meshWebSocket } from './net/ws.js'
import { parseMeshHost } from './net/mesh-host.js'
import { createRequire } from 'node:module'
import type { MeshWebSocketOptions } from './net/ws.js'
import { attachWebSocketServer } from './net/ws-server.js'
import type { AttachWebSocketOptions, MeshWebSocketServer, OnMeshWebSocket } from './net/ws-server.js'
import { attachTls, createHttp2Server, createHttpsServer, createTlsServer, tlsGuardOf } from './tls/server.js'
import type { TlsGuard } from './tls/guard.js'
import type { Http2Options, HttpsOptions, TlsServerOptions } from './tls/options.js'


export class ConnectService extends EventEmitter<ConnectServiceEvents> {
  readonly service: string
  readonly #options: ConnectServiceOptions
  readonly #agent: AgentClient | undefined
  readonly #ownsAgent: boolean
  readonly #source: CredentialsSource
  readonly #ownsSource: boolean
  readonly #resolver: Resolver
  readonly #ownedResolver: ConsulResolver | undefined
  readonly #authorizer: Authorizer
  readonly #httpConnectionAuthorizer: Authorizer
  readonly #intentions: LiveIntentions | undefined
  readonly #connections: ConnectionTracker
  readonly #guards = new Set<TlsGuard>()
  readonly #webSocketServers = new Set<MeshWebSocketServer>()
  readonly #unsubscribe: Array<() => void> = []
  readonly #observer: ServiceObserver
  #dispatcher: Dispatcher | undefined
  #identity: ServiceIdentity | undefined
  #readyEmitted = false
  #closing: Promise<void> | undefined

  /**
   * Validates options eagerly (InvalidOptionError naming the field) and starts watching the leaf and roots.
   * Nothing blocks: use `ready()` to wait for the first credentials.
   */
  constructor (options: ConnectServiceOptions) {
    super()
    validateServiceOptions(options)
    this.#options = options
    this.service = options.service
    this.#observer = new ServiceObserver(options.service, options.logger)

    if (options.agent instanceof AgentClient) {
      this.#agent = options.agent
      this.#ownsAgent = false
    } else if (options.credentials === undefined || options.resolver === undefined || options.authorizer === undefined) {
      this.#agent = new AgentClient(options.agent as AgentClientOptions | undefined)
      this.#ownsAgent = true
    } else {
      this.#agent = undefined
      this.#ownsAgent = false
    }

    if (options.credentials !== undefined) {
      this.#source = options.credentials
      this.#ownsSource = false
    } else {
      this.#source = agentCredentials({ client: this.#agent as AgentRequester, service: options.service, ...(options.watch ? { watch: options.watch } : {}) })
      this.#ownsSource = true
    }

    if (options.resolver !== undefined) {
      this.#resolver = options.resolver
      this.#ownedResolver = undefined
    } else {
      this.#ownedResolver = consulResolver(this.#agent as AgentRequester)
      this.#resolver = this.#ownedResolver
    }

    if (options.authorizer !== undefined) {
      this.#authorizer = options.authorizer
      this.#intentions = undefined
    } else {
      const live = new LiveIntentions({
        client: this.#agent as AgentClient,
        destination: options.service,
        ...(options.intentions?.defaultAllow !== undefined ? { defaultAllow: options.intentions.defaultAllow } : {}),
        ...(options.watch ? { watch: options.watch } : {})
      })
      this.#intentions = live
      this.#authorizer = intentionsAuthorizer(() => live.current)
      this.#unsubscribe.push(live.onError((err) => this.#emitError(err)))
      this.#unsubscribe.push(live.onChange((next) => {
        this.#maybeReady()
        this.#emitEvent('intentions', next)
        if (options.liveEnforcement === true) this.#connections.reauthorize()
      }))
    }
    this.#httpConnectionAuthorizer = httpConnectionAuthorizer(this.#authorizer)
    this.#connections = new ConnectionTracker({
      ...(options.maxConnectionLifetimeMs !== undefined ? { maxLifetimeMs: options.maxConnectionLifetimeMs } : {}),
      onClosed: (closed) => this.#emitEvent('connectionClosed', closed)
    })

    this.#unsubscribe.push(this.#source.onChange((next, _previous, change) => this.#onCredentials(next, change)))
    this.#unsubscribe.push(this.#source.onError((err) => this.#emitError(err)))
    this.#onCredentials(this.#source.credentials, { identityChanged: true, bundleChanged: true })
  }

  /** True once leaf and roots are loaded and the service has not been closed. */
  get isReady (): boolean {
    const c = this.#source.credentials
    return this.#closing === undefined && c.identity !== undefined && c.bundle !== undefined &&
      (this.#intentions === undefined || this.#intentions.current !== undefined)
  }

  /** Counters of the intentions watch (default authorizer only), for metrics. */
  get intentionsCounters (): LiveIntentions['counters'] | undefined { return this.#intentions?.counters }

  /** The intentions in force (default authorizer only); undefined before they loaded or with a custom authorizer. */
  get intentions (): Intentions | undefined { return this.#intentions?.current }

  /** The current leaf, summarised; undefined before ready. */
  get identity (): ServiceIdentity | undefined { return this.#identity }

  /** The current credentials snapshot (identity, bundle, generation). */
  get credentials (): Credentials { return this.#source.credentials }

  /** The credentials source in use (the agent's unless one was given). */
  get source (): CredentialsSource { return this.#source }

  /** The authorizer deciding inbound connections. */
  get authorizer (): Authorizer { return this.#authorizer }

  /** Counters of every server this service manages, summed. */
  get counters (): { accepted: number, refused: number, tlsErrors: number } {
    let accepted = 0; let refused = 0; let tlsErrors = 0
    for (const guard of this.#guards) {
      accepted += guard.counters.accepted
      refused += guard.counters.refused
      tlsErrors += guard.counters.tlsErrors
    }
    return { accepted, refused, tlsErrors }
  }

  /**
   * Resolves when the leaf and roots are loaded. Transient agent errors do not reject it (they are emitted as
   * 'error'); pass a `signal` for a deadline: it rejects with ERR_CONNECT_ABORTED. Rejects with
   * ERR_CONNECT_CLOSED if the service is closed first.
   */
  async ready (options: { signal?: AbortSignal } = {}): Promise<void> {
    if (this.#closing !== undefined) throw new ConnectError('ERR_CONNECT_CLOSED', `service "${this.service}" is closed`)
    const { signal } = options
    if (signal?.aborted === true) throw abortError(`waiting for service "${this.service}" to be ready`, signal)
    const opts = signal === undefined ? {} : { signal }
    await Promise.all([this.#source.ready(opts), this.#intentions?.ready(opts)])
  }

  /**
   * Re-decides every open inbound connection now and closes the denied ones ('connectionClosed'). Live
   * enforcement calls this on every intentions change; call it yourself after changing a custom authorizer's
   * inputs. Returns how many connections were closed.
   */
  reauthorize (): number {
    return this.#connections.reauthorize()
  }

  /**
   * A plugin-style authenticator (the shape of Presto/Trino's CertificateAuthenticator): give it the peer's
   * chain (PEM, DER, X509Certificate, or an array, leaf first) and optionally the HTTP request, and it returns the
   * principal or throws (ERR_CONNECT_NOT_AUTHORIZED with the reason, ERR_CONNECT_CERT_* for a bad chain,
   * ERR_CONNECT_NOT_READY before roots are loaded). Synchronous; decides from cached state.
   */
  certificateAuthenticator (): CertificateAuthenticator {
    return certificateAuthenticator({ source: this.#source, authorizer: this.#authorizer })
  }

  /**
   * An https server that serves mutual TLS with this service's identity and decides every connection.
   * Pass `{ http2: true }` for an HTTP/2 server (`allowHTTP1` for HTTP/1.1 fallback).
   */
  createServer (requestListener?: RequestListener): HttpsServer
  createServer (options: ServerOptions & { http2?: false }, requestListener?: RequestListener): HttpsServer
  createServer (options: ServerOptions & { http2: true, allowHTTP1?: boolean }, requestListener?: (req: never, res: never) => void): Http2SecureServer
  createServer (a?: RequestListener | ServerOptions & { http2?: boolean, allowHTTP1?: boolean }, b?: unknown): HttpsServer | Http2SecureServer {
    this.#assertOpen()
    const options = typeof a === 'function' || a === undefined ? {} : a
    const listener = (typeof a === 'function' ? a : b) as RequestListener | undefined
    if (options.http2 === true) {
      const server = createHttp2Server(this.#mtls<Http2Options>(true, { allowHTTP1: options.allowHTTP1 === true, ...(options.serverOptions ? { serverOptions: options.serverOptions as Http2Options['serverOptions'] } : {}) }), listener as never)
      this.#track(server, true)
      return server
    }
    const server = createHttpsServer(this.#mtls<HttpsOptions>(true, options.serverOptions ? { serverOptions: options.serverOptions as HttpsOptions['serverOptions'] } : {}), listener)
    this.#track(server, true)
    return server
  }

  /** A raw TLS server (no ALPN unless `alpn` is given) with the same guarantees as `createServer`. */
  createTlsServer (options: { alpn?: readonly string[], serverOptions?: TlsServerOptions['serverOptions'] } = {}, connectionListener?: (socket: TLSSocket) => void): TlsServer {
    this.#assertOpen()
    const server = createTlsServer(this.#mtls<TlsServerOptions>(false, { ...(options.alpn ? { alpn: options.alpn } : {}), ...(options.serverOptions ? { serverOptions: options.serverOptions } : {}) }), connectionListener)
    this.#track(server, false)
    return server
  }

  /**
   * Gives an existing tls.Server, https.Server or HTTP/2 secure server the same guarantees: this service's
   * identity, the current roots, and a decision on every connection. Returns the server.
   */
  attach<S extends TlsServer | HttpsServer | Http2SecureServer> (server: S): S {
    this.#assertOpen()
    const http = isHttpServer(server)
    const guard = attachTls(server as TlsServer, this.#mtls(http, {}))
    this.#adopt(guard, http)
    return server
  }

  /** Resolves `target` through the resolver and returns a TLS socket whose server proved to be that service. */
  async dial (target: string | Target, options: { signal?: AbortSignal, timeoutMs?: number, alpn?: readonly string[] } = {}): Promise<TLSSocket> {
    this.#assertOpen()
    // Checked before resolving, so a resolver or agent error never hides the plainer cause.
    this.#assertCredentials(`dialling ${typeof target === 'string' ? JSON.stringify(target) : JSON.stringify(target.service ?? target.query)}`)
    return await dialService(target, { resolver: this.#resolver, source: this.#source, ...options })
  }

  /** An undici Dispatcher for `https://<svc>.service[.<dc>].consul` and `.query.` URLs; created once, closed by close(). */
  dispatcher (): Dispatcher {
    this.#assertOpen()
    this.#dispatcher ??= meshDispatcher({ ...(this.#options.dispatcher ?? {}), source: this.#source, resolver: this.#resolver })
    return this.#dispatcher
  }

  /** `fetch` through the mesh: `await svc.fetch('https://web.service.consul/health')`. */
  async fetch (input: Parameters<ReturnType<typeof meshFetch>>[0], init?: Parameters<ReturnType<typeof meshFetch>>[1]): Promise<Awaited<ReturnType<ReturnType<typeof meshFetch>>>> {
    return await meshFetch(this.dispatcher())(input, init)
  }

  /**
   * Opens a WebSocket to a mesh service (`wss://chat.service.consul/room`) and returns it at once, like
   * `new WebSocket(url)`: the mesh target is resolved and dialled (failover across instances, the server's
   * SPIFFE ID verified) before any HTTP byte is sent. Failures surface as the socket's `'error'` event, with
   * the library's error (ERR_CONNECT_NOT_READY, ERR_CONNECT_PEER_VERIFICATION, ERR_CONNECT_NO_INSTANCES...).
   * Use `connectWebSocket` for a promise that settles when the handshake completes.
   */
  webSocket (url: string | URL, options: { protocols?: string | string[], signal?: AbortSignal, timeoutMs?: number, headers?: Record<string, string> } = {}): WebSocket {
    this.#assertOpen()
    const parsed = new URL(String(url))
    if (parsed.protocol !== 'wss:') throw new InvalidOptionError('url', `must be a wss:// mesh URL, got ${parsed.protocol}`)
    const target = parseMeshHost(parsed.hostname)
    const WebSocketClass = loadWsSync()
    const dial = (callback: (err: Error | null, socket?: TLSSocket) => void): void => {
      dialService(target, {
        resolver: this.#resolver,
        source: this.#source,
        alpn: ['http/1.1'],
        ...(options.signal ? { signal: options.signal } : {}),
        ...(options.timeoutMs ? { timeoutMs: options.timeoutMs } : {})
      }).then((socket) => callback(null, socket), (err: Error) => callback(err))
    }
    // Node's ClientRequest accepts an asynchronous createConnection (return nothing, call back later).
    const createConnection = (_opts: unknown, callback: (err: Error | null, socket?: TLSSocket) => void): undefined => { dial(callback); return undefined }
    return new WebSocketClass(parsed, options.protocols ?? [], {
      createConnection: createConnection as never,
      followRedirects: false,
      ...(options.headers ? { headers: options.headers } : {}),
      ...(options.timeoutMs ? { handshakeTimeout: options.timeoutMs } : {})
    })
  }

  /** Like `webSocket`, but resolves once the WebSocket handshake completed (rejects with the failure). */
  async connectWebSocket (url: string | URL, options: Omit<MeshWebSocketOptions, 'source' | 'resolver'> = {}): Promise<WebSocket> {
    this.#assertOpen()
    return await meshWebSocket(url, { ...options, source: this.#source, resolver: this.#resolver })
  }

  /**
   * Serves WebSockets on a server from `createServer` (or one attached): upgrades are authorized (L4 by this
   * service's authorizer, then the optional `authorize`) before the handshake completes.
   */
  async webSocketServer (server: HttpsServer, options: Omit<AttachWebSocketOptions, 'authorize'> & { authorize?: AttachWebSocketOptions['authorize'] }, onConnection: OnMeshWebSocket): Promise<MeshWebSocketServer> {
    this.#assertOpen()
    const authorize = options.authorize
    const wss = await attachWebSocketServer(server, {
      ...options,
      authorize: (peer, request) => {
        const l4 = safeAuthorize(this.#authorizer, peer, request)
        if (!l4.allowed || authorize === undefined) return l4
        return authorize(peer, request)
      }
    }, onConnection)
    this.#webSocketServers.add(wss)
    return wss
  }

  /**
   * Decides a peer synchronously from cached state: a certificate (PEM, DER, `X509Certificate`, parsed), a
   * SPIFFE ID string or a parsed SpiffeId, and optionally an HTTP request for L7. Never throws for bad input:
   * unparseable peers are denied with the reason.
   */
  authorize (peer: PeerInput, request?: HttpRequestInfo): Decision {
    let p: Peer
    try {
      p = toPeer(peer)
    } catch (err) {
      return { allowed: false, reason: `denied: ${(err as Error).message}`, layer: request ? 'L7' : 'L4' }
    }
    return safeAuthorize(this.#authorizer, p, request)
  }

  /**
   * Stops everything the service created: detaches from managed servers (they then refuse new connections),
   * closes the dispatcher, resolver, watches and agent client it owns. Idempotent.
   */
  close (): Promise<void> {
    this.#closing ??= (async () => {
      for (const u of this.#unsubscribe.splice(0)) u()
      this.#connections.dispose()
      for (const guard of this.#guards) guard.detach()
      this.#guards.clear()
      const tasks: Array<Promise<unknown>> = []
      for (const wss of this.#webSocketServers) tasks.push(wss.close())
      if (this.#dispatcher !== undefined) tasks.push(this.#dispatcher.close())
      if (this.#ownedResolver !== undefined) tasks.push(this.#ownedResolver.close())
      if (this.#ownsSource) tasks.push(this.#source.close())
      if (this.#intentions !== undefined) tasks.push(this.#intentions.close())
      await Promise.allSettled(tasks)
      if (this.#ownsAgent && this.#agent !== undefined) await this.#agent.close()
    })()
    return this.#closing
  }

  async [Symbol.asyncDispose] (): Promise<void> { await this.close() }

  /** Server options; HTTP servers accept connections matched by L7 intentions and decide each request. */
  #mtls<T extends object> (http: boolean, extra: Record<string, unknown>): T {
    return {
      ...extra,
      source: this.#source,
      authorizer: http ? this.#httpConnectionAuthorizer : this.#authorizer,
      ...(this.#options.handshakeTimeoutMs !== undefined ? { handshakeTimeoutMs: this.#options.handshakeTimeoutMs } : {})
    } as unknown as T
  }

  #track (server: TlsServer | HttpsServer | Http2SecureServer, http: boolean): void {
    const guard = tlsGuardOf(server as TlsServer)
    if (guard !== undefined) this.#adopt(guard, http)
  }

  #adopt (guard: TlsGuard, http: boolean): void {
    this.#guards.add(guard)
    guard.on('tlsError', (info) => this.#emitEvent('tlsError', info))
    // Refusals only: with nobody listening for accepted connections the guard builds no event for them.
    guard.on('refused', (event) => this.#emitEvent('refused', event))
    this.#connections.track(guard.server, http ? this.#httpConnectionAuthorizer : this.#authorizer)
    if (http) {
      // Not removed by close(): requests on keep-alive connections still open afterwards stay decided (from
      // the last intentions), never waved through. Attaching the server to another service replaces it.
      guardRequests(guard.server, {
        authorizer: this.#authorizer,
        onDenied: (denied) => this.#emitEvent('requestDenied', denied)
      })
    }
  }

  #assertCredentials (what: string): void {
    const c = this.#source.credentials
    if (c.identity === undefined || c.bundle === undefined) {
      throw new ConnectError('ERR_CONNECT_NOT_READY', `${what}: service "${this.service}" has no ${c.identity === undefined ? 'leaf certificate' : 'CA roots'} yet`)
    }
  }

  #assertOpen (): void {
    if (this.#closing !== undefined) throw new ConnectError('ERR_CONNECT_CLOSED', `service "${this.service}" is closed`)
  }

  #onCredentials (next: Credentials, change: { identityChanged: boolean, bundleChanged: boolean }): void {
    if (change.identityChanged && next.identity !== undefined) {
      const previous = this.#identity
      this.#identity = summarise(next)
      if (previous !== undefined && this.#identity !== undefined) this.#emitEvent('leaf', this.#identity)
    }
    if (change.bundleChanged && next.bundle !== undefined && this.#readyEmitted) {
      this.#emitEvent('roots', { trustDomain: next.bundle.trustDomain, roots: next.bundle.roots.length })
    }
    this.#maybeReady()
  }

  /** Emits 'ready' once: leaf, roots and (with the default authorizer) intentions all loaded. */
  #maybeReady (): void {
    if (this.#readyEmitted || this.#closing !== undefined) return
    const c = this.#source.credentials
    if (c.identity === undefined || c.bundle === undefined) return
    if (this.#intentions !== undefined && this.#intentions.current === undefined) return
    this.#readyEmitted = true
    // Let a constructor caller attach listeners before 'ready' fires for preloaded sources.
    queueMicrotask(() => {
      this.#observer.observe('ready', this.#identity)
      this.emit('ready')
    })
  }

  /** Reports an event to the logger and the service channels, then emits it. */
  #emitEvent<K extends Exclude<keyof ObservedEvents, 'ready' | 'error'>> (event: K, arg: ObservedEvents[K][0] & ConnectServiceEvents[K][0]): void {
    ;(this.#observer.observe as (event: K, arg: unknown) => void)(event, arg)
    this.#deliver(event, arg)
  }

  /**
   * Emits to the listeners. These events fire inside TLS callbacks and watches: a listener that throws must not
   * take the server or the watch down with it (nor skip what follows, such as live enforcement), so its exception
   * becomes a process warning (code CONNECT_LISTENER_THREW): loud, not fatal.
   */
  #deliver (event: keyof ConnectServiceEvents, arg: unknown): void {
    try {
      ;(this.emit as (event: string, arg: unknown) => boolean)(event, arg)
    } catch (err) {
      process.emitWarning(`a "${event}" listener of service "${this.service}" threw: ${(err as Error)?.message ?? String(err)}`,
        { code: 'CONNECT_LISTENER_THREW', detail: 'Listeners of ConnectService events must not throw; the exception was dropped.' })
    }
  }

  #emitError (err: ConnectError): void {
    // An unheard 'error' event would throw; the last good state keeps serving regardless.
    this.#observer.observe('error', err)
    if (this.listenerCount('error') > 0) this.#deliver('error', err)
  }
}


let wsClass: typeof WebSocket | undefined
/** ws, loaded on first use only (so services that never use WebSockets never load it). */
function loadWsSync (): typeof WebSocket {
  wsClass ??= (createRequire(import.meta.url)('ws') as { WebSocket: typeof WebSocket }).WebSocket
  return wsClass
}

function isHttpServer (server: object): boolean {
  // https.Server, and http2's secure server (an internal class, recognised by name).
  return server instanceof HttpsServerClass || server.constructor?.name === 'Http2SecureServer'
}

export type { ConnectServiceEvents, ConnectServiceOptions, PeerInput, ServerOptions, ServiceIdentity } from './service-options.js'
