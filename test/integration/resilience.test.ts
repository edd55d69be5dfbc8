/**
 * Resilience against a real agent (project issue 6): a single-server Consul agent with a persistent data dir
 * (so its CA survives a restart, unlike `-dev`) is killed with SIGKILL while traffic flows between two services.
 * Traffic keeps flowing from cached state, the watches back off and report errors, and after the agent is
 * restarted on the same ports and data dir the services recover (an intention written after the restart
 * reaches an intentions watch, and the credentials watches answer again).
 */
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import type { Server } from 'node:https'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { allowAll } from '../../lib/authz/authorizer.js'
import type { ConnectError } from '../../lib/errors.js'
import type { AgentCredentialsSource } from '../../lib/identity/agent-source.js'
import { staticResolver } from '../../lib/net/static-resolver.js'
import { ConnectService } from '../../lib/service.js'
import { RejectionTracker, Traffic, eventWhere, portOf, seconds, until } from '../resilience/support.js'
import { consulBinary, freePort } from './support/consul-agent.js'

const WATCH = { backoff: { baseMs: 100, capMs: 1_000, jitter: 'none' }, rateLimit: { burst: 2, perSecond: 20 }, waitMs: 2_000 } as const

/** A single-server agent whose state (CA included) lives in a data dir that survives restarts. */
class PersistentAgent {
  child: ChildProcess | undefined
  log = ''
  constructor (readonly dataDir: string, readonly configFile: string, readonly httpPort: number) {}

  static async create (): Promise<PersistentAgent> {
    const dataDir = await mkdtemp(join(tmpdir(), 'ccn-resilience-'))
    const [http, grpc, server, serfLan, serfWan] = await Promise.all([freePort(), freePort(), freePort(), freePort(), freePort()])
    const hcl = [
      'node_name = "ccn-resilience"', 'datacenter = "dc1"', `data_dir = "${dataDir}/data"`,
      'server = true', 'bootstrap_expect = 1', 'bind_addr = "127.0.0.1"', 'client_addr = "127.0.0.1"', 'advertise_addr = "127.0.0.1"',
      'log_level = "warn"', 'disable_update_check = true', 'performance { raft_multiplier = 1 }',
      `ports { http = ${http}, https = -1, grpc = ${grpc}, grpc_tls = -1, dns = -1, server = ${server}, serf_lan = ${serfLan}, serf_wan = ${serfWan} }`,
      'connect { enabled = true }'
    ].join('\n')
    const configFile = join(dataDir, 'agent.hcl')
    await writeFile(configFile, hcl)
    return new PersistentAgent(dataDir, configFile, http)
  }

  get address (): string { return `127.0.0.1:${this.httpPort}` }

  async start (signal: AbortSignal): Promise<void> {
    const child = spawn(consulBinary(), ['agent', `-config-file=${this.configFile}`], { stdio: ['ignore', 'pipe', 'pipe'] })
    this.child = child
    child.stdout?.on('data', (d: Buffer) => { this.log = (this.log + d.toString()).slice(-10_000) })
    child.stderr?.on('data', (d: Buffer) => { this.log = (this.log + d.toString()).slice(-10_000) })
    // Readiness (not test synchronization): a leader and an active CA root, polled with a bounded count.
    for (let i = 0; i < 600; i++) {
      signal.throwIfAborted()
      if (child.exitCode !== null) throw new Error(`consul exited: ${this.log}`)
      try {
        const roots = await this.api('GET', '/v1/agent/connect/ca/roots') as { Roots?: Array<{ ID: string }> }
        if (roots.Roots !== undefined && roots.Roots.length > 0) return
      } catch {
        // not up yet
      }
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
    throw new Error(`consul did not become ready: ${this.log}`)
  }

  async kill (): Promise<void> {
    const child = this.child
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) return
    const exited = once(child, 'exit')
    child.kill('SIGKILL')
    await exited
  }

  async api (method: string, path: string, body?: unknown): Promise<unknown> {
    const res = await fetch(`http://${this.address}${path}`, { method, ...(body !== undefined ? { body: JSON.stringify(body) } : {}), signal: AbortSignal.timeout(5_000) })
    const text = await res.text()
    if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text}`)
    return text.length > 0 ? JSON.parse(text) : undefined
  }

  async dispose (): Promise<void> {
    await this.kill()
    await rm(this.dataDir, { recursive: true, force: true })
  }
}

describe('resilience: the real agent killed while traffic flows', function () {
  this.timeout(120_000)
  let agent: PersistentAgent
  const cleanups: Array<() => unknown> = []
  const tracker = new RejectionTracker()

  before(async () => {
    tracker.install()
    agent = await PersistentAgent.create()
    await agent.start(AbortSignal.timeout(60_000))
  })
  after(async () => {
    for (const fn of cleanups.splice(0).reverse()) await fn()
    await agent?.dispose()
    tracker.dispose()
    assert.deepEqual(tracker.rejections, [], 'no unhandled rejection')
  })

  it('keeps serving from cached state, backs off, and recovers after a restart with the same CA', async () => {
    const signal = AbortSignal.timeout(100_000)
    const rootsBefore = await agent.api('GET', '/v1/agent/connect/ca/roots') as { ActiveRootID: string }
    const agentOptions = { address: agent.address, env: false, timeoutMs: 1_000 } as const
    const db = new ConnectService({ service: 'db', agent: agentOptions, authorizer: allowAll(), watch: WATCH })
    cleanups.push(() => db.close())
    const errors: ConnectError[] = []
    db.on('error', (err) => errors.push(err))
    await db.ready({ signal })
    const server: Server = db.createServer((_req, res) => res.end('ok'))
    server.listen(0, '127.0.0.1')
    await once(server, 'listening')
    cleanups.push(() => new Promise((resolve) => { server.closeAllConnections(); server.close(resolve) }))
    const web = new ConnectService({ service: 'web', agent: agentOptions, authorizer: allowAll(), resolver: staticResolver({ db: [`127.0.0.1:${portOf(server)}`] }), watch: WATCH })
    cleanups.push(() => web.close())
    web.on('error', () => {})
    // Watches intentions only, to see a fresh blocking round after the restart.
    const api = new ConnectService({ service: 'api', agent: agentOptions, intentions: { defaultAllow: true }, watch: WATCH })
    cleanups.push(() => api.close())
    api.on('error', () => {})
    await Promise.all([web.ready({ signal }), api.ready({ signal })])

    const traffic = new Traffic(async () => {
      const res = await web.fetch('https://db.service.consul/', { signal: AbortSignal.timeout(5_000) })
      const text = await res.text()
      if (res.status !== 200 || text !== 'ok') throw new Error(`unexpected answer ${res.status} ${text}`)
    })
    cleanups.push(() => traffic.stop())
    await traffic.waitServed(3, signal)
    const generation = db.credentials.generation
    const source = db.source as AgentCredentialsSource
    const before = { served: traffic.served, leafRequests: source.counters.leaf.requests, rootsRequests: source.counters.roots.requests, errors: errors.length }

    // Down: SIGKILL. The watches fail and back off; traffic keeps flowing from cached state.
    await agent.kill()
    const downAt = performance.now()
    await until(() => errors.length - before.errors >= 10, signal, 20)
    await traffic.waitServed(20, signal)
    const downMs = performance.now() - downAt
    const watchRequests = (source.counters.leaf.requests - before.leafRequests) + (source.counters.roots.requests - before.rootsRequests)
    const watchErrors = errors.length - before.errors
    const served = traffic.served - before.served
    assert.equal(traffic.failed, 0, `traffic failures: ${traffic.failures.join('; ')}`)
    assert.equal(db.credentials.generation, generation)
    assert.ok(errors.slice(before.errors).every((e) => e.code === 'ERR_CONNECT_AGENT_UNREACHABLE' || e.code === 'ERR_CONNECT_AGENT_TIMEOUT'), errors.map((e) => e.code).join(','))
    // Backoff (100 ms × n², capped at 1 s) and the rate limit (burst 2, 20/s) bound the watch requests.
    const bound = 2 * (2 + Math.ceil(downMs / 1000 * 20))
    assert.ok(watchRequests <= bound, `${watchRequests} watch requests in ${downMs.toFixed(0)} ms (bound ${bound})`)

    // Up again: same ports, same data dir, same CA.
    await agent.start(signal)
    const upAt = performance.now()
    const rootsAfter = await agent.api('GET', '/v1/agent/connect/ca/roots') as { ActiveRootID: string }
    assert.equal(rootsAfter.ActiveRootID, rootsBefore.ActiveRootID, 'the CA survived the restart')
    const changed = eventWhere(api, 'intentions', () => true, signal)
    await agent.api('PUT', '/v1/connect/intentions/exact?source=web&destination=api', { Action: 'deny' })
    await changed
    assert.equal(api.intentions?.size, 1)
    await until(() => source.counters.leaf.consecutiveFailures === 0 && source.counters.roots.consecutiveFailures === 0, signal, 20)
    await traffic.waitServed(5, signal)
    await traffic.stop()
    assert.equal(traffic.failed, 0, `traffic failures: ${traffic.failures.join('; ')}`)
    console.log(`resilience: agent down ${seconds(downMs)} s: ${served} requests served, ${traffic.failed} failed, watch requests during outage: ${watchRequests} ` +
      `(errors ${watchErrors}); recovered ${seconds(performance.now() - upAt)} s after restart (intention seen by the watch, credentials watches answering, CA ${rootsAfter.ActiveRootID.slice(0, 17)}… unchanged)`)
  })
})
