import assert from 'node:assert/strict'
import { TestAgent } from '../../lib/testing/index.js'
import type { ServiceIntentionSource } from '../../lib/testing/index.js'
import { call } from './test-agent-client.js'
import type { Answer } from './test-agent-client.js'

// Texts measured against a real `consul agent -dev` 1.22.7.
const l7Refused = (service: string, protocol: string): string =>
  `service "${service}" has protocol "${protocol}", which is incompatible with L7 intentions permissions`
const invalidProtocol = (protocol: string): string => `1 error occurred:\n\t* invalid value for protocol: ${protocol}\n\n`

const L7: ServiceIntentionSource[] = [{ Name: 'web', Permissions: [{ Action: 'allow', HTTP: { PathPrefix: '/' } }] }]
const l7Entry = (name: string): object => ({ Kind: 'service-intentions', Name: name, Sources: L7 })
const refusedWith = (field: string, text: string): object => ({ code: 'ERR_CONNECT_INVALID_OPTION', message: `invalid option "${field}": ${text}` })

describe('TestAgent', () => {
  describe('L7 intentions need an HTTP protocol, as in Consul', () => {
    let agent: TestAgent

    beforeEach(async () => {
      agent = await TestAgent.start()
    })

    afterEach(async () => {
      await agent.close()
    })

    const put = async (body: object): Promise<Answer> => call(agent, '/v1/config', { method: 'PUT', body })
    const del = async (path: string): Promise<Answer> => call(agent, `/v1/config/${path}`, { method: 'DELETE' })
    const get = async (path: string): Promise<Answer> => call(agent, `/v1/config/${path}`)
    const outcome = (answer: Answer): [number, string] => [answer.status, answer.text]

    describe('through the control methods', () => {
      it('refuses L7 intentions on a tcp destination (no service-defaults), and stores nothing', () => {
        assert.throws(() => agent.setIntentions('db', L7), refusedWith('intentions', l7Refused('db', 'tcp')))
        agent.upsertIntention('api', 'db', { Action: 'allow' }) // L4 intentions need no protocol
        assert.throws(() => agent.upsertIntention('web', 'db', { Permissions: L7[0]!.Permissions! }), refusedWith('intention', l7Refused('db', 'tcp')))
      })

      it('accepts them once service-defaults declares http, then refuses going back to tcp or deleting the entry', async () => {
        agent.setServiceDefaults('db', { Protocol: 'http' })
        agent.setIntentions('db', L7)
        const before = (await get('service-defaults/db')).json()
        assert.throws(() => agent.setServiceDefaults('db', { Protocol: 'tcp' }), refusedWith('serviceDefaults', l7Refused('db', 'tcp')))
        assert.throws(() => agent.setServiceDefaults('db', {}), refusedWith('serviceDefaults', l7Refused('db', 'tcp')), 'no protocol is tcp')
        assert.throws(() => agent.deleteServiceDefaults('db'), refusedWith('serviceDefaults', l7Refused('db', 'tcp')))
        assert.deepEqual((await get('service-defaults/db')).json(), before, 'the entry is unchanged')
        agent.setIntentions('db', [{ Name: 'web', Action: 'allow' }])
        agent.setServiceDefaults('db', { Protocol: 'tcp' })
        assert.equal(agent.deleteServiceDefaults('db'), true)
        assert.equal(agent.deleteServiceDefaults('db'), false)
      })

      for (const protocol of ['http', 'http2', 'grpc', 'HTTP', 'Http2', 'GRPC']) {
        it(`takes ${protocol} as HTTP-like (protocols are compared lower-cased)`, async () => {
          agent.setServiceDefaults('api', { Protocol: protocol })
          agent.setIntentions('api', L7)
          assert.equal((await get('service-defaults/api')).json().Protocol, protocol.toLowerCase())
        })
      }

      it('refuses an invalid protocol with Consul\'s multi-error text, lower-cased', () => {
        assert.throws(() => agent.setServiceDefaults('zz', { Protocol: 'bogus' }), refusedWith('serviceDefaults', '1 error occurred:\n\t* invalid value for protocol: bogus'))
        assert.throws(() => agent.setServiceDefaults('zz', { Protocol: 'BoGus' }), refusedWith('serviceDefaults', '1 error occurred:\n\t* invalid value for protocol: bogus'))
        assert.throws(() => agent.setServiceDefaults('*', { Protocol: 'http' }), refusedWith('serviceDefaults', 'service-defaults name must be the name of a service, and not a wildcard'))
        assert.throws(() => agent.setServiceDefaults('', { Protocol: 'http' }), { code: 'ERR_CONNECT_INVALID_OPTION' })
      })

      it('falls back to the global proxy-defaults protocol, and refuses changing or deleting it under an L7 intention', () => {
        agent.setProxyDefaults({ Config: { protocol: 'http2' } })
        agent.setIntentions('x', L7)
        assert.throws(() => agent.setProxyDefaults({ Config: { protocol: 'tcp' } }), refusedWith('proxyDefaults', l7Refused('x', 'tcp')))
        assert.throws(() => agent.setProxyDefaults({ Config: { protocol: 'BOGUS' } }), refusedWith('proxyDefaults', l7Refused('x', 'bogus')))
        assert.throws(() => agent.setProxyDefaults({}), refusedWith('proxyDefaults', l7Refused('x', 'tcp')))
        assert.throws(() => agent.deleteProxyDefaults(), refusedWith('proxyDefaults', l7Refused('x', 'tcp')))
        agent.setProxyDefaults({ Config: { protocol: 'HTTP', other: 1 } })
        agent.setIntentions('x', [])
        assert.equal(agent.deleteProxyDefaults(), true)
        assert.equal(agent.deleteProxyDefaults(), false)
      })

      it('lets service-defaults win over proxy-defaults, even when it sets no protocol', () => {
        agent.setProxyDefaults({ Config: { protocol: 'http' } })
        agent.setServiceDefaults('y', { Protocol: 'tcp' })
        agent.setServiceDefaults('z', {})
        assert.throws(() => agent.setIntentions('y', L7), refusedWith('intentions', l7Refused('y', 'tcp')))
        assert.throws(() => agent.setIntentions('z', L7), refusedWith('intentions', l7Refused('z', 'tcp')))
        agent.setIntentions('w', L7) // no service-defaults: the global http
        // Deleting y's entry falls back to http: allowed, and then y may have L7 intentions.
        assert.equal(agent.deleteServiceDefaults('y'), true)
        agent.setIntentions('y', L7)
        // And a service-defaults entry saying tcp cannot be written under w's L7 intention.
        assert.throws(() => agent.setServiceDefaults('w', { Protocol: 'tcp' }), refusedWith('serviceDefaults', l7Refused('w', 'tcp')))
      })

      it('names the first stranded destination, in name order', () => {
        agent.setProxyDefaults({ Config: { protocol: 'grpc' } })
        agent.setIntentions('b', L7)
        agent.setIntentions('a', L7)
        assert.throws(() => agent.deleteProxyDefaults(), refusedWith('proxyDefaults', l7Refused('a', 'tcp')))
      })

      it('checks the entry itself before the protocol', () => {
        assert.throws(() => agent.setIntentions('*', L7), refusedWith('intentions', 'Sources[0].Permissions cannot be specified on intentions with wildcarded destinations'))
        assert.throws(() => agent.setIntentions('db', [{ Name: 'web', Permissions: [{ Action: 'allow', HTTP: {} }] }]), refusedWith('intentions', 'Sources[0].Permissions[0].HTTP should not be empty'))
      })

      it('keeps protocols per namespace, where intentions have them', () => {
        agent.setServiceDefaults('db', { Protocol: 'http' }, { namespace: 'team' })
        agent.setIntentions('db', L7, { namespace: 'team' })
        assert.throws(() => agent.setIntentions('db', L7), refusedWith('intentions', l7Refused('db', 'tcp')))
        assert.throws(() => agent.deleteServiceDefaults('db', { namespace: 'team' }), refusedWith('serviceDefaults', l7Refused('db', 'tcp')))
      })

      it('sets the global protocol from the protocol start option', async () => {
        const http = await TestAgent.start({ protocol: 'http' })
        try {
          http.setIntentions('db', L7)
          http.upsertIntention('web', 'api', { Permissions: L7[0]!.Permissions! })
          const entry = (await call(http, '/v1/config/proxy-defaults/global')).json()
          assert.deepEqual(entry.Config, { protocol: 'http' })
          assert.throws(() => http.deleteProxyDefaults(), refusedWith('proxyDefaults', l7Refused('api', 'tcp')))
        } finally {
          await http.close()
        }
      })

      it('validates the protocol start option', async () => {
        await assert.rejects(TestAgent.start({ protocol: 'udp' as never }), { code: 'ERR_CONNECT_INVALID_OPTION', field: 'protocol' })
        const upper = await TestAgent.start({ protocol: 'GRPC' as never })
        try {
          upper.setIntentions('db', L7)
        } finally {
          await upper.close()
        }
      })
    })

    describe('over HTTP', () => {
      it('answers the measured sequence as Consul 1.22.7 does', async () => {
        assert.deepEqual(outcome(await put(l7Entry('db'))), [500, l7Refused('db', 'tcp')])
        assert.equal((await get('service-intentions/db')).status, 404)
        assert.equal((await put({ Kind: 'service-defaults', Name: 'db', Protocol: 'http' })).text, 'true')
        assert.equal((await put(l7Entry('db'))).text, 'true')
        assert.deepEqual(outcome(await put({ Kind: 'service-defaults', Name: 'db', Protocol: 'tcp' })), [500, l7Refused('db', 'tcp')])
        assert.equal((await get('service-defaults/db')).json().Protocol, 'http', 'the change was refused')
        assert.equal((await put({ Kind: 'service-defaults', Name: 'api', Protocol: 'grpc' })).text, 'true')
        assert.equal((await put(l7Entry('api'))).text, 'true')
        assert.equal((await put({ Kind: 'proxy-defaults', Name: 'global', Config: { protocol: 'http2' } })).text, 'true')
        assert.equal((await put(l7Entry('x'))).text, 'true')
        const tcp = await put({ Kind: 'proxy-defaults', Name: 'global', Config: { protocol: 'tcp' } })
        assert.deepEqual([tcp.status, tcp.text], [500, l7Refused('x', 'tcp')])
        const wildcard = await put(l7Entry('*'))
        assert.deepEqual([wildcard.status, wildcard.text], [500, 'Sources[0].Permissions cannot be specified on intentions with wildcarded destinations'])
        const exact = await call(agent, '/v1/connect/intentions/exact?source=web&destination=zz', { method: 'PUT', body: { Permissions: L7[0]!.Permissions } })
        assert.equal(exact.text, 'true', 'zz has the global http2')
        const bogus = await put({ Kind: 'service-defaults', Name: 'zz', Protocol: 'bogus' })
        assert.deepEqual([bogus.status, bogus.text], [500, invalidProtocol('bogus')])
      })

      it('refuses an L7 exact intention on a tcp destination', async () => {
        const path = '/v1/connect/intentions/exact?source=web&destination=q'
        const answer = await call(agent, path, { method: 'PUT', body: { Permissions: L7[0]!.Permissions } })
        assert.deepEqual([answer.status, answer.text], [500, l7Refused('q', 'tcp')])
        assert.equal((await call(agent, path, { method: 'PUT', body: { Action: 'allow' } })).text, 'true')
        assert.equal((await put({ Kind: 'service-defaults', Name: 'q', Protocol: 'HTTP' })).text, 'true')
        assert.equal((await call(agent, path, { method: 'PUT', body: { Permissions: L7[0]!.Permissions } })).text, 'true')
      })

      it('refuses deletes that would leave an L7 destination on tcp', async () => {
        await put({ Kind: 'proxy-defaults', Config: { protocol: 'http' } }) // no Name: global
        await put({ Kind: 'service-defaults', Name: 'db', Protocol: 'http' })
        await put(l7Entry('db'))
        await put(l7Entry('x'))
        // db falls back to the global http: deleting its entry is fine.
        assert.deepEqual(outcome(await del('service-defaults/db')), [200, '{}'])
        const proxy = await del('proxy-defaults/global')
        assert.deepEqual([proxy.status, proxy.text], [500, l7Refused('db', 'tcp')])
        assert.equal((await get('proxy-defaults/global')).status, 200)
        await del('service-intentions/db')
        await del('service-intentions/x')
        assert.equal((await del('proxy-defaults/global')).text, '{}')
        assert.equal((await get('proxy-defaults/global')).status, 404)
      })

      it('answers service-defaults in Consul\'s shape, and 404 when absent', async () => {
        const missing = await get('service-defaults/db')
        assert.deepEqual([missing.status, missing.text], [404, 'Config entry not found for "service-defaults" / "db"'])
        // Field names are matched case-insensitively, as Go's decoder does.
        assert.equal((await put({ kind: 'service-defaults', name: 'db', protocol: 'HTTP2', Meta: { owner: 'team' } })).text, 'true')
        const first = await get('service-defaults/db')
        assert.deepEqual(first.json(), {
          Kind: 'service-defaults',
          Name: 'db',
          Protocol: 'http2',
          TransparentProxy: {},
          MeshGateway: {},
          Expose: {},
          Meta: { owner: 'team' },
          CreateIndex: first.index,
          ModifyIndex: first.index
        })
        await put({ Kind: 'service-defaults', Name: 'db' })
        const second = (await get('service-defaults/db')).json()
        assert.deepEqual([second.Protocol, second.CreateIndex, second.ModifyIndex > first.index], ['', first.index, true])
        await put({ Kind: 'service-defaults', Name: 'api', Protocol: 'grpc' })
        const list = (await get('service-defaults')).json()
        assert.deepEqual(list.map((e: { Name: string, Protocol: string }) => [e.Name, e.Protocol]), [['api', 'grpc'], ['db', '']])
      })

      it('answers proxy-defaults in Consul\'s shape, named global only', async () => {
        const missing = await get('proxy-defaults/global')
        assert.deepEqual([missing.status, missing.text], [404, 'Config entry not found for "proxy-defaults" / "global"'])
        assert.deepEqual((await get('proxy-defaults')).json(), [])
        assert.equal((await put({ Kind: 'proxy-defaults', Name: 'global', Config: { protocol: 'http' } })).text, 'true')
        const entry = await get('proxy-defaults/global')
        assert.deepEqual(entry.json(), {
          Kind: 'proxy-defaults',
          Name: 'global',
          Config: { protocol: 'http' },
          TransparentProxy: {},
          MeshGateway: {},
          Expose: {},
          AccessLogs: {},
          CreateIndex: entry.index,
          ModifyIndex: entry.index
        })
        assert.equal((await get('proxy-defaults')).json().length, 1)
        const other = await put({ Kind: 'proxy-defaults', Name: 'other', Config: { protocol: 'tcp' } })
        assert.deepEqual([other.status, other.text], [500, 'invalid name ("other"), only "global" is supported'])
        const otherDelete = await del('proxy-defaults/other')
        assert.deepEqual([otherDelete.status, otherDelete.text], [500, 'invalid name ("other"), only "global" is supported'])
        assert.equal((await get('proxy-defaults/other')).status, 404)
        assert.equal((await put({ Kind: 'proxy-defaults', Name: 'global' })).text, 'true')
        assert.equal((await get('proxy-defaults/global')).json().Config, null)
      })

      it('validates service-defaults as Consul does', async () => {
        const cases: Array<[object, number, string]> = [
          [{ Kind: 'service-defaults', Protocol: 'http' }, 500, 'Name is required'],
          [{ Kind: 'service-defaults', Name: '', Protocol: 'bogus' }, 500, 'Name is required'],
          [{ Kind: 'service-defaults', Name: '*', Protocol: 'bogus' }, 500, 'service-defaults name must be the name of a service, and not a wildcard'],
          [{ Kind: 'service-defaults', Name: 'zz', Protocol: 'BOGUS' }, 500, invalidProtocol('bogus')],
          // Go's weak decoding: numbers and booleans become strings.
          [{ Kind: 'service-defaults', Name: 'zz', Protocol: 5 }, 500, invalidProtocol('5')],
          [{ Kind: 'service-defaults', Name: 'zz', Protocol: true }, 500, invalidProtocol('1')],
          [{ Kind: 'service-defaults', Name: 'zz', Protocol: {} }, 400,
            "Request decoding failed: decoding failed due to the following error(s):\n\n'Protocol' expected type 'string', got unconvertible type 'map[string]interface {}'"],
          [{ Kind: 'service-defaults', Name: 'zz', Protocol: ['a', 'b'] }, 400,
            "Request decoding failed: decoding failed due to the following error(s):\n\n'Protocol' expected type 'string', got unconvertible type '[]interface {}'"]
        ]
        for (const [body, status, text] of cases) {
          const answer = await put(body)
          assert.deepEqual([answer.status, answer.text], [status, text], JSON.stringify(body))
        }
        assert.equal((await put({ Kind: 'service-defaults', Name: 'zz', Protocol: ['GRPC'] })).text, 'true', 'a one-element array is its element')
        assert.equal((await get('service-defaults/zz')).json().Protocol, 'grpc')
      })

      it('decodes the proxy-defaults protocol weakly too, and lower-cases it', async () => {
        await put({ Kind: 'proxy-defaults', Config: { protocol: 'GRPC' } })
        assert.equal((await put(l7Entry('x'))).text, 'true')
        const bool = await put({ Kind: 'proxy-defaults', Config: { protocol: true } })
        assert.deepEqual([bool.status, bool.text], [500, l7Refused('x', '1')])
        const object = await put({ Kind: 'proxy-defaults', Config: { protocol: { a: 1 } } })
        assert.deepEqual([object.status, object.text], [500, "decoding failed due to the following error(s):\n\n'protocol' expected type 'string', got unconvertible type 'map[string]interface {}'"])
        assert.deepEqual((await get('proxy-defaults/global')).json().Config, { protocol: 'GRPC' }, 'Config is kept as written')
      })

      it('holds a blocking read until the entry changes', async () => {
        const first = await get('service-defaults/db')
        const held = agent.nextRequest({ path: '/v1/config/service-defaults/db', held: true })
        const pending = get(`service-defaults/db?index=${first.index}&wait=1m`)
        await held
        agent.setServiceDefaults('db', { Protocol: 'http' })
        const answer = await pending
        assert.equal(answer.status, 200)
        assert.equal(answer.json().Protocol, 'http')
        assert.ok(answer.index > first.index)
      })
    })

    describe('with ACLs', () => {
      let secured: TestAgent

      before(async () => {
        secured = await TestAgent.start({
          acl: {
            defaultPolicy: 'deny',
            tokens: {
              'db-secret': { accessorId: 'acc-db', serviceWrite: ['db'] },
              'ops-secret': { accessorId: 'acc-ops', operatorWrite: true }
            }
          }
        })
      })

      after(async () => {
        await secured.close()
      })

      it('needs service:write on the service for service-defaults, and mesh:write (operator:write) for proxy-defaults', async () => {
        const write = async (token: string, body: object): Promise<[number, string]> => {
          const answer = await call(secured, '/v1/config', { method: 'PUT', token, body })
          return [answer.status, answer.text]
        }
        assert.deepEqual(await write('db-secret', { Kind: 'service-defaults', Name: 'db', Protocol: 'http' }), [200, 'true'])
        assert.deepEqual(await write('db-secret', { Kind: 'service-defaults', Name: 'api', Protocol: 'http' }),
          [403, 'Permission denied: token with AccessorID \'acc-db\' lacks permission \'service:write\' on "api"'])
        assert.deepEqual(await write('db-secret', { Kind: 'proxy-defaults', Config: { protocol: 'http' } }),
          [403, 'Permission denied: token with AccessorID \'acc-db\' lacks permission \'mesh:write\''])
        assert.deepEqual(await write('ops-secret', { Kind: 'proxy-defaults', Config: { protocol: 'http' } }), [200, 'true'])
        assert.equal((await call(secured, '/v1/config/service-defaults/db', { token: 'db-secret' })).status, 200)
        assert.equal((await call(secured, '/v1/config/service-defaults/db', { token: 'ops-secret' })).status, 403)
        assert.deepEqual((await call(secured, '/v1/config/service-defaults', { token: 'ops-secret' })).json(), [], 'lists are filtered')
        assert.equal((await call(secured, '/v1/config/proxy-defaults/global', { token: 'db-secret' })).status, 200, 'anyone may read proxy-defaults')
      })
    })
  })
})
