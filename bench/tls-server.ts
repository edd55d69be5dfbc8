/**
 * Per-connection cost of the library's mTLS server, against a plain Node HTTPS server doing the same
 * OpenSSL work. Not a test; run it by hand (details in bench/README.md):
 *
 *   npx tsx bench/tls-server.ts            # full run, ~70–90 s, writes bench/results/tls-server.md
 *   npx tsx bench/tls-server.ts --quick    # ~15 s smoke run, writes bench/results/tls-server-quick.md
 *
 * baseline:  `https.createServer` with the server leaf, `requestCert` + `rejectUnauthorized` + `ca` (so
 *            OpenSSL asks for and verifies the client chain), no authorization.
 * candidate: `createHttpsServer({ source: staticCredentials(...), authorizer: allowAll() })` (lib/tls/
 *            server.ts): the same handshake, plus the guard's per-connection peer check (peer.ts), the
 *            authorizer, counters and events.
 *
 * Both servers live in one child process (this file, `--serve`), the clients in this process: each side
 * gets a core of its own, and the child's `process.cpuUsage()` between two points of a round is the server
 * CPU spent on that round's connections (only one server has traffic at a time). Certificates come from
 * one TestCA: server leaf `db`, client leaf `web`, P-256 like Consul's.
 *
 * Scenarios, each as interleaved rounds (harness.ts):
 * 1. full handshakes: per connection, TCP + TLS 1.3 handshake (no session reuse), one hand-written
 *    `GET /` with `Connection: close`, read the response, close; fixed concurrency and count per round;
 * 2. resumed handshakes: the same, presenting a TLS 1.3 session ticket taken at the start of the round
 *    from the same server (no certificate exchange, so the server's own work is a larger share);
 * 3. kept-alive requests: an undici Pool of C connections (opened before timing), N GETs at concurrency C.
 *    The candidate's client uses `clientTlsOptions` (lib/tls/client.ts, expect `{ service: 'db' }`), the
 *    baseline's plain TLS options with `checkServerIdentity: () => undefined`;
 * 4. where the time goes: the guard's `secureConnection` listener is timed (CPU and wall) in place during
 *    scenarios 1 and 2, and a third, plain server times the first read of the peer certificate on each new
 *    connection, three ways in turn (see PROBE_MODES).
 *
 * Goal (from the issue): candidate ≥ 0.9 × baseline in new connections per second (scenario 1). The report
 * also gives the server-CPU view of the same question (see renderReport).
 */
import { fork } from 'node:child_process'
import https from 'node:https'
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { join, dirname } from 'node:path'
import tls from 'node:tls'
import type { ConnectionOptions, SecureContext, TLSSocket } from 'node:tls'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { Pool } from 'undici'
import { ChildRpc } from './child-rpc.js'
import { BODY, oneConnection } from './tls-client.js'
import { allowAll } from '../lib/authz/authorizer.js'
import { staticCredentials } from '../lib/identity/static-source.js'
import { TestCA } from '../lib/testing/test-ca.js'
import { clientTlsOptions } from '../lib/tls/client.js'
import { checkPeer } from '../lib/tls/peer.js'
import { createHttpsServer, tlsGuardOf } from '../lib/tls/server.js'
import {
  compareInterleaved, comparisonTable, fmt, machineInfo, machineSection, markdownTable, median, metricOf, msSince, now,
  percentile, roundsTable, runBounded, summarize, watchdog, writeReport
} from './harness.js'
import type { Comparison, Contender, Metric, RoundInfo } from './harness.js'

const SELF = fileURLToPath(import.meta.url)
const HOST = '127.0.0.1'
const GOAL_RATIO = 0.9

// ---------------------------------------------------------------------------------------------- configuration

interface Scenario {
  readonly rounds: number
  readonly minRounds: number
  /** Per contender per round. */
  readonly count: number
  readonly concurrency: number
  /** Deadline of one contender's round. */
  readonly roundMaxMs: number
  /** No new round after this (warm-up included). */
  readonly budgetMs: number
}

interface Config {
  readonly label: string
  readonly handshake: Scenario
  readonly resumed: Scenario
  readonly keepAlive: Scenario
  /** Hard stop of the whole run. */
  readonly watchdogMs: number
  readonly out: string
  /** When set, the server child runs with `--cpu-prof` and writes its profile here. */
  readonly serverCpuProf: string | undefined
  /** Connections to the probe server (split over its modes). */
  readonly probeCount: number
}

function config (argv: string[]): Config {
  const { values } = parseArgs({
    args: argv,
    options: { quick: { type: 'boolean' }, out: { type: 'string' }, 'server-cpu-prof': { type: 'string' }, serve: { type: 'boolean' } },
    strict: true
  })
  const results = join(dirname(SELF), 'results')
  const serverCpuProf = values['server-cpu-prof']
  if (values.quick === true) {
    return {
      label: 'quick',
      handshake: { rounds: 10, minRounds: 3, count: 60, concurrency: 8, roundMaxMs: 3_000, budgetMs: 5_000 },
      resumed: { rounds: 8, minRounds: 3, count: 60, concurrency: 8, roundMaxMs: 3_000, budgetMs: 2_500 },
      keepAlive: { rounds: 8, minRounds: 3, count: 500, concurrency: 8, roundMaxMs: 3_000, budgetMs: 2_500 },
      watchdogMs: 60_000,
      out: values.out ?? join(results, 'tls-server-quick.md'),
      serverCpuProf,
      probeCount: 60
    }
  }
  return {
    label: 'full',
    handshake: { rounds: 40, minRounds: 6, count: 100, concurrency: 8, roundMaxMs: 6_000, budgetMs: 36_000 },
    resumed: { rounds: 30, minRounds: 5, count: 150, concurrency: 8, roundMaxMs: 6_000, budgetMs: 14_000 },
    keepAlive: { rounds: 24, minRounds: 5, count: 2_000, concurrency: 8, roundMaxMs: 6_000, budgetMs: 14_000 },
    watchdogMs: 200_000,
    out: values.out ?? join(results, 'tls-server.md'),
    serverCpuProf,
    probeCount: 240
  }
}

// ---------------------------------------------------------------------------------------------- server child

interface InitMessage {
  readonly type: 'init'
  readonly certPem: string
  readonly keyPem: string
  readonly rootPem: string
  readonly trustDomain: string
}

type Call = InitMessage | { readonly type: 'usage' } | { readonly type: 'probe-results' } | { readonly type: 'stop' }
type Request = { readonly id: number } & Call

interface Usage {
  /** process.cpuUsage(), µs. */
  readonly userUs: number
  readonly systemUs: number
  /** The candidate guard's counters. */
  readonly accepted: number
  readonly refused: number
  readonly tlsErrors: number
  /** Inside the guard's `secureConnection` listener: wall time (ns), CPU time (µs), and how many times it ran. */
  readonly hookNs: number
  readonly hookCpuUs: number
  readonly hookCalls: number
}

/** First-call CPU cost of each way to read the peer certificate on a fresh connection, µs. */
type ProbeResults = Record<ProbeMode, readonly number[]>

interface Reply {
  readonly id: number
  readonly ports?: { readonly baseline: number, readonly candidate: number, readonly probe: number }
  readonly usage?: Usage
  readonly probe?: ProbeResults
  /** False when the guard's listener could not be found, so hookNs stays 0. */
  readonly hookTimed?: boolean
  readonly error?: string
}

/**
 * What the probe server times on each new connection (one mode per connection, in turn), right after the
 * handshake, as the first certificate read on that socket:
 * - `x509`: `getPeerX509Certificate()` plus the `fingerprint256` and `raw` that peer.ts reads from it;
 * - `legacy`: `getPeerCertificate()` (the legacy object, which also carries `raw` and `fingerprint256`);
 * - `checkPeer`: the guard's whole peer check (peer.ts; its parse cache is warm after the first connection).
 */
const PROBE_MODES = ['x509', 'legacy', 'checkPeer'] as const
type ProbeMode = typeof PROBE_MODES[number]

const handler = (_req: IncomingMessage, res: ServerResponse): void => {
  res.end(BODY)
}

/** The child: the servers on 127.0.0.1, answering the parent's RPCs until told to stop or orphaned. */
function serve (): void {
  const send = (reply: Reply): void => {
    process.send?.(reply)
  }
  let servers: https.Server[] = []
  let candidate: https.Server | undefined
  const hook: HookTime = { ns: 0, cpuUs: 0, calls: 0 }
  const probe: Record<ProbeMode, number[]> = { x509: [], legacy: [], checkPeer: [] }
  const listen = (server: https.Server): Promise<number> => new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, HOST, () => resolve((server.address() as AddressInfo).port))
  })
  const stop = (): void => {
    for (const server of servers) {
      server.closeAllConnections()
      server.close()
    }
    servers = []
    process.disconnect?.()
  }
  // The parent gone (crashed, killed, finished) means we are done too.
  process.on('disconnect', () => {
    for (const server of servers) server.close()
    setTimeout(() => process.exit(0), 200).unref()
  })
  process.on('message', (message: Request) => {
    void (async () => {
      try {
        if (message.type === 'init') {
          const plainOptions: https.ServerOptions = {
            cert: message.certPem,
            key: message.keyPem,
            ca: [message.rootPem],
            requestCert: true,
            rejectUnauthorized: true,
            minVersion: 'TLSv1.2',
            ALPNProtocols: ['http/1.1']
          }
          const baseline = https.createServer(plainOptions, handler)
          const source = staticCredentials({
            identity: { certPem: message.certPem, keyPem: message.keyPem },
            bundle: { trustDomain: message.trustDomain, rootsPem: message.rootPem }
          })
          candidate = createHttpsServer({ source, authorizer: allowAll() }, handler)
          const hookTimed = timeGuardListener(candidate, hook)
          const probeServer = https.createServer(plainOptions, handler)
          let next = 0
          probeServer.prependListener('secureConnection', (socket: TLSSocket) => {
            const mode = PROBE_MODES[next++ % PROBE_MODES.length]!
            const c0 = process.cpuUsage()
            if (mode === 'x509') {
              const x509 = socket.getPeerX509Certificate()
              void x509?.fingerprint256
              void x509?.raw
            } else if (mode === 'legacy') {
              const legacy = socket.getPeerCertificate()
              void legacy.fingerprint256
              void legacy.raw
            } else {
              checkPeer(socket)
            }
            const cpu = process.cpuUsage(c0)
            probe[mode].push(cpu.user + cpu.system)
          })
          servers = [baseline, candidate, probeServer]
          send({
            id: message.id,
            hookTimed,
            ports: { baseline: await listen(baseline), candidate: await listen(candidate), probe: await listen(probeServer) }
          })
        } else if (message.type === 'usage') {
          const cpu = process.cpuUsage()
          const counters = candidate === undefined ? undefined : tlsGuardOf(candidate)?.counters
          send({
            id: message.id,
            usage: {
              userUs: cpu.user,
              systemUs: cpu.system,
              accepted: counters?.accepted ?? 0,
              refused: counters?.refused ?? 0,
              tlsErrors: counters?.tlsErrors ?? 0,
              hookNs: hook.ns,
              hookCpuUs: hook.cpuUs,
              hookCalls: hook.calls
            }
          })
        } else if (message.type === 'probe-results') {
          send({ id: message.id, probe })
        } else {
          send({ id: message.id })
          stop()
        }
      } catch (err) {
        send({ id: message.id, error: (err as Error)?.stack ?? String(err) })
      }
    })()
  })
}

interface HookTime {
  ns: number
  cpuUs: number
  calls: number
}

/**
 * Wraps the guard's `secureConnection` listener (guard.ts prepends it, so it is the first one, and its
 * name is `#onSecureConnection`) in a timer, keeping its place. Returns false, and leaves the server alone,
 * if the listener is not where expected.
 *
 * CPU time (`process.cpuUsage()`, all threads, but the others are idle here) is the figure to read: on a
 * loaded machine the wall time of a few hundred µs of work often includes being descheduled. The two
 * getrusage and two hrtime calls cost a few µs, far below what is measured.
 */
function timeGuardListener (server: https.Server, into: HookTime): boolean {
  const listeners = server.rawListeners('secureConnection') as Array<(socket: TLSSocket) => void>
  const guard = listeners[0]
  if (guard === undefined || guard.name !== '#onSecureConnection') return false
  server.removeListener('secureConnection', guard)
  server.prependListener('secureConnection', function timed (this: https.Server, socket: TLSSocket) {
    const c0 = process.cpuUsage()
    const t0 = now()
    try {
      guard.call(this, socket)
    } finally {
      into.ns += Number(now() - t0)
      const cpu = process.cpuUsage(c0)
      into.cpuUs += cpu.user + cpu.system
      into.calls++
    }
  })
  return true
}

/** The parent's handle on the child. */
class ServerProcess {
  readonly #rpc: ChildRpc<Call, Reply>

  constructor (cpuProfDir: string | undefined) {
    // Runs under tsx as we do (our execArgv carries its loader).
    const execArgv = cpuProfDir === undefined ? process.execArgv : [...process.execArgv, '--cpu-prof', `--cpu-prof-dir=${cpuProfDir}`]
    this.#rpc = new ChildRpc(fork(SELF, ['--serve'], { execArgv, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }), 'server process')
  }

  async call (request: Call, timeoutMs = 10_000): Promise<Reply> {
    return await this.#rpc.call(request, timeoutMs)
  }

  async usage (): Promise<Usage> {
    const reply = await this.call({ type: 'usage' })
    if (reply.usage === undefined) throw new Error('server process: no usage in the answer')
    return reply.usage
  }

  async stop (): Promise<void> {
    try {
      await this.call({ type: 'stop' }, 3_000)
    } catch {
      // fall through to kill
    }
    await this.#rpc.exit(2_000)
  }
}

const cpuUs = (u: Usage): number => u.userUs + u.systemUs

// ---------------------------------------------------------------------------------------------- clients

/** A TLS 1.3 session ticket from `port`: one untimed connection, keeping the last ticket it received. */
async function takeTicket (port: number, context: SecureContext): Promise<Buffer> {
  let ticket: Buffer | undefined
  await oneConnection(port, context, undefined, undefined, (session) => { ticket = session })
  if (ticket === undefined) throw new Error(`no session ticket from port ${port}`)
  return ticket
}

/** Problems seen during the run (failed connections...), for the console and the report. */
const problems: string[] = []

function noteFailures (what: string, failed: number, errors: readonly string[], info: RoundInfo): void {
  if (failed > 0) problems.push(`${what}, round ${info.warmup ? 'warm-up' : info.index + 1}: ${failed} failed (${errors.join('; ')})`)
}

const handshakeMetrics: readonly Metric[] = [
  { key: 'perSecond', label: 'new connections/s', unit: 'conn/s', better: 'higher', digits: 0 },
  { key: 'serverCpuUs', label: 'server CPU per connection', unit: 'µs', better: 'lower', digits: 0 },
  { key: 'capacity', label: 'server capacity when CPU-bound (1 s ÷ server CPU per connection)', unit: 'conn/CPU-s', better: 'higher', digits: 0 },
  { key: 'hookCpuUs', label: 'CPU in the guard\'s secureConnection listener (candidate only)', unit: 'µs/conn', better: 'lower', digits: 0 },
  { key: 'hookWallUs', label: 'wall time in that listener (candidate only)', unit: 'µs/conn', better: 'lower', digits: 0 },
  { key: 'p50', label: 'connection latency p50', unit: 'ms', better: 'lower', digits: 2 },
  { key: 'p99', label: 'connection latency p99', unit: 'ms', better: 'lower', digits: 2 }
]

const resumedMetrics: readonly Metric[] = [
  ...handshakeMetrics,
  { key: 'reused', label: 'sessions resumed', unit: 'fraction', better: 'higher', digits: 3 }
]

function handshakeContender (name: string, port: number, server: ServerProcess, context: SecureContext, scenario: Scenario, resume: boolean): Contender {
  return {
    name,
    run: async (info) => {
      const ticket = resume ? await takeTicket(port, context) : undefined
      let reused = 0
      const before = await server.usage()
      const loop = await runBounded(
        { count: info.warmup ? Math.ceil(scenario.count / 3) : scenario.count, concurrency: scenario.concurrency, maxMs: scenario.roundMaxMs },
        async (_index, signal) => {
          const result = await oneConnection(port, context, ticket, signal)
          if (result.reused) reused++
        })
      const after = await server.usage()
      noteFailures(`${resume ? 'resumed' : 'full'} handshakes, ${name}`, loop.failed, loop.errors, info)
      const hookCalls = after.hookCalls - before.hookCalls
      const serverCpuUs = (cpuUs(after) - cpuUs(before)) / Math.max(1, loop.completed + loop.failed)
      return {
        perSecond: loop.perSecond,
        serverCpuUs,
        capacity: 1e6 / serverCpuUs,
        hookCpuUs: hookCalls === 0 ? Number.NaN : (after.hookCpuUs - before.hookCpuUs) / hookCalls,
        hookWallUs: hookCalls === 0 ? Number.NaN : (after.hookNs - before.hookNs) / 1000 / hookCalls,
        p50: percentile(loop.latenciesMs, 50),
        p99: percentile(loop.latenciesMs, 99),
        failed: loop.failed,
        reused: reused / Math.max(1, loop.completed)
      }
    }
  }
}

const keepAliveMetrics: readonly Metric[] = [
  { key: 'perSecond', label: 'requests/s', unit: 'req/s', better: 'higher', digits: 0 },
  { key: 'serverCpuUs', label: 'server CPU per request', unit: 'µs', better: 'lower', digits: 1 },
  { key: 'p50', label: 'request latency p50', unit: 'ms', better: 'lower', digits: 3 },
  { key: 'p99', label: 'request latency p99', unit: 'ms', better: 'lower', digits: 3 }
]

async function get (pool: Pool, signal?: AbortSignal): Promise<void> {
  const { statusCode, body } = await pool.request({ path: '/', method: 'GET', ...(signal === undefined ? {} : { signal }) })
  const text = await body.text()
  if (statusCode !== 200 || text !== BODY) throw new Error(`unexpected response ${statusCode} ${JSON.stringify(text.slice(0, 40))}`)
}

function keepAliveContender (name: string, port: number, server: ServerProcess, connect: ConnectionOptions, scenario: Scenario): Contender {
  return {
    name,
    run: async (info) => {
      // A fresh pool per round; its connections are opened (and handshakes paid) before timing starts.
      const pool = new Pool(`https://${HOST}:${port}`, {
        connections: scenario.concurrency,
        pipelining: 1,
        // Node's ConnectionOptions allow `port: undefined`, undici's typings do not; neither is set here.
        connect: { ...connect, maxCachedSessions: 0 } as NonNullable<Pool.Options['connect']>,
        connectTimeout: 10_000,
        headersTimeout: 10_000,
        bodyTimeout: 10_000
      })
      try {
        await Promise.all(Array.from({ length: scenario.concurrency }, () => get(pool)))
        if (pool.stats.connected !== scenario.concurrency) {
          problems.push(`kept-alive, ${name}: ${pool.stats.connected} connections open after warming, wanted ${scenario.concurrency}`)
        }
        const before = await server.usage()
        const loop = await runBounded(
          { count: info.warmup ? Math.ceil(scenario.count / 3) : scenario.count, concurrency: scenario.concurrency, maxMs: scenario.roundMaxMs },
          (_index, signal) => get(pool, signal))
        const after = await server.usage()
        noteFailures(`kept-alive, ${name}`, loop.failed, loop.errors, info)
        return {
          perSecond: loop.perSecond,
          serverCpuUs: (cpuUs(after) - cpuUs(before)) / Math.max(1, loop.completed + loop.failed),
          p50: percentile(loop.latenciesMs, 50),
          p99: percentile(loop.latenciesMs, 99),
          failed: loop.failed
        }
      } finally {
        await pool.destroy()
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------- main

async function main (cfg: Config): Promise<void> {
  const machine = machineInfo()
  const started = now()
  const dog = watchdog(cfg.watchdogMs, 'bench/tls-server')
  const log = (line: string): void => console.log(`[${(msSince(started) / 1000).toFixed(1).padStart(5)} s] ${line}`)
  log(`${cfg.label} run on ${machine.cpuModel} × ${machine.cores}, Node ${machine.node}, load ${machine.loadAtStart.map((l) => l.toFixed(2)).join(' ')}`)

  const ca = await TestCA.create()
  const serverLeaf = await ca.issueLeaf({ service: 'db' })
  const clientLeaf = await ca.issueLeaf({ service: 'web' })
  const server = new ServerProcess(cfg.serverCpuProf)
  try {
    const init = await server.call({ type: 'init', certPem: serverLeaf.certPem, keyPem: serverLeaf.keyPem, rootPem: ca.rootPem, trustDomain: ca.trustDomain })
    const ports = init.ports
    if (ports === undefined) throw new Error('server process: no ports')

    // Scenario 1 and 2 clients: one shared context (the client's work is the same for both servers).
    const clientContext = tls.createSecureContext({ cert: clientLeaf.certPem, key: clientLeaf.keyPem, ca: [ca.rootPem], minVersion: 'TLSv1.2' })
    const sanity = await sanityChecks(ports, clientContext, ca.rootPem, server)
    if (init.hookTimed !== true) problems.push('the guard\'s secureConnection listener was not found first (guard.ts changed?): its time is not measured')
    log(`sanity: ${sanity.map(([what, outcome]) => `${what}: ${outcome}`).join('; ')}`)

    const full = await compareInterleaved('full handshakes',
      handshakeContender('baseline', ports.baseline, server, clientContext, cfg.handshake, false),
      handshakeContender('candidate', ports.candidate, server, clientContext, cfg.handshake, false),
      { metrics: handshakeMetrics, rounds: cfg.handshake.rounds, minRounds: cfg.handshake.minRounds, budgetMs: cfg.handshake.budgetMs, log })

    const resumed = await compareInterleaved('resumed handshakes',
      handshakeContender('baseline', ports.baseline, server, clientContext, cfg.resumed, true),
      handshakeContender('candidate', ports.candidate, server, clientContext, cfg.resumed, true),
      { metrics: resumedMetrics, rounds: cfg.resumed.rounds, minRounds: cfg.resumed.minRounds, budgetMs: cfg.resumed.budgetMs, log })

    const clientSource = staticCredentials({
      identity: { certPem: clientLeaf.certPem, keyPem: clientLeaf.keyPem },
      bundle: { trustDomain: ca.trustDomain, rootsPem: ca.rootPem }
    })
    const libraryClient = clientTlsOptions(clientSource.credentials, { service: 'db' })
    const plainClient: ConnectionOptions = {
      cert: clientLeaf.certPem, key: clientLeaf.keyPem, ca: [ca.rootPem], minVersion: 'TLSv1.2', checkServerIdentity: () => undefined
    }
    const keepAlive = await compareInterleaved('kept-alive requests',
      keepAliveContender('baseline', ports.baseline, server, plainClient, cfg.keepAlive),
      keepAliveContender('candidate', ports.candidate, server, libraryClient, cfg.keepAlive),
      { metrics: keepAliveMetrics, rounds: cfg.keepAlive.rounds, minRounds: cfg.keepAlive.minRounds, budgetMs: cfg.keepAlive.budgetMs, log })
    await clientSource.close()

    const probe = await probePeerReads(ports.probe, clientContext, cfg.probeCount, server)
    log(`probe: ${PROBE_MODES.map((m) => `${m} ${fmt(median(probe[m]), 0)} µs`).join(', ')} (first read on a connection, median)`)

    const counters = await server.usage()
    const totalMs = msSince(started)
    const report = renderReport({ cfg, machine, sanity, full, resumed, keepAlive, probe, counters, totalMs })
    await writeReport(cfg.out, report.markdown)
    console.log(`\n${report.console}\n`)
    log(`report written to ${cfg.out}`)
    if (problems.length > 0) process.exitCode = 1
  } finally {
    await server.stop()
    dog.cancel()
  }
}

/**
 * `count` connections to the probe server (one mode each, in turn), then the first-read timings it took.
 */
async function probePeerReads (port: number, context: SecureContext, count: number, server: ServerProcess): Promise<ProbeResults> {
  const loop = await runBounded({ count, concurrency: 4, maxMs: 10_000 }, async (_index, signal) => {
    await oneConnection(port, context, undefined, signal)
  })
  noteFailures('peer-read probe', loop.failed, loop.errors, { index: 0, warmup: false })
  const reply = await server.call({ type: 'probe-results' })
  if (reply.probe === undefined) throw new Error('server process: no probe results')
  // The first connection of each mode warms caches (peer.ts parses the certificate once): leave it out.
  const all = reply.probe
  return { x509: all.x509.slice(1), legacy: all.legacy.slice(1), checkPeer: all.checkPeer.slice(1) }
}

/** Untimed checks that both servers do the work they are said to do. */
async function sanityChecks (ports: { baseline: number, candidate: number }, context: SecureContext, rootPem: string, server: ServerProcess): Promise<Array<[string, string]>> {
  const out: Array<[string, string]> = []
  const before = await server.usage()
  for (const [name, port] of [['baseline', ports.baseline], ['candidate', ports.candidate]] as const) {
    await oneConnection(port, context, undefined, undefined)
    out.push([`${name}, client leaf of the same CA`, 'served'])
    // A client whose leaf comes from another CA (but which trusts the server) must be refused by both: both
    // really verify the client chain.
    const other = await TestCA.create()
    const stranger = await other.issueLeaf({ service: 'web' })
    const strangerContext = tls.createSecureContext({ cert: stranger.certPem, key: stranger.keyPem, ca: [rootPem] })
    try {
      await oneConnection(port, strangerContext, undefined, undefined)
      throw new Error(`${name} served a client whose certificate comes from another CA`)
    } catch (err) {
      if ((err as Error).message.includes('served a client')) throw err
      out.push([`${name}, client leaf of another CA`, 'refused'])
    }
  }
  const after = await server.usage()
  if (after.accepted - before.accepted !== 1 || after.refused - before.refused + after.tlsErrors - before.tlsErrors < 1) {
    throw new Error(`candidate guard counters moved unexpectedly: accepted +${after.accepted - before.accepted}, refused +${after.refused - before.refused}, TLS errors +${after.tlsErrors - before.tlsErrors}`)
  }
  out.push(['candidate guard counters', `accepted +${after.accepted - before.accepted}, refused +${after.refused - before.refused}, TLS errors +${after.tlsErrors - before.tlsErrors}`])
  return out
}

interface ReportInput {
  readonly cfg: Config
  readonly machine: ReturnType<typeof machineInfo>
  readonly sanity: ReadonlyArray<[string, string]>
  readonly full: Comparison
  readonly resumed: Comparison
  readonly keepAlive: Comparison
  readonly probe: ProbeResults
  readonly counters: Usage
  readonly totalMs: number
}

/** Whether the candidate keeps ≥ GOAL_RATIO × the baseline on `key` (higher is better), and how firmly. */
function verdict (c: Comparison, key: string, what: string): { met: boolean, line: string } {
  const m = metricOf(c, key)
  const below = c.rounds.filter((r) => (r.candidate[key] ?? 0) / (r.baseline[key] ?? 1) < GOAL_RATIO).length
  const met = m.ratio.median >= GOAL_RATIO
  const firmness = m.ratio.p25 >= GOAL_RATIO
    ? 'the whole interquartile range of the ratio is above the goal'
    : m.ratio.p75 < GOAL_RATIO
      ? 'the whole interquartile range of the ratio is below the goal'
      : 'the interquartile range of the ratio straddles the goal: at this noise level the verdict is not firm'
  return {
    met,
    line: `${met ? '**MET**' : '**NOT MET**'} on ${what}: candidate/baseline = ${fmt(m.ratio.median, 3)} ` +
      `(median of ${m.ratio.n} paired rounds; IQR ${fmt(m.ratio.p25, 3)}–${fmt(m.ratio.p75, 3)}, min ${fmt(m.ratio.min, 3)}, max ${fmt(m.ratio.max, 3)}; ` +
      `goal ≥ ${GOAL_RATIO}); ${firmness}. ${below} of ${c.rounds.length} rounds were below ${GOAL_RATIO}.`
  }
}

function scenarioLine (s: Scenario): string {
  return `${s.rounds} rounds wanted (at least ${s.minRounds}, no new round after ${s.budgetMs / 1000} s), ` +
    `${s.count} per contender per round at concurrency ${s.concurrency}, each round capped at ${s.roundMaxMs / 1000} s`
}

function section (c: Comparison, what: string, scenario: Scenario, keys: readonly string[]): string {
  return [
    `## ${c.title[0]!.toUpperCase()}${c.title.slice(1)}`,
    '',
    what,
    '',
    `Plan: ${scenarioLine(scenario)}. Took ${c.rounds.length} rounds in ${(c.elapsedMs / 1000).toFixed(1)} s` +
      `${c.stoppedByBudget ? ' (stopped by the time budget)' : ''}.`,
    '',
    comparisonTable(c),
    '',
    '<details><summary>Every round</summary>',
    '',
    roundsTable(c, keys),
    '',
    '</details>',
    ''
  ].join('\n')
}

/** Where the candidate's extra server time goes: the guard listener's share, and the cost of reading the peer. */
function whereSection (full: Comparison, resumed: Comparison, probe: ProbeResults): string {
  const lines = [
    '## Where the candidate\'s extra server time goes',
    ''
  ]
  for (const c of [full, resumed]) {
    const cpu = metricOf(c, 'serverCpuUs')
    const hook = metricOf(c, 'hookCpuUs')
    const extra = cpu.candidate.median - cpu.baseline.median
    lines.push(`- ${c.title}: the candidate spends ${fmt(extra, 0)} µs more server CPU per connection than the baseline ` +
      `(medians, ${fmt(cpu.baseline.median, 0)} → ${fmt(cpu.candidate.median, 0)} µs, a noisy difference); the guard's ` +
      `\`secureConnection\` listener (peer check, authorizer, counters, event), timed directly, takes ${fmt(hook.candidate.median, 0)} µs ` +
      `of CPU per connection: from that alone, ${impliedLine(c)}.`)
  }
  const rows = PROBE_MODES.map((m) => {
    const s = summarize(probe[m])
    return [PROBE_LABELS[m], String(s.n), fmt(s.median, 1), fmt(s.p25, 1), fmt(s.p75, 1), fmt(percentile(probe[m], 90), 1)]
  })
  lines.push('',
    'Reading the peer certificate, timed (CPU) in isolation on a plain HTTPS server: the first read on each new connection,',
    'one way per connection in turn, right after the handshake:',
    '',
    markdownTable(['what', 'connections', 'median CPU µs', 'p25', 'p75', 'p90'], rows, ['l', 'r', 'r', 'r', 'r', 'r']),
    '',
    'See bench/README.md ("Findings") for what a native profile shows inside these calls.',
    '')
  return lines.join('\n')
}

/**
 * The capacity ratio implied by the directly timed listener alone: baseline CPU ÷ (baseline CPU + listener
 * CPU). Steadier than the ratio of two noisy CPU totals, since the listener is all the candidate adds per
 * connection (the handshake itself is the same OpenSSL work).
 */
function implied (c: Comparison): number {
  return metricOf(c, 'serverCpuUs').baseline.median / (metricOf(c, 'serverCpuUs').baseline.median + metricOf(c, 'hookCpuUs').candidate.median)
}

function impliedLine (c: Comparison): string {
  const ratio = implied(c)
  return `implied capacity ratio ${fmt(ratio, 3)} (${ratio >= GOAL_RATIO ? 'meets' : 'misses'} the ${GOAL_RATIO} goal)`
}

const PROBE_LABELS: Record<ProbeMode, string> = {
  x509: '`socket.getPeerX509Certificate()` + `.fingerprint256` + `.raw` (what peer.ts reads)',
  legacy: '`socket.getPeerCertificate()` + `.fingerprint256` + `.raw`',
  checkPeer: '`checkPeer(socket)` (peer.ts, whole check, parse cache warm)'
}

function renderReport (input: ReportInput): { markdown: string, console: string } {
  const { cfg, machine, sanity, full, resumed, keepAlive, probe, counters, totalMs } = input
  const goal = verdict(full, 'perSecond', 'new connections per second (end to end, the issue\'s measure)')
  const capacity = verdict(full, 'capacity', 'server capacity when CPU-bound (server CPU per connection)')
  const markdown = [
    `# mTLS server: per-connection cost (${cfg.label} run)`,
    '',
    'Generated by `npx tsx bench/tls-server.ts' + (cfg.label === 'quick' ? ' --quick' : '') + '`; see bench/README.md for the method.',
    '',
    `Goal: the library's server (candidate) keeps at least ${GOAL_RATIO} × the new-connection rate of a plain Node HTTPS`,
    'server doing the same OpenSSL work (baseline).',
    '',
    `- ${goal.line}`,
    `- ${capacity.line}`,
    `- Estimate from the directly timed guard listener (${fmt(metricOf(full, 'hookCpuUs').candidate.median, 0)} µs of CPU per full handshake, ` +
      `see "Where the candidate's extra server time goes"): ${impliedLine(full)}.`,
    '',
    'Read the first with the second: client and server each need a few ms of CPU per full handshake on this machine, so',
    'end-to-end connections per second depend on the client and on other load as much as on the server; the server\'s own',
    'CPU per connection is what the library adds to, and the directly timed listener is the steadiest figure.',
    '',
    '## Machine',
    '',
    machineSection(machine),
    '',
    'The machine is shared with other work (test suites); absolute figures drift, the paired ratios are what to read.',
    `Whole run: ${(totalMs / 1000).toFixed(1)} s.`,
    '',
    '## Setup',
    '',
    '- baseline: `https.createServer({ cert, key, ca: [root], requestCert: true, rejectUnauthorized: true, minVersion: \'TLSv1.2\', ALPNProtocols: [\'http/1.1\'] })`, no authorization;',
    '- candidate: `createHttpsServer({ source: staticCredentials(...), authorizer: allowAll() })` from lib/tls/server.ts;',
    '- both answer every request with `200 ok`, in one child process (server CPU = its `process.cpuUsage()` across a round); clients in the parent;',
    '- certificates from one TestCA (P-256 ECDSA): server leaf `db`, client leaf `web`; TLS 1.3 (Node\'s default maximum);',
    '- rounds alternate baseline and candidate, the order flipping each round; one warm-up round (a third of the count) each first;',
    '- "±" after a median is half the interquartile range across rounds, relative to the median; ratios are per round (paired), then summarised.',
    '',
    section(full, 'Each connection: TCP connect, full TLS 1.3 handshake with client certificate (no session reuse), a hand-written `GET /` with `Connection: close`, the response read to the end, closed.', cfg.handshake, ['perSecond', 'serverCpuUs']),
    section(resumed, 'As above, but every connection presents a TLS 1.3 session ticket taken (untimed) from the same server at the start of the round: no certificates are exchanged, and the candidate still checks the peer (from the session) and authorizes it.', cfg.resumed, ['perSecond', 'serverCpuUs', 'reused']),
    section(keepAlive, 'An undici `Pool` with C connections to the server (opened before timing), `GET /` requests at concurrency C over them. Client TLS options: candidate `clientTlsOptions(credentials, { service: \'db\' })` (lib/tls/client.ts), baseline plain `{ cert, key, ca, checkServerIdentity: () => undefined }`; undici session cache off for both.', cfg.keepAlive, ['perSecond', 'serverCpuUs']),
    whereSection(full, resumed, probe),
    '## Sanity checks',
    '',
    markdownTable(['check', 'outcome'], sanity.map(([a, b]) => [a, b])),
    '',
    `Candidate guard counters at the end: accepted ${counters.accepted}, refused ${counters.refused}, TLS errors ${counters.tlsErrors}.`,
    '',
    '## Problems',
    '',
    problems.length === 0 ? 'None: every connection and request of every round succeeded.' : problems.map((p) => `- ${p}`).join('\n'),
    ''
  ].join('\n')
  const consoleText = [
    `=== ${full.title} ===`, comparisonTable(full), '',
    `=== ${resumed.title} ===`, comparisonTable(resumed), '',
    `=== ${keepAlive.title} ===`, comparisonTable(keepAlive), '',
    `Goal (candidate ≥ ${GOAL_RATIO} × baseline):`,
    `- ${goal.line.replace(/\*\*/g, '')}`,
    `- ${capacity.line.replace(/\*\*/g, '')}`,
    `- from the directly timed guard listener (${fmt(metricOf(full, 'hookCpuUs').candidate.median, 0)} µs CPU per full handshake): ${impliedLine(full)}`,
    `- reading the peer certificate, first read on a connection (median CPU µs): ${PROBE_MODES.map((m) => `${m} ${fmt(median(probe[m]), 0)}`).join(', ')}`,
    problems.length === 0 ? 'No failures.' : `Problems:\n${problems.map((p) => `- ${p}`).join('\n')}`
  ].join('\n')
  return { markdown, console: consoleText }
}

// ---------------------------------------------------------------------------------------------- entry

const cfg = config(process.argv.slice(2))
if (process.argv.includes('--serve')) {
  serve()
} else {
  await main(cfg)
}
