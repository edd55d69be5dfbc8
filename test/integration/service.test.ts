/**
 * ConnectService against a real `consul agent -dev`: traffic through a real CA root rotation, and interop with
 * Consul's reference implementation (`consul connect proxy`, built on its Go Connect SDK) in both directions.
 */
import assert from 'node:assert/strict'
import { generateKeyPairSync } from 'node:crypto'
import { once } from 'node:events'
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { TLSSocket } from 'node:tls'
import { request as undiciRequest } from 'undici'
import { allowAll } from '../../lib/authz/authorizer.js'
import type { Authorizer, Peer } from '../../lib/authz/authorizer.js'
import { ConnectError } from '../../lib/errors.js'
import { staticResolver } from '../../lib/net/static-resolver.js'
import { ConnectService } from '../../lib/service.js'
import { peerOf } from '../../lib/tls/peer.js'
import { ConnectProxy } from './support/connect-proxy.js'
import { DevAgent, consulVersion, freePort } from './support/consul-agent.js'

const quick = { backoff: { baseMs: 50, capMs: 500 }, rateLimit: { burst: 2, perSecond: 20 } } as const

function portOf (server: { address: () => AddressInfo | string | null }): number {
  return (server.address() as AddressInfo).port
}

async function listen<S extends { listen: (port: number, host: string) => unknown, once: (e: string, l: () => void) => unknown }> (server: S): Promise<S> {
  server.listen(0, '127.0.0.1')
  await once(server as never, 'listening')
  return server
}

describe(`ConnectService against a real agent (${consulVersion()})`, function () {
  this.timeout(120_000)
  let agent: DevAgent
  const cleanups: Array<() => Promise<unknown> | unknown> = []

  before(async () => { agent = await DevAgent.start() })
  afterEach(async () => {
    for (const fn of cleanups.splice(0).reverse()) await fn()
  })
  after(async () => { await agent?.stop() })

  function service (name: string, authorizer: Authorizer = allowAll(), extra: Partial<ConstructorParameters<typeof ConnectService>[0]> = {}): ConnectService {
    const svc = new ConnectService({ service: name, agent: { address: agent.address, env: false }, authorizer, watch: quick, ...extra })
    cleanups.push(() => svc.close())
    return svc
  }

  async function register (name: string, port: number): Promise<void> {
    await agent.api('PUT', '/v1/agent/service/register', { Name: name, ID: `${name}-${port}`, Address: '127.0.0.1', Port: port, Connect: { Native: true } })
    cleanups.push(() => agent.api('PUT', `/v1/agent/service/deregister/${name}-${port}`))
  }

  it('keeps requests flowing through a real CA root rotation: zero failures, open connections kept, new leaf used', async () => {
    const db = service('db')
    const web = service('web')
    await Promise.all([db.ready({ signal: AbortSignal.timeout(30_000) }), web.ready({ signal: AbortSignal.timeout(30_000) })])
    const before = { db: db.identity!.serial, web: web.identity!.serial }

    const https = await listen(db.createServer((req, res) => res.end(peerOf(req)?.id.kind === 'service' ? (peerOf(req)!.id as { service: string }).service : '?')))
    cleanups.push(() => new Promise((resolve) => { https.closeAllConnections(); https.close(resolve) }))
    const echo = await listen(db.createTlsServer({}, (socket) => socket.pipe(socket)))
    cleanups.push(() => new Promise((resolve) => echo.close(resolve)))
    await register('db', portOf(https))

    // A long-lived raw mTLS connection to the echo server, opened before the rotation.
    const webStatic = service('web', allowAll(), { resolver: staticResolver({ db: [`127.0.0.1:${portOf(echo)}`] }) })
    await webStatic.ready({ signal: AbortSignal.timeout(30_000) })
    const longLived: TLSSocket = await webStatic.dial('db')
    let closedEarly = false
    longLived.once('close', () => { closedEarly = true })
    const roundTrip = async (text: string): Promise<string> => {
      longLived.write(text)
      const [chunk] = await once(longLived, 'data') as [Buffer]
      return chunk.toString()
    }
    assert.equal(await roundTrip('before'), 'before')

    // Traffic: a loop of fetches by service name through the mesh dispatcher.
    let ok = 0
    const failures: unknown[] = []
    let stop = false
    const loop = (async () => {
      while (!stop) {
        try {
          const res = await web.fetch('https://db.service.consul/')
          assert.equal(await res.text(), 'web')
          ok++
        } catch (err) { failures.push(err) }
      }
    })()

    const leafRotated = Promise.all([once(db, 'leaf'), once(web, 'leaf'), once(webStatic, 'leaf')])
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256', privateKeyEncoding: { type: 'sec1', format: 'pem' }, publicKeyEncoding: { type: 'spki', format: 'pem' } })
    await agent.api('PUT', '/v1/connect/ca/configuration', { Provider: 'consul', Config: { PrivateKey: privateKey, LeafCertTTL: '72h' } })
    await leafRotated
    const okAtRotation = ok

    // New connections now present the new leaf; the dispatcher's pooled connection keeps working too.
    const fresh = await webStatic.dial('db')
    assert.equal(fresh.getPeerX509Certificate()!.serialNumber.toLowerCase().replace(/^0+/, ''),
      db.identity!.serial.replace(/:/g, '').replace(/^0+/, ''), 'a new connection sees the re-issued leaf')
    fresh.destroy()
    // Let the loop run on after the rotation, through new connections made with the new identities.
    const dispatcher = web.dispatcher()
    const extra = await undiciRequest('https://db.service.consul/', { dispatcher, reset: true })
    assert.equal(await extra.body.text(), 'web')
    while (ok < okAtRotation + 20) await new Promise((resolve) => setImmediate(resolve))
    stop = true
    await loop

    assert.notEqual(db.identity!.serial, before.db)
    assert.notEqual(web.identity!.serial, before.web)
    assert.deepEqual(failures, [], `failed requests: ${failures.length}`)
    assert.ok(ok > 20, `requests served: ${ok}`)
    assert.equal(await roundTrip('after'), 'after', 'the connection opened before the rotation still works')
    assert.equal(closedEarly, false, 'no open connection was dropped')
    longLived.destroy()
  })

  it('decides from intentions written through the API: one blocking round for new connections; live enforcement closes open ones within 1 s', async () => {
    // The default authorizer: intentions watched from the agent, default learned from it (allow: ACLs off).
    const db = new ConnectService({ service: 'db', agent: { address: agent.address, env: false }, watch: quick, liveEnforcement: true })
    cleanups.push(() => db.close())
    await db.ready({ signal: AbortSignal.timeout(30_000) })
    const echo = await listen(db.createTlsServer({}, (socket) => socket.pipe(socket)))
    cleanups.push(() => new Promise((resolve) => echo.close(resolve)))
    const web = service('web', allowAll(), { resolver: staticResolver({ db: [`127.0.0.1:${portOf(echo)}`] }) })
    await web.ready({ signal: AbortSignal.timeout(30_000) })

    const open = await web.dial('db')
    open.write('hello')
    assert.equal(String((await once(open, 'data'))[0]), 'hello', 'allowed by the default (no intention yet)')
    // The watch's blocking request is in flight now (sent right after the first answer).
    const requestsBefore = db.intentionsCounters!.requests
    let requestsAtChange = -1
    db.once('intentions', () => { requestsAtChange = db.intentionsCounters!.requests })

    // Deadline of one second from the write through the API to the closed connection.
    const deadline = AbortSignal.timeout(1_000)
    const closedEvent = once(db, 'connectionClosed', { signal: deadline })
    const socketClosed = once(open, 'close', { signal: deadline })
    const changed = once(db, 'intentions', { signal: AbortSignal.timeout(30_000) })
    await agent.api('PUT', '/v1/connect/intentions/exact?source=web&destination=db', { Action: 'deny' })
    const [[closed]] = await Promise.all([closedEvent, socketClosed, changed]) as [[{ reason: string, cause: string }], unknown, unknown]
    assert.equal(closed.cause, 'reauthorize')
    assert.match(closed.reason, /Matched L4 intention: default\/web => default\/db \(.*Action: DENY/)
    assert.equal(requestsAtChange - requestsBefore, 0, 'the change arrived on the blocking request already in flight: one round')

    // A new connection is refused with the intention as its reason.
    const refused = once(db, 'refused')
    const next = await web.dial('db')
    next.resume()
    const [event] = await refused as [{ code: string, reason: string }]
    assert.equal(event.code, 'ERR_CONNECT_NOT_AUTHORIZED')
    assert.match(event.reason, /DENY/)
    await once(next, 'close')
  })

  describe('interop with consul connect proxy (Consul\'s Go SDK)', () => {
    it('a Go client (consul connect proxy -upstream) calls a Node createServer; Node sees the peer "web"', async () => {
      const seen: Peer[] = []
      const db = service('db', (peer) => { seen.push(peer); return { allowed: true, reason: 'test', layer: 'L4' } })
      await db.ready({ signal: AbortSignal.timeout(30_000) })
      const server = await listen(db.createServer((req, res) => {
        const peer = peerOf(req)
        res.end(peer?.id.kind === 'service' ? `hello ${peer.id.service}` : 'no peer')
      }))
      cleanups.push(() => new Promise((resolve) => { server.closeAllConnections(); server.close(resolve) }))
      await register('db', portOf(server))

      const localPort = await freePort()
      const proxy = await ConnectProxy.start(agent, { service: 'web', upstreams: [{ service: 'db', localPort }] })
      cleanups.push(() => proxy.stop())

      const res = await undiciRequest(`http://127.0.0.1:${localPort}/`, { reset: true })
      assert.equal(await res.body.text(), 'hello web', proxy.log)
      assert.ok(seen.some((p) => p.id.kind === 'service' && p.id.service === 'web'))
    })

    it('a Node fetch and dial reach a Go Connect server (consul connect proxy -service legacy -listen)', async () => {
      const app: HttpServer = await listen(createHttpServer((_req, res) => res.end('legacy app')))
      cleanups.push(() => new Promise((resolve) => { app.closeAllConnections(); app.close(resolve) }))
      const publicPort = await freePort()
      const proxy = await ConnectProxy.start(agent, { service: 'legacy', serviceAddr: `127.0.0.1:${portOf(app)}`, listen: `127.0.0.1:${publicPort}` })
      cleanups.push(() => proxy.stop())
      await register('legacy', publicPort)

      const web = service('web')
      await web.ready({ signal: AbortSignal.timeout(30_000) })
      const res = await web.fetch('https://legacy.service.consul/')
      assert.equal(res.status, 200)
      assert.equal(await res.text(), 'legacy app')

      const socket = await web.dial('legacy')
      socket.write('GET / HTTP/1.1\r\nHost: legacy\r\nConnection: close\r\n\r\n')
      let raw = ''
      for await (const chunk of socket) raw += String(chunk)
      assert.match(raw, /^HTTP\/1\.1 200/)
      assert.match(raw, /legacy app$/)
    })

    it('a Node client expecting "db" that reaches a server presenting "web" fails peer verification', async () => {
      const app: HttpServer = await listen(createHttpServer((_req, res) => res.end('web app')))
      cleanups.push(() => new Promise((resolve) => { app.closeAllConnections(); app.close(resolve) }))
      const publicPort = await freePort()
      const proxy = await ConnectProxy.start(agent, { service: 'web', serviceAddr: `127.0.0.1:${portOf(app)}`, listen: `127.0.0.1:${publicPort}` })
      cleanups.push(() => proxy.stop())

      const client = service('client', allowAll(), { resolver: staticResolver({ db: [`127.0.0.1:${publicPort}`] }) })
      await client.ready({ signal: AbortSignal.timeout(30_000) })
      await assert.rejects(client.dial('db'), (err: unknown) => {
        assert.ok(err instanceof ConnectError)
        assert.equal(err.code, 'ERR_CONNECT_PEER_VERIFICATION')
        assert.match(err.message, /web/)
        return true
      })
    })
  })
})
