/**
 * L7 (HTTP) permissions of intentions: validation and request matching, as Consul configures Envoy.
 *
 * Consul turns each permission into an Envoy RBAC permission (agent/xds/rbac.go `convertPermission`): the
 * AND of a path matcher, one header matcher per `Header` entry, and a `:method` matcher. Semantics, from
 * Consul 1.22 and Envoy (source/common/http/header_utility.cc, matchers):
 * - `PathExact` / `PathPrefix` compare the request path (no query string) exactly / as a prefix;
 *   `PathRegex` must match the *whole* path (RE2 `safe_regex`, see re2.ts). At most one is set.
 * - `Methods` becomes the regex `GET|POST|...` on `:method`, a case-sensitive full match; Consul upper-cases
 *   the methods it stores, so a request method must be upper-case to match (Node reports them so).
 * - Header names are case-insensitive (Envoy lower-cases them). Several values of one header are joined with
 *   `,` before matching, as Envoy does (pass `string[]`, e.g. Node's `req.headersDistinct`, to get this;
 *   Node's `req.headers` already joins with `, `). `:method`, `:path` and `:authority` (falling back to
 *   `host`) are answered from the request.
 * - `Exact` / `Prefix` / `Suffix` / `Contains` compare strings (ASCII case-insensitively with
 *   `IgnoreCase`); `Regex` must match the whole value; `Present` needs the header to exist.
 * - A missing header matches nothing, except `Present` with `Invert`, which matches (Envoy: an absent header
 *   fails every matcher before inversion, but `present_match` inverted is true).
 * - `Invert` negates the result of a header entry.
 * Validation follows Consul's `ServiceIntentionsConfigEntry.Validate` (same rules, messages naming the field)
 * and adds what Consul leaves to Envoy: regular expressions must compile. A permission with a `JWT`
 * requirement is refused: this library cannot verify JWTs, and guessing would be unsafe either way.
 */
import { ConnectError } from '../errors.js'
import type { HttpRequestInfo } from './authorizer.js'
import { Re2, Re2SyntaxError } from './re2.js'

/** An L7 permission as the agent sends it (`Permissions[]` of an intention). */
export interface IntentionPermissionInput {
  readonly Action?: string | undefined
  readonly HTTP?: IntentionHttpInput | null | undefined
  readonly JWT?: unknown
}

export interface IntentionHttpInput {
  readonly PathExact?: string | undefined
  readonly PathPrefix?: string | undefined
  readonly PathRegex?: string | undefined
  readonly Header?: readonly IntentionHeaderInput[] | null | undefined
  readonly Methods?: readonly string[] | null | undefined
}

export interface IntentionHeaderInput {
  readonly Name?: string | undefined
  readonly Present?: boolean | undefined
  readonly Exact?: string | undefined
  readonly Prefix?: string | undefined
  readonly Suffix?: string | undefined
  readonly Contains?: string | undefined
  readonly Regex?: string | undefined
  readonly IgnoreCase?: boolean | undefined
  readonly Invert?: boolean | undefined
}

/** Consul's accepted methods (Go's net/http constants). */
const HTTP_METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'CONNECT', 'OPTIONS', 'TRACE'])

// Matcher kinds, as small integers so that matching switches on numbers.
const HEADER_PRESENT = 0
const HEADER_EXACT = 1
const HEADER_PREFIX = 2
const HEADER_SUFFIX = 3
const HEADER_CONTAINS = 4
const HEADER_REGEX = 5
const HEADER_KINDS = { Present: HEADER_PRESENT, Exact: HEADER_EXACT, Prefix: HEADER_PREFIX, Suffix: HEADER_SUFFIX, Contains: HEADER_CONTAINS, Regex: HEADER_REGEX } as const
type HeaderKind = typeof HEADER_KINDS[keyof typeof HEADER_KINDS]

const PATH_ANY = 0
const PATH_EXACT = 1
const PATH_PREFIX = 2
const PATH_REGEX = 3
type PathKind = typeof PATH_ANY | typeof PATH_EXACT | typeof PATH_PREFIX | typeof PATH_REGEX

interface HeaderMatcher {
  /** Lower-cased. */
  readonly name: string
  readonly kind: HeaderKind
  /** The compared text, ASCII-lower-cased when `ignoreCase`. */
  readonly value: string
  readonly regex: Re2 | undefined
  readonly ignoreCase: boolean
  readonly invert: boolean
}

/** A validated, compiled permission. */
export class HttpPermission {
  readonly action: 'allow' | 'deny'
  /** Position in the intention's `Permissions`. */
  readonly index: number
  readonly #pathKind: PathKind
  readonly #path: string
  readonly #pathRegex: Re2 | undefined
  readonly #methods: readonly string[] | undefined
  readonly #headers: readonly HeaderMatcher[]

  /** Validates and compiles `input`; `where` prefixes error messages. Throws ERR_CONNECT_INTENTION_INVALID. */
  constructor (input: IntentionPermissionInput, index: number, where: string) {
    const at = `Permissions[${index}]`
    // Annotated, so that TypeScript treats a call as the end of the path.
    const fail: (field: string, problem: string, cause?: unknown) => never = (field, problem, cause) => {
      throw new ConnectError('ERR_CONNECT_INTENTION_INVALID', `${where}: ${at}${field} ${problem}`, { cause })
    }
    if (input === null || typeof input !== 'object') fail('', 'must be an object')
    if (input.Action !== 'allow' && input.Action !== 'deny') fail('.Action', `must be "allow" or "deny", got ${JSON.stringify(input.Action)}`)
    if (input.JWT != null) fail('.JWT', 'is not supported: JWT requirements cannot be checked by this library')
    const http = input.HTTP
    if (http == null || typeof http !== 'object') fail('.HTTP', 'is required')
    this.action = input.Action as 'allow' | 'deny'
    this.index = index

    const paths = (['PathExact', 'PathPrefix', 'PathRegex'] as const).filter((f) => nonEmpty(http[f]))
    if (paths.length > 1) fail('.HTTP', `must set at most one of PathExact, PathPrefix or PathRegex, got ${paths.join(' and ')}`)
    for (const field of ['PathExact', 'PathPrefix'] as const) {
      const value = http[field]
      if (nonEmpty(value) && !value.startsWith('/')) fail(`.HTTP.${field}`, `must start with "/", got ${JSON.stringify(value)}`)
    }
    this.#pathKind = nonEmpty(http.PathExact) ? PATH_EXACT : nonEmpty(http.PathPrefix) ? PATH_PREFIX : nonEmpty(http.PathRegex) ? PATH_REGEX : PATH_ANY
    this.#path = http.PathExact || http.PathPrefix || ''
    this.#pathRegex = nonEmpty(http.PathRegex) ? compileRegex(http.PathRegex, (p, c) => fail('.HTTP.PathRegex', p, c)) : undefined

    const headers = http.Header ?? []
    if (!Array.isArray(headers)) fail('.HTTP.Header', 'must be a list')
    this.#headers = Object.freeze(headers.map((h, k) => headerMatcher(h, (field, problem, cause) => fail(`.HTTP.Header[${k}]${field}`, problem, cause))))

    const methods = http.Methods ?? []
    if (!Array.isArray(methods)) fail('.HTTP.Methods', 'must be a list')
    const seen = new Set<string>()
    for (const method of methods) {
      // Consul upper-cases methods when storing them; validate the stored form.
      const upper = typeof method === 'string' ? method.toUpperCase() : ''
      if (!HTTP_METHODS.has(upper)) fail('.HTTP.Methods', `contains an invalid method ${JSON.stringify(method)}`)
      if (seen.has(upper)) fail('.HTTP.Methods', `contains ${JSON.stringify(upper)} more than once`)
      seen.add(upper)
    }
    this.#methods = seen.size > 0 ? Object.freeze([...seen]) : undefined
    if (this.#pathKind === PATH_ANY && this.#headers.length === 0 && this.#methods === undefined) fail('.HTTP', 'must not be empty')
    Object.freeze(this)
  }

  /** Whether `request` matches every part of this permission. `path` is the request path without its query. */
  matches (request: HttpRequestInfo, path: string): boolean {
    switch (this.#pathKind) {
      case PATH_EXACT: if (path !== this.#path) return false; break
      case PATH_PREFIX: if (!path.startsWith(this.#path)) return false; break
      case PATH_REGEX: if (!this.#pathRegex!.fullMatch(path)) return false; break
    }
    if (this.#methods !== undefined && !this.#methods.includes(request.method)) return false
    for (const header of this.#headers) {
      if (!headerMatches(header, request, path)) return false
    }
    return true
  }
}

/** The index of the first permission `request` matches, or -1 (then the default decision applies). */
export function firstMatchingPermission (permissions: readonly HttpPermission[], request: HttpRequestInfo): number {
  // Envoy matches the path without the query string; strip it once in case the caller passed one.
  const raw = request.path
  const q = raw.indexOf('?')
  const path = q === -1 ? raw : raw.slice(0, q)
  for (let k = 0; k < permissions.length; k++) {
    if (permissions[k]!.matches(request, path)) return k
  }
  return -1
}

function nonEmpty (value: unknown): value is string {
  return typeof value === 'string' && value !== ''
}

function compileRegex (pattern: string, fail: (problem: string, cause: unknown) => never): Re2 {
  try {
    return Re2.compile(pattern)
  } catch (err) {
    if (err instanceof Re2SyntaxError) return fail(`is not a supported RE2 expression: ${err.phrase} at offset ${err.offset} in ${JSON.stringify(pattern)}`, err)
    throw err
  }
}

function headerMatcher (h: IntentionHeaderInput, fail: (field: string, problem: string, cause?: unknown) => never): HeaderMatcher {
  if (h === null || typeof h !== 'object') return fail('', 'must be an object')
  if (!nonEmpty(h.Name)) return fail('.Name', 'is required')
  const given = (['Exact', 'Prefix', 'Suffix', 'Contains', 'Regex'] as const).filter((f) => nonEmpty(h[f]))
  const fields: Array<keyof typeof HEADER_KINDS> = h.Present === true ? ['Present', ...given] : given
  if (fields.length !== 1) fail('', `must set exactly one of Present, Exact, Prefix, Suffix, Contains or Regex, got ${fields.length === 0 ? 'none' : fields.join(' and ')}`)
  const field = fields[0]!
  const ignoreCase = h.IgnoreCase === true
  if (ignoreCase && (field === 'Present' || field === 'Regex')) fail('.IgnoreCase', 'applies only to Exact, Prefix, Suffix or Contains')
  const kind: HeaderKind = HEADER_KINDS[field]
  const text = field === 'Present' || field === 'Regex' ? '' : h[field]!
  return Object.freeze({
    name: h.Name.toLowerCase(),
    kind,
    value: ignoreCase ? asciiLower(text) : text,
    regex: kind === HEADER_REGEX ? compileRegex(h.Regex!, (p, c) => fail('.Regex', p, c)) : undefined,
    ignoreCase,
    invert: h.Invert === true
  })
}

function headerMatches (m: HeaderMatcher, request: HttpRequestInfo, path: string): boolean {
  const value = headerValue(request, m.name, path)
  if (value === undefined) return m.kind === HEADER_PRESENT && m.invert
  let match: boolean
  switch (m.kind) {
    case HEADER_PRESENT: match = true; break
    case HEADER_EXACT: match = m.ignoreCase ? value.length === m.value.length && regionEqualsIgnoreCase(value, 0, m.value) : value === m.value; break
    case HEADER_PREFIX: match = m.ignoreCase ? value.length >= m.value.length && regionEqualsIgnoreCase(value, 0, m.value) : value.startsWith(m.value); break
    case HEADER_SUFFIX: match = m.ignoreCase ? value.length >= m.value.length && regionEqualsIgnoreCase(value, value.length - m.value.length, m.value) : value.endsWith(m.value); break
    case HEADER_CONTAINS: match = m.ignoreCase ? containsIgnoreCase(value, m.value) : value.includes(m.value); break
    default: match = m.regex!.fullMatch(value)
  }
  return match !== m.invert
}

/** The value Envoy would match for header `name` (lower-case), or undefined when the request lacks it. */
function headerValue (request: HttpRequestInfo, name: string, path: string): string | undefined {
  if (name === ':method') return request.method
  if (name === ':path') return path
  const headers = request.headers
  let value = headers[name]
  if (value === undefined && name === ':authority') value = headers['host']
  if (value === undefined) value = lookupIgnoringCase(headers, name)
  if (value === undefined || typeof value === 'string') return value
  if (value.length === 0) return undefined
  return value.length === 1 ? value[0] : value.join(',')
}

/** For header records whose keys are not lower-case (Node's are): a scan, only when the direct lookup missed. */
function lookupIgnoringCase (headers: HttpRequestInfo['headers'], name: string): string | string[] | undefined {
  for (const key in headers) {
    if (key.length === name.length && key !== name && regionEqualsIgnoreCase(key, 0, name)) return headers[key]
  }
  return undefined
}

/** ASCII-case-insensitive comparison of `s[offset..]` with `lower` (already ASCII-lower-case). */
function regionEqualsIgnoreCase (s: string, offset: number, lower: string): boolean {
  for (let k = 0; k < lower.length; k++) {
    let c = s.charCodeAt(offset + k)
    if (c >= 0x41 && c <= 0x5a) c += 0x20
    if (c !== lower.charCodeAt(k)) return false
  }
  return true
}

function containsIgnoreCase (s: string, lower: string): boolean {
  for (let start = 0; start + lower.length <= s.length; start++) {
    if (regionEqualsIgnoreCase(s, start, lower)) return true
  }
  return false
}

function asciiLower (s: string): string {
  return s.replace(/[A-Z]/g, (c) => String.fromCharCode(c.charCodeAt(0) + 0x20))
}
