import assert from 'node:assert/strict'
import { DEFAULT_WAIT_MS, MAX_WAIT_MS, blockingWaitMs, parseGoDuration } from '../../lib/testing/durations.js'

describe('durations', () => {
  describe('#parseGoDuration', () => {
    // Go's time.ParseDuration, in milliseconds.
    const valid: Array<[string, number]> = [
      ['0', 0], ['-0', 0], ['+0', 0],
      ['10s', 10_000], ['5m', 300_000], ['300ms', 300], ['2h', 7_200_000],
      ['1h30m', 5_400_000], ['1m30.5s', 90_500], ['1.5s', 1500], ['.5s', 500], ['1.s', 1000],
      ['1500us', 1.5], ['1500µs', 1.5], ['1500μs', 1.5], ['2000000ns', 2],
      ['-1s', -1000], ['+2s', 2000], ['0s', 0]
    ]
    for (const [text, ms] of valid) {
      it(`reads ${JSON.stringify(text)} as ${ms} ms`, () => {
        assert.equal(parseGoDuration(text), ms)
      })
    }

    const invalid = ['', '10', '1 s', 's', '.s', '1d', '1S', '1e3s', '--1s', '1s ', ' 1s', '1.2.3s', 'Infinity']
    for (const text of invalid) {
      it(`refuses ${JSON.stringify(text)}`, () => {
        assert.equal(parseGoDuration(text), undefined)
      })
    }
  })

  describe('#blockingWaitMs', () => {
    const table: Array<[string | null, number | undefined]> = [
      [null, DEFAULT_WAIT_MS], ['', DEFAULT_WAIT_MS], ['0', DEFAULT_WAIT_MS], ['-5s', DEFAULT_WAIT_MS],
      ['200ms', 200], ['10m', MAX_WAIT_MS], ['11m', MAX_WAIT_MS], ['24h', MAX_WAIT_MS], ['10', undefined]
    ]
    for (const [wait, expected] of table) {
      it(`gives ${String(expected)} for wait=${JSON.stringify(wait)}`, () => {
        assert.equal(blockingWaitMs(wait), expected)
      })
    }

    it('uses the agent defaults: 5 min, capped at 10 min', () => {
      assert.equal(DEFAULT_WAIT_MS, 300_000)
      assert.equal(MAX_WAIT_MS, 600_000)
    })
  })
})
