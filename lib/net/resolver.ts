/**
 * Resolvers: how a mesh target (a service name, or a prepared query) becomes the addresses to dial and the
 * identity each must prove.
 *
 * A resolver answers with every usable instance, already shuffled so that callers who try them in order
 * spread their load; an empty answer is never returned: it rejects with ERR_CONNECT_NO_INSTANCES instead.
 * Each instance names the service whose SPIFFE ID the server at that address must present. For a sidecar
 * proxy that is the service it fronts (the proxy presents its destination's leaf), not the proxy's own name.
 *
 * Implementations: {@link staticResolver} (static-resolver.ts, fixed addresses for tests and dev mode) and
 * {@link consulResolver} (consul-resolver.ts, the agent's health and prepared-query endpoints). Anything
 * with a `resolve` method of this shape works with dialService and the undici and ws integrations.
 */
import { ConnectError, InvalidOptionError } from '../errors.js'

/** A service to dial by name. */
export interface ServiceTarget {
  readonly service: string
  /** Datacenter to look in. Default: the resolver's, then the agent's. */
  readonly datacenter?: string
  /** Namespace (Enterprise). Default: the resolver's, then the agent's. */
  readonly namespace?: string
  /** Admin partition (Enterprise). Default: the resolver's, then the agent's. */
  readonly partition?: string
  readonly query?: undefined
}

/** A prepared query to execute (`GET /v1/query/<name>/execute?connect=true`). */
export interface QueryTarget {
  /** Prepared query name or ID. */
  readonly query: string
  /** Datacenter to execute it in. Default: the resolver's, then the agent's. */
  readonly datacenter?: string
  readonly service?: undefined
  readonly namespace?: undefined
  readonly partition?: undefined
}

/** What to resolve: exactly one of `service` or `query`. */
export type Target = ServiceTarget | QueryTarget

/** One address to dial, and the identity the server there must present. Frozen. */
export interface Instance {
  readonly host: string
  readonly port: number
  /** The service whose SPIFFE ID the server must present (a proxy's destination, for a sidecar). */
  readonly service: string
  /** Expected namespace, when known (undefined: not checked beyond what the verifier defaults to). */
  readonly namespace?: string
  readonly partition?: string
  readonly datacenter?: string
  /** Consul node name, for messages. */
  readonly node?: string
}

export interface ResolveOptions {
  readonly signal?: AbortSignal
}

/** Turns a target into instances; see the module comment for the contract. */
export interface Resolver {
  resolve (target: Target, options?: ResolveOptions): Promise<Instance[]>
}

/**
 * Checks a target's shape, throwing InvalidOptionError naming the field (`target.service`). Returns the
 * target unchanged so callers can validate inline.
 */
export function checkTarget (target: Target, field = 'target'): Target {
  if (target === null || typeof target !== 'object') throw new InvalidOptionError(field, 'expected an object with "service" or "query"')
  const { service, query } = target as { service?: unknown, query?: unknown }
  if ((service === undefined) === (query === undefined)) {
    throw new InvalidOptionError(field, 'expected exactly one of "service" or "query"')
  }
  for (const key of ['service', 'query', 'datacenter', 'namespace', 'partition'] as const) {
    const value = (target as unknown as Record<string, unknown>)[key]
    if (value !== undefined && (typeof value !== 'string' || value === '')) {
      throw new InvalidOptionError(`${field}.${key}`, 'expected a non-empty string')
    }
  }
  if (query !== undefined && (target.namespace !== undefined || target.partition !== undefined)) {
    throw new InvalidOptionError(field, 'a prepared query target takes no namespace or partition (the query defines them)')
  }
  return target
}

/** `"db"`, `"db" in dc2`, `prepared query "nearest-db"`: how messages name a target. */
export function describeTarget (target: Target): string {
  const name = target.query !== undefined ? `prepared query ${JSON.stringify(target.query)}` : JSON.stringify(target.service)
  const where = [
    target.namespace === undefined ? '' : `namespace ${JSON.stringify(target.namespace)}`,
    target.partition === undefined ? '' : `partition ${JSON.stringify(target.partition)}`,
    target.datacenter === undefined ? '' : `datacenter ${JSON.stringify(target.datacenter)}`
  ].filter((part) => part !== '')
  return where.length === 0 ? name : `${name} (${where.join(', ')})`
}

/** The error every resolver raises when a target has no usable instance. */
export function noInstancesError (target: Target, detail?: string): ConnectError {
  return new ConnectError('ERR_CONNECT_NO_INSTANCES', `resolving ${describeTarget(target)}: no ${detail ?? 'healthy instances'}`)
}

/** `host:port`, with brackets around IPv6 literals, for messages. */
export function describeInstance (instance: Pick<Instance, 'host' | 'port'>): string {
  return instance.host.includes(':') ? `[${instance.host}]:${instance.port}` : `${instance.host}:${instance.port}`
}

/** A shuffled copy (Fisher–Yates), so repeated dials spread over the instances. */
export function shuffled<T> (items: readonly T[], random: () => number = Math.random): T[] {
  const out = [...items]
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1))
    const swap = out[i]!
    out[i] = out[j]!
    out[j] = swap
  }
  return out
}
