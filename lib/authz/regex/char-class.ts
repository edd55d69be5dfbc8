/**
 * Sets of code points for the RE2 matcher: sorted inclusive ranges, RE2's Perl and POSIX classes, and
 * case folding.
 *
 * A set is a flat array of inclusive `[lo, hi]` pairs, sorted, non-overlapping and non-adjacent (what
 * {@link normalizeRanges} returns). RE2's Perl classes (`\d \s \w`) and POSIX classes (`[[:alpha:]]`) are
 * ASCII-only, as in RE2; `\s` is `[\t\n\f\r ]` (no `\v`).
 *
 * Case folding follows RE2's idea of simple case-folding orbits (`k`, `K` and the Kelvin sign U+212A are
 * one orbit). The orbits are derived once, lazily, from JavaScript's single-character `toLowerCase` /
 * `toUpperCase` mappings (multi-character results such as `ß` → `SS` are ignored, as simple folding does,
 * and the Turkic dotted/dotless i are left alone); this agrees with Unicode's CaseFolding.txt C+S mappings,
 * which RE2's tables come from, for the scripts people write in intentions. Building the table takes
 * tens of milliseconds, once, and only when a pattern uses `(?i)`.
 */

export const MAX_RUNE = 0x10ffff

/** Sorts and merges `[lo, hi]` pairs (flat) into a normalized set. Does not modify `pairs`. */
export function normalizeRanges (pairs: readonly number[]): number[] {
  const n = pairs.length >> 1
  const order = Array.from({ length: n }, (_, k) => k).sort((x, y) => pairs[2 * x]! - pairs[2 * y]!)
  const out: number[] = []
  for (const k of order) {
    const lo = pairs[2 * k]!
    const hi = pairs[2 * k + 1]!
    const last = out.length - 1
    // Merge overlapping and adjacent ranges ([a-c][d-f] is [a-f]).
    if (last > 0 && lo <= out[last]! + 1) {
      if (hi > out[last]!) out[last] = hi
    } else {
      out.push(lo, hi)
    }
  }
  return out
}

/** The complement of a normalized set within 0..U+10FFFF. */
export function negateRanges (set: readonly number[]): number[] {
  const out: number[] = []
  let next = 0
  for (let k = 0; k < set.length; k += 2) {
    if (set[k]! > next) out.push(next, set[k]! - 1)
    next = set[k + 1]! + 1
  }
  if (next <= MAX_RUNE) out.push(next, MAX_RUNE)
  return out
}

/** Whether `cp` is in a normalized set: a linear scan for small sets, a binary search for large ones. */
export function inRanges (set: Int32Array, cp: number): boolean {
  const n = set.length
  if (n <= 16) {
    for (let k = 0; k < n; k += 2) {
      if (cp < set[k]!) return false
      if (cp <= set[k + 1]!) return true
    }
    return false
  }
  let lo = 0
  let hi = (n >> 1) - 1
  while (lo <= hi) {
    const mid = (lo + hi) >> 1
    if (cp < set[2 * mid]!) hi = mid - 1
    else if (cp > set[2 * mid + 1]!) lo = mid + 1
    else return true
  }
  return false
}

const ch = (c: string): number => c.codePointAt(0)!

/** RE2's Perl classes (ASCII). */
export const PERL_CLASSES: Readonly<Record<'d' | 's' | 'w', readonly number[]>> = Object.freeze({
  d: Object.freeze([ch('0'), ch('9')]),
  s: Object.freeze([0x09, 0x0a, 0x0c, 0x0d, 0x20, 0x20]),
  w: Object.freeze([ch('0'), ch('9'), ch('A'), ch('Z'), ch('_'), ch('_'), ch('a'), ch('z')])
})

/** RE2's POSIX classes (ASCII), by name. */
export const POSIX_CLASSES: ReadonlyMap<string, readonly number[]> = new Map<string, readonly number[]>([
  ['alnum', [0x30, 0x39, 0x41, 0x5a, 0x61, 0x7a]],
  ['alpha', [0x41, 0x5a, 0x61, 0x7a]],
  ['ascii', [0x00, 0x7f]],
  ['blank', [0x09, 0x09, 0x20, 0x20]],
  ['cntrl', [0x00, 0x1f, 0x7f, 0x7f]],
  ['digit', [0x30, 0x39]],
  ['graph', [0x21, 0x7e]],
  ['lower', [0x61, 0x7a]],
  ['print', [0x20, 0x7e]],
  ['punct', [0x21, 0x2f, 0x3a, 0x40, 0x5b, 0x60, 0x7b, 0x7e]],
  ['space', [0x09, 0x0d, 0x20, 0x20]],
  ['upper', [0x41, 0x5a]],
  ['word', [0x30, 0x39, 0x41, 0x5a, 0x5f, 0x5f, 0x61, 0x7a]],
  ['xdigit', [0x30, 0x39, 0x41, 0x46, 0x61, 0x66]]
])

/** Whether `cp` is an RE2 word character (`\w`, ASCII), for `\b` and `\B`. */
export function isWordChar (cp: number): boolean {
  return (cp >= 0x30 && cp <= 0x39) || (cp >= 0x41 && cp <= 0x5a) || (cp >= 0x61 && cp <= 0x7a) || cp === 0x5f
}

// ------------------------------------------------------------------------------------------ case folding

interface FoldTable {
  /** Every code point that has another member in its orbit, sorted. */
  readonly foldable: Int32Array
  /** Code point → its whole orbit (itself included), sorted. */
  readonly orbits: ReadonlyMap<number, readonly number[]>
}

let foldTable: FoldTable | undefined

/** Highest code point with a case mapping in current Unicode (Adlam ends at U+1E943). */
const FOLD_LIMIT = 0x1e943

function buildFoldTable (): FoldTable {
  const parent = new Map<number, number>()
  const find = (x: number): number => {
    let r = x
    while (parent.has(r) && parent.get(r) !== r) r = parent.get(r)!
    parent.set(x, r)
    return r
  }
  const union = (x: number, y: number): void => {
    const rx = find(x)
    const ry = find(y)
    if (rx !== ry) parent.set(Math.max(rx, ry), Math.min(rx, ry))
  }
  for (let cp = 0; cp <= FOLD_LIMIT; cp++) {
    // Surrogates are not characters; the dotted/dotless Turkic i (U+0130, U+0131) have only Turkic ('T')
    // or full ('F') foldings in CaseFolding.txt, so simple folding leaves each alone, as RE2 does.
    if ((cp >= 0xd800 && cp <= 0xdfff) || cp === 0x130 || cp === 0x131) continue
    const s = String.fromCodePoint(cp)
    for (const mapped of [s.toLowerCase(), s.toUpperCase()]) {
      if (mapped === s) continue
      const m = mapped.codePointAt(0)!
      // Simple folding only: a mapping to more than one code point (ß → SS) is not an orbit member.
      if (mapped.length === (m > 0xffff ? 2 : 1)) union(cp, m)
    }
  }
  const groups = new Map<number, number[]>()
  for (const cp of parent.keys()) {
    const root = find(cp)
    let group = groups.get(root)
    if (group === undefined) groups.set(root, group = [])
    group.push(cp)
  }
  const orbits = new Map<number, readonly number[]>()
  for (const group of groups.values()) {
    if (group.length < 2) continue
    const sorted = Object.freeze(group.sort((a, b) => a - b))
    for (const cp of sorted) orbits.set(cp, sorted)
  }
  const foldable = Int32Array.from([...orbits.keys()].sort((a, b) => a - b))
  return { foldable, orbits }
}

/** The case-folding orbit of `cp` (itself included, sorted); `[cp]` when it has no other case. */
export function foldOrbit (cp: number): readonly number[] {
  foldTable ??= buildFoldTable()
  return foldTable.orbits.get(cp) ?? [cp]
}

/** A normalized set plus every case-folding orbit member of its code points. */
export function foldRanges (set: readonly number[]): number[] {
  foldTable ??= buildFoldTable()
  const { foldable, orbits } = foldTable
  const extra: number[] = [...set]
  for (let k = 0; k < set.length; k += 2) {
    // Only code points with other cases matter: find the first foldable one in range, walk to the range's end.
    let i = lowerBound(foldable, set[k]!)
    for (; i < foldable.length && foldable[i]! <= set[k + 1]!; i++) {
      for (const member of orbits.get(foldable[i]!)!) extra.push(member, member)
    }
  }
  return normalizeRanges(extra)
}

function lowerBound (sorted: Int32Array, value: number): number {
  let lo = 0
  let hi = sorted.length
  while (lo < hi) {
    const mid = (lo + hi) >> 1
    if (sorted[mid]! < value) lo = mid + 1
    else hi = mid
  }
  return lo
}
