import assert from 'node:assert/strict'
import { AgentClient } from '../../lib/agent/client.js'
import { CertificateError, ConnectError, InvalidOptionError } from '../../lib/errors.js'
import type { ErrorCode } from '../../lib/errors.js'
import { AgentCredentialsSource, agentCredentials } from '../../lib/identity/agent-source.js'
import type { AgentCredentialsOptions } from '../../lib/identity/agent-source.js'
import { TrustBundle } from '../../lib/identity/bundle.js'
import type { Credentials, CredentialsChange } from '../../lib/identity/source.js'
import { verifyChain } from '../../lib/identity/verify.js'
import { TestAgent } from '../../lib/testing/test-agent.js'
import type { FaultSpec } from '../../lib/testing/faults.js'

const LEAF = '/v1/agent/connect/ca/leaf/web'
const ROOTS = '/v1/agent/connect/ca/roots'
// Retries within milliseconds; short blocking waits so a fault added after ready() is met quickly.
const fast = { rateLimit: { burst: 1000, perSecond: 1000 }, backoff: { baseMs: 1, capMs: 5, jitter: 'none' as const } }

interface Change { next: Credentials, previous: Credentials, change: CredentialsChange }

/** The next change whose new snapshot satisfies `predicate`. */
function changeWhere (source: AgentCredentialsSource, predicate: (next: Credentials) => boolean): Promise<Change> {
  return new Promise((resolve) => {
    const off = source.onChange((next, previous, change) => {
      if (!predicate(next)) return
      off()
      resolve({ next, previous, change })
    })
  })
}

/** The next error reported with `code`. */
function errorWithCode (source: AgentCredentialsSource, code: ErrorCode): Promise<ConnectError> {
  return new Promise((resolve) => {
    const off = source.onError((err) => {
      if (err.code !== code) return
      off()
      resolve(err)
    })
  })
}

describe('AgentCredentialsSource', () => {
  let agent: TestAgent
  let client: AgentClient
  const sources: AgentCredentialsSource[] = []
  const extraAgents: TestAgent[] = []

  function source (options: Partial<AgentCredentialsOptions> = {}, on: { client: AgentClient } = { client }): AgentCredentialsSource {
    const s = new AgentCredentialsSource({ client: on.client, service: 'web', watch: fast, ...options })
    sources.push(s)
    return s
  }

  beforeEach(async () => {
    agent = await TestAgent.start()
    client = new AgentClient({ env: {}, address: agent.address })
  })

  afterEach(async () => {
    await Promise.all(sources.splice(0).map((s) => s.close()))
    await client.close()
    await Promise.all([agent, ...extraAgents.splice(0)].map((a) => a.close()))
  })

  describe('constructor', () => {
    const cases: Array<[string, unknown, string]> = [
      ['an empty service', { service: '' }, 'service'],
      ['a client that is not one', { client: {} }, 'client'],
      ['an unknown option', { services: 'web' }, 'services'],
      ['an unknown watch option', { watch: { transform: () => 1 } }, 'watch.transform'],
      ['a bad backoff', { watch: { backoff: { baseMs: -1 } } }, 'watch.backoff.baseMs']
    ]
    for (const [what, options, field] of cases) {
      it(`throws InvalidOptionError naming "${field}" for ${what}`, () => {
        assert.throws(() => new AgentCredentialsSource({ client, service: 'web', ...options as object }),
          (err: unknown) => err instanceof InvalidOptionError && err.field === field)
      })
    }

    it('makes no request when the options are invalid', async () => {
      assert.throws(() => agentCredentials({ client, service: 'web', watch: { waitMs: 0 } }), InvalidOptionError)
      await client.self()
      assert.equal(agent.requestCount({ path: /connect/ }), 0)
    })
  })

  describe('#ready', () => {
    it('resolves with the service\'s identity and a bundle of the agent\'s trust domain', async () => {
      const s = source()
      assert.equal(s.status, 'loading')
      const credentials = await s.ready()
      const issued = await agent.leaf('web')
      assert.equal(Object.isFrozen(credentials), true)
      assert.equal(credentials, s.credentials)
      assert.equal(credentials.generation, 2)
      assert.equal(credentials.identity?.spiffeId, issued.spiffeId)
      assert.equal(credentials.identity?.serial, issued.serial)
      assert.equal(credentials.bundle?.trustDomain, agent.trustDomain)
      assert.deepEqual(credentials.bundle?.pem, [agent.ca.rootPem])
      assert.equal(s.status, 'ready')
      assert.equal(s.leafExpired(), false)
    })

    it('keeps waiting through agent errors, then rejects with ERR_CONNECT_ABORTED on abort', async () => {
      agent.fault({ path: LEAF, status: 403, body: 'Permission denied' })
      const s = source()
      const controller = new AbortController()
      const waiting = s.ready({ signal: controller.signal })
      await errorWithCode(s, 'ERR_CONNECT_AGENT_PERMISSION_DENIED')
      controller.abort(new Error('deadline'))
      await assert.rejects(waiting, (err: unknown) => err instanceof ConnectError && err.code === 'ERR_CONNECT_ABORTED')
      assert.equal(s.status, 'loading')
      assert.equal(s.credentials.identity, undefined)
    })

    it('rejects with ERR_CONNECT_CLOSED when closed first', async () => {
      agent.fault({ path: LEAF, hang: true })
      const s = source()
      const waiting = s.ready()
      await s.close()
      await assert.rejects(waiting, (err: unknown) => err instanceof ConnectError && err.code === 'ERR_CONNECT_CLOSED')
    })
  })

  describe('#onChange', () => {
    it('reports a renewed leaf with identityChanged and a new serial', async () => {
      const s = source()
      const before = await s.ready()
      const changed = changeWhere(s, () => true)
      const renewed = await agent.renewLeaf('web')
      const { next, previous, change } = await changed
      assert.deepEqual(change, { identityChanged: true, bundleChanged: false })
      assert.equal(previous, before)
      assert.equal(next.generation, before.generation + 1)
      assert.equal(next.identity?.serial, renewed.serial)
      assert.notEqual(next.identity?.serial, before.identity?.serial)
      assert.equal(next.bundle, before.bundle)
      assert.equal(s.credentials, next)
    })

    it('after a root rotation trusts both roots, and the new leaf verifies against the old root', async () => {
      const s = source()
      const before = await s.ready()
      const oldRoot = agent.ca
      const rotated = changeWhere(s, (next) => next.bundle?.size === 2 && next.identity?.serial !== before.identity?.serial)
      const newRoot = await agent.rotateRoot()
      const { next } = await rotated
      assert.equal(next.bundle?.trustDomain, agent.trustDomain)
      assert.deepEqual(new Set(next.bundle?.pem), new Set([oldRoot.rootPem, newRoot.rootPem]))
      const identity = next.identity!
      const onlyOld = TrustBundle.fromPem(agent.trustDomain, oldRoot.rootPem)
      const viaOld = verifyChain(identity.leaf, identity.intermediates, onlyOld)
      assert.equal(viaOld.ok, true, viaOld.ok ? '' : viaOld.error.message)
      assert.equal(verifyChain(identity.leaf, identity.intermediates, next.bundle!).ok, true)
    })

    it('does not bump the generation for an answer whose certificates did not change', async () => {
      const s = source({ watch: { ...fast, waitMs: 20 } })
      const before = await s.ready()
      let changes = 0
      s.onChange(() => { changes++ })
      // Two more leaf answers, same content (the blocking wait ran out).
      const requests = s.counters.leaf.requests
      await agent.nextRequest({ path: LEAF, held: true })
      await agent.nextRequest({ path: LEAF, held: true })
      assert.ok(s.counters.leaf.requests >= requests + 1)
      assert.equal(changes, 0)
      assert.equal(s.credentials, before)
    })
  })

  describe('#onError', () => {
    const faults: Array<[string, Omit<FaultSpec, 'path'>, ErrorCode]> = [
      ['a malformed body', { malformed: true }, 'ERR_CONNECT_AGENT_INVALID_ANSWER'],
      ['a 500', { status: 500, body: 'internal error' }, 'ERR_CONNECT_AGENT_HTTP'],
      ['a 403', { status: 403, body: 'Permission denied' }, 'ERR_CONNECT_AGENT_PERMISSION_DENIED']
    ]
    for (const [what, fault, code] of faults) {
      it(`reports ${what} on the leaf path as ${code} and keeps the credentials`, async () => {
        const s = source({ watch: { ...fast, waitMs: 20 } })
        const before = await s.ready()
        const reported = errorWithCode(s, code)
        agent.fault({ path: LEAF, times: 1, ...fault })
        const err = await reported
        assert.match(err.message, /^fetching leaf for "web"/)
        assert.equal(s.credentials, before)
        assert.equal(s.lastError, err)
      })
    }

    it('refuses a leaf of another service as an invalid answer and keeps the last good one', async () => {
      const s = source({ watch: { ...fast, waitMs: 20 } })
      const before = await s.ready()
      const wrong = await agent.ca.issueLeaf({ service: 'api', datacenter: agent.datacenter })
      const reported = errorWithCode(s, 'ERR_CONNECT_AGENT_INVALID_ANSWER')
      agent.fault({ path: LEAF, times: 1, body: leafBody(wrong, 'web') })
      const err = await reported
      assert.ok(err.cause instanceof CertificateError)
      assert.equal(err.cause.code, 'ERR_CONNECT_CERT_SAN')
      assert.match(err.message, /is for service "api" .*expected "web"/)
      assert.equal(s.credentials, before)
      assert.equal(s.status, 'ready')
    })

    it('refuses a leaf whose SPIFFE ID is not a service ID', async () => {
      const s = source({ watch: { ...fast, waitMs: 20 } })
      const before = await s.ready()
      const wrong = await agent.ca.issueLeaf({ spiffeId: `spiffe://${agent.trustDomain}/agent/client/dc/dc1/id/node1` })
      const reported = errorWithCode(s, 'ERR_CONNECT_AGENT_INVALID_ANSWER')
      agent.fault({ path: LEAF, times: 1, body: leafBody(wrong, 'web') })
      assert.match((await reported).message, /carries a agent ID/)
      assert.equal(s.credentials, before)
    })

    it('refuses a leaf that has already expired', async () => {
      const s = source({ watch: { ...fast, waitMs: 20 } })
      const before = await s.ready()
      const hourAgo = Date.now() - 3_600_000
      const expired = await agent.ca.issueLeaf({ service: 'web', notBefore: new Date(hourAgo - 60_000), notAfter: new Date(hourAgo) })
      const reported = errorWithCode(s, 'ERR_CONNECT_AGENT_INVALID_ANSWER')
      agent.fault({ path: LEAF, times: 1, body: leafBody(expired, 'web') })
      const err = await reported
      assert.ok(err.cause instanceof CertificateError)
      assert.equal(err.cause.code, 'ERR_CONNECT_CERT_EXPIRED')
      assert.equal(s.credentials, before)
    })

    it('refuses a roots answer that lists no root and keeps the bundle', async () => {
      const s = source({ watch: { ...fast, waitMs: 20 } })
      const before = await s.ready()
      const reported = errorWithCode(s, 'ERR_CONNECT_AGENT_INVALID_ANSWER')
      agent.fault({ path: ROOTS, times: 1, body: { ActiveRootID: '', TrustDomain: agent.trustDomain, Roots: [] } })
      assert.match((await reported).message, /^fetching CA roots: .*no roots listed/)
      assert.equal(s.credentials, before)
    })

    it('does not report to a listener that unsubscribed', async () => {
      agent.fault({ path: LEAF, status: 500 })
      const s = source()
      let heard = 0
      const off = s.onError(() => { heard++ })
      off()
      await errorWithCode(s, 'ERR_CONNECT_AGENT_HTTP')
      assert.equal(heard, 0)
    })
  })

  describe('#status', () => {
    it('turns expired with ERR_CONNECT_LEAF_EXPIRED when no fresh leaf arrives, and ready again when one does', async () => {
      const shortLived = await TestAgent.start({ leafTtlMs: 1000 })
      extraAgents.push(shortLived)
      const shortClient = new AgentClient({ env: {}, address: shortLived.address })
      try {
        const s = source({}, { client: shortClient })
        await s.ready()
        // Every later leaf request hangs; the renewal answers the request already held, so the
        // source holds the renewed leaf and then hears nothing more.
        shortLived.fault({ path: LEAF, hang: true })
        const expired = errorWithCode(s, 'ERR_CONNECT_LEAF_EXPIRED')
        await shortLived.renewLeaf('web')
        const err = await expired
        const stale = s.credentials.identity!
        assert.match(err.message, /^credentials of "web": leaf .* expired at .* and no fresh one has arrived$/)
        assert.equal(s.status, 'expired')
        assert.equal(s.leafExpired(), true)
        assert.ok(stale.validBefore.getTime() <= Date.now())

        const fresh = changeWhere(s, (next) => next.identity !== stale)
        shortLived.clearFaults()
        const { change } = await fresh
        assert.equal(change.identityChanged, true)
        assert.equal(s.status, 'ready')
      } finally {
        await Promise.all(sources.splice(0).map((x) => x.close()))
        await shortClient.close()
      }
    })

    it('answers leafExpired for a given time', async () => {
      const s = source()
      const { identity } = await s.ready()
      assert.equal(s.leafExpired(identity!.validBefore.getTime() - 1), false)
      assert.equal(s.leafExpired(identity!.validBefore.getTime()), true)
    })
  })

  describe('#counters', () => {
    it('exposes the frozen counters of both queries', async () => {
      const s = source()
      await s.ready()
      const counters = s.counters
      assert.equal(Object.isFrozen(counters), true)
      assert.equal(counters.roots.changes, 1)
      assert.equal(counters.leaf.changes, 1)
      assert.ok(counters.leaf.requests >= 1)
      assert.equal(counters.leaf.errors, 0)
    })
  })

  describe('#close', () => {
    it('stops both queries, leaves the client open, and is idempotent', async () => {
      // The second leaf request is the first blocking one: close() must end it while the agent holds it.
      const held = agent.nextRequest({ path: LEAF, held: true })
      const s = source()
      await s.ready()
      let changes = 0
      s.onChange(() => { changes++ })
      await held
      await Promise.all([s.close(), s.close()])
      await s.close()
      const leafRequests = agent.requestCount({ path: LEAF })
      const counters = s.counters
      await agent.renewLeaf('web')
      await agent.rotateRoot()
      // The client still works, and a request through it orders after anything the source could send.
      assert.equal(client.closed, false)
      await client.self()
      assert.equal(agent.requestCount({ path: LEAF }), leafRequests)
      assert.deepEqual(s.counters, counters)
      assert.equal(changes, 0)
    })
  })
})

/** A leaf answer body carrying `leaf`, as the agent would send it for `service`. */
function leafBody (leaf: { certPem: string, keyPem: string, serial: string, spiffeId: string, notBefore: Date, notAfter: Date }, service: string): Record<string, unknown> {
  return {
    SerialNumber: leaf.serial,
    CertPEM: leaf.certPem,
    PrivateKeyPEM: leaf.keyPem,
    Service: service,
    ServiceURI: leaf.spiffeId,
    ValidAfter: leaf.notBefore.toISOString(),
    ValidBefore: leaf.notAfter.toISOString()
  }
}
