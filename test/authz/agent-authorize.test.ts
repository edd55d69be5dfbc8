import assert from 'node:assert/strict'
import { AgentClient } from '../../lib/agent/client.js'
import type { AuthorizeAnswer } from '../../lib/agent/schemas.js'
import { agentAuthorize } from '../../lib/authz/agent-authorize.js'
import type { Peer } from '../../lib/authz/authorizer.js'
import { AgentError, ConnectError, InvalidOptionError } from '../../lib/errors.js'
import { parseCertificate } from '../../lib/identity/x509.js'
import { parseSpiffeId } from '../../lib/spiffe-id.js'
import { TestAgent } from '../../lib/testing/test-agent.js'
import { TestCA } from '../../lib/testing/test-ca.js'

const TD = 'aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee.consul'
const peer = (name: string): Peer => ({ id: parseSpiffeId(`spiffe://${TD}/ns/default/dc/dc1/svc/${name}`) })
const REQUEST = { method: 'GET', path: '/', headers: {} }

interface Call {
  readonly args: { target: string, clientCertUri: string, clientCertSerial: string }
  readonly options: { timeoutMs?: number }
  readonly resolve: (answer: AuthorizeAnswer) => void
  readonly reject: (err: unknown) => void
}

/** An agent client whose authorize calls wait until the test answers them. */
class FakeClient {
  readonly calls: Call[] = []
  authorize (args: Call['args'], options: Call['options'] = {}): Promise<AuthorizeAnswer> {
    return new Promise((resolve, reject) => { this.calls.push({ args, options, resolve, reject }) })
  }
}

/** A clock the test moves by hand. */
class ManualClock {
  time = 1_000
  now (): number { return this.time }
}

describe('agentAuthorize', () => {
  let client: FakeClient
  let clock: ManualClock
  beforeEach(() => {
    client = new FakeClient()
    clock = new ManualClock()
  })

  describe('#authorizer', () => {
    it('denies until an answer is prefetched (fail closed)', () => {
      const { authorizer } = agentAuthorize(client, { target: 'db', clock })
      const d = authorizer(peer('web'))
      assert.deepEqual([d.allowed, d.layer], [false, 'L4'])
      assert.match(d.reason, /authorization pending/)
      assert.equal(client.calls.length, 0, 'the synchronous check never calls the agent')
    })

    it('answers from a fresh prefetched answer, with the agent\'s reason', async () => {
      const a = agentAuthorize(client, { target: 'db', clock })
      const pending = a.prefetch(peer('web'))
      client.calls[0]!.resolve({ Authorized: true, Reason: 'Matched L4 intention: default/web => default/db (Precedence: 9, Action: ALLOW)' })
      assert.deepEqual(await pending, { allowed: true, reason: 'Matched L4 intention: default/web => default/db (Precedence: 9, Action: ALLOW)', layer: 'L4' })
      assert.equal(a.authorizer(peer('web')).allowed, true)
      assert.equal(a.authorizer(peer('web'), REQUEST).layer, 'L7')
      assert.equal(a.authorizer(peer('api')).allowed, false, 'another identity has no answer')
    })

    it('denies again once the answer is older than cacheTtlMs', async () => {
      const a = agentAuthorize(client, { target: 'db', clock, cacheTtlMs: 5_000 })
      const pending = a.prefetch(peer('web'))
      client.calls[0]!.resolve({ Authorized: true, Reason: 'ok' })
      await pending
      clock.time += 4_999
      assert.equal(a.authorizer(peer('web')).allowed, true)
      clock.time += 1
      assert.match(a.authorizer(peer('web')).reason, /authorization pending/)
    })

    it('denies non-service identities without asking', async () => {
      const a = agentAuthorize(client, { target: 'db', clock })
      const agentPeer: Peer = { id: parseSpiffeId(`spiffe://${TD}/agent/client/dc/dc1/id/n1`) }
      assert.match(a.authorizer(agentPeer).reason, /not a service identity/)
      assert.equal((await a.prefetch(agentPeer)).allowed, false)
      assert.equal(client.calls.length, 0)
    })
  })

  describe('#prefetch', () => {
    it('sends the target, the SPIFFE ID, the serial and the timeout', async () => {
      const leaf = await (await TestCA.create()).issueLeaf({ service: 'web' })
      const certificate = parseCertificate(leaf.leafPem)
      const a = agentAuthorize(client, { target: 'db', clock, timeoutMs: 1234 })
      const pending = a.prefetch({ id: parseSpiffeId(leaf.spiffeId), certificate })
      client.calls[0]!.resolve({ Authorized: false, Reason: 'no' })
      await pending
      assert.deepEqual(client.calls[0]!.args, { target: 'db', clientCertUri: leaf.spiffeId, clientCertSerial: leaf.serial })
      assert.equal(client.calls[0]!.options.timeoutMs, 1234)
    })

    it('shares one call among concurrent prefetches of an identity', async () => {
      const a = agentAuthorize(client, { target: 'db', clock })
      const both = Promise.all([a.prefetch(peer('web')), a.prefetch(peer('web'))])
      assert.equal(client.calls.length, 1)
      client.calls[0]!.resolve({ Authorized: true, Reason: 'ok' })
      const [x, y] = await both
      assert.equal(x, y)
    })

    it('answers from the cache while fresh, and asks again after', async () => {
      const a = agentAuthorize(client, { target: 'db', clock, cacheTtlMs: 100 })
      const first = a.prefetch(peer('web'))
      client.calls[0]!.resolve({ Authorized: true, Reason: 'ok' })
      await first
      await a.prefetch(peer('web'))
      assert.equal(client.calls.length, 1)
      clock.time += 100
      const again = a.prefetch(peer('web'))
      assert.equal(client.calls.length, 2)
      client.calls[1]!.resolve({ Authorized: false, Reason: 'changed' })
      assert.equal((await again).reason, 'changed')
      assert.equal(a.authorizer(peer('web')).reason, 'changed')
    })

    it('turns a failure into a deny naming it, remembered for failureTtlMs', async () => {
      const a = agentAuthorize(client, { target: 'db', clock, failureTtlMs: 500 })
      const pending = a.prefetch(peer('web'))
      client.calls[0]!.reject(new AgentError('ERR_CONNECT_AGENT_TIMEOUT', 'authorizing "web": the agent did not answer in 5000 ms'))
      const d = await pending
      assert.deepEqual([d.allowed, d.reason], [false, 'denied: agent authorization failed: authorizing "web": the agent did not answer in 5000 ms'])
      assert.equal(a.authorizer(peer('web')).reason, d.reason)
      await a.prefetch(peer('web'))
      assert.equal(client.calls.length, 1, 'a failure is not retried at once')
      clock.time += 500
      void a.prefetch(peer('web'))
      assert.equal(client.calls.length, 2)
    })

    it('turns a client that throws at once into a deny, and does not stay stuck on it', async () => {
      let calls = 0
      const throwing = { authorize: (): Promise<AuthorizeAnswer> => { calls++; throw new Error('closed') } }
      const a = agentAuthorize(throwing, { target: 'db', clock, failureTtlMs: 10 })
      assert.match((await a.prefetch(peer('web'))).reason, /failed: closed/)
      clock.time += 10
      await a.prefetch(peer('web'))
      assert.equal(calls, 2)
    })

    it('rejects with ERR_CONNECT_ABORTED when its signal aborts; the answer is still cached', async () => {
      const a = agentAuthorize(client, { target: 'db', clock })
      const controller = new AbortController()
      const pending = a.prefetch(peer('web'), { signal: controller.signal })
      controller.abort()
      await assert.rejects(pending, (err: unknown) => err instanceof ConnectError && err.code === 'ERR_CONNECT_ABORTED')
      client.calls[0]!.resolve({ Authorized: true, Reason: 'late' })
      assert.equal((await a.prefetch(peer('web'))).reason, 'late')
      await assert.rejects(a.prefetch(peer('api'), { signal: AbortSignal.abort() }), /aborted/)
    })
  })

  describe('#clear / #size', () => {
    it('forgets every answer', async () => {
      const a = agentAuthorize(client, { target: 'db', clock })
      const p = a.prefetch(peer('web'))
      client.calls[0]!.resolve({ Authorized: true, Reason: 'ok' })
      await p
      assert.equal(a.size, 1)
      a.clear()
      assert.equal(a.size, 0)
      assert.match(a.authorizer(peer('web')).reason, /pending/)
    })

    it('keeps at most maxEntries answers, dropping the oldest', async () => {
      const a = agentAuthorize(client, { target: 'db', clock, maxEntries: 2 })
      for (const [k, name] of ['a', 'b', 'c'].entries()) {
        const p = a.prefetch(peer(name))
        client.calls[k]!.resolve({ Authorized: true, Reason: name })
        await p
      }
      assert.equal(a.size, 2)
      assert.match(a.authorizer(peer('a')).reason, /pending/)
      assert.equal(a.authorizer(peer('c')).reason, 'c')
    })
  })

  describe('options', () => {
    const fieldOf = (fn: () => unknown): string => {
      try { fn() } catch (err) { if (err instanceof InvalidOptionError) return err.field }
      return 'no error'
    }
    it('are validated at once, naming the field', () => {
      assert.equal(fieldOf(() => agentAuthorize(client, {} as never)), 'target')
      assert.equal(fieldOf(() => agentAuthorize({} as never, { target: 'db' })), 'client')
      assert.equal(fieldOf(() => agentAuthorize(client, { target: 'db', cacheTtlMs: 0 })), 'cacheTtlMs')
      assert.equal(fieldOf(() => agentAuthorize(client, { target: 'db', timeoutMs: -1 })), 'timeoutMs')
      assert.equal(fieldOf(() => agentAuthorize(client, { target: 'db', failureTtlMs: Number.NaN })), 'failureTtlMs')
      assert.equal(fieldOf(() => agentAuthorize(client, { target: 'db', maxEntries: 0 })), 'maxEntries')
    })
  })

  describe('with a TestAgent', () => {
    let agent: TestAgent
    let agentClient: AgentClient
    before(async () => {
      agent = await TestAgent.start()
      agent.setServiceDefaults('db', { Protocol: 'http' })
      agent.setIntentions('db', [
        { Name: 'web', Action: 'allow' },
        { Name: 'api', Permissions: [{ Action: 'allow', HTTP: { PathPrefix: '/' } }] },
        { Name: '*', Action: 'deny' }
      ])
      agentClient = new AgentClient({ address: agent.address, env: false })
    })
    after(async () => {
      await agentClient?.close()
      await agent?.close()
    })

    it('decides as the agent does, one request per identity', async () => {
      const a = agentAuthorize(agentClient, { target: 'db' })
      const [web, api, other] = await Promise.all([a.prefetch(peer('web')), a.prefetch(peer('api')), a.prefetch(peer('other'))])
      assert.deepEqual([web.allowed, web.reason], [true, 'Matched L4 intention: default/web => default/db (Precedence: 9, Action: ALLOW)'])
      assert.deepEqual([api.allowed, api.reason], [false, 'Matched L7 intention: default/api => default/db (Precedence: 9, Permissions: 1)'])
      assert.equal(other.allowed, false)
      await a.prefetch(peer('web'))
      assert.equal(a.authorizer(peer('web')).allowed, true)
      assert.equal(agent.requestCount({ path: '/v1/agent/connect/authorize' }), 3)
    })
  })
})
