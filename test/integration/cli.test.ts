/**
 * The CLI against a real `consul agent -dev`: a healthy agent passes `doctor`, `authz` agrees with the agent's own
 * authorize endpoint and names the deciding intention, `identity` shows the agent's leaf; with ACLs on, a token
 * lacking rights gets the fix that names them; a stopped agent gets the unreachable fix.
 */
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { run } from '../../lib/cli/run.js'
import { DevAgent, consulVersion } from './support/consul-agent.js'

interface Result { code: number, stdout: string, stderr: string }

async function cli (argv: readonly string[], env: Record<string, string>): Promise<Result> {
  let stdout = ''
  let stderr = ''
  const code = await run(argv, {
    env,
    stdout: { write: (chunk: string) => { stdout += chunk } },
    stderr: { write: (chunk: string) => { stderr += chunk } }
  })
  return { code, stdout, stderr }
}

interface Check { id: string, status: string, summary: string, fix: string | null, data: Record<string, unknown> | null }
interface Doctor { ok: boolean, verdict: string, checks: Check[] }

function check (doc: Doctor, id: string): Check {
  const found = doc.checks.find((c) => c.id === id)
  assert.ok(found !== undefined, `no check ${id}`)
  return found
}

describe(`consul-connect-native CLI against a real agent (${consulVersion()})`, function () {
  this.timeout(120_000)

  describe('with ACLs off (consul agent -dev)', () => {
    let agent: DevAgent
    let env: Record<string, string>

    before(async () => {
      agent = await DevAgent.start()
      env = { CONSUL_HTTP_ADDR: agent.address }
      await agent.api('PUT', '/v1/config', {
        Kind: 'service-intentions',
        Name: 'db',
        Sources: [{ Name: 'web', Action: 'deny' }, { Name: '*', Action: 'allow' }]
      })
    })
    after(async () => { await agent?.stop() })

    it('doctor: every check ok, verdict OK, exit 0', async () => {
      const text = await cli(['doctor', '--service', 'web'], env)
      assert.equal(text.code, 0, text.stdout + text.stderr)
      assert.match(text.stdout, /\nverdict: OK: "web" can join the mesh\n$/)

      const result = await cli(['doctor', '--service', 'web', '--json'], env)
      const doc = JSON.parse(result.stdout) as Doctor
      assert.equal(doc.verdict, 'ok', result.stdout)
      for (const c of doc.checks) assert.equal(c.status, 'ok', `${c.id}: ${c.summary}`)
      assert.equal(check(doc, 'agent').data!['version'], consulVersion().replace(/^Consul v/, ''))
      assert.equal(check(doc, 'agent').data!['datacenter'], agent.datacenter)
      assert.deepEqual(
        { allow: check(doc, 'default-policy').data!['allow'], source: check(doc, 'default-policy').data!['source'], via: check(doc, 'default-policy').data!['via'] },
        { allow: true, source: 'acl', via: 'agent-self' }
      )
      const roots = await agent.api('GET', '/v1/agent/connect/ca/roots') as { TrustDomain: string }
      assert.equal(check(doc, 'trust-domain').data!['trustDomain'], roots.TrustDomain)
    })

    it('authz: names the deciding intention and agrees with the agent\'s authorize endpoint', async () => {
      const roots = await agent.api('GET', '/v1/agent/connect/ca/roots') as { TrustDomain: string }
      for (const [source, allowed, precedence] of [['web', false, 9], ['billing', true, 8]] as const) {
        const result = await cli(['authz', '--source', source, '--destination', 'db', '--json'], env)
        assert.equal(result.code, allowed ? 0 : 1, result.stdout + result.stderr)
        const doc = JSON.parse(result.stdout) as { allowed: boolean, decision: { reason: string, intention: { source: string, action: string, precedence: number } } }
        assert.equal(doc.allowed, allowed)
        assert.deepEqual(
          { source: doc.decision.intention.source, action: doc.decision.intention.action, precedence: doc.decision.intention.precedence },
          { source: allowed ? '*' : 'web', action: allowed ? 'allow' : 'deny', precedence }
        )
        const answer = await agent.api('POST', '/v1/agent/connect/authorize', {
          Target: 'db',
          ClientCertURI: `spiffe://${roots.TrustDomain}/ns/default/dc/${agent.datacenter}/svc/${source}`,
          ClientCertSerial: '01'
        }) as { Authorized: boolean, Reason: string }
        assert.equal(answer.Authorized, allowed)
        assert.equal(doc.decision.reason, answer.Reason, 'the same reason, word for word')
      }
      const text = await cli(['authz', '--source', 'web', '--destination', 'db'], env)
      assert.match(text.stdout, /^denied: web → db\n {2}reason {5}Matched L4 intention: default\/web => default\/db \(Precedence: 9, Action: DENY\)\n {2}intention {2}web → db, action deny, precedence 9\n/)
    })

    it('identity: the agent\'s leaf for the service', async () => {
      const result = await cli(['identity', '--service', 'web', '--json'], env)
      assert.equal(result.code, 0, result.stdout + result.stderr)
      const doc = JSON.parse(result.stdout) as { identity: Record<string, unknown> }
      const roots = await agent.api('GET', '/v1/agent/connect/ca/roots') as { TrustDomain: string }
      assert.equal(doc.identity['spiffeId'], `spiffe://${roots.TrustDomain}/ns/default/dc/${agent.datacenter}/svc/web`)
      assert.equal(doc.identity['trustDomain'], roots.TrustDomain)
      assert.equal(doc.identity['state'], 'valid')
      assert.doesNotMatch(result.stdout, /PRIVATE KEY/)
    })
  })

  describe('with ACLs on (default deny)', () => {
    let agent: DevAgent
    let readOnly: string
    let serviceToken: string

    before(async () => {
      agent = await DevAgent.start({ acl: { defaultPolicy: 'deny' } })
      readOnly = await agent.createToken('service "web" { policy = "read" }')
      serviceToken = await agent.createToken('service "web" { policy = "write" }')
    })
    after(async () => { await agent?.stop() })

    it('doctor: a token without service:write fails with the fix that names it, and is never printed', async () => {
      const env = { CONSUL_HTTP_ADDR: agent.address, CONSUL_HTTP_TOKEN: readOnly }
      const text = await cli(['doctor', '--service', 'web'], env)
      assert.equal(text.code, 1, text.stdout)
      assert.match(text.stdout, /FAIL {2}token may fetch the leaf +fetching leaf for "web": agent answered 403: Permission denied: .*'service:write' on "web"\n +fix: the token needs service:write on "web"\n/)
      assert.match(text.stdout, /verdict: FAIL/)
      assert.ok(!text.stdout.includes(readOnly) && !text.stderr.includes(readOnly), 'the token must not be printed')

      const doc = JSON.parse((await cli(['doctor', '--service', 'web', '--json'], env)).stdout) as Doctor
      assert.equal(check(doc, 'token').fix, 'the token needs service:write on "web"')
      assert.notEqual(check(doc, 'intentions').status, 'fail', 'service:read implies intentions:read')
      assert.equal(check(doc, 'default-policy').data!['allow'], false)
    })

    it('doctor: a token Consul does not know gets the "ACL not found" fix', async () => {
      const doc = JSON.parse((await cli(['doctor', '--service', 'web', '--json'], { CONSUL_HTTP_ADDR: agent.address, CONSUL_HTTP_TOKEN: randomUUID() })).stdout) as Doctor
      assert.equal(check(doc, 'token').fix, 'the token from CONSUL_HTTP_TOKEN is not known to Consul (ACL not found): check that it is current and belongs to this cluster')
    })

    it('doctor: the service\'s own token passes, learning deny from the authorize endpoint', async () => {
      const result = await cli(['doctor', '--service', 'web', '--json'], { CONSUL_HTTP_ADDR: agent.address, CONSUL_HTTP_TOKEN: serviceToken })
      assert.equal(result.code, 0, result.stdout)
      const doc = JSON.parse(result.stdout) as Doctor
      assert.deepEqual(doc.checks.filter((c) => c.status !== 'ok').map((c) => c.id), ['intentions'], 'only the "default deny, no intention" warning')
      assert.deepEqual(
        { allow: check(doc, 'default-policy').data!['allow'], via: check(doc, 'default-policy').data!['via'] },
        { allow: false, via: 'authorize-probe' }
      )
    })

    it('authz: a token without intentions:read on the destination gets that fix', async () => {
      const result = await cli(['authz', '--source', 'web', '--destination', 'db'], { CONSUL_HTTP_ADDR: agent.address, CONSUL_HTTP_TOKEN: serviceToken })
      assert.equal(result.code, 1)
      assert.match(result.stderr, /\nfix: the token needs intentions:read on "db" \(service:read\)\n$/)
    })
  })

  describe('when the agent has stopped', () => {
    it('doctor exits 1 with "is the agent running?" and the address', async () => {
      const agent = await DevAgent.start()
      await agent.stop()
      const result = await cli(['doctor', '--service', 'web'], { CONSUL_HTTP_ADDR: agent.address })
      assert.equal(result.code, 1)
      assert.match(result.stdout, /FAIL {2}agent reachable +asking the agent for the leader: agent unreachable at /)
      assert.ok(result.stdout.includes(`fix: is the agent running? check CONSUL_HTTP_ADDR=${agent.address}\n`), result.stdout)
    })
  })
})
