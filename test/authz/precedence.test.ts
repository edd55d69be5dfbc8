import assert from 'node:assert/strict'
import { compareIntentions, intentionPrecedence, sortIntentions } from '../../lib/authz/precedence.js'
import type { OrderedIntention } from '../../lib/authz/precedence.js'

describe('precedence', () => {
  describe('#intentionPrecedence', () => {
    // Consul's table: [source ns, source name, destination ns, destination name] → precedence.
    const table: Array<[string, string, string, string, number]> = [
      ['default', 'web', 'default', 'db', 9],
      ['default', '*', 'default', 'db', 8],
      ['*', '*', 'default', 'db', 7],
      ['default', 'web', 'default', '*', 6],
      ['default', '*', 'default', '*', 5],
      ['*', '*', 'default', '*', 4],
      ['default', 'web', '*', '*', 3],
      ['default', '*', '*', '*', 2],
      ['*', '*', '*', '*', 1]
    ]
    for (const [SourceNS, SourceName, DestinationNS, DestinationName, expected] of table) {
      it(`gives ${expected} to ${SourceNS}/${SourceName} => ${DestinationNS}/${DestinationName}`, () => {
        assert.equal(intentionPrecedence({ SourceNS, SourceName, DestinationNS, DestinationName }), expected)
      })
    }

    it('treats an absent or empty namespace as "default" (exact)', () => {
      assert.equal(intentionPrecedence({ SourceName: 'web', DestinationName: 'db' }), 9)
      assert.equal(intentionPrecedence({ SourceNS: '', SourceName: '*', DestinationNS: '', DestinationName: 'db' }), 8)
    })

    it('ignores partitions, peers and sameness groups', () => {
      const base = { SourceNS: 'default', SourceName: 'web', DestinationNS: 'default', DestinationName: 'db' }
      assert.equal(intentionPrecedence({ ...base, SourcePartition: 'ap1', DestinationPartition: 'ap2' }), 9)
      assert.equal(intentionPrecedence({ ...base, SourcePeer: 'other-cluster' }), 9)
      assert.equal(intentionPrecedence({ ...base, SourceName: '*', SourceSamenessGroup: 'sg' }), 8)
    })

    it('scores a wildcard namespace with an exact name as fully wildcarded', () => {
      assert.equal(intentionPrecedence({ SourceNS: '*', SourceName: 'web', DestinationNS: 'default', DestinationName: 'db' }), 7)
    })
  })

  describe('#compareIntentions', () => {
    const ixn = (o: Partial<OrderedIntention>): OrderedIntention => ({ SourceName: 'web', DestinationName: 'db', ...o })

    it('puts higher precedence first', () => {
      assert.ok(compareIntentions(ixn({}), ixn({ SourceName: '*' })) < 0)
      assert.ok(compareIntentions(ixn({ DestinationName: '*' }), ixn({ SourceName: '*' })) > 0)
    })

    it('uses a given Precedence as is, and computes a missing one', () => {
      assert.ok(compareIntentions(ixn({ SourceName: '*', Precedence: 10 }), ixn({})) < 0)
      assert.ok(compareIntentions(ixn({ Precedence: 1 }), ixn({ SourceName: '*' })) > 0)
    })

    // Ties break on (sameness group, peer, source partition, source ns, source name, destination partition,
    // destination ns, destination name), each earlier field deciding before the later ones.
    const ties: Array<[string, Partial<OrderedIntention>, Partial<OrderedIntention>]> = [
      ['source sameness group', { SourceSamenessGroup: 'a', SourcePeer: 'z' }, { SourceSamenessGroup: 'b', SourcePeer: 'a' }],
      ['source peer (absent before present)', { SourcePartition: 'z' }, { SourcePeer: 'p1', SourcePartition: 'a' }],
      ['source peer', { SourcePeer: 'p1', SourceNS: 'z' }, { SourcePeer: 'p2', SourceNS: 'a' }],
      ['source partition', { SourcePartition: 'a', SourceNS: 'z' }, { SourcePartition: 'b', SourceNS: 'a' }],
      ['source namespace', { SourceNS: 'a', SourceName: 'z' }, { SourceNS: 'b', SourceName: 'a' }],
      ['source name', { SourceName: 'a', DestinationPartition: 'z' }, { SourceName: 'b', DestinationPartition: 'a' }],
      ['destination partition', { DestinationPartition: 'a', DestinationNS: 'z' }, { DestinationPartition: 'b', DestinationNS: 'a' }],
      ['destination namespace', { DestinationNS: 'a', DestinationName: 'z' }, { DestinationNS: 'b', DestinationName: 'a' }],
      ['destination name', { DestinationName: 'a' }, { DestinationName: 'b' }]
    ]
    for (const [field, first, second] of ties) {
      it(`breaks a tie on ${field}`, () => {
        const a = ixn({ Precedence: 5, ...first })
        const b = ixn({ Precedence: 5, ...second })
        assert.ok(compareIntentions(a, b) < 0)
        assert.ok(compareIntentions(b, a) > 0)
      })
    }

    it('orders an absent namespace as "default"', () => {
      assert.equal(compareIntentions(ixn({ SourceNS: undefined }), ixn({ SourceNS: 'default' })), 0)
      assert.ok(compareIntentions(ixn({ SourceNS: undefined, Precedence: 5 }), ixn({ SourceNS: 'dev', Precedence: 5 })) < 0)
    })

    it('compares strings by code point, as Go compares UTF-8 bytes', () => {
      // U+FF5E (fullwidth tilde) < U+1F600 (emoji) in code points, but not in UTF-16 code units.
      const a = ixn({ SourceName: '\uFF5E' })
      const b = ixn({ SourceName: '\u{1F600}' })
      assert.ok(compareIntentions(a, b) < 0)
      assert.ok('\uFF5E' > '\u{1F600}', 'JavaScript would order them the other way')
    })

    it('returns 0 only for equal keys', () => {
      assert.equal(compareIntentions(ixn({}), ixn({})), 0)
      assert.ok(compareIntentions(ixn({ SourceName: 'web' }), ixn({ SourceName: 'web2' })) < 0)
    })
  })

  describe('#sortIntentions', () => {
    it('returns a new array in evaluation order without touching the input', () => {
      const input: OrderedIntention[] = [
        { SourceNS: '*', SourceName: '*', DestinationName: 'db' },
        { SourceName: 'web', DestinationName: '*' },
        { SourceName: 'api', DestinationName: 'db' },
        { SourceName: '*', DestinationName: 'db' },
        { SourceName: 'admin', DestinationName: 'db' }
      ]
      const copy = [...input]
      const sorted = sortIntentions(input)
      assert.deepEqual(input, copy)
      assert.deepEqual(sorted.map((i) => `${i.SourceNS ?? 'default'}/${i.SourceName}=>${i.DestinationName}`), [
        'default/admin=>db', 'default/api=>db', 'default/*=>db', '*/*=>db', 'default/web=>*'
      ])
    })
  })
})
