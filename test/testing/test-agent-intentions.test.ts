import assert from 'node:assert/strict'
import { TestAgent } from '../../lib/testing/index.js'
import { call } from './test-agent-client.js'

const AUTHORIZE = '/v1/agent/connect/authorize'

describe('TestAgent', () => {
  let agent: TestAgent

  beforeEach(async () => {
    agent = await TestAgent.start()
  })

  afterEach(async () => {
    await agent.close()
  })

  const uri = (service: string, namespace = 'default'): string => `spiffe://${agent.trustDomain}/ns/${namespace}/dc/dc1/svc/${service}`
  const authorize = async (source: string, target: string, namespace?: string): Promise<{ Authorized: boolean, Reason: string }> =>
    (await call(agent, AUTHORIZE, { method: 'POST', body: { Target: target, ClientCertURI: uri(source, namespace), ClientCertSerial: '01' } })).json()

  describe(`POST ${AUTHORIZE}`, () => {
    beforeEach(() => {
      agent.setIntentions('db', [
        { Name: 'web', Action: 'allow' },
        { Name: '*', Action: 'deny' },
        { Name: '*', Namespace: '*', Action: 'allow' }
      ])
      agent.setIntentions('*', [{ Name: 'api', Action: 'allow' }, { Name: '*', Action: 'deny' }])
      agent.setServiceDefaults('billing', { Protocol: 'http' })
      agent.setIntentions('billing', [{ Name: 'web', Permissions: [{ Action: 'allow', HTTP: { PathPrefix: '/' } }] }])
    })

    // [source, source namespace, target, authorized, reason]: the first matching intention in precedence order decides.
    const decisions: Array<[string, string, string, boolean, string]> = [
      ['web', 'default', 'db', true, 'Matched L4 intention: default/web => default/db (Precedence: 9, Action: ALLOW)'],
      ['api', 'default', 'db', false, 'Matched L4 intention: default/* => default/db (Precedence: 8, Action: DENY)'],
      ['api', 'team', 'db', true, 'Matched L4 intention: */* => default/db (Precedence: 7, Action: ALLOW)'],
      ['api', 'default', 'cache', true, 'Matched L4 intention: default/api => default/* (Precedence: 6, Action: ALLOW)'],
      ['web', 'default', 'cache', false, 'Matched L4 intention: default/* => default/* (Precedence: 5, Action: DENY)'],
      ['web', 'default', 'billing', false, 'Matched L7 intention: default/web => default/billing (Precedence: 9, Permissions: 1)'],
      ['cart', 'default', 'billing', false, 'Matched L4 intention: default/* => default/* (Precedence: 5, Action: DENY)']
    ]
    for (const [source, namespace, target, authorized, reason] of decisions) {
      it(`${authorized ? 'allows' : 'denies'} ${namespace}/${source} => ${target}`, async () => {
        assert.deepEqual(await authorize(source, target, namespace), { Authorized: authorized, Reason: reason })
      })
    }

    it('agrees with the check endpoint, which also counts L7 intentions as deny', async () => {
      for (const [source, namespace, target, authorized] of decisions) {
        if (namespace !== 'default') continue
        const answer = await call(agent, `/v1/connect/intentions/check?source=${source}&destination=${target}`)
        assert.deepEqual(answer.json(), { Allowed: authorized }, `${source} => ${target}`)
      }
    })

    it('follows intention changes at once', async () => {
      assert.equal((await authorize('api', 'db')).Authorized, false)
      agent.upsertIntention('api', 'db', { Action: 'allow' })
      assert.equal((await authorize('api', 'db')).Authorized, true)
      assert.equal(agent.deleteIntention('api', 'db'), true)
      assert.equal(agent.deleteIntention('api', 'db'), false)
      assert.equal((await authorize('api', 'db')).Authorized, false)
    })

    const bad: Array<[string, unknown, string]> = [
      ['an empty body', '', 'Request decode failed: EOF'],
      ['invalid JSON', '{', 'Request decode failed: '],
      ['no Target', { ClientCertURI: 'spiffe://x.consul/ns/default/dc/dc1/svc/web' }, 'Target service must be specified'],
      ['a URI that is not a SPIFFE ID', { Target: 'db', ClientCertURI: 'https://web' }, 'ClientCertURI not a valid Connect identifier'],
      ['an agent ID', { Target: 'db', ClientCertURI: 'spiffe://x.consul/agent/client/dc/dc1/id/node1' }, 'ClientCertURI not a valid Service identifier']
    ]
    for (const [what, body, text] of bad) {
      it(`answers 400 to ${what}`, async () => {
        const answer = await call(agent, AUTHORIZE, { method: 'POST', body })
        assert.equal(answer.status, 400)
        assert.ok(answer.text.startsWith(text), answer.text)
      })
    }

    it('reads field names case-insensitively, as Go does', async () => {
      const answer = await call(agent, AUTHORIZE, { method: 'POST', body: { target: 'db', clientcerturi: uri('web') } })
      assert.equal(answer.json().Authorized, true)
    })
  })

  describe('default decisions', () => {
    it('allows by the ACL default (ACLs off) when nothing matches', async () => {
      assert.deepEqual(await authorize('web', 'db'), { Authorized: true, Reason: 'Default behavior configured by ACLs' })
    })

    it('uses default_intention_policy for authorize, but not for check (as Consul 1.22.7 does)', async () => {
      const strict = await TestAgent.start({ defaultIntentionPolicy: 'deny' })
      try {
        const answer = await call(strict, AUTHORIZE, { method: 'POST', body: { Target: 'db', ClientCertURI: `spiffe://${strict.trustDomain}/ns/default/dc/dc1/svc/web` } })
        assert.deepEqual(answer.json(), { Authorized: false, Reason: 'Default intention policy' })
        // The real check ignores the agent's default_intention_policy and answers with the ACL default.
        assert.deepEqual((await call(strict, '/v1/connect/intentions/check?source=web&destination=db')).json(), { Allowed: true })
      } finally {
        await strict.close()
      }
    })
  })

  describe('GET /v1/connect/intentions/match', () => {
    it('answers every intention covering the name, in evaluation order, with Precedence', async () => {
      agent.setIntentions('*', [{ Name: 'web', Action: 'deny' }])
      agent.setIntentions('db', [{ Name: '*', Action: 'deny' }, { Name: 'web', Action: 'allow', Description: 'front end' }])
      agent.setIntentions('other', [{ Name: 'web', Action: 'allow' }])
      const answer = await call(agent, '/v1/connect/intentions/match?by=destination&name=db')
      assert.equal(answer.status, 200)
      const list = answer.json().db
      assert.deepEqual(list.map((i: { SourceName: string, DestinationName: string, Precedence: number }) => [i.SourceName, i.DestinationName, i.Precedence]), [
        ['web', 'db', 9], ['*', 'db', 8], ['web', '*', 6]
      ])
      assert.deepEqual(list[0], {
        Description: 'front end',
        SourceNS: 'default',
        SourceName: 'web',
        DestinationNS: 'default',
        DestinationName: 'db',
        SourceType: 'consul',
        Action: 'allow',
        Precedence: 9,
        CreateIndex: list[0].CreateIndex,
        ModifyIndex: list[0].ModifyIndex
      })
      // The index is the whole intentions table's: the later write to "other" counts too.
      assert.ok(answer.index > list[0].ModifyIndex)
    })

    it('answers by source, for several names, keyed as asked', async () => {
      agent.setIntentions('db', [{ Name: 'web', Action: 'allow' }, { Name: '*', Action: 'deny' }])
      const answer = (await call(agent, '/v1/connect/intentions/match?by=source&name=web&name=api')).json()
      assert.deepEqual(Object.keys(answer), ['web', 'api'])
      assert.deepEqual(answer.web.map((i: { SourceName: string }) => i.SourceName), ['web', '*'])
      assert.deepEqual(answer.api.map((i: { SourceName: string }) => i.SourceName), ['*'])
    })

    it('holds a blocking query until intentions change', async () => {
      const first = await call(agent, '/v1/connect/intentions/match?by=destination&name=db')
      assert.deepEqual(first.json(), { db: [] })
      const held = agent.nextRequest({ path: '/v1/connect/intentions/match', held: true })
      const pending = call(agent, `/v1/connect/intentions/match?by=destination&name=db&index=${first.index}&wait=1m`)
      await held
      agent.setIntentions('db', [{ Name: 'web', Action: 'allow' }])
      const answer = await pending
      assert.ok(answer.index > first.index)
      assert.equal(answer.json().db[0].SourceName, 'web')
    })

    const errors: Array<[string, string]> = [
      ['name=db', "required query parameter 'by' not set"],
      ['by=sideways&name=db', "'by' parameter must be one of 'source' or 'destination'"],
      ['by=destination', "required query parameter 'name' not set"],
      ['by=destination&name=a/b/c/d', `name "a/b/c/d" is invalid: input can contain at most two '/'`]
    ]
    for (const [query, text] of errors) {
      it(`answers 500 "${text}" to ?${query}`, async () => {
        const answer = await call(agent, `/v1/connect/intentions/match?${query}`)
        assert.equal(answer.status, 500)
        assert.equal(answer.text, text)
      })
    }
  })

  describe('/v1/connect/intentions/exact', () => {
    const EXACT = '/v1/connect/intentions/exact?source=web&destination=db'

    it('creates, reads, replaces and deletes one intention', async () => {
      const put = await call(agent, EXACT, { method: 'PUT', body: { Action: 'allow', Description: 'hello' } })
      assert.equal(put.status, 200)
      assert.equal(put.text, 'true')
      const read = (await call(agent, EXACT)).json()
      assert.equal(read.Action, 'allow')
      assert.equal(read.Description, 'hello')
      assert.equal(read.Precedence, 9)
      agent.setServiceDefaults('db', { Protocol: 'http' })
      await call(agent, EXACT, { method: 'PUT', body: { Permissions: [{ Action: 'deny', HTTP: { PathExact: '/admin', Methods: ['get'] } }] } })
      const replaced = (await call(agent, EXACT)).json()
      assert.equal(replaced.Action, undefined)
      assert.deepEqual(replaced.Permissions, [{ Action: 'deny', HTTP: { PathExact: '/admin', Methods: ['GET'] } }])
      const deleted = await call(agent, EXACT, { method: 'DELETE' })
      assert.equal(deleted.text, 'true')
      const gone = await call(agent, EXACT)
      assert.equal(gone.status, 404)
      assert.equal(gone.text, 'Intention not found')
    })

    it('refuses Meta on a new intention, as Consul does', async () => {
      const answer = await call(agent, EXACT, { method: 'PUT', body: { Action: 'allow', Meta: { a: 'b' } } })
      assert.equal(answer.status, 500)
      assert.equal(answer.text, 'Meta must not be specified')
    })

    it('answers 500 when a parameter is missing', async () => {
      const answer = await call(agent, '/v1/connect/intentions/exact?source=web')
      assert.equal(answer.status, 500)
      assert.equal(answer.text, "required query parameter 'destination' not set")
    })
  })

  describe('service-intentions config entries', () => {
    it('stores an entry, normalized and sorted by precedence, and deletes it', async () => {
      const put = await call(agent, '/v1/config', {
        method: 'PUT',
        body: { Kind: 'service-intentions', Name: 'db', Meta: { owner: 'team' }, Sources: [{ Name: '*', Action: 'deny' }, { Name: 'web', Action: 'allow' }] }
      })
      assert.equal(put.status, 200)
      assert.equal(put.text, 'true')
      const entry = (await call(agent, '/v1/config/service-intentions/db')).json()
      assert.deepEqual({ ...entry, CreateIndex: 0, ModifyIndex: 0 }, {
        Kind: 'service-intentions',
        Name: 'db',
        Sources: [
          { Name: 'web', Action: 'allow', Precedence: 9, Type: 'consul' },
          { Name: '*', Action: 'deny', Precedence: 8, Type: 'consul' }
        ],
        Meta: { owner: 'team' },
        CreateIndex: 0,
        ModifyIndex: 0
      })
      const match = (await call(agent, '/v1/connect/intentions/match?by=destination&name=db')).json()
      assert.deepEqual(match.db[0].Meta, { owner: 'team' }, 'intentions carry the entry Meta')
      const deleted = await call(agent, '/v1/config/service-intentions/db', { method: 'DELETE' })
      assert.equal(deleted.text, '{}')
      const gone = await call(agent, '/v1/config/service-intentions/db')
      assert.equal(gone.status, 404)
      assert.equal(gone.text, 'Config entry not found for "service-intentions" / "db"')
    })

    // Invalid entries answer 500 with Consul's validation text.
    const invalid: Array<[string, { Name: string, Sources: object[] }, string]> = [
      ['no sources', { Name: 'db', Sources: [] }, 'At least one source is required'],
      ['a source without an action', { Name: 'db', Sources: [{ Name: 'web' }] }, "Sources[0].Action must be set to 'allow' or 'deny'"],
      ['an action beside permissions', { Name: 'db', Sources: [{ Name: 'web', Action: 'allow', Permissions: [{ Action: 'allow', HTTP: { PathPrefix: '/' } }] }] }, 'Sources[0].Action must be omitted if Permissions are specified'],
      ['a partial wildcard', { Name: 'db', Sources: [{ Name: 'we*', Action: 'allow' }] }, "Sources[0].Name: wildcard character '*' cannot be used with partial values"],
      ['a duplicate source', { Name: 'db', Sources: [{ Name: 'web', Action: 'allow' }, { Name: 'web', Action: 'deny' }] }, 'Sources[1] defines "web" more than once'],
      ['permissions on a wildcard destination', { Name: '*', Sources: [{ Name: 'web', Permissions: [{ Action: 'allow', HTTP: { PathPrefix: '/' } }] }] }, 'Sources[0].Permissions cannot be specified on intentions with wildcarded destinations'],
      ['a relative PathExact', { Name: 'db', Sources: [{ Name: 'web', Permissions: [{ Action: 'allow', HTTP: { PathExact: 'admin' } }] }] }, `Sources[0].Permissions[0].HTTP.PathExact doesn't start with '/': "admin"`],
      ['an empty HTTP matcher', { Name: 'db', Sources: [{ Name: 'web', Permissions: [{ Action: 'allow', HTTP: {} }] }] }, 'Sources[0].Permissions[0].HTTP should not be empty'],
      ['peer and partition together', { Name: 'db', Sources: [{ Name: 'web', Peer: 'p', Partition: 'ap', Action: 'allow' }] }, 'Sources[0].Peer: cannot set Peer and Partition at the same time.']
    ]
    for (const [what, entry, text] of invalid) {
      it(`refuses ${what}`, async () => {
        const answer = await call(agent, '/v1/config', { method: 'PUT', body: { Kind: 'service-intentions', ...entry } })
        assert.equal(answer.status, 500)
        assert.equal(answer.text, text)
        // The control method validates the same way (an empty list means "delete", so it has no such case).
        if (entry.Sources.length > 0) {
          assert.throws(() => agent.setIntentions(entry.Name, entry.Sources as never), { code: 'ERR_CONNECT_INVALID_OPTION', message: new RegExp(escape(text)) })
        }
      })
    }

    it('answers 400 to a wrong JSON type or another kind', async () => {
      const typed = await call(agent, '/v1/config', { method: 'PUT', body: { Kind: 'service-intentions', Name: 'db', Sources: [{ Name: 7 }] } })
      assert.equal(typed.status, 400)
      assert.match(typed.text, /^Request decoding failed: Sources\[0\]\.Name: /)
      const kind = await call(agent, '/v1/config', { method: 'PUT', body: { Kind: 'service-router', Name: 'db' } })
      assert.equal(kind.status, 400)
      assert.match(kind.text, /^Request decoding failed: /)
    })

    it('keeps peers and namespaces of sources in intentions', async () => {
      agent.setIntentions('db', [{ Name: 'web', Peer: 'east', Action: 'allow' }, { Name: 'api', Namespace: 'team', Action: 'deny' }])
      const list = (await call(agent, '/v1/connect/intentions/match?by=destination&name=db')).json().db
      assert.deepEqual(list.map((i: { SourceNS: string, SourceName: string, SourcePeer?: string }) => [i.SourcePeer, i.SourceNS, i.SourceName]), [
        // Same precedence: the tie breaks on the peer first (none sorts before "east").
        [undefined, 'team', 'api'], ['east', 'default', 'web']
      ])
      // A peered source never matches a local client.
      assert.deepEqual(await authorize('web', 'db'), { Authorized: true, Reason: 'Default behavior configured by ACLs' })
    })
  })
})

function escape (text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
}
