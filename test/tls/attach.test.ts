import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { once } from 'node:events'
import http from 'node:http'
import http2 from 'node:http2'
import https from 'node:https'
import net from 'node:net'
import tls from 'node:tls'
import type { ConnectionOptions, TLSSocket } from 'node:tls'
import { allowAll } from '../../lib/authz/authorizer.js'
import type { Authorizer } from '../../lib/authz/authorizer.js'
import { InvalidOptionError } from '../../lib/errors.js'
import { TestCA } from '../../lib/testing/test-ca.js'
import type { IssuedLeaf } from '../../lib/testing/test-ca.js'
import { clientTlsOptions } from '../../lib/tls/client.js'
import { peerOf } from '../../lib/tls/peer.js'
import { attachTls, tlsGuardOf } from '../../lib/tls/server.js'
import { SwappableSource, bundleOf, clientOptions, closeServer, closed, issue, listen, tlsClient } from './support.js'

describe('attachTls', () => {
  let ca: TestCA
  let ownLeaf: IssuedLeaf
  let source: SwappableSource
  let meshClient: ConnectionOptions
  let calls: string[]
  let server: https.Server
  let port: number
  const extra: net.Server[] = []
  const sockets: TLSSocket[] = []
  const authorizer: Authorizer = (peer) => {
    const service = peer.id.kind === 'service' ? peer.id.service : '?'
    return service === 'evil' ? { allowed: false, reason: 'denied: evil', layer: 'L4' } : allowAll()(peer)
  }

  before(async () => {
    ca = await TestCA.create()
    // What the server had before joining the mesh: its own certificate, no client authentication.
    ownLeaf = await (await TestCA.create()).issueLeaf({ service: 'legacy', dnsNames: ['localhost'] })
    const client = new SwappableSource((await issue(ca, { service: 'web' })).identity, bundleOf(ca))
    meshClient = { ...clientTlsOptions(client.credentials, { service: 'db' }), ALPNProtocols: ['http/1.1'] }
  })

  beforeEach(async () => {
    calls = []
    source = new SwappableSource((await issue(ca, { service: 'db' })).identity, bundleOf(ca))
    server = https.createServer({ cert: ownLeaf.certPem, key: ownLeaf.keyPem }, (req, res) => {
      const peer = peerOf(req)
      calls.push(peer?.id.kind === 'service' ? peer.id.service : 'nobody')
      res.end(calls[calls.length - 1])
    })
    port = await listen(server)
  })

  afterEach(async () => {
    for (const socket of sockets.splice(0)) socket.destroy()
    await Promise.all([server, ...extra.splice(0)].map(closeServer))
  })

  async function get (options: ConnectionOptions = meshClient): Promise<string> {
    const req = https.request({ ...options, host: '127.0.0.1', port, path: '/', agent: false })
    req.end()
    const [res] = await once(req, 'response') as [http.IncomingMessage]
    let body = ''
    for await (const chunk of res) body += String(chunk)
    return body
  }

  it('gives an existing https.Server the mesh identity and decides every connection', async () => {
    const guard = attachTls(server, { source, authorizer })
    assert.equal(tlsGuardOf(server), guard)
    assert.equal(await get(), 'web')

    const noCert = once(guard, 'refused')
    await assert.rejects(get({ ...clientOptions(undefined, ca), checkServerIdentity: () => undefined }))
    assert.equal((await noCert)[0].code, 'ERR_CONNECT_PEER_VERIFICATION')

    const evil = once(guard, 'refused')
    await assert.rejects(get({ ...clientOptions(await ca.issueLeaf({ service: 'evil' }), ca), checkServerIdentity: () => undefined }))
    assert.equal((await evil)[0].code, 'ERR_CONNECT_NOT_AUTHORIZED')

    assert.deepEqual(calls, ['web'], 'the request handler only ever saw the accepted peer')
    assert.deepEqual(guard.counters.snapshot().refusedByCode, { ERR_CONNECT_PEER_VERIFICATION: 1, ERR_CONNECT_NOT_AUTHORIZED: 1 })
  })

  it('follows credential changes on the attached server', async () => {
    attachTls(server, { source, authorizer })
    assert.equal(await get(), 'web')
    const next = await issue(ca, { service: 'db' })
    source.set(next.identity, source.credentials.bundle)
    const socket = await tlsClient(port, meshClient)
    sockets.push(socket)
    assert.equal(socket.getPeerX509Certificate()?.serialNumber.toLowerCase(), next.leaf.serial.replaceAll(':', ''))
  })

  it('keeps the server settings setSecureContext would reset (here: maxVersion)', async () => {
    const capped = https.createServer({ cert: ownLeaf.certPem, key: ownLeaf.keyPem, maxVersion: 'TLSv1.2' }, (_req, res) => res.end())
    extra.push(capped)
    attachTls(capped, { source, authorizer })
    const socket = await tlsClient(await listen(capped), meshClient)
    sockets.push(socket)
    assert.equal(socket.getProtocol(), 'TLSv1.2')
  })

  it('does not resume sessions across generations even when the server was built with fixed ticket keys', async () => {
    const fixed = tls.createServer({ cert: ownLeaf.certPem, key: ownLeaf.keyPem, ticketKeys: randomBytes(48) }, (socket) => socket.end('x'))
    extra.push(fixed)
    const guard = attachTls(fixed, { source, authorizer })
    const fixedPort = await listen(fixed)
    const first = await tlsClient(fixedPort, meshClient)
    sockets.push(first)
    const [session] = await once(first, 'session') as [Buffer]
    // TLS 1.3: the client connects before the server decides; wait for the decision so events do not mix.
    const acceptedOnce = once(guard, 'accepted')
    const resumedOnce = await tlsClient(fixedPort, { ...meshClient, session })
    sockets.push(resumedOnce)
    assert.equal(resumedOnce.isSessionReused(), true, 'resumption works within a generation')
    assert.equal((await acceptedOnce)[0].resumed, true)

    source.set(source.credentials.identity, source.credentials.bundle)
    const accepted = once(guard, 'accepted')
    const after = await tlsClient(fixedPort, { ...meshClient, session })
    sockets.push(after)
    assert.equal(after.isSessionReused(), false)
    assert.equal((await accepted)[0].resumed, false)
  })

  it('applies handshakeTimeoutMs to the attached server', async () => {
    const guard = attachTls(server, { source, authorizer, handshakeTimeoutMs: 100 })
    const tlsError = once(guard, 'tlsError')
    const silent = net.connect(port, '127.0.0.1')
    assert.equal((await tlsError)[0].reason, 'handshake-timeout')
    await closed(silent)
  })

  it('works on an HTTP/2 secure server too', async () => {
    const h2 = http2.createSecureServer({ cert: ownLeaf.certPem, key: ownLeaf.keyPem }, (req, res) => {
      const peer = peerOf(req)
      res.end(peer?.id.kind === 'service' ? peer.id.service : 'nobody')
    })
    extra.push(h2)
    attachTls(h2, { source, authorizer })
    const session = http2.connect(`https://127.0.0.1:${await listen(h2)}`, clientTlsOptions(new SwappableSource((await issue(ca, { service: 'api' })).identity, bundleOf(ca)).credentials, { service: 'db' }))
    try {
      const req = session.request({ ':path': '/' })
      req.end()
      let body = ''
      for await (const chunk of req) body += String(chunk)
      assert.equal(body, 'api')
    } finally {
      session.destroy()
    }
  })

  it('after detach(), stops following the source and refuses every new connection (fail closed)', async () => {
    const guard = attachTls(server, { source, authorizer })
    assert.equal(source.listenerCount, 1)
    guard.detach()
    guard.detach()
    assert.equal(guard.attached, false)
    assert.equal(source.listenerCount, 0)
    const refused = once(guard, 'refused')
    await assert.rejects(get())
    assert.equal((await refused)[0].code, 'ERR_CONNECT_CLOSED')

    // Attaching again replaces the detached guard.
    const again = attachTls(server, { source, authorizer })
    assert.notEqual(again, guard)
    assert.equal(await get(), 'web')
    assert.equal(again.counters.accepted, 1)
    assert.equal(guard.counters.accepted + guard.counters.refused, 1, 'the old guard no longer decides')
  })

  it('refuses a second attach, a server without TLS, and bad options', () => {
    attachTls(server, { source, authorizer })
    assert.throws(() => attachTls(server, { source, authorizer }), (err: Error) => err instanceof InvalidOptionError && err.field === 'server')
    const plain = http.createServer()
    assert.throws(() => attachTls(plain as never, { source, authorizer }), (err: Error) => err instanceof InvalidOptionError && err.field === 'server')
    const other = tls.createServer()
    assert.throws(() => attachTls(other, { source, authorizer, alpn: ['h2'] } as never), (err: Error) => err instanceof InvalidOptionError && err.field === 'alpn')
    assert.equal(tlsGuardOf(other), undefined)
  })
})
