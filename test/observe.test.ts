/**
 * A ConnectService's logger and diagnostics channels (lib/observe.ts): each event reaches both, at its level,
 * with its fields; the agent token never appears; a logger that throws changes nothing.
 */
import assert from 'node:assert/strict'
import diagnosticsChannel from 'node:diagnostics_channel'
import { once } from 'node:events'
import type { AddressInfo } from 'node:net'
import { request } from 'undici'
import { InvalidOptionError } from '../lib/errors.js'
import { serviceChannels } from '../lib/observe.js'
import type { Logger } from '../lib/observe.js'
import { ConnectService } from '../lib/service.js'
import { peerOf } from '../lib/tls/peer.js'
import type { ConnectServiceOptions } from '../lib/service.js'
import { TestAgent } from '../lib/testing/test-agent.js'

const quick = { backoff: { baseMs: 20, capMs: 200 }, rateLimit: { burst: 2, perSecond: 50 } } as const
const TOKEN = 'c0ffee00-token-must-never-be-logged'

interface Line { readonly level: string, readonly message: string, readonly fields: Readonly<Record<string, unknown>> }

/** A logger that keeps every line, and resolves `next(pattern)` when a matching one arrives. */
class Recorder implements Logger {
  readonly lines: Line[] = []
  readonly #waiters: Array<{ pattern: RegExp, resolve: (line: Line) => void }> = []
  readonly debug = this.#at('debug')
  readonly info = this.#at('info')
  readonly warn = this.#at('warn')
  readonly error = this.#at('error')

  #at (level: string) {
    return (message: string, fields: Readonly<Record<string, unknown>> = {}): void => {
      const line = { level, message, fields }
      this.lines.push(line)
      for (const w of this.#waiters.splice(0)) {
        if (w.pattern.test(`${level} ${message}`)) w.resolve(line)
        else this.#waiters.push(w)
      }
    }
  }

  async next (pattern: RegExp): Promise<Line> {
    const seen = this.lines.find((l) => pattern.test(`${l.level} ${l.message}`))
    if (seen !== undefined) return seen
    return await new Promise((resolve) => this.#waiters.push({ pattern, resolve }))
  }
}

describe('observability: logger and service channels', () => {
  let agent: TestAgent
  const cleanups: Array<() => unknown> = []

  beforeEach(async () => { agent = await TestAgent.start() })
  afterEach(async () => {
    for (const fn of cleanups.splice(0).reverse()) await fn()
    await agent.close()
  })

  function make (options: Partial<ConnectServiceOptions> & { service: string }): ConnectService {
    const svc = new ConnectService({ agent: { address: agent.address, env: false, token: TOKEN }, watch: quick, ...options })
    cleanups.push(() => svc.close())
    return svc
  }

  it('logs ready, a renewed leaf, changed roots, changed intentions and a failed update, each at its level with its fields, never the token', async () => {
    const log = new Recorder()
    const db = make({ service: 'db', logger: log })
    await db.ready()
    const ready = await log.next(/^info ready as /)
    assert.equal(ready.fields.service, 'db')
    assert.equal(ready.fields.spiffeId, db.identity?.spiffeId)
    assert.equal(ready.fields.serial, db.identity?.serial)

    const renewed = await agent.renewLeaf('db')
    const leaf = await log.next(/^info new leaf /)
    assert.equal(leaf.fields.serial, renewed.serial)
    assert.match(leaf.message, new RegExp(`new leaf ${renewed.serial} in use, valid until \\d{4}-`))

    await agent.rotateRoot()
    const roots = await log.next(/^info trusted roots changed/)
    assert.equal(roots.fields.roots, 2)
    assert.equal(roots.fields.trustDomain, agent.trustDomain)

    agent.upsertIntention('web', 'db', { Action: 'deny' })
    const intentions = await log.next(/^info intentions changed: 1 in force/)
    assert.deepEqual({ ...intentions.fields }, { service: 'db', intentions: 1, hasL7: false, defaultAllow: true })

    const fault = agent.fault({ path: '/v1/connect/intentions/match', status: 500 })
    agent.upsertIntention('api', 'db', { Action: 'deny' })
    const failed = await log.next(/^warn /)
    assert.equal(failed.fields.code, 'ERR_CONNECT_AGENT_HTTP')
    fault.clear()

    assert.ok(log.lines.length >= 6)
    assert.ok(!JSON.stringify(log.lines).includes(TOKEN), 'the token appears in no log line')
    assert.ok(log.lines.every((l) => l.fields.service === 'db'))
  })

  it('publishes leaf, refused and request-denied messages on the service channels while subscribed', async () => {
    const seen: Array<[string, Record<string, unknown>]> = []
    const subscriptions = (['leaf', 'refused', 'requestDenied'] as const).map((event) => {
      const onMessage = (message: unknown): void => { seen.push([event, message as Record<string, unknown>]) }
      serviceChannels[event].subscribe(onMessage)
      return () => serviceChannels[event].unsubscribe(onMessage)
    })
    cleanups.push(() => { for (const off of subscriptions) off() })
    assert.equal(serviceChannels.leaf.name, 'consul-connect-native:service:leaf')
    assert.equal(diagnosticsChannel.channel('consul-connect-native:service:request-denied'), serviceChannels.requestDenied)

    // A custom authorizer that lets connections in and denies POST requests.
    const db = make({ service: 'db', authorizer: (_peer, req) => req?.method === 'POST' ? { allowed: false, reason: 'no writes', layer: 'L7' } : { allowed: true, reason: 'ok', layer: req === undefined ? 'L4' : 'L7' } })
    const web = make({ service: 'web' })
    await Promise.all([db.ready(), web.ready()])
    const server = db.createServer((_req, res) => res.end('ok'))
    server.listen(0, '127.0.0.1')
    await once(server, 'listening')
    cleanups.push(() => new Promise((resolve) => { server.closeAllConnections(); server.close(resolve) }))
    agent.registerService({ name: 'db', port: (server.address() as AddressInfo).port })

    const denied = await request('https://db.service.consul/orders', { dispatcher: web.dispatcher(), method: 'POST' })
    assert.equal(denied.statusCode, 403)
    await denied.body.text()
    const leafRenewed = once(db, 'leaf')
    await agent.renewLeaf('db')
    await leafRenewed

    const deniedMessage = seen.find(([event]) => event === 'requestDenied')?.[1]
    assert.equal(deniedMessage?.service, 'db')
    assert.equal((deniedMessage?.denied as { method: string, path: string }).path, '/orders')
    const leafMessage = seen.find(([event]) => event === 'leaf')?.[1]
    assert.equal(leafMessage?.service, 'db')
    assert.equal((leafMessage?.identity as { serial: string }).serial, db.identity?.serial)
    assert.equal(seen.filter(([event]) => event === 'refused').length, 0, 'nothing was refused')
  })

  it('keeps serving when the logger throws', async () => {
    const thrower: Logger = { info: () => { throw new Error('logger down') }, debug: () => { throw new Error('logger down') } }
    const db = make({ service: 'db', logger: thrower })
    await db.ready()
    await agent.renewLeaf('db')
    await once(db, 'leaf')
    assert.equal(db.isReady, true)
  })

  it('refuses a logger whose levels are not functions, naming the field', () => {
    assert.throws(() => new ConnectService({ service: 'db', agent: { address: agent.address, env: false }, logger: { info: 'yes' } as unknown as Logger }),
      (err: unknown) => err instanceof InvalidOptionError && err.field === 'logger')
  })

  describe('listeners and observers that misbehave', () => {
    async function serving (db: ConnectService): Promise<number> {
      const server = db.createServer((req, res) => res.end('ok'))
      server.listen(0, '127.0.0.1')
      await once(server, 'listening')
      cleanups.push(() => new Promise((resolve) => { server.closeAllConnections(); server.close(resolve) }))
      const port = (server.address() as AddressInfo).port
      agent.registerService({ name: 'db', port })
      return port
    }

    it('a "refused" listener that throws costs neither the server nor the decision channel; it becomes a process warning', async () => {
      const warned = once(process, 'warning') as Promise<[Error & { code?: string }]>
      const decisions: unknown[] = []
      const onDecision = (message: unknown): void => { decisions.push(message) }
      diagnosticsChannel.subscribe('consul-connect-native:tls:decision', onDecision)
      cleanups.push(() => diagnosticsChannel.unsubscribe('consul-connect-native:tls:decision', onDecision))
      agent.upsertIntention('web', 'db', { Action: 'deny' })
      const db = make({ service: 'db' })
      const web = make({ service: 'web' })
      await Promise.all([db.ready(), web.ready()])
      db.on('refused', () => { throw new Error('listener bug') })
      await serving(db)
      await assert.rejects(request('https://db.service.consul/', { dispatcher: web.dispatcher() }))
      const [warning] = await warned
      assert.equal(warning.code, 'CONNECT_LISTENER_THREW')
      assert.match(warning.message, /a "refused" listener of service "db" threw: listener bug/)
      assert.equal(decisions.length, 1, 'the refusal reached the decision channel')
      agent.upsertIntention('web', 'db', { Action: 'allow' })
      await once(db, 'intentions')
      const ok = await request('https://db.service.consul/', { dispatcher: web.dispatcher(), reset: true })
      assert.equal(await ok.body.text(), 'ok', 'the server still serves')
    })

    it('an "error" listener that throws while the default policy is being learned does not stop ready()', async () => {
      agent.fault({ path: '/v1/agent/self', status: 500, times: 1 })
      const db = make({ service: 'db' })
      db.on('error', () => { throw new Error('listener bug') })
      const warned = once(process, 'warning') as Promise<[Error & { code?: string }]>
      await db.ready({ signal: AbortSignal.timeout(10_000) })
      assert.equal(db.isReady, true)
      assert.equal((await warned)[0].code, 'CONNECT_LISTENER_THREW')
    })

    it('closed connections keep their remote address', async () => {
      const db = make({ service: 'db', maxConnectionLifetimeMs: 100 })
      const web = make({ service: 'web' })
      await Promise.all([db.ready(), web.ready()])
      await serving(db)
      const closed = once(db, 'connectionClosed')
      const socket = await web.dial('db')
      cleanups.push(() => socket.destroy())
      const [event] = await closed as [{ remoteAddress: string | undefined, cause: string }]
      assert.equal(event.cause, 'lifetime')
      assert.equal(event.remoteAddress, '127.0.0.1')
    })

    it('a handler that changes the shared certificate\'s dates cannot change later decisions', async () => {
      const db = make({ service: 'db' })
      const web = make({ service: 'web' })
      await Promise.all([db.ready(), web.ready()])
      const server = db.createServer((req, res) => {
        const notAfter = peerOf(req)?.certificate?.notAfter
        notAfter?.setTime(0) // a careless (or hostile) handler
        res.end('ok')
      })
      server.listen(0, '127.0.0.1')
      await once(server, 'listening')
      cleanups.push(() => new Promise((resolve) => { server.closeAllConnections(); server.close(resolve) }))
      agent.registerService({ name: 'db', port: (server.address() as AddressInfo).port })
      for (let i = 0; i < 2; i++) {
        const res = await request('https://db.service.consul/', { dispatcher: web.dispatcher(), reset: true })
        assert.equal(await res.body.text(), 'ok', `connection ${i + 1} accepted`)
      }
      assert.equal(db.counters.refused, 0)
    })
  })
})
