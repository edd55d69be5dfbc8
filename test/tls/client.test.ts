import assert from 'node:assert/strict'
import { once } from 'node:events'
import net from 'node:net'
import tls from 'node:tls'
import type { TLSSocket } from 'node:tls'
import { allowAll } from '../../lib/authz/authorizer.js'
import { CertificateError, ConnectError, InvalidOptionError } from '../../lib/errors.js'
import { TestCA } from '../../lib/testing/test-ca.js'
import { clientTlsOptions, connectTls } from '../../lib/tls/client.js'
import { createTlsServer, tlsGuardOf } from '../../lib/tls/server.js'
import type { TlsGuard } from '../../lib/tls/guard.js'
import { SwappableSource, bundleOf, closeServer, closed, echo, issue, listen } from './support.js'

const HOUR = 3_600_000

describe('connectTls', () => {
  let ca: TestCA
  let otherCA: TestCA
  let client: SwappableSource
  const servers: net.Server[] = []
  const sockets: net.Socket[] = []

  before(async () => {
    ca = await TestCA.create()
    otherCA = await TestCA.create()
    client = new SwappableSource((await issue(ca, { service: 'web' })).identity, bundleOf(ca))
  })

  afterEach(async () => {
    for (const socket of sockets.splice(0)) socket.destroy()
    await Promise.all(servers.splice(0).map(closeServer))
  })

  /** An echo mesh server presenting a leaf from `from` with `options`; returns its port and guard. */
  async function meshServer (options: Parameters<TestCA['issueLeaf']>[0] = { service: 'db' }, from: TestCA = ca, alpn?: string[]): Promise<{ port: number, guard: TlsGuard, sni: Array<string | false | null> }> {
    const { identity } = await issue(from, options)
    const sni: Array<string | false | null> = []
    const server = createTlsServer({ source: new SwappableSource(identity, bundleOf(ca)), authorizer: allowAll(), ...(alpn === undefined ? {} : { alpn }) }, (socket) => {
      sni.push(socket.servername)
      socket.on('data', (chunk) => socket.write(chunk))
    })
    servers.push(server)
    return { port: await listen(server), guard: tlsGuardOf(server)!, sni }
  }

  /** A TCP server that accepts and never speaks: a dial to it hangs in the handshake. */
  async function silentServer (): Promise<{ port: number, connections: net.Socket[] }> {
    const connections: net.Socket[] = []
    const server = net.createServer((socket) => { connections.push(socket) })
    servers.push(server)
    return { port: await listen(server), connections }
  }

  async function dial (port: number, expect: Parameters<typeof connectTls>[0]['expect'], extra: Partial<Parameters<typeof connectTls>[0]> = {}): Promise<TLSSocket> {
    const socket = await connectTls({ host: '127.0.0.1', port, source: client, expect, ...extra })
    sockets.push(socket)
    return socket
  }

  it('connects, verifies the expected service and presents our leaf', async () => {
    const { port, guard } = await meshServer()
    const accepted = once(guard, 'accepted')
    const socket = await dial(port, { service: 'db' })
    assert.equal(socket.authorized, true)
    assert.equal(await echo(socket, 'ping'), 'ping')
    const [event] = await accepted
    assert.equal(event.peer.id.kind === 'service' && event.peer.id.service, 'web')
  })

  it('sends no SNI by default, and the given servername when asked', async () => {
    const { port, sni } = await meshServer()
    await echo(await dial(port, { service: 'db' }), 'a')
    await echo(await dial(port, { service: 'db' }, { servername: 'db.service.consul' }), 'b')
    assert.deepEqual(sni, [false, 'db.service.consul'])
  })

  it('offers the given ALPN protocols', async () => {
    const { port } = await meshServer({ service: 'db' }, ca, ['x-mesh/1'])
    const socket = await dial(port, { service: 'db' }, { alpn: ['x-mesh/1'] })
    assert.equal(socket.alpnProtocol, 'x-mesh/1')
  })

  it('rejects a server presenting another service with ERR_CONNECT_PEER_VERIFICATION naming both', async () => {
    const { port } = await meshServer({ service: 'db' })
    await assert.rejects(dial(port, { service: 'web' }), (err: ConnectError) => {
      assert.equal(err.code, 'ERR_CONNECT_PEER_VERIFICATION')
      assert.match(err.message, /expected service "web" \(namespace "default", partition "default"\)/)
      assert.match(err.message, /presented spiffe:\/\/[^ ]+\/svc\/db/)
      return true
    })
  })

  it('compares namespace and partition, and the datacenter only when expected', async () => {
    const { port } = await meshServer({ service: 'db', namespace: 'team-a', datacenter: 'dc1' })
    await assert.rejects(dial(port, { service: 'db' }), { code: 'ERR_CONNECT_PEER_VERIFICATION' })
    await assert.rejects(dial(port, { service: 'db', namespace: 'team-a', partition: 'other' }), { code: 'ERR_CONNECT_PEER_VERIFICATION' })
    await assert.rejects(dial(port, { service: 'db', namespace: 'team-a', datacenter: 'dc2' }), /datacenter "dc2"/)
    await dial(port, { service: 'db', namespace: 'team-a' })
    await dial(port, { service: 'DB', namespace: 'team-a', datacenter: 'dc1' })
  })

  it('ignores the trust domain of the server ID (chain verification bounds it)', async () => {
    const { port } = await meshServer({ spiffeId: 'spiffe://11111111-2222-3333-4444-555555555555.consul/ns/default/dc/dc9/svc/db' })
    await dial(port, { service: 'db' })
  })

  it('accepts a predicate over the SPIFFE ID and refuses when it returns false or throws', async () => {
    const { port } = await meshServer({ service: 'db' })
    await dial(port, (id) => id.kind === 'service' && id.service.startsWith('d'))
    await assert.rejects(dial(port, () => false), { code: 'ERR_CONNECT_PEER_VERIFICATION' })
    await assert.rejects(dial(port, () => { throw new Error('nope') }), /the expect function threw: nope/)
  })

  it('refuses a server whose identity is not a service (a client agent)', async () => {
    const { port } = await meshServer({ spiffeId: `spiffe://${ca.trustDomain}/agent/client/dc/dc1/id/node1` })
    await assert.rejects(dial(port, { service: 'db' }), (err: ConnectError) => {
      assert.equal(err.code, 'ERR_CONNECT_PEER_VERIFICATION')
      assert.match(err.message, /agent identity, not a service/)
      return true
    })
  })

  it('refuses a server leaf without exactly one SPIFFE URI SAN', async () => {
    // Identity refuses such leaves, so these servers are plain tls.Servers with the PEMs.
    for (const uris of [[], [`spiffe://${ca.trustDomain}/ns/default/dc/dc1/svc/db`, `spiffe://${ca.trustDomain}/ns/default/dc/dc1/svc/web`]]) {
      const leaf = await ca.issueLeaf({ uris })
      const server = tls.createServer({ cert: leaf.certPem, key: leaf.keyPem })
      servers.push(server)
      await assert.rejects(dial(await listen(server), { service: 'db' }), (err: ConnectError) => {
        assert.equal(err.code, 'ERR_CONNECT_CERT_SAN')
        assert.match(err.message, new RegExp(`has ${uris.length} URI SANs`))
        return true
      })
    }
  })

  it('refuses a server whose chain does not lead to our roots with a CertificateError', async () => {
    const { port } = await meshServer({ service: 'db' }, otherCA)
    await assert.rejects(dial(port, { service: 'db' }), (err: Error) => {
      assert.ok(err instanceof CertificateError)
      assert.equal(err.code, 'ERR_CONNECT_CERT_UNKNOWN_ISSUER')
      assert.match(err.message, /connecting to 127\.0\.0\.1:\d+: .*UNABLE_TO_VERIFY_LEAF_SIGNATURE/)
      return true
    })
  })

  it('rejects with ERR_CONNECT_NOT_READY at once, without connecting, when credentials are missing', async () => {
    const { port, connections } = await silentServer()
    const empty = new SwappableSource()
    await assert.rejects(connectTls({ host: '127.0.0.1', port, source: empty, expect: { service: 'db' } }), (err: ConnectError) => {
      assert.equal(err.code, 'ERR_CONNECT_NOT_READY')
      assert.match(err.message, /no leaf certificate and no CA roots/)
      return true
    })
    const noRoots = new SwappableSource(client.credentials.identity, undefined)
    await assert.rejects(connectTls({ host: '127.0.0.1', port, source: noRoots, expect: { service: 'db' } }), /no CA roots yet/)
    assert.equal(connections.length, 0)
  })

  it('rejects with ERR_CONNECT_LEAF_EXPIRED when our own leaf has expired', async () => {
    const { identity } = await issue(ca, { service: 'web', notBefore: new Date(Date.now() - 2 * HOUR), notAfter: new Date(Date.now() - HOUR) })
    const expired = new SwappableSource(identity, bundleOf(ca))
    await assert.rejects(connectTls({ host: '127.0.0.1', port: 1, source: expired, expect: { service: 'db' } }), { code: 'ERR_CONNECT_LEAF_EXPIRED' })
  })

  it('rejects with ERR_CONNECT_ABORTED when the signal is already aborted', async () => {
    const { port, connections } = await silentServer()
    await assert.rejects(dial(port, { service: 'db' }, { signal: AbortSignal.abort() }), { code: 'ERR_CONNECT_ABORTED' })
    assert.equal(connections.length, 0)
  })

  it('rejects with ERR_CONNECT_ABORTED and closes the socket when aborted during the handshake', async () => {
    const { port, connections } = await silentServer()
    const controller = new AbortController()
    const server = servers[servers.length - 1]!
    server.once('connection', () => controller.abort(new Error('user gave up')))
    await assert.rejects(dial(port, { service: 'db' }, { signal: controller.signal }), (err: ConnectError) => {
      assert.equal(err.code, 'ERR_CONNECT_ABORTED')
      assert.equal((err.cause as Error).message, 'user gave up')
      return true
    })
    await closed(connections[0]!)
  })

  it('rejects with ERR_CONNECT_TIMEOUT when the handshake does not finish in time', async () => {
    const { port, connections } = await silentServer()
    await assert.rejects(dial(port, { service: 'db' }, { timeoutMs: 50 }), (err: ConnectError) => {
      assert.equal(err.code, 'ERR_CONNECT_TIMEOUT')
      assert.match(err.message, /no TLS connection within 50 ms/)
      return true
    })
    await closed(connections[0]!)
  })

  it('passes network errors through with their Node code', async () => {
    const { port } = await silentServer()
    await closeServer(servers.pop()!)
    await assert.rejects(dial(port, { service: 'db' }), { code: 'ECONNREFUSED' })
  })

  it('validates its options and names the field', async () => {
    const base = { host: '127.0.0.1', port: 1, source: client, expect: { service: 'db' } }
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ port: 0 }, 'port'],
      [{ host: '' }, 'host'],
      [{ source: {} }, 'source'],
      [{ expect: 'db' }, 'expect'],
      [{ expect: { service: '' } }, 'expect.service'],
      [{ expect: { service: 'db', dc: 'x' } }, 'expect.dc'],
      [{ expect: { service: 'a/b' } }, 'expect'],
      [{ alpn: [] }, 'alpn'],
      [{ alpn: ['h2', 'h2'] }, 'alpn'],
      [{ timeoutMs: -1 }, 'timeoutMs'],
      [{ signal: 'x' }, 'signal'],
      [{ sni: 'x' }, 'sni']
    ]
    for (const [patch, field] of cases) {
      await assert.rejects(connectTls({ ...base, ...patch } as never), (err: Error) => {
        assert.ok(err instanceof InvalidOptionError, `${JSON.stringify(patch)}: ${err.message}`)
        assert.equal(err.field, field)
        return true
      })
    }
  })
})

describe('clientTlsOptions', () => {
  let ca: TestCA
  let source: SwappableSource

  before(async () => {
    ca = await TestCA.create()
    source = new SwappableSource((await issue(ca, { service: 'web' })).identity, bundleOf(ca))
  })

  it('presents the leaf chain, trusts exactly the bundle roots and always verifies', () => {
    const options = clientTlsOptions(source.credentials, { service: 'db' }, { rejectUnauthorized: false, ca: 'x', servername: 'db', ALPNProtocols: ['h2'] })
    assert.equal(options.rejectUnauthorized, true)
    assert.deepEqual(options.ca, [ca.rootPem])
    assert.equal(options.cert, source.credentials.identity!.certPem)
    assert.equal(options.minVersion, 'TLSv1.2')
    assert.equal(options.servername, 'db')
    assert.deepEqual(options.ALPNProtocols, ['h2'])
    assert.equal(typeof options.checkServerIdentity, 'function')
    assert.ok(options.secureContext !== undefined)
    assert.equal(options.session, undefined)
  })

  it('shares one SecureContext per credentials snapshot and builds a new one for the next', () => {
    const first = clientTlsOptions(source.credentials, { service: 'db' }).secureContext
    assert.equal(clientTlsOptions(source.credentials, { service: 'other' }).secureContext, first)
    source.set(source.credentials.identity, source.credentials.bundle)
    assert.notEqual(clientTlsOptions(source.credentials, { service: 'db' }).secureContext, first)
  })

  it('throws ERR_CONNECT_NOT_READY for a snapshot without leaf or roots', () => {
    assert.throws(() => clientTlsOptions(new SwappableSource().credentials, { service: 'db' }), { code: 'ERR_CONNECT_NOT_READY' })
  })

  it('returns (never throws) an error from checkServerIdentity for a certificate without DER', () => {
    const check = clientTlsOptions(source.credentials, { service: 'db' }).checkServerIdentity!
    const result = check('x', {} as never)
    assert.ok(result instanceof ConnectError)
    assert.equal(result.code, 'ERR_CONNECT_PEER_VERIFICATION')
  })
})
