/**
 * The input of `Intentions` (intentions.ts): what its constructor accepts, and its validation and
 * normalisation into resolved intentions in evaluation order. Consul's rules, with errors naming the intention and
 * the field (ERR_CONNECT_INTENTION_INVALID); also Consul's `Intention.String()`, which errors and decision
 * reasons both show. Pure: no state, no I/O.
 */
import { z } from 'zod'
import { ConnectError, InvalidOptionError } from '../errors.js'
import { HttpPermission } from './l7.js'
import type { IntentionPermissionInput } from './l7.js'
import { WILDCARD, compareIntentions, intentionPrecedence } from './precedence.js'

const DEFAULT = 'default'

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

export interface ParsedIntention {
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
export function parseIntentions (source: IntentionsMatchAnswer | readonly IntentionInput[], destinationOption: string | undefined): { destination: string | undefined, entries: ParsedIntention[] } {
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

export function textOf (entry: ParsedIntention): string {
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
