import assert from 'node:assert/strict'
import { writeFile, mkdir } from 'node:fs/promises'
import { createServer } from 'node:net'
import type { AddressInfo } from 'node:net'
import { inspect } from 'node:util'
import { z } from 'zod'
import { AgentClient } from '../../lib/agent/client.js'
import type { AgentClientOptions } from '../../lib/agent/options.js'
import { AgentError, ConnectError, InvalidOptionError } from '../../lib/errors.js'
import { FakeAgent } from './support/fake-agent.js'
import type { FakeAgentOptions, ScriptedResponse } from './support/fake-agent.js'
import { tempDir } from './support/temp-dir.js'
import type { TempDir } from './support/temp-dir.js'
import { testPki } from './support/test-pki.js'

const anything = z.unknown()
const TOKEN = 'b1gs3cr3t-t0ken-5f2c'

/** Asserts `promise` rejects with a ConnectError of `code`; returns it for further checks. */
async function rejectsWith (promise: Promise<unknown>, code: string): Promise<ConnectError> {
  try {
    await promise
  } catch (err) {
    assert.ok(err instanceof ConnectError, `not a ConnectError: ${String(err)}`)
    assert.equal(err.code, code, err.message)
    return err
  }
  assert.fail(`expected a rejection with ${code}`)
}

describe('AgentClient', () => {
  const agents: FakeAgent[] = []
  const clients: AgentClient[] = []
  let dir: TempDir

  async function fake (options?: FakeAgentOptions, ...script: ScriptedResponse[]): Promise<FakeAgent> {
    const agent = await FakeAgent.start(options)
    agents.push(agent.script(...script))
    return agent
  }

  function client (options: AgentClientOptions = {}): AgentClient {
    const c = new AgentClient({ env: {}, ...options })
    clients.push(c)
    return c
  }

  before(async () => { dir = await tempDir() })
  after(async () => { await dir.remove() })
  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.close()))
    await Promise.all(agents.splice(0).map((a) => a.close()))
  })

  describe('#constructor', () => {
    it('throws InvalidOptionError naming the field for a bad option', () => {
      assert.throws(() => new AgentClient({ env: {}, address: 'ftp://x:1' }), (err: unknown) =>
        err instanceof InvalidOptionError && err.field === 'agent.address')
    })

    it('opens no connection and reads no file until the first request', async () => {
      const c = client({ tokenFile: dir.file('does-not-exist'), address: '127.0.0.1:1' })
      assert.equal(c.address, 'http://127.0.0.1:1')
      await c.close()
    })
  })

  describe('#request', () => {
    it('returns the validated value, status, index and meta', async () => {
      const agent = await fake({}, { json: { Datacenter: 'dc1' }, index: 17, headers: { 'x-consul-knownleader': 'true', 'x-cache': 'MISS', 'x-consul-default-acl-policy': 'allow' } })
      const res = await client({ address: agent.address }).request({ path: '/v1/x', schema: z.object({ Datacenter: z.string() }), what: 'testing' })
      assert.deepEqual(res.value, { Datacenter: 'dc1' })
      assert.equal(res.status, 200)
      assert.equal(res.index, 17)
      assert.deepEqual(res.meta, { knownLeader: true, cache: 'MISS', defaultAclPolicy: 'allow' })
      assert.ok(Object.isFrozen(res))
    })

    it('sends the method, JSON body and query, leaving out undefined and false', async () => {
      const agent = await fake({}, { json: true })
      await client({ address: agent.address }).request({
        method: 'PUT', path: '/v1/y', query: { a: 'x y', b: 3, c: true, d: false, e: undefined }, body: { K: 1 }, schema: anything, what: 'testing'
      })
      const [req] = agent.requests
      assert.equal(req!.method, 'PUT')
      assert.equal(req!.rawUrl, '/v1/y?a=x+y&b=3&c=true')
      assert.equal(req!.headers['content-type'], 'application/json')
      assert.deepEqual(JSON.parse(req!.body), { K: 1 })
    })

    it('hands an empty body to the schema as undefined', async () => {
      const agent = await fake({}, { body: '' })
      const res = await client({ address: agent.address }).request({ method: 'PUT', path: '/v1/z', schema: z.undefined(), what: 'testing' })
      assert.equal(res.value, undefined)
    })

    it('throws InvalidOptionError for a path with a query string', async () => {
      await rejectsWith(client().request({ path: '/v1/x?token=a', schema: anything, what: 'testing' }), 'ERR_CONNECT_INVALID_OPTION')
    })
  })

  describe('#token', () => {
    it('sends the token only in X-Consul-Token, never in the URL', async () => {
      const agent = await fake({}, { json: {} })
      await client({ address: agent.address, token: TOKEN }).request({ path: '/v1/agent/self', query: { x: '1' }, schema: anything, what: 'testing' })
      const [req] = agent.requests
      assert.equal(req!.headers['x-consul-token'], TOKEN)
      assert.equal(req!.headers.authorization, undefined)
      assert.ok(!req!.rawUrl.includes(TOKEN))
    })

    it('sends no token header without a token', async () => {
      const agent = await fake({}, { json: {} })
      await client({ address: agent.address }).request({ path: '/v1/a', schema: anything, what: 'testing' })
      assert.equal(agent.requests[0]!.headers['x-consul-token'], undefined)
    })

    it('keeps the token out of error messages even when the agent echoes it', async () => {
      const agent = await fake({}, { status: 403, body: `ACL not found for token ${TOKEN}` })
      const err = await rejectsWith(client({ address: agent.address, token: TOKEN }).request({ path: '/v1/a', schema: anything, what: 'testing' }), 'ERR_CONNECT_AGENT_PERMISSION_DENIED')
      assert.ok(!err.message.includes(TOKEN))
      assert.match(err.message, /\[redacted\]/)
      assert.ok(!inspect(err, { depth: 5 }).includes(TOKEN))
    })

    it('keeps the token and an inline key out of inspect, toString and JSON', () => {
      const c = client({ token: TOKEN, tls: { cert: 'CERT', key: `KEY-${TOKEN}` } })
      for (const text of [inspect(c, { depth: 10, showHidden: true }), String(c), JSON.stringify(c), inspect(c.options, { depth: 10 }), JSON.stringify(c.options), `${c.options.token?.kind === 'inline' ? String(c.options.token.text) : ''}`]) {
        assert.ok(!text.includes(TOKEN), text)
      }
      assert.match(inspect(c), /\[redacted\]/)
    })

    it('reads CONSUL_HTTP_TOKEN, then CONSUL_HTTP_TOKEN_FILE (trimmed); options win', async () => {
      const file = dir.file('token')
      await writeFile(file, `  ${TOKEN}-file\n`)
      const agent = await fake({}, { json: {} }, { json: {} }, { json: {} })
      const ask = async (options: AgentClientOptions): Promise<unknown> => {
        await client({ address: agent.address, ...options }).request({ path: '/v1/a', schema: anything, what: 'testing' })
        return agent.requests.at(-1)!.headers['x-consul-token']
      }
      assert.equal(await ask({ env: { CONSUL_HTTP_TOKEN_FILE: file } }), `${TOKEN}-file`)
      assert.equal(await ask({ env: { CONSUL_HTTP_TOKEN: 'env-token', CONSUL_HTTP_TOKEN_FILE: file } }), 'env-token')
      assert.equal(await ask({ env: { CONSUL_HTTP_TOKEN: 'env-token' }, token: 'explicit' }), 'explicit')
    })

    it('fails with ERR_CONNECT_AGENT_CONFIG for an unreadable token file, and retries it', async () => {
      const file = dir.file('late-token')
      const agent = await fake({}, { json: {} })
      const c = client({ address: agent.address, tokenFile: file })
      const err = await rejectsWith(c.request({ path: '/v1/a', schema: anything, what: 'testing' }), 'ERR_CONNECT_AGENT_CONFIG')
      assert.match(err.message, /^testing: reading token file ".*late-token" \(agent\.tokenFile\): ENOENT$/)
      assert.equal(agent.requests.length, 0)
      await writeFile(file, 'appeared-later')
      await c.request({ path: '/v1/a', schema: anything, what: 'testing' })
      assert.equal(agent.requests[0]!.headers['x-consul-token'], 'appeared-later')
    })
  })

  describe('#namespace, partition and datacenter', () => {
    it('sends ns, partition and dc only when configured', async () => {
      const agent = await fake({}, { json: {} }, { json: {} }, { json: {} })
      await client({ address: agent.address }).request({ path: '/v1/a', schema: anything, what: 'testing' })
      assert.equal(agent.requests[0]!.rawUrl, '/v1/a')
      await client({ address: agent.address, env: { CONSUL_NAMESPACE: 'team-a', CONSUL_PARTITION: 'p1' }, datacenter: 'dc2' })
        .request({ path: '/v1/a', schema: anything, what: 'testing' })
      const q = agent.requests[1]!.query
      assert.deepEqual([q.get('ns'), q.get('partition'), q.get('dc')], ['team-a', 'p1', 'dc2'])
      // A request may override or drop a default.
      await client({ address: agent.address, namespace: 'team-a', partition: 'p1' })
        .request({ path: '/v1/a', query: { ns: 'team-b', partition: undefined }, schema: anything, what: 'testing' })
      assert.equal(agent.requests[2]!.rawUrl, '/v1/a?ns=team-b')
    })
  })

  describe('#errors', () => {
    const table: Array<[answer: ScriptedResponse, code: string, message: RegExp, status?: number]> = [
      [{ status: 403, body: 'Permission denied' }, 'ERR_CONNECT_AGENT_PERMISSION_DENIED', /^fetching leaf for "web": agent answered 403: Permission denied$/, 403],
      [{ status: 404, body: 'Unknown service "web"' }, 'ERR_CONNECT_AGENT_NOT_FOUND', /agent answered 404: Unknown service "web"/, 404],
      [{ status: 500, body: 'rpc error: No cluster leader' }, 'ERR_CONNECT_AGENT_HTTP', /agent answered 500: rpc error: No cluster leader/, 500],
      [{ status: 429, body: '' }, 'ERR_CONNECT_AGENT_HTTP', /agent answered 429$/, 429],
      [{ body: '{"SerialNumber": ' }, 'ERR_CONNECT_AGENT_INVALID_ANSWER', /invalid answer from agent: body is not JSON/, 200],
      [{ json: { SerialNumber: 5 } }, 'ERR_CONNECT_AGENT_INVALID_ANSWER', /invalid answer from agent: SerialNumber: .*expected string/, 200]
    ]
    for (const [answer, code, message, status] of table) {
      it(`rejects with ${code} when the agent answers ${answer.status ?? 200} ${answer.body ?? JSON.stringify(answer.json)}`, async () => {
        const agent = await fake({}, answer)
        const err = await rejectsWith(client({ address: agent.address }).request({
          path: '/v1/agent/connect/ca/leaf/web', schema: z.object({ SerialNumber: z.string() }), what: 'fetching leaf for "web"'
        }), code)
        assert.ok(err instanceof AgentError)
        assert.match(err.message, message)
        assert.equal(err.status, status)
        assert.equal(err.path, '/v1/agent/connect/ca/leaf/web')
      })
    }

    it('rejects with ERR_CONNECT_AGENT_UNREACHABLE when the connection is refused', async () => {
      const server = createServer()
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
      const { port } = server.address() as AddressInfo
      await new Promise<void>((resolve) => server.close(() => resolve()))
      const err = await rejectsWith(client({ address: `127.0.0.1:${port}` }).request({ path: '/v1/a', schema: anything, what: 'testing' }), 'ERR_CONNECT_AGENT_UNREACHABLE')
      assert.match(err.message, new RegExp(`^testing: agent unreachable at http://127\\.0\\.0\\.1:${port}: .*ECONNREFUSED`))
      assert.ok(err.cause !== undefined)
    })

    it('rejects with ERR_CONNECT_AGENT_UNREACHABLE when the name does not resolve', async () => {
      await rejectsWith(client({ address: 'no-such-host.invalid:8500' }).request({ path: '/v1/a', schema: anything, what: 'testing' }), 'ERR_CONNECT_AGENT_UNREACHABLE')
    })

    it('rejects with ERR_CONNECT_AGENT_TIMEOUT when the agent hangs, and closes the request', async () => {
      const agent = await fake({}, { hang: true })
      const err = await rejectsWith(client({ address: agent.address, timeoutMs: 250 }).request({ path: '/v1/a', schema: anything, what: 'testing' }), 'ERR_CONNECT_AGENT_TIMEOUT')
      assert.match(err.message, /did not answer within 250 ms/)
      assert.equal(await agent.requests[0]!.ended, true)
    })

    it('honours a per-request timeout over the client default', async () => {
      const agent = await fake({}, { hang: true })
      const err = await rejectsWith(client({ address: agent.address }).request({ path: '/v1/a', schema: anything, what: 'testing', timeoutMs: 50 }), 'ERR_CONNECT_AGENT_TIMEOUT')
      assert.match(err.message, /within 50 ms/)
    })

    it('rejects with ERR_CONNECT_ABORTED when the signal aborts mid-request', async () => {
      const agent = await fake({}, { hang: true })
      const controller = new AbortController()
      const pending = client({ address: agent.address }).request({ path: '/v1/a', schema: anything, what: 'testing', signal: controller.signal })
      await agent.nextRequest()
      controller.abort(new Error('user gave up'))
      const err = await rejectsWith(pending, 'ERR_CONNECT_ABORTED')
      assert.equal((err.cause as Error).message, 'user gave up')
      assert.equal(await agent.requests[0]!.ended, true)
    })

    it('rejects at once with ERR_CONNECT_ABORTED for an already aborted signal, sending nothing', async () => {
      const agent = await fake({})
      await rejectsWith(client({ address: agent.address }).request({ path: '/v1/a', schema: anything, what: 'testing', signal: AbortSignal.abort() }), 'ERR_CONNECT_ABORTED')
      assert.equal(agent.requests.length, 0)
    })
  })

  describe('#close', () => {
    it('cancels requests in flight with ERR_CONNECT_CLOSED, is idempotent, and refuses new requests', async () => {
      const agent = await fake({}, { hang: true })
      const c = client({ address: agent.address })
      const outcome = rejectsWith(c.request({ path: '/v1/a', schema: anything, what: 'testing' }), 'ERR_CONNECT_CLOSED')
      await agent.nextRequest()
      const first = c.close()
      assert.equal(c.close(), first)
      await first
      await outcome
      assert.equal(await agent.requests[0]!.ended, true)
      await rejectsWith(c.request({ path: '/v1/a', schema: anything, what: 'testing' }), 'ERR_CONNECT_CLOSED')
      assert.equal(c.closed, true)
    })
  })

  describe('#unix socket', () => {
    it('talks HTTP over unix:///path', async () => {
      const socketPath = dir.file('agent.sock')
      const agent = await fake({ socketPath }, { json: { ok: true }, index: 3 })
      const c = client({ env: { CONSUL_HTTP_ADDR: `unix://${socketPath}` } })
      assert.equal(c.address, `unix://${socketPath}`)
      const res = await c.request({ path: '/v1/agent/self', schema: anything, what: 'testing' })
      assert.deepEqual(res.value, { ok: true })
      assert.equal(res.index, 3)
      assert.equal(agent.requests[0]!.headers.host, 'localhost')
    })

    it('rejects with ERR_CONNECT_AGENT_UNREACHABLE for a missing socket', async () => {
      const err = await rejectsWith(client({ address: `unix://${dir.file('nothing.sock')}` }).request({ path: '/v1/a', schema: anything, what: 'testing' }), 'ERR_CONNECT_AGENT_UNREACHABLE')
      assert.match(err.message, /unix:\/\//)
    })
  })

  describe('#ipv6', () => {
    it('talks to [::1]:port', async function () {
      let agent: FakeAgent
      try {
        agent = await fake({ host: '::1' }, { json: { v6: true } })
      } catch {
        this.skip()
      }
      assert.match(agent.address, /^http:\/\/\[::1\]:\d+$/)
      const res = await client({ address: agent.address.replace('http://', '') }).request({ path: '/v1/a', schema: anything, what: 'testing' })
      assert.deepEqual(res.value, { v6: true })
    })
  })

  describe('#https', () => {
    it('verifies the agent against a CA file (CONSUL_CACERT)', async () => {
      const pki = await testPki()
      const agent = await fake({ tls: { cert: pki.serverCertPem, key: pki.serverKeyPem } }, { json: { tls: true } })
      const caFile = dir.file('ca.pem')
      await writeFile(caFile, pki.caPem)
      const res = await client({ env: { CONSUL_HTTP_ADDR: agent.address, CONSUL_CACERT: caFile } }).request({ path: '/v1/a', schema: anything, what: 'testing' })
      assert.deepEqual(res.value, { tls: true })
    })

    it('verifies against a CA directory (CONSUL_CAPATH), skipping non-PEM files', async () => {
      const pki = await testPki()
      const agent = await fake({ tls: { cert: pki.serverCertPem, key: pki.serverKeyPem } }, { json: { tls: true } })
      const caDir = dir.file('cas')
      await mkdir(caDir)
      await writeFile(`${caDir}/0-other.pem`, pki.otherCaPem)
      await writeFile(`${caDir}/1-ours.crt`, pki.caPem)
      await writeFile(`${caDir}/README`, 'not a certificate')
      await mkdir(`${caDir}/subdir`)
      const res = await client({ address: agent.address.replace('https://', ''), env: { CONSUL_HTTP_SSL: 'true', CONSUL_CAPATH: caDir } })
        .request({ path: '/v1/a', schema: anything, what: 'testing' })
      assert.deepEqual(res.value, { tls: true })
    })

    it('refuses an agent whose certificate does not chain to the configured CA', async () => {
      const pki = await testPki()
      const agent = await fake({ tls: { cert: pki.serverCertPem, key: pki.serverKeyPem } }, { json: {} })
      const err = await rejectsWith(client({ address: agent.address, tls: { ca: pki.otherCaPem } }).request({ path: '/v1/a', schema: anything, what: 'testing' }), 'ERR_CONNECT_AGENT_UNREACHABLE')
      assert.match(err.message, /^testing: agent unreachable at https:/)
      assert.equal(agent.requests.length, 0)
    })

    it('accepts any certificate with verify off (CONSUL_HTTP_SSL_VERIFY=false)', async () => {
      const pki = await testPki()
      const agent = await fake({ tls: { cert: pki.serverCertPem, key: pki.serverKeyPem } }, { json: { ok: 1 } })
      const res = await client({ address: agent.address, env: { CONSUL_HTTP_SSL_VERIFY: 'false' } }).request({ path: '/v1/a', schema: anything, what: 'testing' })
      assert.deepEqual(res.value, { ok: 1 })
    })

    it('checks the certificate against the configured server name', async () => {
      const pki = await testPki()
      const agent = await fake({ tls: { cert: pki.serverCertPem, key: pki.serverKeyPem } }, { json: { ok: 1 } })
      const good = await client({ address: agent.address, tls: { ca: pki.caPem, serverName: 'server.dc1.consul' } }).request({ path: '/v1/a', schema: anything, what: 'testing' })
      assert.deepEqual(good.value, { ok: 1 })
      const err = await rejectsWith(client({ address: agent.address, tls: { ca: pki.caPem, serverName: 'other.dc1.consul' } }).request({ path: '/v1/a', schema: anything, what: 'testing' }), 'ERR_CONNECT_AGENT_UNREACHABLE')
      assert.match(err.message, /other\.dc1\.consul|altname|ALTNAME/i)
    })

    it('presents a client certificate from files (CONSUL_CLIENT_CERT/KEY) to an agent that requires one', async () => {
      const pki = await testPki()
      const agent = await fake({ tls: { cert: pki.serverCertPem, key: pki.serverKeyPem, ca: pki.caPem, requestCert: true } }, { json: { mtls: true } })
      await writeFile(dir.file('client.pem'), pki.clientCertPem)
      await writeFile(dir.file('client-key.pem'), pki.clientKeyPem)
      const res = await client({
        address: agent.address,
        env: { CONSUL_CLIENT_CERT: dir.file('client.pem'), CONSUL_CLIENT_KEY: dir.file('client-key.pem') },
        tls: { ca: pki.caPem }
      }).request({ path: '/v1/a', schema: anything, what: 'testing' })
      assert.deepEqual(res.value, { mtls: true })
      await rejectsWith(client({ address: agent.address, tls: { ca: pki.caPem } }).request({ path: '/v1/a', schema: anything, what: 'testing' }), 'ERR_CONNECT_AGENT_UNREACHABLE')
    })

    const unusable: Array<[string, (d: TempDir) => Promise<NonNullable<AgentClientOptions['tls']>>, RegExp]> = [
      ['a missing CA file', async (d) => ({ caFile: d.file('missing.pem') }), /reading CA file ".*missing\.pem" \(agent\.tls\.caFile\): ENOENT/],
      ['a CA file without certificates', async (d) => { await writeFile(d.file('empty-ca.pem'), 'hello'); return { caFile: d.file('empty-ca.pem') } }, /holds no PEM certificate/],
      ['a CA directory without certificates', async (d) => { await mkdir(d.file('no-cas'), { recursive: true }); return { caPath: d.file('no-cas') } }, /CA directory .* holds no PEM certificate/],
      ['a missing client key file', async (d) => ({ cert: 'x', keyFile: d.file('missing-key.pem') }), /reading client key/]
    ]
    for (const [what, tls, message] of unusable) {
      it(`rejects with ERR_CONNECT_AGENT_CONFIG for ${what}`, async () => {
        const err = await rejectsWith(client({ address: 'https://127.0.0.1:1', tls: await tls(dir) }).request({ path: '/v1/a', schema: anything, what: 'testing' }), 'ERR_CONNECT_AGENT_CONFIG')
        assert.match(err.message, message)
      })
    }
  })

  describe('#convenience calls', () => {
    it('authorize posts Target, ClientCertURI and ClientCertSerial', async () => {
      const agent = await fake({}, { json: { Authorized: false, Reason: 'Matched L4 intention: deny' } })
      const answer = await client({ address: agent.address }).authorize({ target: 'db', clientCertUri: 'spiffe://t.consul/ns/default/dc/dc1/svc/web', clientCertSerial: '0a:1b' })
      assert.deepEqual(answer, { Authorized: false, Reason: 'Matched L4 intention: deny' })
      const [req] = agent.requests
      assert.deepEqual([req!.method, req!.path], ['POST', '/v1/agent/connect/authorize'])
      assert.deepEqual(JSON.parse(req!.body), { Target: 'db', ClientCertURI: 'spiffe://t.consul/ns/default/dc/dc1/svc/web', ClientCertSerial: '0a:1b' })
    })

    it('intentionCheck asks with source and destination', async () => {
      const agent = await fake({}, { json: { Allowed: true } })
      assert.deepEqual(await client({ address: agent.address }).intentionCheck({ source: 'web', destination: 'db' }), { Allowed: true })
      assert.equal(agent.requests[0]!.rawUrl, '/v1/connect/intentions/check?source=web&destination=db')
    })

    it('upsertIntentionExact and deleteIntentionExact address the pair in the query', async () => {
      const agent = await fake({}, { json: true }, { json: true })
      const c = client({ address: agent.address })
      assert.equal(await c.upsertIntentionExact({ source: 'web', destination: 'db', intention: { Action: 'allow' } }), true)
      assert.equal(await c.deleteIntentionExact({ source: 'web', destination: 'db' }), true)
      assert.deepEqual(agent.requests.map((r) => `${r.method} ${r.rawUrl} ${r.body}`), [
        'PUT /v1/connect/intentions/exact?source=web&destination=db {"Action":"allow"}',
        'DELETE /v1/connect/intentions/exact?source=web&destination=db '
      ])
    })

    it('putConfigEntry sends the entry and cas when given', async () => {
      const agent = await fake({}, { json: true }, { json: false })
      const c = client({ address: agent.address })
      const entry = { Kind: 'service-intentions', Name: 'db', Sources: [{ Name: 'web', Action: 'allow' }] }
      assert.equal(await c.putConfigEntry(entry), true)
      assert.equal(await c.putConfigEntry(entry, { cas: 12 }), false)
      assert.deepEqual(agent.requests.map((r) => r.rawUrl), ['/v1/config', '/v1/config?cas=12'])
      assert.deepEqual(JSON.parse(agent.requests[0]!.body), entry)
    })

    it('setCaConfiguration accepts an empty answer', async () => {
      const agent = await fake({}, { body: '' })
      await client({ address: agent.address }).setCaConfiguration({ Provider: 'consul', Config: { LeafCertTTL: '1h' } })
      assert.deepEqual([agent.requests[0]!.method, agent.requests[0]!.path], ['PUT', '/v1/connect/ca/configuration'])
    })

    it('self validates the answer', async () => {
      const agent = await fake({}, { json: { Config: { Datacenter: 'dc1', NodeName: 'n1' } } }, { json: { Config: {} } })
      const c = client({ address: agent.address })
      assert.equal((await c.self()).Config.NodeName, 'n1')
      const err = await rejectsWith(c.self(), 'ERR_CONNECT_AGENT_INVALID_ANSWER')
      assert.match(err.message, /^reading agent self: invalid answer from agent: Config\.Datacenter/)
    })
  })
})
