/**
 * meshDispatcher: an undici Dispatcher that sends `https://<service>.service[.<dc>].consul/...` requests to
 * that service over mutual TLS, so `fetch`, `request`, `stream` and friends address mesh services by name.
 *
 * It is an undici `Agent` whose `connect` function, for each new connection: parses the origin's hostname
 * with {@link parseMeshHost}, resolves it, and dials an instance with {@link dialService} (failover and
 * identity verification included). What this gives, and why:
 * - Credentials are read from the source when each connection is made, so after a leaf rotation the next
 *   new connection presents the new leaf; connections already open keep theirs until they close.
 * - undici's own connector (and its TLS session cache) is bypassed: every connection is a full handshake
 *   verified against the current roots.
 * - undici keys its pools by origin (`Agent` keeps one Pool per `String(origin)`; see undici's
 *   lib/dispatcher/agent.js), and each pool only ever calls `connect` for its own origin. A socket made
 *   and verified for `db.service.consul` is therefore never reused for another service. Two spellings of
 *   one service (`db.service.consul`, `db.service.dc1.consul`) get separate pools, each verified.
 * - Pooling, keep-alive and pipelining are undici's, tuned by the options below.
 *
 * Only `https:` origins under the mesh domain are accepted; any other origin (including the target of a
 * redirect outside the mesh) fails to connect with ERR_CONNECT_INVALID_OPTION (field `hostname` or
 * `origin`), which `fetch` reports as the `cause` of its "fetch failed" TypeError. A port in the URL is
 * refused: instances' registered ports are used. Dial failures keep their codes (see dial.ts).
 */
import { Agent, fetch } from 'undici'
import type { buildConnector, Dispatcher, RequestInfo, RequestInit, Response } from 'undici'
import { z } from 'zod'
import { InvalidOptionError } from '../errors.js'
import type { CredentialsSource } from '../identity/source.js'
import { parseOptions } from '../agent/validate.js'
import { dialService } from './dial.js'
import { parseMeshHost } from './mesh-host.js'
import type { Resolver } from './resolver.js'

export interface MeshDispatcherOptions {
  readonly source: CredentialsSource
  readonly resolver: Resolver
  /** Consul's DNS domain in URLs. Default `consul`. */
  readonly domain?: string
  /** Deadline to resolve and connect one new connection, ms. Default 10 000. */
  readonly connectTimeoutMs?: number
  /** Deadline of one instance's connect and handshake, ms. Default 5 000. */
  readonly attemptTimeoutMs?: number
  /** Most instances tried per new connection. Default 3. */
  readonly maxAttempts?: number
  /** Idle time before a kept-alive connection is closed, ms (undici's `keepAliveTimeout`). Default 4 000. */
  readonly keepAliveTimeoutMs?: number
  /** Upper bound on a server's keep-alive hint, ms (undici's `keepAliveMaxTimeout`). Default 600 000. */
  readonly keepAliveMaxTimeoutMs?: number
  /** Connections per origin (service). Default: no limit. */
  readonly connections?: number
  /** Requests pipelined per connection (undici's `pipelining`). Default 1. */
  readonly pipelining?: number
  /** Offer HTTP/2 (ALPN `h2`, then `http/1.1`). Default false: HTTP/1.1 only. */
  readonly allowH2?: boolean
  /** undici's `headersTimeout`, ms. Default 300 000. */
  readonly headersTimeoutMs?: number
  /** undici's `bodyTimeout`, ms. Default 300 000. */
  readonly bodyTimeoutMs?: number
}

const integer = z.number().int()
const optionsSchema = z.strictObject({
  source: z.custom<CredentialsSource>((v) => typeof v === 'object' && v !== null && 'credentials' in v, 'expected a CredentialsSource'),
  resolver: z.custom<Resolver>((v) => typeof v === 'object' && v !== null && typeof (v as Resolver).resolve === 'function', 'expected an object with a resolve() method'),
  domain: z.string().min(1).optional(),
  connectTimeoutMs: integer.positive().optional(),
  attemptTimeoutMs: integer.positive().optional(),
  maxAttempts: integer.positive().optional(),
  keepAliveTimeoutMs: integer.positive().default(4_000),
  keepAliveMaxTimeoutMs: integer.positive().default(600_000),
  connections: integer.positive().optional(),
  pipelining: integer.nonnegative().default(1),
  allowH2: z.boolean().default(false),
  headersTimeoutMs: integer.nonnegative().default(300_000),
  bodyTimeoutMs: integer.nonnegative().default(300_000)
})

/** Builds the dispatcher; validates options eagerly (InvalidOptionError naming `dispatcher.<field>`). */
export function meshDispatcher (options: MeshDispatcherOptions): Agent {
  const o = parseOptions(optionsSchema, options, 'dispatcher')
  const domain = o.domain ?? 'consul'
  parseMeshHost(`x.service.${domain}`, { domain }) // validates the domain now rather than at first request
  const alpn = o.allowH2 ? ['h2', 'http/1.1'] : ['http/1.1']

  const connect: buildConnector.connector = (origin, callback) => {
    let target
    try {
      if (origin.protocol !== 'https:') {
        throw new InvalidOptionError('origin', `${origin.protocol}//${origin.hostname} is not a mesh origin: only https: URLs reach mesh services`)
      }
      target = parseMeshHost(origin.hostname, { domain })
      if (origin.port !== '' && origin.port !== '443') {
        throw new InvalidOptionError('origin', `https://${origin.hostname}:${origin.port} names a port: mesh URLs take none (instances' registered ports are used)`)
      }
    } catch (err) {
      callback(err as Error, null)
      return
    }
    dialService(target, {
      resolver: o.resolver,
      source: o.source,
      alpn,
      ...defined({ timeoutMs: o.connectTimeoutMs, attemptTimeoutMs: o.attemptTimeoutMs, maxAttempts: o.maxAttempts })
    }).then((socket) => {
      // What undici's own connector does for its sockets: no Nagle delay, TCP keep-alive probes.
      socket.setNoDelay(true)
      socket.setKeepAlive(true, 60_000)
      callback(null, socket)
    }, (err: unknown) => {
      callback(err instanceof Error ? err : new Error(String(err)), null)
    })
  }

  return new Agent({
    connect,
    keepAliveTimeout: o.keepAliveTimeoutMs,
    keepAliveMaxTimeout: o.keepAliveMaxTimeoutMs,
    pipelining: o.pipelining,
    allowH2: o.allowH2,
    headersTimeout: o.headersTimeoutMs,
    bodyTimeout: o.bodyTimeoutMs,
    ...(o.connections === undefined ? {} : { connections: o.connections })
  })
}

/** A `fetch` bound to `dispatcher` (a {@link meshDispatcher}): `meshFetch(d)('https://db.service.consul/x')`. */
export function meshFetch (dispatcher: Dispatcher): (input: RequestInfo, init?: RequestInit) => Promise<Response> {
  return (input, init) => fetch(input, { ...init, dispatcher })
}

function defined<T extends Record<string, number | undefined>> (values: T): { [K in keyof T]?: number } {
  const out: Record<string, number> = {}
  for (const [key, value] of Object.entries(values)) if (value !== undefined) out[key] = value
  return out as { [K in keyof T]?: number }
}
