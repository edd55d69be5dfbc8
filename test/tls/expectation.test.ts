import assert from 'node:assert/strict'
import { InvalidOptionError } from '../../lib/errors.js'
import { parseCertificate } from '../../lib/identity/x509.js'
import { TestCA } from '../../lib/testing/test-ca.js'
import { compileExpectation } from '../../lib/tls/expectation.js'
import type { ServerExpectation } from '../../lib/tls/expectation.js'

describe('compileExpectation', () => {
  let ca: TestCA
  const der = new Map<string, Buffer>()

  /** DER of a leaf whose URI SANs are `uris`. */
  async function leaf (...uris: string[]): Promise<Buffer> {
    const key = uris.join(' ')
    if (!der.has(key)) der.set(key, parseCertificate((await ca.issueLeaf({ uris })).leafPem).der)
    return der.get(key)!
  }

  before(async () => {
    ca = await TestCA.create({ trustDomain: '11111111-2222-3333-4444-555555555555.consul' })
  })

  const td = '11111111-2222-3333-4444-555555555555.consul'
  const db = `spiffe://${td}/ns/default/dc/dc1/svc/db`
  const cases: Array<{ expect: ServerExpectation, uris: string[], result: 'ok' | string }> = [
    { expect: { service: 'db' }, uris: [db], result: 'ok' },
    { expect: { service: 'DB' }, uris: [db], result: 'ok' },
    { expect: { service: 'db', namespace: 'default', partition: 'default' }, uris: [`spiffe://${td}/ap/default/ns/default/dc/dc1/svc/db`], result: 'ok' },
    { expect: { service: 'db' }, uris: ['spiffe://another.consul/ns/default/dc/dc2/svc/db'], result: 'ok' },
    { expect: { service: 'db', datacenter: 'dc1' }, uris: [db], result: 'ok' },
    { expect: { service: 'db', datacenter: 'dc2' }, uris: [db], result: 'ERR_CONNECT_PEER_VERIFICATION' },
    { expect: { service: 'db' }, uris: [`spiffe://${td}/ns/team/dc/dc1/svc/db`], result: 'ERR_CONNECT_PEER_VERIFICATION' },
    { expect: { service: 'db', namespace: 'team' }, uris: [`spiffe://${td}/ns/team/dc/dc1/svc/db`], result: 'ok' },
    { expect: { service: 'db' }, uris: [`spiffe://${td}/ap/eu/ns/default/dc/dc1/svc/db`], result: 'ERR_CONNECT_PEER_VERIFICATION' },
    { expect: { service: 'db' }, uris: [`spiffe://${td}/ns/default/dc/dc1/svc/web`], result: 'ERR_CONNECT_PEER_VERIFICATION' },
    { expect: { service: 'db' }, uris: [`spiffe://${td}/gateway/mesh/dc/dc1`], result: 'ERR_CONNECT_PEER_VERIFICATION' },
    { expect: { service: 'db' }, uris: [`spiffe://${td}/agent/client/dc/dc1/id/db`], result: 'ERR_CONNECT_PEER_VERIFICATION' },
    { expect: { service: 'db' }, uris: [`spiffe://${td}/ns/default/dc/dc1/svc/db/extra`], result: 'ERR_CONNECT_SPIFFE_ID_UNSUPPORTED' },
    { expect: { service: 'db' }, uris: [`spiffe://${td}/ns/default/dc/dc1/svc/d%zz`], result: 'ERR_CONNECT_SPIFFE_ID_INVALID' },
    { expect: { service: 'db' }, uris: [], result: 'ERR_CONNECT_CERT_SAN' },
    { expect: { service: 'db' }, uris: [db, db], result: 'ERR_CONNECT_CERT_SAN' },
    { expect: (id) => id.kind === 'service' && id.datacenter === 'dc1', uris: [db], result: 'ok' },
    { expect: () => true, uris: [`spiffe://${td}/agent/server/dc/dc1`], result: 'ERR_CONNECT_PEER_VERIFICATION' }
  ]

  for (const { expect, uris, result } of cases) {
    const name = typeof expect === 'function' ? 'a predicate' : JSON.stringify(expect)
    it(`${result === 'ok' ? 'accepts' : `refuses with ${result}`}: ${name} against ${uris.join(', ') || 'no URI'}`, async () => {
      const verdict = compileExpectation(expect).verify(await leaf(...uris))
      if (result === 'ok') {
        assert.equal(verdict.ok, true, verdict.ok ? '' : verdict.error.message)
      } else {
        assert.equal(verdict.ok, false)
        if (!verdict.ok) {
          assert.equal(verdict.error.code, result)
          assert.match(verdict.error.message, /^server identity: expected /)
        }
      }
    })
  }

  it('describes the expectation, with the datacenter only when given', () => {
    assert.equal(compileExpectation({ service: 'db' }).description, 'service "db" (namespace "default", partition "default")')
    assert.equal(compileExpectation({ service: 'db', namespace: 'n', partition: 'p', datacenter: 'dc3' }).description,
      'service "db" (namespace "n", partition "p", datacenter "dc3")')
  })

  it('rejects malformed expectations, naming the field', () => {
    const cases: Array<[unknown, string]> = [
      [null, 'expect'],
      ['db', 'expect'],
      [{}, 'expect.service'],
      [{ service: 'db', namespace: '' }, 'expect.namespace'],
      [{ service: 'db', partition: 3 }, 'expect.partition'],
      [{ service: 'db', svc: 'x' }, 'expect.svc'],
      [{ service: '..' }, 'expect']
    ]
    for (const [expect, field] of cases) {
      assert.throws(() => compileExpectation(expect as ServerExpectation), (err: Error) => err instanceof InvalidOptionError && err.field === field, JSON.stringify(expect))
    }
  })
})
