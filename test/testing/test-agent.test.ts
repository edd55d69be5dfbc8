import assert from 'node:assert/strict'
import { X509Certificate, createPrivateKey } from 'node:crypto'
import { TestAgent, TestCA } from '../../lib/testing/index.js'
import { ConnectError } from '../../lib/errors.js'
import { call, pemBlocks } from './test-agent-client.js'

const GO_TIME = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/
const ROOTS = '/v1/agent/connect/ca/roots'

describe('TestAgent', () => {
  let agent: TestAgent

  beforeEach(async () => {
    agent = await TestAgent.start()
  })

  afterEach(async () => {
    await agent.close()
  })

  describe('.start', () => {
    it('listens on 127.0.0.1 and reports its address and url', () => {
      assert.match(agent.address, /^127\.0\.0\.1:\d+$/)
      assert.equal(agent.url, `http://${agent.address}`)
      assert.ok(agent.port > 0)
      assert.equal(agent.datacenter, 'dc1')
      assert.equal(agent.trustDomain, agent.ca.trustDomain)
    })

    it('uses a given CA and datacenter', async () => {
      const ca = await TestCA.create()
      const other = await TestAgent.start({ ca, datacenter: 'east', nodeName: 'n1' })
      try {
        assert.equal(other.ca, ca)
        const leaf = (await call(other, '/v1/agent/connect/ca/leaf/web')).json()
        assert.equal(leaf.ServiceURI, `spiffe://${ca.trustDomain}/ns/default/dc/east/svc/web`)
      } finally {
        await other.close()
      }
    })

    const invalid: Array<[string, Record<string, unknown>, string]> = [
      ['an unknown option', { datacenters: 'dc1' }, 'options'],
      ['a bad datacenter', { datacenter: 'dc 1' }, 'datacenter'],
      ['a too short leaf TTL', { leafTtlMs: 10 }, 'leafTtlMs'],
      ['a bad ACL policy', { acl: { defaultPolicy: 'maybe' } }, 'acl.defaultPolicy'],
      ['a bad token grant', { acl: { defaultPolicy: 'deny', tokens: { s: { serviceWrite: 'web' } } } }, 'acl.tokens.s.serviceWrite'],
      ['a non-TestCA ca', { ca: { rootPem: 'x' } }, 'ca'],
      ['a port out of range', { port: 70000 }, 'port']
    ]
    for (const [what, options, field] of invalid) {
      it(`rejects ${what}, naming the field`, async () => {
        await assert.rejects(TestAgent.start(options as never), (err: unknown) => {
          assert.ok(err instanceof ConnectError)
          assert.equal(err.code, 'ERR_CONNECT_INVALID_OPTION')
          assert.equal((err as unknown as { field: string }).field, field)
          return true
        })
      })
    }

    it('rejects a trust domain that differs from the given CA', async () => {
      const ca = await TestCA.create()
      await assert.rejects(TestAgent.start({ ca, trustDomain: 'other.consul' }), { code: 'ERR_CONNECT_INVALID_OPTION', field: 'trustDomain' })
    })
  })

  describe(`GET ${ROOTS}`, () => {
    it('answers the roots as Consul shapes them', async () => {
      const answer = await call(agent, ROOTS)
      assert.equal(answer.status, 200)
      assert.equal(answer.headers['content-type'], 'application/json')
      const body = answer.json()
      assert.deepEqual(Object.keys(body), ['ActiveRootID', 'TrustDomain', 'Roots'])
      assert.equal(body.TrustDomain, agent.trustDomain)
      assert.equal(body.Roots.length, 1)
      const root = body.Roots[0]
      assert.deepEqual(Object.keys(root), [
        'ID', 'Name', 'SerialNumber', 'SigningKeyID', 'ExternalTrustDomain', 'NotBefore', 'NotAfter', 'RootCert',
        'IntermediateCerts', 'Active', 'PrivateKeyType', 'PrivateKeyBits', 'CreateIndex', 'ModifyIndex'
      ])
      const cert = new X509Certificate(root.RootCert)
      // ID: SHA-1 of the DER, lower-case colon-hex; the active root's ID is ActiveRootID.
      assert.equal(root.ID, cert.fingerprint.toLowerCase())
      assert.equal(body.ActiveRootID, root.ID)
      assert.equal(root.Active, true)
      assert.equal(root.Name, 'Consul CA Primary Cert')
      assert.equal(root.SigningKeyID, agent.ca.subjectKeyId)
      assert.equal(root.ExternalTrustDomain, agent.trustDomain.replace(/\.consul$/, ''))
      assert.equal(root.IntermediateCerts, null)
      assert.equal(root.PrivateKeyType, 'ec')
      assert.equal(root.PrivateKeyBits, 256)
      assert.match(root.NotBefore, GO_TIME)
      assert.equal(new Date(root.NotAfter).getTime(), new Date(cert.validTo).getTime())
      // SerialNumber: the low 64 bits of the serial, written exactly (beyond what JSON.parse keeps).
      const serialText = /"SerialNumber":(\d+)/.exec(answer.text)![1]!
      assert.equal(BigInt(serialText), BigInt(`0x${cert.serialNumber}`) & ((1n << 64n) - 1n))
    })

    it('sends the agent headers on every answer', async () => {
      const answer = await call(agent, ROOTS)
      assert.equal(answer.headers['x-consul-knownleader'], 'true')
      assert.equal(answer.headers['x-consul-lastcontact'], '0')
      assert.equal(answer.headers['x-consul-default-acl-policy'], 'allow')
      assert.ok(answer.index > 1)
      assert.match(String(answer.headers['x-cache']), /^(HIT|MISS)$/)
    })

    it('holds a blocking query until the roots change, then answers the new state', async () => {
      const first = await call(agent, ROOTS)
      const held = agent.nextRequest({ path: ROOTS, held: true })
      const pending = call(agent, `${ROOTS}?index=${first.index}&wait=1m`)
      await held
      assert.equal(agent.counters.held, 1)
      const next = await agent.rotateRoot()
      const answer = await pending
      assert.ok(answer.index > first.index)
      assert.equal(answer.json().ActiveRootID, next.id)
      assert.equal(agent.counters.held, 0)
    })

    it('answers the unchanged state when the wait expires', async () => {
      const first = await call(agent, ROOTS)
      const started = Date.now()
      const answer = await call(agent, `${ROOTS}?index=${first.index}&wait=200ms`)
      assert.ok(Date.now() - started >= 190, 'held for the wait')
      assert.equal(answer.status, 200)
      assert.equal(answer.index, first.index)
      assert.deepEqual(answer.json(), first.json())
    })

    it('answers at once when the index is already behind', async () => {
      const first = await call(agent, ROOTS)
      const answer = await call(agent, `${ROOTS}?index=${first.index - 1}&wait=1m`)
      assert.equal(answer.index, first.index)
      assert.equal(agent.counters.heldTotal, 0)
    })

    const badParams: Array<[string, string]> = [['wait=10', 'Invalid wait time'], ['wait=soon', 'Invalid wait time'], ['index=-1', 'Invalid index'], ['index=x', 'Invalid index']]
    for (const [query, text] of badParams) {
      it(`answers 400 "${text}" to ?${query}`, async () => {
        const answer = await call(agent, `${ROOTS}?${query}`)
        assert.equal(answer.status, 400)
        assert.equal(answer.text, text)
      })
    }
  })

  describe('GET /v1/connect/ca/roots', () => {
    it('answers the same roots, or a PEM bundle with ?pem=true', async () => {
      await agent.rotateRoot()
      const json = (await call(agent, '/v1/connect/ca/roots')).json()
      assert.equal(json.Roots.length, 2)
      const pem = await call(agent, '/v1/connect/ca/roots?pem=true')
      assert.equal(pem.headers['content-type'], 'application/pem-certificate-chain')
      assert.equal(pemBlocks(pem.text).length, 3, 'two roots and the cross-signed one')
      assert.equal((await call(agent, '/v1/connect/ca/roots?pem=maybe')).status, 400)
    })
  })

  describe('GET /v1/agent/connect/ca/leaf/<service>', () => {
    it('issues a leaf lazily from the active root, shaped as Consul shapes it', async () => {
      assert.equal(agent.counters.leavesIssued, 0)
      const answer = await call(agent, '/v1/agent/connect/ca/leaf/web')
      assert.equal(answer.status, 200)
      const leaf = answer.json()
      assert.deepEqual(Object.keys(leaf), [
        'SerialNumber', 'CertPEM', 'PrivateKeyPEM', 'Service', 'ServiceURI', 'ValidAfter', 'ValidBefore', 'CreateIndex', 'ModifyIndex'
      ])
      assert.equal(leaf.Service, 'web')
      assert.equal(leaf.ServiceURI, `spiffe://${agent.trustDomain}/ns/default/dc/dc1/svc/web`)
      const cert = new X509Certificate(pemBlocks(leaf.CertPEM)[0]!)
      assert.ok(cert.verify(new X509Certificate(agent.ca.rootPem).publicKey))
      assert.equal(cert.subjectAltName, `URI:${leaf.ServiceURI}`)
      assert.equal(leaf.SerialNumber, cert.serialNumber.toLowerCase().replace(/^(00)+/, '').match(/../g)!.join(':'))
      assert.match(leaf.PrivateKeyPEM, /^-----BEGIN EC PRIVATE KEY-----/)
      assert.ok(cert.checkPrivateKey(createPrivateKey(leaf.PrivateKeyPEM)))
      assert.match(leaf.ValidAfter, GO_TIME)
      assert.equal(new Date(leaf.ValidBefore).getTime(), new Date(cert.validTo).getTime())
      assert.equal(leaf.CreateIndex, answer.index)
      assert.equal(leaf.ModifyIndex, answer.index)
      assert.equal(agent.counters.leavesIssued, 1)
    })

    it('serves the cached leaf afterwards: same serial, X-Cache MISS then HIT', async () => {
      const first = await call(agent, '/v1/agent/connect/ca/leaf/web')
      const second = await call(agent, '/v1/agent/connect/ca/leaf/web')
      assert.equal(first.headers['x-cache'], 'MISS')
      assert.equal(second.headers['x-cache'], 'HIT')
      assert.match(String(second.headers.age), /^\d+$/)
      assert.equal(second.json().SerialNumber, first.json().SerialNumber)
      assert.equal(second.index, first.index)
      assert.equal(agent.counters.leavesIssued, 1)
    })

    it('releases a blocking query when the leaf is renewed', async () => {
      const first = await call(agent, '/v1/agent/connect/ca/leaf/web')
      const held = agent.nextRequest({ path: '/v1/agent/connect/ca/leaf/web', held: true })
      const pending = call(agent, `/v1/agent/connect/ca/leaf/web?index=${first.index}&wait=1m`)
      await held
      const renewed = await agent.renewLeaf('web')
      const answer = await pending
      assert.ok(answer.index > first.index)
      assert.equal(answer.json().SerialNumber, renewed.serial)
      assert.notEqual(renewed.serial, first.json().SerialNumber)
    })

    it('renews a leaf by itself before it expires', async () => {
      const shortLived = await TestAgent.start({ leafTtlMs: 1000 })
      try {
        const first = await call(shortLived, '/v1/agent/connect/ca/leaf/web')
        const answer = await call(shortLived, `/v1/agent/connect/ca/leaf/web?index=${first.index}&wait=10s`)
        assert.notEqual(answer.json().SerialNumber, first.json().SerialNumber)
        const validity = new Date(answer.json().ValidBefore).getTime() - Date.now()
        assert.ok(validity > 0 && validity <= 1000, 'the renewed leaf has the short TTL too')
      } finally {
        await shortLived.close()
      }
    })

    it('gives the control method and the endpoint the same leaf', async () => {
      const leaf = await agent.leaf('api')
      const answer = await call(agent, '/v1/agent/connect/ca/leaf/api')
      assert.equal(answer.json().SerialNumber, leaf.serial)
      assert.equal(answer.json().CertPEM, leaf.certPem)
    })
  })

  describe('#rotateRoot', () => {
    it('lists both roots with the new one active, and keeps the old one until pruned', async () => {
      const old = agent.ca
      const next = await agent.rotateRoot()
      assert.notEqual(next.id, old.id)
      assert.equal(next.trustDomain, old.trustDomain)
      const body = (await call(agent, ROOTS)).json()
      assert.equal(body.ActiveRootID, next.id)
      assert.deepEqual(new Map(body.Roots.map((r: { ID: string, Active: boolean }) => [r.ID, r.Active])), new Map([[old.id, false], [next.id, true]]))
      assert.deepEqual(agent.roots, [old, next])
      assert.equal(agent.pruneRoots(), 1)
      const pruned = (await call(agent, ROOTS)).json()
      assert.deepEqual(pruned.Roots.map((r: { ID: string }) => r.ID), [next.id])
    })

    it('ships the cross-signed root after the leaf, so new leaves verify to the OLD root', async () => {
      const old = agent.ca
      await agent.leaf('web')
      const next = await agent.rotateRoot()
      const leaf = (await call(agent, '/v1/agent/connect/ca/leaf/web')).json()
      const [leafPem, crossPem, ...rest] = pemBlocks(leaf.CertPEM)
      assert.equal(rest.length, 0)
      const cert = new X509Certificate(leafPem!)
      const cross = new X509Certificate(crossPem!)
      const oldRoot = new X509Certificate(old.rootPem)
      const newRoot = new X509Certificate(next.rootPem)
      // leaf <- cross-signed (new root's subject and key, issued by the old root) <- old root
      assert.ok(cert.checkIssued(cross))
      assert.ok(cert.verify(cross.publicKey))
      assert.ok(cross.checkIssued(oldRoot))
      assert.ok(cross.verify(oldRoot.publicKey))
      assert.ok(!cert.verify(oldRoot.publicKey), 'the leaf itself is signed by the new key')
      assert.ok(cert.verify(newRoot.publicKey))
      // The new root's entry lists the cross-signed certificate as its intermediate.
      const roots = (await call(agent, ROOTS)).json()
      const active = roots.Roots.find((r: { Active: boolean }) => r.Active)
      assert.deepEqual(active.IntermediateCerts, [crossPem])
    })

    it('re-issues every issued leaf', async () => {
      const before = await agent.leaf('web')
      await agent.rotateRoot()
      const after = await agent.leaf('web')
      assert.notEqual(after.serial, before.serial)
      assert.equal(agent.counters.rootRotations, 1)
      assert.equal(agent.counters.leavesIssued, 2)
    })

    it('rotates through PUT /v1/connect/ca/configuration, like the agent', async () => {
      const old = agent.ca
      const answer = await call(agent, '/v1/connect/ca/configuration', { method: 'PUT', body: { Provider: 'consul', Config: { LeafCertTTL: '2h' } } })
      assert.equal(answer.status, 200)
      assert.equal(answer.text, '')
      assert.notEqual(agent.ca.id, old.id)
      const config = (await call(agent, '/v1/connect/ca/configuration')).json()
      assert.equal(config.Provider, 'consul')
      assert.equal(config.Config.LeafCertTTL, '7200s')
      const leaf = await agent.leaf('web')
      assert.ok(Math.abs(leaf.notAfter.getTime() - Date.now() - 2 * 3_600_000) < 60_000)
    })

    it('refuses a CA of another trust domain', async () => {
      await assert.rejects(agent.rotateRoot({ ca: await TestCA.create() }), { code: 'ERR_CONNECT_INVALID_OPTION', field: 'ca' })
    })
  })

  describe('GET /v1/health/connect/<service>', () => {
    it('lists registered instances with node, service and checks', async () => {
      agent.registerService({ name: 'db', id: 'db-1', port: 9001, tags: ['primary'], meta: { v: '1' } })
      const body = (await call(agent, '/v1/health/connect/db')).json()
      assert.equal(body.length, 1)
      const [entry] = body
      assert.deepEqual(Object.keys(entry), ['Node', 'Service', 'Checks'])
      assert.equal(entry.Node.Node, agent.nodeName)
      assert.equal(entry.Node.Datacenter, 'dc1')
      assert.equal(entry.Service.ID, 'db-1')
      assert.equal(entry.Service.Service, 'db')
      assert.equal(entry.Service.Address, '127.0.0.1')
      assert.equal(entry.Service.Port, 9001)
      assert.deepEqual(entry.Service.Tags, ['primary'])
      assert.deepEqual(entry.Service.Meta, { v: '1' })
      assert.deepEqual(entry.Service.Connect, { Native: true })
      assert.deepEqual(entry.Checks.map((c: { CheckID: string, Status: string }) => [c.CheckID, c.Status]), [['serfHealth', 'passing'], ['service:db-1', 'passing']])
    })

    it('filters out failing instances with ?passing', async () => {
      agent.registerService({ name: 'db', id: 'db-1', port: 9001 })
      agent.registerService({ name: 'db', id: 'db-2', port: 9002, passing: false })
      const all = (await call(agent, '/v1/health/connect/db')).json()
      const passing = (await call(agent, '/v1/health/connect/db?passing')).json()
      assert.deepEqual(all.map((e: { Service: { ID: string } }) => e.Service.ID), ['db-1', 'db-2'])
      assert.deepEqual(passing.map((e: { Service: { ID: string } }) => e.Service.ID), ['db-1'])
      assert.equal((await call(agent, '/v1/health/connect/db?passing=maybe')).status, 400)
    })

    it('releases a blocking query when an instance registers, and answers [] for unknown services', async () => {
      const empty = await call(agent, '/v1/health/connect/db')
      assert.deepEqual(empty.json(), [])
      const held = agent.nextRequest({ path: '/v1/health/connect/db', held: true })
      const pending = call(agent, `/v1/health/connect/db?index=${empty.index}&wait=1m`)
      await held
      agent.registerService({ name: 'db', port: 9001 })
      const answer = await pending
      assert.ok(answer.index > empty.index)
      assert.equal(answer.json()[0].Service.ID, 'db')
    })

    it('follows deregistration and health changes', async () => {
      agent.registerService({ name: 'db', port: 9001 })
      assert.equal(agent.setServiceHealth('db', false), true)
      assert.deepEqual((await call(agent, '/v1/health/connect/db?passing')).json(), [])
      assert.equal(agent.deregisterService('db'), true)
      assert.equal(agent.deregisterService('db'), false)
      assert.deepEqual((await call(agent, '/v1/health/connect/db')).json(), [])
    })

    it('validates registrations', () => {
      assert.throws(() => agent.registerService({ name: 'db', port: 0 }), { code: 'ERR_CONNECT_INVALID_OPTION', field: 'service.port' })
      assert.throws(() => agent.registerService({ name: '', port: 1 }), { field: 'service.name' })
    })
  })

  describe('GET /v1/agent/self', () => {
    it('answers the agent configuration', async () => {
      const body = (await call(agent, '/v1/agent/self')).json()
      assert.equal(body.Config.Datacenter, 'dc1')
      assert.equal(body.Config.NodeName, 'test-agent')
      assert.equal(body.Config.NodeID, agent.nodeId)
      assert.match(body.Config.Version, /^\d+\.\d+\.\d+$/)
      assert.equal(body.DebugConfig.ConnectEnabled, true)
    })
  })

  describe('routing', () => {
    it('answers 404 with the agent text for unknown paths', async () => {
      const api = await call(agent, '/v1/agent/nothing')
      assert.equal(api.status, 404)
      assert.equal(api.text, 'Invalid URL path: not a recognized HTTP API endpoint\n')
      const other = await call(agent, '/favicon.ico')
      assert.equal(other.status, 404)
      assert.equal(other.text, "Invalid URL path: if attempting to use the HTTP API, ensure the path starts with '/v1/'\n")
    })

    it('answers 405 with an Allow header for a wrong method, and the Allow header to OPTIONS', async () => {
      const wrong = await call(agent, '/v1/agent/connect/authorize')
      assert.equal(wrong.status, 405)
      assert.equal(wrong.text, 'method GET not allowed')
      assert.equal(wrong.headers.allow, 'OPTIONS,POST')
      const options = await call(agent, '/v1/connect/intentions/exact', { method: 'OPTIONS' })
      assert.equal(options.status, 200)
      assert.equal(options.headers.allow, 'OPTIONS,GET,PUT,DELETE')
    })

    it('refuses namespaces and partitions as Community Edition does', async () => {
      const ns = await call(agent, '/v1/agent/connect/ca/leaf/web?ns=team')
      assert.equal(ns.status, 400)
      assert.equal(ns.text, 'Invalid query parameter: "ns" - Namespaces are a Consul Enterprise feature')
      const header = await call(agent, '/v1/health/connect/web', { headers: { 'X-Consul-Partition': 'p1' } })
      assert.equal(header.status, 400)
      assert.equal(header.text, 'Invalid header: "X-Consul-Partition" - Partitions are a Consul Enterprise feature')
    })

    it('answers 500 "No path to datacenter" for another datacenter', async () => {
      const answer = await call(agent, '/v1/health/connect/web?dc=elsewhere')
      assert.equal(answer.status, 500)
      assert.equal(answer.text, 'No path to datacenter')
    })
  })

  describe('request log', () => {
    it('records method, path and query, never the token', async () => {
      await call(agent, `${ROOTS}?token=secret-1&stale`, { token: 'secret-2' })
      await call(agent, '/v1/agent/connect/ca/leaf/web', { method: 'GET' })
      const [roots, leaf] = agent.requests
      assert.deepEqual({ ...roots, at: 0 }, { seq: 1, method: 'GET', path: ROOTS, query: { stale: '' }, hasToken: true, at: 0 })
      assert.equal(leaf!.path, '/v1/agent/connect/ca/leaf/web')
      assert.equal(leaf!.hasToken, false)
      assert.ok(!JSON.stringify(agent.requests).includes('secret'))
      assert.equal(agent.requestCount({ path: /leaf/ }), 1)
      assert.equal(agent.counters.requests, 2)
      agent.clearRequests()
      assert.deepEqual(agent.requests, [])
      assert.equal(agent.counters.requests, 2)
    })

    it('resolves nextRequest on arrival and rejects it on abort', async () => {
      const next = agent.nextRequest({ method: 'get', path: ROOTS })
      await call(agent, ROOTS)
      assert.equal((await next).path, ROOTS)
      const controller = new AbortController()
      const waiting = agent.nextRequest({}, { signal: controller.signal })
      controller.abort()
      await assert.rejects(waiting, { code: 'ERR_CONNECT_ABORTED' })
    })
  })

  describe('#close', () => {
    it('ends a held blocking query, rejects waits, and is idempotent', async () => {
      const first = await call(agent, ROOTS)
      const held = agent.nextRequest({ path: ROOTS, held: true })
      const pending = call(agent, `${ROOTS}?index=${first.index}&wait=5m`).then(() => 'answered', () => 'failed')
      await held
      const waiting = assert.rejects(agent.nextRequest({ path: '/never' }), { code: 'ERR_CONNECT_CLOSED' })
      await Promise.all([agent.close(), agent.close()])
      assert.equal(await pending, 'failed')
      await waiting
      await assert.rejects(call(agent, ROOTS), { code: 'ECONNREFUSED' })
    })
  })
})
