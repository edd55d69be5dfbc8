import assert from 'node:assert/strict'
import { backoffDelay, backoffPolicy, DEFAULT_BACKOFF } from '../../lib/agent/backoff.js'

describe('backoffDelay', () => {
  describe('#growth', () => {
    const none = backoffPolicy({ jitter: 'none' })
    // Consul's Go watcher: 5 s × failures², capped at 180 s.
    const table: Array<[failures: number, ms: number]> = [
      [0, 0], [1, 5_000], [2, 20_000], [3, 45_000], [4, 80_000], [5, 125_000], [6, 180_000], [7, 180_000], [1000, 180_000]
    ]
    for (const [failures, ms] of table) {
      it(`waits ${ms} ms after ${failures} failure(s) without jitter`, () => {
        assert.equal(backoffDelay(none, failures), ms)
      })
    }

    it('uses a configured base and cap', () => {
      const policy = backoffPolicy({ baseMs: 10, capMs: 200, jitter: 'none' })
      assert.deepEqual([1, 2, 3, 4, 5, 6].map((f) => backoffDelay(policy, f)), [10, 40, 90, 160, 200, 200])
    })
  })

  describe('#jitter', () => {
    it('defaults to proportional (±25 %)', () => {
      assert.equal(DEFAULT_BACKOFF.jitter, 'proportional')
      const policy = backoffPolicy(undefined)
      assert.equal(backoffDelay(policy, 2, () => 0), 15_000)
      assert.equal(backoffDelay(policy, 2, () => 0.5), 20_000)
      assert.equal(backoffDelay(policy, 2, () => 0.999999), 25_000)
    })

    it('never exceeds the cap, jitter included', () => {
      const policy = backoffPolicy(undefined)
      assert.equal(backoffDelay(policy, 10, () => 0.999999), 180_000)
      assert.equal(backoffDelay(policy, 10, () => 0), 135_000)
    })

    it('spreads over [0, d] with full jitter', () => {
      const policy = backoffPolicy({ jitter: 'full' })
      assert.equal(backoffDelay(policy, 3, () => 0), 0)
      assert.equal(backoffDelay(policy, 3, () => 0.5), 22_500)
    })
  })

  describe('backoffPolicy', () => {
    it('throws when the cap is below the base', () => {
      assert.throws(() => backoffPolicy({ baseMs: 100, capMs: 10 }), RangeError)
    })

    it('raises the default cap to a larger base', () => {
      assert.equal(backoffPolicy({ baseMs: 300_000 }).capMs, 300_000)
    })
  })
})
