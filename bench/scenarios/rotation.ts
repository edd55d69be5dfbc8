/**
 * Scenario `rotation`: sustained traffic between two ConnectServices through leaf renewals and CA root
 * rotations. Failed requests (the goal is zero) and latency during the changes against before them.
 *
 * Server: a ConnectService `createServer` in a child process (rotation-server.ts), so client and server do not
 * share an event loop. Client: a ConnectService in this process calling `https://rot-api.service.consul/` by
 * name through its undici dispatcher. Workers run all along: most on kept-alive pooled connections, some with
 * a new connection (and so a new handshake with whatever leaf and roots are current) for every request. A raw
 * connection opened before the first change must still answer after the last.
 *
 * Two parts:
 * - **A, a real `consul agent -dev`:** two CA root rotations (`PUT /v1/connect/ca/configuration` with a new
 *   key). Each makes the agent re-issue both services' leaves, signed by the new root and cross-signed for
 *   peers still on the old one, after Consul's own spread delay.
 * - **B, the library's TestAgent:** leaf renewals. Consul refuses a leaf TTL under one hour (the scenario asks
 *   the real agent for a shorter one and reports its refusal), so a real agent renews a leaf at the earliest
 *   about 40 minutes after issuing it, which no benchmark run can wait for. TestAgent serves the same
 *   endpoints and delivers a renewal on the blocking leaf query on request: six renewals (three per service)
 *   and two more root rotations, interleaved.
 */
import { fork, type ChildProcess } from 'node:child_process'
import { generateKeyPairSync } from 'node:crypto'
import { once } from 'node:events'
import { join, dirname } from 'node:path'
import type { TLSSocket } from 'node:tls'
import { fileURLToPath } from 'node:url'
import { request } from 'undici'
import { ConnectService } from '../../lib/service.js'
import { TestAgent } from '../../lib/testing/test-agent.js'
import { DevAgent, consulBinary, consulVersion } from '../../test/integration/support/consul-agent.js'
import { lineChart } from '../chart.js'
import { fmt, markdownTable, msSince, now, percentile, sleep } from '../harness.js'
import type { BenchContext, Goal, Scenario, ScenarioResult } from '../scenario.js'

const SERVER_CHILD = join(dirname(fileURLToPath(import.meta.url)), 'rotation-server.ts')
const SERVER = 'rot-api'
const CLIENT = 'rot-web'
const KEPT_ALIVE_WORKERS = 6
const FRESH_WORKERS = 2

// ---------------------------------------------------------------------------------------------- the server child

interface ServerStats { refused: number, tlsErrors: number, connections: number, requests: number, refusals: string[] }

class ServerChild {
  readonly #child: ChildProcess
  readonly #waiters = new Map<string, Array<(message: Record<string, unknown>) => void>>()
  #exited = false
  leaves = 0

  constructor (agentAddress: string) {
    this.#child = fork(SERVER_CHILD, [], {
      execArgv: ['--import', 'tsx'],
      env: { ...process.env, BENCH_AGENT_ADDR: agentAddress, BENCH_SERVICE: SERVER },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc']
    })
    this.#child.on('message', (message: Record<string, unknown>) => {
      const type = String(message.type)
      if (type === 'leaf') this.leaves++
      const waiting = this.#waiters.get(type)
      if (waiting !== undefined && waiting.length > 0) waiting.shift()!(message)
    })
    this.#child.once('exit', () => {
      this.#exited = true
      for (const list of this.#waiters.values()) list.length = 0
    })
  }

  /** The next message of `type`; rejects after `timeoutMs` or when the child exits. */
  async next (type: string, timeoutMs: number): Promise<Record<string, unknown>> {
    if (this.#exited) throw new Error(`rotation-server exited before sending "${type}"`)
    return await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`rotation-server sent no "${type}" within ${timeoutMs} ms`)), timeoutMs)
      const onExit = (): void => { clearTimeout(timer); reject(new Error(`rotation-server exited before sending "${type}"`)) }
      this.#child.once('exit', onExit)
      const list = this.#waiters.get(type) ?? []
      list.push((message) => { clearTimeout(timer); this.#child.off('exit', onExit); resolve(message) })
      this.#waiters.set(type, list)
    })
  }

  async stats (): Promise<ServerStats> {
    const answer = this.next('stats', 10_000)
    this.#child.send({ type: 'stats' })
    return await answer as unknown as ServerStats
  }

  async stop (): Promise<void> {
    if (this.#exited) return
    const exited = once(this.#child, 'exit')
    this.#child.send({ type: 'stop' })
    const kill = setTimeout(() => this.#child.kill('SIGKILL'), 5_000)
    await exited
    clearTimeout(kill)
  }
}

// ---------------------------------------------------------------------------------------------- traffic

interface Sample { readonly t: number, readonly ms: number, readonly ok: boolean, readonly fresh: boolean }

class Traffic {
  readonly samples: Sample[] = []
  readonly errors: string[] = []
  readonly #start = now()
  #stop = false
  #workers: Array<Promise<void>> = []

  constructor (readonly service: ConnectService, readonly maxRequests: number) {}

  get elapsedMs (): number { return msSince(this.#start) }

  start (): void {
    const worker = async (fresh: boolean): Promise<void> => {
      const dispatcher = this.service.dispatcher()
      while (!this.#stop && this.samples.length < this.maxRequests) {
        const t0 = now()
        const t = msSince(this.#start)
        try {
          const res = await request(`https://${SERVER}.service.consul/`, { dispatcher, reset: fresh, headersTimeout: 10_000, bodyTimeout: 10_000 })
          const body = await res.body.text()
          if (res.statusCode !== 200 || body !== 'ok') throw new Error(`status ${res.statusCode}: ${body.slice(0, 80)}`)
          this.samples.push({ t, ms: msSince(t0), ok: true, fresh })
        } catch (err) {
          this.samples.push({ t, ms: msSince(t0), ok: false, fresh })
          if (this.errors.length < 10) this.errors.push(`${(err as { code?: string }).code ?? ''} ${(err as Error).message}`.trim())
        }
      }
    }
    this.#workers = [
      ...Array.from({ length: KEPT_ALIVE_WORKERS }, async () => await worker(false)),
      ...Array.from({ length: FRESH_WORKERS }, async () => await worker(true))
    ]
  }

  async stop (): Promise<void> {
    this.#stop = true
    await Promise.all(this.#workers)
  }
}

/** A raw connection through `dial`, asked for `/` now and again later: proof no open connection was dropped. */
async function askOnce (socket: TLSSocket): Promise<boolean> {
  const answer = new Promise<boolean>((resolve) => {
    let text = ''
    const onData = (d: Buffer): void => {
      text += d.toString()
      if (text.includes('\r\n\r\n') && text.endsWith('ok')) { cleanup(); resolve(text.startsWith('HTTP/1.1 200')) }
    }
    const onEnd = (): void => { cleanup(); resolve(false) }
    const timer = setTimeout(onEnd, 10_000)
    const cleanup = (): void => { clearTimeout(timer); socket.off('data', onData); socket.off('close', onEnd) }
    socket.on('data', onData)
    socket.once('close', onEnd)
  })
  socket.write(`GET / HTTP/1.1\r\nHost: ${SERVER}\r\n\r\n`)
  return await answer
}

// ---------------------------------------------------------------------------------------------- a part

interface Step {
  readonly label: string
  /** Which services must present a new leaf before the step counts as delivered. */
  readonly server: boolean
  readonly client: boolean
  readonly act: () => Promise<void>
}

interface Part {
  readonly name: string
  readonly agentAddress: string
  readonly register: (port: number) => Promise<void>
  readonly steps: readonly Step[]
  readonly deliveryTimeoutMs: number
}

interface StepRecord { readonly label: string, readonly startMs: number, readonly deliveredMs: number }

interface PartResult {
  readonly name: string
  readonly samples: readonly Sample[]
  readonly errors: readonly string[]
  readonly steps: readonly StepRecord[]
  readonly beforeEndMs: number
  readonly duringEndMs: number
  readonly server: ServerStats
  readonly serverLeaves: number
  readonly clientLeaves: number
  readonly longLivedAnswered: boolean
}

async function runPart (ctx: BenchContext, part: Part): Promise<PartResult> {
  const beforeMs = ctx.quick ? 3_000 : 10_000
  const settleMs = ctx.quick ? 1_500 : 4_000
  const afterMs = ctx.quick ? 2_000 : 6_000
  const child = new ServerChild(part.agentAddress)
  const web = new ConnectService({ service: CLIENT, agent: { address: part.agentAddress, env: false }, intentions: { defaultAllow: true } })
  let clientLeaves = 0
  web.on('leaf', () => { clientLeaves++ })
  web.on('error', (err) => ctx.log(`${part.name}: client watch error ${err.code}: ${err.message}`))
  let traffic: Traffic | undefined
  try {
    const listening = await child.next('listening', 60_000)
    await part.register(Number(listening.port))
    await web.ready({ signal: AbortSignal.timeout(60_000) })
    const longLived = await web.dial(SERVER)
    if (!await askOnce(longLived)) throw new Error(`${part.name}: the long-lived connection got no answer before the changes`)

    traffic = new Traffic(web, 5_000_000)
    traffic.start()
    await sleep(beforeMs) // a measurement window of steady traffic, not synchronization
    const beforeEndMs = traffic.elapsedMs
    ctx.log(`${part.name}: ${traffic.samples.length} requests before the first change`)
    const steps: StepRecord[] = []
    for (const step of part.steps) {
      const waits: Array<Promise<unknown>> = []
      if (step.server) waits.push(child.next('leaf', part.deliveryTimeoutMs))
      if (step.client) {
        waits.push(once(web, 'leaf', { signal: AbortSignal.timeout(part.deliveryTimeoutMs) }))
      }
      const startMs = traffic.elapsedMs
      await step.act()
      await Promise.all(waits)
      const deliveredMs = traffic.elapsedMs
      steps.push({ label: step.label, startMs, deliveredMs })
      ctx.log(`${part.name}: ${step.label}: new leaves in use after ${fmt(deliveredMs - startMs, 0)} ms; ${traffic.samples.length} requests so far, ${traffic.samples.filter((s) => !s.ok).length} failed`)
      await sleep(settleMs) // traffic on the new identities before the next change
    }
    const duringEndMs = traffic.elapsedMs
    await sleep(afterMs)
    await traffic.stop()
    const longLivedAnswered = await askOnce(longLived)
    longLived.destroy()
    const server = await child.stats()
    return {
      name: part.name, samples: traffic.samples, errors: traffic.errors, steps, beforeEndMs, duringEndMs, server,
      serverLeaves: child.leaves, clientLeaves, longLivedAnswered
    }
  } finally {
    await traffic?.stop()
    await web.close()
    await child.stop()
  }
}

// ---------------------------------------------------------------------------------------------- the two parts

function newCaKey (): string {
  return generateKeyPairSync('ec', { namedCurve: 'P-256', privateKeyEncoding: { type: 'sec1', format: 'pem' }, publicKeyEncoding: { type: 'spki', format: 'pem' } }).privateKey
}

async function realAgentPart (ctx: BenchContext): Promise<{ result: PartResult, shortTtlRefusal: string }> {
  const agent = await DevAgent.start()
  try {
    let shortTtlRefusal = 'accepted (unexpected)'
    try {
      await agent.api('PUT', '/v1/connect/ca/configuration', { Provider: 'consul', Config: { LeafCertTTL: '1m' } })
    } catch (err) {
      shortTtlRefusal = (err as Error).message.replace(/^PUT \S+: /, '')
    }
    const rotate = async (): Promise<void> => {
      await agent.api('PUT', '/v1/connect/ca/configuration', { Provider: 'consul', Config: { PrivateKey: newCaKey(), LeafCertTTL: '72h' } })
    }
    const result = await runPart(ctx, {
      name: 'A (real agent)',
      agentAddress: agent.address,
      register: async (port) => {
        await agent.api('PUT', '/v1/agent/service/register', { Name: SERVER, ID: `${SERVER}-1`, Address: '127.0.0.1', Port: port, Connect: { Native: true } })
      },
      steps: [
        { label: 'CA root rotation 1', server: true, client: true, act: rotate },
        { label: 'CA root rotation 2', server: true, client: true, act: rotate }
      ],
      deliveryTimeoutMs: 180_000
    })
    return { result, shortTtlRefusal }
  } finally {
    await agent.stop()
  }
}

async function testAgentPart (ctx: BenchContext): Promise<PartResult> {
  const agent = await TestAgent.start()
  try {
    const renew = (service: string): Step => ({
      label: `leaf renewal of ${service}`, server: service === SERVER, client: service === CLIENT, act: async () => { await agent.renewLeaf(service) }
    })
    const rotate = (n: number): Step => ({ label: `CA root rotation ${n}`, server: true, client: true, act: async () => { await agent.rotateRoot() } })
    return await runPart(ctx, {
      name: 'B (TestAgent)',
      agentAddress: agent.address,
      register: async (port) => { agent.registerService({ name: SERVER, id: `${SERVER}-1`, port }) },
      steps: [renew(SERVER), renew(CLIENT), rotate(1), renew(SERVER), renew(CLIENT), rotate(2), renew(SERVER), renew(CLIENT)],
      deliveryTimeoutMs: 30_000
    })
  } finally {
    await agent.close()
  }
}

// ---------------------------------------------------------------------------------------------- report

interface PhaseFigures { readonly requests: number, readonly failed: number, readonly fresh: number, readonly p50: number, readonly p99: number, readonly max: number }

function figures (samples: readonly Sample[]): PhaseFigures {
  const ok = samples.filter((s) => s.ok).map((s) => s.ms)
  return {
    requests: samples.length,
    failed: samples.length - ok.length,
    fresh: samples.filter((s) => s.fresh).length,
    p50: percentile(ok, 50),
    p99: percentile(ok, 99),
    max: ok.length === 0 ? Number.NaN : Math.max(...ok)
  }
}

function phases (r: PartResult): { before: PhaseFigures, during: PhaseFigures, after: PhaseFigures } {
  return {
    before: figures(r.samples.filter((s) => s.t < r.beforeEndMs)),
    during: figures(r.samples.filter((s) => s.t >= r.beforeEndMs && s.t < r.duringEndMs)),
    after: figures(r.samples.filter((s) => s.t >= r.duringEndMs))
  }
}

function partSection (r: PartResult): string {
  const p = phases(r)
  const row = (name: string, f: PhaseFigures): string[] => [
    name, f.requests.toLocaleString('en'), String(f.failed), f.fresh.toLocaleString('en'), `${fmt(f.p50, 2)} ms`, `${fmt(f.p99, 2)} ms`, `${fmt(f.max, 1)} ms`
  ]
  const phaseTable = markdownTable(
    ['phase', 'requests', 'failed', 'on new connections', 'p50', 'p99', 'max'],
    [row('before the first change', p.before), row('during the changes', p.during), row('after the last change', p.after), row('all', figures(r.samples))],
    ['l', 'r', 'r', 'r', 'r', 'r', 'r'])
  const stepTable = markdownTable(
    ['change', 'at (s)', 'new leaves in use after', 'requests until next change', 'failed'],
    r.steps.map((s, i) => {
      const end = r.steps[i + 1]?.startMs ?? r.duringEndMs
      const inStep = r.samples.filter((x) => x.t >= s.startMs && x.t < end)
      return [s.label, fmt(s.startMs / 1000, 1), `${fmt(s.deliveredMs - s.startMs, 0)} ms`, inStep.length.toLocaleString('en'), String(inStep.filter((x) => !x.ok).length)]
    }),
    ['l', 'r', 'r', 'r', 'r'])
  // p99 per second of the run, for the picture.
  const seconds = Math.ceil(Math.max(...r.samples.map((s) => s.t), 0) / 1000)
  const perSecond = Array.from({ length: seconds }, (_, k) => percentile(r.samples.filter((s) => s.ok && s.t >= k * 1000 && s.t < (k + 1) * 1000).map((s) => s.ms), 99))
  const chart = lineChart({
    title: `${r.name}: p99 latency per second (changes at ${r.steps.map((s) => `${fmt(s.startMs / 1000, 0)} s`).join(', ')})`,
    xLabels: perSecond.map((_, k) => String(k)),
    values: perSecond,
    yLabel: 'p99 ms',
    digits: 1
  })
  return [
    phaseTable, '', stepTable, '', chart, '',
    `Server: ${r.server.connections.toLocaleString('en')} connections accepted, ${r.server.refused} refused, ${r.server.tlsErrors} TLS errors; ` +
    `leaves taken into use: server ${r.serverLeaves}, client ${r.clientLeaves}. The raw connection opened before the first change ` +
    `${r.longLivedAnswered ? 'still answered after the last one' : '**did not answer after the last change**'}.`,
    ...(r.errors.length > 0 ? ['', `First errors: ${r.errors.map((e) => `\`${e}\``).join('; ')}`] : [])
  ].join('\n')
}

async function run (ctx: BenchContext): Promise<ScenarioResult> {
  const { result: a, shortTtlRefusal } = await realAgentPart(ctx)
  const b = await testAgentPart(ctx)
  const problems: string[] = []
  for (const r of [a, b]) {
    const failed = r.samples.filter((s) => !s.ok).length
    if (failed > 0) problems.push(`${r.name}: ${failed} of ${r.samples.length} requests failed (${r.errors.slice(0, 3).join('; ')})`)
    if (r.server.refused > 0) problems.push(`${r.name}: the server refused ${r.server.refused} connections (${r.server.refusals.join('; ')})`)
    if (!r.longLivedAnswered) problems.push(`${r.name}: the connection opened before the changes did not answer after them`)
  }
  const pa = phases(a)
  const pb = phases(b)
  const total = a.samples.length + b.samples.length
  const failed = a.samples.filter((s) => !s.ok).length + b.samples.filter((s) => !s.ok).length
  const rotations = a.steps.length + b.steps.filter((s) => s.label.startsWith('CA')).length
  const renewals = b.steps.filter((s) => s.label.startsWith('leaf')).length
  const goals: Goal[] = [{
    goal: 'zero failed requests through leaf renewals and CA root rotations',
    measured: `${failed} failed of ${total.toLocaleString('en')} requests through ${rotations} root rotations (2 on a real agent) and ${renewals} leaf renewals; ` +
      `p99 during/before ${fmt(pa.during.p99 / pa.before.p99, 2)}× (real agent), ${fmt(pb.during.p99 / pb.before.p99, 2)}× (TestAgent)`,
    status: failed === 0 && problems.length === 0 ? 'met' : 'not met'
  }]
  const markdown = [
    `Two ConnectServices, \`${CLIENT}\` calling \`${SERVER}\` by name, with traffic all along: ${KEPT_ALIVE_WORKERS} workers on kept-alive`,
    `pooled connections and ${FRESH_WORKERS} opening a new connection (a full handshake with the leaf and roots current at that`,
    'moment) for every request. The server runs in a child process. Each change waits until both affected services',
    'have taken their new leaf into use (the `leaf` event), then traffic runs on for a few seconds before the next one.',
    'A raw connection opened through `dial` before the first change is asked again after the last (the server\'s',
    '`keepAliveTimeout` is raised to 10 minutes so that it may idle in between).',
    '',
    '**A: a real Consul agent, two CA root rotations** (`PUT /v1/connect/ca/configuration` with a new P-256 key). After',
    'each, Consul re-issues both leaves itself, spread over a few seconds; the old root stays trusted and the new leaves carry',
    'the cross-signed intermediate.',
    '',
    partSection(a),
    '',
    '**B: leaf renewals and two more rotations, through the library\'s TestAgent.** A real agent renews a leaf when about',
    'two thirds of its lifetime has passed, and refuses a lifetime under an hour: asked for `LeafCertTTL = "1m"`, this run\'s',
    `agent answered \`${shortTtlRefusal.trim()}\`. So renewals are driven through TestAgent, which serves the same`,
    'agent endpoints and answers the blocked leaf query with a renewed leaf on request.',
    '',
    partSection(b)
  ].join('\n')
  return { title: 'Rotation under load', markdown, goals, problems }
}

export const scenario: Scenario = { id: 'rotation', title: 'Rotation under load', estimate: '1–2 min', run }

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  const result = await run({ quick: process.argv.includes('--quick'), log: (l) => process.stderr.write(`[rotation] ${l}\n`), consulBin: consulBinary(), consulVersion: consulVersion() })
  process.stdout.write(`${result.markdown}\n\n${JSON.stringify({ goals: result.goals, problems: result.problems }, null, 2)}\n`)
}
