import assert from 'node:assert/strict'
import type { Clock } from '../../lib/agent/clock.js'
import { TokenBucket } from '../../lib/agent/rate-limiter.js'

function manualClock (): Clock & { advance (ms: number): void } {
  let now = 1_000
  return {
    now: () => now,
    schedule: () => () => {},
    advance (ms: number) { now += ms }
  }
}

describe('TokenBucket', () => {
  describe('#take', () => {
    it('grants a burst of 2 then asks to wait 1 s by default', () => {
      const clock = manualClock()
      const bucket = new TokenBucket(clock)
      assert.deepEqual([bucket.take(), bucket.take(), bucket.take()], [0, 0, 1000])
    })

    it('refills at perSecond and never beyond burst', () => {
      const clock = manualClock()
      const bucket = new TokenBucket(clock, { burst: 3, perSecond: 10 })
      assert.deepEqual([bucket.take(), bucket.take(), bucket.take()], [0, 0, 0])
      assert.equal(bucket.take(), 100)
      clock.advance(50)
      assert.equal(bucket.take(), 50)
      clock.advance(50)
      assert.equal(bucket.take(), 0)
      clock.advance(60_000)
      assert.deepEqual([bucket.take(), bucket.take(), bucket.take(), bucket.take() > 0], [0, 0, 0, true])
    })

    it('grants at most burst + window × rate over any window', () => {
      const clock = manualClock()
      const bucket = new TokenBucket(clock, { burst: 2, perSecond: 4 })
      const grants: number[] = []
      // Ask every 10 ms for 5 s of virtual time.
      for (let t = 0; t < 5_000; t += 10) {
        if (bucket.take() === 0) grants.push(clock.now())
        clock.advance(10)
      }
      for (let i = 0; i < grants.length; i++) {
        for (let j = i; j < grants.length; j++) {
          const window = grants[j]! - grants[i]!
          assert.ok(j - i + 1 <= 2 + (window * 4) / 1000 + 1e-9, `${j - i + 1} grants in ${window} ms`)
        }
      }
      // And it is not stingier than the rate: ~2 + 5 s × 4/s.
      assert.ok(grants.length >= 21 && grants.length <= 22, String(grants.length))
    })
  })
})
