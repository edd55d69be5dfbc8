import assert from 'node:assert/strict'
import { blockingParams, blockingTimeoutMs, isBlockingIndex, nextIndex } from '../../lib/agent/query-index.js'

describe('query-index', () => {
  describe('nextIndex', () => {
    const table: Array<[previous: number | undefined, received: number, next: number, why: string]> = [
      [undefined, 42, 42, 'first answer sets the index'],
      [undefined, 0, 1, 'an index of 0 becomes 1'],
      [10, 10, 10, 'same index stays'],
      [10, 11, 11, 'forward moves'],
      [10, 9, 0, 'backwards resets to 0'],
      [10, 0, 0, 'backwards to 0 resets (then the next answer sets it)'],
      [0, 5, 5, 'after a reset the answer is the new baseline'],
      [0, 0, 1, 'after a reset an index of 0 still becomes 1']
    ]
    for (const [previous, received, next, why] of table) {
      it(`${why}: ${String(previous)} + ${received} → ${next}`, () => {
        assert.equal(nextIndex(previous, received), next)
      })
    }
  })

  describe('isBlockingIndex', () => {
    it('blocks only with an index of at least 1', () => {
      assert.deepEqual([undefined, 0, 1, 99].map(isBlockingIndex), [false, false, true, true])
    })
  })

  describe('blockingParams', () => {
    it('sends wait in Go duration syntax and caps it at 10 minutes', () => {
      assert.deepEqual(blockingParams(7, 300_000), { index: '7', wait: '300000ms' })
      assert.deepEqual(blockingParams(7, 3_600_000), { index: '7', wait: '600000ms' })
    })
  })

  describe('blockingTimeoutMs', () => {
    it('allows wait + wait/16 + the margin', () => {
      assert.equal(blockingTimeoutMs(160_000, 10_000), 160_000 + 10_000 + 10_000)
      assert.equal(blockingTimeoutMs(3_600_000, 0), 600_000 + 37_500)
    })
  })
})
