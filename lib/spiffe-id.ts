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
 *
 * The types, the character classes both directions share, and formatting are in spiffe-id-format.ts; this
 * module re-exports everything public there.
 */
import { SpiffeIdError } from './errors.js'
import * as shared from './spiffe-id-format.js'
import { canonicalUri, isSigningDomain, valueProblem } from './spiffe-id-format.js'
import type { PathDraft, SpiffeId, SpiffeIdErrorCode } from './spiffe-id-format.js'

export { formatSpiffeId, serviceId } from './spiffe-id-format.js'
export type { AgentId, MeshGatewayId, ServerId, ServiceId, SigningId, SpiffeId, SpiffeIdInput, SpiffeIdKind } from './spiffe-id-format.js'

// Copied into module-local consts once: V8 reads an imported binding through its module cell, a few loads more
// than a local const, and the scan reads these for every character (a parse measured ~15 % slower without).
const { CHARS, DEFAULT, HEX, KEEP, MAX_ID_BYTES, MAX_TRUST_DOMAIN_BYTES, PCHAR, SCHEME, SLASH, TD } = shared

interface Failure { readonly fail: SpiffeIdErrorCode, readonly phrase: string }

const PERCENT = 0x25

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
