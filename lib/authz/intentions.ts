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
 * Building validates every intention (intentions-input.ts, and l7.ts for permissions) and throws ConnectError
 * `ERR_CONNECT_INTENTION_INVALID` naming the intention and the field; nothing is partly built. The index
 * is keyed by (peer, partition, namespace, name) with one slot each for exact names, `*` names and `*`
 * namespaces, so {@link Intentions.decide} does a few map lookups whatever the number of intentions.
 * Decisions are frozen objects created once per intention (lazily) and reused: deciding allocates nothing.
 *
 * The input it accepts (IntentionInput, a match answer) and its validation are in intentions-input.ts; this
 * module re-exports the public types from there.
 */
import { ConnectError, InvalidOptionError } from '../errors.js'
import type { SpiffeId } from '../spiffe-id.js'
import type { Decision, HttpRequestInfo } from './authorizer.js'
import { parseIntentions, textOf } from './intentions-input.js'
import type { IntentionInput, IntentionsMatchAnswer, ParsedIntention, ResolvedIntention } from './intentions-input.js'
import { firstMatchingPermission } from './l7.js'
import { WILDCARD } from './precedence.js'

export type { IntentionInput, IntentionsMatchAnswer, ResolvedIntention } from './intentions-input.js'

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
