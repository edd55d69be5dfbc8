import assert from 'node:assert/strict'
import { ConnectError } from '../../lib/errors.js'
import { Re2, Re2SyntaxError } from '../../lib/authz/re2.js'

describe('Re2', () => {
  describe('#fullMatch', () => {
    // [pattern, input, matches] — RE2::FullMatch semantics, as Envoy's safe_regex applies them.
    const table: Array<[string, string, boolean]> = [
      // literals and the full-match rule
      ['abc', 'abc', true],
      ['abc', 'abcd', false],
      ['abc', 'xabc', false],
      ['', '', true],
      ['', 'a', false],
      ['/api/users', '/api/users', true],
      // dot: anything but \n, unless (?s)
      ['a.c', 'abc', true],
      ['a.c', 'a\nc', false],
      ['a.c', 'a\rc', true],
      ['(?s)a.c', 'a\nc', true],
      ['.', '😀', true],
      ['..', '😀', false],
      // classes
      ['[a-c]+', 'abcabc', true],
      ['[^a-c]+', 'xyz', true],
      ['[^a-c]+', 'xaz', false],
      ['[^a]', '\n', true],
      ['[]a]+', ']a]', true],
      ['[a-]+', 'a-a', true],
      ['[\\d_]+', '12_3', true],
      ['[[:alpha:]]+', 'abcXYZ', true],
      ['[[:^alpha:]]+', '123', true],
      ['[[:xdigit:]]{4}', 'beEF', true],
      ['[[:word:]]+', 'a_1', true],
      // Perl classes are ASCII in RE2
      ['\\d{3}', '123', true],
      ['\\d{3}', '1234', false],
      ['\\d', '٣', false],
      ['\\w+', 'héllo', false],
      ['\\s', '\u000b', false],
      ['\\s+', ' \t\r\n\f', true],
      ['\\D\\W\\S', 'a!x', true],
      // anchors and boundaries
      ['^abc$', 'abc', true],
      ['a$b', 'ab', false],
      ['a^b', 'ab', false],
      ['\\Aabc\\z', 'abc', true],
      ['(?m)^a$\\n^b$', 'a\nb', true],
      ['a$\\n', 'a\n', false],
      ['\\bfoo\\b', 'foo', true],
      ['a\\bb', 'ab', false],
      ['a\\Bb', 'ab', true],
      ['foo\\b.*', 'foo bar', true],
      // groups and alternation
      ['(?:ab)*c', 'ababc', true],
      ['(ab|cd)+', 'abcdab', true],
      ['(ab|cd)+', 'abcda', false],
      ['a|b|', '', true],
      ['(?P<first>a)(?<second>b)', 'ab', true],
      ['/(users|groups)/[0-9]+', '/groups/42', true],
      // repetition
      ['x*', '', true],
      ['a{2,3}', 'aaaa', false],
      ['a{2,3}', 'aaa', true],
      ['a{2,3}', 'a', false],
      ['a{2,}', 'aaaaaa', true],
      ['a{0}', '', true],
      ['(a{2}){3}', 'aaaaaa', true],
      ['a+?b*?c??', 'aab', true],
      ['a{,3}', 'a{,3}', true], // not a valid count: literal text, as in RE2
      ['a{01}', 'a{01}', true],
      ['{', '{', true],
      ['a{2', 'a{2', true],
      // flags
      ['(?i)hello', 'HeLLo', true],
      ['(?i:a)b', 'Ab', true],
      ['(?i:a)b', 'AB', false],
      ['a(?i)b|c', 'C', true],
      ['(?i)k', '\u212a', true], // Kelvin sign is in k's case-folding orbit
      ['(?i)s', '\u017f', true], // long s
      ['(?i)i', '\u0131', false], // dotless i folds only under Turkic rules
      ['(?i)[a-c]+', 'AbC', true],
      ['(?i)[^a]', 'A', false],
      ['(?i)\\w', '\u212a', true],
      ['(?-i)a', 'A', false],
      ['(?U)a+', 'aaa', true],
      // escapes
      ['\\x41\\x{42}', 'AB', true],
      ['\\x{1F600}', '😀', true],
      ['\\141', 'a', true],
      ['\\0', '\u0000', true],
      ['\\t\\n\\r\\f\\v\\a', '\t\n\r\f\u000b\u0007', true],
      ['\\.\\*\\_\\-', '.*_-', true],
      ['\\Qa.b\\E', 'a.b', true],
      ['\\Qa.b\\E', 'axb', false],
      ['\\Qa.b', 'a.b', true],
      // astral characters
      ['😀+', '😀😀', true],
      ['[😀-😂]', '😁', true]
    ]
    for (const [pattern, input, expected] of table) {
      it(`${expected ? 'matches' : 'does not match'} ${JSON.stringify(input)} with ${JSON.stringify(pattern)}`, () => {
        assert.equal(Re2.compile(pattern).fullMatch(input), expected)
      })
    }

    it('matches a literal pattern by comparison, with no program', () => {
      const re = Re2.compile('/api/v1/users')
      assert.equal(re.programSize, 0)
      assert.equal(re.fullMatch('/api/v1/users'), true)
      assert.equal(re.lastSteps, '/api/v1/users'.length)
    })

    it('can be reused: each match starts afresh', () => {
      const re = Re2.compile('(ab)+')
      assert.equal(re.fullMatch('ababab'), true)
      assert.equal(re.fullMatch('aba'), false)
      assert.equal(re.fullMatch('ab'), true)
    })
  })

  describe('linear time', () => {
    // Patterns that take exponential time in a backtracking engine (JavaScript's RegExp among them).
    const pathological: Array<[string, (n: number) => string]> = [
      ['(a+)+$', (n) => 'a'.repeat(n) + 'b'],
      ['(a|a)*b', (n) => 'a'.repeat(n)],
      ['(a*)*b', (n) => 'a'.repeat(n)],
      ['(x+x+)+y', (n) => 'x'.repeat(n)],
      ['(\\w+\\s?)+$', (n) => 'ab '.repeat(n / 3) + '!'],
      ['a{0,100}a{100}', (n) => 'a'.repeat(n)]
    ]
    for (const [pattern, input] of pathological) {
      it(`bounds ${JSON.stringify(pattern)} by 2 × (length + 1) × program size steps, and grows linearly`, () => {
        const re = Re2.compile(pattern)
        const n = 20_000
        const text = input(n)
        re.fullMatch(text)
        const bound = 2 * (text.length + 1) * re.programSize
        assert.ok(re.lastSteps <= bound, `${re.lastSteps} steps > ${bound}`)
        // And the work grows linearly: ten times the input costs ten times the steps, give or take a constant
        // (the per-input start and end, at most 2 × program size each).
        re.fullMatch(input(n / 10))
        const small = re.lastSteps
        re.fullMatch(text)
        assert.ok(re.lastSteps <= 10 * (small + 4 * re.programSize), `${re.lastSteps} vs 10 × ${small}`)
      })
    }

    it('decides (a+)+$ on 100,000 a\'s and a b in linear steps (a backtracking engine would not finish)', () => {
      const re = Re2.compile('(a+)+$')
      const text = 'a'.repeat(100_000) + 'b'
      assert.equal(re.fullMatch(text), false)
      assert.ok(re.programSize <= 8, `program size ${re.programSize}`)
      assert.ok(re.lastSteps <= 2 * (text.length + 1) * re.programSize, `${re.lastSteps} steps`)
      assert.equal(re.fullMatch('a'.repeat(100_000)), true)
    })

    it('stops as soon as no thread is alive', () => {
      const re = Re2.compile('abc[0-9]+')
      re.fullMatch('x' + 'a'.repeat(100_000))
      assert.ok(re.lastSteps < 10, `${re.lastSteps} steps`)
    })
  })

  describe('.compile', () => {
    // [pattern, phrase the error must contain] — what RE2 rejects, and what this implementation does not support.
    const invalid: Array<[string, RegExp]> = [
      ['(?=a)', /lookaround/],
      ['(?!a)', /lookaround/],
      ['(?<=a)b', /lookaround/],
      ['(?<!a)b', /lookaround/],
      ['(a)\\1', /backreferences/],
      ['\\8', /invalid escape/],
      ['(?P=n)', /named capture/],
      ['(?P<n>a)(?P<n>b)', /duplicate capture group name/],
      ['(?P<>a)', /invalid named capture group/],
      ['(?P<a-b>a)', /invalid named capture group/],
      ['a**', /bad repetition operator: \*/],
      ['a*+', /bad repetition operator/],
      ['a???', /bad repetition operator/],
      ['a{2}{3}', /bad repetition operator/],
      ['a{2}*', /bad repetition operator/],
      ['a{1001}', /bad repetition operator/],
      ['a{1000,1001}', /bad repetition operator/],
      ['a{3,2}', /bad repetition operator/],
      ['a{123456789}', /bad repetition operator/],
      ['(a{100}){100}', /nested repetition/],
      ['((a{10}){10}){11}', /nested repetition/],
      ['*a', /missing argument to repetition operator/],
      ['a|*', /missing argument/],
      ['(?i)*', /missing argument/],
      ['{2}', /missing argument/],
      ['(a', /missing closing \)/],
      ['a)', /unexpected \)/],
      ['[a', /missing closing \]/],
      ['[z-a]', /invalid character class range/],
      ['[[:foo:]]', /invalid character class range/],
      ['\\pL', /Unicode classes/],
      ['[\\p{Greek}]', /Unicode classes/],
      ['\\C', /any byte/],
      ['\\Z', /invalid escape sequence: \\Z/],
      ['\\q', /invalid escape sequence/],
      ['[\\b]', /invalid escape sequence/],
      ['\\x4', /invalid escape sequence/],
      ['\\x{110000}', /invalid escape sequence/],
      ['\\x{}', /invalid escape sequence/],
      ['\\', /trailing \\/],
      ['\\é', /invalid escape sequence/],
      ['(?i-)', /invalid or unsupported Perl syntax/],
      ['(?--i)', /invalid or unsupported Perl syntax/],
      ['(?x)', /invalid or unsupported Perl syntax/],
      ['(?#comment)', /invalid or unsupported Perl syntax/],
      ['('.repeat(1001) + ')'.repeat(1001), /nests too deeply/]
    ]
    for (const [pattern, phrase] of invalid) {
      it(`refuses ${JSON.stringify(pattern.length > 40 ? pattern.slice(0, 40) + '…' : pattern)}`, () => {
        assert.throws(() => Re2.compile(pattern), (err: unknown) => {
          assert.ok(err instanceof Re2SyntaxError)
          assert.ok(err instanceof ConnectError)
          assert.equal(err.code, 'ERR_CONNECT_INTENTION_INVALID')
          assert.equal(err.pattern, pattern)
          assert.match(err.message, phrase)
          return true
        })
      })
    }

    it('reports the offset of the problem', () => {
      assert.throws(() => Re2.compile('abc**'), (err: Re2SyntaxError) => err.offset === 4)
      assert.throws(() => Re2.compile('ab[z-a]'), (err: Re2SyntaxError) => err.offset === 3)
    })

    it('refuses a pattern whose expanded program is too large', () => {
      // Each count is within RE2's limits, but together they expand past the program cap.
      const pattern = Array.from({ length: 120 }, () => '[a-z]{1000}').join('')
      assert.throws(() => Re2.compile(pattern), /pattern too large/)
    })

    it('accepts what RE2 accepts at its limits', () => {
      assert.equal(Re2.compile('a{1000}').fullMatch('a'.repeat(1000)), true)
      assert.equal(Re2.compile('(a{2}){500}').fullMatch('a'.repeat(1000)), true)
      assert.equal(Re2.compile('('.repeat(1000) + 'a' + ')'.repeat(1000)).fullMatch('a'), true)
    })
  })
})
