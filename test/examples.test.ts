/**
 * The examples are part of the documentation, so they run in the suite: each example's `main()` runs against
 * its own TestAgent (no Consul) with a capturing log, and its result is checked. Also checked: that
 * examples/README.md lists every example, that each shows its published import, and that one example run
 * directly (`node --import tsx examples/<file>.ts`, what `npx tsx` does) prints its story and exits by itself.
 *
 * examples/authorization-rules.test.ts is a mocha file of its own (run with the `examples/**\/*.test.ts` spec).
 */
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { readdir, readFile } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import Fastify from 'fastify'
import { main as fastifyPlugin, connectNative } from '../examples/fastify-plugin.js'
import { main as http2Server } from '../examples/http2-server.js'
import { main as httpsServer } from '../examples/https-server.js'
import { main as prestoStyleAuthenticator } from '../examples/presto-style-authenticator.js'
import { main as rawTlsEcho } from '../examples/raw-tls-echo.js'
import { main as undiciClient } from '../examples/undici-client.js'
import { main as webSocket } from '../examples/websocket.js'
import { ConnectService, staticCredentials } from '../lib/index.js'
import { TestCA } from '../lib/testing/index.js'

const examplesDir = join(dirname(fileURLToPath(import.meta.url)), '..', 'examples')

/** A log that keeps the lines, to show them when an assertion fails. */
function capture (): { log: (line: string) => void, lines: string[] } {
  const lines: string[] = []
  return { log: (line) => { lines.push(line) }, lines }
}

describe('examples', function () {
  // Each example takes about a second; the margin is for a loaded CI machine.
  this.timeout(15_000)

  it('https-server: web calls db by name; db sees web in its certificate', async () => {
    const { log, lines } = capture()
    const result = await httpsServer({ log })
    assert.equal(result.status, 200, lines.join('\n'))
    assert.equal(result.caller, 'web')
    assert.match(result.callerSpiffeId, /^spiffe:\/\/[0-9a-f-]+\.consul\/ns\/default\/dc\/dc1\/svc\/web$/)
    assert.match(result.serverSpiffeId, /\/svc\/db$/)
    assert.equal(result.path, '/orders/42')
    assert.ok(lines.some((line) => line.startsWith('agent: test-agent at 127.0.0.1:')), lines.join('\n'))
  })

  it('http2-server: concurrent h2 streams share one session; undici negotiates h2; HTTP/1.1 still served', async () => {
    const { log, lines } = capture()
    const result = await http2Server({ log })
    assert.deepEqual(result.streams.map((s) => [s.path, s.httpVersion, s.caller]), [
      ['/orders/1', '2.0', 'web'], ['/orders/2', '2.0', 'web'], ['/orders/3', '2.0', 'web']
    ], lines.join('\n'))
    assert.equal(result.sessionsForStreams, 1)
    assert.deepEqual([result.undiciH2.httpVersion, result.undiciH2.caller], ['2.0', 'web'])
    assert.deepEqual([result.http1.httpVersion, result.http1.caller], ['1.1', 'legacy'])
  })

  describe('fastify-plugin', () => {
    it('serves Fastify routes over mTLS with L7 intentions: 200 for allowed requests, 403 with the reason otherwise', async () => {
      const { log, lines } = capture()
      const result = await fastifyPlugin({ log })
      assert.deepEqual(result.calls.map((c) => [c.caller, c.method, c.path, c.status]), [
        ['web', 'GET', '/orders', 200],
        ['web', 'POST', '/admin/reindex', 403],
        ['web', 'GET', '/metrics', 403],
        ['ops', 'POST', '/admin/reindex', 200]
      ], lines.join('\n'))
      const [orders, admin, metrics, ops] = result.calls
      assert.equal(JSON.parse(orders!.body).caller, 'web', 'request.peer is the verified caller')
      assert.match(admin!.body, /Matched L7 intention: default\/web => default\/db.*Permissions\[1\]: DENY/)
      assert.match(metrics!.body, /no permission matched the request/)
      assert.equal(JSON.parse(ops!.body).by, 'ops')
      assert.equal(result.denied, 2)
    })

    it('refuses to load on a Fastify https server that is not the mesh\'s (serverFactory forgotten)', async () => {
      const ca = await TestCA.create()
      const leaf = await ca.issueLeaf({ service: 'db' })
      const service = new ConnectService({
        service: 'db',
        credentials: staticCredentials({ identity: { certPem: leaf.certPem, keyPem: leaf.keyPem }, bundle: { trustDomain: ca.trustDomain, rootsPem: ca.rootPem } }),
        authorizer: () => ({ allowed: false, reason: 'unused', layer: 'L4' }),
        resolver: { resolve: async () => [] }
      })
      // An https app configured by hand: TLS, but not the mesh's mutual TLS and authorization.
      const app = Fastify({ https: {} })
      try {
        await assert.rejects(async () => { await app.register(connectNative, { service }) }, /does not serve mutual TLS.*serverFactory/)
      } finally {
        await app.close()
        await service.close()
      }
    })
  })

  it('undici-client: request, fetch and svc.fetch reach the service by name over one kept-alive connection', async () => {
    const { log, lines } = capture()
    const result = await undiciClient({ log })
    assert.deepEqual(result.statuses, { request: 200, fetch: 200, svcFetch: 200 }, lines.join('\n'))
    assert.equal(result.caller, 'web')
    assert.equal(result.keepAliveConnections.length, 8)
    assert.deepEqual(new Set(result.keepAliveConnections), new Set([1]))
    assert.equal(result.tlsConnections, 1)
    assert.equal(result.noInstancesCode, 'ERR_CONNECT_NO_INSTANCES')
  })

  it('websocket: members identified by certificate chat through the room; a denied service never opens', async () => {
    const { log, lines } = capture()
    const result = await webSocket({ log })
    assert.deepEqual([...result.joined].sort(), ['mobile', 'web'], lines.join('\n'))
    const conversation = ['web: hello from web', 'mobile: hi web, mobile here']
    assert.deepEqual(result.received, { web: conversation, mobile: conversation })
    assert.equal(result.denied.opened, false)
    assert.ok(result.denied.error.length > 0)
    assert.equal(result.denied.serverCode, 'ERR_CONNECT_NOT_AUTHORIZED')
    assert.match(result.denied.serverReason, /default\/batch => default\/chat .*DENY/)
  })

  it('raw-tls-echo: dial by name echoes bytes both ways; a server of another service is refused', async () => {
    const { log, lines } = capture()
    const result = await rawTlsEcho({ log })
    assert.deepEqual(result.echoed, ['hello', 'from the mesh'], lines.join('\n'))
    assert.match(result.serverSpiffeId, /\/svc\/echo$/)
    assert.equal(result.clientSeenByServer, 'web')
    assert.equal(result.impostorCode, 'ERR_CONNECT_PEER_VERIFICATION')
  })

  it('presto-style-authenticator: maps allowed chains to users, denies with reasons, survives a root rotation', async () => {
    const { log, lines } = capture()
    const result = await prestoStyleAuthenticator({ log })
    assert.deepEqual(result.allowed, { caller: 'analytics', status: 200, body: 'hello analytics' }, lines.join('\n'))
    assert.equal(result.denied.status, 401)
    assert.match(result.denied.body, /^ERR_CONNECT_NOT_AUTHORIZED: .*default\/batch => default\/trino .*DENY/)
    assert.equal(result.strangerCode, 'ERR_CONNECT_CERT_UNKNOWN_ISSUER')
    assert.equal(result.leafChanged, true)
    assert.deepEqual(result.afterRotation, { caller: 'analytics', status: 200, body: 'hello analytics' })
    assert.equal(result.oldRootCodeAfterPrune, 'ERR_CONNECT_CERT_UNKNOWN_ISSUER')
  })

  describe('the examples directory', () => {
    async function exampleFiles (): Promise<string[]> {
      return (await readdir(examplesDir)).filter((name) => name.endsWith('.ts')).sort()
    }

    it('README.md lists every example with its command, and nothing that does not exist', async () => {
      const readme = await readFile(join(examplesDir, 'README.md'), 'utf8')
      const files = await exampleFiles()
      for (const file of files) assert.ok(readme.includes(`examples/${file}`), `examples/README.md does not mention examples/${file}`)
      for (const [, file] of readme.matchAll(/examples\/([\w-]+(?:\.test)?\.ts)/g)) {
        assert.ok(files.includes(file!), `examples/README.md mentions examples/${file}, which does not exist`)
      }
    })

    it('each example shows the published import it stands for', async () => {
      for (const file of await exampleFiles()) {
        const source = await readFile(join(examplesDir, file), 'utf8')
        assert.match(source, /from 'consul-connect-native'/, `${file} has no comment with the published import`)
      }
    })

    it('an example run directly prints its story and exits by itself (nothing keeps the process alive)', async () => {
      const env: NodeJS.ProcessEnv = { ...process.env }
      delete env.CONSUL_HTTP_ADDR // a TestAgent, whatever the environment says
      const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', join(examplesDir, 'https-server.ts')], { env, timeout: 12_000 })
      assert.match(stdout, /^agent: test-agent at 127\.0\.0\.1:\d+$/m)
      assert.match(stdout, /web → GET https:\/\/db\.service\.consul\/orders\/42: 200 .*"caller":"web"/)
    })
  })
})
