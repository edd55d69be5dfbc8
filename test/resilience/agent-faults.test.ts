/**
 * Resilience against a misbehaving agent (project issue 6): while the TestAgent answers garbage, 500s, 403s,
 * an index that goes backwards, or hangs, on the leaf, roots and intentions paths in turn, a ConnectService keeps
 * serving from its last good state, reports the errors with their codes, does not busy-loop against the agent,
 * and recovers by itself once the fault is cleared.
 */
import assert from 'node:assert/strict'
import { once } from 'node:events'
import type { Server } from 'node:https'
import type { QueryCounters } from '../../lib/agent/blocking-query.js'
import type { ConnectError } from '../../lib/errors.js'
import type { AgentCredentialsSource } from '../../lib/identity/agent-source.js'
import { ConnectService } from '../../lib/service.js'
import type { FaultSpec } from '../../lib/testing/faults.js'
import { TestAgent } from '../../lib/testing/test-agent.js'
import { RejectionTracker, Traffic, eventWhere, portOf, seconds, staticClient, until } from './support.js'

const BASE_MS = 20
const WATCH = { backoff: { baseMs: BASE_MS, capMs: 200, jitter: 'none' }, rateLimit: { burst: 2, perSecond: 50 }, waitMs: 200 } as const
/** Agent requests' margin: a hung blocking call fails after waitMs + waitMs/16 + this. */
const AGENT_TIMEOUT_MS = 400

type PathName = 'leaf' | 'roots' | 'intentions'
const PATHS: Record<PathName, string> = {
  leaf: '/v1/agent/connect/ca/leaf/db',
  roots: '/v1/agent/connect/ca/roots',
  intentions: '/v1/connect/intentions/match'
}

interface FaultCase {
  readonly name: string
  readonly spec: Omit<FaultSpec, 'path'>
  /** Error codes the service may report for it. */
  readonly codes: readonly string[]
  /** Errors to wait for (0: the fault produces no error; then `hits` fault hits are awaited instead). */
  readonly errors: number
  readonly hits?: number
}

const FAULTS: readonly FaultCase[] = [
  { name: 'malformed JSON', spec: { malformed: true }, codes: ['ERR_CONNECT_AGENT_INVALID_ANSWER'], errors: 5 },
  { name: 'HTTP 500', spec: { status: 500 }, codes: ['ERR_CONNECT_AGENT_HTTP'], errors: 5 },
  { name: 'HTTP 403', spec: { status: 403, body: 'Permission denied: token lacks service:write' }, codes: ['ERR_CONNECT_AGENT_PERMISSION_DENIED'], errors: 5 },
  { name: 'an index that goes backwards', spec: { indexBackwards: true }, codes: [], errors: 0, hits: 10 },
  { name: 'a hang', spec: { hang: true }, codes: ['ERR_CONNECT_AGENT_TIMEOUT'], errors: 2 }
]

describe('resilience: agent faults', function () {
  this.timeout(30_000)
  let agent: TestAgent
  let db: ConnectService
  let web: ConnectService
  let server: Server
  let traffic: Traffic
  const tracker = new RejectionTracker()
  const codes: string[] = []

  before(async () => {
    tracker.install()
    agent = await TestAgent.start()
    agent.upsertIntention('web', 'db', { Action: 'allow' })
    db = new ConnectService({ service: 'db', agent: { address: agent.address, env: false, timeoutMs: AGENT_TIMEOUT_MS }, watch: WATCH })
    db.on('error', (err: ConnectError) => { codes.push(err.code) })
    await db.ready({ signal: AbortSignal.timeout(10_000) })
    server = db.createServer((_req, res) => res.end('ok'))
    server.listen(0, '127.0.0.1')
    await once(server, 'listening')
    web = await staticClient(agent.ca, [`127.0.0.1:${portOf(server)}`])
    await web.ready({ signal: AbortSignal.timeout(10_000) })
    traffic = new Traffic(async () => {
      const res = await web.fetch('https://db.service.consul/', { signal: AbortSignal.timeout(5_000) })
      const text = await res.text()
      if (res.status !== 200 || text !== 'ok') throw new Error(`unexpected answer ${res.status} ${text}`)
    })
    await traffic.waitServed(3, AbortSignal.timeout(10_000))
  })

  after(async () => {
    await traffic?.stop()
    await web?.close()
    await db?.close()
    server?.closeAllConnections()
    if (server?.listening) await new Promise((resolve) => server.close(resolve))
    await agent?.close()
    tracker.dispose()
    assert.deepEqual(tracker.rejections, [], 'no unhandled rejection')
    assert.equal(traffic.failed, 0, `traffic failures: ${traffic.failures.join('; ')}`)
  })

  afterEach(() => { agent.clearFaults() })

  const counters = (path: PathName): QueryCounters => {
    const source = db.source as AgentCredentialsSource
    if (path === 'leaf') return source.counters.leaf
    if (path === 'roots') return source.counters.roots
    return db.intentionsCounters!
  }

  for (const pathName of Object.keys(PATHS) as PathName[]) {
    for (const fault of FAULTS) {
      it(`${pathName}: ${fault.name}: keeps serving from the last good state, backs off, reports, and recovers`, async () => {
        const path = PATHS[pathName]
        const signal = AbortSignal.timeout(20_000)
        const generation = db.credentials.generation
        const intentions = db.intentions
        const serial = db.identity!.serial
        const trafficBefore = traffic.snapshot()
        const codesBefore = codes.length
        const errorsBefore = counters(pathName).errors
        const requestsBefore = agent.requestCount({ path })
        const started = performance.now()

        const handle = agent.fault({ path, ...fault.spec })
        if (fault.errors > 0) {
          await until(() => counters(pathName).errors - errorsBefore >= fault.errors, signal)
        } else {
          await until(() => handle.hits >= fault.hits!, signal)
        }
        const elapsed = performance.now() - started
        const errors = counters(pathName).errors - errorsBefore
        const requests = agent.requestCount({ path }) - requestsBefore
        const reported = codes.slice(codesBefore)

        // Last good state kept; traffic unaffected.
        assert.equal(db.credentials.generation, generation, 'credentials generation unchanged')
        assert.equal(db.identity!.serial, serial)
        assert.equal(db.intentions, intentions, 'intentions unchanged')
        assert.equal(db.isReady, true)
        assert.equal(traffic.failed, trafficBefore.failed, `traffic failures: ${traffic.failures.join('; ')}`)
        const served = traffic.served - trafficBefore.served

        // Errors reported with their codes (and nothing else).
        if (fault.errors > 0) {
          assert.ok(reported.length >= fault.errors, `reported ${reported.length} errors`)
          for (const code of reported) assert.ok(fault.codes.includes(code), `unexpected code ${code} (expected ${fault.codes.join('|')})`)
          // No busy loop: each failed request costs one error, then a backoff; one more request may be in flight.
          assert.ok(requests <= errors + 2, `${requests} requests for ${errors} errors`)
          // The backoff really waited: base × n² for n = 1..errors-1 (no jitter), capped at 200 ms.
          let backoff = 0
          for (let n = 1; n < errors; n++) backoff += Math.min(200, BASE_MS * n * n)
          assert.ok(elapsed >= backoff * 0.9, `elapsed ${elapsed.toFixed(0)} ms < backoff ${backoff} ms`)
        } else {
          // Answers that return at once are paced by the rate limit (burst 2, 50/s).
          const bound = 2 + Math.ceil(elapsed / 1000 * 50) + 2
          assert.ok(requests <= bound, `${requests} requests in ${elapsed.toFixed(0)} ms (bound ${bound})`)
        }
        console.log(`resilience: ${pathName} ${fault.name} ${seconds(elapsed)} s: ${served} requests served, ${traffic.failed - trafficBefore.failed} failed, ` +
          `agent requests on the path: ${requests}, errors: ${errors} [${[...new Set(reported)].join(', ') || 'none'}], unhandled rejections: ${tracker.rejections.length}`)

        // Recovery: clear the fault; the watch on this path answers again, then a renewed leaf is picked up.
        agent.clearFaults()
        await until(() => counters(pathName).consecutiveFailures === 0, signal)
        // Two blocking calls held in a row: the first one was answered, i.e. a good round-trip after the fault.
        await agent.nextRequest({ path, held: true }, { signal })
        await agent.nextRequest({ path, held: true }, { signal })
        assert.equal(counters(pathName).consecutiveFailures, 0)
        const renewed = eventWhere<[{ serial: string }]>(db, 'leaf', (id) => id.serial !== serial, signal)
        const leaf = await agent.renewLeaf('db')
        const [identity] = await renewed
        assert.equal(identity.serial, leaf.serial)
        assert.equal(db.credentials.generation, generation + 1)
        await traffic.waitServed(2, signal)
        assert.equal(traffic.failed, 0, `traffic failures: ${traffic.failures.join('; ')}`)
        assert.deepEqual(tracker.rejections, [])
      })
    }
  }
})
