import assert from 'node:assert/strict'
import { once } from 'node:events'
import tls from 'node:tls'
import type { ConnectionOptions, TLSSocket } from 'node:tls'
import { allowAll, denyAll } from '../../lib/authz/authorizer.js'
import type { Authorizer } from '../../lib/authz/authorizer.js'
import { TestCA } from '../../lib/testing/test-ca.js'
import type { TlsGuard } from '../../lib/tls/guard.js'
import { createTlsServer, tlsGuardOf } from '../../lib/tls/server.js'
import { SwappableSource, bundleOf, closeServer, closed, echo, echoListener, issue, listen } from './support.js'

// Resumed sessions carry the verification made when they were established (OpenSSL does not re-check the
// chain), so the server must decide them again, and must not resume one from another credentials generation.
for (const version of ['TLSv1.3', 'TLSv1.2'] as const) {
  describe(`TLS session resumption on a mesh server (${version})`, () => {
    let ca: TestCA
    let newCA: TestCA
    let client: ConnectionOptions
    let source: SwappableSource
    let server: tls.Server
    let guard: TlsGuard
    let port: number
    let calls: number
    let deny: boolean
    const sockets: TLSSocket[] = []

    const authorizer: Authorizer = (peer) => {
      calls++
      return deny ? denyAll('denied: intention changed')(peer) : allowAll()(peer)
    }

    before(async () => {
      ca = await TestCA.create()
      newCA = await TestCA.create({ trustDomain: ca.trustDomain })
      const leaf = await ca.issueLeaf({ service: 'web' })
      // The client trusts both roots, so only the server's decision is under test.
      client = { cert: leaf.certPem, key: leaf.keyPem, ca: [ca.rootPem, newCA.rootPem], maxVersion: version }
    })

    beforeEach(async () => {
      calls = 0
      deny = false
      source = new SwappableSource((await issue(ca, { service: 'db' })).identity, bundleOf(ca))
      server = createTlsServer({ source, authorizer }, echoListener)
      guard = tlsGuardOf(server)!
      port = await listen(server)
    })

    afterEach(async () => {
      for (const socket of sockets.splice(0)) socket.destroy()
      await closeServer(server)
    })

    /** Connects (offering `session`), waits for the server's decision, and returns the outcome. */
    async function connect (session?: Buffer): Promise<{ socket: TLSSocket, resumed: boolean, decision: 'accepted' | 'refused', code?: string, next: Promise<Buffer> }> {
      const decided = Promise.race([
        once(guard, 'accepted').then(([event]) => ({ decision: 'accepted' as const, serverResumed: event.resumed, code: undefined })),
        once(guard, 'refused').then(([event]) => ({ decision: 'refused' as const, serverResumed: event.resumed, code: event.code }))
      ])
      const socket = tls.connect({ host: '127.0.0.1', port, checkServerIdentity: () => undefined, ...client, ...(session === undefined ? {} : { session }) })
      socket.on('error', () => {})
      sockets.push(socket)
      const next = once(socket, 'session').then(([ticket]) => ticket as Buffer)
      // TLS 1.2: the server decides before its Finished reaches the client, so a refused client may never connect.
      const connected = await once(socket, 'secureConnect').then(() => true, () => false)
      const resumed = connected && socket.isSessionReused()
      const { decision, serverResumed, code } = await decided
      assert.equal(serverResumed, resumed, 'client and server agree on resumption')
      return { socket, resumed, decision, ...(code === undefined ? {} : { code }), next }
    }

    /** A session ticket from an accepted connection (TLS 1.3 sends it after the handshake). */
    async function establish (): Promise<Buffer> {
      const first = await connect()
      assert.equal(first.decision, 'accepted')
      assert.equal(await echo(first.socket, 'hi'), 'hi')
      return await first.next
    }

    it('resumes a session within one generation and still authorizes the resumed connection', async () => {
      const session = await establish()
      assert.equal(calls, 1)
      const second = await connect(session)
      assert.equal(second.resumed, true)
      assert.equal(second.decision, 'accepted')
      assert.equal(calls, 2, 'the authorizer decided the resumed connection too')
      assert.equal(await echo(second.socket, 'again'), 'again')
    })

    it('refuses a resumed session whose peer the authorizer now denies', async () => {
      const session = await establish()
      deny = true
      const second = await connect(session)
      assert.equal(second.resumed, true)
      assert.equal(second.decision, 'refused')
      assert.equal(second.code, 'ERR_CONNECT_NOT_AUTHORIZED')
      await closed(second.socket)
    })

    it('does not resume a session from an earlier generation, even with the same leaf and roots', async () => {
      const session = await establish()
      const { identity, bundle } = source.credentials
      source.set(identity, bundle)
      const second = await connect(session)
      assert.equal(second.resumed, false, 'the context swap invalidated the session ticket')
      assert.equal(second.decision, 'accepted')
    })

    it('does not resume a session from before its root was removed: the full handshake refuses the peer', async () => {
      const session = await establish()
      // Rotation finished: the server has a leaf of the new CA and the old root is pruned.
      source.set((await issue(newCA, { service: 'db' })).identity, bundleOf(newCA))
      const second = await connect(session)
      assert.equal(second.resumed, false)
      assert.equal(second.decision, 'refused')
      assert.equal(second.code, 'ERR_CONNECT_CERT_UNKNOWN_ISSUER')
      assert.equal(guard.counters.accepted, 1)
    })
  })
}
