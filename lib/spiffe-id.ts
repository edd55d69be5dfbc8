/**
 * SPIFFE IDs as Consul issues them: strict parsing, canonical formatting, comparison.
 *
 * Kinds (`[ap/<p>/]` is the optional admin-partition prefix):
 * - `service`      `spiffe://<td>/[ap/<p>/]ns/<ns>/dc/<dc>/svc/<service>`
 * - `agent`        `spiffe://<td>/[ap/<p>/]agent/client/dc/<dc>/id/<node>`
 * - `server`       `spiffe://<td>/agent/server/dc/<dc>`
 * - `mesh-gateway` `spiffe://<td>/[ap/<p>/]gateway/mesh/dc/<dc>`
 * - `signing`      `spiffe://<cluster-id>.consul` (no path; the CA's own certificate)
 *
 * Decisions, checked against Consul's `agent/connect/uri.go` (regexps over the raw path, then
 * `url.PathUnescape` per field):
 * - `/ap/default/...` and no `/ap/` both give partition `default`, as in Consul; the canonical form (what
 *   {@link formatSpiffeId} writes and each value's `uri` holds) omits `/ap/default`, as Consul does.
 *   Partition names are kept as written: only exactly `default` is the default partition.
 * - Keywords (`ap`, `ns`, `dc`, `svc`, `agent`, `client`, `id`, `server`, `gateway`, `mesh`) must appear
 *   literally: `%6Es` is not `ns` (Consul's regexps run on the raw path too).
 * - Field segments are percent-decoded (hex in either case). A decoded value must be valid UTF-8 and must
 *   not contain `/` (it would fake structure for anyone who re-splits the decoded path; Consul's decoder
 *   lets it through), C0/C1 control characters or DEL, nor be `.` or `..`. Every other character is allowed.
 * - Raw path characters: RFC 3986 `pchar` (unreserved, sub-delims, `:`, `@`) and `%XX`. Whitespace, controls,
 *   non-ASCII, and `"<>[\]^`{|}` are rejected; the SPIFFE spec's narrower `[A-Za-z0-9._-]` is not enforced,
 *   because Go's URL encoder (which Consul formats with) leaves `$&+,:;=@` unescaped.
 * - Canonical encoding keeps `A-Z a-z 0-9 - . _ ~ $ & + , : ; = @` and writes everything else as upper-case
 *   `%XX` of its UTF-8 bytes: Go's path encoding, except that `/` inside a field becomes `%2F`.
 * - Trust domain: 1–255 of `[a-z0-9._-]` (SPIFFE); no port, userinfo, upper case or percent-encoding. Any
 *   trust domain is accepted for service, agent, server and gateway IDs. A signing ID needs
 *   `<cluster-id>.consul` with a dot-free cluster ID: Consul would take any dotted host, this is stricter.
 * - The whole ID is at most 2048 bytes (SPIFFE). No query, fragment, empty segment, dot segment or
 *   trailing slash.
 *
 * Failures throw {@link SpiffeIdError}: `ERR_CONNECT_SPIFFE_ID_INVALID` when the string is not a well-formed
 * SPIFFE ID, `ERR_CONNECT_SPIFFE_ID_UNSUPPORTED` when it is one but not a kind Consul issues (a SPIRE ID, say,
 * or Consul's experimental workload identities). Messages are a fixed phrase per failure after the quoted input.
 *
 * Parsing is a single pass over the string with table lookups (no regular expressions); it allocates the
 * field strings and the frozen result, and decodes only segments that contain `%`.
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
type PathDraft = Draft<ServiceId> | Draft<AgentId> | Draft<MeshGatewayId> | Draft<ServerId>
type SpiffeIdErrorCode = 'ERR_CONNECT_SPIFFE_ID_INVALID' | 'ERR_CONNECT_SPIFFE_ID_UNSUPPORTED'
interface Failure { readonly fail: SpiffeIdErrorCode, readonly phrase: string }

const SCHEME = 'spiffe://'
const MAX_ID_BYTES = 2048
const MAX_TRUST_DOMAIN_BYTES = 255
const DEFAULT = 'default'
const SLASH = 0x2f
const PERCENT = 0x25

// Character classes of ASCII code units, one table so the scan does one lookup per character.
const TD = 1 // trust domain
const KEEP = 2 // path character that stays as is in canonical form
const PCHAR = 4 // other path character RFC 3986 allows raw (canonical form encodes it)
const HEX = 8
const CHARS = new Uint8Array(128)
for (const c of 'abcdefghijklmnopqrstuvwxyz0123456789.-_') CHARS[c.charCodeAt(0)]! |= TD
for (const c of 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~$&+,:;=@') CHARS[c.charCodeAt(0)]! |= KEEP
for (const c of "!'()*") CHARS[c.charCodeAt(0)]! |= PCHAR
for (const c of '0123456789abcdefABCDEF') CHARS[c.charCodeAt(0)]! |= HEX

/**
 * Parses a SPIFFE ID of a kind Consul issues into a frozen value whose `uri` is the canonical form.
 * Throws {@link SpiffeIdError} (`ERR_CONNECT_SPIFFE_ID_INVALID` or `_UNSUPPORTED`, see the module comment).
 */
export function parseSpiffeId (input: string): SpiffeId {
  if (typeof input !== 'string') throw new SpiffeIdError('ERR_CONNECT_SPIFFE_ID_INVALID', String(input), `invalid SPIFFE ID: expected a string, got ${typeof input}`)
  const result = scan(input)
  if ('fail' in result) {
    const shown = JSON.stringify(input.length > 256 ? `${input.slice(0, 256)}…` : input)
    const what = result.fail === 'ERR_CONNECT_SPIFFE_ID_INVALID' ? 'invalid' : 'unsupported'
    throw new SpiffeIdError(result.fail, input, `${what} SPIFFE ID ${shown}: ${result.phrase}`)
  }
  return result
}

/** True when {@link parseSpiffeId} would accept `input`. Never throws. */
export function isSpiffeId (input: unknown): boolean {
  return typeof input === 'string' && !('fail' in scan(input))
}

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

/** Options of {@link sameService}. */
export interface SameServiceOptions {
  /** Also require the same datacenter. Default `false`. */
  datacenter?: boolean
}

/**
 * True when `a` and `b` are both service IDs naming the same service: equal `service`, `namespace` and
 * `partition` (and `datacenter` when asked), compared case-insensitively. The trust domain is ignored, as in
 * Consul's own client check (`strings.EqualFold` on the URIs after copying the host): chain verification
 * already bounds the trust domain, and ignoring it lets trust-domain migrations pass. Unlike a string compare,
 * `/ap/default` and no partition are equal here.
 */
export function sameService (a: SpiffeId, b: SpiffeId, options: SameServiceOptions = {}): boolean {
  if (a.kind !== 'service' || b.kind !== 'service') return false
  return equalFold(a.service, b.service) && equalFold(a.namespace, b.namespace) &&
    equalFold(a.partition, b.partition) && (options.datacenter !== true || equalFold(a.datacenter, b.datacenter))
}

function invalid (phrase: string): Failure {
  return { fail: 'ERR_CONNECT_SPIFFE_ID_INVALID', phrase }
}

function unsupported (phrase: string): Failure {
  return { fail: 'ERR_CONNECT_SPIFFE_ID_UNSUPPORTED', phrase }
}

function scan (input: string): SpiffeId | Failure {
  const len = input.length
  if (len === 0) return invalid('is empty')
  // A well-formed ID is ASCII, so code units = bytes; longer non-ASCII input is rejected either way.
  if (len > MAX_ID_BYTES) return invalid(`is longer than ${MAX_ID_BYTES} bytes`)
  if (!input.startsWith(SCHEME)) return invalid(schemeProblem(input))

  let i = SCHEME.length
  for (; i < len; i++) {
    const c = input.charCodeAt(i)
    if (c === SLASH) break
    if (c < 128 && (CHARS[c]! & TD) !== 0) continue
    return invalid(trustDomainProblem(input, i, c))
  }
  const tdLength = i - SCHEME.length
  if (tdLength === 0) return invalid('trust domain is missing')
  if (tdLength > MAX_TRUST_DOMAIN_BYTES) return invalid(`trust domain is longer than ${MAX_TRUST_DOMAIN_BYTES} bytes`)

  // Segment k spans bounds[2k]..bounds[2k+1]; decoded[k] is set only for segments that contained '%'.
  const bounds: number[] = []
  let decoded: Array<string | undefined> | undefined
  let canonical = true
  while (i < len) {
    const start = ++i // skip the '/'
    let encoded = false
    for (; i < len; i++) {
      const c = input.charCodeAt(i)
      if (c === SLASH) break
      if (c < 128) {
        const cls = CHARS[c]!
        if ((cls & KEEP) !== 0) continue
        if ((cls & PCHAR) !== 0) { canonical = false; continue }
        if (c === PERCENT) {
          if (!isHex(input, i + 1) || !isHex(input, i + 2)) return invalid('path segment has bad percent-encoding')
          encoded = true
          i += 2
          continue
        }
      }
      return invalid(pathProblem(c))
    }
    if (i === start) return invalid(i === len ? 'path has a trailing slash' : 'path segment is empty')
    if (isDotSegment(input, start, i)) return invalid('path segment is "." or ".."')
    if (encoded) {
      let value: string
      try {
        value = decodeURIComponent(input.slice(start, i))
      } catch {
        return invalid('path segment is not valid UTF-8 once percent-decoded')
      }
      const problem = valueProblem(value)
      if (problem !== undefined) return invalid(`path segment ${problem} once percent-decoded`)
      decoded ??= []
      decoded[bounds.length >> 1] = value
      canonical = false
    }
    bounds.push(start, i)
  }
  const trustDomain = input.slice(SCHEME.length, SCHEME.length + tdLength)
  const n = bounds.length >> 1
  if (n === 0) {
    if (isSigningDomain(trustDomain)) return Object.freeze({ kind: 'signing', trustDomain, clusterId: trustDomain.slice(0, -7), uri: input })
    return unsupported('has no path and its trust domain is not "<cluster-id>.consul"')
  }

  // Plain helper calls rather than closures: this runs on every inbound connection.
  const b = bounds
  const d = decoded
  let o = 0
  let partition = DEFAULT
  if (n > 2 && lit(input, b, 0, 'ap')) {
    o = 2
    partition = field(input, b, d, 1)
    if (partition === DEFAULT) canonical = false // canonical form omits /ap/default
  }
  const rest = n - o
  let id: PathDraft | undefined
  if (rest === 6 && lit(input, b, o, 'ns') && lit(input, b, o + 2, 'dc') && lit(input, b, o + 4, 'svc')) {
    id = {
      kind: 'service', trustDomain, partition,
      namespace: field(input, b, d, o + 1), datacenter: field(input, b, d, o + 3), service: field(input, b, d, o + 5), uri: '',
    }
  } else if (rest === 6 && lit(input, b, o, 'agent') && lit(input, b, o + 1, 'client') && lit(input, b, o + 2, 'dc') && lit(input, b, o + 4, 'id')) {
    id = { kind: 'agent', trustDomain, partition, datacenter: field(input, b, d, o + 3), node: field(input, b, d, o + 5), uri: '' }
  } else if (rest === 4 && lit(input, b, o, 'gateway') && lit(input, b, o + 1, 'mesh') && lit(input, b, o + 2, 'dc')) {
    id = { kind: 'mesh-gateway', trustDomain, partition, datacenter: field(input, b, d, o + 3), uri: '' }
  } else if (o === 0 && rest === 4 && lit(input, b, 0, 'agent') && lit(input, b, 1, 'server') && lit(input, b, 2, 'dc')) {
    id = { kind: 'server', trustDomain, datacenter: field(input, b, d, 3), uri: '' }
  }
  if (id === undefined) return unsupported('path is not one Consul issues (service, client agent, server, mesh gateway)')
  // Re-encoding can lengthen the input (Go's encoder escapes !'()*), so the canonical form is checked too.
  id.uri = canonical ? input : canonicalUri(id)
  if (id.uri.length > MAX_ID_BYTES) return invalid(`is longer than ${MAX_ID_BYTES} bytes in canonical form`)
  return Object.freeze(id)
}

/** True when raw segment k is exactly `word`; keywords hold no '%', so `%6Es` never equals `ns` (as in Consul). */
function lit (input: string, bounds: number[], k: number, word: string): boolean {
  const start = bounds[2 * k]!
  return bounds[2 * k + 1]! - start === word.length && input.startsWith(word, start)
}

/** The value of segment k: decoded if it was percent-encoded, else the raw slice. */
function field (input: string, bounds: number[], decoded: Array<string | undefined> | undefined, k: number): string {
  return decoded?.[k] ?? input.slice(bounds[2 * k], bounds[2 * k + 1])
}

function isHex (s: string, i: number): boolean {
  const c = s.charCodeAt(i) // NaN past the end, which fails the range check
  return c < 128 && (CHARS[c]! & HEX) !== 0
}

function isDotSegment (s: string, start: number, end: number): boolean {
  return s.charCodeAt(start) === 0x2e && (end - start === 1 || (end - start === 2 && s.charCodeAt(start + 1) === 0x2e))
}

function isSpaceOrControl (c: number): boolean {
  return c <= 0x20 || (c >= 0x7f && c <= 0xa0) || c === 0x1680 || (c >= 0x2000 && c <= 0x200a) ||
    c === 0x2028 || c === 0x2029 || c === 0x202f || c === 0x205f || c === 0x3000 || c === 0xfeff
}

function schemeProblem (input: string): string {
  if (isSpaceOrControl(input.charCodeAt(0))) return 'contains whitespace or a control character'
  if (input.slice(0, SCHEME.length).toLowerCase() === SCHEME) return 'scheme must be "spiffe" in lower case'
  return 'scheme is missing or invalid'
}

function trustDomainProblem (input: string, i: number, c: number): string {
  if (c === 0x3f) return 'has a query'
  if (c === 0x23) return 'has a fragment'
  if (isSpaceOrControl(c)) return 'contains whitespace or a control character'
  if (c === 0x40) return 'trust domain contains userinfo'
  if (c === 0x3a) {
    // user:password@host has its ':' before the '@'
    const at = input.indexOf('@', i)
    const slash = input.indexOf('/', i)
    return at !== -1 && (slash === -1 || at < slash) ? 'trust domain contains userinfo' : 'trust domain contains a port'
  }
  return 'trust domain characters are limited to lower-case letters, digits, dots, dashes and underscores'
}

function pathProblem (c: number): string {
  if (c === 0x3f) return 'has a query'
  if (c === 0x23) return 'has a fragment'
  if (isSpaceOrControl(c)) return 'contains whitespace or a control character'
  return 'path segment contains a character that must be percent-encoded'
}

/** What is wrong with a decoded field value, or undefined. Shared by parse and format so they agree. */
function valueProblem (v: string): string | undefined {
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

function isSigningDomain (td: string): boolean {
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
function canonicalUri (id: PathId): string {
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

/**
 * Go's strings.EqualFold, closely enough for the names Consul allows: ASCII letters fold directly; other
 * characters are equal when their single-character lower- or upper-case mappings agree.
 */
function equalFold (a: string, b: string): boolean {
  if (a === b) return true
  if (a.length === b.length) {
    let ascii = true
    for (let i = 0; i < a.length && ascii; i++) {
      const x = a.charCodeAt(i)
      const y = b.charCodeAt(i)
      if (x === y) continue
      if (x >= 128 || y >= 128) { ascii = false; break }
      const lx = x | 0x20
      if (lx !== (y | 0x20) || lx < 0x61 || lx > 0x7a) return false
    }
    if (ascii) return true
  }
  const xs = Array.from(a)
  const ys = Array.from(b)
  if (xs.length !== ys.length) return false
  for (let i = 0; i < xs.length; i++) {
    const x = xs[i]!
    const y = ys[i]!
    if (x !== y && x.toLowerCase() !== y.toLowerCase() && x.toUpperCase() !== y.toUpperCase()) return false
  }
  return true
}
