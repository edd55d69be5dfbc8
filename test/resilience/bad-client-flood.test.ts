/**
 * Resilience (project issue 6): a flood of bad clients in parallel (plain bytes, TLS without a client
 * certificate, a certificate from another CA, an expired one, 0 and 2 URI SANs, slowloris handshakes) while a good
 * client keeps making requests. Every bad client is refused and counted by kind; slow clients hold a socket no
 * longer than the handshake timeout; every good request succeeds.
 */
import assert from 'node:assert/strict'
import { once, setMaxListeners } from 'node:events'
import net from 'node:net'
import tls from 'node:tls'
import type { Server } from 'node:https'
import { allowAll } from '../../lib/authz/authorizer.js'
import type { ErrorCode } from '../../lib/errors.js'
import { ConnectService } from '../../lib/service.js'
import { TestAgent } from '../../lib/testing/test-agent.js'
import { TestCA } from '../../lib/testing/test-ca.js'
import type { IssuedLeaf } from '../../lib/testing/test-ca.js'
import type { TlsErrorReason } from '../../lib/tls/handshake-error.js'
import { tlsGuardOf } from '../../lib/tls/server.js'
import { RejectionTracker, Traffic, portOf, seconds, staticClient } from './support.js'

const EACH = 20
const HANDSHAKE_TIMEOUT_MS = 300
/** Slack for a loaded event loop (the flood runs in this process too). */
const MARGIN_MS = 1_000
const HOUR = 3_600_000

/** The first bytes of a TLS ClientHello: a handshake record announcing 512 bytes, of which only these few come. */
const PARTIAL_CLIENT_HELLO = Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03, 0x5a, 0x5a])

interface TlsKind { readonly name: string, readonly code: ErrorCode, readonly leaf: (ca: TestCA, other: TestCA) => Promise<IssuedLeaf | undefined> }

const TLS_KINDS: readonly TlsKind[] = [
  { name: 'TLS without a client certificate', code: 'ERR_CONNECT_PEER_VERIFICATION', leaf: async () => undefined },
  { name: 'a certificate from another CA', code: 'ERR_CONNECT_CERT_UNKNOWN_ISSUER', leaf: async (_ca, other) => await other.issueLeaf({ service: 'web' }) },
  { name: 'an expired certificate', code: 'ERR_CONNECT_CERT_EXPIRED', leaf: async (ca) => await ca.issueLeaf({ service: 'web', notBefore: new Date(Date.now() - 2 * HOUR), notAfter: new Date(Date.now() - HOUR) }) },
  { name: 'a certificate with 0 URI SANs', code: 'ERR_CONNECT_CERT_SAN', leaf: async (ca) => await ca.issueLeaf({ uris: [] }) },
  {
    name: 'a certificate with 2 URI SANs', code: 'ERR_CONNECT_CERT_SAN',
    leaf: async (ca) => await ca.issueLeaf({ uris: [`spiffe://${ca.trustDomain}/ns/default/dc/dc1/svc/web`, `spiffe://${ca.trustDomain}/ns/default/dc/dc1/svc/api`] })
  }
]

describe('resilience: a flood of bad clients', function () {
  this.timeout(30_000)
  let agent: TestAgent
  const cleanups: Array<() => unknown> = []
  const tracker = new RejectionTracker()

  beforeEach(async () => {
    tracker.install()
    agent = await TestAgent.start()
  })
  afterEach(async () => {
    for (const fn of cleanups.splice(0).reverse()) await fn()
    await agent.close()
    tracker.dispose()
    assert.deepEqual(tracker.rejections, [], 'no unhandled rejection')
  })

  it(`refuses ${EACH} of each kind in parallel, closes slow handshakes within the timeout, and serves every good request`, async () => {
    const signal = AbortSignal.timeout(25_000)
    setMaxListeners(1_000, signal)
    const db = new ConnectService({ service: 'db', agent: { address: agent.address, env: false }, authorizer: allowAll(), handshakeTimeoutMs: HANDSHAKE_TIMEOUT_MS })
    cleanups.push(() => db.close())
    await db.ready({ signal })
    const server: Server = db.createServer((_req, res) => res.end('ok'))
    server.listen(0, '127.0.0.1')
    await once(server, 'listening')
    cleanups.push(() => new Promise((resolve) => { server.closeAllConnections(); server.close(resolve) }))
    const port = portOf(server)
    const guard = tlsGuardOf(server)!
    const web = await staticClient(agent.ca, [`127.0.0.1:${port}`])
    cleanups.push(() => web.close())
    await web.ready({ signal })

    // Good clients: requests on a kept-alive connection, and fresh mTLS handshakes, all through the flood.
    const requests = new Traffic(async () => {
      const res = await web.fetch('https://db.service.consul/', { signal: AbortSignal.timeout(10_000) })
      const text = await res.text()
      if (res.status !== 200 || text !== 'ok') throw new Error(`unexpected answer ${res.status} ${text}`)
    })
    const handshakes = new Traffic(async () => {
      const socket = await web.dial('db', { signal: AbortSignal.timeout(10_000), alpn: ['http/1.1'] })
      let answer = ''
      socket.setEncoding('utf8')
      socket.on('data', (chunk: string) => { answer += chunk })
      socket.on('error', () => {})
      socket.end('GET / HTTP/1.1\r\nHost: db\r\nConnection: close\r\n\r\n')
      await once(socket, 'close', { signal: AbortSignal.timeout(10_000) })
      if (!/^HTTP\/1\.1 200 .*\r\n\r\nok$/s.test(answer)) throw new Error(`unexpected answer ${JSON.stringify(answer)}`)
    })
    await Promise.all([requests.waitServed(2, signal), handshakes.waitServed(2, signal)])
    const goodBefore = { requests: requests.served, handshakes: handshakes.served }

    const other = await TestCA.create({ trustDomain: agent.trustDomain })
    const leaves = await Promise.all(TLS_KINDS.map(async (kind) => await kind.leaf(agent.ca, other)))

    const closed = async (socket: net.Socket): Promise<void> => {
      socket.on('error', () => {})
      socket.resume()
      if (!socket.closed) await once(socket, 'close', { signal })
    }
    const badTls = (leaf: IssuedLeaf | undefined): Promise<void> => closed(tls.connect({
      host: '127.0.0.1', port, ca: [agent.ca.rootPem], rejectUnauthorized: false, checkServerIdentity: () => undefined, ALPNProtocols: ['http/1.1'],
      ...(leaf === undefined ? {} : { cert: leaf.certPem, key: leaf.keyPem })
    }))
    const plain = async (): Promise<void> => {
      const socket = net.connect(port, '127.0.0.1', () => socket.write('GET / HTTP/1.1\r\nHost: db\r\n\r\n'))
      await closed(socket)
    }
    // When the server's event loop took each connection (the handshake timeout runs from there), by client port.
    const acceptedAt = new Map<number, number>()
    server.on('connection', (socket: net.Socket) => { acceptedAt.set(socket.remotePort!, performance.now()) })
    /** A slow client: how long the server let it hold the socket, from the server's accept and from the client's connect, ms. */
    const slow = async (bytes: Buffer | undefined): Promise<{ server: number, client: number }> => {
      const socket = net.connect(port, '127.0.0.1')
      socket.on('error', () => {})
      await once(socket, 'connect', { signal })
      const connectedAt = performance.now()
      const localPort = socket.localPort!
      if (bytes !== undefined) socket.write(bytes)
      await closed(socket)
      const now = performance.now()
      return { server: now - (acceptedAt.get(localPort) ?? connectedAt), client: now - connectedAt }
    }

    const refusedBefore = Object.fromEntries(TLS_KINDS.map((k) => [k.code, guard.counters.refusedWith(k.code)]))
    const reasons: TlsErrorReason[] = ['not-tls', 'handshake-timeout']
    const tlsErrorsBefore = Object.fromEntries(reasons.map((r) => [r, guard.counters.tlsErrorsFor(r)]))
    const started = performance.now()
    const work: Array<Promise<unknown>> = []
    const silentHolds: Array<Promise<{ server: number, client: number }>> = []
    const partialHolds: Array<Promise<{ server: number, client: number }>> = []
    for (let i = 0; i < EACH; i++) {
      for (const leaf of leaves) work.push(badTls(leaf))
      work.push(plain())
      silentHolds.push(slow(undefined))
      partialHolds.push(slow(PARTIAL_CLIENT_HELLO))
    }
    await Promise.all(work)
    const silent = await Promise.all(silentHolds)
    const partial = await Promise.all(partialHolds)
    const floodMs = performance.now() - started
    // One more round of good work after the flood, to show nothing was left broken.
    await Promise.all([requests.waitServed(2, signal), handshakes.waitServed(2, signal)])
    await Promise.all([requests.stop(), handshakes.stop()])

    const refused = new Map<string, number>()
    for (const kind of TLS_KINDS) refused.set(kind.code, guard.counters.refusedWith(kind.code) - refusedBefore[kind.code]!)
    const tlsErrors = Object.fromEntries(reasons.map((r) => [r, guard.counters.tlsErrorsFor(r) - tlsErrorsBefore[r]!]))
    const perCode = (code: ErrorCode): number => TLS_KINDS.filter((k) => k.code === code).length * EACH
    for (const [code, count] of refused) assert.equal(count, perCode(code as ErrorCode), `refused with ${code}`)
    assert.equal(tlsErrors['not-tls'], EACH, 'plain-bytes clients counted as not-tls')
    // Every slow client times out; under a loaded loop a good handshake may occasionally also pass 300 ms.
    assert.ok(tlsErrors['handshake-timeout']! >= 2 * EACH && tlsErrors['handshake-timeout']! <= 2 * EACH + 5, `handshake timeouts: ${tlsErrors['handshake-timeout']}`)
    const holds = [...silent, ...partial]
    const longest = Math.max(...holds.map((h) => h.server))
    const shortest = Math.min(...holds.map((h) => h.server))
    const longestClient = Math.max(...holds.map((h) => h.client))
    assert.equal(acceptedAt.size >= holds.length, true)
    // Measured from the server's accept: the flood's handshakes (all in this process) delay accepting, not the timeout.
    assert.ok(longest <= HANDSHAKE_TIMEOUT_MS + MARGIN_MS, `a slow client held its socket ${longest.toFixed(0)} ms after the server took it`)
    // And an absolute bound from the client's side: the whole flood cannot stretch a hold beyond the flood itself.
    assert.ok(longestClient <= floodMs + 1, `a slow client held its socket ${longestClient.toFixed(0)} ms`)
    assert.ok(shortest >= HANDSHAKE_TIMEOUT_MS * 0.9, `a slow client was closed after ${shortest.toFixed(0)} ms, before the timeout`)
    assert.equal(requests.failed, 0, `good requests failed: ${requests.failures.join('; ')}`)
    // Fresh good handshakes share this process's event loop with the flood: one may exceed the 300 ms handshake
    // timeout and be cut (it is then one of the handshake-timeout count). Requests on open connections never fail.
    assert.ok(handshakes.failed <= 2, `good handshakes failed: ${handshakes.failures.join('; ')}`)
    const accepted = db.counters.accepted

    console.log(`resilience: bad-client flood ${seconds(floodMs)} s, ${EACH} of each kind: refused ${[...refused].map(([c, n]) => `${c}=${n}`).join(', ')}; ` +
      `tlsErrors not-tls=${tlsErrors['not-tls']}, handshake-timeout=${tlsErrors['handshake-timeout']}; slow sockets closed ${shortest.toFixed(0)}–${longest.toFixed(0)} ms after the server took them ` +
      `(timeout ${HANDSHAKE_TIMEOUT_MS} ms; ≤ ${longestClient.toFixed(0)} ms from the client's connect); good: ${requests.served - goodBefore.requests} requests and ${handshakes.served - goodBefore.handshakes} handshakes during the flood, ` +
      `${requests.served + handshakes.served} served, ${requests.failed} requests failed, ${handshakes.failed} fresh handshakes cut; accepted ${accepted}`)
  })
})
