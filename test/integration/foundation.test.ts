/**
 * The foundation against a real `consul agent -dev`: roots and leaf, a real CA root rotation, intentions
 * through the API, and ACL failures that keep the last good state.
 */
import assert from 'node:assert/strict'
import { once } from 'node:events'
import { generateKeyPairSync } from 'node:crypto'
import { AgentClient } from '../../lib/agent/client.js'
import { watchIntentions, watchLeaf, watchRoots } from '../../lib/agent/watchers.js'
import type { CaRoots, LeafCert } from '../../lib/agent/schemas.js'
import { ConnectError } from '../../lib/errors.js'
import { TrustBundle } from '../../lib/identity/bundle.js'
import { Identity } from '../../lib/identity/identity.js'
import { verifyChain } from '../../lib/identity/verify.js'
import { parseCertificates } from '../../lib/identity/x509.js'
import { parseSpiffeId } from '../../lib/spiffe-id.js'
import { DevAgent, consulVersion } from './support/consul-agent.js'

// Fast retries so error paths show within a test; the defaults (5 s × n²) are for production.
const quick = { backoff: { baseMs: 50, capMs: 500 }, rateLimit: { burst: 2, perSecond: 20 } } as const

// Typed by the query's `current` snapshot, so any BlockingQuery<Raw, T> fits.
function nextChange<T> (query: { readonly current: { readonly value: T } | undefined }, signal: AbortSignal): Promise<T> {
  return once(query as never, 'change', { signal }).then(([value]) => value as T)
}

function nextError (query: object, signal: AbortSignal): Promise<ConnectError> {
  return once(query as never, 'error', { signal }).then(([err]) => err as ConnectError)
}

describe(`foundation against a real agent (${consulVersion()})`, function () {
  this.timeout(120_000)

  describe('with ACLs off (consul agent -dev)', () => {
    let agent: DevAgent
    let client: AgentClient
    const queries: Array<{ close: () => Promise<void> }> = []
    const track = <Q extends { close: () => Promise<void> }>(q: Q): Q => { queries.push(q); return q }

    before(async () => {
      agent = await DevAgent.start()
      client = new AgentClient({ address: agent.address, env: false })
    })
    afterEach(async () => { await Promise.all(queries.splice(0).map((q) => q.close())) })
    after(async () => {
      await client?.close()
      await agent?.stop()
    })

    it('fetches roots and a leaf that chains to a root and carries the service SPIFFE ID', async () => {
      const roots = track(watchRoots(client, quick))
      const leaf = track(watchLeaf(client, 'web', quick))
      const signal = AbortSignal.timeout(30_000)
      const [r, l] = await Promise.all([roots.ready({ signal }), leaf.ready({ signal })])

      assert.match(r.TrustDomain, /^[0-9a-f-]{36}\.consul$/)
      assert.ok(r.Roots.length >= 1)
      const bundle = TrustBundle.fromPem(r.TrustDomain, r.Roots.map((root) => root.RootCert))
      const identity = Identity.fromPem({ certPem: l.CertPEM, keyPem: l.PrivateKeyPEM })

      const id = parseSpiffeId(identity.spiffeId)
      assert.equal(id.kind, 'service')
      assert.ok(id.kind === 'service')
      assert.equal(id.service, 'web')
      assert.equal(id.namespace, 'default')
      assert.equal(id.datacenter, agent.datacenter)
      assert.equal(id.trustDomain, r.TrustDomain)
      assert.equal(identity.spiffeId, l.ServiceURI)
      assert.equal(identity.serial, l.SerialNumber, 'serial in Consul colon-hex matches the agent')

      const result = verifyChain(identity.leaf, identity.intermediates, bundle, { usage: 'clientAuth' })
      assert.ok(result.ok, result.ok ? '' : result.error.message)
    })

    it('delivers a new leaf through the blocking watch after a CA root rotation; old and new roots both trusted', async () => {
      const roots = track(watchRoots(client, quick))
      const leaf = track(watchLeaf(client, 'rotating', quick))
      const signal = AbortSignal.timeout(100_000)
      const [before, firstLeaf]: [CaRoots, LeafCert] = await Promise.all([roots.ready({ signal }), leaf.ready({ signal })])
      const oldRoot = before.Roots.find((r) => r.Active)!
      assert.ok(oldRoot)

      // A new root key makes the built-in provider generate a new root: a real rotation.
      const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256', privateKeyEncoding: { type: 'sec1', format: 'pem' }, publicKeyEncoding: { type: 'spki', format: 'pem' } })
      const rootsChanged = nextChange(roots, signal)
      const leafChanged = nextChange(leaf, signal)
      await client.setCaConfiguration({ Provider: 'consul', Config: { PrivateKey: privateKey, LeafCertTTL: '72h' } })

      const after = await rootsChanged
      const newRoot = after.Roots.find((r) => r.Active)!
      assert.notEqual(newRoot.ID, oldRoot.ID, 'a new active root')
      assert.ok(after.Roots.some((r) => r.ID === oldRoot.ID), 'the old root stays listed (trusted) after rotation')

      const newLeaf = await leafChanged
      assert.notEqual(newLeaf.SerialNumber, firstLeaf.SerialNumber)
      const identity = Identity.fromPem({ certPem: newLeaf.CertPEM, keyPem: newLeaf.PrivateKeyPEM })
      const onlyNew = parseCertificates(newRoot.RootCert)
      const onlyOld = parseCertificates(oldRoot.RootCert)
      const both = TrustBundle.fromPem(after.TrustDomain, after.Roots.map((r) => r.RootCert))

      const viaNew = verifyChain(identity.leaf, identity.intermediates, onlyNew)
      assert.ok(viaNew.ok, `new leaf verifies against the new root: ${viaNew.ok ? '' : viaNew.error.message}`)
      const viaBoth = verifyChain(identity.leaf, identity.intermediates, both)
      assert.ok(viaBoth.ok)
      // Peers that still trust only the old root accept the new leaf through the cross-signed intermediate.
      const viaOld = verifyChain(identity.leaf, identity.intermediates, onlyOld)
      assert.ok(viaOld.ok, `new leaf verifies against the old root via the cross-signed chain: ${viaOld.ok ? '' : viaOld.error.message}`)
      // And the leaf issued before the rotation is still trusted by the new bundle.
      const oldIdentity = Identity.fromPem({ certPem: firstLeaf.CertPEM, keyPem: firstLeaf.PrivateKeyPEM })
      assert.ok(verifyChain(oldIdentity.leaf, oldIdentity.intermediates, both).ok)
    })

    it('sees an intention written through the API in one blocking round', async () => {
      const intentions = track(watchIntentions(client, 'db', quick))
      const signal = AbortSignal.timeout(30_000)
      // The first request goes out on a later tick, so this listener sees every request.
      const secondRequest = new Promise<{ blocking: boolean }>((resolve) => {
        let n = 0
        intentions.on('request', (info) => { if (++n === 2) resolve(info) })
      })
      const initial = await intentions.ready({ signal })
      assert.deepEqual(initial, [])
      assert.equal(intentions.counters.requests, 1, 'the first answer came from one (non-blocking) request')

      // Write only once the watch's blocking request is held by the agent.
      const blocking = await secondRequest
      assert.equal(blocking.blocking, true)
      let requestsAtChange = -1
      const changed = new Promise<ReadonlyArray<{ SourceName: string, DestinationName: string, Action?: string, Precedence: number }>>((resolve) => {
        intentions.once('change', (value) => { requestsAtChange = intentions.counters.requests; resolve(value as never) })
      })
      await client.upsertIntentionExact({ source: 'web', destination: 'db', intention: { Action: 'deny' } })
      const list = await changed

      assert.equal(list.length, 1)
      assert.equal(list[0]!.SourceName, 'web')
      assert.equal(list[0]!.DestinationName, 'db')
      assert.equal(list[0]!.Action, 'deny')
      assert.equal(list[0]!.Precedence, 9)
      // The blocking request that was held when the intention was written returned with it: one round.
      assert.equal(requestsAtChange, 2, 'the change arrived on the first blocking request')
    })
  })

  describe('with ACLs on (default deny)', () => {
    let agent: DevAgent
    before(async () => { agent = await DevAgent.start({ acl: { defaultPolicy: 'deny' } }) })
    after(async () => { await agent?.stop() })

    it('reports a token without rights as ERR_CONNECT_AGENT_PERMISSION_DENIED', async () => {
      const token = await agent.createToken('node_prefix "" { policy = "read" }')
      const client = new AgentClient({ address: agent.address, token, env: false })
      const leaf = watchLeaf(client, 'web', quick)
      try {
        const err = await nextError(leaf, AbortSignal.timeout(30_000))
        assert.ok(err instanceof ConnectError)
        assert.equal(err.code, 'ERR_CONNECT_AGENT_PERMISSION_DENIED')
        assert.match(err.message, /fetching leaf for "web": agent answered 403/)
        assert.ok(!err.message.includes(token), 'the token never appears in errors')
        assert.equal(leaf.current, undefined)
      } finally {
        await leaf.close()
        await client.close()
      }
    })

    it('keeps the last good intentions when the token loses its rights', async () => {
      // The agent serves a cached leaf even after its token is revoked (checked against Consul 1.22), but it
      // re-checks the token on every intentions query: that is where a revocation shows.
      await agent.api('PUT', '/v1/connect/intentions/exact?source=web&destination=db', { Action: 'allow' })
      const policy = await agent.api('PUT', '/v1/acl/policy', { Name: 'db-read', Rules: 'service "db" { policy = "read" }' }) as { ID: string }
      const tok = await agent.api('PUT', '/v1/acl/token', { Policies: [{ ID: policy.ID }] }) as { SecretID: string }
      const client = new AgentClient({ address: agent.address, token: tok.SecretID, env: false })
      // Short waits so the watch asks again soon after the rights are gone.
      const intentions = watchIntentions(client, 'db', { ...quick, waitMs: 500 })
      try {
        const good = await intentions.ready({ signal: AbortSignal.timeout(30_000) })
        assert.equal(good.length, 1)
        assert.equal(good[0]!.SourceName, 'web')

        const errored = nextError(intentions, AbortSignal.timeout(30_000))
        await agent.api('PUT', `/v1/acl/policy/${policy.ID}`, { Name: 'db-read', Rules: 'node_prefix "" { policy = "read" }' })
        const err = await errored
        assert.equal(err.code, 'ERR_CONNECT_AGENT_PERMISSION_DENIED')
        assert.match(err.message, /lacks permission 'intention:read'/)
        assert.ok(!err.message.includes(tok.SecretID), 'the token never appears in errors')
        assert.equal(intentions.current?.value, good, 'the last good intentions are kept')
        assert.ok(intentions.counters.errors >= 1)
      } finally {
        await intentions.close()
        await client.close()
      }
    })
  })
})
