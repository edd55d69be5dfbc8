import assert from 'node:assert/strict'
import { once } from 'node:events'
import http2 from 'node:http2'
import https from 'node:https'
import net from 'node:net'
import type { IncomingMessage } from 'node:http'
import type { ConnectionOptions, TLSSocket } from 'node:tls'
import { allowAll } from '../../lib/authz/authorizer.js'
import type { Authorizer } from '../../lib/authz/authorizer.js'
import { InvalidOptionError } from '../../lib/errors.js'
import { TestCA } from '../../lib/testing/test-ca.js'
import { clientTlsOptions } from '../../lib/tls/client.js'
import { peerOf } from '../../lib/tls/peer.js'
import { createHttp2Server, createHttpsServer, createTlsServer, tlsGuardOf } from '../../lib/tls/server.js'
import { SwappableSource, bundleOf, closeServer, closed, echo, echoListener, issue, listen, tlsClient } from './support.js'

describe('mesh servers', () => {
  let ca: TestCA
  let serverSource: SwappableSource
  let clientSource: SwappableSource
  let meshClient: ConnectionOptions
  const servers: net.Server[] = []
  const cleanups: Array<() => void> = []
  const authorizer: Authorizer = allowAll()

  before(async () => {
    ca = await TestCA.create()
    const server = await issue(ca, { service: 'db' })
    const client = await issue(ca, { service: 'web' })
    serverSource = new SwappableSource(server.identity, bundleOf(ca))
    clientSource = new SwappableSource(client.identity, bundleOf(ca))
    meshClient = clientTlsOptions(clientSource.credentials, { service: 'db' })
  })

  afterEach(async () => {
    for (const cleanup of cleanups.splice(0)) cleanup()
    await Promise.all(servers.splice(0).map(closeServer))
  })

  async function serve (server: net.Server): Promise<number> {
    servers.push(server)
    return await listen(server)
  }

  async function httpsGet (port: number, options: ConnectionOptions = meshClient): Promise<{ status: number, body: string, alpn: string | false | null }> {
    const req = https.request({ ALPNProtocols: ['http/1.1'], ...options, host: '127.0.0.1', port, path: '/who', agent: false })
    req.end()
    const [res] = await once(req, 'response') as [IncomingMessage]
    const chunks: Buffer[] = []
    for await (const chunk of res) chunks.push(chunk as Buffer)
    const alpn = (res.socket as TLSSocket).alpnProtocol
    return { status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString(), alpn }
  }

  describe('createTlsServer', () => {
    it('accepts a mesh client, gives the listener its verified peer and counts it', async () => {
      const peers: string[] = []
      const server = createTlsServer({ source: serverSource, authorizer }, (socket) => {
        const peer = peerOf(socket)
        peers.push(peer?.id.kind === 'service' ? peer.id.service : '?')
        echoListener(socket)
      })
      const port = await serve(server)
      const socket = await tlsClient(port, meshClient)
      cleanups.push(() => socket.destroy())
      assert.equal(await echo(socket, 'hello'), 'hello')
      assert.deepEqual(peers, ['web'])
      assert.deepEqual(tlsGuardOf(server)!.counters.snapshot(), { accepted: 1, refused: 0, refusedByCode: {}, tlsErrors: 0, tlsErrorsByReason: {} })
    })

    it('advertises no ALPN protocol unless configured (Consul issue 4466)', async () => {
      const port = await serve(createTlsServer({ source: serverSource, authorizer }, echoListener))
      const socket = await tlsClient(port, { ...meshClient, ALPNProtocols: ['h2', 'http/1.1'] })
      cleanups.push(() => socket.destroy())
      assert.equal(socket.alpnProtocol, false)
    })

    it('negotiates a configured ALPN protocol', async () => {
      const port = await serve(createTlsServer({ source: serverSource, authorizer, alpn: ['x-mesh/1'] }, echoListener))
      const socket = await tlsClient(port, { ...meshClient, ALPNProtocols: ['x-mesh/1'] })
      cleanups.push(() => socket.destroy())
      assert.equal(socket.alpnProtocol, 'x-mesh/1')
    })

    it('drops a handshake that does not finish within handshakeTimeoutMs and counts it', async () => {
      const server = createTlsServer({ source: serverSource, authorizer, handshakeTimeoutMs: 100 }, echoListener)
      const port = await serve(server)
      const guard = tlsGuardOf(server)!
      const tlsError = once(guard, 'tlsError')
      const silent = net.connect(port, '127.0.0.1')
      const [info] = await tlsError
      assert.equal(info.reason, 'handshake-timeout')
      assert.equal(info.code, 'ERR_TLS_HANDSHAKE_TIMEOUT')
      await closed(silent)
      assert.equal(guard.counters.tlsErrorsFor('handshake-timeout'), 1)
    })
  })

  describe('createHttpsServer', () => {
    it('serves HTTP/1.1 over mTLS with the caller available through peerOf(req)', async () => {
      const port = await serve(createHttpsServer({ source: serverSource, authorizer }, (req, res) => {
        const peer = peerOf(req)
        res.end(peer?.id.kind === 'service' ? peer.id.service : 'nobody')
      }))
      const { status, body, alpn } = await httpsGet(port)
      assert.equal(status, 200)
      assert.equal(body, 'web')
      assert.equal(alpn, 'http/1.1')
    })

    it('advertises http/1.1 only: an h2-only client is refused by ALPN', async () => {
      const server = createHttpsServer({ source: serverSource, authorizer }, (_req, res) => res.end())
      const port = await serve(server)
      const tlsError = once(tlsGuardOf(server)!, 'tlsError')
      await assert.rejects(tlsClient(port, { ...meshClient, ALPNProtocols: ['h2'] }), /no application protocol/)
      assert.equal((await tlsError)[0].reason, 'alpn')
    })
  })

  describe('createHttp2Server', () => {
    async function h2Get (port: number): Promise<{ body: string, alpn: string | undefined }> {
      const session = http2.connect(`https://127.0.0.1:${port}`, meshClient)
      cleanups.push(() => session.destroy())
      await once(session, 'connect')
      const req = session.request({ ':path': '/who' })
      req.end()
      const chunks: Buffer[] = []
      for await (const chunk of req) chunks.push(chunk as Buffer)
      return { body: Buffer.concat(chunks).toString(), alpn: session.alpnProtocol }
    }

    it('serves h2 with the caller available through peerOf(req) and peerOf(stream)', async () => {
      const server = createHttp2Server({ source: serverSource, authorizer }, (req, res) => {
        const fromReq = peerOf(req)
        const fromStream = peerOf(req.stream)
        assert.equal(fromReq, fromStream)
        res.end(fromReq?.id.kind === 'service' ? fromReq.id.service : 'nobody')
      })
      const port = await serve(server)
      assert.deepEqual(await h2Get(port), { body: 'web', alpn: 'h2' })
    })

    it('advertises h2 only by default: an HTTP/1.1 client is refused by ALPN', async () => {
      const server = createHttp2Server({ source: serverSource, authorizer }, (_req, res) => res.end())
      const port = await serve(server)
      const tlsError = once(tlsGuardOf(server)!, 'tlsError')
      await assert.rejects(httpsGet(port), /no application protocol/)
      assert.equal((await tlsError)[0].reason, 'alpn')
    })

    it('with allowHTTP1, advertises h2 then http/1.1 and serves both', async () => {
      const server = createHttp2Server({ source: serverSource, authorizer, allowHTTP1: true }, (req, res) => {
        const peer = peerOf(req)
        res.end(`${req.httpVersion} ${peer?.id.kind === 'service' ? peer.id.service : 'nobody'}`)
      })
      const port = await serve(server)
      assert.deepEqual(await h2Get(port), { body: '2.0 web', alpn: 'h2' })
      const http1 = await httpsGet(port)
      assert.equal(http1.body, '1.1 web')
      assert.equal(http1.alpn, 'http/1.1')
    })
  })

  describe('before credentials exist', () => {
    it('refuses handshakes at once with ERR_CONNECT_NOT_READY, keeps running, and serves once ready', async () => {
      const source = new SwappableSource()
      const server = createTlsServer({ source, authorizer }, echoListener)
      const port = await serve(server)
      const guard = tlsGuardOf(server)!
      const refused = once(guard, 'refused')
      const started = performance.now()
      await assert.rejects(tlsClient(port, meshClient), /handshake failure/)
      // Well inside the 10 s handshake timeout: the server refused, it did not let the client wait.
      assert.ok(performance.now() - started < 2_000)
      const [event] = await refused
      assert.equal(event.code, 'ERR_CONNECT_NOT_READY')
      assert.equal(guard.counters.refusedWith('ERR_CONNECT_NOT_READY'), 1)
      assert.equal(guard.counters.tlsErrors, 0)

      source.set(serverSource.credentials.identity, serverSource.credentials.bundle)
      const socket = await tlsClient(port, meshClient)
      cleanups.push(() => socket.destroy())
      assert.equal(await echo(socket, 'ready'), 'ready')
    })
  })

  describe('options', () => {
    it('are validated eagerly, naming the field', () => {
      const base = { source: serverSource, authorizer }
      const cases: Array<[() => unknown, string]> = [
        [() => createTlsServer({ ...base, source: {} } as never), 'source'],
        [() => createTlsServer({ ...base, authorizer: 'allow' } as never), 'authorizer'],
        [() => createTlsServer({ ...base, handshakeTimeoutMs: 0 }), 'handshakeTimeoutMs'],
        [() => createTlsServer({ ...base, alpn: ['h2', 'h2'] }), 'alpn'],
        [() => createTlsServer({ ...base, serverOptions: { cert: 'x' } as never }), 'serverOptions.cert'],
        [() => createHttpsServer({ ...base, alpn: ['h2'] } as never), 'alpn'],
        [() => createHttpsServer({ ...base, serverOptions: { rejectUnauthorized: true } as never }), 'serverOptions.rejectUnauthorized'],
        [() => createHttp2Server({ ...base, allowHTTP1: 'yes' } as never), 'allowHTTP1'],
        [() => createHttp2Server({ ...base, serverOptions: { ALPNProtocols: ['h2'] } as never }), 'serverOptions.ALPNProtocols'],
        [() => createHttp2Server(null as never), 'options']
      ]
      for (const [create, field] of cases) {
        assert.throws(create, (err: Error) => {
          assert.ok(err instanceof InvalidOptionError, err.message)
          assert.equal(err.field, field)
          return true
        })
      }
    })

    it('pass other server options through and never lower the minimum TLS version', async () => {
      const server = createHttpsServer({ source: serverSource, authorizer, serverOptions: { minVersion: 'TLSv1.3', keepAliveTimeout: 1234 } }, (_req, res) => res.end())
      const strict = await serve(server)
      assert.equal(server.keepAliveTimeout, 1234)
      assert.equal((await tlsClient(strict, meshClient).then((socket) => { cleanups.push(() => socket.destroy()); return socket })).getProtocol(), 'TLSv1.3')
      // clientTlsOptions leaves out its shared context when a context setting such as maxVersion is given.
      await assert.rejects(tlsClient(strict, clientTlsOptions(clientSource.credentials, { service: 'db' }, { maxVersion: 'TLSv1.2' })), /protocol version|unsupported protocol/i)
      const lowered = createTlsServer({ source: serverSource, authorizer, serverOptions: { minVersion: 'TLSv1' } })
      const port = await serve(lowered)
      const tlsError = once(tlsGuardOf(lowered)!, 'tlsError')
      await assert.rejects(tlsClient(port, { ...meshClient, secureContext: undefined, minVersion: 'TLSv1', maxVersion: 'TLSv1.1', ciphers: 'DEFAULT@SECLEVEL=0' }), /protocol|version/i)
      assert.equal((await tlsError)[0].reason, 'version')
    })
  })
})
