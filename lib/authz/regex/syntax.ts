/**
 * The RE2 syntax parser: pattern text → a small tree that only keeps what deciding a full match needs.
 *
 * Syntax is RE2's with the options Envoy uses for `safe_regex` (`RE2::Options` defaults: Perl classes, `\b`,
 * non-greedy operators, `(?flags)`, UTF-8), checked against RE2's re2/parse.cc:
 * - literals, `.`, `[...]` classes with ranges, negation, escapes, `\d \s \w \D \S \W` and `[[:alpha:]]`
 *   (`[[:^alpha:]]`), anchors `^ $ \A \z`, word boundaries `\b \B`, groups `(...)`, `(?:...)`,
 *   `(?P<name>...)`, `(?<name>...)`, flags `(?imsU)`, `(?i:...)`, `(?-i)`, alternation, `\Q...\E`;
 * - repetition `* + ? {n} {n,} {n,m}` (each optionally non-greedy with `?`); RE2 caps counts at 1000,
 *   rejects stacked operators (`a**`, `a{2}*`) and nested counted repetition whose product exceeds 1000
 *   (RE2's RepetitionWalker rule); a `{` that does not start a valid count is a literal;
 * - escapes: `\a \f \t \n \r \v`, octal `\0`, `\12`, `\123`, hex `\x41`, `\x{10FFFF}`, and any ASCII
 *   punctuation (`\.`, `\_`); a single digit `\1`–`\9` (a backreference) is an error, as in RE2.
 * Greediness and captures do not change whether a full match exists, so both are parsed and dropped.
 *
 * Rejected, each with a message naming the problem and its offset: lookaround `(?=` `(?!` `(?<=` `(?<!` and
 * backreferences (RE2 rejects them too), `\Z`, `\C` (any byte), and Unicode classes `\p{...}` / `\P{...}`,
 * which RE2 accepts but this implementation does not (an intention using one is refused, never mis-matched).
 */
import { ConnectError } from '../../errors.js'
import { MAX_RUNE, PERL_CLASSES, POSIX_CLASSES, foldOrbit, foldRanges, negateRanges, normalizeRanges } from './char-class.js'

/** RE2's limit on a repetition count and on the product of nested counted repetitions. */
export const MAX_REPEAT = 1000
/** RE2's limit on nesting depth. */
const MAX_DEPTH = 1000

export type Assertion = 'begin-text' | 'end-text' | 'begin-line' | 'end-line' | 'word-boundary' | 'not-word-boundary'

/** A parsed pattern. `char` matches one code point of `set` (normalized ranges); `literal` marks a plain one. */
export type RegexNode =
  | { readonly type: 'empty' }
  | { readonly type: 'char', readonly set: readonly number[], readonly literal: boolean }
  | { readonly type: 'assert', readonly assertion: Assertion }
  | { readonly type: 'concat', readonly items: readonly RegexNode[] }
  | { readonly type: 'alternate', readonly items: readonly RegexNode[] }
  | { readonly type: 'repeat', readonly item: RegexNode, readonly min: number, readonly max: number, readonly counted: boolean }

/** A pattern that is not valid RE2 syntax, or uses syntax this implementation does not support. */
export class Re2SyntaxError extends ConnectError {
  readonly pattern: string
  /** Offset (UTF-16 code units) where the problem starts. */
  readonly offset: number
  readonly phrase: string

  constructor (pattern: string, offset: number, phrase: string) {
    super('ERR_CONNECT_INTENTION_INVALID', `invalid regular expression ${JSON.stringify(pattern)}: ${phrase} (at offset ${offset})`)
    this.name = 'Re2SyntaxError'
    this.pattern = pattern
    this.offset = offset
    this.phrase = phrase
  }
}

interface Flags { fold: boolean, multiline: boolean, dotNl: boolean }

const EMPTY: RegexNode = Object.freeze({ type: 'empty' })

/** Parses an RE2 pattern; throws {@link Re2SyntaxError}. */
export function parseRe2 (pattern: string): RegexNode {
  const node = new Parser(pattern).parse()
  if (repetitionBudget(node, MAX_REPEAT) === 0) throw new Re2SyntaxError(pattern, 0, 'bad repetition operator: nested repetition counts exceed 1000')
  return node
}

/** RE2's RepetitionWalker: divides the budget by each counted repetition on the way down; 0 means too large. */
function repetitionBudget (node: RegexNode, budget: number): number {
  switch (node.type) {
    case 'repeat': {
      const count = node.max === -1 ? node.min : node.max
      const inner = node.counted && count > 0 ? Math.floor(budget / count) : budget
      return repetitionBudget(node.item, inner)
    }
    case 'concat':
    case 'alternate':
      return node.items.reduce((min, item) => Math.min(min, repetitionBudget(item, budget)), budget)
    default:
      return budget
  }
}

const code = (c: string): number => c.charCodeAt(0)
const BACKSLASH = code('\\')

class Parser {
  readonly #src: string
  #i = 0
  #flags: Flags = { fold: false, multiline: false, dotNl: false }
  #depth = 0
  readonly #names = new Set<string>()

  constructor (src: string) {
    this.#src = src
  }

  parse (): RegexNode {
    const node = this.#alternation()
    if (this.#i < this.#src.length) this.#fail(this.#i, 'unexpected )') // #alternation stops only at ')' or the end
    return node
  }

  #fail (offset: number, phrase: string): never {
    throw new Re2SyntaxError(this.#src, offset, phrase)
  }

  #peek (ahead = 0): number {
    return this.#src.charCodeAt(this.#i + ahead) // NaN past the end
  }

  #nextCodePoint (): number {
    const cp = this.#src.codePointAt(this.#i)!
    this.#i += cp > 0xffff ? 2 : 1
    return cp
  }

  #alternation (): RegexNode {
    const items = [this.#concatenation()]
    while (this.#peek() === code('|')) {
      this.#i++
      items.push(this.#concatenation())
    }
    return items.length === 1 ? items[0]! : { type: 'alternate', items }
  }

  #concatenation (): RegexNode {
    const items: RegexNode[] = []
    while (this.#i < this.#src.length) {
      const c = this.#peek()
      if (c === code('|') || c === code(')')) break
      const atom = this.#atom()
      if (atom === undefined) {
        // A flags-only group like (?i) changes the flags and matches nothing; it cannot be repeated.
        if (this.#repetitionAhead()) this.#fail(this.#i, 'missing argument to repetition operator')
        continue
      }
      items.push(this.#repetitions(atom))
    }
    if (items.length === 0) return EMPTY
    return items.length === 1 ? items[0]! : { type: 'concat', items }
  }

  /** Applies the repetition operators after an atom; a second operator in a row is an error (RE2, Perl). */
  #repetitions (atom: RegexNode): RegexNode {
    let node = atom
    let repeated = false
    while (true) {
      const opStart = this.#i
      const c = this.#peek()
      let min: number
      let max: number
      let counted = false
      if (c === code('*')) [min, max] = [0, -1]
      else if (c === code('+')) [min, max] = [1, -1]
      else if (c === code('?')) [min, max] = [0, 1]
      else if (c === code('{')) {
        const count = this.#count()
        if (count === undefined) break // not a repetition: '{' is a literal, parsed as the next atom
        ;[min, max] = count
        counted = true
      } else break
      if (!counted) this.#i++
      if (this.#peek() === code('?')) this.#i++ // non-greedy: same language, so same full-match answer
      if (repeated) this.#fail(opStart, `bad repetition operator: ${this.#src.slice(opStart, this.#i)}`)
      if (counted && (min > MAX_REPEAT || max > MAX_REPEAT || (max !== -1 && min > max))) {
        this.#fail(opStart, `bad repetition operator: ${this.#src.slice(opStart, this.#i)} (counts are limited to ${MAX_REPEAT})`)
      }
      repeated = true
      node = { type: 'repeat', item: node, min, max, counted }
    }
    return node
  }

  /** Whether a repetition operator (or a valid `{n,m}`) starts here. */
  #repetitionAhead (): boolean {
    const c = this.#peek()
    if (c === code('*') || c === code('+') || c === code('?')) return true
    if (c !== code('{')) return false
    const save = this.#i
    const count = this.#count()
    this.#i = save
    return count !== undefined
  }

  /** Parses `{n}`, `{n,}` or `{n,m}` (RE2's MaybeParseRepetition: no leading zeros, no `{,m}`); restores on failure. */
  #count (): [number, number] | undefined {
    const save = this.#i
    this.#i++ // '{'
    const min = this.#integer()
    let max = min
    if (min !== undefined && this.#peek() === code(',')) {
      this.#i++
      max = this.#peek() === code('}') ? -1 : this.#integer()
    }
    if (min === undefined || max === undefined || this.#peek() !== code('}')) {
      this.#i = save
      return undefined
    }
    this.#i++ // '}'
    return [min, max]
  }

  /** RE2's ParseInteger: decimal, no leading zeros, and under 10^9 (larger is not a count, so a literal). */
  #integer (): number | undefined {
    const start = this.#i
    let value = 0
    while (this.#peek() >= code('0') && this.#peek() <= code('9')) {
      if (value >= 100_000_000) return undefined
      value = value * 10 + this.#src.charCodeAt(this.#i++) - code('0')
    }
    const length = this.#i - start
    if (length === 0 || (length > 1 && this.#src.charCodeAt(start) === code('0'))) return undefined
    return value
  }

  /** One atom, or `undefined` for a flags-only group. */
  #atom (): RegexNode | undefined {
    const start = this.#i
    const c = this.#peek()
    switch (c) {
      case code('('): return this.#group()
      case code('['): return this.#charClass()
      case code('.'):
        this.#i++
        return { type: 'char', set: this.#flags.dotNl ? [0, MAX_RUNE] : [0, 9, 11, MAX_RUNE], literal: false }
      case code('^'):
        this.#i++
        return { type: 'assert', assertion: this.#flags.multiline ? 'begin-line' : 'begin-text' }
      case code('$'):
        this.#i++
        return { type: 'assert', assertion: this.#flags.multiline ? 'end-line' : 'end-text' }
      case code('*'): case code('+'): case code('?'):
        return this.#fail(start, `missing argument to repetition operator: ${this.#src[start]}`)
      case code('{'):
        if (this.#repetitionAhead()) this.#fail(start, 'missing argument to repetition operator')
        this.#i++
        return this.#literal(c)
      case BACKSLASH: return this.#escapeAtom()
      default: return this.#literal(this.#nextCodePoint())
    }
  }

  #literal (cp: number): RegexNode {
    if (this.#flags.fold) {
      const orbit = foldOrbit(cp)
      if (orbit.length > 1) return { type: 'char', set: normalizeRanges(orbit.flatMap((m) => [m, m])), literal: false }
    }
    return { type: 'char', set: [cp, cp], literal: true }
  }

  #group (): RegexNode | undefined {
    const open = this.#i
    if (++this.#depth > MAX_DEPTH) this.#fail(open, 'expression nests too deeply')
    const saved = this.#flags
    this.#i++ // '('
    if (this.#peek() === code('?')) {
      this.#i++
      const named = this.#src.startsWith('P<', this.#i) ? 2 : this.#src.startsWith('<', this.#i) && !/^<[=!]/.test(this.#src.slice(this.#i, this.#i + 2)) ? 1 : 0
      if (named > 0) {
        this.#i += named
        const end = this.#src.indexOf('>', this.#i)
        const name = end === -1 ? '' : this.#src.slice(this.#i, end)
        if (end === -1 || !/^[A-Za-z0-9_]+$/.test(name)) this.#fail(open, 'invalid named capture group')
        if (this.#names.has(name)) this.#fail(open, `duplicate capture group name ${JSON.stringify(name)}`)
        this.#names.add(name)
        this.#i = end + 1
      } else if (/^(?:=|!|<=|<!)/.test(this.#src.slice(this.#i, this.#i + 2))) {
        this.#fail(open, 'lookaround assertions are not supported (RE2 rejects them too)')
      } else if (this.#src.startsWith('P', this.#i)) {
        this.#fail(open, 'invalid named capture group (named backreferences are not supported, in RE2 either)')
      } else if (this.#perlFlags(open) === 'close') {
        // (?flags) sets flags until the end of the enclosing group; it is not a group of its own.
        this.#depth--
        return undefined
      }
    }
    const node = this.#alternation()
    if (this.#peek() !== code(')')) this.#fail(open, 'missing closing )')
    this.#i++
    this.#flags = saved
    this.#depth--
    return node
  }

  /** Parses the flags of `(?flags)` or `(?flags:`; returns how the group continues. */
  #perlFlags (open: number): 'close' | 'group' {
    const flags = { ...this.#flags }
    let negated = false
    let sawFlag = false
    while (true) {
      const c = this.#src[this.#i++]
      switch (c) {
        case 'i': flags.fold = !negated; sawFlag = true; break
        case 'm': flags.multiline = !negated; sawFlag = true; break
        case 's': flags.dotNl = !negated; sawFlag = true; break
        case 'U': sawFlag = true; break // ungreedy swap: no effect on whether a full match exists
        case '-':
          if (negated) this.#fail(open, `invalid or unsupported Perl syntax: ${this.#src.slice(open, this.#i)}`)
          negated = true
          sawFlag = false
          break
        case ':':
        case ')':
          if (negated && !sawFlag) this.#fail(open, `invalid or unsupported Perl syntax: ${this.#src.slice(open, this.#i)}`)
          this.#flags = flags
          return c === ')' ? 'close' : 'group'
        default:
          this.#fail(open, `invalid or unsupported Perl syntax: ${this.#src.slice(open, Math.min(this.#i, this.#src.length))}`)
      }
    }
  }

  #escapeAtom (): RegexNode {
    const start = this.#i
    const c = this.#src[this.#i + 1]
    switch (c) {
      case 'A': this.#i += 2; return { type: 'assert', assertion: 'begin-text' }
      case 'z': this.#i += 2; return { type: 'assert', assertion: 'end-text' }
      case 'b': this.#i += 2; return { type: 'assert', assertion: 'word-boundary' }
      case 'B': this.#i += 2; return { type: 'assert', assertion: 'not-word-boundary' }
      case 'C': return this.#fail(start, '\\C (any byte) is not supported')
      case 'Z': return this.#fail(start, 'invalid escape sequence: \\Z (RE2 has no \\Z; use \\z)')
      case 'Q': {
        this.#i += 2
        const end = this.#src.indexOf('\\E', this.#i)
        const text = this.#src.slice(this.#i, end === -1 ? undefined : end)
        this.#i = end === -1 ? this.#src.length : end + 2
        const items = Array.from(text, (ch) => this.#literal(ch.codePointAt(0)!))
        return items.length === 0 ? EMPTY : items.length === 1 ? items[0]! : { type: 'concat', items }
      }
    }
    const perl = this.#perlClass()
    if (perl !== undefined) return { type: 'char', set: perl, literal: false }
    return this.#literal(this.#escapedCodePoint())
  }

  /** `\d \s \w \D \S \W` at the current position (folded when the fold flag is on), or undefined. */
  #perlClass (): number[] | undefined {
    const c = this.#src[this.#i + 1]
    const lower = c?.toLowerCase()
    if (lower !== 'd' && lower !== 's' && lower !== 'w') return undefined
    this.#i += 2
    const base = this.#flags.fold ? foldRanges(PERL_CLASSES[lower]) : [...PERL_CLASSES[lower]]
    return c === lower ? base : negateRanges(base)
  }

  /** A single-character escape (RE2's ParseEscape); the position is at the backslash. */
  #escapedCodePoint (): number {
    const start = this.#i
    if (this.#i + 1 >= this.#src.length) this.#fail(start, 'trailing \\')
    this.#i++
    const c = this.#nextCodePoint()
    const bad = (): never => this.#fail(start, `invalid escape sequence: ${this.#src.slice(start, this.#i)}`)
    const isOctal = (x: number): boolean => x >= code('0') && x <= code('7')
    if (c >= code('1') && c <= code('9') && !(isOctal(c) && isOctal(this.#peek()))) {
      // A single non-zero digit is a backreference in Perl; RE2 does not support them.
      return this.#fail(start, `invalid escape sequence: ${this.#src.slice(start, this.#i)} (backreferences are not supported, in RE2 either)`)
    }
    if (isOctal(c)) {
      let value = c - code('0')
      for (let k = 0; k < 2 && isOctal(this.#peek()); k++) value = value * 8 + (this.#src.charCodeAt(this.#i++) - code('0'))
      return value
    }
    switch (String.fromCodePoint(c)) {
      case 'a': return 7
      case 'f': return 12
      case 't': return 9
      case 'n': return 10
      case 'r': return 13
      case 'v': return 11
      case 'x': return this.#hexEscape(bad)
      case 'p': case 'P':
        return this.#fail(start, 'Unicode classes (\\p{...}, \\P{...}) are not supported by this implementation')
    }
    // Escaped ASCII punctuation (and `_`) is itself; escaped letters and digits are errors, as in RE2.
    if (c < 0x80 && !/[A-Za-z0-9]/.test(String.fromCharCode(c))) return c
    return bad()
  }

  #hexEscape (bad: () => never): number {
    const hex = (x: string | undefined): boolean => x !== undefined && /^[0-9A-Fa-f]$/.test(x)
    if (this.#src[this.#i] === '{') {
      const end = this.#src.indexOf('}', this.#i)
      const digits = end === -1 ? '' : this.#src.slice(this.#i + 1, end)
      this.#i = end === -1 ? this.#src.length : end + 1
      if (!/^[0-9A-Fa-f]{1,8}$/.test(digits) || parseInt(digits, 16) > MAX_RUNE) bad()
      return parseInt(digits, 16)
    }
    const a = this.#src[this.#i]
    const b = this.#src[this.#i + 1]
    this.#i = Math.min(this.#i + 2, this.#src.length)
    if (!hex(a) || !hex(b)) bad()
    return parseInt(a! + b!, 16)
  }

  /** `[...]`: ranges, escapes, Perl and POSIX classes; folded per item, then negated (RE2's order). */
  #charClass (): RegexNode {
    const open = this.#i
    this.#i++ // '['
    let negated = false
    if (this.#peek() === code('^')) {
      negated = true
      this.#i++
    }
    const pairs: number[] = []
    const add = (set: readonly number[]): void => { pairs.push(...set) }
    let first = true
    while (this.#i < this.#src.length && (this.#peek() !== code(']') || first)) {
      first = false
      if (this.#src.startsWith('[:', this.#i)) {
        const end = this.#src.indexOf(':]', this.#i + 2)
        if (end !== -1) {
          const name = this.#src.slice(this.#i + 2, end)
          const positive = name.startsWith('^') ? name.slice(1) : name
          const set = POSIX_CLASSES.get(positive)
          if (set === undefined) this.#fail(this.#i, `invalid character class range: [:${name}:]`)
          this.#i = end + 2
          const folded = this.#flags.fold ? foldRanges(set) : [...set]
          add(positive === name ? folded : negateRanges(folded))
          continue
        }
      }
      if (this.#peek() === BACKSLASH && /[pP]/.test(this.#src[this.#i + 1] ?? '')) {
        this.#fail(this.#i, 'Unicode classes (\\p{...}, \\P{...}) are not supported by this implementation')
      }
      const perl = this.#peek() === BACKSLASH ? this.#perlClass() : undefined
      if (perl !== undefined) {
        add(perl)
        continue
      }
      const rangeStart = this.#i
      const lo = this.#classChar(open)
      let hi = lo
      // [a-] means a or '-': a '-' followed by ']' is a literal.
      if (this.#peek() === code('-') && this.#i + 1 < this.#src.length && this.#peek(1) !== code(']')) {
        this.#i++
        hi = this.#classChar(open)
        if (hi < lo) this.#fail(rangeStart, `invalid character class range: ${this.#src.slice(rangeStart, this.#i)}`)
      }
      add(this.#flags.fold ? foldRanges([lo, hi]) : [lo, hi])
    }
    if (this.#i >= this.#src.length) this.#fail(open, `missing closing ]: ${this.#src.slice(open)}`)
    this.#i++ // ']'
    const set = normalizeRanges(pairs)
    return { type: 'char', set: negated ? negateRanges(set) : set, literal: false }
  }

  #classChar (open: number): number {
    if (this.#i >= this.#src.length) this.#fail(open, `missing closing ]: ${this.#src.slice(open)}`)
    if (this.#peek() === BACKSLASH) return this.#escapedCodePoint()
    return this.#nextCodePoint()
  }
}
