import assert from 'node:assert/strict'
import { AgentClient } from '../../lib/agent/client.js'
import type { AgentClientOptions } from '../../lib/agent/options.js'
import { watchHealthConnect, watchIntentions, watchLeaf, watchRoots } from '../../lib/agent/watchers.js'
import type { ConnectError } from '../../lib/errors.js'
import { nextEvent } from './support/events.js'
import { FakeAgent } from './support/fake-agent.js'

const PEM = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n'
const fast = { rateLimit: { burst: 1000, perSecond: 1000 }, backoff: { baseMs: 1, capMs: 5, jitter: 'none' as const } }

const roots = { ActiveRootID: 'r1', TrustDomain: 'td.consul', Roots: [{ ID: 'r1', RootCert: PEM, Active: true }] }
const leaf = {
  SerialNumber: '0a:1b', CertPEM: PEM, PrivateKeyPEM: 'KEY', Service: 'web api', ServiceURI: 'spiffe://td.consul/ns/default/dc/dc1/svc/web%20api',
  ValidAfter: '2024-01-01T00:00:00Z', ValidBefore: '2024-01-04T00:00:00Z'
}
const intention = { SourceName: 'web', DestinationName: 'db', Action: 'allow', Precedence: 9 }
const instance = {
  Node: { Node: 'n1', Address: '10.0.0.1' },
  Service: { ID: 'db-1', Service: 'db', Address: '10.0.0.2', Port: 8443, Connect: { Native: true } },
  Checks: []
}


describe('watchers', () => {
  let agent: FakeAgent
  const clients: AgentClient[] = []
  const queries: Array<{ close (): Promise<void> }> = []

  function client (options: AgentClientOptions = {}): AgentClient {
    const c = new AgentClient({ env: {}, address: agent.address, ...options })
    clients.push(c)
    return c
  }

  function track<Q extends { close (): Promise<void> }> (query: Q): Q {
    queries.push(query)
    return query
  }

  beforeEach(async () => { agent = await FakeAgent.start() })
  afterEach(async () => {
    await Promise.all(queries.splice(0).map((q) => q.close()))
    await Promise.all(clients.splice(0).map((c) => c.close()))
    await agent.close()
  })

  describe('watchRoots', () => {
    it('watches /v1/agent/connect/ca/roots and starts at once', async () => {
      agent.script({ json: roots, index: 4 })
      const q = track(watchRoots(client(), fast))
      const value = await q.ready()
      assert.equal(value.Roots[0]!.RootCert, PEM)
      assert.deepEqual(value.Roots[0]!.IntermediateCerts, [])
      await agent.waitForRequests(2)
      assert.deepEqual(agent.requests.map((r) => r.rawUrl), ['/v1/agent/connect/ca/roots', '/v1/agent/connect/ca/roots?index=4&wait=300000ms'])
    })

    it('does not start with start: false', async () => {
      agent.script({ json: roots, index: 4 })
      const q = track(watchRoots(client(), { ...fast, start: false }))
      const request = agent.nextRequest()
      assert.equal(agent.requests.length, 0)
      q.start()
      assert.equal((await request).path, '/v1/agent/connect/ca/roots')
    })
  })

  describe('watchLeaf', () => {
    it('encodes the service name in the path and reports failures as "fetching leaf for …"', async () => {
      agent.script({ status: 403, body: 'Permission denied' }, { json: leaf, index: 9 })
      const q = track(watchLeaf(client(), 'web api', fast))
      const [err] = await nextEvent(q, 'error') as [ConnectError]
      assert.equal(err.message, 'fetching leaf for "web api": agent answered 403: Permission denied')
      assert.equal((await q.ready()).SerialNumber, '0a:1b')
      assert.equal(agent.requests[0]!.path, '/v1/agent/connect/ca/leaf/web%20api')
    })

    it('keeps a transformed identity, and counts a failing parse as an invalid answer', async () => {
      agent.script({ json: leaf, index: 9 }, { json: { ...leaf, SerialNumber: 'zz' }, index: 10 }, { json: { ...leaf, SerialNumber: '0c' }, index: 11 })
      const q = track(watchLeaf(client(), 'web', {
        ...fast,
        transform: (answer) => {
          if (!/^[0-9a-f:]+$/.test(answer.SerialNumber)) throw new SyntaxError(`bad serial ${answer.SerialNumber}`)
          return Object.freeze({ serial: answer.SerialNumber, uri: answer.ServiceURI })
        }
      }))
      assert.deepEqual(await q.ready(), { serial: '0a:1b', uri: leaf.ServiceURI })
      const [err] = await nextEvent(q, 'error') as [ConnectError]
      assert.equal(err.code, 'ERR_CONNECT_AGENT_INVALID_ANSWER')
      assert.match(err.message, /transform failed: bad serial zz/)
      assert.equal(q.current?.value.serial, '0a:1b')
      const [next, previous] = await nextEvent(q, 'change') as [{ serial: string }, { serial: string }]
      assert.deepEqual([next.serial, previous.serial], ['0c', '0a:1b'])
    })
  })

  describe('watchIntentions', () => {
    it('asks intentions/match by destination and keeps that destination\'s list', async () => {
      agent.script({ json: { db: [intention] }, index: 30 })
      const q = track(watchIntentions(client(), 'db', fast))
      const value = await q.ready()
      assert.equal(value.length, 1)
      assert.equal(value[0]!.Action, 'allow')
      assert.equal(agent.requests[0]!.rawUrl, '/v1/connect/intentions/match?by=destination&name=db')
    })

    it('reads a null list as no intentions', async () => {
      agent.script({ json: { db: null }, index: 30 })
      assert.deepEqual(await track(watchIntentions(client(), 'db', fast)).ready(), [])
    })

    it('treats an answer without the destination as invalid', async () => {
      agent.script({ json: { other: [] }, index: 30 })
      const q = track(watchIntentions(client(), 'db', fast))
      const [err] = await nextEvent(q, 'error') as [ConnectError]
      assert.equal(err.code, 'ERR_CONNECT_AGENT_INVALID_ANSWER')
      assert.match(err.message, /^fetching intentions for "db": invalid answer from agent: db: no entry for destination "db"/)
      assert.equal(q.current, undefined)
    })

    it('sends ns and partition when given, and otherwise leaves the client default alone', async () => {
      agent.script({ json: { db: [] }, index: 1 }, { json: { db: [] }, index: 1 })
      track(watchIntentions(client(), 'db', { ...fast, namespace: 'team-a', partition: 'p1' }))
      await agent.waitForRequests(1)
      track(watchIntentions(client({ namespace: 'client-ns' }), 'db', fast))
      await agent.waitForRequests(3)
      const sent = agent.requests.filter((r) => !r.query.has('index')).map((r) => Object.fromEntries(r.query))
      assert.deepEqual(sent.sort((a, b) => String(a['ns']).localeCompare(String(b['ns']))), [
        { by: 'destination', name: 'db', ns: 'client-ns' },
        { by: 'destination', name: 'db', ns: 'team-a', partition: 'p1' }
      ])
    })
  })

  describe('watchHealthConnect', () => {
    it('asks for passing instances by default', async () => {
      agent.script({ json: [instance], index: 5 })
      const q = track(watchHealthConnect(client(), 'db', fast))
      const [entry] = await q.ready()
      assert.equal(entry!.Service.Port, 8443)
      assert.equal(agent.requests[0]!.rawUrl, '/v1/health/connect/db?passing=true')
    })

    it('sends passing, dc, ns, partition and filter only when asked', async () => {
      agent.script({ json: [], index: 5 })
      const q = track(watchHealthConnect(client(), 'db', {
        ...fast, passing: false, datacenter: 'dc2', namespace: 'ns1', partition: 'p1', filter: 'Service.Meta.version == "2"'
      }))
      const [err] = await Promise.race([q.ready().then(() => [undefined]), nextEvent(q, 'error')]) as [ConnectError | undefined]
      assert.equal(err, undefined)
      const { query, path } = agent.requests[0]!
      assert.equal(path, '/v1/health/connect/db')
      assert.deepEqual(Object.fromEntries(query), { dc: 'dc2', ns: 'ns1', partition: 'p1', filter: 'Service.Meta.version == "2"' })
    })

    it('names the target in errors', async () => {
      agent.script({ status: 500, body: 'No path to datacenter' })
      const q = track(watchHealthConnect(client(), 'db', fast))
      const [err] = await nextEvent(q, 'error') as [ConnectError]
      assert.equal(err.message, 'fetching healthy instances of "db": agent answered 500: No path to datacenter')
    })
  })
})
