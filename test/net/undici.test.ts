import assert from 'node:assert/strict'
import { once } from 'node:events'
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Agent } from 'undici'
import { InvalidOptionError } from '../../lib/errors.js'
import type { StaticCredentialsSource } from '../../lib/identity/static-source.js'
import { staticResolver } from '../../lib/net/static-resolver.js'
import { meshDispatcher, meshFetch } from '../../lib/net/undici.js'
import { codesOf, credentialsFor, startMeshServer, TestCA } from './support/mesh.js'
import type { MeshServer } from './support/mesh.js'

describe('meshDispatcher', () => {
  let ca: TestCA
  let source: StaticCredentialsSource
  let db: MeshServer
  let other: MeshServer
  let dispatcher: Agent

  const handler = (req: IncomingMessage, res: ServerResponse): void => {
    res.setHeader('content-type', 'application/json')
    res.end(JSON.stringify({ path: req.url, method: req.method, connection: db.sockets.indexOf(req.socket as never) }))
  }

  beforeEach(async () => {
    ca = await TestCA.create()
    source = await credentialsFor(ca, 'web')
    db = await startMeshServer(ca, 'db', handler)
    other = await startMeshServer(ca, 'other')
    const resolver = staticResolver({
      db: [`127.0.0.1:${db.port}`],
      // "cache" is registered at an address where "db" answers: a wrong identity there.
      cache: [`127.0.0.1:${db.port}`],
      impostor: [`127.0.0.1:${other.port}`]
    })
    dispatcher = meshDispatcher({ source, resolver })
  })
  afterEach(async () => {
    await dispatcher.destroy()
    await db.close()
    await other.close()
    await source.close()
  })

  it('routes https://<service>.service.consul to the service over mTLS', async () => {
    const res = await meshFetch(dispatcher)('https://db.service.consul/x?y=1', { method: 'POST', body: 'hi' })
    assert.equal(res.status, 200)
    assert.deepEqual(await res.json(), { path: '/x?y=1', method: 'POST', connection: 0 })
    const leaf = source.credentials.identity!
    assert.deepEqual(db.clientSerials, [leaf.serial], 'the server saw our leaf')
  })

  it('keeps the connection alive across requests', async () => {
    // One connection per origin, so reuse is deterministic (a larger pool may open a second connection
    // when a request is dispatched in the instant before the previous one is marked complete).
    const single = meshDispatcher({ source, resolver: staticResolver({ db: [`127.0.0.1:${db.port}`] }), connections: 1 })
    try {
      for (let i = 0; i < 3; i++) {
        const res = await meshFetch(single)('https://db.service.consul/x')
        assert.equal((await res.json() as { connection: number }).connection, 0)
      }
      assert.equal(db.tcpConnections, 1, 'three requests, one connection')
    } finally {
      await single.destroy()
    }
  })

  it('presents a rotated leaf on the next new connection, leaving open ones alone', async () => {
    const single = meshDispatcher({ source, resolver: staticResolver({ db: [`127.0.0.1:${db.port}`] }), connections: 1 })
    const fetchDb = meshFetch(single)
    const connection = async (): Promise<number> => (await (await fetchDb('https://db.service.consul/x')).json() as { connection: number }).connection
    try {
      assert.equal(await connection(), 0)
      const first = source.credentials.identity!.serial
      const next = await ca.issueLeaf({ service: 'web' })
      source.update({ identity: { certPem: next.certPem, keyPem: next.keyPem } })

      assert.equal(await connection(), 0, 'the open connection keeps serving')
      assert.deepEqual(db.clientSerials, [first])

      const disconnected = once(single, 'disconnect')
      db.sockets[0]!.destroy()
      await disconnected
      assert.equal(await connection(), 1)
      assert.deepEqual(db.clientSerials, [first, next.serial], 'the new connection presents the new leaf')
    } finally {
      await single.destroy()
    }
  })

  it('fails with ERR_CONNECT_PEER_VERIFICATION when another service answers', async () => {
    await assert.rejects(meshFetch(dispatcher)('https://impostor.service.consul/x'), (err: unknown) => {
      assert.ok(err instanceof TypeError)
      assert.ok(codesOf(err).includes('ERR_CONNECT_PEER_VERIFICATION'), codesOf(err).join(','))
      return true
    })
  })

  it('never reuses a connection of one service for another', async () => {
    const fetchMesh = meshFetch(dispatcher)
    await (await fetchMesh('https://db.service.consul/x')).arrayBuffer()
    // Same address, kept-alive socket to "db" is idle: a pool shared across origins would reuse it.
    await assert.rejects(fetchMesh('https://cache.service.consul/x'), (err: unknown) =>
      codesOf(err).includes('ERR_CONNECT_PEER_VERIFICATION'))
    assert.equal(db.tcpConnections, 2, 'a second connection was made, and refused by the client')
  })

  it('refuses origins outside the mesh', async () => {
    const fetchMesh = meshFetch(dispatcher)
    for (const url of ['https://example.com/', 'http://db.service.consul/', 'https://db.service.consul:8443/']) {
      await assert.rejects(fetchMesh(url), (err: unknown) => {
        assert.ok(codesOf(err).includes('ERR_CONNECT_INVALID_OPTION'), `${url}: ${codesOf(err).join(',')}`)
        return true
      })
    }
    assert.equal(db.tcpConnections, 0)
  })

  it('fails with ERR_CONNECT_NO_INSTANCES for an unknown service', async () => {
    await assert.rejects(meshFetch(dispatcher)('https://nothing.service.consul/'), (err: unknown) =>
      codesOf(err).includes('ERR_CONNECT_NO_INSTANCES'))
  })

  it('validates its options eagerly', () => {
    const resolver = staticResolver({})
    assert.throws(() => meshDispatcher({ source, resolver, keepAliveTimeoutMs: 0 }), (err: unknown) =>
      err instanceof InvalidOptionError && err.field === 'dispatcher.keepAliveTimeoutMs')
    assert.throws(() => meshDispatcher({ source, resolver: {} as never }), (err: unknown) =>
      err instanceof InvalidOptionError && err.field === 'dispatcher.resolver')
    assert.throws(() => meshDispatcher({ source, resolver, domain: 'bad domain' }), (err: unknown) =>
      err instanceof InvalidOptionError && err.field === 'domain')
  })
})
