/**
 * Intentions: a destination's intentions, validated and indexed, deciding connections (L4) and HTTP
 * requests (L7) exactly as Consul does, synchronously and without I/O.
 *
 * Semantics, checked against Consul 1.22.7 (agent/agent_endpoint.go `AgentConnectAuthorize`,
 * agent/connect/authz.go `IntentionMatch`, agent/xds/rbac.go) and, for L4, differentially against a real
 * agent (test/integration/intentions-differential.test.ts):
 * - Evaluation order is Consul's precedence order ({@link compareIntentions}); the first intention whose
 *   source matches decides. A source matches when its peer equals the intention's `SourcePeer` (none for a
 *   local service), its partition equals `SourcePartition` (absent = `default`), and namespace and name equal
 *   the intention's or the intention's is `*`. Comparisons are case-sensitive; the trust domain and the
 *   datacenter of a SPIFFE ID are not looked at (Consul does not either).
 * - An L4 intention (`Action`) decides by its action, for a connection and for a request alike.
 * - An L7 intention (`Permissions`) denies a connection decided without a request, as the agent's authorize
 *   endpoint does ("Matched L7 intention"). For a request, permissions are tried top to bottom and the first
 *   match's `Action` is final. A request matching none gets the *default* decision, not a lower-precedence
 *   intention: Consul's Envoy RBAC removes the source of every higher-precedence intention from the lower
 *   ones and drops lower intentions of the same source (rbac.go `removeSourcePrecedence`,
 *   `removeSameSourceIntentions`), so what is left for that source is the default policy.
 * - When no intention matches: `defaultAllow`, with `defaultReason` (Consul's wording: "Default behavior
 *   configured by ACLs", or "Default intention policy" when `default_intention_policy` is set; see
 *   default-policy.ts for how to learn which applies).
 * - Only service identities are authorized; other SPIFFE ID kinds are denied (the agent answers 400).
 * - `layer` is `L7` when a request was decided, `L4` for a connection.
 * Where Consul's own paths disagree, this follows the data plane (Envoy): a source from another admin
 * partition is matched against intentions naming that partition, where the agent's authorize endpoint
 * refuses any cross-partition call. `SourceSamenessGroup` is not matched on (Enterprise; the agent's
 * IntentionMatch ignores it too). Intentions with a `JWT` requirement are refused: JWTs cannot be checked here.
 *
 * Building validates every intention (`intentionProblem` below, and l7.ts for permissions) and throws ConnectError
 * `ERR_CONNECT_INTENTION_INVALID` naming the intention and the field; nothing is partly built. The index
 * is keyed by (peer, partition, namespace, name) with one slot each for exact names, `*` names and `*`
 * namespaces, so {@link Intentions.decide} does a few map lookups whatever the number of intentions.
 * Decisions are frozen objects created once per intention (lazily) and reused: deciding allocates nothing.
 */
import { z } from 'zod'
import { ConnectError, InvalidOptionError } from '../errors.js'
import type { SpiffeId } from '../spiffe-id.js'
import type { Decision, HttpRequestInfo } from './authorizer.js'
import { HttpPermission, firstMatchingPermission } from './l7.js'
import type { IntentionPermissionInput } from './l7.js'
import { WILDCARD, compareIntentions, intentionPrecedence } from './precedence.js'

/** Options of {@link Intentions}. */
export interface IntentionsOptions {
  /** The destination service: picks its list from a match answer, names it in reasons. */
  readonly destination?: string | undefined
  /** The decision when no intention matches (and for L7 requests no permission matches). Required. */
  readonly defaultAllow: boolean
  /** The reason given with the default decision. Default `Default behavior configured by ACLs` (Consul's). */
  readonly defaultReason?: string | undefined
}

/** A source named by its parts; namespace and partition default to `default`, peer to none. */
export interface SourceService {
  readonly service: string
  readonly namespace?: string | undefined
  readonly partition?: string | undefined
  readonly peer?: string | undefined
}

export interface DecideInput {
  /** The caller: a parsed SPIFFE ID (a verified peer's) or a service named by its parts. */
  readonly source: SpiffeId | SourceService
  /** The HTTP request, for L7 decisions; leave it out for a connection. */
  readonly request?: HttpRequestInfo | undefined
}

// Consul's wording (also default-policy.ts's ACL_POLICY_REASON; kept here so this module stays pure).
const ACL_DEFAULT_REASON = 'Default behavior configured by ACLs'
const DEFAULT = 'default'

interface Entry extends ParsedIntention {
  /** Decisions, created on first use and then reused. */
  l4?: Decision
  l7?: Decision
  byPermission?: Array<Decision | undefined>
  noPermission?: Decision
}

interface Tenancy {
  readonly exact: Map<string, Map<string, Entry>>
  readonly wildName: Map<string, Entry>
  wildNamespace: Entry | undefined
}

export class Intentions {
  /** The destination, when known (given, or the only key of a match answer). */
  readonly destination: string | undefined
  readonly defaultAllow: boolean
  readonly defaultReason: string
  /** Every intention, in evaluation order. */
  readonly intentions: readonly ResolvedIntention[]
  /** Whether any intention has L7 permissions (then requests need per-request decisions). */
  readonly hasL7: boolean
  readonly #index = new Map<string, Map<string, Tenancy>>()
  readonly #default: { readonly L4: Decision, readonly L7: Decision }
  readonly #notService = new Map<string, Decision>()

  /**
   * Validates and indexes `source`: a match answer (`{"db": [...]}`, raw JSON or as watchIntentions parses it)
   * or a list of intentions (each `{ SourceName, SourceNS?, SourcePartition?, SourcePeer?, Action?, Permissions? }`
   * at least). Throws ERR_CONNECT_INTENTION_INVALID for a malformed intention, ERR_CONNECT_INVALID_OPTION
   * for bad options (including a missing `destination` when a match answer lists several).
   */
  constructor (source: IntentionsMatchAnswer | readonly IntentionInput[], options: IntentionsOptions) {
    if (options === null || typeof options !== 'object') throw new InvalidOptionError('options', 'expected an object with defaultAllow')
    if (typeof options.defaultAllow !== 'boolean') throw new InvalidOptionError('defaultAllow', `expected a boolean, got ${typeof options.defaultAllow}`)
    if (options.destination !== undefined && (typeof options.destination !== 'string' || options.destination === '')) {
      throw new InvalidOptionError('destination', 'expected a non-empty string')
    }
    if (options.defaultReason !== undefined && typeof options.defaultReason !== 'string') throw new InvalidOptionError('defaultReason', 'expected a string')
    const { destination, entries } = parseIntentions(source, options.destination)
    this.destination = destination
    this.defaultAllow = options.defaultAllow
    this.defaultReason = options.defaultReason ?? ACL_DEFAULT_REASON
    this.#default = Object.freeze({
      L4: decision(this.defaultAllow, this.defaultReason, 'L4'),
      L7: decision(this.defaultAllow, this.defaultReason, 'L7')
    })
    for (const entry of entries as Entry[]) this.#insert(entry)
    this.intentions = Object.freeze(entries.map((e) => e.intention))
    this.hasL7 = entries.some((e) => e.permissions !== undefined)
    Object.freeze(this)
  }

  /** Builds from a match answer (`GET /v1/connect/intentions/match?by=destination&name=<destination>`). */
  static fromMatchAnswer (json: unknown, destination: string, options: Omit<IntentionsOptions, 'destination'>): Intentions {
    if (json === null || typeof json !== 'object' || Array.isArray(json)) {
      throw new ConnectError('ERR_CONNECT_INTENTION_INVALID', `intentions match answer for ${JSON.stringify(destination)}: expected a JSON object`)
    }
    return new Intentions(json as IntentionsMatchAnswer, { ...options, destination })
  }

  /** The number of intentions. */
  get size (): number { return this.intentions.length }

  /**
   * Decides a connection (no `request`) or an HTTP request from `source`. Synchronous, no I/O, and no
   * allocation: the returned Decision is a frozen object shared by every caller it applies to.
   */
  decide (input: DecideInput): Decision {
    const source = input.source
    const request = input.request
    let entry: Entry | undefined
    if ('kind' in source) {
      if (source.kind !== 'service') return this.#notServiceDecision(source.kind, request !== undefined)
      entry = this.#lookup('', source.partition, source.namespace, source.service)
    } else {
      const service = source.service
      if (typeof service !== 'string' || service === '') return this.#notServiceDecision('invalid', request !== undefined)
      entry = this.#lookup(source.peer ?? '', source.partition || DEFAULT, source.namespace || DEFAULT, service)
    }
    if (entry === undefined) return request === undefined ? this.#default.L4 : this.#default.L7
    if (request === undefined) return entry.l4 ??= this.#connectionDecision(entry)
    if (entry.permissions === undefined) return entry.l7 ??= decision(entry.action === 'allow', `Matched L4 intention: ${textOf(entry)}`, 'L7', entry.intention)
    const k = firstMatchingPermission(entry.permissions, request)
    if (k === -1) {
      return entry.noPermission ??= decision(this.defaultAllow, `Matched L7 intention: ${textOf(entry)}, but no permission matched the request; ${this.defaultReason}`, 'L7', entry.intention)
    }
    const byPermission = entry.byPermission ??= []
    return byPermission[k] ??= decision(entry.permissions[k]!.action === 'allow',
      `Matched L7 intention: ${textOf(entry)}, Permissions[${k}]: ${entry.permissions[k]!.action.toUpperCase()}`, 'L7', entry.intention)
  }

  /** The intention that decides for `source` (before any L7 permission), or undefined when none matches. */
  match (source: SpiffeId | SourceService): ResolvedIntention | undefined {
    if ('kind' in source) return source.kind === 'service' ? this.#lookup('', source.partition, source.namespace, source.service)?.intention : undefined
    return this.#lookup(source.peer ?? '', source.partition || DEFAULT, source.namespace || DEFAULT, source.service)?.intention
  }

  toString (): string {
    return `Intentions(${this.destination ?? '?'}: ${this.size} intentions, default ${this.defaultAllow ? 'allow' : 'deny'})`
  }

  #connectionDecision (entry: Entry): Decision {
    if (entry.permissions === undefined) return decision(entry.action === 'allow', `Matched L4 intention: ${textOf(entry)}`, 'L4', entry.intention)
    // The agent's authorize (and check) treat an L7 intention as deny: its permissions need a request.
    return decision(false, `Matched L7 intention: ${textOf(entry)} (L7 permissions are decided per HTTP request; a connection-level check denies)`, 'L4', entry.intention)
  }

  #notServiceDecision (kind: string, l7: boolean): Decision {
    const key = `${kind}:${l7 ? 'L7' : 'L4'}`
    let d = this.#notService.get(key)
    if (d === undefined) {
      const reason = kind === 'invalid' ? 'Source is not a valid service' : `Source is not a service identity (${kind}): intentions authorize services only`
      this.#notService.set(key, d = decision(false, reason, l7 ? 'L7' : 'L4'))
    }
    return d
  }

  /** The first intention in evaluation order matching the source; see the module comment for the rules. */
  #lookup (peer: string, partition: string, namespace: string, name: string): Entry | undefined {
    const tenancy = this.#index.get(peer)?.get(partition)
    if (tenancy === undefined) return undefined
    let best = tenancy.exact.get(namespace)?.get(name)
    const wildName = tenancy.wildName.get(namespace)
    if (wildName !== undefined && (best === undefined || wildName.position < best.position)) best = wildName
    const wildNamespace = tenancy.wildNamespace
    if (wildNamespace !== undefined && (best === undefined || wildNamespace.position < best.position)) best = wildNamespace
    return best
  }

  /** Indexes an entry; entries arrive in evaluation order, so the first one in a slot is the one that decides. */
  #insert (entry: Entry): void {
    const { SourcePeer, SourcePartition, SourceNS, SourceName } = entry.intention
    let byPartition = this.#index.get(SourcePeer ?? '')
    if (byPartition === undefined) this.#index.set(SourcePeer ?? '', byPartition = new Map())
    const partition = SourcePartition || DEFAULT
    let tenancy = byPartition.get(partition)
    if (tenancy === undefined) byPartition.set(partition, tenancy = { exact: new Map(), wildName: new Map(), wildNamespace: undefined })
    if (SourceNS === WILDCARD) {
      tenancy.wildNamespace ??= entry
    } else if (SourceName === WILDCARD) {
      if (!tenancy.wildName.has(SourceNS)) tenancy.wildName.set(SourceNS, entry)
    } else {
      let names = tenancy.exact.get(SourceNS)
      if (names === undefined) tenancy.exact.set(SourceNS, names = new Map())
      if (!names.has(SourceName)) names.set(SourceName, entry)
    }
  }
}

function decision (allowed: boolean, reason: string, layer: 'L4' | 'L7', intention?: ResolvedIntention): Decision {
  return Object.freeze(intention === undefined ? { allowed, reason, layer } : { allowed, reason, layer, intention })
}

// ------------------------------------------------------------------------------------------------------
// Input: what the constructor accepts, and its validation.

/**
 * One intention as input: the fields of the agent's `Intention` JSON this module reads. Only `SourceName`
 * is required; `SourceNS`/`DestinationNS` default to `default`, `DestinationName` to the `destination` option,
 * `Precedence` to the computed one. Unknown fields are ignored.
 */
export interface IntentionInput {
  readonly SourceName: string
  readonly SourceNS?: string | undefined
  readonly SourcePartition?: string | undefined
  readonly SourcePeer?: string | undefined
  readonly SourceSamenessGroup?: string | undefined
  readonly SourceType?: string | undefined
  readonly DestinationName?: string | undefined
  readonly DestinationNS?: string | undefined
  readonly DestinationPartition?: string | undefined
  /** `allow` or `deny` for an L4 intention; absent (or `""`) when `Permissions` are given. */
  readonly Action?: string | undefined
  readonly Permissions?: readonly IntentionPermissionInput[] | null | undefined
  readonly Precedence?: number | undefined
  readonly ID?: string | undefined
  readonly Description?: string | undefined
}

/** The body of `GET /v1/connect/intentions/match?by=destination&name=<svc>`: destination → its intentions. */
export type IntentionsMatchAnswer = Readonly<Record<string, readonly IntentionInput[] | null | undefined>>

/** An intention as indexed: validated, namespaces filled in, `Precedence` set, deeply frozen. */
export interface ResolvedIntention {
  readonly ID?: string
  readonly Description?: string
  readonly SourceName: string
  readonly SourceNS: string
  readonly SourcePartition?: string
  readonly SourcePeer?: string
  readonly SourceSamenessGroup?: string
  readonly DestinationName: string
  readonly DestinationNS: string
  readonly DestinationPartition?: string
  readonly Action?: 'allow' | 'deny'
  readonly Permissions?: readonly IntentionPermissionInput[]
  readonly Precedence: number
}

interface ParsedIntention {
  /** Rank in evaluation order. */
  position: number
  readonly intention: ResolvedIntention
  /** Consul's `Intention.String()`, as authorize reasons show it; built on first use (see {@link textOf}). */
  text?: string
  readonly action: 'allow' | 'deny' | undefined
  readonly permissions: readonly HttpPermission[] | undefined
}

// Structure only (types of the fields read); the rules are checked below with messages naming the field.
// No transforms: they cost an allocation per field at 100,000 intentions; null is read as absent below.
const text = z.string().nullish()
const intentionShape = z.looseObject({
  ID: text,
  Description: text,
  SourceName: z.string(),
  SourceNS: text,
  SourcePartition: text,
  SourcePeer: text,
  SourceSamenessGroup: text,
  SourceType: text,
  DestinationName: text,
  DestinationNS: text,
  DestinationPartition: text,
  Action: text,
  Permissions: z.array(z.unknown()).nullish(),
  JWT: z.unknown().optional(),
  Precedence: z.number().int().nullish()
})

/** Validates and orders the input (see the constructor); throws ERR_CONNECT_INTENTION_INVALID. */
function parseIntentions (source: IntentionsMatchAnswer | readonly IntentionInput[], destinationOption: string | undefined): { destination: string | undefined, entries: ParsedIntention[] } {
  let destination = destinationOption
  let items: readonly unknown[]
  let label: (i: number) => string
  if (Array.isArray(source)) {
    items = source
    label = (i) => `[${i}]`
  } else if (source !== null && typeof source === 'object') {
    const keys = Object.keys(source)
    if (destination === undefined) {
      if (keys.length !== 1) throw new InvalidOptionError('destination', `required when the match answer lists ${keys.length} destinations`)
      destination = keys[0]!
    }
    if (!Object.hasOwn(source, destination)) {
      throw new ConnectError('ERR_CONNECT_INTENTION_INVALID', `intentions match answer has no list for ${JSON.stringify(destination)} (it has ${keys.map((k) => JSON.stringify(k)).join(', ') || 'none'})`)
    }
    const list = (source as Record<string, unknown>)[destination] ?? []
    if (!Array.isArray(list)) throw new ConnectError('ERR_CONNECT_INTENTION_INVALID', `intentions match answer for ${JSON.stringify(destination)} is not a list`)
    items = list
    const d = destination
    label = (i) => `${d}[${i}]`
  } else {
    throw new ConnectError('ERR_CONNECT_INTENTION_INVALID', 'intentions must be a match answer object or a list')
  }
  const entries = items.map((item, i) => parseOne(item, i, label, destination))
  entries.sort((a, b) => compareIntentions(a.intention, b.intention))
  entries.forEach((e, position) => {
    // Equal keys compare as 0 and so sit side by side once sorted: a duplicate is next to its twin.
    if (position > 0 && compareIntentions(entries[position - 1]!.intention, e.intention) === 0) {
      throw new ConnectError('ERR_CONNECT_INTENTION_INVALID', `invalid intention ${intentionText(e.intention)}: defined more than once`)
    }
    e.position = position
  })
  return { destination, entries }
}

type RawIntention = z.infer<typeof intentionShape>
type Mutable<T> = { -readonly [K in keyof T]: T[K] }

function parseOne (item: unknown, index: number, label: (i: number) => string, destination: string | undefined): ParsedIntention {
  const shape = intentionShape.safeParse(item)
  if (!shape.success) {
    const issue = shape.error.issues[0]!
    throw new ConnectError('ERR_CONNECT_INTENTION_INVALID', `invalid intention ${label(index)}: ${issue.path.map(String).join('.') || 'value'}: ${issue.message}`, { cause: shape.error })
  }
  const raw = shape.data
  const sourceNS = raw.SourceNS || DEFAULT
  const destinationName = raw.DestinationName || destination || '?'
  const destinationNS = raw.DestinationNS || DEFAULT
  const action = raw.Action || undefined
  const permissionsInput = (raw.Permissions ?? []) as IntentionPermissionInput[]
  const problem = intentionProblem(raw, sourceNS, destinationName, destinationNS, action, permissionsInput.length > 0, destination)
  // The message is built only on failure (and for L7 ones): building one for each of 100,000 valid
  // intentions would cost more than validating them.
  const where = (): string => `invalid intention ${label(index)} (${sourceNS}/${raw.SourceName} => ${destinationNS}/${destinationName})`
  if (problem !== undefined) throw new ConnectError('ERR_CONNECT_INTENTION_INVALID', `${where()}: ${problem}`)
  const permissions = permissionsInput.length === 0 ? undefined : Object.freeze(permissionsInput.map((p, k) => new HttpPermission(p, k, where())))
  // Built field by field rather than with conditional spreads, which cost a temporary object each.
  const intention: Mutable<ResolvedIntention> = { SourceName: raw.SourceName, SourceNS: sourceNS, DestinationName: destinationName, DestinationNS: destinationNS, Precedence: 0 }
  if (raw.ID) intention.ID = raw.ID
  if (raw.Description) intention.Description = raw.Description
  if (raw.SourcePartition) intention.SourcePartition = raw.SourcePartition
  if (raw.SourcePeer) intention.SourcePeer = raw.SourcePeer
  if (raw.SourceSamenessGroup) intention.SourceSamenessGroup = raw.SourceSamenessGroup
  if (raw.DestinationPartition) intention.DestinationPartition = raw.DestinationPartition
  if (permissions === undefined) intention.Action = action as 'allow' | 'deny'
  else intention.Permissions = deepFreeze(permissionsInput.map(canonicalPermission))
  intention.Precedence = raw.Precedence ?? intentionPrecedence(intention)
  return { position: 0, intention: Object.freeze(intention), action: permissions === undefined ? action as 'allow' | 'deny' : undefined, permissions }
}

/** What is wrong with an intention (`Field problem`), or undefined. Consul's rules, plus what this library cannot do. */
function intentionProblem (raw: RawIntention, sourceNS: string, destinationName: string, destinationNS: string, action: string | undefined, l7: boolean, destination: string | undefined): string | undefined {
  if (raw.SourceName === '') return 'SourceName is required'
  const wildcards = wildcardProblem('Source', raw.SourceName, sourceNS) ?? wildcardProblem('Destination', destinationName, destinationNS)
  if (wildcards !== undefined) return wildcards
  for (const field of ['SourcePartition', 'SourcePeer', 'SourceSamenessGroup', 'DestinationPartition'] as const) {
    if (raw[field]?.includes(WILDCARD) === true) return `${field} cannot contain the wildcard "*", got ${JSON.stringify(raw[field])}`
  }
  // A match answer lists the intentions whose destination covers the one asked for; anything else is not ours.
  if (destination !== undefined && !destination.includes('/') && destinationName !== WILDCARD && destinationName !== destination) {
    return `DestinationName ${JSON.stringify(destinationName)} does not cover the destination ${JSON.stringify(destination)}`
  }
  if (raw.SourceType != null && raw.SourceType !== 'consul') return `SourceType must be "consul", got ${JSON.stringify(raw.SourceType)}`
  if (raw.JWT != null) return 'JWT is not supported: JWT requirements cannot be checked by this library'
  if (!l7) {
    if (action !== 'allow' && action !== 'deny') return `Action must be "allow" or "deny", got ${JSON.stringify(raw.Action)}`
  } else {
    if (action !== undefined) return `Action must be omitted when Permissions are given, got ${JSON.stringify(action)}`
    if (destinationName === WILDCARD || destinationNS === WILDCARD) return 'Permissions cannot be given for a wildcard destination'
  }
  return undefined
}

/** Consul's wildcard rules (validateIntentionWildcards): `*` whole or not at all; no exact name under a `*` namespace. */
function wildcardProblem (side: 'Source' | 'Destination', name: string, namespace: string): string | undefined {
  if (namespace !== WILDCARD && namespace.includes(WILDCARD)) return `${side}NS cannot use the wildcard "*" with a partial value, got ${JSON.stringify(namespace)}`
  if (name === WILDCARD) return undefined
  if (name.includes(WILDCARD)) return `${side}Name cannot use the wildcard "*" with a partial value, got ${JSON.stringify(name)}`
  if (namespace === WILDCARD) return `${side}Name cannot be exact (${JSON.stringify(name)}) under a wildcard namespace`
  return undefined
}

function textOf (entry: ParsedIntention): string {
  return entry.text ??= intentionText(entry.intention)
}

/** Consul's `Intention.String()` (agent/structs/intention.go). */
function intentionText (i: ResolvedIntention): string {
  const sourceCluster = i.SourceSamenessGroup !== undefined
    ? `sameness-group(${i.SourceSamenessGroup})/`
    : i.SourcePeer !== undefined ? `peer(${i.SourcePeer})/` : i.SourcePartition !== undefined ? `${i.SourcePartition}/` : ''
  const destinationPartition = i.DestinationPartition === undefined ? '' : `${i.DestinationPartition}/`
  const id = i.ID === undefined ? '' : `ID: ${i.ID}, `
  const detail = i.Permissions !== undefined ? `Permissions: ${i.Permissions.length}` : `Action: ${i.Action!.toUpperCase()}`
  return `${sourceCluster}${i.SourceNS}/${i.SourceName} => ${destinationPartition}${i.DestinationNS}/${i.DestinationName} (${id}Precedence: ${i.Precedence}, ${detail})`
}

/**
 * A permission as Consul stores it: only the fields that are set, methods upper-cased, no empty lists; so
 * raw and client-parsed answers give equal intentions. Called after validation.
 */
function canonicalPermission (p: IntentionPermissionInput): IntentionPermissionInput {
  const http = p.HTTP!
  const headers = (http.Header ?? []).map((h) => {
    const out: Record<string, unknown> = { Name: h.Name }
    for (const field of ['Present', 'Exact', 'Prefix', 'Suffix', 'Contains', 'Regex', 'IgnoreCase', 'Invert'] as const) {
      if (h[field] !== undefined && h[field] !== '' && h[field] !== false) out[field] = h[field]
    }
    return out
  })
  const methods = (http.Methods ?? []).map((m) => m.toUpperCase())
  return {
    Action: p.Action,
    HTTP: {
      ...(http.PathExact ? { PathExact: http.PathExact } : {}),
      ...(http.PathPrefix ? { PathPrefix: http.PathPrefix } : {}),
      ...(http.PathRegex ? { PathRegex: http.PathRegex } : {}),
      ...(headers.length > 0 ? { Header: headers } : {}),
      ...(methods.length > 0 ? { Methods: methods } : {})
    }
  }
}

function deepFreeze<T> (value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    for (const v of Object.values(value)) deepFreeze(v)
    Object.freeze(value)
  }
  return value
}
