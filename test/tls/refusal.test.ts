import assert from 'node:assert/strict'
import diagnosticsChannel from 'node:diagnostics_channel'
import { once } from 'node:events'
import net from 'node:net'
import tls from 'node:tls'
import type { ConnectionOptions, TLSSocket } from 'node:tls'
import { allowAll, denyAll } from '../../lib/authz/authorizer.js'
import type { Authorizer } from '../../lib/authz/authorizer.js'
import type { ErrorCode } from '../../lib/errors.js'
import { TestCA } from '../../lib/testing/test-ca.js'
import type { IssueLeafOptions } from '../../lib/testing/test-ca.js'
import { clientTlsOptions } from '../../lib/tls/client.js'
import type { DecisionMessage } from '../../lib/tls/channels.js'
import type { TlsGuard } from '../../lib/tls/guard.js'
import { createTlsServer, tlsGuardOf } from '../../lib/tls/server.js'
import { SwappableSource, bundleOf, clientOptions, closeServer, closed, echo, issue, listen, tlsClient } from './support.js'

const HOUR = 3_600_000

// The authorizer under test: denies "evil", throws for "boom", allows the rest.
const authorizer: Authorizer = (peer) => {
  const service = peer.id.kind === 'service' ? peer.id.service : ''
  if (service === 'boom') throw new Error('boom')
  if (service === 'evil') return denyAll('denied: evil is not welcome')(peer)
  return allowAll()(peer)
}

interface BadPeer {
  name: string
  code: ErrorCode
  reason: RegExp
  /** The client's options; `ca` is the server's CA unless another is given. */
  options: (ca: TestCA, otherCA: TestCA) => Promise<ConnectionOptions>
}

const leafFrom = async (ca: TestCA, trustCA: TestCA, options: IssueLeafOptions): Promise<ConnectionOptions> =>
  clientOptions(await ca.issueLeaf(options), trustCA)

const BAD_PEERS: BadPeer[] = [
  { name: 'a TLS client without a certificate', code: 'ERR_CONNECT_PEER_VERIFICATION', reason: /no client certificate/, options: async (ca) => clientOptions(undefined, ca) },
  { name: 'a certificate from another CA', code: 'ERR_CONNECT_CERT_UNKNOWN_ISSUER', reason: /UNABLE_TO_VERIFY_LEAF_SIGNATURE/, options: (ca, other) => leafFrom(other, ca, { service: 'web' }) },
  {
    name: 'an expired certificate', code: 'ERR_CONNECT_CERT_EXPIRED', reason: /CERT_HAS_EXPIRED/,
    options: (ca) => leafFrom(ca, ca, { service: 'web', notBefore: new Date(Date.now() - 2 * HOUR), notAfter: new Date(Date.now() - HOUR) })
  },
  {
    name: 'a certificate not valid yet', code: 'ERR_CONNECT_CERT_NOT_YET_VALID', reason: /CERT_NOT_YET_VALID/,
    options: (ca) => leafFrom(ca, ca, { service: 'web', notBefore: new Date(Date.now() + HOUR), notAfter: new Date(Date.now() + 2 * HOUR) })
  },
  { name: 'a leaf without clientAuth usage', code: 'ERR_CONNECT_CERT_WRONG_USAGE', reason: /INVALID_PURPOSE/, options: (ca) => leafFrom(ca, ca, { service: 'web', extKeyUsage: ['serverAuth'] }) },
  { name: 'a leaf with zero URI SANs', code: 'ERR_CONNECT_CERT_SAN', reason: /has 0 URI SANs/, options: (ca) => leafFrom(ca, ca, { uris: [] }) },
  {
    name: 'a leaf with two URI SANs', code: 'ERR_CONNECT_CERT_SAN', reason: /has 2 URI SANs/,
    options: (ca) => leafFrom(ca, ca, { uris: [`spiffe://${ca.trustDomain}/ns/default/dc/dc1/svc/web`, `spiffe://${ca.trustDomain}/ns/default/dc/dc1/svc/db`] })
  },
  { name: 'a non-SPIFFE URI SAN', code: 'ERR_CONNECT_CERT_SAN', reason: /not a spiffe:\/\/ URI/, options: (ca) => leafFrom(ca, ca, { uris: ['https://web.example'] }) },
  {
    name: 'a client agent identity', code: 'ERR_CONNECT_PEER_VERIFICATION', reason: /agent identity, not a service/,
    options: (ca) => leafFrom(ca, ca, { spiffeId: `spiffe://${ca.trustDomain}/agent/client/dc/dc1/id/node1` })
  },
  {
    name: 'a Consul server identity', code: 'ERR_CONNECT_PEER_VERIFICATION', reason: /server identity, not a service/,
    options: (ca) => leafFrom(ca, ca, { spiffeId: `spiffe://${ca.trustDomain}/agent/server/dc/dc1` })
  },
  {
    name: 'a SPIFFE ID Consul does not issue', code: 'ERR_CONNECT_SPIFFE_ID_UNSUPPORTED', reason: /unsupported SPIFFE ID/,
    options: (ca) => leafFrom(ca, ca, { spiffeId: `spiffe://${ca.trustDomain}/workload/web` })
  },
  { name: 'a service the authorizer denies', code: 'ERR_CONNECT_NOT_AUTHORIZED', reason: /^denied: evil is not welcome$/, options: (ca) => leafFrom(ca, ca, { service: 'evil' }) },
  { name: 'a service whose authorization throws', code: 'ERR_CONNECT_NOT_AUTHORIZED', reason: /authorizer threw: boom/, options: (ca) => leafFrom(ca, ca, { service: 'boom' }) }
]

describe('a mesh server refusing bad peers', () => {
  let ca: TestCA
  let otherCA: TestCA
  let server: tls.Server
  let guard: TlsGuard
  let port: number
  let meshClient: ConnectionOptions
  let good: TLSSocket
  /** Bytes the application read, per connection, in order of acceptance. */
  const served: string[] = []

  before(async () => {
    ca = await TestCA.create()
    otherCA = await TestCA.create()
    const source = new SwappableSource((await issue(ca, { service: 'db' })).identity, bundleOf(ca))
    server = createTlsServer({ source, authorizer }, (socket) => {
      const index = served.push('') - 1
      socket.on('error', () => {})
      socket.on('data', (chunk: Buffer) => {
        served[index] += chunk.toString()
        socket.write(chunk)
      })
    })
    guard = tlsGuardOf(server)!
    port = await listen(server)
    const client = new SwappableSource((await issue(ca, { service: 'web' })).identity, bundleOf(ca))
    meshClient = clientTlsOptions(client.credentials, { service: 'db' })
    // A good peer stays connected through every case below.
    good = await tlsClient(port, meshClient)
    assert.equal(await echo(good, 'hello'), 'hello')
  })

  after(async () => {
    good.destroy()
    await closeServer(server)
  })

  for (const bad of BAD_PEERS) {
    it(`refuses ${bad.name} with ${bad.code}, before reading a byte, while a good peer is served`, async () => {
      const before = guard.counters.refusedWith(bad.code)
      const servedBefore = served.length
      const refused = once(guard, 'refused')
      const socket = tls.connect({ host: '127.0.0.1', port, checkServerIdentity: () => undefined, ...await bad.options(ca, otherCA) })
      // TLS 1.3: the client's handshake completes before the server decides; it speaks at once.
      socket.once('secureConnect', () => socket.write('secret'))
      const [event] = await refused
      assert.equal(event.code, bad.code)
      assert.match(event.reason, bad.reason)
      assert.equal(event.remoteAddress, '127.0.0.1')
      await closed(socket)
      assert.equal(served.length, servedBefore, 'the application never saw the refused connection')
      assert.equal(guard.counters.refusedWith(bad.code), before + 1)
      // The good peer keeps being served, and new good peers are accepted.
      assert.equal(await echo(good, bad.name), bad.name)
      const fresh = await tlsClient(port, meshClient)
      assert.equal(await echo(fresh, 'fresh'), 'fresh')
      fresh.destroy()
    })
  }

  it('counts plain, non-TLS bytes as a TLS error while a good peer is served', async () => {
    const tlsError = once(guard, 'tlsError')
    const plain = net.connect(port, '127.0.0.1', () => plain.write('GET / HTTP/1.1\r\nHost: db\r\n\r\n'))
    const [info] = await tlsError
    assert.equal(info.reason, 'not-tls')
    assert.equal(info.code, 'ERR_SSL_HTTP_REQUEST')
    await closed(plain)
    assert.equal(guard.counters.tlsErrorsFor('not-tls'), 1)
    assert.equal(await echo(good, 'still here'), 'still here')
  })

  it('reports every decision through onDecision and the events, with the peer when there is one', async () => {
    const decisions: unknown[] = []
    const source = new SwappableSource((await issue(ca, { service: 'db' })).identity, bundleOf(ca))
    const observed = createTlsServer({ source, authorizer, onDecision: (decision) => decisions.push(decision) }, (socket) => socket.end())
    const observedPort = await listen(observed)
    try {
      const accepted = once(tlsGuardOf(observed)!, 'accepted')
      await closed(await tlsClient(observedPort, meshClient))
      const refused = once(tlsGuardOf(observed)!, 'refused')
      await closed(await tlsClient(observedPort, await leafFrom(ca, ca, { service: 'evil' })))
      const [[acceptedEvent], [refusedEvent]] = await Promise.all([accepted, refused])
      assert.deepEqual(decisions, [acceptedEvent, refusedEvent])
      assert.equal(acceptedEvent.peer.id.uri, `spiffe://${ca.trustDomain}/ns/default/dc/dc1/svc/web`)
      assert.equal(acceptedEvent.resumed, false)
      assert.equal(refusedEvent.peer?.id.kind === 'service' && refusedEvent.peer.id.service, 'evil')
      assert.equal(refusedEvent.decision?.allowed, false)
    } finally {
      await closeServer(observed)
    }
  })

  it('publishes decisions on the diagnostics channel and survives an onDecision that throws', async () => {
    const source = new SwappableSource((await issue(ca, { service: 'db' })).identity, bundleOf(ca))
    const throwing = createTlsServer({ source, authorizer, onDecision: () => { throw new Error('observer bug') } }, (socket) => socket.end())
    const throwingPort = await listen(throwing)
    const messages: DecisionMessage[] = []
    const subscriber = (message: unknown): void => { messages.push(message as DecisionMessage) }
    diagnosticsChannel.subscribe('consul-connect-native:tls:decision', subscriber)
    try {
      const refused = once(tlsGuardOf(throwing)!, 'refused')
      await closed(await tlsClient(throwingPort, await leafFrom(ca, ca, { service: 'evil' })))
      await refused
      const accepted = once(tlsGuardOf(throwing)!, 'accepted')
      await closed(await tlsClient(throwingPort, meshClient))
      await accepted
      assert.deepEqual(messages.map((m) => [m.server === throwing, m.decision.allowed]), [[true, false], [true, true]])
    } finally {
      diagnosticsChannel.unsubscribe('consul-connect-native:tls:decision', subscriber)
      await closeServer(throwing)
    }
  })
})
