/**
 * Authorizer constructors and combinators, in the manner of go-spiffe's `tlsconfig` (`AuthorizeAny`,
 * `AuthorizeID`, `AuthorizeMemberOf`, `AuthorizeOneOf`), plus the one that decides from cached intentions.
 *
 * Every constructor validates its arguments at once (InvalidOptionError naming the argument, or SpiffeIdError
 * for a malformed ID) and precomputes its frozen decisions, so the returned authorizer is synchronous, does no
 * I/O and allocates nothing on its common paths. Decisions carry `layer: 'L7'` when called with a request,
 * `'L4'` otherwise. Matching is exact and case-sensitive, as Consul's intention matching is; trust domains are
 * ignored except by {@link authorizeSpiffeIds} and {@link authorizeTrustDomain} (chain verification against
 * the current roots already bounds them).
 */
import { InvalidOptionError } from '../errors.js'
import { parseSpiffeId } from '../spiffe-id.js'
import type { Authorizer, Decision, HttpRequestInfo } from './authorizer.js'
import { allowAll, denyAll, safeAuthorize } from './authorizer.js'
import type { Intentions } from './intentions.js'

/** A pair of the same decision for connections (L4) and requests (L7). */
interface Pair { readonly L4: Decision, readonly L7: Decision }

function pair (allowed: boolean, reason: string): Pair {
  return Object.freeze({
    L4: Object.freeze({ allowed, reason, layer: 'L4' as const }),
    L7: Object.freeze({ allowed, reason, layer: 'L7' as const })
  })
}

function pick (p: Pair, request: HttpRequestInfo | undefined): Decision {
  return request === undefined ? p.L4 : p.L7
}

/** Allows every verified peer (an alias of `allowAll`). */
export function authorizeAny (): Authorizer {
  return allowAll()
}

/** Denies every peer, with `reason` (an alias of `denyAll`). */
export function authorizeNone (reason?: string): Authorizer {
  return denyAll(reason)
}

/** A service by name (namespace and partition `default`), or by its parts. */
export type ServiceSelector = string | { readonly service: string, readonly namespace?: string, readonly partition?: string }

/** Allows peers whose SPIFFE ID is a service ID naming one of `services` (service, namespace and partition). */
export function authorizeServices (services: readonly ServiceSelector[]): Authorizer {
  if (!Array.isArray(services) || services.length === 0) throw new InvalidOptionError('services', 'expected a non-empty list of services')
  const allowed = new Map<string, Map<string, Map<string, Pair>>>() // partition → namespace → service
  services.forEach((selector, i) => {
    const s = typeof selector === 'string' ? { service: selector } : selector
    const service = exactName(`services[${i}].service`, s?.service)
    const namespace = exactName(`services[${i}].namespace`, s?.namespace ?? 'default')
    const partition = exactName(`services[${i}].partition`, s?.partition ?? 'default')
    let byNamespace = allowed.get(partition)
    if (byNamespace === undefined) allowed.set(partition, byNamespace = new Map())
    let byName = byNamespace.get(namespace)
    if (byName === undefined) byNamespace.set(namespace, byName = new Map())
    byName.set(service, pair(true, `allowed: service ${partition}/${namespace}/${service} is in the allowed list`))
  })
  const notListed = pair(false, 'denied: the peer service is not in the allowed list')
  const notService = pair(false, 'denied: the peer is not a service identity')
  return (peer, request) => {
    const id = peer.id
    if (id.kind !== 'service') return pick(notService, request)
    const found = allowed.get(id.partition)?.get(id.namespace)?.get(id.service)
    return pick(found ?? notListed, request)
  }
}

function exactName (field: string, value: unknown): string {
  if (typeof value !== 'string' || value === '' || value.includes('*')) {
    throw new InvalidOptionError(field, 'expected a non-empty exact name (wildcards belong in intentions)')
  }
  return value
}

/** Allows peers whose SPIFFE ID is one of `uris` (parsed strictly and compared in canonical form). */
export function authorizeSpiffeIds (uris: readonly string[]): Authorizer {
  if (!Array.isArray(uris) || uris.length === 0) throw new InvalidOptionError('uris', 'expected a non-empty list of SPIFFE IDs')
  const allowed = new Map<string, Pair>()
  for (const uri of uris) {
    const id = parseSpiffeId(uri) // throws SpiffeIdError naming the input
    allowed.set(id.uri, pair(true, `allowed: SPIFFE ID ${id.uri} is in the allowed list`))
  }
  const notListed = pair(false, 'denied: the peer SPIFFE ID is not in the allowed list')
  return (peer, request) => pick(allowed.get(peer.id.uri) ?? notListed, request)
}

/** Allows any peer of trust domain `trustDomain` (any kind of identity). */
export function authorizeTrustDomain (trustDomain: string): Authorizer {
  if (typeof trustDomain !== 'string' || !/^[a-z0-9._-]{1,255}$/.test(trustDomain)) {
    throw new InvalidOptionError('trustDomain', `expected 1-255 of a-z, 0-9, ".", "_", "-", got ${JSON.stringify(trustDomain)}`)
  }
  const member = pair(true, `allowed: the peer is in trust domain ${trustDomain}`)
  const other = pair(false, `denied: the peer is not in trust domain ${trustDomain}`)
  return (peer, request) => pick(peer.id.trustDomain === trustDomain ? member : other, request)
}

function checkAuthorizers (name: string, authorizers: readonly Authorizer[]): void {
  if (authorizers.length === 0) throw new InvalidOptionError(name, 'expected at least one authorizer')
  authorizers.forEach((a, i) => {
    if (typeof a !== 'function') throw new InvalidOptionError(`${name}[${i}]`, `expected an authorizer function, got ${typeof a}`)
  })
}

/**
 * Allows when any of `authorizers` allows; they run in order and the first allowing decision is returned.
 * When all deny, a single authorizer's decision is returned as is; several are combined into one deny
 * listing every reason. A throwing authorizer counts as a deny (see `safeAuthorize`).
 */
export function anyOf (...authorizers: Authorizer[]): Authorizer {
  checkAuthorizers('anyOf', authorizers)
  const list = Object.freeze([...authorizers])
  return (peer, request) => {
    const first = safeAuthorize(list[0]!, peer, request)
    if (first.allowed || list.length === 1) return first
    const reasons = [first.reason]
    for (let k = 1; k < list.length; k++) {
      const d = safeAuthorize(list[k]!, peer, request)
      if (d.allowed) return d
      reasons.push(d.reason)
    }
    return Object.freeze({ allowed: false, reason: `denied by all ${list.length} authorizers: ${reasons.join('; ')}`, layer: request === undefined ? 'L4' : 'L7' })
  }
}

/**
 * Allows when every one of `authorizers` allows; they run in order and the first deny is returned (the rest
 * do not run). When all allow, the last decision is returned. A throwing authorizer denies.
 */
export function allOf (...authorizers: Authorizer[]): Authorizer {
  checkAuthorizers('allOf', authorizers)
  const list = Object.freeze([...authorizers])
  return (peer, request) => {
    let last: Decision | undefined
    for (const authorizer of list) {
      last = safeAuthorize(authorizer, peer, request)
      if (!last.allowed) return last
    }
    return last!
  }
}

/**
 * Decides from the intentions `getIntentions` returns at each call (typically the latest snapshot of an
 * intentions watch): `intentions.decide({ source: peer.id, request })`. Fails closed: `undefined` (not loaded
 * yet) denies with reason `intentions not loaded`, and so does a throwing `getIntentions`.
 */
export function intentionsAuthorizer (getIntentions: () => Intentions | undefined): Authorizer {
  if (typeof getIntentions !== 'function') throw new InvalidOptionError('getIntentions', 'expected a function returning the current Intentions')
  const notLoaded = pair(false, 'denied: intentions not loaded (fail closed)')
  return (peer, request) => {
    let intentions: Intentions | undefined
    try {
      intentions = getIntentions()
    } catch (err) {
      return Object.freeze({ allowed: false, reason: `denied: intentions unavailable: ${(err as Error)?.message ?? String(err)}`, layer: request === undefined ? 'L4' : 'L7' })
    }
    if (intentions === undefined || intentions === null) return pick(notLoaded, request)
    return intentions.decide({ source: peer.id, request })
  }
}
