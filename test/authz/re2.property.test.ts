import assert from 'node:assert/strict'
import fc from 'fast-check'
import { Re2 } from '../../lib/authz/re2.js'

const RUNS = 1000

// Random patterns from the part of RE2 syntax whose full-match meaning JavaScript's RegExp shares on inputs
// over a small alphabet (no newlines, ASCII): literals, '.', classes, Perl classes, groups, alternation and
// repetition (never stacked, as neither engine allows it). The generated patterns are trusted test input,
// so handing them to RegExp here is safe; the library never does.
const { pattern } = fc.letrec<{ pattern: string, term: string, atom: string }>((tie) => ({
  atom: fc.oneof(
    { weight: 4, arbitrary: fc.constantFrom('a', 'b', 'c', 'A') },
    { weight: 1, arbitrary: fc.constantFrom('.', '[ab]', '[^a]', '[a-c]', '\\d', '\\w', '\\W', '[[:upper:]]') },
    { weight: 2, arbitrary: tie('pattern').map((p) => `(${p})`) },
    { weight: 1, arbitrary: tie('pattern').map((p) => `(?:${p})`) }
  ),
  term: fc.tuple(tie('atom') as fc.Arbitrary<string>, fc.constantFrom('', '', '', '*', '+', '?', '{2}', '{0,2}', '{1,}', '*?')).map(([a, op]) => a + op),
  pattern: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.array(tie('term') as fc.Arbitrary<string>, { minLength: 0, maxLength: 4 }).map((terms) => terms.join('')),
    fc.tuple(tie('pattern') as fc.Arbitrary<string>, tie('pattern') as fc.Arbitrary<string>).map(([x, y]) => `${x}|${y}`)
  )
})) as unknown as { pattern: fc.Arbitrary<string> }

/** The same pattern in JavaScript syntax (which has no POSIX classes). */
const js = (p: string, flags: string): RegExp => new RegExp(`^(?:${p.replaceAll('[[:upper:]]', '[A-Z]')})$`, flags)

const input = fc.string({ unit: fc.constantFrom('a', 'b', 'c', 'A', '1', '_'), maxLength: 12 })

describe('Re2 (properties)', () => {
  it(`agrees with a backtracking engine on full matches (${RUNS} cases, plus ${RUNS} case-insensitive)`, () => {
    fc.assert(fc.property(pattern, input, (p, s) => {
      assert.equal(Re2.compile(p).fullMatch(s), js(p, 'u').test(s), `pattern ${JSON.stringify(p)}, input ${JSON.stringify(s)}`)
    }), { numRuns: RUNS })
    console.log(`property: re2 agrees with RegExp on full matches: ${RUNS} cases`)
    fc.assert(fc.property(pattern, input, (p, s) => {
      assert.equal(Re2.compile(`(?i)${p}`).fullMatch(s), js(p, 'iu').test(s), `pattern (?i)${JSON.stringify(p)}, input ${JSON.stringify(s)}`)
    }), { numRuns: RUNS })
    console.log(`property: re2 agrees with RegExp on case-insensitive full matches: ${RUNS} cases`)
  })

  it(`never takes more than 2 × (input length + 1) × program size steps (${RUNS} cases)`, () => {
    fc.assert(fc.property(pattern, fc.string({ unit: fc.constantFrom('a', 'b', 'c'), maxLength: 200 }), (p, s) => {
      const re = Re2.compile(p)
      re.fullMatch(s)
      assert.ok(re.lastSteps <= Math.max(s.length, 2 * (s.length + 1) * re.programSize), `${re.lastSteps} steps for ${JSON.stringify(p)}`)
    }), { numRuns: RUNS })
    console.log(`property: re2 step bound: ${RUNS} cases`)
  })

  it(`treats escaped punctuation as itself (${RUNS} cases)`, () => {
    const punctuation = fc.constantFrom(...Array.from('!"#$%&\'()*+,-./:;<=>?@[\\]^_`{|}~'))
    fc.assert(fc.property(fc.array(punctuation, { minLength: 1, maxLength: 8 }), (chars) => {
      const re = Re2.compile(chars.map((c) => `\\${c}`).join(''))
      assert.equal(re.fullMatch(chars.join('')), true)
      assert.equal(re.programSize, 0, 'an escaped literal needs no program')
    }), { numRuns: RUNS })
    console.log(`property: re2 escaped punctuation: ${RUNS} cases`)
  })
})
