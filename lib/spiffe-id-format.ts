/**
 * SPIFFE ID values and their canonical form: the types parsing returns, the character classes and field rules
 * that parsing and formatting share (so the two agree), and formatting itself ({@link formatSpiffeId},
 * {@link serviceId}, percent-encoding). The grammar and the decisions behind it are described in spiffe-id.ts,
 * which parses and re-exports everything public here.
 */
import { SpiffeIdError } from './errors.js'

/** A service's identity (what leaf certificates carry). */
export interface ServiceId {
  readonly kind: 'service'
  readonly trustDomain: string
  /** `default` when the ID has no `/ap/` prefix. */
  readonly partition: string
  readonly namespace: string
  readonly datacenter: string
  readonly service: string
  /** The canonical form of this ID. */
  readonly uri: string
}

/** A client agent's identity. */
export interface AgentId {
  readonly kind: 'agent'
  readonly trustDomain: string
  readonly partition: string
  readonly datacenter: string
  readonly node: string
  readonly uri: string
}

/** A Consul server's identity (servers are never in a non-default partition). */
export interface ServerId {
  readonly kind: 'server'
  readonly trustDomain: string
  readonly datacenter: string
  readonly uri: string
}

/** A mesh gateway's identity. */
export interface MeshGatewayId {
  readonly kind: 'mesh-gateway'
  readonly trustDomain: string
  readonly partition: string
  readonly datacenter: string
  readonly uri: string
}

/** The identity of a Consul CA signing certificate: `spiffe://<clusterId>.consul`. */
export interface SigningId {
  readonly kind: 'signing'
  readonly trustDomain: string
  readonly clusterId: string
  readonly uri: string
}

/** Every SPIFFE ID Consul issues, discriminated by `kind`. Values from this module are frozen. */
export type SpiffeId = ServiceId | AgentId | ServerId | MeshGatewayId | SigningId
export type SpiffeIdKind = SpiffeId['kind']

/**
 * What {@link formatSpiffeId} takes: the fields of a {@link SpiffeId} (a parsed value works too; its `uri`
 * and `clusterId` are ignored). `partition` and `namespace` default to `default`.
 */
export type SpiffeIdInput =
  | { readonly kind: 'service', readonly trustDomain: string, readonly service: string, readonly datacenter: string, readonly namespace?: string, readonly partition?: string }
  | { readonly kind: 'agent', readonly trustDomain: string, readonly datacenter: string, readonly node: string, readonly partition?: string }
  | { readonly kind: 'server', readonly trustDomain: string, readonly datacenter: string }
  | { readonly kind: 'mesh-gateway', readonly trustDomain: string, readonly datacenter: string, readonly partition?: string }
  | { readonly kind: 'signing', readonly trustDomain: string }

type PathId = Exclude<SpiffeIdInput, { kind: 'signing' }>
/** A value under construction: filled in (uri last), then frozen. Spreading into a new object and freezing that
 * costs V8 microseconds per call (the spread copy leaves a slow object); a literal with every key does not. */
type Draft<T> = { -readonly [K in keyof T]: T[K] }
export type PathDraft = Draft<ServiceId> | Draft<AgentId> | Draft<MeshGatewayId> | Draft<ServerId>
export type SpiffeIdErrorCode = 'ERR_CONNECT_SPIFFE_ID_INVALID' | 'ERR_CONNECT_SPIFFE_ID_UNSUPPORTED'

export const SCHEME = 'spiffe://'
export const MAX_ID_BYTES = 2048
export const MAX_TRUST_DOMAIN_BYTES = 255
export const DEFAULT = 'default'
export const SLASH = 0x2f

// Character classes of ASCII code units, one table so the scan does one lookup per character.
export const TD = 1 // trust domain
export const KEEP = 2 // path character that stays as is in canonical form
export const PCHAR = 4 // other path character RFC 3986 allows raw (canonical form encodes it)
export const HEX = 8
export const CHARS = new Uint8Array(128)
for (const c of 'abcdefghijklmnopqrstuvwxyz0123456789.-_') CHARS[c.charCodeAt(0)]! |= TD
for (const c of 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~$&+,:;=@') CHARS[c.charCodeAt(0)]! |= KEEP
for (const c of "!'()*") CHARS[c.charCodeAt(0)]! |= PCHAR
for (const c of '0123456789abcdefABCDEF') CHARS[c.charCodeAt(0)]! |= HEX

/**
 * Writes the canonical form of an ID: fields percent-encoded where needed, `/ap/default` omitted.
 * Throws {@link SpiffeIdError} `ERR_CONNECT_SPIFFE_ID_INVALID` for a field that could not round-trip (empty,
 * `.`/`..`, containing `/`, a control character or an unpaired surrogate; a bad trust domain; over 2048 bytes),
 * `_UNSUPPORTED` for an unknown kind or a signing trust domain that is not `<cluster-id>.consul`.
 */
export function formatSpiffeId (id: SpiffeIdInput): string {
  return build(id).uri
}

/** Builds a frozen {@link ServiceId}; `namespace` and `partition` default to `default`. Throws as {@link formatSpiffeId}. */
export function serviceId (parts: { trustDomain: string, service: string, datacenter: string, namespace?: string, partition?: string }): ServiceId {
  return build({ ...parts, kind: 'service' }) as ServiceId
}

/** What is wrong with a decoded field value, or undefined. Shared by parse and format so they agree. */
export function valueProblem (v: string): string | undefined {
  if (v.length === 0) return 'is empty'
  if (v === '.' || v === '..') return 'is "." or ".."'
  for (let i = 0; i < v.length; i++) {
    const c = v.charCodeAt(i)
    if (c === SLASH) return 'contains "/"'
    if (c < 0x20 || (c >= 0x7f && c <= 0x9f)) return 'contains a control character'
    if (c >= 0xd800 && c <= 0xdfff) {
      const next = v.charCodeAt(i + 1)
      if (c >= 0xdc00 || !(next >= 0xdc00 && next <= 0xdfff)) return 'contains an unpaired surrogate'
      i++
    }
  }
  return undefined
}

export function isSigningDomain (td: string): boolean {
  return td.length > 7 && td.endsWith('.consul') && td.indexOf('.') === td.length - 7
}

/** Validates an input and returns the frozen value; the one place formatting happens. */
function build (id: SpiffeIdInput): SpiffeId {
  if (typeof id !== 'object' || id === null) throw formatError('ERR_CONNECT_SPIFFE_ID_INVALID', String(id), 'expected an object')
  const td = id.trustDomain
  if (typeof td !== 'string' || td.length === 0 || td.length > MAX_TRUST_DOMAIN_BYTES || !allTrustDomainChars(td)) {
    throw formatError('ERR_CONNECT_SPIFFE_ID_INVALID', String(td), `trust domain ${JSON.stringify(td)} must be 1-${MAX_TRUST_DOMAIN_BYTES} of [a-z0-9._-]`)
  }
  switch (id.kind) {
    case 'service': {
      return finish({ kind: id.kind, trustDomain: td, partition: id.partition ?? DEFAULT, namespace: id.namespace ?? DEFAULT, datacenter: id.datacenter, service: id.service, uri: '' })
    }
    case 'agent': {
      return finish({ kind: id.kind, trustDomain: td, partition: id.partition ?? DEFAULT, datacenter: id.datacenter, node: id.node, uri: '' })
    }
    case 'mesh-gateway': {
      return finish({ kind: id.kind, trustDomain: td, partition: id.partition ?? DEFAULT, datacenter: id.datacenter, uri: '' })
    }
    case 'server': {
      return finish({ kind: id.kind, trustDomain: td, datacenter: id.datacenter, uri: '' })
    }
    case 'signing':
      if (!isSigningDomain(td)) throw formatError('ERR_CONNECT_SPIFFE_ID_UNSUPPORTED', td, `signing trust domain ${JSON.stringify(td)} is not "<cluster-id>.consul"`)
      return Object.freeze({ kind: id.kind, trustDomain: td, clusterId: td.slice(0, -7), uri: SCHEME + td })
    default:
      throw formatError('ERR_CONNECT_SPIFFE_ID_UNSUPPORTED', String((id as { kind?: unknown }).kind), `kind ${JSON.stringify((id as { kind?: unknown }).kind)} is not one Consul issues`)
  }
}

/** Sets the canonical uri of a draft (throwing for bad fields or length) and freezes it. */
function finish (id: PathDraft): SpiffeId {
  id.uri = canonicalUri(id)
  if (id.uri.length > MAX_ID_BYTES) throw formatError('ERR_CONNECT_SPIFFE_ID_INVALID', id.uri, `the ID would be longer than ${MAX_ID_BYTES} bytes`)
  return Object.freeze(id)
}

/** The canonical URI of fields of a path kind. Throws for a field that cannot round-trip; does not check length. */
export function canonicalUri (id: PathId): string {
  const ap = id.kind === 'server' || id.partition === undefined || id.partition === DEFAULT ? '' : `/ap/${enc('partition', id.partition)}`
  let path: string
  switch (id.kind) {
    case 'service': path = `${ap}/ns/${enc('namespace', id.namespace ?? DEFAULT)}/dc/${enc('datacenter', id.datacenter)}/svc/${enc('service', id.service)}`; break
    case 'agent': path = `${ap}/agent/client/dc/${enc('datacenter', id.datacenter)}/id/${enc('node', id.node)}`; break
    case 'mesh-gateway': path = `${ap}/gateway/mesh/dc/${enc('datacenter', id.datacenter)}`; break
    case 'server': path = `/agent/server/dc/${enc('datacenter', id.datacenter)}`; break
  }
  return SCHEME + id.trustDomain + path
}

/** Percent-encodes one field; fast path when nothing needs encoding. */
function enc (name: string, value: string): string {
  if (typeof value !== 'string') throw formatError('ERR_CONNECT_SPIFFE_ID_INVALID', String(value), `${name} must be a string`)
  const problem = valueProblem(value)
  if (problem !== undefined) throw formatError('ERR_CONNECT_SPIFFE_ID_INVALID', value, `${name} ${JSON.stringify(value)} ${problem}`)
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i)
    if (c >= 128 || (CHARS[c]! & KEEP) === 0) return encodeSlow(value)
  }
  return value
}

// encodeURIComponent escapes $&+,:;=@ (kept by Go's path encoder) and keeps !'()* (which Go escapes).
const SWAP = /%(?:24|26|2B|2C|3A|3B|3D|40)|[!'()*]/g
function encodeSlow (value: string): string {
  return encodeURIComponent(value).replace(SWAP, (m) =>
    m.length === 1 ? `%${m.charCodeAt(0).toString(16).toUpperCase()}` : String.fromCharCode(parseInt(m.slice(1), 16)))
}

function allTrustDomainChars (td: string): boolean {
  for (let i = 0; i < td.length; i++) {
    const c = td.charCodeAt(i)
    if (c >= 128 || (CHARS[c]! & TD) === 0) return false
  }
  return true
}

function formatError (code: SpiffeIdErrorCode, input: string, phrase: string): SpiffeIdError {
  return new SpiffeIdError(code, input, `cannot format SPIFFE ID: ${phrase}`)
}
