/**
 * Intention precedence and evaluation order, exactly as Consul computes them.
 *
 * Consul gives every intention a `Precedence` from 1 to 9 by how many of its four name fields are exact
 * (not the wildcard `*`), the destination weighing more than the source:
 *
 * | prec | src ns | src name | dst ns | dst name |
 * |---|---|---|---|---|
 * | 9 | exact | exact | exact | exact |
 * | 8 | exact | *     | exact | exact |
 * | 7 | *     | *     | exact | exact |
 * | 6 | exact | exact | exact | *     |
 * | 5 | exact | *     | exact | *     |
 * | 4 | *     | *     | exact | *     |
 * | 3 | exact | exact | *     | *     |
 * | 2 | exact | *     | *     | *     |
 * | 1 | *     | *     | *     | *     |
 *
 * Checked against Consul's `computeIntentionPrecedence` (agent/structs/config_entry_intentions.go) and
 * `IntentionPrecedenceSorter` (agent/structs/intention.go):
 * - a namespace that is absent or empty counts as `default`, an exact value (Consul normalizes namespaces
 *   before computing);
 * - a wildcard namespace makes the pair count as fully wildcarded (`*` / `name` is invalid in Consul; it is
 *   scored as `* / *` here rather than rejected, since this module only orders);
 * - partitions, peers and sameness groups never change the number (they cannot be wildcards);
 * - intentions evaluate in descending precedence; ties break on the lexicographic order of
 *   (source sameness group, source peer, source partition, source namespace, source name, destination
 *   partition, destination namespace, destination name), compared as Go compares strings (by UTF-8 bytes,
 *   which is code-point order), absent values sorting as empty strings, except namespaces (`default`).
 *
 * Pure: no I/O, no state. The authorization code and the TestAgent share it.
 */

/** The wildcard Consul uses in intention names and namespaces. */
export const WILDCARD = '*'

/** The fields of an intention (Consul's JSON names) that precedence and ordering depend on. */
export interface IntentionKey {
  readonly SourceName: string
  readonly DestinationName: string
  readonly SourceNS?: string | undefined
  readonly DestinationNS?: string | undefined
  readonly SourcePartition?: string | undefined
  readonly DestinationPartition?: string | undefined
  readonly SourcePeer?: string | undefined
  readonly SourceSamenessGroup?: string | undefined
}

/** An intention as ordered by {@link compareIntentions}: `Precedence`, when present, is used as given. */
export interface OrderedIntention extends IntentionKey {
  readonly Precedence?: number | undefined
}

/** Consul's precedence (1–9) of an intention; see the module comment for the table and the rules. */
export function intentionPrecedence (intention: IntentionKey): number {
  // The destination sets the band (9, 6 or 3); each missing exact source field steps down by one.
  const bandTop = [3, 6, 9][countExact(intention.DestinationNS, intention.DestinationName)]!
  return bandTop - (2 - countExact(intention.SourceNS, intention.SourceName))
}

/**
 * Orders two intentions as Consul evaluates them: negative when `a` comes first. Uses each one's
 * `Precedence` when it is a finite number (as Consul sorts its stored, precomputed values) and computes it
 * with {@link intentionPrecedence} otherwise. A total order: usable directly with `Array#sort`.
 */
export function compareIntentions (a: OrderedIntention, b: OrderedIntention): number {
  const byPrecedence = precedenceOf(b) - precedenceOf(a)
  if (byPrecedence !== 0) return byPrecedence
  return compareStrings(a.SourceSamenessGroup ?? '', b.SourceSamenessGroup ?? '') ||
    compareStrings(a.SourcePeer ?? '', b.SourcePeer ?? '') ||
    compareStrings(a.SourcePartition ?? '', b.SourcePartition ?? '') ||
    compareStrings(namespaceOrDefault(a.SourceNS), namespaceOrDefault(b.SourceNS)) ||
    compareStrings(a.SourceName, b.SourceName) ||
    compareStrings(a.DestinationPartition ?? '', b.DestinationPartition ?? '') ||
    compareStrings(namespaceOrDefault(a.DestinationNS), namespaceOrDefault(b.DestinationNS)) ||
    compareStrings(a.DestinationName, b.DestinationName)
}

/** A new array of `intentions` in Consul's evaluation order (highest precedence first). Stable. */
export function sortIntentions<T extends OrderedIntention> (intentions: readonly T[]): T[] {
  return [...intentions].sort(compareIntentions)
}

function precedenceOf (intention: OrderedIntention): number {
  const given = intention.Precedence
  return typeof given === 'number' && Number.isFinite(given) ? given : intentionPrecedence(intention)
}

/** 0, 1 or 2 exact values in a (namespace, name) pair; a wildcard namespace can only precede a wildcard name. */
function countExact (namespace: string | undefined, name: string): number {
  if (namespaceOrDefault(namespace) === WILDCARD) return 0
  return name === WILDCARD ? 1 : 2
}

function namespaceOrDefault (namespace: string | undefined): string {
  return namespace === undefined || namespace === '' ? 'default' : namespace
}

/**
 * Go's string order: byte-wise over UTF-8, which equals code-point order. JavaScript's `<` compares UTF-16
 * code units and disagrees for characters above U+FFFF against U+E000–U+FFFF, so compare by code point.
 */
function compareStrings (a: string, b: string): number {
  if (a === b) return 0
  let i = 0
  let j = 0
  while (i < a.length && j < b.length) {
    const x = a.codePointAt(i)!
    const y = b.codePointAt(j)!
    if (x !== y) return x < y ? -1 : 1
    i += x > 0xffff ? 2 : 1
    j += y > 0xffff ? 2 : 1
  }
  // One string is a prefix of the other (they differ, so exactly one has characters left).
  return i < a.length ? 1 : -1
}
