/**
 * Scenario `latency`: request latency and throughput of a native Node client calling a native Node server
 * (this library on both ends, one mTLS hop), against the same two apps talking plain HTTP through a pair of
 * `consul connect proxy` sidecars (Consul's Go-SDK-based proxy): the path a Connect-native app replaces.
 *
 *   npx tsx bench/scenarios/latency.ts [--quick]      # alone: prints the Markdown section on stdout
 *
 * Set-up (everything on 127.0.0.1, one `consul agent -dev` started here and always stopped):
 * - a child process (latency-server.ts) serves one small handler twice: `ConnectService('bench-api')` +
 *   `svc.createServer` (registered as a Connect-native service), and a plain `http.createServer`;
 * - `consul connect proxy -service bench-api-sc -service-addr <plain app> -listen <public>` in front of the
 *   plain app (registered at its public port, as test/integration/service.test.ts registers such a proxy),
 *   and `consul connect proxy -service bench-web-sc -upstream bench-api-sc:<local>` for the client;
 * - this process is the client app of both paths: `ConnectService('bench-web').dispatcher()` calling
 *   `https://bench-api.service.consul/`, and a plain undici `Pool` on `http://127.0.0.1:<local>/`.
 *   Both keep their connections alive (at most 16 each), opened by a warm-up before timing.
 *
 * Rounds (harness.ts `compareInterleaved`, baseline = sidecars, candidate = native, order flipped every
 * round): each contender's round is a latency phase (N requests one at a time: p50, p99) then a throughput
 * phase (M requests, 16 in flight: requests/s, and CPU per request of every process of the path).
 */
import { execFile, fork, spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { connect } from 'node:net'
import { dirname, join, resolve as resolvePath } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { Pool, request } from 'undici'
import type { Dispatcher } from 'undici'
import { ConnectService } from '../../lib/service.js'
import { DevAgent, consulBinary, consulVersion, freePort } from '../../test/integration/support/consul-agent.js'
import { barChart } from '../chart.js'
import {
  compareInterleaved, comparisonTable, fmt, markdownTable, metricOf, msSince, now, percentile, roundsTable, runBounded, watchdog
} from '../harness.js'
import type { BoundedLoopResult, Comparison, Contender, Metric } from '../harness.js'
import type { BenchContext, Goal, Scenario, ScenarioResult } from '../scenario.js'
import { BODY } from './latency-server.js'
import type { ParentMessage, ServerMessage, ServerStats } from './latency-server.js'

const SELF = fileURLToPath(import.meta.url)
const SERVER_FILE = join(dirname(SELF), 'latency-server.ts')
const REPO_ROOT = resolvePath(dirname(SELF), '..', '..')
const HOST = '127.0.0.1'
const GOAL_RATIO = 0.6
/** Requests in flight in the throughput phase, and the connection cap of both client pools. */
const CONCURRENCY = 16
/** Client keep-alive: longer than any round (the servers keep idle connections as long). */
const KEEP_ALIVE_MS = 120_000

// ---------------------------------------------------------------------------------------------- settings

interface Settings {
  readonly rounds: number
  readonly minRounds: number
  /** No new round once this much time (ms) has passed in the comparison, warm-up round included. */
  readonly budgetMs: number
  /** Requests of the latency phase (one at a time), per contender per round. */
  readonly latencyCount: number
  /** Requests of the throughput phase (CONCURRENCY in flight), per contender per round. */
  readonly throughputCount: number
  /** Deadline of one phase. */
  readonly phaseMaxMs: number
  /** Requests per path (CONCURRENCY in flight) that open the pooled connections before any timing. */
  readonly warmupRequests: number
}

const QUICK: Settings = { rounds: 3, minRounds: 3, budgetMs: 20_000, latencyCount: 200, throughputCount: 1_000, phaseMaxMs: 5_000, warmupRequests: 200 }
const FULL: Settings = { rounds: 30, minRounds: 6, budgetMs: 90_000, latencyCount: 1_000, throughputCount: 5_000, phaseMaxMs: 10_000, warmupRequests: 500 }

const METRICS: readonly Metric[] = [
  { key: 'p50', label: 'latency p50 at concurrency 1', unit: 'ms', better: 'lower', digits: 3 },
  { key: 'p99', label: 'latency p99 at concurrency 1', unit: 'ms', better: 'lower', digits: 3 },
  { key: 'rps', label: `throughput at concurrency ${CONCURRENCY}`, unit: 'requests/s', better: 'higher', digits: 0 },
  { key: 'cpu', label: `CPU per request at concurrency ${CONCURRENCY}, all processes of the path`, unit: 'µs', better: 'lower', digits: 0 }
]

// ---------------------------------------------------------------------------------------------- CPU

const PROC = existsSync('/proc/self/stat')
let clockTicks: number | undefined

/** CPU time (user + system, all threads) of another process from /proc/<pid>/stat, ms; NaN without /proc. */
function processCpuMs (pid: number | undefined): number {
  if (!PROC || pid === undefined) return Number.NaN
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    // Fields after the command name (which may hold spaces): the 1st is field 3, so utime (14) and stime (15)
    // are at 11 and 12.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / (clockTicks ?? 100)
  } catch {
    return Number.NaN
  }
}

async function readClockTicks (): Promise<number> {
  try {
    const { stdout } = await promisify(execFile)('getconf', ['CLK_TCK'], { timeout: 5_000 })
    const ticks = Number(stdout.trim())
    return Number.isFinite(ticks) && ticks > 0 ? ticks : 100
  } catch {
    return 100
  }
}

/** This process's CPU time, ms. */
function selfCpuMs (): number {
  const { user, system } = process.cpuUsage()
  return (user + system) / 1000
}

// ---------------------------------------------------------------------------------------------- child processes

/** Children still running: killed if this process exits without stopping them (a crash, process.exit). */
const running = new Set<ChildProcess>()
process.once('exit', () => { for (const child of running) child.kill('SIGKILL') })

function track (child: ChildProcess): ChildProcess {
  running.add(child)
  child.once('exit', () => running.delete(child))
  // A failed IPC send or kill is reported here; the exit (or a timeout) is what the scenario acts on.
  child.on('error', () => {})
  return child
}

/** Keeps the last 20 kB a child wrote, for error messages; reading the pipes also keeps them flowing. */
function collectOutput (child: ChildProcess): () => string {
  let out = ''
  const add = (d: Buffer): void => { out = (out + d.toString()).slice(-20_000) }
  child.stdout?.on('data', add)
  child.stderr?.on('data', add)
  return () => out
}

/** Resolves when `child` exits (at once if it has). */
function exited (child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve()
  return new Promise((resolve) => child.once('exit', () => resolve()))
}

/** Sends `signal`, then SIGKILL after `graceMs`; resolves once the child is gone. */
async function terminate (child: ChildProcess, signal: NodeJS.Signals, graceMs: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  const gone = exited(child)
  child.kill(signal)
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs)
  await gone
  clearTimeout(timer)
}

/** The server apps (latency-server.ts), forked under tsx. */
class ServerChild {
  readonly #child: ChildProcess
  readonly output: () => string
  readonly nativePort: number
  readonly plainPort: number

  private constructor (child: ChildProcess, output: () => string, ports: { nativePort: number, plainPort: number }) {
    this.#child = child
    this.output = output
    this.nativePort = ports.nativePort
    this.plainPort = ports.plainPort
  }

  get pid (): number | undefined { return this.#child.pid }

  /** Forks the child and waits for its `ready` message (service ready, both servers listening). */
  static async start (agentAddress: string, timeoutMs: number, onChild: (stop: () => Promise<void>) => void): Promise<ServerChild> {
    const child = track(fork(SERVER_FILE, [agentAddress], {
      execArgv: ['--import', 'tsx'],
      // `--import tsx` resolves from the working directory: the repository's, wherever we were started.
      cwd: REPO_ROOT,
      stdio: ['ignore', 'pipe', 'pipe', 'ipc']
    }))
    onChild(() => stopServerChild(child))
    const output = collectOutput(child)
    const ports = await new Promise<{ nativePort: number, plainPort: number }>((resolve, reject) => {
      const timer = setTimeout(() => done(new Error(`no ready message within ${timeoutMs} ms`)), timeoutMs)
      const onMessage = (message: ServerMessage): void => {
        if (message.type === 'ready') done(undefined, message)
        else if (message.type === 'error') done(new Error(message.message))
      }
      const onExit = (code: number | null): void => done(new Error(`exited with ${code}`))
      const done = (err: Error | undefined, ready?: { nativePort: number, plainPort: number }): void => {
        clearTimeout(timer)
        child.off('message', onMessage)
        child.off('exit', onExit)
        if (err !== undefined || ready === undefined) reject(new Error(`latency-server.ts: ${err?.message}\n--- output ---\n${output()}`, { cause: err }))
        else resolve({ nativePort: ready.nativePort, plainPort: ready.plainPort })
      }
      child.on('message', onMessage)
      child.once('exit', onExit)
    })
    return new ServerChild(child, output, ports)
  }

  /** The servers' counters; undefined (and a line in `problems`) when the child does not answer. */
  async stats (problems: string[], timeoutMs = 5_000): Promise<ServerStats | undefined> {
    const child = this.#child
    return await new Promise((resolve) => {
      const done = (stats: ServerStats | undefined, problem?: string): void => {
        clearTimeout(timer)
        child.off('message', onMessage)
        if (problem !== undefined) problems.push(`server child: ${problem}`)
        resolve(stats)
      }
      const timer = setTimeout(() => done(undefined, `no answer to a stats request within ${timeoutMs} ms`), timeoutMs)
      const onMessage = (message: ServerMessage): void => { if (message.type === 'stats') done(message.stats) }
      if (!child.connected) {
        done(undefined, `gone (exit code ${child.exitCode}, signal ${child.signalCode}) before the stats request`)
        return
      }
      child.on('message', onMessage)
      child.send({ type: 'stats' } satisfies ParentMessage, (err) => { if (err !== null) done(undefined, `stats request: ${err.message}`) })
    })
  }
}

/** Asks the server child to close its servers and service (SIGTERM without IPC); SIGKILL 5 s later. */
async function stopServerChild (child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  const gone = exited(child)
  if (child.connected) child.send({ type: 'stop' } satisfies ParentMessage, (err) => { if (err !== null) child.kill('SIGTERM') })
  else child.kill('SIGTERM')
  const timer = setTimeout(() => child.kill('SIGKILL'), 5_000)
  await gone
  clearTimeout(timer)
}

/** A `consul connect proxy` process. */
class Sidecar {
  readonly #child: ChildProcess
  readonly output: () => string

  private constructor (child: ChildProcess, output: () => string) {
    this.#child = child
    this.output = output
  }

  get pid (): number | undefined { return this.#child.pid }

  /**
   * Starts `consul connect proxy` (log level info, as a sidecar would run) and waits until it has logged
   * "ready to serve" (leaf and roots loaded) and the start of its listener on `listen`, and that listener
   * accepts a TCP connection. The proxy logs the listener just before it binds it, so a refused connect
   * right after the line is retried at once (no delay), up to the deadline.
   */
  static async start (bin: string, agent: DevAgent, args: readonly string[], listen: string, timeoutMs: number,
    onChild: (stop: () => Promise<void>) => void): Promise<Sidecar> {
    const all = ['connect', 'proxy', `-http-addr=${agent.address}`, ...args]
    const child = track(spawn(bin, all, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, CONSUL_HTTP_TOKEN: agent.managementToken ?? '' } }))
    const proxy = new Sidecar(child, collectOutput(child))
    onChild(() => proxy.stop())
    const deadline = Date.now() + timeoutMs
    const listenerLine = new RegExp(`Starting listener:.*bind_addr=${listen.replace(/\./g, '\\.')}`)
    try {
      await new Promise<void>((resolve, reject) => {
        const check = (): void => {
          if (/ready to serve/.test(proxy.output()) && listenerLine.test(proxy.output())) { cleanup(); resolve() }
        }
        const onExit = (code: number | null): void => { cleanup(); reject(new Error(`exited with ${code}`)) }
        const timer = setTimeout(() => { cleanup(); reject(new Error(`not ready within ${timeoutMs} ms`)) }, timeoutMs)
        const cleanup = (): void => {
          clearTimeout(timer)
          child.stdout?.off('data', check)
          child.stderr?.off('data', check)
          child.off('exit', onExit)
        }
        // Registered after collectOutput's listeners, so the output already holds the chunk.
        child.stdout?.on('data', check)
        child.stderr?.on('data', check)
        child.once('exit', onExit)
        check()
      })
      const [host, port] = [listen.slice(0, listen.lastIndexOf(':')), Number(listen.slice(listen.lastIndexOf(':') + 1))]
      for (let attempt = 1; ; attempt++) {
        if (child.exitCode !== null) throw new Error(`exited with ${child.exitCode}`)
        const ok = await new Promise<boolean>((resolve) => {
          const socket = connect({ host, port }, () => { socket.destroy(); resolve(true) })
          socket.once('error', () => resolve(false))
        })
        if (ok) break
        if (Date.now() > deadline || attempt >= 10_000) throw new Error(`nothing listens on ${listen} (${attempt} attempts)`)
      }
    } catch (err) {
      await proxy.stop()
      throw new Error(`consul ${all.join(' ')}: ${(err as Error).message}\n--- proxy output ---\n${proxy.output()}`, { cause: err })
    }
    return proxy
  }

  stop (): Promise<void> {
    return terminate(this.#child, 'SIGINT', 5_000)
  }
}

// ---------------------------------------------------------------------------------------------- agent

/** Waits, with blocking queries, until `/v1/health/connect/<service>` lists an instance. */
async function waitForInstance (agent: DevAgent, service: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs
  let index = '0'
  while (Date.now() < deadline) {
    const res = await fetch(`${agent.url}/v1/health/connect/${service}?index=${index}&wait=2s`, { signal: AbortSignal.timeout(10_000) })
    const body = await res.json() as unknown[]
    if (res.ok && Array.isArray(body) && body.length > 0) return
    // The next query blocks until the catalog changes past this index (or 2 s pass).
    index = res.headers.get('x-consul-index') ?? index
  }
  throw new Error(`${service} has no Connect-capable instance in the catalog after ${timeoutMs} ms`)
}

// ---------------------------------------------------------------------------------------------- the two paths

interface ProcessRole {
  readonly label: string
  /** Undefined: this process. */
  readonly pid: number | undefined
}

/** One path from the client app to the server app, with what it has seen. */
class Path {
  readonly name: string
  readonly url: string
  readonly dispatcher: Dispatcher
  readonly roles: readonly ProcessRole[]
  /** Requests that completed and failed, all phases, warm-ups included. */
  completed = 0
  failed = 0
  readonly errors: string[] = []
  /** Phases that the deadline, not the count, ended. */
  timedOutPhases = 0
  /** Connections the client opened (undici 'connect' events). */
  connects = 0
  /** CPU (ms) per role and requests, summed over the measured rounds' throughput phases. */
  readonly cpuMs = new Map<string, number>()
  cpuRequests = 0

  constructor (name: string, url: string, dispatcher: Dispatcher, roles: readonly ProcessRole[]) {
    this.name = name
    this.url = url
    this.dispatcher = dispatcher
    this.roles = roles
    dispatcher.on('connect', () => { this.connects++ })
  }

  /** One GET; rejects unless the answer is 200 with the expected body. */
  async get (signal?: AbortSignal): Promise<void> {
    const res = await request(this.url, { dispatcher: this.dispatcher, ...(signal === undefined ? {} : { signal }) })
    const text = await res.body.text()
    if (res.statusCode !== 200 || text !== BODY) throw new Error(`HTTP ${res.statusCode} with a ${text.length}-byte body`)
  }

  async phase (count: number, concurrency: number, maxMs: number): Promise<BoundedLoopResult> {
    const result = await runBounded({ count, concurrency, maxMs }, (_i, signal) => this.get(signal))
    this.completed += result.completed
    this.failed += result.failed
    if (result.timedOut) this.timedOutPhases++
    for (const e of result.errors) if (this.errors.length < 5 && !this.errors.includes(e)) this.errors.push(e)
    return result
  }

  /** CPU time of every process of the path now, ms, per role. */
  cpuSnapshot (): Map<string, number> {
    return new Map(this.roles.map((r) => [r.label, r.pid === undefined ? selfCpuMs() : processCpuMs(r.pid)]))
  }

  contender (s: Settings): Contender {
    return {
      name: this.name,
      run: async (round) => {
        const latency = await this.phase(s.latencyCount, 1, s.phaseMaxMs)
        const before = this.cpuSnapshot()
        const throughput = await this.phase(s.throughputCount, CONCURRENCY, s.phaseMaxMs)
        const after = this.cpuSnapshot()
        let cpuMs = 0
        for (const [label, ms] of after) {
          const used = ms - (before.get(label) ?? Number.NaN)
          cpuMs += used
          if (!round.warmup) this.cpuMs.set(label, (this.cpuMs.get(label) ?? 0) + used)
        }
        if (!round.warmup) this.cpuRequests += throughput.completed
        return {
          p50: percentile(latency.latenciesMs, 50),
          p99: percentile(latency.latenciesMs, 99),
          rps: throughput.completed > 0 ? throughput.perSecond : Number.NaN,
          cpu: throughput.completed > 0 ? (cpuMs * 1000) / throughput.completed : Number.NaN
        }
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------- versions

async function goVersion (bin: string): Promise<string | undefined> {
  try {
    const { stdout } = await promisify(execFile)('go', ['version', bin], { timeout: 10_000 })
    return /\bgo\d+(?:\.\d+)*\S*/.exec(stdout)?.[0]
  } catch {
    return undefined
  }
}

function undiciVersion (): string | undefined {
  try {
    return (createRequire(import.meta.url)('undici/package.json') as { version?: string }).version
  } catch {
    return undefined
  }
}

// ---------------------------------------------------------------------------------------------- run

async function run (ctx: BenchContext): Promise<ScenarioResult> {
  const s = ctx.quick ? QUICK : FULL
  const started = now()
  const stops: Array<{ what: string, stop: () => Promise<unknown> }> = []
  const problems: string[] = []
  if (resolvePath(ctx.consulBin) !== resolvePath(consulBinary())) {
    ctx.log(`note: the agent runs ${consulBinary()} (the integration tests' binary), the proxies ${ctx.consulBin}`)
  }
  try {
    clockTicks = await readClockTicks()
    const agent = await DevAgent.start()
    stops.push({ what: 'consul agent', stop: () => agent.stop() })
    ctx.log(`agent on ${agent.address}`)
    // ACLs are off (default allow); the intentions make both pairs' authorization match an explicit rule.
    for (const [source, destination] of [['bench-web', 'bench-api'], ['bench-web-sc', 'bench-api-sc']] as const) {
      await agent.api('PUT', `/v1/connect/intentions/exact?source=${source}&destination=${destination}`, { Action: 'allow' })
    }

    const server = await ServerChild.start(agent.address, 90_000, (stop) => stops.push({ what: 'server child', stop }))
    ctx.log(`server apps: native on ${server.nativePort}, plain on ${server.plainPort} (pid ${server.pid})`)
    await agent.api('PUT', '/v1/agent/service/register', {
      Name: 'bench-api', ID: 'bench-api-1', Address: HOST, Port: server.nativePort, Connect: { Native: true }
    })

    const [publicPort, localPort] = await Promise.all([freePort(), freePort()])
    const serverSidecar = await Sidecar.start(ctx.consulBin, agent,
      ['-service', 'bench-api-sc', '-service-addr', `${HOST}:${server.plainPort}`, '-listen', `${HOST}:${publicPort}`],
      `${HOST}:${publicPort}`, 60_000, (stop) => stops.push({ what: 'server sidecar', stop }))
    await agent.api('PUT', '/v1/agent/service/register', {
      Name: 'bench-api-sc', ID: 'bench-api-sc-1', Address: HOST, Port: publicPort, Connect: { Native: true }
    })
    await Promise.all([waitForInstance(agent, 'bench-api', 30_000), waitForInstance(agent, 'bench-api-sc', 30_000)])
    const clientSidecar = await Sidecar.start(ctx.consulBin, agent,
      ['-service', 'bench-web-sc', '-upstream', `bench-api-sc:${localPort}`],
      `${HOST}:${localPort}`, 60_000, (stop) => stops.push({ what: 'client sidecar', stop }))
    ctx.log(`sidecars: server on ${publicPort} (pid ${serverSidecar.pid}), client upstream on ${localPort} (pid ${clientSidecar.pid})`)

    const web = new ConnectService({
      service: 'bench-web',
      agent: { address: agent.address, env: false },
      dispatcher: { connections: CONCURRENCY, keepAliveTimeoutMs: KEEP_ALIVE_MS, keepAliveMaxTimeoutMs: KEEP_ALIVE_MS }
    })
    stops.push({ what: 'bench-web service', stop: () => web.close() })
    const pool = new Pool(`http://${HOST}:${localPort}`, { connections: CONCURRENCY, keepAliveTimeout: KEEP_ALIVE_MS, keepAliveMaxTimeout: KEEP_ALIVE_MS })
    stops.push({ what: 'sidecar client pool', stop: () => pool.destroy() })
    await web.ready({ signal: AbortSignal.timeout(60_000) })

    const native = new Path('native', 'https://bench-api.service.consul/', web.dispatcher(), [
      { label: 'client app (Node)', pid: undefined },
      { label: 'server app (Node)', pid: server.pid }
    ])
    const sidecars = new Path('sidecars', `http://${HOST}:${localPort}/`, pool, [
      { label: 'client app (Node)', pid: undefined },
      { label: 'client sidecar (Go)', pid: clientSidecar.pid },
      { label: 'server sidecar (Go)', pid: serverSidecar.pid },
      { label: 'server app (Node)', pid: server.pid }
    ])

    // Sanity, then open the pooled connections of both paths before anything is timed.
    for (const path of [sidecars, native]) {
      try {
        await path.get(AbortSignal.timeout(30_000))
        path.completed++
      } catch (err) {
        throw new Error(`the ${path.name} path does not answer: ${(err as Error).message}` +
          `\n--- server child ---\n${server.output()}\n--- server sidecar ---\n${serverSidecar.output()}\n--- client sidecar ---\n${clientSidecar.output()}`,
        { cause: err })
      }
      await path.phase(s.warmupRequests, CONCURRENCY, s.phaseMaxMs)
    }
    ctx.log(`warm: native ${native.connects} connection(s), sidecars ${sidecars.connects} connection(s) open`)

    const beforeRounds = {
      stats: await server.stats(problems),
      native: { completed: native.completed, failed: native.failed, connects: native.connects },
      sidecars: { completed: sidecars.completed, failed: sidecars.failed, connects: sidecars.connects }
    }
    const comparison = await compareInterleaved('native vs sidecars', sidecars.contender(s), native.contender(s), {
      metrics: METRICS,
      rounds: s.rounds,
      minRounds: s.minRounds,
      warmupRounds: 1,
      budgetMs: s.budgetMs,
      log: ctx.log
    })
    const afterStats = await server.stats(problems)
    const delta = (key: keyof ServerStats): number =>
      afterStats === undefined || beforeRounds.stats === undefined ? Number.NaN : afterStats[key] - beforeRounds.stats[key]

    for (const path of [sidecars, native]) {
      if (path.failed > 0) problems.push(`${path.name} path: ${path.failed} failed request(s) of ${path.completed + path.failed} (first: ${path.errors.join('; ')})`)
    }
    const served = {
      native: delta('nativeRequests'),
      sidecars: delta('plainRequests')
    }
    const sent = {
      native: native.completed - beforeRounds.native.completed,
      sidecars: sidecars.completed - beforeRounds.sidecars.completed
    }
    for (const key of ['native', 'sidecars'] as const) {
      if (served[key] < sent[key]) problems.push(`${key} path: the server app saw ${served[key]} requests, the client completed ${sent[key]}`)
    }

    const connections = {
      native: { client: native.connects - beforeRounds.native.connects, server: delta('nativeConnections') },
      sidecars: { client: sidecars.connects - beforeRounds.sidecars.connects, server: delta('plainConnections') }
    }
    const versions: Record<string, string> = {}
    const undici = undiciVersion()
    if (undici !== undefined) versions.undici = undici
    const go = await goVersion(ctx.consulBin)
    // The toolchain the consul binary (agent and proxies) was built with; `Go` alone is the connections scenario's.
    if (go !== undefined) versions['Go (consul binary)'] = go

    return {
      title: 'Request latency and throughput: native vs a pair of sidecars',
      markdown: render(ctx, s, comparison, { native, sidecars }, { served, sent, connections, totalMs: msSince(started) }),
      goals: [goal(comparison)],
      problems,
      versions
    }
  } finally {
    for (const { what, stop } of stops.reverse()) {
      try {
        await stop()
      } catch (err) {
        ctx.log(`stopping the ${what} failed: ${(err as Error).message}`)
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------- report

function goal (c: Comparison): Goal {
  const p50 = metricOf(c, 'p50')
  const p99 = metricOf(c, 'p99')
  const rps = metricOf(c, 'rps')
  const ratio = p50.ratio.median
  const status = p50.ratio.n === 0 || !Number.isFinite(ratio) ? 'not measured' : ratio <= GOAL_RATIO ? 'met' : 'not met'
  return {
    goal: `native p50 latency ≤ ${GOAL_RATIO}× the sidecar path`,
    measured: `p50 ${fmt(ratio, 2)}× (native ${fmt(p50.candidate.median, 3)} ms, sidecars ${fmt(p50.baseline.median, 3)} ms; ` +
      `median of ${p50.ratio.n} per-round ratios, ${fmt(p50.ratio.min, 2)}–${fmt(p50.ratio.max, 2)}); ` +
      `p99 ${fmt(p99.ratio.median, 2)}× (${fmt(p99.candidate.median, 3)} vs ${fmt(p99.baseline.median, 3)} ms); ` +
      `throughput at concurrency ${CONCURRENCY} ${fmt(rps.ratio.median, 2)}× (${fmt(rps.candidate.median, 0)} vs ${fmt(rps.baseline.median, 0)} requests/s)`,
    status
  }
}

interface Extra {
  readonly served: { readonly native: number, readonly sidecars: number }
  readonly sent: { readonly native: number, readonly sidecars: number }
  readonly connections: {
    readonly native: { readonly client: number, readonly server: number }
    readonly sidecars: { readonly client: number, readonly server: number }
  }
  readonly totalMs: number
}

function render (ctx: BenchContext, s: Settings, c: Comparison, paths: { native: Path, sidecars: Path }, extra: Extra): string {
  const m = (key: string): ReturnType<typeof metricOf> => metricOf(c, key)
  const out: string[] = []
  out.push(
    'A native Node client calling a native Node server (this library on both ends) against the same two apps ' +
    'talking plain HTTP through a pair of `consul connect proxy` sidecars, Consul\'s own proxy built on its Go ' +
    'Connect SDK: the path a Connect-native app replaces. Same handler, same client library (undici), same ' +
    `machine, one \`consul agent -dev\` (${ctx.consulVersion}, ACLs off, an allow intention for each pair).`,
    '',
    markdownTable(['path', 'processes', 'hops'], [
      ['native', '2 Node (client app, server app)', '1: client app → server app, mTLS'],
      ['sidecars', '2 Node (client app, server app) + 2 Go (`consul connect proxy` × 2)',
        '3: client app → client sidecar (plain HTTP) → server sidecar (mTLS) → server app (plain HTTP)']
    ]),
    '',
    `**How measured.** The server apps run in a child process (one \`ConnectService('bench-api')\` + ` +
    '`svc.createServer` registered as a Connect-native service, and one plain `http.createServer` behind ' +
    '`consul connect proxy -service bench-api-sc -service-addr … -listen …`), the client apps in the benchmark ' +
    'process: `ConnectService(\'bench-web\').dispatcher()` calling `https://bench-api.service.consul/`, and an ' +
    'undici `Pool` on the local port of `consul connect proxy -service bench-web-sc -upstream bench-api-sc:…`. ' +
    `Each answer is a 100-byte body. Both clients keep up to ${CONCURRENCY} connections alive, opened by ` +
    `${s.warmupRequests} warm-up requests per path before any timing. Then ${c.rounds.length} interleaved rounds ` +
    `(order flipped every round, after one untimed round); in each, a path runs a latency phase of ` +
    `${s.latencyCount} requests one at a time (p50 and p99 of that phase) and a throughput phase of ` +
    `${s.throughputCount} requests with ${CONCURRENCY} in flight (requests/s, and CPU per request: user + system ` +
    'time of every process of the path over that phase, from `/proc/<pid>/stat` for the server child and the ' +
    'proxies and `process.cpuUsage()` for the client process; the Consul agent, off the request path once ' +
    'connections are open, is not counted). The ratio column is native ÷ sidecars per round, and its median ' +
    `across rounds is the figure. ${ctx.quick ? 'Quick run: few rounds, indicative only.' : ''}`.trimEnd(),
    '',
    comparisonTable(c),
    '',
    barChart({
      title: 'Latency at concurrency 1 (median of rounds)',
      labels: ['sidecars p50', 'native p50', 'sidecars p99', 'native p99'],
      values: [m('p50').baseline.median, m('p50').candidate.median, m('p99').baseline.median, m('p99').candidate.median],
      yLabel: 'ms',
      digits: 3
    }),
    '',
    barChart({
      title: `Throughput at concurrency ${CONCURRENCY} (median of rounds)`,
      labels: ['sidecars', 'native'],
      values: [m('rps').baseline.median, m('rps').candidate.median],
      yLabel: 'requests/s',
      digits: 0
    }),
    ''
  )

  const cpuRows: string[][] = []
  for (const path of [paths.sidecars, paths.native]) {
    let total = 0
    for (const role of path.roles) {
      const ms = path.cpuMs.get(role.label) ?? Number.NaN
      total += ms
      cpuRows.push([path.name, role.label, fmt((ms * 1000) / path.cpuRequests, 0)])
    }
    cpuRows.push([path.name, '**all**', `**${fmt((total * 1000) / path.cpuRequests, 0)}**`])
  }
  out.push(
    `CPU per request by process (µs; all measured throughput phases together: ${paths.sidecars.cpuRequests} requests ` +
    `on the sidecar path, ${paths.native.cpuRequests} on the native path; /proc counts in ${fmt(1000 / (clockTicks ?? 100), 0)} ms ticks):`,
    '',
    markdownTable(['path', 'process', 'CPU per request (µs)'], cpuRows, ['l', 'l', 'r']),
    '',
    'Connections and requests during the measured rounds (after the warm-up; keep-alive should hold every ' +
    'connection open, so new connections stay at 0):',
    '',
    markdownTable(['path', 'requests completed by the client', 'requests seen by the server app', 'new client connections', 'new connections at the server app'], [
      ['sidecars', fmt(extra.sent.sidecars, 0), fmt(extra.served.sidecars, 0), fmt(extra.connections.sidecars.client, 0), `${fmt(extra.connections.sidecars.server, 0)} (from the server sidecar)`],
      ['native', fmt(extra.sent.native, 0), fmt(extra.served.native, 0), fmt(extra.connections.native.client, 0), fmt(extra.connections.native.server, 0)]
    ], ['l', 'r', 'r', 'r', 'r']),
    ''
  )
  const timedOut = paths.native.timedOutPhases + paths.sidecars.timedOutPhases
  const notes: string[] = []
  if (timedOut > 0) notes.push(`${timedOut} phase(s) ended at their ${s.phaseMaxMs} ms deadline before their request count.`)
  if (c.stoppedByBudget) notes.push(`The ${s.budgetMs / 1000} s budget ended the comparison after ${c.rounds.length} of ${s.rounds} rounds.`)
  notes.push(`Scenario wall time ${fmt(extra.totalMs / 1000, 0)} s (agent, child and proxies started and stopped included).`)
  out.push(notes.join(' '), '', '<details><summary>Every round</summary>', '', roundsTable(c, METRICS.map((x) => x.key)), '', '</details>')
  return out.join('\n')
}

export const scenario: Scenario = {
  id: 'latency',
  title: 'Request latency and throughput: native vs a pair of sidecars',
  estimate: '1.5 min (quick 10 s)',
  run
}

// ---------------------------------------------------------------------------------------------- alone

if (process.argv[1] !== undefined && resolvePath(process.argv[1]) === SELF) {
  const quick = process.argv.slice(2).includes('--quick')
  const guard = watchdog(quick ? 120_000 : 360_000, 'latency')
  const ctx: BenchContext = {
    quick,
    log: (line) => console.error(`[latency] ${line}`),
    consulBin: consulBinary(),
    consulVersion: consulVersion()
  }
  scenario.run(ctx).then((result) => {
    guard.cancel()
    const lines = [`## ${result.title}`, '', result.markdown, '', '### Goals', '',
      markdownTable(['goal', 'measured', 'status'], result.goals.map((g) => [g.goal, g.measured, g.status])), '',
      '### Problems', '', result.problems.length === 0 ? 'None.' : result.problems.map((p) => `- ${p}`).join('\n')]
    if (result.versions !== undefined) lines.push('', `Versions: ${Object.entries(result.versions).map(([k, v]) => `${k} ${v}`).join(', ')}`)
    console.log(lines.join('\n'))
    if (result.problems.length > 0) process.exitCode = 1
  }, (err: unknown) => {
    guard.cancel()
    console.error(err)
    process.exitCode = 1
  })
}
