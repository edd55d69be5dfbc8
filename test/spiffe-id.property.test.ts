import assert from 'node:assert/strict'
import fc from 'fast-check'
import { SpiffeIdError } from '../lib/errors.js'
import { formatSpiffeId, isSpiffeId, parseSpiffeId } from '../lib/spiffe-id.js'
import type { SpiffeId, SpiffeIdInput } from '../lib/spiffe-id.js'

const RUNS = 1000

/**
 * Field values the module promises to round-trip: non-empty, not "." or "..", no "/", no control character and
 * no unpaired surrogate (which has no UTF-8 encoding).
 */
function isRoundTrippable (v: string): boolean {
  // eslint-disable-next-line no-control-regex
  return v.length > 0 && v !== '.' && v !== '..' && !/[/\u0000-\u001f\u007f-\u009f]|\p{Surrogate}/u.test(v)
}

// Reserved URI characters, percent signs, dots, spaces and non-ASCII next to plain letters, so that every
// branch of the encoder is exercised, plus arbitrary code points (astral planes included).
const tricky = fc.constantFrom(...Array.from('%?#[]:@!$&\'()*+,;=~.-_ aZ9éß€😀\u00a0'))
const segment = fc.oneof(
  fc.string({ unit: tricky, minLength: 1, maxLength: 12 }),
  fc.string({ unit: 'binary', minLength: 1, maxLength: 12 }),
  fc.constantFrom('default', 'web', 'dc1', 'ap', 'ns', '...'),
).filter(isRoundTrippable)
const trustDomain = fc.string({ unit: fc.constantFrom(...'abcdefghijklmnopqrstuvwxyz0123456789.-_'.split('')), minLength: 1, maxLength: 40 })

const input: fc.Arbitrary<SpiffeIdInput> = fc.oneof(
  fc.record({ kind: fc.constant('service' as const), trustDomain, service: segment, datacenter: segment, namespace: segment, partition: segment },
    { requiredKeys: ['kind', 'trustDomain', 'service', 'datacenter'] }),
  fc.record({ kind: fc.constant('agent' as const), trustDomain, datacenter: segment, node: segment, partition: segment },
    { requiredKeys: ['kind', 'trustDomain', 'datacenter', 'node'] }),
  fc.record({ kind: fc.constant('server' as const), trustDomain, datacenter: segment }),
  fc.record({ kind: fc.constant('mesh-gateway' as const), trustDomain, datacenter: segment, partition: segment },
    { requiredKeys: ['kind', 'trustDomain', 'datacenter'] }),
  fc.record({ kind: fc.constant('signing' as const), trustDomain: trustDomain.filter((s) => !s.includes('.')).map((s) => `${s}.consul`) }),
)

/** The value parse must give back for an input: the input with defaults filled in, and its canonical uri. */
function expected (id: SpiffeIdInput, uri: string): SpiffeId {
  switch (id.kind) {
    case 'service': return { ...id, partition: id.partition ?? 'default', namespace: id.namespace ?? 'default', uri }
    case 'agent': return { ...id, partition: id.partition ?? 'default', uri }
    case 'mesh-gateway': return { ...id, partition: id.partition ?? 'default', uri }
    case 'server': return { ...id, uri }
    case 'signing': return { ...id, clusterId: id.trustDomain.slice(0, -'.consul'.length), uri }
  }
}

/** Every byte percent-encoded with lower-case hex: a different spelling of the same field. */
function encodeEveryByte (v: string): string {
  return Array.from(Buffer.from(v, 'utf8'), (b) => `%${b.toString(16).padStart(2, '0')}`).join('')
}

let cases = 0
function counted<T> (arb: fc.Arbitrary<T>): fc.Arbitrary<T> {
  return arb.map((v) => { cases++; return v })
}

describe('spiffe-id (properties)', () => {
  beforeEach(() => { cases = 0 })
  afterEach(function () {
    // Reported in the output so a run shows how many generated cases it checked.
    if (this.currentTest?.state === 'passed') {
      assert.ok(cases >= RUNS, `only ${cases} cases ran`)
      console.log(`property: spiffe-id ${this.currentTest.title.replace(/ \(\d+ generated cases\)$/, '')}: ${cases} cases`)
    }
  })

  it(`parse(format(id)) deep-equals id with defaults filled in (${RUNS} generated cases)`, () => {
    fc.assert(fc.property(counted(input), (id) => {
      const uri = formatSpiffeId(id)
      assert.deepEqual(parseSpiffeId(uri), expected(id, uri))
    }), { numRuns: RUNS })
  })

  it(`format(parse(format(id))) equals format(id) (${RUNS} generated cases)`, () => {
    fc.assert(fc.property(counted(input), (id) => {
      const uri = formatSpiffeId(id)
      const parsed = parseSpiffeId(uri)
      assert.equal(parsed.uri, uri)
      assert.equal(formatSpiffeId(parsed), uri)
    }), { numRuns: RUNS })
  })

  it(`fully percent-encoded spellings parse to the same ID (${RUNS} generated cases)`, () => {
    const service = fc.record({ trustDomain, partition: segment, namespace: segment, datacenter: segment, service: segment })
    fc.assert(fc.property(counted(service), (p) => {
      const canonical = formatSpiffeId({ kind: 'service', ...p })
      const spelled = `spiffe://${p.trustDomain}/ap/${encodeEveryByte(p.partition)}/ns/${encodeEveryByte(p.namespace)}` +
        `/dc/${encodeEveryByte(p.datacenter)}/svc/${encodeEveryByte(p.service)}`
      fc.pre(spelled.length <= 2048)
      assert.deepEqual(parseSpiffeId(spelled), parseSpiffeId(canonical))
    }), { numRuns: RUNS })
  })

  it(`an encoded "/" inside any field is rejected as INVALID (${RUNS} generated cases)`, () => {
    fc.assert(fc.property(counted(fc.tuple(segment, segment, fc.integer({ min: 0, max: 2 }))), ([a, b, at]) => {
      const fields = ['ns1', 'dc1', 'web']
      fields[at] = `${encodeEveryByte(a)}%2F${encodeEveryByte(b)}`
      const uri = `spiffe://td.consul/ns/${fields[0]}/dc/${fields[1]}/svc/${fields[2]}`
      assert.throws(() => parseSpiffeId(uri), (err: unknown) => err instanceof SpiffeIdError && err.code === 'ERR_CONNECT_SPIFFE_ID_INVALID')
    }), { numRuns: RUNS })
  })

  it(`any string either parses or throws a SpiffeIdError, and isSpiffeId agrees (${RUNS} generated cases)`, () => {
    const anyString = fc.oneof(
      fc.string({ unit: 'binary', maxLength: 80 }),
      fc.string({ unit: fc.constantFrom(...'spiffe:/%.2Fa-_?#@ns dcvgtwymhl'.split('')), maxLength: 60 }).map((s) => `spiffe://${s}`),
      input.map(formatSpiffeId).chain((uri) => fc.nat({ max: uri.length }).map((at) => uri.slice(0, at))),
    )
    fc.assert(fc.property(counted(anyString), (s) => {
      let ok: boolean
      try {
        const id = parseSpiffeId(s)
        assert.deepEqual(parseSpiffeId(id.uri), id) // whatever parses has a canonical form that parses the same
        ok = true
      } catch (err) {
        if (!(err instanceof SpiffeIdError)) throw err
        assert.ok(err.code === 'ERR_CONNECT_SPIFFE_ID_INVALID' || err.code === 'ERR_CONNECT_SPIFFE_ID_UNSUPPORTED')
        assert.equal(err.input, s)
        ok = false
      }
      assert.equal(isSpiffeId(s), ok)
    }), { numRuns: RUNS })
  })
})
