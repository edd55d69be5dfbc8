/**
 * The TestAgent's intentions: `service-intentions` config entries (one per destination), the intentions
 * they expand to, and Consul's matching and decision rules over them.
 *
 * Semantics follow Consul's state store and agent (agent/structs/config_entry_intentions.go,
 * agent/consul/state/intention.go, agent/connect/authz.go):
 * - writing an entry validates and normalizes it (test-agent-intention-shapes.ts); an entry with L7
 *   permissions is then refused unless its destination's protocol is HTTP-like (test-agent-defaults.ts),
 *   as Consul's state store refuses it;
 * - an intention matches a destination when partitions are equal (empty means `default`) and namespace and
 *   name are equal or `*`; a source likewise, and its peer must be equal (none for local services);
 * - lists are in evaluation order ({@link compareIntentions}); the first intention matching both ends
 *   decides; one with `Permissions` counts as deny wherever no HTTP request is known (authorize, check).
 */
import { compareIntentions } from '../authz/precedence.js'
import type { DecodedEntry, DecodedExactBody } from './test-agent-intention-input.js'
import { validateEntry } from './test-agent-intention-input.js'
import type { IndexBoard } from './test-agent-index.js'
import { normalize, orDefault, partitionOf, toIntention, toSourceInput } from './test-agent-intention-shapes.js'
import type { Intention, StoredEntry } from './test-agent-intention-shapes.js'

/** A service named by partition (`''` = default), namespace and name; a source may also name a peer. */
export interface ServiceRef {
  readonly name: string
  readonly namespace?: string
  readonly partition?: string
  readonly peer?: string
}

const WILDCARD = '*'

/** A service by partition, namespace and name, as config entries name it (absent or empty means the default). */
export interface ServiceKey {
  readonly name: string
  readonly namespace?: string | undefined
  readonly partition?: string | undefined
}

/** Consul's refusal of L7 permissions on `destination` (its protocol is not HTTP-like), or `undefined`. */
export type L7Check = (destination: ServiceKey) => string | undefined

/** The agent's intentions. Every successful write bumps the `intentions` index (waking blocked queries). */
export class IntentionStore {
  readonly #board: IndexBoard
  readonly #l7Check: L7Check
  readonly #entries = new Map<string, StoredEntry>()

  constructor (board: IndexBoard, l7Check: L7Check) {
    this.#board = board
    this.#l7Check = l7Check
  }

  /**
   * Validates, normalizes and stores an entry (replacing the destination's). Returns Consul's error text on
   * failure: the entry's own validation first, then the protocol check of L7 permissions.
   */
  put (input: DecodedEntry): string | undefined {
    const problem = validateEntry(input) ?? this.#l7Problem(input)
    if (problem !== undefined) return problem
    const key = keyOf({ name: input.Name!, namespace: input.Namespace, partition: input.Partition })
    const index = this.#board.bump('intentions')
    this.#entries.set(key, normalize(input, this.#entries.get(key)?.createIndex ?? index, index))
    return undefined
  }

  /** Removes a destination's entry; false when there was none. */
  delete (destination: ServiceRef): boolean {
    if (!this.#entries.delete(keyOf(destination))) return false
    this.#board.bump('intentions')
    return true
  }

  get (destination: ServiceRef): StoredEntry | undefined {
    return this.#entries.get(keyOf(destination))
  }

  /** Every entry, sorted by partition, namespace and name (as Consul lists config entries). */
  entries (): StoredEntry[] {
    return [...this.#entries.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, e]) => e)
  }

  /**
   * Creates or replaces the one intention from `source` to `destination` (Consul's exact PUT). `Meta` is
   * refused unless it equals the existing entry's, as Consul refuses it. Returns Consul's error text on failure.
   */
  upsertExact (source: ServiceRef, destination: ServiceRef, body: DecodedExactBody): string | undefined {
    const existing = this.get(destination)
    if (body.Meta !== undefined && Object.keys(body.Meta).length > 0) {
      if (existing === undefined) return 'Meta must not be specified'
      if (!sameMap(existing.meta ?? {}, body.Meta)) return 'Meta must not be specified, or should be unchanged during an update.'
    }
    const newSource = {
      Name: source.name,
      Namespace: source.namespace,
      Partition: source.partition,
      Action: body.Action,
      Permissions: body.Permissions,
      Description: body.Description
    }
    const sources = existing === undefined ? [] : existing.sources.map(toSourceInput).filter((s) => !sameSource(s, newSource))
    return this.put({
      Kind: 'service-intentions',
      Name: destination.name,
      Namespace: destination.namespace,
      Partition: destination.partition,
      Sources: [...sources, newSource],
      Meta: existing?.meta
    })
  }

  /** Deletes the intention from `source` to `destination`; an entry left without sources is deleted. */
  deleteExact (source: ServiceRef, destination: ServiceRef): boolean {
    const existing = this.get(destination)
    const target = { Name: source.name, Namespace: source.namespace, Partition: source.partition, Peer: source.peer }
    const rest = existing?.sources.map(toSourceInput).filter((s) => !sameSource(s, target))
    if (existing === undefined || rest === undefined || rest.length === existing.sources.length) return false
    if (rest.length === 0) return this.delete(destination)
    this.put({ Kind: 'service-intentions', Name: existing.name, Namespace: existing.namespace, Partition: existing.partition, Sources: rest, Meta: existing.meta })
    return true
  }

  /** The intention with exactly these two ends (no wildcard resolution), or `undefined`. */
  exact (source: ServiceRef, destination: ServiceRef): Intention | undefined {
    const entry = this.get(destination)
    const target = { Name: source.name, Namespace: source.namespace, Partition: source.partition, Peer: source.peer }
    const found = entry?.sources.find((s) => sameSource(toSourceInput(s), target))
    return entry === undefined || found === undefined ? undefined : toIntention(entry, found)
  }

  /** Intentions whose destination covers `destination`, in evaluation order (`match?by=destination`). */
  matchDestination (destination: ServiceRef): Intention[] {
    return this.#all().filter((i) => coversDestination(i, destination)).sort(compareIntentions)
  }

  /** Intentions whose source covers the local service `source`, in evaluation order (`match?by=source`). */
  matchSource (source: ServiceRef): Intention[] {
    return this.#all().filter((i) => coversSource(i, source)).sort(compareIntentions)
  }

  /** The intention that decides a connection from `source` to `destination`, if any matches. */
  decide (source: ServiceRef, destination: ServiceRef): Intention | undefined {
    return this.matchDestination(destination).find((i) => coversSource(i, source))
  }

  /** Consul checks the protocol only of entries with permissions on a concrete destination. */
  #l7Problem (input: DecodedEntry): string | undefined {
    const l7 = (input.Sources ?? []).some((s) => (s.Permissions?.length ?? 0) > 0)
    if (!l7 || input.Name === WILDCARD || input.Namespace === WILDCARD) return undefined
    return this.#l7Check({ name: input.Name!, namespace: input.Namespace, partition: input.Partition })
  }

  #all (): Intention[] {
    return [...this.#entries.values()].flatMap((e) => e.sources.map((s) => toIntention(e, s)))
  }
}

/** Whether a matching intention allows a connection: L7 ones (with Permissions) count as deny. */
export function intentionAllows (intention: Intention): boolean {
  return (intention.Permissions?.length ?? 0) === 0 && intention.Action === 'allow'
}

/**
 * Parses an intention end as the agent's query parameters write it: `name`, `ns/name`, `ap/ns/name`, and,
 * where `allowPeer`, `peer:p/name` or `peer:p/ns/name`. Consul's error text when malformed.
 */
export function parseServiceRef (input: string, allowPeer: boolean): ServiceRef | string {
  if (input.startsWith('peer:') && !allowPeer) return 'cannot specify a peer here'
  const parts = input.split('/')
  const peer = parts[0]!.startsWith('peer:') ? parts[0]!.slice('peer:'.length) : undefined
  switch (parts.length) {
    case 1:
      return peer !== undefined ? 'need to specify the service name as well' : { name: parts[0]! }
    case 2:
      return peer !== undefined ? { peer, name: parts[1]! } : { namespace: parts[0]!, name: parts[1]! }
    case 3:
      return peer !== undefined
        ? { peer, namespace: parts[1]!, name: parts[2]! }
        : { partition: parts[0]!, namespace: parts[1]!, name: parts[2]! }
    default:
      return "input can contain at most two '/'"
  }
}

interface SourceIdentity { Name?: string | undefined, Namespace?: string | undefined, Partition?: string | undefined, Peer?: string | undefined }

function sameSource (a: SourceIdentity, b: SourceIdentity): boolean {
  return a.Name === b.Name && orDefault(a.Namespace) === orDefault(b.Namespace) &&
    partitionOf(a.Partition) === partitionOf(b.Partition) && (a.Peer ?? '') === (b.Peer ?? '')
}

function coversDestination (i: Intention, d: ServiceRef): boolean {
  return partitionOf(i.DestinationPartition) === partitionOf(d.partition) &&
    (i.DestinationNS === WILDCARD || i.DestinationNS === orDefault(d.namespace)) &&
    (i.DestinationName === WILDCARD || i.DestinationName === d.name)
}

function coversSource (i: Intention, s: ServiceRef): boolean {
  return (i.SourcePeer ?? '') === (s.peer ?? '') &&
    partitionOf(i.SourcePartition) === partitionOf(s.partition) &&
    (i.SourceNS === WILDCARD || i.SourceNS === orDefault(s.namespace)) &&
    (i.SourceName === WILDCARD || i.SourceName === s.name)
}

/** The map key of a service: partition, namespace and name, defaults applied. */
export function keyOf (ref: ServiceKey): string {
  return JSON.stringify([partitionOf(ref.partition), orDefault(ref.namespace), ref.name])
}

function sameMap (a: Readonly<Record<string, string>>, b: Readonly<Record<string, string>>): boolean {
  const keys = Object.keys(a)
  return keys.length === Object.keys(b).length && keys.every((k) => a[k] === b[k])
}
