/**
 * Watchers: thin factories over {@link BlockingQuery} for the blocking endpoints the library uses.
 * Each returns a started query (pass `start: false` to start it yourself); listeners attached right
 * after the call see every event, since nothing is emitted synchronously.
 *
 * Every factory accepts the engine's {@link WatchOptions}, `transform` included: a caller can turn a leaf
 * answer into a parsed identity, and a parse failure then counts as an invalid answer (last good state
 * kept, 'error' emitted, retried with backoff).
 */
import { z } from 'zod'
import { BlockingQuery } from './blocking-query.js'
import type { AgentRequester, WatchOptions } from './blocking-query.js'
import type { QueryValue } from './client.js'
import { caRootsSchema, healthConnectSchema, intentionsMatchSchema, leafCertSchema } from './schemas.js'
import type { CaRoots, HealthConnectAnswer, Intention, LeafCert } from './schemas.js'

export interface WatcherOptions<Raw, T> extends WatchOptions<Raw, T> {
  /** Start the query at once. Default true. */
  readonly start?: boolean
}

/** `GET /v1/agent/connect/ca/roots`: every trusted root (not only the active one) and the trust domain. */
export function watchRoots<T = CaRoots> (client: AgentRequester, options: WatcherOptions<CaRoots, T> = {}): BlockingQuery<CaRoots, T> {
  return launch(client, options, { path: '/v1/agent/connect/ca/roots', schema: caRootsSchema, what: 'fetching CA roots' })
}

/** `GET /v1/agent/connect/ca/leaf/<service>`: the service's leaf, key and chain (needs `service:write`). */
export function watchLeaf<T = LeafCert> (client: AgentRequester, service: string, options: WatcherOptions<LeafCert, T> = {}): BlockingQuery<LeafCert, T> {
  return launch(client, options, {
    path: `/v1/agent/connect/ca/leaf/${encodeURIComponent(service)}`,
    schema: leafCertSchema,
    what: `fetching leaf for ${JSON.stringify(service)}`
  })
}

export interface IntentionsWatchOptions<T> extends WatcherOptions<readonly Intention[], T> {
  /** Destination namespace (`ns`); Enterprise only. Default: the client's. */
  readonly namespace?: string
  /** Destination partition; Enterprise only. Default: the client's. */
  readonly partition?: string
}

/**
 * `GET /v1/connect/intentions/match?by=destination&name=<destination>`. The value is that destination's
 * intentions, in Consul's evaluation order. An answer without an entry for the destination is invalid.
 */
export function watchIntentions<T = readonly Intention[]> (client: AgentRequester, destination: string, options: IntentionsWatchOptions<T> = {}): BlockingQuery<readonly Intention[], T> {
  const { namespace, partition, ...rest } = options
  const schema = intentionsMatchSchema.transform((byName, ctx): readonly Intention[] => {
    const found = byName[destination]
    if (found === undefined) {
      ctx.issues.push({ code: 'custom', message: `no entry for destination ${JSON.stringify(destination)}`, path: [destination], input: byName })
      return z.NEVER
    }
    return found
  })
  return launch(client, rest, {
    path: '/v1/connect/intentions/match',
    query: { by: 'destination', name: destination, ...defined({ ns: namespace, partition }) },
    schema,
    what: `fetching intentions for ${JSON.stringify(destination)}`
  })
}

export interface HealthConnectWatchOptions<T> extends WatcherOptions<HealthConnectAnswer, T> {
  /** Only instances whose checks all pass. Default true. */
  readonly passing?: boolean
  /** Datacenter to ask about. Default: the client's. */
  readonly datacenter?: string
  readonly namespace?: string
  readonly partition?: string
  /** Consul filter expression (`filter` parameter), e.g. `Service.Meta.version == "2"`. */
  readonly filter?: string
}

/** `GET /v1/health/connect/<service>`: instances able to accept mesh traffic (Connect-native or proxies). */
export function watchHealthConnect<T = HealthConnectAnswer> (client: AgentRequester, service: string, options: HealthConnectWatchOptions<T> = {}): BlockingQuery<HealthConnectAnswer, T> {
  const { passing = true, datacenter, namespace, partition, filter, ...rest } = options
  return launch(client, rest, {
    path: `/v1/health/connect/${encodeURIComponent(service)}`,
    query: { passing, ...defined({ dc: datacenter, ns: namespace, partition, filter }) },
    schema: healthConnectSchema,
    what: `fetching ${passing ? 'healthy ' : ''}instances of ${JSON.stringify(service)}`
  })
}

function launch<Raw, T> (
  client: AgentRequester,
  options: WatcherOptions<Raw, T>,
  endpoint: { path: string, query?: Record<string, QueryValue>, schema: z.ZodType<Raw>, what: string }
): BlockingQuery<Raw, T> {
  const { start = true, ...watch } = options
  const query = new BlockingQuery<Raw, T>(client, { ...watch, ...endpoint })
  return start ? query.start() : query
}

/** Keeps only the keys that are set: a key present with `undefined` would hide the client's default. */
function defined (values: Record<string, string | undefined>): Record<string, string> {
  const out: Record<string, string> = {}
  for (const [key, value] of Object.entries(values)) if (value !== undefined) out[key] = value
  return out
}
