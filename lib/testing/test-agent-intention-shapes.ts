/**
 * The shapes of the TestAgent's intentions: how a written `service-intentions` entry is normalized and
 * stored, and how stored entries are shown as Consul shows them (intentions, config entries, the
 * `Intention.String()` text of authorize reasons).
 *
 * Normalization follows Consul's `ServiceIntentionsConfigEntry.normalize`: a local source inherits the
 * destination's namespace (unless that is `*`) and partition; a peered source gets the default namespace
 * and no partition; each source gets its precedence; sources are stably sorted by precedence; HTTP methods
 * are upper-cased. Answers are shaped like a Community Edition agent's: `SourceNS`/`DestinationNS` always
 * present, partitions only when not the default one.
 */
import { intentionPrecedence } from '../authz/precedence.js'
import type { DecodedEntry, DecodedPermission, DecodedSource, IntentionPermission } from './test-agent-intention-input.js'

const DEFAULT = 'default'
const WILDCARD = '*'

/** An intention as the agent's HTTP API returns it (Go field order). */
export interface Intention {
  readonly Description?: string
  readonly SourceNS: string
  readonly SourceName: string
  readonly DestinationNS: string
  readonly DestinationName: string
  readonly SourcePartition?: string
  readonly DestinationPartition?: string
  readonly SourcePeer?: string
  readonly SourceSamenessGroup?: string
  readonly SourceType: 'consul'
  readonly Action?: 'allow' | 'deny'
  readonly Permissions?: readonly IntentionPermission[]
  readonly Meta?: Readonly<Record<string, string>>
  readonly Precedence: number
  readonly CreateIndex: number
  readonly ModifyIndex: number
}

/** One stored source of an entry (frozen). */
export interface StoredSource {
  readonly name: string
  readonly namespace: string
  readonly partition: string
  readonly peer: string
  readonly samenessGroup: string
  readonly action: 'allow' | 'deny' | undefined
  readonly permissions: readonly IntentionPermission[] | undefined
  readonly description: string | undefined
  readonly precedence: number
}

/** A stored `service-intentions` entry (frozen). */
export interface StoredEntry {
  readonly name: string
  readonly namespace: string
  readonly partition: string
  readonly sources: readonly StoredSource[]
  readonly meta: Readonly<Record<string, string>> | undefined
  readonly createIndex: number
  readonly modifyIndex: number
}

/** Consul's `Intention.String()`, as it appears in authorize reasons. */
export function describeIntention (i: Intention): string {
  const sourceCluster = i.SourceSamenessGroup !== undefined
    ? `sameness-group(${i.SourceSamenessGroup})/`
    : i.SourcePeer !== undefined ? `peer(${i.SourcePeer})/` : i.SourcePartition !== undefined ? `${i.SourcePartition}/` : ''
  const destinationPartition = i.DestinationPartition === undefined ? '' : `${i.DestinationPartition}/`
  const detail = (i.Permissions?.length ?? 0) > 0 ? `Permissions: ${i.Permissions!.length}` : `Action: ${(i.Action ?? '').toUpperCase()}`
  return `${sourceCluster}${i.SourceNS}/${i.SourceName} => ${destinationPartition}${i.DestinationNS}/${i.DestinationName} (Precedence: ${i.Precedence}, ${detail})`
}

/** The config entry as `GET /v1/config/service-intentions/<name>` returns it. */
export function entryJson (e: StoredEntry): Record<string, unknown> {
  return {
    Kind: 'service-intentions',
    Name: e.name,
    Sources: e.sources.map((s) => ({
      Name: s.name,
      ...(s.action === undefined ? {} : { Action: s.action }),
      ...(s.permissions === undefined ? {} : { Permissions: s.permissions }),
      Precedence: s.precedence,
      Type: 'consul',
      ...(s.description === undefined ? {} : { Description: s.description }),
      ...(s.namespace === DEFAULT ? {} : { Namespace: s.namespace }),
      ...(s.partition === '' ? {} : { Partition: s.partition }),
      ...(s.peer === '' ? {} : { Peer: s.peer }),
      ...(s.samenessGroup === '' ? {} : { SamenessGroup: s.samenessGroup })
    })),
    ...(e.meta === undefined ? {} : { Meta: e.meta }),
    ...(e.namespace === DEFAULT ? {} : { Namespace: e.namespace }),
    ...(e.partition === '' ? {} : { Partition: e.partition }),
    CreateIndex: e.createIndex,
    ModifyIndex: e.modifyIndex
  }
}

/** Normalizes a validated entry into its stored form, stamped with the given indexes. */
export function normalize (input: DecodedEntry, createIndex: number, modifyIndex: number): StoredEntry {
  const namespace = orDefault(input.Namespace)
  const partition = partitionOf(input.Partition)
  const sources = (input.Sources ?? []).map((src): StoredSource => {
    const remote = (src.Peer ?? '') !== '' || (src.SamenessGroup ?? '') !== ''
    // Consul's MergeNoWildcard: a local source inherits the destination's tenancy, never a wildcard one.
    const sourceNamespace = src.Namespace ?? (remote || namespace === WILDCARD ? DEFAULT : namespace)
    const sourcePartition = remote ? '' : partitionOf(src.Partition ?? partition)
    const permissions = src.Permissions?.map(toPermission)
    return Object.freeze({
      name: src.Name!,
      namespace: orDefault(sourceNamespace),
      partition: sourcePartition,
      peer: src.Peer ?? '',
      samenessGroup: src.SamenessGroup ?? '',
      action: permissions !== undefined && permissions.length > 0 ? undefined : src.Action as 'allow' | 'deny',
      permissions: permissions !== undefined && permissions.length > 0 ? Object.freeze(permissions) : undefined,
      description: src.Description === '' ? undefined : src.Description,
      precedence: intentionPrecedence({ SourceNS: orDefault(sourceNamespace), SourceName: src.Name!, DestinationNS: namespace, DestinationName: input.Name! })
    })
  })
  // Array#sort is stable: equal precedences keep their written order, as Consul's sort.SliceStable does.
  sources.sort((a, b) => b.precedence - a.precedence)
  return Object.freeze({
    name: input.Name!,
    namespace,
    partition,
    sources: Object.freeze(sources),
    meta: input.Meta === undefined || Object.keys(input.Meta).length === 0 ? undefined : Object.freeze({ ...input.Meta }),
    createIndex,
    modifyIndex
  })
}

/** A validated permission, frozen, without absent fields, methods upper-cased (Consul's normalization). */
function toPermission (p: DecodedPermission): IntentionPermission {
  const http = p.HTTP ?? {}
  const headers = http.Header?.map((h) => Object.freeze({ ...defined(h), Name: h.Name ?? '' }))
  return Object.freeze({
    Action: p.Action as 'allow' | 'deny',
    HTTP: Object.freeze(defined({
      PathExact: nonEmpty(http.PathExact),
      PathPrefix: nonEmpty(http.PathPrefix),
      PathRegex: nonEmpty(http.PathRegex),
      Header: headers === undefined || headers.length === 0 ? undefined : Object.freeze(headers),
      Methods: http.Methods === undefined || http.Methods.length === 0 ? undefined : Object.freeze(http.Methods.map((m) => m.toUpperCase()))
    }))
  })
}

/** `value` without its `undefined` properties (the JSON encoder drops them anyway; the types insist). */
function defined<T extends object> (value: T): { [K in keyof T]?: Exclude<T[K], undefined> } {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as { [K in keyof T]?: Exclude<T[K], undefined> }
}

function nonEmpty (value: string | undefined): string | undefined {
  return value === '' ? undefined : value
}

/** One source of an entry as the intention the API returns (Go field order). */
export function toIntention (e: StoredEntry, s: StoredSource): Intention {
  return Object.freeze({
    ...(s.description === undefined ? {} : { Description: s.description }),
    SourceNS: s.namespace,
    SourceName: s.name,
    DestinationNS: e.namespace,
    DestinationName: e.name,
    ...(s.partition === '' ? {} : { SourcePartition: s.partition }),
    ...(e.partition === '' ? {} : { DestinationPartition: e.partition }),
    ...(s.peer === '' ? {} : { SourcePeer: s.peer }),
    ...(s.samenessGroup === '' ? {} : { SourceSamenessGroup: s.samenessGroup }),
    SourceType: 'consul',
    ...(s.action === undefined ? {} : { Action: s.action }),
    ...(s.permissions === undefined ? {} : { Permissions: s.permissions }),
    ...(e.meta === undefined ? {} : { Meta: e.meta }),
    Precedence: s.precedence,
    CreateIndex: e.createIndex,
    ModifyIndex: e.modifyIndex
  })
}

/** A stored source back in input form (to rewrite an entry with one source changed). */
export function toSourceInput (s: StoredSource): DecodedSource {
  return {
    Name: s.name,
    Namespace: s.namespace,
    Partition: s.partition === '' ? undefined : s.partition,
    Peer: s.peer === '' ? undefined : s.peer,
    SamenessGroup: s.samenessGroup === '' ? undefined : s.samenessGroup,
    Action: s.action,
    Permissions: s.permissions?.map((p) => ({ Action: p.Action, HTTP: { ...p.HTTP, Header: p.HTTP.Header?.map((h) => ({ ...h })), Methods: p.HTTP.Methods?.slice() } })),
    Description: s.description,
    Type: 'consul'
  }
}

/** A namespace, `default` when absent or empty. */
export function orDefault (namespace: string | undefined): string {
  return namespace === undefined || namespace === '' ? DEFAULT : namespace
}

/** Partitions are stored as `''` for the default one, as a Community Edition agent reports them. */
export function partitionOf (partition: string | undefined): string {
  return partition === undefined || partition === DEFAULT ? '' : partition
}
