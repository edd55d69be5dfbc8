import assert from 'node:assert/strict'
import { AgentClient } from '../../lib/agent/client.js'
import type { AgentRequester } from '../../lib/agent/blocking-query.js'
import type { AgentRequest, AgentResponse } from '../../lib/agent/client.js'
import { ConnectError, InvalidOptionError } from '../../lib/errors.js'
import { consulResolver, instanceOf } from '../../lib/net/consul-resolver.js'
import type { ConsulResolver } from '../../lib/net/consul-resolver.js'
import { staticResolver } from '../../lib/net/static-resolver.js'
import { TestAgent } from '../../lib/testing/index.js'

function hasCode (code: string) {
  return (err: unknown): boolean => {
    assert.ok(err instanceof ConnectError, `expected a ConnectError, got ${String(err)}`)
    assert.equal(err.code, code, err.message)
    return true
  }
}

const sortByPort = <T extends { port: number }>(list: T[]): T[] => [...list].sort((a, b) => a.port - b.port)

describe('staticResolver', () => {
  it('resolves a service from the map form', async () => {
    const resolver = staticResolver({ db: ['127.0.0.1:9001', '[::1]:9002'] })
    const found = sortByPort(await resolver.resolve({ service: 'db' }))
    assert.deepEqual(found.map((i) => ({ ...i })), [
      { service: 'db', host: '127.0.0.1', port: 9001 },
      { service: 'db', host: '::1', port: 9002 }
    ])
  })

  it('copies the target namespace, partition and datacenter onto instances that leave them open', async () => {
    const resolver = staticResolver({ db: ['127.0.0.1:9001'] })
    const [instance] = await resolver.resolve({ service: 'db', namespace: 'billing', datacenter: 'dc2' })
    assert.deepEqual({ ...instance }, { service: 'db', host: '127.0.0.1', port: 9001, namespace: 'billing', datacenter: 'dc2' })
  })

  it('filters the list form by the fields an instance pins', async () => {
    const resolver = staticResolver([
      { service: 'db', host: '10.0.0.1', port: 1, datacenter: 'dc1' },
      { service: 'db', host: '10.0.0.2', port: 2, datacenter: 'dc2', node: 'n2' },
      { service: 'web', host: '10.0.0.3', port: 3 }
    ])
    assert.deepEqual((await resolver.resolve({ service: 'db', datacenter: 'dc2' })).map((i) => ({ ...i })),
      [{ service: 'db', host: '10.0.0.2', port: 2, datacenter: 'dc2', node: 'n2' }])
    assert.equal((await resolver.resolve({ service: 'db' })).length, 2)
    await assert.rejects(resolver.resolve({ service: 'db', datacenter: 'dc3' }), hasCode('ERR_CONNECT_NO_INSTANCES'))
  })

  it('shuffles the instances', async () => {
    const addresses = Array.from({ length: 8 }, (_, i) => `127.0.0.1:${9000 + i}`)
    // A "random" that always picks index 0 turns Fisher–Yates into a rotation: the order must change.
    const resolver = staticResolver({ db: addresses }, { random: () => 0 })
    const ports = (await resolver.resolve({ service: 'db' })).map((i) => i.port)
    assert.notDeepEqual(ports, addresses.map((_, i) => 9000 + i))
    assert.deepEqual([...ports].sort(), addresses.map((_, i) => 9000 + i))
  })

  it('rejects unknown services and prepared queries with ERR_CONNECT_NO_INSTANCES', async () => {
    const resolver = staticResolver({ db: ['127.0.0.1:9001'] })
    await assert.rejects(resolver.resolve({ service: 'web' }), hasCode('ERR_CONNECT_NO_INSTANCES'))
    await assert.rejects(resolver.resolve({ query: 'nearest' }), /does not execute prepared queries/)
  })

  it('validates its input eagerly, naming the entry', () => {
    const cases: Array<[unknown, string]> = [
      [{ db: ['127.0.0.1'] }, 'instances.db[0]'],
      [{ db: ['127.0.0.1:0'] }, 'instances.db[0]'],
      [{ db: ['127.0.0.1:9001', '::1:9002'] }, 'instances.db[1]'],
      [{ db: ['[nothost]:9002'] }, 'instances.db[0]'],
      [{ db: '127.0.0.1:9001' }, 'instances.db'],
      [[{ service: 'db', host: 'h', port: 70000 }], 'instances[0].port'],
      [[{ service: '', host: 'h', port: 1 }], 'instances[0].service']
    ]
    for (const [input, field] of cases) {
      assert.throws(() => staticResolver(input as never), (err: unknown) => err instanceof InvalidOptionError && err.field === field, `${JSON.stringify(input)} → ${field}`)
    }
  })

  it('rejects a malformed target', async () => {
    const resolver = staticResolver({ db: ['127.0.0.1:9001'] })
    await assert.rejects(resolver.resolve({} as never), (err: unknown) => err instanceof InvalidOptionError && err.field === 'target')
    await assert.rejects(resolver.resolve({ service: 'db', query: 'q' } as never), /exactly one of/)
  })

  it('honours an aborted signal', async () => {
    const resolver = staticResolver({ db: ['127.0.0.1:9001'] })
    await assert.rejects(resolver.resolve({ service: 'db' }, { signal: AbortSignal.abort() }), hasCode('ERR_CONNECT_ABORTED'))
  })
})

describe('consulResolver', () => {
  describe('against a TestAgent', () => {
    let agent: TestAgent
    let client: AgentClient
    let resolver: ConsulResolver | undefined

    beforeEach(async () => {
      agent = await TestAgent.start()
      client = new AgentClient({ env: {}, address: agent.address, timeoutMs: 5_000 })
    })
    afterEach(async () => {
      await resolver?.close()
      resolver = undefined
      await client.close()
      await agent.close()
    })

    it('returns passing instances only, with the identity they must present', async () => {
      agent.registerService({ name: 'db', id: 'db-1', port: 9001 })
      agent.registerService({ name: 'db', id: 'db-2', port: 9002, address: '127.0.0.2' })
      agent.registerService({ name: 'db', id: 'db-3', port: 9003, passing: false })
      resolver = consulResolver(client)
      const found = sortByPort(await resolver.resolve({ service: 'db' }))
      assert.deepEqual(found.map((i) => ({ ...i })), [
        { host: '127.0.0.1', port: 9001, service: 'db', node: agent.nodeName, datacenter: agent.datacenter },
        { host: '127.0.0.2', port: 9002, service: 'db', node: agent.nodeName, datacenter: agent.datacenter }
      ])
    })

    it('includes failing instances with passing: false', async () => {
      agent.registerService({ name: 'db', id: 'db-1', port: 9001 })
      agent.registerService({ name: 'db', id: 'db-3', port: 9003, passing: false })
      resolver = consulResolver(client, { passing: false })
      assert.deepEqual(sortByPort(await resolver.resolve({ service: 'db' })).map((i) => i.port), [9001, 9003])
    })

    it('rejects with ERR_CONNECT_NO_INSTANCES when nothing passes', async () => {
      agent.registerService({ name: 'db', id: 'db-1', port: 9001, passing: false })
      resolver = consulResolver(client)
      await assert.rejects(resolver.resolve({ service: 'db' }), (err: unknown) =>
        hasCode('ERR_CONNECT_NO_INSTANCES')(err) && /resolving "db": no healthy instances/.test((err as Error).message))
    })

    it('reuses an answer within ttlMs and shares a request in flight', async () => {
      agent.registerService({ name: 'db', id: 'db-1', port: 9001 })
      resolver = consulResolver(client, { ttlMs: 60_000 })
      const path = '/v1/health/connect/db'
      await Promise.all([resolver.resolve({ service: 'db' }), resolver.resolve({ service: 'db' })])
      await resolver.resolve({ service: 'db' })
      assert.equal(agent.requestCount({ path }), 1)
      // Another datacenter is another target.
      await resolver.resolve({ service: 'db', datacenter: agent.datacenter })
      assert.equal(agent.requestCount({ path }), 2)
    })

    it("asks the agent on every resolve with cache: 'none'", async () => {
      agent.registerService({ name: 'db', id: 'db-1', port: 9001 })
      resolver = consulResolver(client, { cache: 'none' })
      await resolver.resolve({ service: 'db' })
      await resolver.resolve({ service: 'db' })
      assert.equal(agent.requestCount({ path: '/v1/health/connect/db' }), 2)
    })

    it('does not cache a failure', async () => {
      agent.registerService({ name: 'db', id: 'db-1', port: 9001 })
      resolver = consulResolver(client, { ttlMs: 60_000 })
      agent.fault({ path: '/v1/health/connect/db', status: 500, body: 'boom', times: 1 })
      await assert.rejects(resolver.resolve({ service: 'db' }), (err: unknown) => err instanceof ConnectError && err.code.startsWith('ERR_CONNECT_AGENT_'))
      assert.equal((await resolver.resolve({ service: 'db' })).length, 1)
    })

    describe("cache: 'watch'", () => {
      it('serves later resolves from a blocking watch that follows changes', async () => {
        agent.registerService({ name: 'db', id: 'db-1', port: 9001 })
        resolver = consulResolver(client, { cache: 'watch' })
        const path = '/v1/health/connect/db'
        const blocked = agent.nextRequest({ path, held: true })
        assert.deepEqual((await resolver.resolve({ service: 'db' })).map((i) => i.port), [9001])
        await blocked
        const before = agent.requestCount({ path })
        assert.deepEqual((await resolver.resolve({ service: 'db' })).map((i) => i.port), [9001])
        assert.equal(agent.requestCount({ path }), before, 'a watched target costs no round trip')

        const next = agent.nextRequest({ path, held: true })
        agent.registerService({ name: 'db', id: 'db-2', port: 9002 })
        await next // the watch took the change in and blocks again
        assert.deepEqual(sortByPort(await resolver.resolve({ service: 'db' })).map((i) => i.port), [9001, 9002])
      })

      it('keeps serving the last good answer while the agent fails', async () => {
        agent.registerService({ name: 'db', id: 'db-1', port: 9001 })
        resolver = consulResolver(client, { cache: 'watch' })
        const path = '/v1/health/connect/db'
        const blocked = agent.nextRequest({ path, held: true })
        await resolver.resolve({ service: 'db' })
        await blocked
        const fault = agent.fault({ path, status: 500, body: 'down' })
        const failing = agent.nextRequest({ path })
        agent.registerService({ name: 'db', id: 'db-2', port: 9002 }) // releases the held watch; its next request fails
        await failing
        assert.ok(fault.hits >= 1)
        assert.deepEqual(sortByPort(await resolver.resolve({ service: 'db' })).map((i) => i.port), [9001, 9002])
      })

      it('rejects a first resolve the agent fails, and retries on the next', async () => {
        agent.registerService({ name: 'db', id: 'db-1', port: 9001 })
        resolver = consulResolver(client, { cache: 'watch' })
        const fault = agent.fault({ path: '/v1/health/connect/db', status: 403, body: 'Permission denied' })
        await assert.rejects(resolver.resolve({ service: 'db' }), hasCode('ERR_CONNECT_AGENT_PERMISSION_DENIED'))
        fault.clear()
        assert.deepEqual((await resolver.resolve({ service: 'db' })).map((i) => i.port), [9001])
      })

      it('rejects resolves after close()', async () => {
        agent.registerService({ name: 'db', id: 'db-1', port: 9001 })
        resolver = consulResolver(client, { cache: 'watch' })
        await resolver.resolve({ service: 'db' })
        await resolver.close()
        await resolver.close()
        await assert.rejects(resolver.resolve({ service: 'db' }), hasCode('ERR_CONNECT_CLOSED'))
      })
    })
  })

  describe('entry mapping (fake agent answers)', () => {
    const node = (extra: object = {}): object => ({ Node: 'n1', Address: '10.0.0.9', Datacenter: 'dc1', ...extra })
    const entry = (service: object, nodeExtra: object = {}): object => ({
      Node: node(nodeExtra),
      Service: { ID: 'x', Service: 'db', Address: '', Port: 8443, Tags: [], Meta: {}, ...service },
      Checks: []
    })

    /** Answers every request with `body` (validated by the request's own schema) and records it. */
    function fake (body: unknown): AgentRequester & { seen: Array<AgentRequest<unknown>> } {
      const seen: Array<AgentRequest<unknown>> = []
      return {
        timeoutMs: 1000,
        seen,
        async request<T> (req: AgentRequest<T>): Promise<AgentResponse<T>> {
          seen.push(req as AgentRequest<unknown>)
          return { value: req.schema.parse(body), status: 200, index: 1, meta: {} as never }
        }
      }
    }

    it('dials a sidecar proxy at its own address and expects its destination service', async () => {
      const agent = fake([
        entry({ ID: 'db-sidecar-proxy', Service: 'db-sidecar-proxy', Kind: 'connect-proxy', Address: '10.0.0.5', Port: 21000, Proxy: { DestinationServiceName: 'db' } }),
        entry({ ID: 'db-native', Connect: { Native: true }, Port: 9443 })
      ])
      const found = sortByPort(await consulResolver(agent).resolve({ service: 'db' }))
      assert.deepEqual(found.map((i) => ({ ...i })), [
        { host: '10.0.0.9', port: 9443, service: 'db', node: 'n1', datacenter: 'dc1' },
        { host: '10.0.0.5', port: 21000, service: 'db', node: 'n1', datacenter: 'dc1' }
      ])
      assert.equal(agent.seen[0]?.path, '/v1/health/connect/db')
      assert.deepEqual(agent.seen[0]?.query, { passing: true })
    })

    it('skips gateways and entries without a destination or address', () => {
      assert.equal(instanceOf(entry({ Kind: 'mesh-gateway' }) as never), undefined)
      assert.equal(instanceOf(entry({ Kind: 'connect-proxy', Proxy: {} }) as never), undefined)
      assert.equal(instanceOf(entry({}, { Address: '' }) as never), undefined)
    })

    it('takes namespace and partition from Enterprise entries, else from the target', async () => {
      const instance = instanceOf(entry({ Namespace: 'billing', Partition: 'eu' }) as never, { namespace: 'other' })
      assert.deepEqual({ ...instance }, { host: '10.0.0.9', port: 8443, service: 'db', node: 'n1', namespace: 'billing', partition: 'eu', datacenter: 'dc1' })
      const ce = instanceOf(entry({}, { Datacenter: undefined }) as never, { namespace: 'billing', datacenter: 'dc2' })
      assert.deepEqual({ ...ce }, { host: '10.0.0.9', port: 8443, service: 'db', node: 'n1', namespace: 'billing', datacenter: 'dc2' })
    })

    it('sends the filter, datacenter, namespace and partition it was given', async () => {
      const agent = fake([entry({})])
      await consulResolver(agent, { filter: 'Service.Meta.v == "2"', namespace: 'billing' }).resolve({ service: 'db', datacenter: 'dc2' })
      assert.deepEqual(agent.seen[0]?.query, { passing: true, dc: 'dc2', ns: 'billing', filter: 'Service.Meta.v == "2"' })
    })

    it('executes a prepared query with connect=true and maps its nodes', async () => {
      const agent = fake({ Service: 'db', Datacenter: 'dc2', Nodes: [entry({ Port: 7000 }, { Datacenter: undefined })] })
      const found = await consulResolver(agent).resolve({ query: 'nearest-db', datacenter: 'dc2' })
      assert.deepEqual(found.map((i) => ({ ...i })), [{ host: '10.0.0.9', port: 7000, service: 'db', node: 'n1', datacenter: 'dc2' }])
      assert.equal(agent.seen[0]?.path, '/v1/query/nearest-db/execute')
      assert.deepEqual(agent.seen[0]?.query, { connect: true, dc: 'dc2' })
    })

    it('rejects a prepared query with no nodes', async () => {
      await assert.rejects(consulResolver(fake({ Nodes: null })).resolve({ query: 'q' }), (err: unknown) =>
        hasCode('ERR_CONNECT_NO_INSTANCES')(err) && /prepared query "q"/.test((err as Error).message))
    })
  })

  it('validates its options eagerly', () => {
    const client = { timeoutMs: 1, request: async () => { throw new Error('unused') } } as unknown as AgentRequester
    assert.throws(() => consulResolver(client, { cache: 'forever' as never }), (err: unknown) => err instanceof InvalidOptionError && err.field === 'resolver.cache')
    assert.throws(() => consulResolver(client, { ttlMs: -1 }), (err: unknown) => err instanceof InvalidOptionError && err.field === 'resolver.ttlMs')
    assert.throws(() => consulResolver(client, { bogus: 1 } as never), (err: unknown) => err instanceof InvalidOptionError && err.field === 'resolver.bogus')
  })
})
