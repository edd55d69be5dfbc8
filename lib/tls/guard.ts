/**
 * TlsGuard: makes a Node TLS server (`tls.Server`, `https.Server`, HTTP/2 secure server) a mesh server that
 * presents the current leaf, trusts the current roots, and decides every connection.
 *
 * What attaching does to the server:
 * - `requestCert = true`, `rejectUnauthorized = false`: OpenSSL asks for and verifies the client's chain
 *   but lets the handshake finish, so a refusal can carry a reason and be counted;
 * - its secure context is replaced (`setSecureContext`) now and after every credentials change; open
 *   connections keep the context they started with, new ones get the new one. Each context has fresh
 *   ticket keys and a session id context bound to its snapshot (context.ts): sessions never resume across
 *   generations. Until the source is ready the context has no certificate, so handshakes fail at once;
 * - a `secureConnection` listener is *prepended*, so it runs before the http/http2 listeners (and any added
 *   later with `on`): it checks the peer (peer.ts), asks the authorizer, and either records the peer for
 *   {@link peerOf} or destroys the socket before any application byte is read. Resumed sessions go through
 *   the same path. Do not `prependListener('secureConnection')` after attaching;
 * - the handshake timeout is set (Node's own, which reports `ERR_TLS_HANDSHAKE_TIMEOUT`);
 * - `tlsClientError`s are counted by reason and the socket destroyed (Node leaves it open when a listener
 *   exists).
 *
 * Observing: typed events (`accepted`, `refused`, `tlsError`, `context`, `contextError`; guard-events.ts),
 * the `onDecision` option, `counters`, and diagnostics channels (channels.ts).
 *
 * Lifecycle: the guard follows the source while the server lives. When the server emits `close` it
 * unsubscribes (and resubscribes on a later `listening`). `detach()` unsubscribes for good and the server
 * then refuses every connection with ERR_CONNECT_CLOSED: a server that no longer follows the mesh's
 * credentials must not keep accepting on stale ones (fail closed). Attach again to resume.
 */
import { EventEmitter } from 'node:events'
import type { Server as TlsServer, TLSSocket } from 'node:tls'
import { safeAuthorize } from '../authz/authorizer.js'
import type { Authorizer, Decision, Peer } from '../authz/authorizer.js'
import { ConnectError } from '../errors.js'
import type { ErrorCode } from '../errors.js'
import type { Credentials, CredentialsSource } from '../identity/source.js'
import { isReady, serverContextOptions } from './context.js'
import type { CarriedServerSettings } from './context.js'
import { contextChannel, decisionChannel, tlsErrorChannel } from './channels.js'
import { TlsCounters } from './counters.js'
import type { AcceptedConnection, ConnectionDecision, RefusedConnection, TlsGuardEvents } from './guard-events.js'
import { classifyTlsError } from './handshake-error.js'
import { DEFAULT_HANDSHAKE_TIMEOUT_MS } from './options.js'
import type { MtlsOptions } from './options.js'
import { checkPeer, setPeer } from './peer.js'

/** Properties every tls.Server has at run time that the typings leave out. */
interface ServerInternals {
  requestCert: boolean
  rejectUnauthorized: boolean
  [key: string | symbol]: unknown
}

export class TlsGuard extends EventEmitter<TlsGuardEvents> {
  readonly server: TlsServer
  /** Accepted, refused (by code) and failed handshakes (by reason) since attaching. */
  readonly counters = new TlsCounters()
  readonly #source: CredentialsSource
  readonly #authorizer: Authorizer
  readonly #onDecision: ((decision: ConnectionDecision) => void) | undefined
  readonly #carried: CarriedServerSettings
  #applied: Credentials | undefined
  #unsubscribe: (() => void) | undefined
  #detached = false

  /**
   * Not for direct use: call `attachTls` (server.ts), which validates options and refuses double attachment.
   * @throws ConnectError ERR_CONNECT_CERT_PARSE when no context can be built (the server is left untouched)
   */
  constructor (server: TlsServer, options: MtlsOptions) {
    super()
    this.server = server
    this.#source = options.source
    this.#authorizer = options.authorizer
    this.#onDecision = options.onDecision
    this.#carried = carriedSettings(server)
    // First the context, which may throw: a failure must leave the server as it was.
    this.#apply(options.source.credentials, true)
    const internals = server as unknown as ServerInternals
    internals.requestCert = true
    internals.rejectUnauthorized = false
    setHandshakeTimeout(server, options.handshakeTimeoutMs ?? DEFAULT_HANDSHAKE_TIMEOUT_MS)
    server.prependListener('secureConnection', this.#onSecureConnection)
    server.on('tlsClientError', this.#onTlsClientError)
    server.on('close', this.#onClose)
    server.on('listening', this.#onListening)
    this.#subscribe()
  }

  /** Generation of the credentials snapshot whose context new connections get; 0 before any. */
  get generation (): number {
    return this.#applied?.generation ?? 0
  }

  /** False once {@link detach} was called. */
  get attached (): boolean {
    return !this.#detached
  }

  /**
   * Stops following the source; from now on every new connection is refused with ERR_CONNECT_CLOSED.
   * Open connections are untouched. Idempotent.
   */
  detach (): void {
    if (this.#detached) return
    this.#detached = true
    this.#unsubscribeNow()
    this.server.off('close', this.#onClose)
    this.server.off('listening', this.#onListening)
  }

  /** @internal Removes every listener (used when a detached server is attached again). */
  dispose (): void {
    this.detach()
    this.server.off('secureConnection', this.#onSecureConnection)
    this.server.off('tlsClientError', this.#onTlsClientError)
  }

  #subscribe (): void {
    if (this.#unsubscribe !== undefined || this.#detached) return
    this.#unsubscribe = this.#source.onChange((next) => this.#apply(next, false))
    // A change may have happened while unsubscribed (or between construction and now).
    this.#apply(this.#source.credentials, false)
  }

  #unsubscribeNow (): void {
    const unsubscribe = this.#unsubscribe
    this.#unsubscribe = undefined
    unsubscribe?.()
  }

  #apply (credentials: Credentials, initial: boolean): void {
    if (credentials === this.#applied) return
    try {
      this.server.setSecureContext(serverContextOptions(credentials, this.#carried))
    } catch (cause) {
      const error = new ConnectError('ERR_CONNECT_CERT_PARSE',
        `building the TLS context for credentials generation ${credentials.generation}: ${(cause as Error)?.message ?? String(cause)}`, { cause })
      if (initial) throw error
      // Fail closed: roots may have been removed, so the previous context must not stay in force either.
      try {
        this.server.setSecureContext(serverContextOptions({ identity: undefined, bundle: undefined, generation: credentials.generation }, this.#carried))
      } catch {
        // Only carried settings can make this fail, and they were accepted at attach: nothing more to do.
      }
      this.#applied = undefined
      this.emit('contextError', error)
      return
    }
    this.#applied = credentials
    if (initial) return
    const change = Object.freeze({ generation: credentials.generation, ready: isReady(credentials) })
    this.emit('context', change)
    if (contextChannel.hasSubscribers) contextChannel.publish({ server: this.server, change })
  }

  readonly #onClose = (): void => {
    this.#unsubscribeNow()
  }

  readonly #onListening = (): void => {
    this.#subscribe()
  }

  readonly #onSecureConnection = (socket: TLSSocket): void => {
    const outcome = this.#decide(socket)
    if (outcome.allowed) {
      setPeer(socket, outcome.peer)
      this.counters.countAccepted()
      // The event is built only when someone takes it: reading remoteAddress makes Node keep an address
      // object on every socket, and accepted connections are the hot path.
      if (this.listenerCount('accepted') > 0 || this.#onDecision !== undefined || decisionChannel.hasSubscribers) {
        const event: AcceptedConnection = Object.freeze({
          allowed: true, peer: outcome.peer, decision: outcome.decision, remoteAddress: socket.remoteAddress, resumed: socket.isSessionReused()
        })
        this.emit('accepted', event)
        this.#observe(event)
      }
      return
    }
    const remoteAddress = socket.remoteAddress
    const resumed = socket.isSessionReused()
    // Synchronously, inside the first secureConnection listener: no application byte has been read yet.
    socket.destroy()
    this.#refused({ ...outcome, remoteAddress, resumed })
  }

  readonly #onTlsClientError = (err: Error, socket: TLSSocket): void => {
    const remoteAddress = socket.remoteAddress
    socket.destroy()
    const reason = classifyTlsError(err)
    if (reason === 'handshake' && !isReady(this.#applied)) {
      // The context has no certificate: this handshake failed because we are not ready, not the client.
      this.#refused({ allowed: false, code: 'ERR_CONNECT_NOT_READY', reason: `no leaf certificate or CA roots yet: ${err.message}`, remoteAddress, resumed: false })
      return
    }
    this.counters.countTlsError(reason)
    const code = (err as { code?: unknown }).code
    const info = Object.freeze({ reason, code: typeof code === 'string' ? code : undefined, message: err.message, remoteAddress })
    this.emit('tlsError', info)
    if (tlsErrorChannel.hasSubscribers) tlsErrorChannel.publish({ server: this.server, info })
  }

  #refused (event: RefusedConnection): void {
    const frozen = Object.freeze(event)
    this.counters.countRefused(frozen.code)
    // The channel and onDecision first: a throwing 'refused' listener must not cost them the message.
    this.#observe(frozen)
    this.emit('refused', frozen)
  }

  /** The callback and channel of every decision. An observer that throws must not break serving. */
  #observe (decision: ConnectionDecision): void {
    if (decisionChannel.hasSubscribers) decisionChannel.publish({ server: this.server, decision })
    try {
      this.#onDecision?.(decision)
    } catch {
      // Documented as must-not-throw; swallowing keeps one bad observer from crashing the server.
    }
  }

  #decide (socket: TLSSocket): Outcome {
    try {
      if (this.#detached) return refuse('ERR_CONNECT_CLOSED', 'the server was detached from the mesh (fail closed)')
      const credentials = this.#source.credentials
      if (!isReady(credentials)) return refuse('ERR_CONNECT_NOT_READY', 'no leaf certificate or CA roots yet')
      const now = Date.now()
      const identity = credentials.identity
      if (identity.validBefore.getTime() < now) {
        return refuse('ERR_CONNECT_LEAF_EXPIRED', `our leaf ${identity.serial} expired at ${identity.validBefore.toISOString()} and no fresh one has arrived`)
      }
      const check = checkPeer(socket, now)
      if (!check.ok) return refuse(check.code, check.reason)
      const decision = safeAuthorize(this.#authorizer, check.peer)
      if (!decision.allowed) return { allowed: false, code: 'ERR_CONNECT_NOT_AUTHORIZED', reason: decision.reason, peer: check.peer, decision }
      return { allowed: true, peer: check.peer, decision }
    } catch (err) {
      // Nothing above should throw; if it does, refuse rather than crash the server from inside an emit.
      return refuse('ERR_CONNECT_PEER_VERIFICATION', `checking the peer failed: ${(err as Error)?.message ?? String(err)}`)
    }
  }
}

type Outcome =
  | { readonly allowed: true, readonly peer: Peer, readonly decision: Decision }
  | { readonly allowed: false, readonly code: ErrorCode, readonly reason: string, readonly peer?: Peer, readonly decision?: Decision }

function refuse (code: ErrorCode, reason: string): Outcome {
  return { allowed: false, code, reason }
}

/**
 * Sets Node's handshake timeout on an existing server. Node keeps it under a private symbol that its
 * connection listener reads for each new connection (there is no public setter); found by description,
 * and left alone if a future Node stores it differently. Servers the library creates also get the
 * public `handshakeTimeout` option, so this matters only for attached servers.
 */
function setHandshakeTimeout (server: TlsServer, ms: number): boolean {
  const internals = server as unknown as ServerInternals
  const symbol = Object.getOwnPropertySymbols(server).find((s) => s.description === 'handshake-timeout')
  if (symbol === undefined || typeof internals[symbol] !== 'number') return false
  internals[symbol] = ms
  return true
}

/** What `setSecureContext` would reset and a user may have configured (see context.ts). */
function carriedSettings (server: TlsServer): CarriedServerSettings {
  const s = server as unknown as ServerInternals
  const str = (key: string): string | undefined => typeof s[key] === 'string' ? s[key] : undefined
  const num = (key: string): number | undefined => typeof s[key] === 'number' ? s[key] : undefined
  const version = (key: string): CarriedServerSettings['minVersion'] => str(key) as CarriedServerSettings['minVersion']
  const dhparam = s.dhparam
  const settings: Record<string, unknown> = {
    ciphers: str('ciphers'),
    sigalgs: str('sigalgs'),
    ecdhCurve: str('ecdhCurve'),
    dhparam: typeof dhparam === 'string' || Buffer.isBuffer(dhparam) ? dhparam : undefined,
    honorCipherOrder: typeof s.honorCipherOrder === 'boolean' ? s.honorCipherOrder : undefined,
    secureOptions: num('secureOptions'),
    minVersion: version('minVersion'),
    maxVersion: version('maxVersion'),
    sessionTimeout: num('sessionTimeout')
  }
  // exactOptionalPropertyTypes: leave absent settings out rather than set them to undefined.
  return Object.fromEntries(Object.entries(settings).filter(([, value]) => value !== undefined)) as CarriedServerSettings
}
