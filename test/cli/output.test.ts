import assert from 'node:assert/strict'
import { parseDuration, UsageError } from '../../lib/cli/args.js'
import { formatDuration, formatTimeLeft, plural, table } from '../../lib/cli/output.js'

describe('cli output and argument helpers', () => {
  describe('formatDuration()', () => {
    const cases: Array<[number, string]> = [
      [0, '0s'],
      [999, '< 1s'],
      [1000, '1s'],
      [59_999, '59s'],
      [61_000, '1m 1s'],
      [3_600_000, '1h'],
      [3_660_000, '1h 1m'],
      [3_661_000, '1h 1m'],
      [86_400_000, '1d'],
      [259_199_000, '2d 23h'],
      [-120_000, '2m']
    ]
    for (const [ms, text] of cases) {
      it(`formats ${ms} ms as ${JSON.stringify(text)}`, () => assert.equal(formatDuration(ms), text))
    }
  })

  it('formatTimeLeft() says "in" ahead of expiry and "ago" after it', () => {
    assert.equal(formatTimeLeft(90_000), 'in 1m 30s')
    assert.equal(formatTimeLeft(-90_000), 'expired 1m 30s ago')
  })

  it('plural() and table()', () => {
    assert.equal(plural(1, 'root'), '1 root')
    assert.equal(plural(2, 'root'), '2 roots')
    assert.deepEqual(table([['a', '1'], ['long', '2']], '  '), ['  a     1', '  long  2'])
  })

  describe('parseDuration()', () => {
    const good: Array<[string, number]> = [['500ms', 500], ['10s', 10_000], ['1.5s', 1500], ['2m', 120_000], [' 3s ', 3000]]
    for (const [text, ms] of good) it(`reads ${JSON.stringify(text)} as ${ms} ms`, () => assert.equal(parseDuration(text, 'timeout', 'doctor'), ms))
    for (const text of ['10', '0s', '0.0001s', '-1s', '1h', 's', '1 s']) {
      it(`refuses ${JSON.stringify(text)}`, () => {
        assert.throws(() => parseDuration(text, 'timeout', 'doctor'), (err: unknown) => err instanceof UsageError && err.command === 'doctor' && err.message.startsWith('--timeout expects a duration'))
      })
    }
  })
})
