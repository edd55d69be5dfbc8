import assert from 'node:assert/strict'
import { Uint64, goTime, stringifyGo } from '../../lib/testing/go-json.js'

describe('go-json', () => {
  describe('#goTime', () => {
    const table: Array<[string, string]> = [
      ['2025-01-02T03:04:05.000Z', '2025-01-02T03:04:05Z'],
      ['2025-01-02T03:04:05.500Z', '2025-01-02T03:04:05.5Z'],
      ['2025-01-02T03:04:05.120Z', '2025-01-02T03:04:05.12Z'],
      ['2025-01-02T03:04:05.007Z', '2025-01-02T03:04:05.007Z']
    ]
    for (const [iso, go] of table) {
      it(`writes ${iso} as Go does: ${go}`, () => {
        assert.equal(goTime(new Date(iso)), go)
      })
    }
  })

  describe('Uint64', () => {
    it('keeps the low 64 bits of a big-endian serial, as big.Int.Uint64() does', () => {
      assert.equal(Uint64.fromBytes(Buffer.from('0102030405060708090a', 'hex')).value, 0x030405060708090an)
      assert.equal(Uint64.fromBytes(Buffer.from('ff', 'hex')).value, 255n)
    })

    it('is written as bare digits, exactly', () => {
      const text = stringifyGo({ SerialNumber: new Uint64(18446744073709551615n), Name: 'x' })
      assert.equal(text, '{"SerialNumber":18446744073709551615,"Name":"x"}')
    })

    it('refuses values outside uint64', () => {
      assert.throws(() => new Uint64(-1n), RangeError)
      assert.throws(() => new Uint64(1n << 64n), RangeError)
    })
  })
})
