import assert from 'node:assert/strict'
import { once } from 'node:events'
import { createServer as httpsCreateServer } from 'node:https'
import type { AddressInfo } from 'node:net'
import { connect as tlsConnect } from 'node:tls'
import type { WebSocket } from 'ws'
import { allowAll } from '../../lib/authz/authorizer.js'
import type { Peer } from '../../lib/authz/authorizer.js'
import { AuthorizationError, ConnectError, InvalidOptionError } from '../../lib/errors.js'
import type { StaticCredentialsSource } from '../../lib/identity/static-source.js'
import { staticResolver } from '../../lib/net/static-resolver.js'
import { meshWebSocket } from '../../lib/net/ws.js'
import { attachWebSocketServer } from '../../lib/net/ws-server.js'
import type { MeshWebSocketServer, UpgradeRequestInfo } from '../../lib/net/ws-server.js'
import type { Resolver } from '../../lib/net/resolver.js'
import { peerOf } from '../../lib/tls/peer.js'
import { createHttpsServer } from '../../lib/tls/server.js'
import { credentialsFor, startMeshServer, TestCA } from './support/mesh.js'
import type { MeshServer } from './support/mesh.js'

describe('WebSockets over the mesh', () => {
  let ca: TestCA
  let web: StaticCredentialsSource
  let intruder: StaticCredentialsSource
  let chat: MeshServer
  let resolver: Resolver
  let attached: MeshWebSocketServer | undefined
  const clients: WebSocket[] = []

  beforeEach(async () => {
    ca = await TestCA.create()
    web = await credentialsFor(ca, 'web')
    intruder = await credentialsFor(ca, 'intruder')
    chat = await startMeshServer(ca, 'chat', (_req, res) => { res.statusCode = 426; res.end('upgrade required') })
    resolver = staticResolver({ chat: [`127.0.0.1:${chat.port}`] })
  })
  afterEach(async () => {
    for (const client of clients.splice(0)) client.terminate()
    await attached?.close()
    attached = undefined
    await chat.close()
    await web.close()
    await intruder.close()
  })

  /** Echo server on /room that allows only "web" and records who connected. */
  async function attachEcho (): Promise<Peer[]> {
    const peers: Peer[] = []
    attached = await attachWebSocketServer(chat.server, {
      path: '/room',
      authorize: (peer, request: UpgradeRequestInfo) => peer.id.kind === 'service' && peer.id.service === 'web'
        ? { allowed: true, reason: `allowed: ${request.method} ${request.path} from web`, layer: 'L7' }
        : { allowed: false, reason: `denied: ${peer.id.uri} may not join ${request.path}`, layer: 'L7' }
    }, (ws, _request, peer) => {
      peers.push(peer)
      ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }))
    })
    return peers
  }

  it('round-trips messages between meshWebSocket and attachWebSocketServer', async () => {
    const peers = await attachEcho()
    const client = await meshWebSocket('wss://chat.service.consul/room?x=1', { source: web, resolver, protocols: ['chat.v1'] })
    clients.push(client)
    assert.equal(client.readyState, client.OPEN)
    client.send('hello mesh')
    const [data] = await once(client, 'message') as [Buffer]
    assert.equal(data.toString(), 'hello mesh')
    assert.equal(peers.length, 1)
    assert.equal(peers[0]!.id.kind, 'service')
    assert.equal((peers[0]!.id as { service: string }).service, 'web')
    assert.equal(chat.clientSerials[0], web.credentials.identity!.serial)
  })

  it('refuses an unauthorized upgrade with 403 and the reason', async () => {
    await attachEcho()
    await assert.rejects(meshWebSocket('wss://chat.service.consul/room', { source: intruder, resolver }), (err: unknown) => {
      assert.ok(err instanceof AuthorizationError, String(err))
      assert.equal(err.code, 'ERR_CONNECT_NOT_AUTHORIZED')
      assert.match(err.reason, /^denied: spiffe:\/\/.*\/svc\/intruder may not join \/room$/)
      return true
    })
  })

  it('writes a plain 403 response before closing the socket', async () => {
    await attachEcho()
    const leaf = intruder.credentials.identity!
    const socket = tlsConnect({ host: '127.0.0.1', port: chat.port, cert: leaf.certPem, key: leaf.keyPem, ca: [ca.rootPem], checkServerIdentity: () => undefined })
    await once(socket, 'secureConnect')
    socket.end('GET /room HTTP/1.1\r\nHost: chat.service.consul\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n' +
      'Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n')
    const chunks: Buffer[] = []
    socket.on('data', (chunk: Buffer) => chunks.push(chunk))
    await once(socket, 'close')
    const text = Buffer.concat(chunks).toString()
    assert.match(text, /^HTTP\/1\.1 403 Forbidden\r\n/)
    assert.match(text, /\r\n\r\ndenied: spiffe:\/\/\S+\/svc\/intruder may not join \/room$/)
  })

  it('accepts any verified peer when no authorizer is given', async () => {
    const peers: Peer[] = []
    attached = await attachWebSocketServer(chat.server, {}, (_ws, _req, peer) => peers.push(peer))
    const client = await meshWebSocket('wss://chat.service.consul/anywhere', { source: intruder, resolver })
    clients.push(client)
    assert.equal((peers[0]?.id as { service?: string } | undefined)?.service, 'intruder')
  })

  it('works on a server made by lib/tls/server.ts, reading the peer it verified', async () => {
    const chatSource = await credentialsFor(ca, 'chat')
    const server = createHttpsServer({ source: chatSource, authorizer: allowAll() })
    server.listen(0, '127.0.0.1')
    await once(server, 'listening')
    const peers: Peer[] = []
    const guarded = await attachWebSocketServer(server, { path: '/room' }, (ws, request, peer) => {
      peers.push(peer)
      assert.equal(peerOf(request), peer, 'the same peer the guard recorded')
      ws.send('welcome')
    })
    try {
      const port = (server.address() as AddressInfo).port
      const client = await meshWebSocket('wss://chat.service.consul/room', { source: web, resolver: staticResolver({ chat: [`127.0.0.1:${port}`] }) })
      clients.push(client)
      const [data] = await once(client, 'message') as [Buffer]
      assert.equal(data.toString(), 'welcome')
      assert.equal((peers[0]?.id as { service?: string } | undefined)?.service, 'web')
    } finally {
      for (const client of clients.splice(0)) client.terminate()
      await guarded.close()
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
      await chatSource.close()
    }
  })

  it('refuses with 403 when the connection has no client certificate', async () => {
    const leaf = await ca.issueLeaf({ service: 'chat' })
    const server = httpsCreateServer({ cert: leaf.certPem, key: leaf.keyPem })
    server.listen(0, '127.0.0.1')
    await once(server, 'listening')
    const opened: unknown[] = []
    const plain = await attachWebSocketServer(server, {}, (ws) => opened.push(ws))
    try {
      const port = (server.address() as AddressInfo).port
      await assert.rejects(meshWebSocket('wss://chat.service.consul/', { source: web, resolver: staticResolver({ chat: [`127.0.0.1:${port}`] }) }), (err: unknown) =>
        err instanceof AuthorizationError && /no client certificate/.test(err.reason))
      assert.equal(opened.length, 0)
    } finally {
      await plain.close()
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    }
  })

  it('answers 404 for another path when it is the only upgrade listener', async () => {
    await attachEcho()
    await assert.rejects(meshWebSocket('wss://chat.service.consul/elsewhere', { source: web, resolver }), /Unexpected server response: 404/)
  })

  it('fails the dial, not the handshake, when the server is not the service', async () => {
    await attachEcho()
    const wrong = staticResolver({ lobby: [`127.0.0.1:${chat.port}`] })
    await assert.rejects(meshWebSocket('wss://lobby.service.consul/room', { source: web, resolver: wrong }), (err: unknown) =>
      err instanceof ConnectError && err.code === 'ERR_CONNECT_PEER_VERIFICATION')
  })

  it('rejects non-mesh URLs and options that would bypass the mesh TLS', async () => {
    await assert.rejects(meshWebSocket('ws://chat.service.consul/room', { source: web, resolver }), (err: unknown) =>
      err instanceof InvalidOptionError && err.field === 'url')
    await assert.rejects(meshWebSocket('wss://chat.example.com/room', { source: web, resolver }), (err: unknown) =>
      err instanceof InvalidOptionError && err.field === 'hostname')
    await assert.rejects(meshWebSocket('wss://chat.service.consul/room', { source: web, resolver, rejectUnauthorized: false } as never), (err: unknown) =>
      err instanceof InvalidOptionError && err.field === 'rejectUnauthorized')
  })

  it('rejects with ERR_CONNECT_ABORTED when the signal aborts', async () => {
    await attachEcho()
    await assert.rejects(meshWebSocket('wss://chat.service.consul/room', { source: web, resolver, signal: AbortSignal.abort() }), (err: unknown) =>
      err instanceof ConnectError && err.code === 'ERR_CONNECT_ABORTED')
  })

  it('stops accepting after close()', async () => {
    await attachEcho()
    const client = await meshWebSocket('wss://chat.service.consul/room', { source: web, resolver })
    const closed = once(client, 'close')
    await attached!.close()
    await attached!.close()
    const [code] = await closed as [number]
    assert.equal(code, 1001)
    assert.equal(chat.server.listenerCount('upgrade'), 0)
  })
})
