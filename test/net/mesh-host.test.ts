import assert from 'node:assert/strict'
import { InvalidOptionError } from '../../lib/errors.js'
import { parseMeshHost } from '../../lib/net/mesh-host.js'

describe('parseMeshHost', () => {
  const accepted: Array<[string, object]> = [
    ['db.service.consul', { service: 'db' }],
    ['db.service.consul.', { service: 'db' }],
    ['DB.Service.Consul', { service: 'db' }],
    ['db.connect.consul', { service: 'db' }],
    ['db.service.dc2.consul', { service: 'db', datacenter: 'dc2' }],
    ['db.service.dc2.dc.consul', { service: 'db', datacenter: 'dc2' }],
    ['db.service.dc2.cluster.consul', { service: 'db', datacenter: 'dc2' }],
    ['db.service.billing.ns.consul', { service: 'db', namespace: 'billing' }],
    ['db.service.eu.ap.consul', { service: 'db', partition: 'eu' }],
    ['db.service.billing.ns.eu.ap.dc2.dc.consul', { service: 'db', namespace: 'billing', partition: 'eu', datacenter: 'dc2' }],
    ['db.service.dc2.dc.billing.ns.consul', { service: 'db', namespace: 'billing', datacenter: 'dc2' }],
    ['db.service.billing.dc2.consul', { service: 'db', namespace: 'billing', datacenter: 'dc2' }],
    ['web-api_v2.service.consul', { service: 'web-api_v2' }],
    ['nearest-db.query.consul', { query: 'nearest-db' }],
    ['nearest-db.query.dc2.consul', { query: 'nearest-db', datacenter: 'dc2' }],
    ['nearest-db.query.dc2.dc.consul', { query: 'nearest-db', datacenter: 'dc2' }]
  ]
  for (const [host, target] of accepted) {
    it(`reads ${host}`, () => {
      const parsed = parseMeshHost(host)
      assert.deepEqual({ ...parsed }, target)
      assert.ok(Object.isFrozen(parsed))
    })
  }

  it('reads names under a configured domain', () => {
    assert.deepEqual({ ...parseMeshHost('db.service.dc2.mesh.example', { domain: 'mesh.example' }) }, { service: 'db', datacenter: 'dc2' })
    assert.throws(() => parseMeshHost('db.service.consul', { domain: 'mesh.example' }), /under "\.mesh\.example"/)
  })

  const rejected: Array<[string, RegExp]> = [
    ['db.example.com', /expected a name under "\.consul"/],
    ['consul', /expected a name under/],
    ['db.consul', /expected "<service>\.service\.consul"/],
    ['service.consul', /no name before "\.service"/],
    ['primary.db.service.consul', /tag filters/],
    ['_db._tcp.service.consul', /RFC 2782/],
    ['db.virtual.consul', /"\.virtual\." names are not supported/],
    ['db.ingress.consul', /"\.ingress\." names are not supported/],
    ['node1.node.consul', /"\.node\." names are not supported/],
    ['db.service.other.peer.consul', /cluster peers/],
    ['db.service.group.sg.consul', /sameness groups/],
    ['db.service.a.dc.b.dc.consul', /"\.dc" is given twice/],
    ['db.service.a.ns.b.xx.consul', /unknown locality label "\.xx"/],
    ['db.service.a.b.c.consul', /expected "\.<datacenter>" or up to three/],
    ['q.query.billing.ns.consul', /prepared query takes no namespace/],
    ['a.q.query.consul', /single label/],
    ['d b.service.consul', /is not a DNS label/],
    ['db..service.consul', /is not a DNS label/]
  ]
  for (const [host, message] of rejected) {
    it(`rejects ${JSON.stringify(host)}`, () => {
      assert.throws(() => parseMeshHost(host), (err: unknown) => {
        assert.ok(err instanceof InvalidOptionError)
        assert.equal(err.code, 'ERR_CONNECT_INVALID_OPTION')
        assert.equal(err.field, 'hostname')
        assert.match(err.message, message)
        return true
      })
    })
  }

  it('rejects an empty hostname and a bad domain option', () => {
    assert.throws(() => parseMeshHost(''), InvalidOptionError)
    assert.throws(() => parseMeshHost('db.service.consul', { domain: 'bad domain' }), (err: unknown) =>
      err instanceof InvalidOptionError && err.field === 'domain')
  })
})
