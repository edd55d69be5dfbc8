import assert from 'node:assert/strict'
import { TestAgent } from '../../lib/testing/index.js'
import { call } from './test-agent-client.js'

const LEAF = '/v1/agent/connect/ca/leaf/web'
const ANONYMOUS_HINT = '. The anonymous token is used implicitly when a request does not specify a token.'

describe('TestAgent', () => {
  describe('ACLs', () => {
    let agent: TestAgent

    before(async () => {
      agent = await TestAgent.start({
        acl: {
          defaultPolicy: 'deny',
          tokens: {
            'web-secret': { accessorId: 'acc-web', serviceWrite: ['web'] },
            'reader-secret': { accessorId: 'acc-reader', serviceRead: '*' },
            'ops-secret': { accessorId: 'acc-ops', intentionsWrite: true, operatorWrite: true, agentRead: true },
            'root-secret': { management: true }
          }
        }
      })
    })

    after(async () => {
      await agent.close()
    })

    it('reports the default policy in every answer', async () => {
      assert.equal((await call(agent, '/v1/agent/connect/ca/roots')).headers['x-consul-default-acl-policy'], 'deny')
    })

    it('serves the roots without a token (the endpoint needs none)', async () => {
      assert.equal((await call(agent, '/v1/agent/connect/ca/roots')).status, 200)
    })

    // [what, path, options, status, body]
    const cases: Array<[string, string, Parameters<typeof call>[2], number, string | undefined]> = [
      ['no token on a leaf', LEAF, {}, 403, `Permission denied: anonymous token lacks permission 'service:write' on "web"${ANONYMOUS_HINT}`],
      ['an unknown token', LEAF, { token: 'nope' }, 403, 'ACL not found'],
      ['an unknown token before any lookup', '/v1/connect/intentions/exact?source=x&destination=y', { token: 'nope' }, 403, 'ACL not found'],
      ['an unknown token on the roots (never resolved)', '/v1/agent/connect/ca/roots', { token: 'nope' }, 200, undefined],
      ['a token for another service', '/v1/agent/connect/ca/leaf/db', { token: 'web-secret' }, 403, `Permission denied: token with AccessorID 'acc-web' lacks permission 'service:write' on "db"`],
      ['a read-only token on a leaf', LEAF, { token: 'reader-secret' }, 403, `Permission denied: token with AccessorID 'acc-reader' lacks permission 'service:write' on "web"`],
      ['the service token on its leaf', LEAF, { token: 'web-secret' }, 200, undefined],
      ['a bearer token', LEAF, { headers: { Authorization: 'Bearer web-secret' } }, 200, undefined],
      ['service:read on health', '/v1/health/connect/db', { token: 'reader-secret' }, 200, undefined],
      ['no token on health (bare text)', '/v1/health/connect/db', {}, 403, 'Permission denied'],
      ['intention:read implied by service:write', '/v1/connect/intentions/match?by=destination&name=web', { token: 'web-secret' }, 200, undefined],
      ['intention:read on another service', '/v1/connect/intentions/match?by=destination&name=db', { token: 'web-secret' }, 403, `Permission denied: token with AccessorID 'acc-web' lacks permission 'intention:read' on "db"`],
      ['service:read for check', '/v1/connect/intentions/check?source=a&destination=db', { token: 'web-secret' }, 403, `Permission denied: token with AccessorID 'acc-web' lacks permission 'service:read' on "db"`],
      ['operator:write on the CA configuration', '/v1/connect/ca/configuration', { token: 'web-secret' }, 403, `Permission denied: token with AccessorID 'acc-web' lacks permission 'operator:write'`],
      ['agent:read on self', '/v1/agent/self', { token: 'web-secret' }, 403, `Permission denied: token with AccessorID 'acc-web' lacks permission 'agent:read' on "test-agent"`],
      ['agent:read granted', '/v1/agent/self', { token: 'ops-secret' }, 200, undefined],
      ['exact write without intention:write (bare text)', '/v1/connect/intentions/exact?source=a&destination=web', { method: 'PUT', token: 'web-secret', body: { Action: 'allow' } }, 403, 'Permission denied'],
      ['config write without intention:write', '/v1/config', { method: 'PUT', token: 'reader-secret', body: { Kind: 'service-intentions', Name: 'web', Sources: [{ Name: 'a', Action: 'allow' }] } }, 403, `Permission denied: token with AccessorID 'acc-reader' lacks permission 'intention:write' on "web"`],
      ['a management token anywhere', '/v1/connect/ca/configuration', { token: 'root-secret' }, 200, undefined]
    ]
    for (const [what, path, options, status, body] of cases) {
      it(`answers ${status} to ${what}`, async () => {
        const answer = await call(agent, path, options)
        assert.equal(answer.status, status, answer.text)
        if (body !== undefined) assert.equal(answer.text, body)
      })
    }

    it('lets an intentions writer write and everyone with read access read', async () => {
      const put = await call(agent, '/v1/connect/intentions/exact?source=api&destination=web', { method: 'PUT', token: 'ops-secret', body: { Action: 'allow' } })
      assert.equal(put.status, 200)
      const read = await call(agent, '/v1/connect/intentions/exact?source=api&destination=web', { token: 'web-secret' })
      assert.equal(read.status, 200)
      assert.equal(read.json().Action, 'allow')
      const denied = await call(agent, '/v1/connect/intentions/exact?source=api&destination=web')
      assert.equal(denied.status, 403)
      assert.equal(denied.text, 'Permission denied')
    })

    it('filters the config entry list instead of refusing it', async () => {
      await call(agent, '/v1/config', { method: 'PUT', token: 'root-secret', body: { Kind: 'service-intentions', Name: 'db', Sources: [{ Name: 'web', Action: 'allow' }] } })
      const list = (await call(agent, '/v1/config/service-intentions', { token: 'web-secret' })).json()
      assert.ok(list.every((e: { Name: string }) => e.Name === 'web'))
      const all = (await call(agent, '/v1/config/service-intentions', { token: 'root-secret' })).json()
      assert.ok(all.some((e: { Name: string }) => e.Name === 'db'))
    })

    it('uses the ACL default policy when no intention matches', async () => {
      const answer = await call(agent, '/v1/agent/connect/authorize', {
        method: 'POST',
        token: 'root-secret',
        body: { Target: 'billing', ClientCertURI: `spiffe://${agent.trustDomain}/ns/default/dc/dc1/svc/web` }
      })
      assert.deepEqual(answer.json(), { Authorized: false, Reason: 'Default behavior configured by ACLs' })
      const check = await call(agent, '/v1/connect/intentions/check?source=web&destination=billing', { token: 'root-secret' })
      assert.deepEqual(check.json(), { Allowed: false })
    })

    it('requires service:write on the target to authorize', async () => {
      const answer = await call(agent, '/v1/agent/connect/authorize', {
        method: 'POST',
        token: 'web-secret',
        body: { Target: 'db', ClientCertURI: `spiffe://${agent.trustDomain}/ns/default/dc/dc1/svc/web` }
      })
      assert.equal(answer.status, 403)
      assert.equal(answer.text, `Permission denied: token with AccessorID 'acc-web' lacks permission 'service:write' on "db"`)
    })
  })

  describe('ACLs with default allow', () => {
    it('allows what no grant covers, and refuses unknown tokens', async () => {
      const agent = await TestAgent.start({ acl: { defaultPolicy: 'allow', tokens: { s: { serviceWrite: ['web'] } } } })
      try {
        assert.equal((await call(agent, '/v1/agent/connect/ca/leaf/db')).status, 200)
        assert.equal((await call(agent, '/v1/agent/connect/ca/leaf/db', { token: 's' })).status, 200)
        assert.equal((await call(agent, '/v1/agent/connect/ca/leaf/db', { token: 'x' })).text, 'ACL not found')
      } finally {
        await agent.close()
      }
    })
  })
})
