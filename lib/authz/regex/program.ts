/**
 * Compiles a parsed RE2 pattern into a Thompson NFA program for the Pike VM (pike-vm.ts).
 *
 * Instructions live in parallel typed arrays (`op`, `x`, `y`), so a compiled program is a few flat
 * buffers. Counted repetition is expanded (`a{2,4}` is `aa(a(a)?)?`); RE2's limits (counts ≤ 1000, and
 * a product of nested counts ≤ 1000) bound that expansion, and {@link MAX_INSTRUCTIONS} bounds the whole
 * program, as RE2's memory budget does (`pattern too large`).
 */
import { Re2SyntaxError } from './syntax.js'
import type { Assertion, RegexNode } from './syntax.js'

/** Consume one code point equal to `x`. */
export const OP_CHAR = 0
/** Consume one code point in class `x` (an index into `classes`). */
export const OP_CLASS = 1
/** Continue at both `x` and `y`. */
export const OP_SPLIT = 2
/** Continue at `x`. */
export const OP_JUMP = 3
/** Continue at the next instruction when assertion `x` holds here. */
export const OP_ASSERT = 4
/** The pattern matched (a full match when the input is exhausted). */
export const OP_MATCH = 5

export const ASSERT_BEGIN_TEXT = 0
export const ASSERT_END_TEXT = 1
export const ASSERT_BEGIN_LINE = 2
export const ASSERT_END_LINE = 3
export const ASSERT_WORD_BOUNDARY = 4
export const ASSERT_NOT_WORD_BOUNDARY = 5

const ASSERTIONS: Readonly<Record<Assertion, number>> = {
  'begin-text': ASSERT_BEGIN_TEXT,
  'end-text': ASSERT_END_TEXT,
  'begin-line': ASSERT_BEGIN_LINE,
  'end-line': ASSERT_END_LINE,
  'word-boundary': ASSERT_WORD_BOUNDARY,
  'not-word-boundary': ASSERT_NOT_WORD_BOUNDARY
}

/** Upper bound on program size; larger patterns are refused as RE2 refuses them (`pattern too large`). */
export const MAX_INSTRUCTIONS = 100_000

/** A compiled program. Instruction 0 is the start; exactly one OP_MATCH, the last instruction. */
export interface Program {
  readonly op: Uint8Array
  readonly x: Int32Array
  readonly y: Int32Array
  /** Character classes as normalized `[lo, hi]` pairs. */
  readonly classes: readonly Int32Array[]
}

/** Compiles `node`; `pattern` is only used in error messages. */
export function compileProgram (node: RegexNode, pattern: string): Program {
  const builder = new Builder(pattern)
  builder.emitNode(node)
  builder.emit(OP_MATCH, 0, 0)
  return builder.finish()
}

class Builder {
  readonly #pattern: string
  readonly #op: number[] = []
  readonly #x: number[] = []
  readonly #y: number[] = []
  readonly #classes: Int32Array[] = []
  readonly #classIndex = new Map<string, number>()

  constructor (pattern: string) {
    this.#pattern = pattern
  }

  /** Appends an instruction and returns its index. */
  emit (op: number, x: number, y: number): number {
    if (this.#op.length >= MAX_INSTRUCTIONS) {
      throw new Re2SyntaxError(this.#pattern, 0, `pattern too large (over ${MAX_INSTRUCTIONS} instructions once repetitions are expanded)`)
    }
    this.#op.push(op)
    this.#x.push(x)
    this.#y.push(y)
    return this.#op.length - 1
  }

  #patch (at: number, x: number, y?: number): void {
    this.#x[at] = x
    if (y !== undefined) this.#y[at] = y
  }

  get #next (): number { return this.#op.length }

  emitNode (node: RegexNode): void {
    switch (node.type) {
      case 'empty':
        return
      case 'char': {
        const set = node.set
        if (set.length === 2 && set[0] === set[1]) this.emit(OP_CHAR, set[0]!, 0)
        else this.emit(OP_CLASS, this.#classOf(set), 0)
        return
      }
      case 'assert':
        this.emit(OP_ASSERT, ASSERTIONS[node.assertion], 0)
        return
      case 'concat':
        for (const item of node.items) this.emitNode(item)
        return
      case 'alternate':
        this.#alternate(node.items)
        return
      case 'repeat':
        this.#repeat(node.item, node.min, node.max)
    }
  }

  /** split L1, next; L1: a; jmp end; next: split L2, ... ; the last branch falls through to end. */
  #alternate (items: readonly RegexNode[]): void {
    const jumps: number[] = []
    for (let k = 0; k < items.length - 1; k++) {
      const split = this.emit(OP_SPLIT, 0, 0)
      this.#patch(split, this.#next)
      this.emitNode(items[k]!)
      jumps.push(this.emit(OP_JUMP, 0, 0))
      this.#patch(split, this.#x[split]!, this.#next)
    }
    this.emitNode(items[items.length - 1]!)
    for (const jump of jumps) this.#patch(jump, this.#next)
  }

  #repeat (item: RegexNode, min: number, max: number): void {
    if (max === -1 && min > 0) {
      // x{n,}: n-1 copies, then loop: x; split loop, out (x+ without a second copy of x).
      for (let k = 1; k < min; k++) this.emitNode(item)
      const loop = this.#next
      this.emitNode(item)
      this.emit(OP_SPLIT, loop, this.#next + 1)
      return
    }
    for (let k = 0; k < min; k++) this.emitNode(item)
    if (max === -1) {
      // loop: split body, out; body; jmp loop
      const loop = this.emit(OP_SPLIT, 0, 0)
      this.#patch(loop, this.#next)
      this.emitNode(item)
      this.emit(OP_JUMP, loop, 0)
      this.#patch(loop, this.#x[loop]!, this.#next)
      return
    }
    // Nested optionals, (a(a(a)?)?)?, all skipping to the same end: linear size, no duplicated paths.
    const splits: number[] = []
    for (let k = min; k < max; k++) {
      const split = this.emit(OP_SPLIT, 0, 0)
      this.#patch(split, this.#next)
      splits.push(split)
      this.emitNode(item)
    }
    for (const split of splits) this.#patch(split, this.#x[split]!, this.#next)
  }

  #classOf (set: readonly number[]): number {
    const key = set.join(',')
    let index = this.#classIndex.get(key)
    if (index === undefined) {
      index = this.#classes.length
      this.#classes.push(Int32Array.from(set))
      this.#classIndex.set(key, index)
    }
    return index
  }

  finish (): Program {
    return Object.freeze({
      op: Uint8Array.from(this.#op),
      x: Int32Array.from(this.#x),
      y: Int32Array.from(this.#y),
      classes: Object.freeze(this.#classes)
    })
  }
}
