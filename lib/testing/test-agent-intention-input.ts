/**
 * Intention input for the TestAgent, in Consul's wire format (`service-intentions` config entries and the
 * exact-intention body): the types, their decoding, and Consul's validation rules with Consul's messages.
 *
 * Decoding (wrong JSON types) fails with a message naming the field, which the agent answers as
 * `400 Request decoding failed: …`; validation fails with the message Consul's
 * `ServiceIntentionsConfigEntry.Validate` gives (`Sources[0].Action must be set to 'allow' or 'deny'`),
 * which the agent answers as a 500, as Consul does. Unknown fields (JWT, Hash, …) are ignored.
 */
import { z } from 'zod'

/** An L7 header match of an intention permission (exactly one of Present/Exact/Prefix/Suffix/Contains/Regex). */
export interface IntentionHeaderPermission {
  readonly Name: string
  readonly Present?: boolean
  readonly Exact?: string
  readonly Prefix?: string
  readonly Suffix?: string
  readonly Contains?: string
  readonly Regex?: string
  readonly Invert?: boolean
  readonly IgnoreCase?: boolean
}

/** An L7 permission: an action and an HTTP matcher. */
export interface IntentionPermission {
  readonly Action: 'allow' | 'deny'
  readonly HTTP: {
    readonly PathExact?: string
    readonly PathPrefix?: string
    readonly PathRegex?: string
    readonly Header?: readonly IntentionHeaderPermission[]
    readonly Methods?: readonly string[]
  }
}

/** One source of a `service-intentions` entry (Consul's `SourceIntention`). */
export interface ServiceIntentionSource {
  /** Source service name, or `*`. */
  readonly Name: string
  /** Source namespace (Enterprise); default: the destination's, or `default`. */
  readonly Namespace?: string
  /** Source admin partition (Enterprise); default: the destination's. Not with `Peer`. */
  readonly Partition?: string
  /** Source cluster peer. */
  readonly Peer?: string
  readonly SamenessGroup?: string
  /** L4 action; omit it when `Permissions` are given. */
  readonly Action?: 'allow' | 'deny'
  /**
   * L7 permissions, refused unless the destination's protocol is HTTP-like (`service-defaults` or
   * `proxy-defaults`, as in Consul); the agent's authorize and check endpoints treat them as deny.
   */
  readonly Permissions?: readonly IntentionPermission[]
  readonly Description?: string
  /** Always `consul` (the default). */
  readonly Type?: 'consul'
  /** Ignored on input: Consul recomputes it. */
  readonly Precedence?: number
}

/** A `service-intentions` config entry: every intention whose destination is `Name`. */
export interface ServiceIntentionsEntry {
  readonly Kind?: 'service-intentions'
  /** Destination service name, or `*`. */
  readonly Name: string
  /** Destination namespace (Enterprise), `default` when absent. */
  readonly Namespace?: string
  /** Destination admin partition (Enterprise), the default partition when absent. */
  readonly Partition?: string
  readonly Sources: readonly ServiceIntentionSource[]
  readonly Meta?: Readonly<Record<string, string>>
}

/** The body of `PUT /v1/connect/intentions/exact` (the identity comes from the query). */
export interface ExactIntentionBody {
  readonly Action?: 'allow' | 'deny'
  readonly Permissions?: readonly IntentionPermission[]
  readonly Description?: string
  readonly Meta?: Readonly<Record<string, string>>
}

// Consul's clients send `null` for absent fields; treat it as absent.
const str = z.string().nullish().transform((v) => v ?? undefined)
const bool = z.boolean().nullish().transform((v) => v ?? undefined)
const meta = z.record(z.string(), z.string()).nullish().transform((v) => v ?? undefined)

const headerSchema = z.object({
  Name: str, Present: bool, Exact: str, Prefix: str, Suffix: str, Contains: str, Regex: str, Invert: bool, IgnoreCase: bool
})
const permissionSchema = z.object({
  Action: str,
  HTTP: z.object({
    PathExact: str,
    PathPrefix: str,
    PathRegex: str,
    Header: z.array(headerSchema).nullish().transform((v) => v ?? undefined),
    Methods: z.array(z.string()).nullish().transform((v) => v ?? undefined)
  }).nullish().transform((v) => v ?? undefined)
})
const permissionsSchema = z.array(permissionSchema).nullish().transform((v) => v ?? undefined)
const sourceSchema = z.object({
  Name: str,
  Namespace: str,
  Partition: str,
  Peer: str,
  SamenessGroup: str,
  Action: str,
  Permissions: permissionsSchema,
  Description: str,
  Type: str
})
const entrySchema = z.object({
  Kind: str,
  Name: str,
  Namespace: str,
  Partition: str,
  Sources: z.array(sourceSchema).nullish().transform((v) => v ?? undefined),
  Meta: meta
})
const exactBodySchema = z.object({ Action: str, Permissions: permissionsSchema, Description: str, Meta: meta })

// Decoded shapes: every field optional, values as JSON typed them (strings not yet checked against enums).
type Maybe<T> = T | undefined
export interface DecodedHeader {
  Name?: Maybe<string>, Present?: Maybe<boolean>, Exact?: Maybe<string>, Prefix?: Maybe<string>, Suffix?: Maybe<string>,
  Contains?: Maybe<string>, Regex?: Maybe<string>, Invert?: Maybe<boolean>, IgnoreCase?: Maybe<boolean>
}
export interface DecodedPermission {
  Action?: Maybe<string>
  HTTP?: Maybe<{ PathExact?: Maybe<string>, PathPrefix?: Maybe<string>, PathRegex?: Maybe<string>, Header?: Maybe<DecodedHeader[]>, Methods?: Maybe<string[]> }>
}
export interface DecodedSource {
  Name?: Maybe<string>, Namespace?: Maybe<string>, Partition?: Maybe<string>, Peer?: Maybe<string>, SamenessGroup?: Maybe<string>,
  Action?: Maybe<string>, Permissions?: Maybe<DecodedPermission[]>, Description?: Maybe<string>, Type?: Maybe<string>
}
export interface DecodedEntry {
  Kind?: Maybe<string>, Name?: Maybe<string>, Namespace?: Maybe<string>, Partition?: Maybe<string>,
  Sources?: Maybe<DecodedSource[]>, Meta?: Maybe<Record<string, string>>
}
export interface DecodedExactBody {
  Action?: Maybe<string>, Permissions?: Maybe<DecodedPermission[]>, Description?: Maybe<string>, Meta?: Maybe<Record<string, string>>
}

/** Decodes a config entry body; a string (naming the field) when a field has the wrong JSON type. */
export function decodeEntry (raw: unknown): DecodedEntry | string {
  return decode(entrySchema, raw)
}

/** Decodes an exact-intention body; a string (naming the field) when a field has the wrong JSON type. */
export function decodeExactBody (raw: unknown): DecodedExactBody | string {
  return decode(exactBodySchema, raw)
}

function decode<T> (schema: z.ZodType<T>, raw: unknown): T | string {
  const result = schema.safeParse(raw)
  if (result.success) return result.data
  const issue = result.error.issues[0]!
  const path = issue.path.map((p) => typeof p === 'number' ? `[${p}]` : `.${String(p)}`).join('').replace(/^\./, '')
  return `${path === '' ? 'body' : path}: ${issue.message}`
}

const WILDCARD = '*'
const MAX_DESCRIPTION = 512
const HTTP_METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'CONNECT', 'OPTIONS', 'TRACE'])

/**
 * Consul's validation of a `service-intentions` entry (after decoding): the first failure's message,
 * worded as Consul words it, or `undefined` when the entry is valid.
 */
export function validateEntry (entry: DecodedEntry): string | undefined {
  if (entry.Name === undefined || entry.Name === '') return 'Name is required'
  const destination = wildcardError(entry.Name, entry.Namespace, entry.Partition)
  if (destination !== undefined) return destination
  const sources = entry.Sources ?? []
  if (sources.length === 0) return 'At least one source is required'
  const destIsWild = entry.Name === WILDCARD || entry.Namespace === WILDCARD
  const seen = new Set<string>()
  for (const [i, src] of sources.entries()) {
    const problem = validateSource(src, i, destIsWild)
    if (problem !== undefined) return problem
    const key = JSON.stringify([src.Peer ?? '', src.SamenessGroup ?? '', src.Partition ?? '', src.Namespace ?? '', src.Name])
    if (seen.has(key)) {
      const name = src.Namespace === undefined ? src.Name! : `${src.Namespace}/${src.Name!}`
      if (src.Peer !== undefined) return `Sources[${i}] defines peer(${JSON.stringify(src.Peer)}) ${JSON.stringify(name)} more than once`
      return `Sources[${i}] defines ${JSON.stringify(name)} more than once`
    }
    seen.add(key)
  }
  return undefined
}

function validateSource (src: DecodedSource, i: number, destIsWild: boolean): string | undefined {
  const at = `Sources[${i}]`
  if (src.Name === undefined || src.Name === '') return `${at}.Name is required`
  const wild = wildcardError(src.Name, src.Namespace, src.Partition)
  if (wild !== undefined) return `${at}.${wild}`
  if (src.Peer?.includes(WILDCARD) === true) return `${at}.Peer: cannot use wildcard '*' in peer`
  if (src.SamenessGroup?.includes(WILDCARD) === true) return `${at}.SamenessGroup: cannot use wildcard '*' in sameness group`
  if (src.Peer !== undefined && src.Partition !== undefined) return `${at}.Peer: cannot set Peer and Partition at the same time.`
  if (src.SamenessGroup !== undefined && src.Partition !== undefined) return `${at}.SamenessGroup: cannot set SamenessGroup and Partition at the same time`
  if (src.SamenessGroup !== undefined && src.Peer !== undefined) return `${at}.SamenessGroup: cannot set SamenessGroup and Peer at the same time`
  if ((src.Description?.length ?? 0) > MAX_DESCRIPTION) return `${at}.Description exceeds maximum length ${MAX_DESCRIPTION}`
  const permissions = src.Permissions ?? []
  if (permissions.length === 0 && src.Action !== 'allow' && src.Action !== 'deny') return `${at}.Action must be set to 'allow' or 'deny'`
  if (permissions.length > 0 && src.Action !== undefined && src.Action !== '') return `${at}.Action must be omitted if Permissions are specified`
  if (destIsWild && permissions.length > 0) return `${at}.Permissions cannot be specified on intentions with wildcarded destinations`
  if ((src.Type ?? 'consul') !== 'consul') return `${at}.Type must be set to 'consul'`
  for (const [j, perm] of permissions.entries()) {
    const problem = validatePermission(perm, `${at}.Permissions[${j}]`)
    if (problem !== undefined) return problem
  }
  return undefined
}

/** Consul's checks of one L7 permission (`…Permissions[j]…` messages). */
function validatePermission (perm: DecodedPermission, at: string): string | undefined {
  if (perm.Action !== 'allow' && perm.Action !== 'deny') return `${at}.Action must be set to 'allow' or 'deny'`
  const http = perm.HTTP
  if (http === undefined) return `${at}.HTTP is required`
  let pathParts = 0
  for (const field of ['PathExact', 'PathPrefix'] as const) {
    const value = http[field]
    if (value === undefined || value === '') continue
    pathParts++
    if (!value.startsWith('/')) return `${at}.HTTP.${field} doesn't start with '/': ${JSON.stringify(value)}`
  }
  if (http.PathRegex !== undefined && http.PathRegex !== '') pathParts++
  if (pathParts > 1) return `${at}.HTTP should only contain at most one of PathExact, PathPrefix, or PathRegex`
  let parts = pathParts
  for (const [k, hdr] of (http.Header ?? []).entries()) {
    if (hdr.Name === undefined || hdr.Name === '') return `${at}.HTTP.Header[${k}] missing required Name field`
    const matchers = [hdr.Present === true, ...[hdr.Exact, hdr.Regex, hdr.Prefix, hdr.Suffix, hdr.Contains].map((v) => v !== undefined && v !== '')]
    if (matchers.filter(Boolean).length !== 1) return `${at}.HTTP.Header[${k}] should only contain one of Present, Exact, Prefix, Suffix, Contains, or Regex`
    if (hdr.IgnoreCase === true && (hdr.Present === true || (hdr.Regex ?? '') !== '')) {
      return `${at}.HTTP.Header[${k}] should set one of Exact, Prefix, Suffix, or Contains when using IgnoreCase`
    }
    parts++
  }
  const methods = http.Methods ?? []
  if (methods.length > 0) {
    const found = new Set<string>()
    for (const m of methods) {
      const upper = m.toUpperCase()
      if (!HTTP_METHODS.has(upper)) return `${at}.HTTP.Methods contains an invalid method ${JSON.stringify(upper)}`
      if (found.has(upper)) return `${at}.HTTP.Methods contains ${JSON.stringify(upper)} more than once`
      found.add(upper)
    }
    parts++
  }
  if (parts === 0) return `${at}.HTTP should not be empty`
  return undefined
}

/** Consul's wildcard rules for a (name, namespace, partition) triple; the message without its field prefix. */
function wildcardError (name: string, namespace: string | undefined, partition: string | undefined): string | undefined {
  const ns = namespace === undefined || namespace === '' ? 'default' : namespace
  if (ns !== WILDCARD && ns.includes(WILDCARD)) return "Namespace: wildcard character '*' cannot be used with partial values"
  if (name !== WILDCARD) {
    if (name.includes(WILDCARD)) return "Name: wildcard character '*' cannot be used with partial values"
    if (ns === WILDCARD) return 'Name: exact value cannot follow wildcard namespace'
  }
  if (partition?.includes(WILDCARD) === true) return "Partition: cannot use wildcard '*' in partition"
  return undefined
}
