import assert from 'node:assert/strict'
import { once } from 'node:events'
import type { AddressInfo } from 'node:net'
import { connect as tlsConnect } from 'node:tls'
import { allowAll } from '../lib/authz/authorizer.js'
import { ConnectError, InvalidOptionError } from '../lib/errors.js'
import { staticResolver } from '../lib/net/static-resolver.js'
import { ConnectService } from '../lib/service.js'
import type { ConnectServiceOptions } from '../lib/service.js'
import { peerOf } from '../lib/tls/peer.js'
import { TestAgent } from '../lib/testing/test-agent.js'

const quick = { backoff: { baseMs: 20, capMs: 200 }, rateLimit: { burst: 2, perSecond: 50 } } as const
const port = (server: { address: () => unknown }): number => (server.address() as AddressInfo).port

describe('ConnectService', () => {
  let agent: TestAgent
  const cleanups: Array<() => unknown> = []

  beforeEach(async () => { agent = await TestAgent.start() })
  afterEach(async () => {
    for (const fn of cleanups.splice(0).reverse()) await fn()
    await agent.close()
  })

  function make (options: Partial<ConnectServiceOptions> & { service: string }): ConnectService {
    const svc = new ConnectService({ agent: { address: agent.address, env: false }, watch: quick, ...options })
    cleanups.push(() => svc.close())
    return svc
  }

  async function listening<S extends { listen: (p: number, h: string) => unknown }> (server: S): Promise<S> {
    server.listen(0, '127.0.0.1')
    await once(server as never, 'listening')
    cleanups.push(() => (server as unknown as { closeAllConnections?: () => void }).closeAllConnections?.())
    cleanups.push(() => new Promise((resolve) => (server as unknown as { close: (cb: () => void) => void }).close(() => resolve(undefined))))
    return server
  }

  describe('constructor', () => {
    const bad: Array<[string, unknown, string]> = [
      ['a missing service', {}, 'service'],
      ['an empty service', { service: '' }, 'service'],
      ['a service with a slash', { service: 'a/b' }, 'service'],
      ['an authorizer that is not a function', { service: 'web', authorizer: 'allow' }, 'authorizer'],
      ['a resolver without resolve()', { service: 'web', resolver: {} }, 'resolver'],
      ['a negative handshake timeout', { service: 'web', handshakeTimeoutMs: -1 }, 'handshakeTimeoutMs']
    ]
    for (const [what, options, field] of bad) {
      it(`throws InvalidOptionError naming "${field}" for ${what}`, () => {
        assert.throws(() => new ConnectService(options as ConnectServiceOptions), (err: unknown) => {
          assert.ok(err instanceof InvalidOptionError)
          assert.equal(err.field, field)
          return true
        })
      })
    }

    it('names the agent field for a bad agent address', () => {
      assert.throws(() => new ConnectService({ service: 'web', agent: { address: 'ftp://x', env: false } }),
        (err: unknown) => err instanceof InvalidOptionError && /agent/.test(err.field))
    })
  })

  describe('#ready', () => {
    it('resolves once leaf and roots are loaded, then exposes the identity and emits ready', async () => {
      const svc = make({ service: 'web' })
      const readyEvent = once(svc, 'ready')
      assert.equal(svc.isReady, false)
      assert.equal(svc.identity, undefined)
      await svc.ready({ signal: AbortSignal.timeout(10_000) })
      await readyEvent
      assert.equal(svc.isReady, true)
      const id = svc.identity!
      assert.equal(id.service, 'web')
      assert.equal(id.namespace, 'default')
      assert.equal(id.datacenter, 'dc1')
      assert.equal(id.trustDomain, agent.trustDomain)
      assert.equal(id.spiffeId, `spiffe://${agent.trustDomain}/ns/default/dc/dc1/svc/web`)
      assert.equal(id.serial, (await agent.leaf('web')).serial)
      assert.ok(Object.isFrozen(id))
    })

    it('rejects with ERR_CONNECT_ABORTED at the caller\'s deadline while the agent hangs, and keeps trying', async () => {
      agent.fault({ path: /\/leaf\//, hang: true })
      const svc = make({ service: 'web' })
      await assert.rejects(svc.ready({ signal: AbortSignal.timeout(200) }), (err: unknown) => err instanceof ConnectError && err.code === 'ERR_CONNECT_ABORTED')
      assert.equal(svc.isReady, false)
    })

    it('rejects with ERR_CONNECT_CLOSED after close()', async () => {
      const svc = make({ service: 'web' })
      await svc.close()
      await assert.rejects(svc.ready(), (err: unknown) => err instanceof ConnectError && err.code === 'ERR_CONNECT_CLOSED')
    })
  })

  describe('before ready (fail closed)', () => {
    it('servers refuse handshakes and dial rejects with ERR_CONNECT_NOT_READY; nothing hangs', async () => {
      agent.fault({ path: /\/leaf\//, hang: true })
      const svc = make({ service: 'db', authorizer: allowAll(), resolver: staticResolver({ db: ['127.0.0.1:1'] }) })
      const server = await listening(svc.createServer((_req, res) => res.end('should not happen')))
      const client = tlsConnect({ host: '127.0.0.1', port: port(server), rejectUnauthorized: false })
      const [err] = await once(client, 'error') as [Error]
      assert.ok(err instanceof Error)
      await assert.rejects(svc.dial('db'), (e: unknown) => e instanceof ConnectError && e.code === 'ERR_CONNECT_NOT_READY')
    })

    it('dial reports ERR_CONNECT_NOT_READY before asking a resolver that would fail', async () => {
      agent.fault({ path: /\/leaf\//, hang: true })
      let resolved = 0
      const svc = make({ service: 'web', authorizer: allowAll(), resolver: { resolve: async () => { resolved++; throw new Error('resolver down') } } })
      await assert.rejects(svc.dial('db'), (e: unknown) => e instanceof ConnectError && e.code === 'ERR_CONNECT_NOT_READY' && /no leaf certificate yet/.test(e.message))
      assert.equal(resolved, 0)
    })
  })

  describe('servers and clients', () => {
    it('serves mTLS to a mesh client and tells the handler who the peer is', async () => {
      const db = make({ service: 'db', authorizer: allowAll() })
      const web = make({ service: 'web' })
      await Promise.all([db.ready(), web.ready()])
      const server = await listening(db.createServer((req, res) => {
        const peer = peerOf(req)!
        res.end(peer.id.kind === 'service' ? peer.id.service : 'other')
      }))
      agent.registerService({ name: 'db', port: port(server) })
      const res = await web.fetch('https://db.service.consul/')
      assert.equal(await res.text(), 'web')
      assert.equal(db.counters.accepted, 1)
    })

    it('decides connections from the intentions by default and reports a refusal with its reason', async () => {
      agent.upsertIntention('web', 'db', { Action: 'deny' })
      const db = make({ service: 'db' })
      await db.ready()
      assert.equal(db.intentions?.size, 1)
      const server = await listening(db.createTlsServer({}, (socket) => socket.end('should not happen')))
      const refused = once(db, 'refused')
      const web = make({ service: 'web', resolver: staticResolver({ db: [`127.0.0.1:${port(server)}`] }) })
      await web.ready()
      const socket = await web.dial('db')
      socket.resume()
      const [event] = await refused as [{ code: string, reason: string }]
      await once(socket, 'close')
      assert.equal(event.code, 'ERR_CONNECT_NOT_AUTHORIZED')
      assert.match(event.reason, /Matched L4 intention: default\/web => default\/db .*DENY/)
      assert.equal(db.counters.refused, 1)
    })

    it('serves HTTP/2 when asked, with ALPN h2', async () => {
      const db = make({ service: 'db', authorizer: allowAll() })
      await db.ready()
      const server = await listening(db.createServer({ http2: true }, (_req: never, res: { end: (s: string) => void }) => res.end('h2')))
      const client = make({ service: 'web', resolver: staticResolver({ db: [`127.0.0.1:${port(server)}`] }) })
      await client.ready()
      const socket = await client.dial('db', { alpn: ['h2'] })
      assert.equal(socket.alpnProtocol, 'h2')
      socket.destroy()
    })

    it('attach() gives an existing server the same guarantees', async () => {
      const { createServer } = await import('node:https')
      const db = make({ service: 'db', authorizer: allowAll() })
      await db.ready()
      const server = await listening(db.attach(createServer((req, res) => res.end(String(peerOf(req)?.id.kind)))))
      const web = make({ service: 'web', resolver: staticResolver({ db: [`127.0.0.1:${port(server)}`] }) })
      await web.ready()
      const res = await web.fetch('https://db.service.consul/')
      assert.equal(await res.text(), 'service')
    })

    it('keeps requests flowing through a leaf renewal and a root rotation with zero failures', async () => {
      const db = make({ service: 'db', authorizer: allowAll() })
      const web = make({ service: 'web' })
      await Promise.all([db.ready(), web.ready()])
      const server = await listening(db.createServer((_req, res) => res.end('ok')))
      agent.registerService({ name: 'db', port: port(server) })
      let ok = 0
      const failures: unknown[] = []
      let stop = false
      const loop = (async () => {
        while (!stop) {
          try { assert.equal(await (await web.fetch('https://db.service.consul/')).text(), 'ok'); ok++ } catch (err) { failures.push(err) }
        }
      })()
      const renewed = once(db, 'leaf')
      await agent.renewLeaf('db')
      await renewed
      const rotatedDb = once(db, 'leaf')
      const rotatedWeb = once(web, 'leaf')
      const roots = once(web, 'roots')
      await agent.rotateRoot()
      await Promise.all([rotatedDb, rotatedWeb, roots])
      const atRotation = ok
      while (ok < atRotation + 10) await new Promise((resolve) => setImmediate(resolve))
      stop = true
      await loop
      assert.deepEqual(failures, [])
      assert.ok(ok >= 10)
    })
  })

  describe('intentions', () => {
    async function meshPair (dbOptions: Partial<ConnectServiceOptions> = {}): Promise<{ db: ConnectService, web: ConnectService }> {
      const db = make({ service: 'db', ...dbOptions })
      // One pooled connection, so the test can tell that a 403 does not cost the connection.
      const web = make({ service: 'web', dispatcher: { connections: 1 } })
      await Promise.all([db.ready(), web.ready()])
      return { db, web }
    }

    it('applies L7 permissions per request on HTTP servers: GET /orders allowed, POST /admin answered 403 with the reason, connection kept', async () => {
      agent.setServiceDefaults('db', { Protocol: 'http' })
      agent.setIntentions('db', [{
        Name: 'web',
        Permissions: [
          { Action: 'allow', HTTP: { PathPrefix: '/orders', Methods: ['GET'] } },
          { Action: 'deny', HTTP: { PathPrefix: '/admin' } }
        ]
      }])
      const { db, web } = await meshPair()
      assert.equal(db.intentions?.hasL7, true)
      let connections = 0
      const server = await listening(db.createServer((req, res) => res.end(`ok ${req.method} ${req.url}`)))
      server.on('secureConnection', () => { connections++ })
      agent.registerService({ name: 'db', port: port(server) })
      const denied = once(db, 'requestDenied')

      const orders = await web.fetch('https://db.service.consul/orders/7')
      assert.equal(orders.status, 200)
      assert.equal(await orders.text(), 'ok GET /orders/7')
      const admin = await web.fetch('https://db.service.consul/admin', { method: 'POST' })
      assert.equal(admin.status, 403)
      assert.match(await admin.text(), /Matched L7 intention: default\/web => default\/db.*Permissions\[1\]: DENY/)
      const [event] = await denied as [{ method: string, path: string }]
      assert.deepEqual([event.method, event.path], ['POST', '/admin'])
      // A request matching no permission gets the default decision (allow: ACLs off).
      assert.equal((await web.fetch('https://db.service.consul/other')).status, 200)
      assert.equal(connections, 1, 'the denied request did not cost the connection')
    })

    it('refuses an L7-matched peer on a raw TLS server, as Consul does', async () => {
      agent.setServiceDefaults('db', { Protocol: 'http' })
      agent.setIntentions('db', [{ Name: 'web', Permissions: [{ Action: 'allow', HTTP: { PathPrefix: '/' } }] }])
      const { db } = await meshPair()
      const server = await listening(db.createTlsServer({}, (socket) => socket.end('no')))
      const refused = once(db, 'refused')
      const web = make({ service: 'web', resolver: staticResolver({ db: [`127.0.0.1:${port(server)}`] }) })
      await web.ready()
      ;(await web.dial('db')).resume()
      const [event] = await refused as [{ reason: string }]
      assert.match(event.reason, /Matched L7 intention/)
    })

    it('with live enforcement, closes an open connection within one second of a deny intention', async () => {
      const { db } = await meshPair({ liveEnforcement: true })
      const server = await listening(db.createTlsServer({}, (socket) => socket.pipe(socket)))
      const web = make({ service: 'web', resolver: staticResolver({ db: [`127.0.0.1:${port(server)}`] }) })
      await web.ready()
      const socket = await web.dial('db')
      socket.write('ping')
      assert.equal(String((await once(socket, 'data'))[0]), 'ping')
      const closed = once(db, 'connectionClosed', { signal: AbortSignal.timeout(1_000) })
      const socketClosed = once(socket, 'close', { signal: AbortSignal.timeout(1_000) })
      agent.upsertIntention('web', 'db', { Action: 'deny' })
      const [event] = await closed as [{ reason: string, cause: string }]
      await socketClosed
      assert.equal(event.cause, 'reauthorize')
      assert.match(event.reason, /DENY/)
    })

    it('without live enforcement leaves open connections alone (Consul\'s behaviour) but decides new ones', async () => {
      const { db } = await meshPair()
      const server = await listening(db.createTlsServer({}, (socket) => socket.pipe(socket)))
      const web = make({ service: 'web', resolver: staticResolver({ db: [`127.0.0.1:${port(server)}`] }) })
      await web.ready()
      const socket = await web.dial('db')
      socket.write('first')
      assert.equal(String((await once(socket, 'data'))[0]), 'first')
      const changed = once(db, 'intentions')
      agent.upsertIntention('web', 'db', { Action: 'deny' })
      await changed
      socket.write('still open')
      assert.equal(String((await once(socket, 'data'))[0]), 'still open')
      assert.equal(db.authorize(`spiffe://${agent.trustDomain}/ns/default/dc/dc1/svc/web`).allowed, false)
      socket.destroy()
    })

    it('closes connections at the maximum connection lifetime', async () => {
      const { db } = await meshPair({ maxConnectionLifetimeMs: 100 })
      const server = await listening(db.createTlsServer({}, (socket) => socket.pipe(socket)))
      const web = make({ service: 'web', resolver: staticResolver({ db: [`127.0.0.1:${port(server)}`] }) })
      await web.ready()
      const socket = await web.dial('db')
      socket.resume()
      const [event] = await once(db, 'connectionClosed') as [{ cause: string }]
      assert.equal(event.cause, 'lifetime')
      await once(socket, 'close')
    })

    it('keeps the last good intentions when an answer holds a malformed intention, and reports it', async () => {
      agent.upsertIntention('web', 'db', { Action: 'allow' })
      const { db } = await meshPair()
      // The watch's blocking request may already be parked at the agent (faults apply to requests arriving
      // later), in which case the change is delivered first and the next request gets the fault.
      let lastGood = db.intentions
      db.on('intentions', (next) => { lastGood = next })
      const errored = once(db, 'error')
      agent.fault({ path: '/v1/connect/intentions/match', body: { db: [{ SourceName: 'we*', SourceNS: 'default', DestinationName: 'db', DestinationNS: 'default', Action: 'allow', Precedence: 9 }] } })
      agent.upsertIntention('api', 'db', { Action: 'deny' })
      const [err] = await errored as [ConnectError]
      assert.equal(err.code, 'ERR_CONNECT_INTENTION_INVALID')
      assert.equal(db.intentions, lastGood, 'the last good snapshot is kept')
      assert.ok(db.intentions?.intentions.every((i) => i.SourceName !== 'we*'), 'the malformed intention was not taken')
      assert.equal(db.authorize(`spiffe://${agent.trustDomain}/ns/default/dc/dc1/svc/web`).allowed, true)
    })

    it('denies when a custom authorizer throws', async () => {
      const db = make({ service: 'db', authorizer: () => { throw new Error('boom') } })
      const decision = db.authorize(`spiffe://${agent.trustDomain}/ns/default/dc/dc1/svc/web`)
      assert.equal(decision.allowed, false)
      assert.match(decision.reason, /authorizer threw: boom/)
    })
  })

  describe('#certificateAuthenticator', () => {
    it('returns the principal of an allowed chain and throws with the reason otherwise', async () => {
      agent.upsertIntention('api', 'db', { Action: 'deny' })
      const db = make({ service: 'db' })
      await db.ready()
      const authenticate = db.certificateAuthenticator()
      const web = await agent.leaf('web')
      const principal = authenticate(web.certPem)
      assert.equal(principal.service, 'web')
      assert.equal(principal.spiffeId, web.spiffeId)
      assert.equal(principal.serial, web.serial)
      assert.ok(Object.isFrozen(principal))
      const api = await agent.leaf('api')
      assert.throws(() => authenticate([api.leafPem]), (err: unknown) => err instanceof ConnectError && err.code === 'ERR_CONNECT_NOT_AUTHORIZED' && /DENY/.test(err.message))
      const { TestCA } = await import('../lib/testing/test-ca.js')
      const stranger = await (await TestCA.create()).issueLeaf({ service: 'web' })
      assert.throws(() => authenticate(stranger.certPem), (err: unknown) => err instanceof ConnectError && err.code === 'ERR_CONNECT_CERT_UNKNOWN_ISSUER')
    })
  })

  describe('#webSocket', () => {
    it('returns a WebSocket at once and talks to a mesh WebSocket server', async () => {
      const db = make({ service: 'db', authorizer: allowAll() })
      const web = make({ service: 'web' })
      await Promise.all([db.ready(), web.ready()])
      const server = await listening(db.createServer((_req, res) => { res.statusCode = 404; res.end() }))
      await db.webSocketServer(server, { path: '/chat' }, (ws, _req, peer) => {
        ws.send(`hello ${peer.id.kind === 'service' ? peer.id.service : '?'}`)
      })
      agent.registerService({ name: 'db', port: port(server) })
      const ws = web.webSocket('wss://db.service.consul/chat')
      const [message] = await once(ws, 'message') as [Buffer]
      assert.equal(message.toString(), 'hello web')
      ws.close()
      await once(ws, 'close')
    })

    it('reports a failed dial as the socket\'s error event with the library\'s code', async () => {
      const web = make({ service: 'web', resolver: staticResolver({ db: [] }) })
      await web.ready()
      const ws = web.webSocket('wss://db.service.consul/chat')
      const [err] = await once(ws, 'error') as [ConnectError]
      assert.equal(err.code, 'ERR_CONNECT_NO_INSTANCES')
    })
  })

  describe('#authorize', () => {
    it('decides a SPIFFE ID or certificate synchronously and denies garbage with a reason', async () => {
      const db = make({ service: 'db', authorizer: (peer) => ({ allowed: peer.id.kind === 'service' && peer.id.service === 'web', reason: 'test', layer: 'L4' }) })
      assert.equal(db.authorize(`spiffe://${agent.trustDomain}/ns/default/dc/dc1/svc/web`).allowed, true)
      assert.equal(db.authorize(`spiffe://${agent.trustDomain}/ns/default/dc/dc1/svc/api`).allowed, false)
      const leaf = await agent.leaf('web')
      assert.equal(db.authorize(leaf.leafPem).allowed, true)
      const garbage = db.authorize('not a certificate')
      assert.equal(garbage.allowed, false)
      assert.match(garbage.reason, /^denied: /)
    })
  })

  describe('#close', () => {
    it('is idempotent, makes later calls fail with ERR_CONNECT_CLOSED and works with await using', async () => {
      const svc = make({ service: 'web' })
      await svc.ready()
      await Promise.all([svc.close(), svc.close()])
      await svc.close()
      assert.equal(svc.isReady, false)
      assert.throws(() => svc.createServer(), (err: unknown) => err instanceof ConnectError && err.code === 'ERR_CONNECT_CLOSED')
      await assert.rejects(svc.dial('db'), (err: unknown) => err instanceof ConnectError && err.code === 'ERR_CONNECT_CLOSED')
      const other = make({ service: 'api' })
      await other[Symbol.asyncDispose]()
      assert.throws(() => other.dispatcher(), (err: unknown) => err instanceof ConnectError && err.code === 'ERR_CONNECT_CLOSED')
    })
  })
})
