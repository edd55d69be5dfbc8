import assert from 'node:assert/strict'
import { TestAgent, TestCA } from '../../lib/testing/index.js'
import { check, cli, closedPort, json } from './support.js'
import type { DoctorJson } from './support.js'

const EVERY_CHECK = ['agent', 'leader', 'connect', 'trust-domain', 'token', 'leaf', 'chain', 'intentions', 'default-policy']

describe('consul-connect-native doctor', () => {
  describe('against a healthy agent (ACLs off)', () => {
    let agent: TestAgent
    let env: Record<string, string>

    before(async () => {
      agent = await TestAgent.start()
      env = { CONSUL_HTTP_ADDR: agent.address }
    })
    afterEach(() => agent.clearFaults())
    after(async () => { await agent.close() })

    it('exits 0 with every check ok and an OK verdict', async () => {
      const result = await cli(['doctor', '--service', 'web'], env)
      assert.equal(result.code, 0, result.stdout + result.stderr)
      assert.equal(result.stderr, '')
      const lines = result.stdout.split('\n')
      assert.equal(lines[0], `doctor: service "web", agent ${agent.url} (from CONSUL_HTTP_ADDR), token none`)
      for (const title of ['agent reachable', 'leader known', 'Connect enabled', 'trust domain', 'token may fetch the leaf', 'leaf certificate', 'leaf verifies against roots', 'intentions readable', 'default policy']) {
        assert.ok(lines.some((line) => line.startsWith(`  ok    ${title}`)), `no ok line for ${title} in:\n${result.stdout}`)
      }
      assert.doesNotMatch(result.stdout, /FAIL|warn|fix:/)
      assert.match(result.stdout, /\nverdict: OK: "web" can join the mesh\n$/)
    })

    it('reports every check with stable keys in --json', async () => {
      const result = await cli(['doctor', '--service', 'web', '--json'], env)
      assert.equal(result.code, 0)
      const doc = json<DoctorJson>(result)
      assert.deepEqual(Object.keys(doc), ['command', 'ok', 'verdict', 'service', 'agent', 'checks', 'counts'])
      assert.equal(doc.command, 'doctor')
      assert.equal(doc.ok, true)
      assert.equal(doc.verdict, 'ok')
      assert.deepEqual(doc.agent, { address: agent.url, addressSource: 'CONSUL_HTTP_ADDR', addressSetting: `CONSUL_HTTP_ADDR=${agent.address}`, tokenSource: 'none' })
      assert.deepEqual(doc.checks.map((c) => c.id), EVERY_CHECK)
      assert.deepEqual(doc.counts, { ok: 9, warn: 0, fail: 0, skip: 0 })
      for (const c of doc.checks) {
        assert.deepEqual(Object.keys(c), ['id', 'title', 'status', 'summary', 'fix', 'data'])
        assert.equal(c.status, 'ok', `${c.id}: ${c.summary}`)
        assert.equal(c.fix, null)
      }
      const leaf = await agent.leaf('web')
      assert.deepEqual(Object.keys(check(doc, 'leaf').data!), ['spiffeId', 'serial', 'validAfter', 'validBefore', 'expiresInMs'])
      assert.equal(check(doc, 'leaf').data!['spiffeId'], leaf.spiffeId)
      assert.equal(check(doc, 'leaf').data!['serial'], leaf.serial)
      assert.deepEqual(check(doc, 'trust-domain').data, { trustDomain: agent.trustDomain, leafTrustDomain: agent.trustDomain })
      assert.deepEqual(check(doc, 'intentions').data, { count: 0, l7: 0 })
      assert.deepEqual(check(doc, 'agent').data, { address: agent.url, version: '1.21.0', node: 'test-agent', datacenter: 'dc1' })
      assert.deepEqual(check(doc, 'default-policy').data, {
        allow: true, reason: 'Default behavior configured by ACLs', source: 'acl', via: 'authorize-probe', notes: ['agent self: the answer does not disclose the default policy']
      })
    })

    it('counts the destination\'s intentions, L7 ones apart', async () => {
      agent.setServiceDefaults('web', { Protocol: 'http' })
      agent.setIntentions('web', [
        { Name: 'api', Action: 'allow' },
        { Name: 'ops', Permissions: [{ Action: 'allow', HTTP: { PathPrefix: '/admin' } }] }
      ])
      try {
        const doc = json<DoctorJson>(await cli(['doctor', '--service', 'web', '--json'], env))
        assert.deepEqual(check(doc, 'intentions').data, { count: 2, l7: 1 })
        assert.equal(check(doc, 'intentions').summary, '2 intentions for "web" (1 with L7 permissions)')
      } finally {
        agent.setIntentions('web', [])
      }
    })

    it('fails "Connect enabled" with its fix when the agent lists no roots', async () => {
      agent.fault({ path: '/v1/agent/connect/ca/roots', body: { ActiveRootID: '', TrustDomain: '', Roots: [] } })
      const result = await cli(['doctor', '--service', 'web'], env)
      assert.equal(result.code, 1)
      assert.match(result.stdout, /FAIL {2}Connect enabled +the agent lists no CA roots\n +fix: enable Connect on the Consul servers \(connect \{ enabled = true \}\)/)
      assert.match(result.stdout, /skip {2}leaf verifies against roots +skipped: no CA roots/)
      assert.match(result.stdout, /verdict: FAIL: 1 problem, 0 warnings/)
    })

    it('recognises the servers\' "Connect must be enabled" answer', async () => {
      agent.fault({ path: '/v1/agent/connect/ca/roots', status: 500, body: 'Connect must be enabled in order to use this endpoint' })
      const doc = json<DoctorJson>(await cli(['doctor', '--service', 'web', '--json'], env))
      assert.equal(check(doc, 'connect').status, 'fail')
      assert.match(check(doc, 'connect').fix!, /^enable Connect on the Consul servers/)
    })

    it('fails "leader known" when the servers have no leader', async () => {
      agent.fault({ path: '/v1/status/leader', body: '""' })
      const doc = json<DoctorJson>(await cli(['doctor', '--service', 'web', '--json'], env))
      assert.equal(doc.verdict, 'fail')
      assert.equal(check(doc, 'leader').status, 'fail')
      assert.match(check(doc, 'leader').fix!, /no leader: check them with `consul operator raft list-peers`/)
    })

    it('fails the chain check when the leaf does not chain to the listed roots', async () => {
      const stranger = await TestCA.create({ trustDomain: agent.trustDomain })
      agent.fault({
        path: '/v1/agent/connect/ca/roots',
        body: { ActiveRootID: 'other', TrustDomain: agent.trustDomain, Roots: [{ ID: 'other', Name: 'Other CA', RootCert: stranger.rootPem, Active: true }] }
      })
      const doc = json<DoctorJson>(await cli(['doctor', '--service', 'web', '--json'], env))
      const chain = check(doc, 'chain')
      assert.equal(chain.status, 'fail')
      assert.deepEqual(chain.data, { code: 'ERR_CONNECT_CERT_UNKNOWN_ISSUER' })
      assert.match(chain.fix!, /a CA the agent no longer lists/)
      assert.equal(check(doc, 'leaf').status, 'ok')
    })

    it('fails the leaf check once the leaf has expired, and warns when its renewal is overdue', async () => {
      const leaf = await agent.leaf('web')
      const expired = await cli(['doctor', '--service', 'web', '--json'], env, { now: () => new Date(leaf.notAfter.getTime() + 60_000) })
      assert.equal(expired.code, 1)
      const failed = check(json<DoctorJson>(expired), 'leaf')
      assert.equal(failed.status, 'fail')
      assert.match(failed.summary, /\(expired 1m ago\)$/)
      assert.match(failed.fix!, /the agent is not renewing the leaf/)

      const late = await cli(['doctor', '--service', 'web', '--json'], env, { now: () => new Date(leaf.notAfter.getTime() - 3_600_000) })
      assert.equal(late.code, 0, 'a warning alone does not fail the run')
      const doc = json<DoctorJson>(late)
      assert.equal(doc.verdict, 'warn')
      assert.equal(check(doc, 'leaf').status, 'warn')
      assert.match(check(doc, 'leaf').summary, /\(in 1h\); the agent should have renewed it by now$/)
    })

    it('fails with the timeout fix when the agent does not answer within --timeout', async () => {
      agent.fault({ path: '/v1/status/leader', hang: true })
      const result = await cli(['doctor', '--service', 'web', '--timeout', '200ms', '--json'], env)
      assert.equal(result.code, 1)
      const doc = json<DoctorJson>(result)
      assert.equal(check(doc, 'agent').status, 'fail')
      assert.match(check(doc, 'agent').fix!, /did not answer within 200 ms: check that it is healthy, or raise --timeout/)
      assert.deepEqual(doc.checks.slice(1).map((c) => c.summary), Array(8).fill('skipped: the agent did not answer'))
    })
  })

  describe('against an agent with ACLs (default deny)', () => {
    let agent: TestAgent
    const TOKENS = {
      'reader-secret': { accessorId: 'acc-reader', serviceRead: ['web'] },
      'web-secret': { accessorId: 'acc-web', serviceWrite: ['web'] },
      'nothing-secret': { accessorId: 'acc-nothing' }
    }

    before(async () => {
      agent = await TestAgent.start({ acl: { defaultPolicy: 'deny', tokens: TOKENS } })
    })
    after(async () => { await agent.close() })

    it('fails with "the token needs service:write" when the token lacks it, and never prints the token', async () => {
      const env = { CONSUL_HTTP_ADDR: agent.address, CONSUL_HTTP_TOKEN: 'reader-secret' }
      const result = await cli(['doctor', '--service', 'web'], env)
      assert.equal(result.code, 1)
      assert.match(result.stdout, /token from CONSUL_HTTP_TOKEN/)
      assert.match(result.stdout, /FAIL {2}token may fetch the leaf +fetching leaf for "web": agent answered 403: Permission denied: token with AccessorID 'acc-reader' lacks permission 'service:write' on "web"\n +fix: the token needs service:write on "web"\n/)
      assert.match(result.stdout, /skip {2}leaf certificate +skipped: the token may not fetch the leaf/)
      assert.match(result.stdout, /verdict: FAIL: 1 problem/)
      assert.ok(!result.stdout.includes('reader-secret') && !result.stderr.includes('reader-secret'), 'the token must not be printed')

      const doc = json<DoctorJson>(await cli(['doctor', '--service', 'web', '--json'], env))
      assert.equal(doc.ok, false)
      assert.deepEqual({ status: check(doc, 'token').status, fix: check(doc, 'token').fix }, { status: 'fail', fix: 'the token needs service:write on "web"' })
      assert.equal(check(doc, 'intentions').status, 'warn', 'service:read implies intentions:read; no intention and default deny')
      assert.deepEqual(check(doc, 'default-policy').data, {
        allow: false,
        reason: 'Default behavior configured by ACLs',
        source: 'acl-header',
        via: 'acl-header',
        notes: ['agent self: 403 (needs agent:read)', 'authorize probe: 403 (needs service:write on "web")']
      })
    })

    it('names intentions:read when the token cannot read the intentions', async () => {
      const doc = json<DoctorJson>(await cli(['doctor', '--service', 'web', '--json'], { CONSUL_HTTP_ADDR: agent.address, CONSUL_HTTP_TOKEN: 'nothing-secret' }))
      const intentions = check(doc, 'intentions')
      assert.equal(intentions.status, 'fail')
      assert.equal(intentions.fix, 'the token needs intentions:read on "web" (service:read)')
      assert.equal(check(doc, 'default-policy').data!['via'], 'none')
    })

    it('says that no token was given when none was', async () => {
      const doc = json<DoctorJson>(await cli(['doctor', '--service', 'web', '--json'], { CONSUL_HTTP_ADDR: agent.address }))
      assert.equal(doc.agent.tokenSource, 'none')
      assert.equal(check(doc, 'token').fix, 'the token needs service:write on "web" (no token was given: set CONSUL_HTTP_TOKEN or CONSUL_HTTP_TOKEN_FILE)')
    })

    it('says the token is unknown when the agent answers "ACL not found"', async () => {
      const doc = json<DoctorJson>(await cli(['doctor', '--service', 'web', '--json'], { CONSUL_HTTP_ADDR: agent.address, CONSUL_HTTP_TOKEN: 'no-such-token' }))
      assert.equal(check(doc, 'token').fix, 'the token from CONSUL_HTTP_TOKEN is not known to Consul (ACL not found): check that it is current and belongs to this cluster')
    })

    it('passes with the service\'s own token, learning the default from the authorize endpoint and warning about default deny', async () => {
      const result = await cli(['doctor', '--service', 'web', '--json'], { CONSUL_HTTP_ADDR: agent.address, CONSUL_HTTP_TOKEN: 'web-secret' })
      assert.equal(result.code, 0)
      const doc = json<DoctorJson>(result)
      assert.equal(doc.verdict, 'warn')
      assert.deepEqual(doc.checks.filter((c) => c.status !== 'ok').map((c) => c.id), ['intentions'])
      assert.match(check(doc, 'intentions').summary, /every connection to "web" will be refused/)
      assert.equal(check(doc, 'intentions').fix, 'add an intention for each caller, e.g. consul intention create -allow <source> web')
      assert.deepEqual(check(doc, 'default-policy').data, {
        allow: false, reason: 'Default behavior configured by ACLs', source: 'acl', via: 'authorize-probe', notes: ['agent self: 403 (needs agent:read)']
      })
      assert.equal(check(doc, 'agent').summary, `${agent.url} answered (agent details need agent:read)`)
    })
  })

  describe('when the agent is down', () => {
    it('exits 1 with "is the agent running?" and the address setting, skipping the rest', async () => {
      const port = await closedPort()
      const result = await cli(['doctor', '--service', 'web'], { CONSUL_HTTP_ADDR: `127.0.0.1:${port}` })
      assert.equal(result.code, 1)
      assert.match(result.stdout, new RegExp(`FAIL {2}agent reachable +asking the agent for the leader: agent unreachable at http://127\\.0\\.0\\.1:${port}: .*ECONNREFUSED`))
      assert.ok(result.stdout.includes(`fix: is the agent running? check CONSUL_HTTP_ADDR=127.0.0.1:${port}\n`), result.stdout)
      assert.equal(result.stdout.match(/ skip {2}/g)?.length, 8)
      assert.match(result.stdout, /verdict: FAIL: 1 problem, 0 warnings/)
    })

    it('names --http-addr in the fix when the address came from the flag, and the default when nothing set it', async () => {
      const port = await closedPort()
      const flagged = json<DoctorJson>(await cli(['doctor', '--service', 'web', '--json', '--http-addr', `127.0.0.1:${port}`], { CONSUL_HTTP_ADDR: '127.0.0.1:1' }))
      assert.equal(check(flagged, 'agent').fix, `is the agent running? check --http-addr=127.0.0.1:${port}`)
      assert.equal(flagged.agent.address, `http://127.0.0.1:${port}`)

      const defaulted = json<DoctorJson>(await cli(['doctor', '--service', 'web', '--json', '--timeout', '2s'], {}))
      assert.equal(defaulted.agent.addressSetting, 'CONSUL_HTTP_ADDR=127.0.0.1:8500 (unset: the default)')
      assert.equal(defaulted.agent.addressSource, 'default')
      assert.equal(flagged.agent.addressSource, '--http-addr')
    })
  })
})
