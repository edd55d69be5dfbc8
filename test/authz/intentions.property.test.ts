import assert from 'node:assert/strict'
import fc from 'fast-check'
import { Intentions } from '../../lib/authz/intentions.js'
import type { ResolvedIntention, SourceService } from '../../lib/authz/intentions.js'
import { IndexBoard } from '../../lib/testing/test-agent-index.js'
import type { DecodedSource } from '../../lib/testing/test-agent-intention-input.js'
import { IntentionStore, intentionAllows } from '../../lib/testing/test-agent-intentions.js'

const RUNS = 300

const NAMES = ['web', 'api', 'db', 'cache', 'ops']
const name = fc.constantFrom(...NAMES, '*')
const namespace = fc.constantFrom(undefined, 'default', 'team', '*')

// One source of a service-intentions entry, valid by Consul's rules (no exact name under a '*' namespace,
// peer and partition exclusive); L7 only where the destination is exact.
function sourceArb (l7: boolean): fc.Arbitrary<DecodedSource> {
  return fc.record({
    Name: name,
    Namespace: namespace,
    cluster: fc.constantFrom<Array<{ Peer?: string, Partition?: string }>>({}, {}, {}, { Peer: 'p1' }, { Partition: 'ap1' }),
    l7: l7 ? fc.boolean() : fc.constant(false),
    allow: fc.boolean()
  }).map(({ Name, Namespace, cluster, l7: isL7, allow }): DecodedSource => ({
    Name,
    ...(Namespace === '*' && Name !== '*' ? {} : Namespace === undefined ? {} : { Namespace }),
    ...cluster,
    ...(isL7
      ? { Permissions: [{ Action: allow ? 'allow' : 'deny', HTTP: { PathPrefix: '/' } }] }
      : { Action: allow ? 'allow' : 'deny' })
  }))
}

/** Sources with distinct identities: Consul refuses an entry naming one source twice. */
function uniqueSources (l7: boolean): fc.Arbitrary<DecodedSource[]> {
  return fc.uniqueArray(sourceArb(l7), {
    maxLength: 12,
    selector: (s) => JSON.stringify([s.Peer ?? '', s.Partition ?? '', s.Namespace ?? 'default', s.Name])
  })
}

const caller: fc.Arbitrary<SourceService> = fc.record({
  service: fc.constantFrom(...NAMES, 'absent'),
  namespace: fc.constantFrom('default', 'team', 'other'),
  partition: fc.constantFrom('default', 'ap1'),
  peer: fc.constantFrom('', '', 'p1')
})

/** Consul's IntentionMatch over an ordered list, one intention at a time: the reference for the index. */
function scan (list: readonly ResolvedIntention[], s: SourceService): ResolvedIntention | undefined {
  return list.find((i) =>
    (i.SourcePeer ?? '') === (s.peer ?? '') &&
    (i.SourcePartition || 'default') === (s.partition || 'default') &&
    (i.SourceNS === '*' || i.SourceNS === (s.namespace || 'default')) &&
    (i.SourceName === '*' || i.SourceName === s.service))
}

const key = (i: { SourceName: string, SourceNS?: string | undefined, SourcePeer?: string | undefined, SourcePartition?: string | undefined, DestinationName: string }): string =>
  `${i.SourcePeer ?? ''}|${i.SourcePartition ?? ''}|${i.SourceNS ?? ''}|${i.SourceName}=>${i.DestinationName}`

describe('Intentions (properties)', () => {
  it(`agrees with the TestAgent's intention store on every decision (${RUNS} intention sets × 20 callers)`, () => {
    fc.assert(fc.property(uniqueSources(true), uniqueSources(false), fc.boolean(), fc.array(caller, { minLength: 20, maxLength: 20 }), (exact, wildcard, defaultAllow, callers) => {
      const store = new IntentionStore(new IndexBoard(), () => undefined) // every destination's protocol is HTTP-like
      if (exact.length > 0) assert.equal(store.put({ Kind: 'service-intentions', Name: 'db', Sources: exact }), undefined)
      if (wildcard.length > 0) assert.equal(store.put({ Kind: 'service-intentions', Name: '*', Sources: wildcard }), undefined)
      const ix = new Intentions({ db: store.matchDestination({ name: 'db' }) }, { defaultAllow })
      for (const c of callers) {
        const expected = store.decide({ name: c.service, namespace: c.namespace!, partition: c.partition!, ...(c.peer ? { peer: c.peer } : {}) }, { name: 'db' })
        const d = ix.decide({ source: c })
        assert.equal(d.allowed, expected === undefined ? defaultAllow : intentionAllows(expected), `${JSON.stringify(c)}: ${d.reason}`)
        assert.equal(d.intention === undefined ? undefined : key(d.intention as ResolvedIntention), expected === undefined ? undefined : key(expected))
      }
    }), { numRuns: RUNS })
    console.log(`property: intentions agree with the TestAgent store: ${RUNS} cases (× 20 callers)`)
  })

  it(`finds by index what a scan of the ordered list finds (${RUNS} sets of up to 60 intentions × 30 callers)`, () => {
    const intention = fc.record({
      SourceName: name,
      SourceNS: fc.constantFrom('default', 'team', '*'),
      cluster: fc.constantFrom<Array<{ SourcePeer?: string, SourcePartition?: string }>>({}, {}, { SourcePeer: 'p1' }, { SourcePartition: 'ap1' }, { SourcePartition: 'default' }),
      DestinationName: fc.constantFrom('db', '*'),
      Action: fc.constantFrom('allow', 'deny')
    }).filter((i) => i.SourceNS !== '*' || i.SourceName === '*')
      .map(({ cluster, ...i }) => ({ ...i, ...cluster }))
    const list = fc.uniqueArray(intention, { maxLength: 60, selector: (i) => JSON.stringify([i.SourcePeer, i.SourcePartition || 'default', i.SourceNS, i.SourceName, i.DestinationName]) })
    fc.assert(fc.property(list, fc.array(caller, { minLength: 30, maxLength: 30 }), (intentions, callers) => {
      const ix = new Intentions(intentions, { defaultAllow: false, destination: 'db' })
      for (const c of callers) assert.equal(ix.match(c), scan(ix.intentions, c), JSON.stringify(c))
    }), { numRuns: RUNS })
    console.log(`property: intentions index matches an ordered scan: ${RUNS} cases (× 30 callers)`)
  })
})
