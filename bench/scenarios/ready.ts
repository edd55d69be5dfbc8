/**
 * Scenario `ready`: time to ready of a ConnectService against Consul's own Go SDK (`connect.NewService` then
 * `ReadyWait`, in bench/go-sdk/main.go, built by scripts/go-sdk-bin.mjs), both against one real
 * `consul agent -dev` that the scenario starts and stops.
 *
 * Every trial is a fresh child process, and each side is timed three ways: in process (constructor → ready, as
 * the child reports it), spawn → ready line (taken here: process start and loading the code included), and a
 * second service in the same child right after the first (the agent round trips without the process's first-use
 * costs). The Node child (ready-child.mjs) runs the compiled package from dist/; the Go child is connect-bench.
 *
 * Two variants: cold (a service name the agent has never seen: it generates a key and has the CA sign a new
 * leaf) and warm (the same name again: the agent's cache answers). Trials alternate the two sides and flip the
 * order every trial (harness.ts, compareInterleaved), after one untimed warm-up trial of each.
 */
import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { existsSync } from 'node:fs'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { DevAgent, consulBinary, consulVersion } from '../../test/integration/support/consul-agent.js'
import { barChart } from '../chart.js'
import { compareInterleaved, fmt, markdownTable, metricOf, msSince, now, percentile } from '../harness.js'
import type { Comparison, Contender, Metric } from '../harness.js'
import type { BenchContext, Goal, Scenario, ScenarioResult } from '../scenario.js'

const ROOT = fileURLToPath(new URL('../../', import.meta.url))
const DIST_INDEX = fileURLToPath(new URL('../../dist/index.js', import.meta.url))
const NODE_CHILD = fileURLToPath(new URL('./ready-child.mjs', import.meta.url))
const GO_SDK_BIN_SCRIPT = fileURLToPath(new URL('../../scripts/go-sdk-bin.mjs', import.meta.url))

/** The children's own deadline for each ready, ms. */
const READY_TIMEOUT_MS = 20_000
/** How long a child may run in all before it is killed (two readys and its start and exit), ms. */
const CHILD_TIMEOUT_MS = 60_000
/** Building connect-bench: a minute or two with a warm module cache, much longer on a cold one. */
const BUILD_TIMEOUT_MS = 20 * 60_000

const METRICS: readonly Metric[] = [
  { key: 'inProcessMs', label: 'in process (constructor → ready)', unit: 'ms', better: 'lower', digits: 1 },
  { key: 'spawnMs', label: 'spawn → ready line', unit: 'ms', better: 'lower', digits: 1 },
  { key: 'againMs', label: 'in process, a second service in the same process', unit: 'ms', better: 'lower', digits: 1 }
]

interface ReadyLine {
  readonly event: string
  readonly readyMs?: number
  readonly importMs?: number
  readonly message?: string
}

/** The children still running; all are killed when the scenario ends, whatever happened (or the process exits). */
class Children {
  readonly #live = new Set<ChildProcess>()
  readonly #onExit = (): void => this.killAll()

  constructor () {
    process.once('exit', this.#onExit)
  }

  spawn (cmd: string, args: readonly string[], env: NodeJS.ProcessEnv): ChildProcess {
    const child = spawn(cmd, args, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] })
    this.#live.add(child)
    child.once('exit', () => this.#live.delete(child))
    child.once('error', () => this.#live.delete(child))
    return child
  }

  killAll (): void {
    for (const child of this.#live) child.kill('SIGKILL')
    this.#live.clear()
    process.removeListener('exit', this.#onExit)
  }
}

const running = (child: ChildProcess): boolean => child.exitCode === null && child.signalCode === null

/**
 * Resolves once `child` has exited and its output has been read ('close'), or it failed to start; kills it
 * (SIGKILL) after `ms` and says so through `onKill`. Call it right after spawning.
 */
function closed (child: ChildProcess, ms: number, onKill: () => void): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => { onKill(); child.kill('SIGKILL') }, ms)
    timer.unref()
    const done = (): void => { clearTimeout(timer); resolve() }
    child.once('close', done)
    child.once('error', done)
  })
}

/**
 * Spawns one child and collects its stdout lines until it exits (event-driven), noting the time from just
 * before spawn to the arrival of its first line. Expects a `ready` line, then an `again` line. Rejects on an
 * error line, a missing line, a failed exit or the timeout (the child is killed); the child is always gone
 * when this settles.
 */
async function runChild (children: Children, cmd: string, args: readonly string[], env: NodeJS.ProcessEnv,
  what: string): Promise<{ ready: ReadyLine, again: ReadyLine, spawnMs: number }> {
  const t0 = now()
  const child = children.spawn(cmd, args, env)
  let stderr = ''
  child.stderr?.setEncoding('utf8')
  child.stderr?.on('data', (d: string) => { stderr = (stderr + d).slice(-4_000) })
  const tail = (): string => (stderr.trim() === '' ? '' : `; stderr: ${stderr.trim().split('\n').slice(-3).join(' | ')}`)
  const lines: string[] = []
  let spawnMs = Number.NaN
  const rl = createInterface({ input: child.stdout! })
  rl.on('line', (l) => {
    if (lines.length === 0) spawnMs = msSince(t0)
    lines.push(l)
  })
  try {
    // 'close' comes after the child's stdout ended, so every line it printed has been seen.
    const code = await new Promise<number | string>((resolve, reject) => {
      const timer = setTimeout(() => {
        child.kill('SIGKILL')
        reject(new Error(`${what}: not done within ${CHILD_TIMEOUT_MS} ms (${lines.length} lines)${tail()}`))
      }, CHILD_TIMEOUT_MS)
      timer.unref()
      child.once('error', (err) => { clearTimeout(timer); reject(new Error(`${what}: ${err.message}`)) })
      child.once('close', (c, signal) => { clearTimeout(timer); resolve(c ?? signal ?? 'unknown') })
    })
    const parsed = lines.map((text): ReadyLine => {
      try {
        return JSON.parse(text) as ReadyLine
      } catch {
        throw new Error(`${what}: not a JSON line: ${text.slice(0, 200)}`)
      }
    })
    const failure = parsed.find((l) => l.event === 'error')
    if (failure !== undefined) throw new Error(`${what}: ${failure.message ?? 'error'}`)
    const [ready, again] = parsed
    if (ready?.event !== 'ready' || typeof ready.readyMs !== 'number') throw new Error(`${what}: no ready line (exit ${code})${tail()}`)
    if (again?.event !== 'again' || typeof again.readyMs !== 'number') throw new Error(`${what}: no "again" line (exit ${code})${tail()}`)
    if (code !== 0) throw new Error(`${what}: exit ${code} after its lines${tail()}`)
    return { ready, again, spawnMs }
  } finally {
    rl.close()
    if (running(child)) child.kill('SIGKILL')
  }
}

/** Builds (or finds cached) connect-bench through scripts/go-sdk-bin.mjs, its progress lines on `ctx.log`. */
async function goSdkBinary (ctx: BenchContext, children: Children): Promise<string> {
  const child = children.spawn(process.execPath, [GO_SDK_BIN_SCRIPT], process.env)
  let stdout = ''
  child.stdout?.setEncoding('utf8')
  child.stdout?.on('data', (d: string) => { stdout += d })
  createInterface({ input: child.stderr! }).on('line', (l) => ctx.log(l))
  let killed = false
  await closed(child, BUILD_TIMEOUT_MS, () => { killed = true })
  if (killed) throw new Error(`ready: building the Go SDK program took over ${BUILD_TIMEOUT_MS / 60_000} min; gave up`)
  if (child.exitCode !== 0) throw new Error(`ready: scripts/go-sdk-bin.mjs failed (exit ${child.exitCode ?? child.signalCode}); see the [go-sdk:bin] lines above`)
  const bin = stdout.trim()
  if (bin === '') throw new Error('ready: scripts/go-sdk-bin.mjs printed no path')
  return bin
}

/** `{"event":"version",...}` of the built program: the Go release that compiled it and the SDK's module versions. */
async function goSdkVersions (bin: string, children: Children): Promise<{ go: string, consul: string, api: string }> {
  const child = children.spawn(bin, ['version'], process.env)
  let out = ''
  child.stdout?.setEncoding('utf8')
  child.stdout?.on('data', (d: string) => { out += d })
  await closed(child, 30_000, () => {})
  const v = JSON.parse(out.trim()) as { go?: string, consul?: string, api?: string }
  return { go: v.go ?? 'unknown', consul: v.consul ?? 'unknown', api: v.api ?? 'unknown' }
}

/**
 * The environment of the children: the dev agent's address, none of the caller's CONSUL_* settings, and no
 * NODE_OPTIONS (a loader such as tsx's would slow the Node child's start).
 */
function childEnv (address: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {}
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('CONSUL_') && k !== 'NODE_OPTIONS') env[k] = v
  env.CONSUL_HTTP_ADDR = address
  return env
}

interface Variant {
  readonly comparison: Comparison
  /** Node child's time to load dist/index.js, per timed trial, ms. */
  readonly importMs: number[]
}

async function measure (ctx: BenchContext, children: Children, bin: string, address: string, kind: 'cold' | 'warm',
  problems: string[]): Promise<Variant> {
  const env = childEnv(address)
  const importMs: number[] = []
  let serial = 0
  // Cold: new names every trial (and every side). Warm: the same names per side, first asked for in the warm-up.
  const namesFor = (side: 'node' | 'go'): [string, string] => {
    const name = kind === 'cold' ? `ready-cold-${side}-${++serial}` : `ready-warm-${side}`
    return [name, `${name}-again`]
  }
  const failed = (err: unknown): Record<string, number> => {
    problems.push((err as Error).message)
    return { inProcessMs: Number.NaN, spawnMs: Number.NaN, againMs: Number.NaN }
  }

  const node: Contender = {
    name: 'this library',
    run: async (round) => {
      const [service, again] = namesFor('node')
      try {
        const r = await runChild(children, process.execPath,
          [NODE_CHILD, '--service', service, '--again', again, '--address', address, '--timeout-ms', String(READY_TIMEOUT_MS)],
          env, `ready ${kind}: node child for "${service}"`)
        if (!round.warmup && typeof r.ready.importMs === 'number') importMs.push(r.ready.importMs)
        return { inProcessMs: r.ready.readyMs!, spawnMs: r.spawnMs, againMs: r.again.readyMs! }
      } catch (err) { return failed(err) }
    }
  }
  const go: Contender = {
    name: 'Go SDK',
    run: async () => {
      const [service, again] = namesFor('go')
      try {
        const r = await runChild(children, bin,
          ['ready', '-service', service, '-again', again, '-timeout', `${READY_TIMEOUT_MS}ms`],
          env, `ready ${kind}: connect-bench for "${service}"`)
        return { inProcessMs: r.ready.readyMs!, spawnMs: r.spawnMs, againMs: r.again.readyMs! }
      } catch (err) { return failed(err) }
    }
  }
  const rounds = ctx.quick ? 3 : 10
  const comparison = await compareInterleaved(`${kind} start`, go, node, {
    metrics: METRICS,
    rounds,
    minRounds: Math.min(3, rounds),
    warmupRounds: 1,
    budgetMs: ctx.quick ? 30_000 : 120_000,
    log: ctx.log
  })
  return { comparison, importMs }
}

/** p90 (nearest rank) of one side's values of a metric across the timed trials. */
function p90 (c: Comparison, side: 'baseline' | 'candidate', key: string): number {
  return percentile(c.rounds.map((r) => r[side][key] ?? Number.NaN).filter((v) => Number.isFinite(v)), 90)
}

function variantTable (v: Variant): string {
  const c = v.comparison
  const ms = (x: number): string => `${fmt(x, 1)} ms`
  return markdownTable(
    ['measure', 'Go SDK median', 'Go SDK p90', 'this library median', 'this library p90', 'ratio library / Go (median of trials, min–max)'],
    METRICS.map((m) => {
      const mc = metricOf(c, m.key)
      return [
        m.label,
        ms(mc.baseline.median), ms(p90(c, 'baseline', m.key)),
        ms(mc.candidate.median), ms(p90(c, 'candidate', m.key)),
        `**${fmt(mc.ratio.median, 2)}×** (${fmt(mc.ratio.min, 2)}–${fmt(mc.ratio.max, 2)})`
      ]
    }),
    ['l', 'r', 'r', 'r', 'r', 'r'])
}

async function run (ctx: BenchContext): Promise<ScenarioResult> {
  if (!existsSync(DIST_INDEX)) throw new Error('ready: dist/index.js is missing; run `npm run build` first (the Node child loads the compiled package)')
  const children = new Children()
  const problems: string[] = []
  let agent: DevAgent | undefined
  let cold: Variant
  let warm: Variant
  let versions: { go: string, consul: string, api: string }
  try {
    const bin = await goSdkBinary(ctx, children)
    versions = await goSdkVersions(bin, children)
    ctx.log(`Go SDK program: ${bin} (${versions.go}, consul ${versions.consul}, api ${versions.api})`)
    agent = await DevAgent.start()
    cold = await measure(ctx, children, bin, agent.address, 'cold', problems)
    warm = await measure(ctx, children, bin, agent.address, 'warm', problems)
  } finally {
    children.killAll()
    await agent?.stop()
  }

  const variants = [['cold', cold], ['warm', warm]] as const
  const medianOf = (v: Variant, side: 'baseline' | 'candidate', key: string): number => metricOf(v.comparison, key)[side].median
  const ratioOf = (v: Variant, key: string): number => metricOf(v.comparison, key).ratio.median
  const measuredAll = variants.every(([, v]) => METRICS.every((m) => Number.isFinite(medianOf(v, 'baseline', m.key)) && Number.isFinite(medianOf(v, 'candidate', m.key))))
  const trials = (v: Variant): string => `${v.comparison.rounds.length} trials per side${v.comparison.stoppedByBudget ? ' (time budget reached)' : ''}`
  const importMedian = (v: Variant): number => percentile(v.importMs, 50)

  const goal: Goal = {
    goal: 'time to ready reported against the Go SDK (no numeric goal)',
    measured: variants.map(([name, v]) =>
      `${name}: in process ${fmt(medianOf(v, 'candidate', 'inProcessMs'), 1)} ms vs ${fmt(medianOf(v, 'baseline', 'inProcessMs'), 1)} ms ` +
      `(${fmt(ratioOf(v, 'inProcessMs'), 2)}×), spawn → ready ${fmt(medianOf(v, 'candidate', 'spawnMs'), 0)} ms vs ` +
      `${fmt(medianOf(v, 'baseline', 'spawnMs'), 0)} ms (${fmt(ratioOf(v, 'spawnMs'), 2)}×), second service in process ` +
      `${fmt(medianOf(v, 'candidate', 'againMs'), 1)} ms vs ${fmt(medianOf(v, 'baseline', 'againMs'), 1)} ms (${fmt(ratioOf(v, 'againMs'), 2)}×)`)
      .join('; ') + ' (library vs Go SDK, medians)',
    status: measuredAll ? 'met' : 'not measured'
  }

  const chartOf = (title: string, keys: ReadonlyArray<readonly [string, string]>): string => barChart({
    title,
    labels: variants.flatMap(([name]) => keys.flatMap(([, short]) => [`${name} ${short} Go`, `${name} ${short} lib`])),
    values: variants.flatMap(([, v]) => keys.flatMap(([key]) => [medianOf(v, 'baseline', key), medianOf(v, 'candidate', key)])),
    yLabel: 'ms',
    digits: 1
  })
  const inProcessChart = chartOf('Time to ready in process, median (ms)', [['inProcessMs', 'first'], ['againMs', 'second']])
  const spawnChart = chartOf('Spawn to ready line, median (ms)', [['spawnMs', 'spawn']])

  const markdown = [
    'How long a new process takes to become a working mesh member, this library against Consul\'s own Go',
    'Connect SDK, both talking to the same real `consul agent -dev` (started for this scenario, nothing else on',
    'it). Every trial is a new child process:',
    '',
    '- **this library**: `node bench/scenarios/ready-child.mjs` imports the compiled package (`dist/index.js`),',
    '  then times `new ConnectService({ service, agent: { address } })` → `await svc.ready()`.',
    '- **Go SDK**: `connect-bench ready` (`bench/go-sdk/main.go`, built against `github.com/hashicorp/consul`',
    `  ${versions.consul} with ${versions.go}), which times \`connect.NewServiceWithConfig\` → \`ReadyWait()\`.`,
    '',
    'Each child reports its own *in process* time; the parent takes *spawn → ready line*, from just before',
    '`spawn()` to the arrival of the child\'s JSON line, so process start and loading the code are included.',
    'Each child then does the same for a second service in the same process (`<name>-again`, new in the cold',
    'variant, cached in the warm one): that row is the agent round trips without the process\'s first-use',
    'work (for Node: compiling code on first call, undici\'s WebAssembly HTTP parser on the first request, zod',
    'schemas on the first parse). The two sides alternate and swap order every trial, after one untimed',
    'warm-up trial each; every figure is a median or p90 over trials.',
    '',
    'The two do not wait for the same thing. The SDK\'s `ReadyWait` closes once the first leaf and the first',
    'CA roots arrived (connect/tls.go, `dynamicTLSConfig.notify`): it never loads intentions, because its',
    'server asks the agent (`/v1/agent/connect/authorize`) during every new TLS handshake instead. `ready()`',
    'here also waits for the service\'s intentions (`/v1/connect/intentions/match`, fetched in parallel with the',
    'leaf and roots), since this library decides connections in process from a cached copy.',
    '',
    `### Cold: a service name the agent has never seen (${trials(cold)})`,
    '',
    'The agent generates a key and a CSR and has the built-in CA sign a new leaf for each service of each trial.',
    'The second service\'s CSR follows the first within milliseconds, so its row may be paced by the servers\'',
    'CSR rate limit (`csr_max_per_second`, default 50, one every 20 ms) on both sides.',
    '',
    variantTable(cold),
    '',
    `### Warm: the same service name again (${trials(warm)})`,
    '',
    'The leaves were issued in the warm-up trial; the agent\'s cache answers.',
    '',
    variantTable(warm),
    '',
    inProcessChart,
    '',
    spawnChart,
    '',
    `Of the library's spawn → ready time, loading \`dist/index.js\` (undici, zod and the library's modules) took a`,
    `median of ${fmt(importMedian(cold), 1)} ms in the cold trials and ${fmt(importMedian(warm), 1)} ms in the warm ones; the rest is Node's own`,
    'start and the in-process time. The Go program is one static binary with nothing to load.',
    'Ratios are per trial (library / Go, lower is better for the library), summarised by their median.'
  ].join('\n')

  return {
    title: 'Time to ready: this library vs the Go SDK',
    markdown,
    goals: [goal],
    problems,
    versions: { Go: versions.go, 'Consul Go SDK': `github.com/hashicorp/consul ${versions.consul} (api ${versions.api})` }
  }
}

export const scenario: Scenario = { id: 'ready', title: 'Time to ready vs the Go SDK', estimate: '1–2 min (plus building the Go program once)', run }

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  const result = await run({ quick: process.argv.includes('--quick'), log: (l) => process.stderr.write(`[ready] ${l}\n`), consulBin: consulBinary(), consulVersion: consulVersion() })
  process.stdout.write(`## ${result.title}\n\n${result.markdown}\n\n${JSON.stringify({ goals: result.goals, problems: result.problems, versions: result.versions }, null, 2)}\n`)
}
