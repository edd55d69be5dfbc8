/**
 * The demo (`npm run demo`) against a real `consul agent -dev`, as `CONSUL_HTTP_ADDR=… npm run demo` runs it:
 * intentions and config entries written through the API, instances registered, a real CA root rotation, and
 * everything it created removed at the end; with ACLs on, with the token policy real-agent.ts documents. And
 * its refusal to touch an agent where that would destroy someone else's configuration.
 */
import assert from 'node:assert/strict'
import { main } from '../../examples/demo/main.js'
import { MAX_LINE } from '../../examples/demo/narrator.js'
import { DevAgent, consulVersion } from './support/consul-agent.js'

describe(`the demo against a real agent (${consulVersion()})`, function () {
  this.timeout(120_000)
  let agent: DevAgent

  before(async () => { agent = await DevAgent.start() })
  after(async () => { await agent?.stop() })

  async function status (path: string): Promise<number> {
    const res = await fetch(`${agent.url}${path}`, { signal: AbortSignal.timeout(10_000) })
    await res.arrayBuffer()
    return res.status
  }

  it('tells the whole story with every step ok, then removes what it created', async () => {
    const lines: string[] = []
    const rootsBefore = await agent.api('GET', '/v1/agent/connect/ca/roots') as { ActiveRootID: string }
    const result = await main({ agent: { address: agent.address, env: false }, log: (line) => lines.push(line) })
    const output = lines.join('\n')
    // Narration wraps; phrases are matched on the text with its line breaks made spaces.
    const flat = lines.map((line) => line.trim()).join(' ')

    assert.equal(result.mode, 'consul')
    assert.equal(result.setupError, undefined, output)
    assert.deepEqual(result.steps.map((s) => [s.number, s.ok]), [[1, true], [2, true], [3, true], [4, true], [5, true], [6, true]], output)
    assert.equal(result.ok, true, output)
    assert.match(output, /Agent: the Consul agent at http:\/\/127\.0\.0\.1:\d+\./)
    assert.match(output, /web SPIFFE ID: spiffe:\/\/[0-9a-f-]+\.consul\/ns\/default\/dc\/dc1\/svc\/web/)
    assert.match(flat, /db refused it: Matched L4 intention: default\/web => default\/db .*DENY/)
    assert.match(flat, /403 body: Matched L7 intention: default\/web => default\/db .*Permissions\[1\]: DENY/)
    assert.match(flat, /renews each leaf by itself at a random point between 60 % and 90 % of its lifetime/)
    assert.match(output, /requests: \d+ made, 0 failed/)
    assert.match(output, /db closed it: \d+ ms after the intention was written/)
    assert.match(output, /All 6 steps behaved as expected\./)
    for (const line of lines) assert.ok(line.length < MAX_LINE, `line too long (${line.length}): ${line}`)

    // What it created is gone; the rotation stays (it cannot be undone and need not be).
    assert.deepEqual(result.cleanup.filter((line) => line.startsWith('FAILED')), [])
    assert.equal(await status('/v1/config/service-intentions/db'), 404)
    assert.equal(await status('/v1/config/service-defaults/db'), 404)
    assert.deepEqual(await agent.api('GET', '/v1/health/connect/db'), [])
    const rootsAfter = await agent.api('GET', '/v1/agent/connect/ca/roots') as { ActiveRootID: string }
    assert.notEqual(rootsAfter.ActiveRootID, rootsBefore.ActiveRootID)
  })

  it('refuses to start, changing nothing, when the agent already has intentions for db', async () => {
    await agent.api('PUT', '/v1/config', { Kind: 'service-intentions', Name: 'db', Sources: [{ Name: 'api', Action: 'allow' }] })
    try {
      const lines: string[] = []
      const result = await main({ agent: { address: agent.address, env: false }, log: (line) => lines.push(line) })
      assert.equal(result.ok, false)
      assert.deepEqual(result.steps, [])
      assert.match(result.setupError ?? '', /already has the config entry service-intentions\/db/)
      assert.match(lines.join('\n'), /FAILED: setup/)
      const entry = await agent.api('GET', '/v1/config/service-intentions/db') as { Sources: Array<{ Name: string }> }
      assert.deepEqual(entry.Sources.map((s) => s.Name), ['api'])
      assert.deepEqual(await agent.api('GET', '/v1/health/connect/db'), [])
    } finally {
      await agent.api('DELETE', '/v1/config/service-intentions/db')
    }
  })
})

describe(`the demo against a real agent with ACLs on, default deny (${consulVersion()})`, function () {
  this.timeout(120_000)
  let agent: DevAgent

  before(async () => { agent = await DevAgent.start({ acl: { defaultPolicy: 'deny' } }) })
  after(async () => { await agent?.stop() })

  it('runs every step with a token holding only the documented policy', async () => {
    // The policy in examples/demo/real-agent.ts; keep the two in step.
    const token = await agent.createToken([
      'service "web" { policy = "write" }',
      'service "db" { policy = "write" intentions = "write" }',
      'node_prefix "" { policy = "read" }',
      'operator = "write"'
    ].join('\n'))
    const lines: string[] = []
    const result = await main({ agent: { address: agent.address, token, env: false }, log: (line) => lines.push(line) })
    assert.equal(result.ok, true, lines.join('\n'))
    assert.deepEqual(result.cleanup.filter((line) => line.startsWith('FAILED')), [])
  })
})
