/**
 * Observability of a ConnectService besides its events: an optional logger (no-op by default) and
 * `node:diagnostics_channel` channels, one per kind of event, for tracers and metrics that subscribe without a
 * reference to the service.
 *
 * Channels (`consul-connect-native:service:<kind>`); every message carries `service` (the service name):
 * - `ready` — `{ service, identity }` once leaf, roots and intentions are loaded;
 * - `leaf` — `{ service, identity }` when a new leaf is in use (renewal, re-issue after a root rotation);
 * - `roots` — `{ service, trustDomain, roots }` when the trusted roots changed;
 * - `intentions` — `{ service, intentions }` when a new intentions snapshot is in force;
 * - `refused` — `{ service, refused }` for every refused connection;
 * - `request-denied` — `{ service, denied }` for every HTTP request, stream or upgrade answered 403;
 * - `connection-closed` — `{ service, closed }` when live enforcement or the maximum lifetime closed one;
 * - `error` — `{ service, error }` when an update failed and the last good state kept serving.
 * Messages are built only while a channel has subscribers. Accepted connections and handshake failures have
 * the TLS layer's channels (tls/channels.ts).
 *
 * The logger gets one line per event at a fixed level (see {@link LEVELS}) with a few flat fields. Nothing
 * secret is ever logged: no token (agent errors are redacted where they are made), no private key, no PEM.
 * A logger that throws is ignored: observing must not break serving.
 */
import diagnosticsChannel from 'node:diagnostics_channel'
import type { Channel } from 'node:diagnostics_channel'
import type { Intentions } from './authz/intentions.js'
import type { ClosedConnection } from './connection-tracker.js'
import type { ConnectError } from './errors.js'
import type { RefusedConnection, TlsErrorInfo } from './tls/guard-events.js'
import type { DeniedRequest } from './tls/request-guard.js'

/** One log method: a message and flat fields. `console.info` and friends fit; so does an adapter to pino. */
export type LogMethod = (message: string, fields?: Readonly<Record<string, unknown>>) => void

/** Any subset of the four levels; a missing level is not logged. */
export interface Logger {
  readonly debug?: LogMethod
  readonly info?: LogMethod
  readonly warn?: LogMethod
  readonly error?: LogMethod
}

/** What the observer needs of a service identity (a ServiceIdentity fits). */
interface IdentityLike {
  readonly spiffeId: string
  readonly serial: string
  readonly validBefore: Date
}

/** The service's events, with their arguments, as the observer sees them. */
export interface ObservedEvents {
  ready: [identity: IdentityLike | undefined]
  leaf: [identity: IdentityLike]
  roots: [info: { trustDomain: string, roots: number }]
  intentions: [intentions: Intentions]
  refused: [refused: RefusedConnection]
  tlsError: [info: TlsErrorInfo]
  requestDenied: [denied: DeniedRequest]
  connectionClosed: [closed: ClosedConnection]
  error: [error: ConnectError]
}

type Level = keyof Logger

/** The level each event is logged at. Refusals and denials are `debug`: a flood of bad clients must not flood the log. */
export const LEVELS: Readonly<Record<keyof ObservedEvents, Level>> = Object.freeze({
  ready: 'info',
  leaf: 'info',
  roots: 'info',
  intentions: 'info',
  refused: 'debug',
  tlsError: 'debug',
  requestDenied: 'debug',
  connectionClosed: 'info',
  error: 'warn'
})

const CHANNEL_OF: Readonly<Record<Exclude<keyof ObservedEvents, 'tlsError'>, string>> = Object.freeze({
  ready: 'ready',
  leaf: 'leaf',
  roots: 'roots',
  intentions: 'intentions',
  refused: 'refused',
  requestDenied: 'request-denied',
  connectionClosed: 'connection-closed',
  error: 'error'
})

/** The service channels by event name (`consul-connect-native:service:<kind>`). */
export const serviceChannels: Readonly<Record<Exclude<keyof ObservedEvents, 'tlsError'>, Channel>> = Object.freeze(
  Object.fromEntries(Object.entries(CHANNEL_OF).map(([event, kind]) => [event, diagnosticsChannel.channel(`consul-connect-native:service:${kind}`)])) as
    Record<Exclude<keyof ObservedEvents, 'tlsError'>, Channel>
)

/** Checks a `logger` option: an object whose present levels are functions. */
export function isLogger (value: unknown): value is Logger {
  if (typeof value !== 'object' || value === null) return false
  return (['debug', 'info', 'warn', 'error'] as const).every((level) => {
    const method = (value as Record<string, unknown>)[level]
    return method === undefined || typeof method === 'function'
  })
}

/** Reports one service's events to its logger and to the service channels. */
export class ServiceObserver {
  readonly #service: string
  readonly #logger: Logger | undefined

  constructor (service: string, logger: Logger | undefined) {
    this.#service = service
    this.#logger = logger
  }

  /** Logs and publishes one event; never throws. */
  observe<K extends keyof ObservedEvents> (event: K, ...args: ObservedEvents[K]): void {
    if (event !== 'tlsError') {
      const channel = serviceChannels[event as Exclude<K, 'tlsError'>]
      if (channel.hasSubscribers) channel.publish(this.#message(event, args))
    }
    const logger = this.#logger
    if (logger === undefined) return
    const level = event === 'error' && (args[0] as ConnectError).code === 'ERR_CONNECT_LEAF_EXPIRED' ? 'error' : LEVELS[event]
    const method = logger[level]
    if (method === undefined) return
    try {
      const [text, fields] = this.#line(event, args)
      method.call(logger, text, { service: this.#service, ...fields })
    } catch {
      // A logger that throws is the logger's problem: serving goes on.
    }
  }

  #message<K extends keyof ObservedEvents> (event: K, args: ObservedEvents[K]): Record<string, unknown> {
    const service = this.#service
    const [first] = args
    switch (event) {
      case 'ready':
      case 'leaf': return { service, identity: first }
      case 'roots': return { service, ...(first as ObservedEvents['roots'][0]) }
      case 'intentions': return { service, intentions: first }
      case 'refused': return { service, refused: first }
      case 'requestDenied': return { service, denied: first }
      case 'connectionClosed': return { service, closed: first }
      default: return { service, error: first }
    }
  }

  #line<K extends keyof ObservedEvents> (event: K, args: ObservedEvents[K]): [string, Record<string, unknown>] {
    switch (event) {
      case 'ready': {
        const identity = args[0] as IdentityLike | undefined
        return [`ready as ${identity?.spiffeId ?? this.#service}`, identity === undefined ? {} : identityFields(identity)]
      }
      case 'leaf': {
        const identity = args[0] as IdentityLike
        return [`new leaf ${identity.serial} in use, valid until ${identity.validBefore.toISOString()}`, identityFields(identity)]
      }
      case 'roots': {
        const info = args[0] as ObservedEvents['roots'][0]
        return [`trusted roots changed: ${info.roots} trusted`, { trustDomain: info.trustDomain, roots: info.roots }]
      }
      case 'intentions': {
        const ix = args[0] as Intentions
        return [`intentions changed: ${ix.size} in force`, { intentions: ix.size, hasL7: ix.hasL7, defaultAllow: ix.defaultAllow }]
      }
      case 'refused': {
        const r = args[0] as RefusedConnection
        return [`refused a connection: ${r.reason}`, { code: r.code, remoteAddress: r.remoteAddress, resumed: r.resumed, peer: r.peer?.id.uri }]
      }
      case 'tlsError': {
        const info = args[0] as TlsErrorInfo
        return [`handshake failed: ${info.message}`, { reason: info.reason, code: info.code, remoteAddress: info.remoteAddress }]
      }
      case 'requestDenied': {
        const d = args[0] as DeniedRequest
        return [`denied ${d.method} ${d.path}: ${d.decision.reason}`, { peer: d.peer?.id.uri, method: d.method, path: d.path }]
      }
      case 'connectionClosed': {
        const c = args[0] as ClosedConnection
        return [`closed a connection from ${c.peer.id.uri}: ${c.reason}`, { peer: c.peer.id.uri, cause: c.cause, remoteAddress: c.remoteAddress }]
      }
      default: {
        const err = args[0] as ConnectError
        return [err.message, { code: err.code }]
      }
    }
  }
}

function identityFields (identity: IdentityLike): Record<string, unknown> {
  return { spiffeId: identity.spiffeId, serial: identity.serial, validBefore: identity.validBefore.toISOString() }
}
