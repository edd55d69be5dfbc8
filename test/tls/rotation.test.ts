import assert from 'node:assert/strict'
import { once } from 'node:events'
import type { ConnectionOptions, TLSSocket } from 'node:tls'
import tls from 'node:tls'
import { allowAll } from '../../lib/authz/authorizer.js'
import { TrustBundle } from '../../lib/identity/bundle.js'
import { Identity } from '../../lib/identity/identity.js'
import { parseCertificate } from '../../lib/identity/x509.js'
import { TestCA } from '../../lib/testing/test-ca.js'
import type { IssuedLeaf } from '../../lib/testing/test-ca.js'
import type { TlsGuard } from '../../lib/tls/guard.js'
import { createTlsServer, tlsGuardOf } from '../../lib/tls/server.js'
import { SwappableSource, bundleOf, clientOptions, closeServer, echo, echoListener, issue, listen, tlsClient } from './support.js'

/**
 * True when the socket's peer presented exactly this leaf. Ask right after connecting: on a TLS 1.3 client,
 * Node stops returning the peer certificate once session tickets have been processed.
 */
function presents (socket: TLSSocket, leaf: IssuedLeaf): boolean {
  return socket.getPeerX509Certificate()?.raw.equals(parseCertificate(leaf.leafPem).der) === true
}

describe('credentials rotation on a mesh server', () => {
  let oldCA: TestCA
  let newCA: TestCA
  let v1: { leaf: IssuedLeaf, identity: Identity }
  let v2: { leaf: IssuedLeaf, identity: Identity }
  let bothRoots: TrustBundle
  /** A client whose leaf comes from the old CA and who trusts only the old root. */
  let oldClient: ConnectionOptions
  let source: SwappableSource
  let server: tls.Server
  let guard: TlsGuard
  let port: number
  const sockets: TLSSocket[] = []

  before(async () => {
    oldCA = await TestCA.create()
    newCA = await TestCA.create({ trustDomain: oldCA.trustDomain })
    // As Consul rotates: the new root is cross-signed by the old one and shipped in new leaf chains.
    const cross = await oldCA.crossSign(newCA)
    v1 = await issue(oldCA, { service: 'db' })
    const leaf = await newCA.issueLeaf({ service: 'db', chain: [cross] })
    v2 = { leaf, identity: Identity.fromPem(leaf) }
    bothRoots = TrustBundle.fromPem(oldCA.trustDomain, [oldCA.rootPem, newCA.rootPem])
    oldClient = clientOptions(await oldCA.issueLeaf({ service: 'web' }), oldCA)
  })

  beforeEach(async () => {
    source = new SwappableSource(v1.identity, bundleOf(oldCA))
    server = createTlsServer({ source, authorizer: allowAll() }, echoListener)
    guard = tlsGuardOf(server)!
    port = await listen(server)
  })

  afterEach(async () => {
    for (const socket of sockets.splice(0)) socket.destroy()
    await closeServer(server)
  })

  async function connect (options: ConnectionOptions): Promise<TLSSocket> {
    const socket = await tlsClient(port, options)
    sockets.push(socket)
    return socket
  }

  it('keeps an open connection working while new connections get the new leaf', async () => {
    const open = await connect(oldClient)
    assert.ok(presents(open, v1.leaf))
    assert.equal(await echo(open, 'before'), 'before')

    const context = once(guard, 'context')
    const next = source.set(v2.identity, bothRoots)
    const [change] = await context
    assert.deepEqual(change, { generation: next.generation, ready: true })
    assert.equal(guard.generation, next.generation)

    assert.equal(await echo(open, 'after the swap'), 'after the swap')

    // A client that still trusts only the old root verifies the new leaf through the cross-signed root.
    const fresh = await connect(oldClient)
    assert.ok(presents(fresh, v2.leaf))
    assert.equal(fresh.authorized, true)
    assert.equal(await echo(fresh, 'new'), 'new')

    // Both roots are trusted for clients: a client with a leaf from the new CA is accepted too.
    const accepted = once(guard, 'accepted')
    const newClient = await connect(clientOptions(await newCA.issueLeaf({ service: 'api' }), oldCA))
    assert.equal(await echo(newClient, 'api'), 'api')
    assert.equal((await accepted)[0].peer.id.uri, `spiffe://${oldCA.trustDomain}/ns/default/dc/dc1/svc/api`)
  })

  it('refuses new clients of a root once it leaves the bundle, and keeps open ones', async () => {
    const open = await connect(oldClient)
    assert.equal(await echo(open, 'x'), 'x')
    source.set(v2.identity, bundleOf(newCA))
    const refused = once(guard, 'refused')
    const late = tls.connect({ host: '127.0.0.1', port, checkServerIdentity: () => undefined, ...oldClient })
    late.on('error', () => {})
    sockets.push(late)
    assert.equal((await refused)[0].code, 'ERR_CONNECT_CERT_UNKNOWN_ISSUER')
    assert.equal(await echo(open, 'still open'), 'still open')
  })

  it('stops following the source when the server closes, and follows it again on listen', async () => {
    assert.equal(source.listenerCount, 1)
    await closeServer(server)
    assert.equal(source.listenerCount, 0)
    // A change while closed is picked up on the next listen.
    source.set(v2.identity, bothRoots)
    port = await listen(server)
    assert.equal(source.listenerCount, 1)
    assert.ok(presents(await connect(oldClient), v2.leaf))
  })

  it('fails closed when a snapshot loses its leaf or roots: handshakes are refused as not ready', async () => {
    source.set(undefined, undefined)
    const refused = once(guard, 'refused')
    await assert.rejects(connect(oldClient), /handshake failure/)
    assert.equal((await refused)[0].code, 'ERR_CONNECT_NOT_READY')
  })
})
