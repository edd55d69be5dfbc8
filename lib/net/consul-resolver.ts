/**
 * consulResolver: resolves mesh targets through the local Consul agent.
 *
 * - A service target asks `GET /v1/health/connect/<service>` (with `passing` by default, and the
 *   resolver's `filter`): Connect-native instances and sidecar proxies. A native instance is dialed at its
 *   own address and must present the service's ID; a proxy (`Kind: "connect-proxy"`) is dialed at the
 *   proxy's address and must present its destination's ID (`Proxy.DestinationServiceName`), which is what
 *   Consul's Go resolver expects too. The address is `Service.Address`, falling back to `Node.Address`.
 * - A query target executes `GET /v1/query/<name>/execute?connect=true`, whose `Nodes` have the same shape.
 * - The expected datacenter is the entry's `Node.Datacenter` (then the query answer's, then the target's),
 *   namespace and partition the entry's (Enterprise), then the target's, then the resolver's options.
 *
 * Answers are reused (option `cache`, see answer-cache.ts):
 * - `'ttl'` (default): each answer serves every dial for `ttlMs` (default 5 s) and concurrent resolves of
 *   one target share one request. No background work; nothing to close, though `close()` exists.
 * - `'watch'`: a blocking query per service target keeps instances fresh, so dials after the first cost
 *   no round trip and keep working from the last good answer while the agent is down. Watches unused for
 *   `idleMs` (default 10 min) stop. The resolver must be `close()`d: a blocking request holds a socket.
 *   Prepared queries are not blocking in Consul: in this mode they are cached as in `'ttl'`.
 * - `'none'`: one request per resolve.
 *
 * Failures: ERR_CONNECT_NO_INSTANCES when the answer has no usable instance, the agent's own errors
 * (AgentError codes) otherwise, ERR_CONNECT_ABORTED on abort, ERR_CONNECT_CLOSED after close().
 */
import { z } from 'zod'
import type { AgentRequester } from '../agent/blocking-query.js'
import type { QueryValue } from '../agent/client.js'
import { healthConnectSchema, healthServiceEntrySchema } from '../agent/schemas.js'
import type { HealthConnectAnswer, HealthServiceEntry } from '../agent/schemas.js'
import { parseOptions } from '../agent/validate.js'
import { watchHealthConnect } from '../agent/watchers.js'
import { TtlCache, WatchCache } from './answer-cache.js'
import type { AnswerCache } from './answer-cache.js'
import { checkTarget, noInstancesError, shuffled } from './resolver.js'
import type { Instance, ResolveOptions, Resolver, Target } from './resolver.js'

export interface ConsulResolverOptions {
  /** Only instances whose checks all pass. Default true. */
  readonly passing?: boolean
  /** Consul filter expression over health entries, e.g. `Service.Meta.version == "2"`. Services only. */
  readonly filter?: string
  /** Default datacenter of targets that name none. Default: the agent client's. */
  readonly datacenter?: string
  /** Default namespace (Enterprise). Default: the agent client's. */
  readonly namespace?: string
  /** Default admin partition (Enterprise). Default: the agent client's. */
  readonly partition?: string
  /** How answers are reused between resolves; see the module comment. Default `'ttl'`. */
  readonly cache?: 'ttl' | 'watch' | 'none'
  /** Lifetime of a cached answer in `'ttl'` mode (and of prepared-query answers in `'watch'` mode). Default 5000. */
  readonly ttlMs?: number
  /** `'watch'` mode: a watch unused this long is stopped. Default 600 000 (10 min). */
  readonly idleMs?: number
  /** Most targets cached or watched at once; the least recently used is dropped beyond it. Default 256. */
  readonly maxTargets?: number
  /** Randomness in [0, 1) for the shuffle. Default `Math.random`. */
  readonly random?: () => number
}

/** A resolver that owns cached state; `close()` is idempotent. */
export interface ConsulResolver extends Resolver {
  close (): Promise<void>
}

const optionsSchema = z.strictObject({
  passing: z.boolean().default(true),
  filter: z.string().min(1).optional(),
  datacenter: z.string().min(1).optional(),
  namespace: z.string().min(1).optional(),
  partition: z.string().min(1).optional(),
  cache: z.enum(['ttl', 'watch', 'none']).default('ttl'),
  ttlMs: z.number().int().nonnegative().default(5000),
  idleMs: z.number().int().positive().default(600_000),
  maxTargets: z.number().int().positive().default(256),
  random: z.custom<() => number>((value) => typeof value === 'function', 'expected a function').optional()
})

/** `GET /v1/query/<name>/execute` answer: the entries are health entries. */
const preparedQueryAnswerSchema = z.looseObject({
  Service: z.string().optional(),
  Datacenter: z.string().optional(),
  Nodes: z.array(healthServiceEntrySchema).nullish().transform((value): HealthServiceEntry[] => value ?? [])
})

/** What a lookup yields before the target's defaults are applied. */
interface Answer {
  readonly entries: readonly HealthServiceEntry[]
  /** Datacenter the answer came from, when the agent said. */
  readonly datacenter?: string
}

/** Builds a resolver over `client` (an AgentClient, or anything with its `request`). Validates eagerly. */
export function consulResolver (client: AgentRequester, options: ConsulResolverOptions = {}): ConsulResolver {
  const o = parseOptions(optionsSchema, options, 'resolver')
  const random = o.random ?? Math.random
  // The key holds the effective target (defaults applied), so equal lookups share an entry and the cache
  // can rebuild the target from its key: no side table to grow.
  const keyOf = (target: Target): string => JSON.stringify(target.query === undefined
    ? ['svc', target.service, target.datacenter ?? o.datacenter, target.namespace ?? o.namespace, target.partition ?? o.partition]
    : ['query', target.query, target.datacenter ?? o.datacenter])
  const targetOf = (key: string): Target => {
    // JSON writes an absent field as null: read it back as absent.
    const [kind, name, datacenter, namespace, partition] = (JSON.parse(key) as Array<string | null>).map((v) => v ?? undefined)
    if (name === undefined) throw new TypeError(`consulResolver: malformed cache key ${key}`)
    return kind === 'svc'
      ? { service: name, ...defined({ datacenter, namespace, partition }) }
      : { query: name, ...defined({ datacenter }) }
  }

  const fetchAnswer = (key: string): Promise<Answer> => {
    const target = targetOf(key)
    return target.query === undefined ? fetchHealth(client, target, o) : fetchQuery(client, target, o)
  }
  const ttl = new TtlCache<Answer>(fetchAnswer, { ttlMs: o.cache === 'none' ? 0 : o.ttlMs, maxKeys: o.maxTargets })
  const watches: AnswerCache<Answer> | undefined = o.cache !== 'watch'
    ? undefined
    : new WatchCache<HealthConnectAnswer, Answer>((key) => {
      const target = targetOf(key)
      return watchHealthConnect(client, target.service!, {
        passing: o.passing,
        ...defined({ datacenter: target.datacenter ?? o.datacenter, namespace: target.namespace ?? o.namespace, partition: target.partition ?? o.partition, filter: o.filter }),
        transform: (entries): Answer => ({ entries })
      })
    }, { idleMs: o.idleMs, maxKeys: o.maxTargets })

  return {
    async resolve (target: Target, resolveOptions: ResolveOptions = {}): Promise<Instance[]> {
      checkTarget(target)
      const key = keyOf(target)
      const cache = watches !== undefined && target.query === undefined ? watches : ttl
      const answer = await cache.get(key, resolveOptions.signal)
      const instances = instancesOf(answer, target, o)
      if (instances.length === 0) {
        throw noInstancesError(target, answer.entries.length === 0 ? (o.passing ? 'healthy instances' : 'instances') : 'usable instances (every entry lacked an address or a destination)')
      }
      return shuffled(instances, random)
    },
    async close (): Promise<void> {
      await Promise.all([ttl.close(), watches?.close()])
    }
  }
}

type ResolvedOptions = z.output<typeof optionsSchema>

async function fetchHealth (client: AgentRequester, target: Target, o: ResolvedOptions): Promise<Answer> {
  const service = target.service!
  const query: Record<string, QueryValue> = {
    passing: o.passing,
    ...defined({ dc: target.datacenter ?? o.datacenter, ns: target.namespace ?? o.namespace, partition: target.partition ?? o.partition, filter: o.filter })
  }
  const res = await client.request({
    path: `/v1/health/connect/${encodeURIComponent(service)}`,
    query,
    schema: healthConnectSchema,
    what: `resolving ${JSON.stringify(service)}`
  })
  return { entries: res.value }
}

async function fetchQuery (client: AgentRequester, target: Target, o: ResolvedOptions): Promise<Answer> {
  const name = target.query!
  const res = await client.request({
    path: `/v1/query/${encodeURIComponent(name)}/execute`,
    query: { connect: true, ...defined({ dc: target.datacenter ?? o.datacenter }) },
    schema: preparedQueryAnswerSchema,
    what: `executing prepared query ${JSON.stringify(name)}`
  })
  return { entries: res.value.Nodes, ...defined({ datacenter: res.value.Datacenter }) }
}

/** Maps entries to instances; entries with no address, port or destination are skipped. */
function instancesOf (answer: Answer, target: Target, o: ResolvedOptions): Instance[] {
  const out: Instance[] = []
  for (const entry of answer.entries) {
    const instance = instanceOf(entry, {
      ...defined({
        datacenter: answer.datacenter ?? target.datacenter ?? o.datacenter,
        namespace: target.namespace ?? o.namespace,
        partition: target.partition ?? o.partition
      })
    })
    if (instance !== undefined) out.push(instance)
  }
  return out
}

/**
 * The instance a health entry describes, or undefined when it is unusable. `fallback` fills the identity
 * fields the entry does not carry (Community Edition entries have no namespace or partition).
 */
export function instanceOf (entry: HealthServiceEntry, fallback: { datacenter?: string, namespace?: string, partition?: string } = {}): Instance | undefined {
  const svc = entry.Service
  const isProxy = svc.Kind === 'connect-proxy'
  // Gateways and other kinds present their own identities, not a service's: never dial them by name.
  if (svc.Kind !== undefined && svc.Kind !== '' && !isProxy) return undefined
  const service = isProxy ? svc.Proxy?.DestinationServiceName : svc.Service
  const host = svc.Address !== '' ? svc.Address : entry.Node.Address
  if (service === undefined || service === '' || host === '' || svc.Port < 1 || svc.Port > 65535) return undefined
  return Object.freeze({
    host: host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host,
    port: svc.Port,
    service,
    node: entry.Node.Node,
    ...defined({
      namespace: nonEmpty(svc.Namespace) ?? fallback.namespace,
      partition: nonEmpty(svc.Partition) ?? fallback.partition,
      datacenter: nonEmpty(entry.Node.Datacenter) ?? fallback.datacenter
    })
  })
}

function nonEmpty (value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : value
}

/** Keeps only the keys that are set (exactOptionalPropertyTypes: an explicit undefined is not "absent"). */
function defined<T extends Record<string, string | undefined>> (values: T): { [K in keyof T]?: string } {
  const out: Record<string, string> = {}
  for (const [key, value] of Object.entries(values)) if (value !== undefined) out[key] = value
  return out as { [K in keyof T]?: string }
}
