/**
 * The metadata Consul puts in response headers: the blocking index, leader and cache information, and
 * the ACL default policy. Values that are absent or malformed are left undefined: these headers inform,
 * they never fail a request (the blocking engine decides what a missing index means).
 */

/** Headers as undici returns them (lower-case names). */
export type ResponseHeaders = Readonly<Record<string, string | string[] | undefined>>

export interface AgentResponseMeta {
  /** `X-Consul-KnownLeader`: whether the servers knew a leader when answering. */
  readonly knownLeader?: boolean
  /** `X-Consul-LastContact`: ms since the answering server last heard from the leader. */
  readonly lastContact?: number
  /** `X-Cache`: whether the agent's cache answered. */
  readonly cache?: 'HIT' | 'MISS'
  /** `Age`: seconds since a cached answer was fetched. */
  readonly age?: number
  /** `X-Consul-Default-ACL-Policy`: the agent's ACL default policy; sent even with ACLs off (`allow`). */
  readonly defaultAclPolicy?: 'allow' | 'deny'
}

function header (headers: ResponseHeaders, name: string): string | undefined {
  const value = headers[name]
  return Array.isArray(value) ? value[0] : value
}

function nonNegativeInteger (text: string | undefined): number | undefined {
  if (text === undefined || !/^\d+$/.test(text.trim())) return undefined
  const n = Number(text.trim())
  return Number.isSafeInteger(n) ? n : undefined
}

/**
 * `X-Consul-Index` as a number, or undefined when absent or not a decimal integer. Consul's index is a
 * uint64; values beyond 2^53 (never seen in practice) read as undefined rather than as a rounded number.
 */
export function parseIndexHeader (headers: ResponseHeaders): number | undefined {
  return nonNegativeInteger(header(headers, 'x-consul-index'))
}

/** Everything else worth keeping from the headers, frozen; absent keys are left out. */
export function parseResponseMeta (headers: ResponseHeaders): AgentResponseMeta {
  const meta: { -readonly [K in keyof AgentResponseMeta]: AgentResponseMeta[K] } = {}
  const leader = header(headers, 'x-consul-knownleader')?.trim().toLowerCase()
  if (leader === 'true' || leader === 'false') meta.knownLeader = leader === 'true'
  const lastContact = nonNegativeInteger(header(headers, 'x-consul-lastcontact'))
  if (lastContact !== undefined) meta.lastContact = lastContact
  const cache = header(headers, 'x-cache')?.trim().toUpperCase()
  if (cache === 'HIT' || cache === 'MISS') meta.cache = cache
  const age = nonNegativeInteger(header(headers, 'age'))
  if (age !== undefined) meta.age = age
  const policy = header(headers, 'x-consul-default-acl-policy')?.trim().toLowerCase()
  if (policy === 'allow' || policy === 'deny') meta.defaultAclPolicy = policy
  return Object.freeze(meta)
}
