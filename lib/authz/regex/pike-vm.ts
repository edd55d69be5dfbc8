/**
 * A Pike VM (Thompson NFA simulation) that decides whether a program matches a whole input string.
 *
 * Linear time: the VM walks the input once, keeping at most one thread per instruction (a sparse set), so
 * the work is O(input length × program size) whatever the pattern — `(a+)+$` on a long run of `a`s costs
 * what `a+` costs. {@link PikeVm.lastSteps} counts the work of the last match (instructions visited), which
 * tests use to prove the bound without timing anything.
 *
 * The VM owns scratch buffers sized to its program, allocated once: a match allocates nothing. It is not
 * reentrant, which JavaScript's single thread makes safe (a match never yields).
 *
 * The input is read as Unicode code points (a surrogate pair is one code point; a lone surrogate stands for
 * itself), as RE2 reads UTF-8.
 */
import { inRanges, isWordChar } from './char-class.js'
import {
  ASSERT_BEGIN_LINE, ASSERT_BEGIN_TEXT, ASSERT_END_LINE, ASSERT_END_TEXT, ASSERT_WORD_BOUNDARY,
  OP_ASSERT, OP_CHAR, OP_CLASS, OP_JUMP, OP_MATCH, OP_SPLIT
} from './program.js'
import type { Program } from './program.js'

const NEWLINE = 0x0a
/** Stands for "no character" before the start and after the end of the input. */
const NONE = -1

/** A sparse set of instruction indexes with O(1) add, membership and clear (Briggs & Torczon). */
class ThreadList {
  readonly dense: Int32Array
  readonly sparse: Int32Array
  size = 0

  constructor (capacity: number) {
    this.dense = new Int32Array(capacity)
    this.sparse = new Int32Array(capacity)
  }

  has (pc: number): boolean {
    const k = this.sparse[pc]!
    return k < this.size && this.dense[k] === pc
  }

  add (pc: number): void {
    this.sparse[pc] = this.size
    this.dense[this.size++] = pc
  }
}

export class PikeVm {
  readonly #op: Uint8Array
  readonly #x: Int32Array
  readonly #y: Int32Array
  readonly #classes: readonly Int32Array[]
  readonly #matchPc: number
  #current: ThreadList
  #next: ThreadList
  readonly #stack: Int32Array
  #steps = 0

  constructor (program: Program) {
    this.#op = program.op
    this.#x = program.x
    this.#y = program.y
    this.#classes = program.classes
    const n = program.op.length
    this.#matchPc = n - 1
    this.#current = new ThreadList(n)
    this.#next = new ThreadList(n)
    // Each instruction is added once per step and pushes at most two successors.
    this.#stack = new Int32Array(2 * n + 2)
  }

  /** Instructions visited by the last {@link fullMatch}: at most about 2 × (input length + 1) × program size. */
  get lastSteps (): number { return this.#steps }

  /** Whether the whole of `input` matches. */
  fullMatch (input: string): boolean {
    this.#steps = 0
    const len = input.length
    let list = this.#current
    let nextList = this.#next
    list.size = 0
    let next = len > 0 ? codePointAt(input, 0) : NONE
    this.#addThread(list, 0, NONE, next)
    let i = 0
    while (i < len) {
      if (list.size === 0) break // no thread alive: no match possible
      const cp = next
      i += cp > 0xffff ? 2 : 1
      next = i < len ? codePointAt(input, i) : NONE
      nextList.size = 0
      const dense = list.dense
      for (let k = 0; k < list.size; k++) {
        const pc = dense[k]!
        const op = this.#op[pc]
        this.#steps++
        if ((op === OP_CHAR && this.#x[pc] === cp) || (op === OP_CLASS && inRanges(this.#classes[this.#x[pc]!]!, cp))) {
          this.#addThread(nextList, pc + 1, cp, next)
        }
      }
      const swap = list
      list = nextList
      nextList = swap
    }
    // Keep the buffers in place for the next call whichever list ended up current.
    this.#current = list
    this.#next = nextList
    return i >= len && list.has(this.#matchPc)
  }

  /** Adds `pc` and everything reachable from it without consuming input; `prev`/`next` frame the position. */
  #addThread (list: ThreadList, pc0: number, prev: number, next: number): void {
    const stack = this.#stack
    let sp = 0
    stack[sp++] = pc0
    while (sp > 0) {
      const pc = stack[--sp]!
      if (list.has(pc)) continue
      list.add(pc)
      this.#steps++
      switch (this.#op[pc]) {
        case OP_JUMP:
          stack[sp++] = this.#x[pc]!
          break
        case OP_SPLIT:
          stack[sp++] = this.#y[pc]!
          stack[sp++] = this.#x[pc]!
          break
        case OP_ASSERT:
          if (holds(this.#x[pc]!, prev, next)) stack[sp++] = pc + 1
          break
        case OP_MATCH:
        default:
          break // consuming instructions wait in the list for the next code point
      }
    }
  }
}

function holds (assertion: number, prev: number, next: number): boolean {
  switch (assertion) {
    case ASSERT_BEGIN_TEXT: return prev === NONE
    case ASSERT_END_TEXT: return next === NONE
    case ASSERT_BEGIN_LINE: return prev === NONE || prev === NEWLINE
    case ASSERT_END_LINE: return next === NONE || next === NEWLINE
    case ASSERT_WORD_BOUNDARY: return isWord(prev) !== isWord(next)
    default: return isWord(prev) === isWord(next) // ASSERT_NOT_WORD_BOUNDARY
  }
}

function isWord (cp: number): boolean {
  return cp !== NONE && isWordChar(cp)
}

function codePointAt (s: string, i: number): number {
  const c = s.charCodeAt(i)
  if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
    const d = s.charCodeAt(i + 1)
    if (d >= 0xdc00 && d <= 0xdfff) return ((c - 0xd800) << 10) + (d - 0xdc00) + 0x10000
  }
  return c
}

