import assert from 'node:assert/strict'
import { parseIndexHeader, parseResponseMeta } from '../../lib/agent/response-meta.js'

describe('response-meta', () => {
  describe('parseIndexHeader', () => {
    const table: Array<[value: string | string[] | undefined, index: number | undefined]> = [
      ['42', 42], [' 7 ', 7], ['0', 0], [['9', '10'], 9], [undefined, undefined], ['', undefined], ['-1', undefined],
      ['1e3', undefined], ['abc', undefined], ['99999999999999999999', undefined]
    ]
    for (const [value, index] of table) {
      it(`reads ${JSON.stringify(value)} as ${String(index)}`, () => {
        assert.equal(parseIndexHeader({ 'x-consul-index': value }), index)
      })
    }
  })

  describe('parseResponseMeta', () => {
    it('reads every header Consul sends', () => {
      const meta = parseResponseMeta({
        'x-consul-knownleader': 'true',
        'x-consul-lastcontact': '12',
        'x-cache': 'HIT',
        age: '30',
        'x-consul-default-acl-policy': 'deny'
      })
      assert.deepEqual(meta, { knownLeader: true, lastContact: 12, cache: 'HIT', age: 30, defaultAclPolicy: 'deny' })
      assert.ok(Object.isFrozen(meta))
    })

    it('leaves out absent and malformed values', () => {
      assert.deepEqual(parseResponseMeta({}), {})
      assert.deepEqual(parseResponseMeta({ 'x-consul-knownleader': 'maybe', 'x-cache': 'STALE', age: 'old', 'x-consul-default-acl-policy': 'sometimes' }), {})
      assert.deepEqual(parseResponseMeta({ 'x-consul-knownleader': 'false', 'x-cache': 'miss' }), { knownLeader: false, cache: 'MISS' })
    })
  })
})
