/**
 * staticResolver: fixed addresses per service, for tests, development and meshes without an agent nearby.
 *
 * Two forms:
 * - a map of service name to addresses: `{ db: ['127.0.0.1:8443', '[::1]:8444'] }`;
 * - a list of instances: `[{ service: 'db', host: '10.0.0.5', port: 8443, datacenter: 'dc2' }]`, where
 *   `namespace`, `partition` and `datacenter` both filter (an instance whose field is set and differs from
 *   the target's is skipped) and pin the identity the server must present.
 *
 * A target's `namespace`, `partition` and `datacenter` that an instance leaves open are copied onto the
 * answer, so dialing `{ service: 'db', namespace: 'billing' }` still verifies the `billing` namespace.
 * Prepared queries need an agent: a query target rejects with ERR_CONNECT_NO_INSTANCES.
 *
 * Everything is validated when the resolver is built (InvalidOptionError naming `instances.db[1]`).
 */
import { isIP } from 'node:net'
import { abortError, InvalidOptionError } from '../errors.js'
import { checkTarget, noInstancesError, shuffled } from './resolver.js'
import type { Instance, ResolveOptions, Resolver, Target } from './resolver.js'

/** One instance of the list form. */
export interface StaticInstance {
  readonly service: string
  readonly host: string
  readonly port: number
  readonly namespace?: string
  readonly partition?: string
  readonly datacenter?: string
  readonly node?: string
}

export type StaticInstances = Readonly<Record<string, readonly string[]>> | readonly StaticInstance[]

export interface StaticResolverOptions {
  /** Randomness in [0, 1) for the shuffle; default `Math.random` (tests pin it). */
  readonly random?: () => number
}

/** Builds a resolver over fixed addresses; see the module comment. */
export function staticResolver (instances: StaticInstances, options: StaticResolverOptions = {}): Resolver {
  const table = Array.isArray(instances) ? fromList(instances) : fromMap(instances as Readonly<Record<string, readonly string[]>>)
  const random = options.random ?? Math.random
  return {
    async resolve (target: Target, resolveOptions: ResolveOptions = {}): Promise<Instance[]> {
      checkTarget(target)
      if (resolveOptions.signal?.aborted === true) throw abortError('resolving', resolveOptions.signal)
      if (target.query !== undefined) throw noInstancesError(target, 'instances: the static resolver does not execute prepared queries')
      const found: Instance[] = []
      for (const candidate of table.get(target.service) ?? []) {
        const instance = narrow(candidate, target)
        if (instance !== undefined) found.push(instance)
      }
      if (found.length === 0) throw noInstancesError(target, 'instances configured')
      return shuffled(found, random)
    }
  }
}

/** The instance as seen for `target`, or undefined when one of its pinned fields disagrees. */
function narrow (candidate: Instance, target: Target): Instance | undefined {
  const out: Record<string, unknown> = { ...candidate }
  for (const key of ['namespace', 'partition', 'datacenter'] as const) {
    const wanted = target[key]
    if (wanted === undefined) continue
    if (candidate[key] !== undefined && candidate[key] !== wanted) return undefined
    out[key] = wanted
  }
  return Object.freeze(out as unknown as Instance)
}

function fromMap (map: Readonly<Record<string, readonly string[]>>): Map<string, Instance[]> {
  if (map === null || typeof map !== 'object') throw new InvalidOptionError('instances', 'expected a map of service name to "host:port" strings, or a list of instances')
  const table = new Map<string, Instance[]>()
  for (const [service, addresses] of Object.entries(map)) {
    checkName(service, `instances.${service}`)
    if (!Array.isArray(addresses)) throw new InvalidOptionError(`instances.${service}`, 'expected an array of "host:port" strings')
    table.set(service, addresses.map((address, i) => {
      const { host, port } = parseHostPort(address, `instances.${service}[${i}]`)
      return Object.freeze({ service, host, port })
    }))
  }
  return table
}

function fromList (list: readonly StaticInstance[]): Map<string, Instance[]> {
  const table = new Map<string, Instance[]>()
  list.forEach((entry, i) => {
    const field = `instances[${i}]`
    if (entry === null || typeof entry !== 'object') throw new InvalidOptionError(field, 'expected an object { service, host, port }')
    checkName(entry.service, `${field}.service`)
    checkName(entry.host, `${field}.host`)
    checkPort(entry.port, `${field}.port`)
    const instance: Record<string, unknown> = { service: entry.service, host: unbracket(entry.host), port: entry.port }
    for (const key of ['namespace', 'partition', 'datacenter', 'node'] as const) {
      if (entry[key] === undefined) continue
      checkName(entry[key], `${field}.${key}`)
      instance[key] = entry[key]
    }
    const list = table.get(entry.service) ?? []
    list.push(Object.freeze(instance as unknown as Instance))
    table.set(entry.service, list)
  })
  return table
}

/** Parses `host:port` or `[v6]:port`; the port is required (mesh ports are never implied). */
export function parseHostPort (address: unknown, field: string): { host: string, port: number } {
  if (typeof address !== 'string') throw new InvalidOptionError(field, 'expected a "host:port" string')
  let host: string
  let portText: string
  if (address.startsWith('[')) {
    const end = address.indexOf(']')
    if (end === -1 || address[end + 1] !== ':') throw new InvalidOptionError(field, `expected "[address]:port", got ${JSON.stringify(address)}`)
    host = address.slice(1, end)
    if (isIP(host) !== 6) throw new InvalidOptionError(field, `${JSON.stringify(host)} is not an IPv6 address`)
    portText = address.slice(end + 2)
  } else {
    const colon = address.lastIndexOf(':')
    if (colon <= 0 || address.indexOf(':') !== colon) throw new InvalidOptionError(field, `expected "host:port" (IPv6 in brackets), got ${JSON.stringify(address)}`)
    host = address.slice(0, colon)
    portText = address.slice(colon + 1)
  }
  const port = /^[0-9]{1,5}$/.test(portText) ? Number(portText) : Number.NaN
  checkPort(port, field)
  return { host, port }
}

function checkName (value: unknown, field: string): void {
  if (typeof value !== 'string' || value === '') throw new InvalidOptionError(field, 'expected a non-empty string')
}

function checkPort (value: unknown, field: string): void {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > 65535) {
    throw new InvalidOptionError(field, 'expected a port from 1 to 65535')
  }
}

function unbracket (host: string): string {
  return host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host
}
