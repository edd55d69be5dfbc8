import assert from 'node:assert/strict'
import { parseCertificate } from '../../lib/identity/x509.js'
import { TestAgent } from '../../lib/testing/index.js'
import { cli, closedPort, json } from './support.js'

interface IdentityJson {
  command: 'identity'
  ok: boolean
  service: string
  agent: { address: string }
  identity: Record<string, unknown> | null
  error: { code: string, message: string, fix: string } | null
}

describe('consul-connect-native identity', () => {
  let agent: TestAgent
  let env: Record<string, string>

  before(async () => {
    agent = await TestAgent.start({ acl: { defaultPolicy: 'deny', tokens: { 'web-secret': { serviceWrite: ['web'] }, 'reader-secret': { serviceRead: ['web'] } } } })
    env = { CONSUL_HTTP_ADDR: agent.address, CONSUL_HTTP_TOKEN: 'web-secret' }
  })
  after(async () => { await agent.close() })

  it('prints the leaf\'s summary and never its private key', async () => {
    const leaf = await agent.leaf('web')
    const now = new Date(leaf.notAfter.getTime() - 2 * 86_400_000 - 3 * 3_600_000)
    const result = await cli(['identity', '--service', 'web'], env, { now: () => now })
    assert.equal(result.code, 0, result.stderr)
    assert.equal(result.stdout, [
      'service       web',
      `SPIFFE ID     ${leaf.spiffeId}`,
      `serial        ${leaf.serial}`,
      `valid from    ${leaf.notBefore.toISOString()}`,
      `valid until   ${leaf.notAfter.toISOString()}`,
      'time left     in 2d 3h',
      `issuer        ${parseCertificate(agent.ca.rootPem).subject}`,
      'chain         1 certificate (the leaf; no intermediates)',
      `trust domain  ${agent.trustDomain}`,
      'datacenter    dc1',
      ''
    ].join('\n'))
    assert.doesNotMatch(result.stdout + result.stderr, /PRIVATE KEY|web-secret/)
  })

  it('prints stable keys with --json', async () => {
    const leaf = await agent.leaf('web')
    const result = await cli(['identity', '--service', 'web', '--json'], env)
    assert.equal(result.code, 0)
    const doc = json<IdentityJson>(result)
    assert.deepEqual(Object.keys(doc), ['command', 'ok', 'service', 'agent', 'identity', 'error'])
    assert.deepEqual(Object.keys(doc.identity!), [
      'spiffeId', 'serial', 'validAfter', 'validBefore', 'expiresInMs', 'state', 'issuer', 'subject', 'chainLength',
      'trustDomain', 'datacenter', 'namespace', 'partition', 'service'
    ])
    assert.equal(doc.identity!['spiffeId'], leaf.spiffeId)
    assert.equal(doc.identity!['serial'], leaf.serial)
    assert.equal(doc.identity!['state'], 'valid')
    assert.equal(doc.identity!['trustDomain'], agent.trustDomain)
    assert.equal(doc.identity!['namespace'], 'default')
    assert.equal(doc.identity!['service'], 'web')
    assert.equal(typeof doc.identity!['expiresInMs'], 'number')
    assert.doesNotMatch(result.stdout, /PRIVATE KEY/)
  })

  it('counts the intermediates the agent sends after a root rotation', async () => {
    await agent.rotateRoot()
    const doc = json<IdentityJson>(await cli(['identity', '--service', 'web', '--json'], env))
    assert.equal(doc.identity!['chainLength'], 2)
    const text = await cli(['identity', '--service', 'web'], env)
    assert.match(text.stdout, /\nchain {9}2 certificates \(the leaf and 1 intermediate\)\n/)
  })

  it('exits 1 and says so when the leaf has expired', async () => {
    const leaf = await agent.leaf('web')
    const result = await cli(['identity', '--service', 'web'], env, { now: () => new Date(leaf.notAfter.getTime() + 7_200_000) })
    assert.equal(result.code, 1)
    assert.match(result.stdout, /\ntime left {5}expired 2h ago\n/)
    assert.match(result.stderr, /error: the leaf has expired: the agent is not renewing it/)
    const doc = json<IdentityJson>(await cli(['identity', '--service', 'web', '--json'], env, { now: () => new Date(leaf.notAfter.getTime() + 1) }))
    assert.equal(doc.ok, false)
    assert.equal(doc.identity!['state'], 'expired')
  })

  it('exits 1 with the service:write fix when the token lacks it', async () => {
    const reader = { ...env, CONSUL_HTTP_TOKEN: 'reader-secret' }
    const text = await cli(['identity', '--service', 'web'], reader)
    assert.equal(text.code, 1)
    assert.equal(text.stdout, '')
    assert.match(text.stderr, /lacks permission 'service:write' on "web"\nfix: the token needs service:write on "web"\n$/)
    const doc = json<IdentityJson>(await cli(['identity', '--service', 'web', '--json'], reader))
    assert.equal(doc.identity, null)
    assert.deepEqual({ code: doc.error!.code, fix: doc.error!.fix }, { code: 'ERR_CONNECT_AGENT_PERMISSION_DENIED', fix: 'the token needs service:write on "web"' })
  })

  it('exits 1 with the unreachable fix when the agent is down', async () => {
    const port = await closedPort()
    const result = await cli(['identity', '--service', 'web', '--http-addr', `127.0.0.1:${port}`], {})
    assert.equal(result.code, 1)
    assert.match(result.stderr, new RegExp(`fix: is the agent running\\? check --http-addr=127\\.0\\.0\\.1:${port}\\n$`))
  })

  it('exits 2 without --service', async () => {
    const result = await cli(['identity'], env)
    assert.equal(result.code, 2)
    assert.match(result.stderr, /error: --service is required\nUsage: consul-connect-native identity --service <name> \[options\]/)
  })
})
