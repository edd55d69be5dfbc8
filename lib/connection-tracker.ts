/**
 * ConnectionTracker: the open, accepted inbound connections of the servers a ConnectService manages, for live
 * enforcement and a maximum connection lifetime.
 *
 * Neither Consul nor its Envoy sidecars end a connection when an intention changes to deny; Consul's docs suggest
 * a maximum connection lifetime or periodic re-authorization instead. This tracker offers both, opt-in:
 * `reauthorize()` re-decides every open connection with the authorizer that accepted it and destroys the denied
 * ones; `maxLifetimeMs` destroys any connection that reaches that age. Each closure is reported with its reason.
 *
 * Only connections that passed the TLS guard (a verified, authorized peer) are tracked; they leave the set when
 * they close. Timers are unref'd.
 */
import type { Server as TlsServer, TLSSocket } from 'node:tls'
import { safeAuthorize } from './authz/authorizer.js'
import type { Authorizer, Decision, Peer } from './authz/authorizer.js'
import { peerOf } from './tls/peer.js'

/** A connection closed by the tracker. */
export interface ClosedConnection {
  readonly peer: Peer
  readonly remoteAddress: string | undefined
  readonly reason: string
  /** 'reauthorize' (live enforcement, or `reauthorize()`) or 'lifetime' (maximum connection lifetime). */
  readonly cause: 'reauthorize' | 'lifetime'
  /** The decision that denied it (live enforcement only). */
  readonly decision?: Decision
}

interface Entry {
  readonly peer: Peer
  readonly authorizer: Authorizer
  readonly timer: NodeJS.Timeout | undefined
}

export interface ConnectionTrackerOptions {
  readonly maxLifetimeMs?: number
  readonly onClosed?: (closed: ClosedConnection) => void
}

export class ConnectionTracker {
  readonly #open = new Map<TLSSocket, Entry>()
  readonly #servers = new Map<TlsServer, (socket: TLSSocket) => void>()
  readonly #maxLifetimeMs: number | undefined
  readonly #onClosed: ((closed: ClosedConnection) => void) | undefined

  constructor (options: ConnectionTrackerOptions = {}) {
    this.#maxLifetimeMs = options.maxLifetimeMs
    this.#onClosed = options.onClosed
  }

  /** Number of connections being tracked. */
  get size (): number { return this.#open.size }

  /** Tracks the accepted connections of `server`, to be re-decided with `authorizer`. */
  track (server: TlsServer, authorizer: Authorizer): void {
    if (this.#servers.has(server)) return
    // Registered with `on`, after the TLS guard's prepended listener: refused sockets have no peer.
    const listener = (socket: TLSSocket): void => {
      const peer = peerOf(socket)
      if (peer === undefined || socket.destroyed) return
      const timer = this.#maxLifetimeMs === undefined
        ? undefined
        : setTimeout(() => this.#close(socket, { cause: 'lifetime', reason: `maximum connection lifetime of ${this.#maxLifetimeMs} ms reached` }), this.#maxLifetimeMs)
      timer?.unref()
      this.#open.set(socket, { peer, authorizer, timer })
      socket.once('close', () => this.#forget(socket))
    }
    server.on('secureConnection', listener)
    this.#servers.set(server, listener)
  }

  /** Re-decides every open connection; destroys and reports the denied ones. Returns how many were closed. */
  reauthorize (): number {
    let closed = 0
    for (const [socket, entry] of [...this.#open]) {
      const decision = safeAuthorize(entry.authorizer, entry.peer)
      if (!decision.allowed) {
        this.#close(socket, { cause: 'reauthorize', reason: decision.reason, decision })
        closed++
      }
    }
    return closed
  }

  /** Stops tracking (listeners and timers removed); open connections are left alone. Idempotent. */
  dispose (): void {
    for (const [server, listener] of this.#servers) server.off('secureConnection', listener)
    this.#servers.clear()
    for (const socket of [...this.#open.keys()]) this.#forget(socket)
  }

  #close (socket: TLSSocket, why: { cause: ClosedConnection['cause'], reason: string, decision?: Decision }): void {
    const entry = this.#open.get(socket)
    if (entry === undefined) return
    this.#forget(socket)
    // Read before destroy(): a destroyed socket no longer knows its peer's address unless it was read before.
    const remoteAddress = socket.remoteAddress
    socket.destroy()
    try {
      this.#onClosed?.(Object.freeze({ peer: entry.peer, remoteAddress, ...why }))
    } catch { /* observers must not break enforcement */ }
  }

  #forget (socket: TLSSocket): void {
    const entry = this.#open.get(socket)
    if (entry === undefined) return
    if (entry.timer !== undefined) clearTimeout(entry.timer)
    this.#open.delete(socket)
  }
}
