/**
 * RE2-syntax regular expressions matched in linear time, for the `PathRegex` and header `Regex` matchers
 * of L7 intentions.
 *
 * Consul hands these patterns to Envoy, which compiles them with Google RE2 (`safe_regex`) and requires a
 * *full* match: the whole path or header value must match, as `RE2::FullMatch` decides. {@link Re2} does
 * the same without ever handing an untrusted pattern to JavaScript's backtracking `RegExp`: the pattern is
 * parsed (regex/syntax.ts), compiled to an NFA (regex/program.ts) and simulated by a Pike VM
 * (regex/pike-vm.ts), so matching costs O(input × pattern) steps whatever the pattern.
 *
 * Supported and rejected syntax is listed in regex/syntax.ts; compiling throws {@link Re2SyntaxError}
 * (code `ERR_CONNECT_INTENTION_INVALID`) with the offset of the problem. A pattern made only of literal
 * characters is matched by string comparison.
 *
 * Known differences from RE2 (all make a pattern fail to compile here rather than match differently):
 * Unicode classes `\p{...}` are refused; programs over 100,000 instructions are refused (RE2's limit is
 * a memory budget). Envoy additionally refuses patterns whose RE2 program exceeds its `max_program_size`
 * (100 by default), which this module does not model: a pattern accepted here may still be one Envoy rejects.
 */
import { compileProgram } from './regex/program.js'
import { PikeVm } from './regex/pike-vm.js'
import { parseRe2 } from './regex/syntax.js'
import type { RegexNode } from './regex/syntax.js'

export { Re2SyntaxError } from './regex/syntax.js'
export { MAX_REPEAT as RE2_MAX_REPEAT } from './regex/syntax.js'

/** A compiled RE2 pattern. Immutable apart from its step counter; matching allocates nothing. */
export class Re2 {
  readonly pattern: string
  /** The text a pattern of only literal characters must equal, when it is one. */
  readonly #literal: string | undefined
  readonly #vm: PikeVm | undefined
  /** Instructions in the compiled program; 0 for a literal pattern. */
  readonly programSize: number
  #literalSteps = 0

  private constructor (pattern: string, literal: string | undefined, vm: PikeVm | undefined, programSize: number) {
    this.pattern = pattern
    this.#literal = literal
    this.#vm = vm
    this.programSize = programSize
  }

  /** Parses and compiles `pattern`; throws {@link Re2SyntaxError} when it is invalid or unsupported. */
  static compile (pattern: string): Re2 {
    const node = parseRe2(pattern)
    const literal = literalText(node)
    if (literal !== undefined) return new Re2(pattern, literal, undefined, 0)
    const program = compileProgram(node, pattern)
    return new Re2(pattern, undefined, new PikeVm(program), program.op.length)
  }

  /** Whether the whole of `input` matches (RE2::FullMatch). */
  fullMatch (input: string): boolean {
    if (this.#vm !== undefined) return this.#vm.fullMatch(input)
    this.#literalSteps = input.length
    return input === this.#literal
  }

  /**
   * The work of the last {@link fullMatch}, in VM steps (instructions visited); for a literal pattern, the
   * input length. At most 2 × (input length + 1) × {@link programSize}: each position adds every
   * instruction at most once and tries each consuming one at most once.
   */
  get lastSteps (): number {
    return this.#vm !== undefined ? this.#vm.lastSteps : this.#literalSteps
  }

  toString (): string {
    return `Re2(${JSON.stringify(this.pattern)})`
  }
}

/** The exact text `node` matches when it is a sequence of plain literal characters, else undefined. */
function literalText (node: RegexNode): string | undefined {
  if (node.type === 'empty') return ''
  if (node.type === 'char') return node.literal ? String.fromCodePoint(node.set[0]!) : undefined
  if (node.type !== 'concat') return undefined
  let text = ''
  for (const item of node.items) {
    if (item.type !== 'char' || !item.literal) return undefined
    text += String.fromCodePoint(item.set[0]!)
  }
  return text
}
