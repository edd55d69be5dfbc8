import assert from 'node:assert/strict'
import type { TLSSocket } from 'node:tls'
import { CertificateError, ConnectError, InvalidOptionError } from '../../lib/errors.js'
import { StaticCredentialsSource } from '../../lib/identity/static-source.js'
import { dialService, expectedOf } from '../../lib/net/dial.js'
import type { Instance, Resolver } from '../../lib/net/resolver.js'
import { staticResolver } from '../../lib/net/static-resolver.js'
import { closedPort, credentialsFor, silentServer, startMeshServer, TestCA } from './support/mesh.js'
import type { MeshServer } from './support/mesh.js'

/** A resolver answering `instances` in this exact order (no shuffle), counting calls. */
function ordered (instances: Array<Partial<Instance> & { port: number }>): Resolver & { calls: number } {
  const resolver = {
    calls: 0,
    async resolve () {
      resolver.calls++
      return instances.map((i) => ({ host: '127.0.0.1', service: 'db', ...i }))
    }
  }
  return resolver
}

function code (expected: string) {
  return (err: unknown): boolean => {
    assert.ok(err instanceof ConnectError, `expected a ConnectError, got ${String(err)}`)
    assert.equal(err.code, expected, err.message)
    return true
  }
}

describe('dialService', () => {
  let ca: TestCA
  let source: StaticCredentialsSource
  let db: MeshServer
  let other: MeshServer
  const sockets: TLSSocket[] = []

  before(async () => {
    ca = await TestCA.create()
    source = await credentialsFor(ca, 'web')
    db = await startMeshServer(ca, 'db')
    other = await startMeshServer(ca, 'other')
  })
  afterEach(() => {
    for (const socket of sockets.splice(0)) socket.destroy()
  })
  after(async () => {
    await db.close()
    await other.close()
    await source.close()
  })

  it('connects to a resolved instance and verifies it is the service', async () => {
    const socket = await dialService('db', { resolver: staticResolver({ db: [`127.0.0.1:${db.port}`] }), source })
    sockets.push(socket)
    assert.equal(socket.remotePort, db.port)
    assert.equal(socket.authorized, true)
    assert.match(socket.getPeerX509Certificate()?.subjectAltName ?? '', /\/svc\/db$/)
  })

  it('skips an instance that refuses and connects to the next', async () => {
    const before = db.clientSerials.length
    const resolver = ordered([{ port: await closedPort() }, { port: db.port }])
    const socket = await dialService({ service: 'db' }, { resolver, source })
    sockets.push(socket)
    assert.equal(socket.remotePort, db.port)
    await db.secureConnections(before + 1)
    assert.equal(db.clientSerials.length, before + 1)
  })

  it('skips an instance whose handshake does not finish within attemptTimeoutMs', async () => {
    const silent = await silentServer()
    try {
      const resolver = ordered([{ port: silent.port }, { port: db.port }])
      const socket = await dialService('db', { resolver, source, attemptTimeoutMs: 500 })
      sockets.push(socket)
      assert.equal(socket.remotePort, db.port)
    } finally {
      await silent.close()
    }
  })

  it('rejects with ERR_CONNECT_NO_INSTANCES listing every attempt when all refuse', async () => {
    const [a, b] = [await closedPort(), await closedPort()]
    await assert.rejects(dialService('db', { resolver: ordered([{ port: a }, { port: b }]), source }), (err: unknown) => {
      code('ERR_CONNECT_NO_INSTANCES')(err)
      const message = (err as Error).message
      assert.match(message, /^dialing "db": all 2 instances tried failed/)
      assert.ok(message.includes(`127.0.0.1:${a}`) && message.includes(`127.0.0.1:${b}`), message)
      assert.ok((err as Error).cause !== undefined)
      return true
    })
  })

  it('prefers ERR_CONNECT_PEER_VERIFICATION when an instance presents another identity', async () => {
    const resolver = ordered([{ port: await closedPort() }, { port: other.port }, { port: await closedPort() }])
    await assert.rejects(dialService('db', { resolver, source }), (err: unknown) => {
      code('ERR_CONNECT_PEER_VERIFICATION')(err)
      assert.ok((err as Error).cause instanceof ConnectError)
      assert.equal(((err as Error).cause as ConnectError).code, 'ERR_CONNECT_PEER_VERIFICATION')
      return true
    })
  })

  it('still reaches a good instance after one with the wrong identity', async () => {
    const socket = await dialService('db', { resolver: ordered([{ port: other.port }, { port: db.port }]), source })
    sockets.push(socket)
    assert.equal(socket.remotePort, db.port)
  })

  it('reports a server chain our roots do not trust with its certificate code', async () => {
    const foreign = await TestCA.create()
    // The impostor accepts our client certificate, so the failure is ours: its chain is not from our roots.
    const impostor = await startMeshServer(foreign, 'db', undefined, { trust: [foreign.rootPem, ca.rootPem] })
    try {
      await assert.rejects(dialService('db', { resolver: ordered([{ port: impostor.port }]), source }), (err: unknown) => {
        assert.ok(err instanceof CertificateError, String(err))
        assert.match(err.code, /^ERR_CONNECT_CERT_/)
        return true
      })
    } finally {
      await impostor.close()
    }
  })

  it('stops at once when our own credentials are not ready', async () => {
    const empty = new StaticCredentialsSource()
    const resolver = ordered([{ port: db.port }, { port: db.port }])
    const before = db.tcpConnections
    try {
      await assert.rejects(dialService('db', { resolver, source: empty }), code('ERR_CONNECT_NOT_READY'))
      assert.equal(db.tcpConnections, before, 'no instance was contacted')
    } finally {
      await empty.close()
    }
  })

  it('passes the resolver error through', async () => {
    await assert.rejects(dialService('db', { resolver: staticResolver({ web: ['127.0.0.1:1'] }), source }), code('ERR_CONNECT_NO_INSTANCES'))
  })

  it('rejects with ERR_CONNECT_ABORTED when the signal aborts', async () => {
    await assert.rejects(dialService('db', { resolver: ordered([{ port: db.port }]), source, signal: AbortSignal.abort() }), code('ERR_CONNECT_ABORTED'))
    const silent = await silentServer()
    try {
      const controller = new AbortController()
      const dialing = dialService('db', { resolver: ordered([{ port: silent.port }]), source, signal: controller.signal })
      controller.abort(new Error('user gave up'))
      await assert.rejects(dialing, code('ERR_CONNECT_ABORTED'))
    } finally {
      await silent.close()
    }
  })

  it('gives up after timeoutMs with ERR_CONNECT_TIMEOUT', async () => {
    const silent = await silentServer()
    try {
      // The per-attempt and the overall deadline race (both ~150 ms here), so only the code is pinned.
      await assert.rejects(dialService('db', { resolver: ordered([{ port: silent.port }]), source, timeoutMs: 150 }), code('ERR_CONNECT_TIMEOUT'))
    } finally {
      await silent.close()
    }
  })

  it('tries at most maxAttempts instances', async () => {
    const ports = [await closedPort(), await closedPort(), await closedPort()]
    await assert.rejects(dialService('db', { resolver: ordered(ports.map((port) => ({ port }))), source, maxAttempts: 2 }), (err: unknown) =>
      /all 2 instances tried failed/.test((err as Error).message) && !(err as Error).message.includes(String(ports[2])))
  })

  it('validates its options', async () => {
    const resolver = ordered([{ port: db.port }])
    await assert.rejects(dialService('db', { resolver, source, timeoutMs: 0 }), (err: unknown) => err instanceof InvalidOptionError && err.field === 'timeoutMs')
    await assert.rejects(dialService('db', { resolver: {} as Resolver, source }), (err: unknown) => err instanceof InvalidOptionError && err.field === 'resolver')
    await assert.rejects(dialService({} as never, { resolver, source }), (err: unknown) => err instanceof InvalidOptionError && err.field === 'target')
  })
})

describe('expectedOf', () => {
  it('pins only the identity fields the resolver knows', () => {
    assert.deepEqual(expectedOf({ host: 'h', port: 1, service: 'db' }), { service: 'db' })
    assert.deepEqual(expectedOf({ host: 'h', port: 1, service: 'db', namespace: 'ns', partition: 'ap', datacenter: 'dc2', node: 'n' }),
      { service: 'db', namespace: 'ns', partition: 'ap', datacenter: 'dc2' })
  })
})
