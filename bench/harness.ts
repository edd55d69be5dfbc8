/**
 * Benchmark harness: timing, bounded load loops, interleaved baseline/candidate rounds, and a Markdown
 * report. Reused by every bench/*.ts that compares two implementations of the same thing.
 *
 * The machine these run on is small and shared (2 cores, test suites running beside us), so absolute
 * numbers drift by tens of percent within a minute. What the harness does about it:
 * - baseline and candidate run in the same process, in alternating rounds; the order flips every round
 *   (B C, C B, B C, ...), so slow drift and "who ran second" hit both sides equally;
 * - the figure that matters is the *paired* ratio candidate/baseline of each round, summarised by its
 *   median across rounds, with min–max and the interquartile range as the spread;
 * - every loop is bounded by a count *and* a deadline, and a comparison stops taking rounds when its time
 *   budget is spent (after a minimum number), so a run always ends by itself.
 *
 * Times are taken with `process.hrtime.bigint()` (monotonic, ns); figures are kept in milliseconds as
 * floating point numbers once measured.
 */
import { setMaxListeners } from 'node:events'
import { writeFile, mkdir } from 'node:fs/promises'
import { dirname } from 'node:path'
import os from 'node:os'

// ---------------------------------------------------------------------------------------------- timing

/** Monotonic time in nanoseconds. */
export function now (): bigint {
  return process.hrtime.bigint()
}

/** Milliseconds elapsed since `start` (a value of {@link now}). */
export function msSince (start: bigint): number {
  return Number(process.hrtime.bigint() - start) / 1e6
}

/** A promise resolved after `ms`; the timer never keeps the process alive. */
export function sleep (ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref())
}

// ---------------------------------------------------------------------------------------------- statistics

/** The `p`-th percentile (0–100) of `values`, nearest rank on a sorted copy; NaN when empty. */
export function percentile (values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN
  const sorted = [...values].sort((a, b) => a - b)
  return percentileOfSorted(sorted, p)
}

/** As {@link percentile}, for an array already sorted ascending. */
export function percentileOfSorted (sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN
  const rank = Math.ceil((Math.min(100, Math.max(0, p)) / 100) * sorted.length)
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))]!
}

/** The median (mean of the two middle values for an even count); NaN when empty. */
export function median (values: readonly number[]): number {
  if (values.length === 0) return Number.NaN
  const sorted = [...values].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}

/** Centre and spread of a set of measurements. */
export interface Summary {
  readonly n: number
  readonly median: number
  readonly min: number
  readonly max: number
  readonly p25: number
  readonly p75: number
  /** (p75 − p25) / median: the spread as a fraction of the centre. */
  readonly relIqr: number
}

export function summarize (values: readonly number[]): Summary {
  const sorted = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b)
  const med = median(sorted)
  const p25 = percentileOfSorted(sorted, 25)
  const p75 = percentileOfSorted(sorted, 75)
  return {
    n: sorted.length,
    median: med,
    min: sorted[0] ?? Number.NaN,
    max: sorted[sorted.length - 1] ?? Number.NaN,
    p25,
    p75,
    relIqr: med === 0 ? Number.NaN : (p75 - p25) / Math.abs(med)
  }
}

// ---------------------------------------------------------------------------------------------- bounded loops

export interface BoundedLoopOptions {
  /** Tasks to run at most. */
  readonly count: number
  /** Tasks in flight at once. */
  readonly concurrency: number
  /** No task starts after this many ms; tasks still running `graceMs` later are abandoned (signal aborted). */
  readonly maxMs: number
  /** Default 2 000 ms. */
  readonly graceMs?: number
}

export interface BoundedLoopResult {
  /** Tasks that resolved. */
  readonly completed: number
  /** Tasks that rejected (or were abandoned). */
  readonly failed: number
  /** Wall time from the first start to the last settlement, ms. */
  readonly elapsedMs: number
  /** Completed tasks per second of `elapsedMs`. */
  readonly perSecond: number
  /** Latency of each completed task, ms, in completion order. */
  readonly latenciesMs: number[]
  /** True when the deadline, not the count, ended the loop. */
  readonly timedOut: boolean
  /** The first few failure messages, for the report. */
  readonly errors: string[]
}

/**
 * Runs `task(i, signal)` `count` times with `concurrency` in flight, stopping early at `maxMs`.
 * `signal` aborts when the loop gives up on stragglers: a task must then release what it holds (destroy its
 * socket). Never rejects.
 */
export async function runBounded (
  options: BoundedLoopOptions,
  task: (index: number, signal: AbortSignal) => Promise<void>
): Promise<BoundedLoopResult> {
  const { count, concurrency, maxMs } = options
  const graceMs = options.graceMs ?? 2_000
  const abandon = new AbortController()
  // Every task in flight may listen on the signal (undici adds a listener per request, and keeps it a while).
  setMaxListeners(Math.max(10, concurrency * 4), abandon.signal)
  const latenciesMs: number[] = []
  const errors: string[] = []
  let started = 0
  let completed = 0
  let failed = 0
  let timedOut = false
  const start = now()
  const deadline = start + BigInt(Math.round(maxMs * 1e6))

  const worker = async (): Promise<void> => {
    while (started < count && !abandon.signal.aborted) {
      if (now() >= deadline) {
        timedOut = true
        return
      }
      const index = started++
      const t0 = now()
      try {
        await task(index, abandon.signal)
        latenciesMs.push(msSince(t0))
        completed++
      } catch (err) {
        failed++
        if (errors.length < 5) errors.push((err as Error)?.message ?? String(err))
      }
    }
  }

  const workers = Promise.all(Array.from({ length: Math.max(1, Math.min(concurrency, count)) }, worker))
  let hardTimer: NodeJS.Timeout | undefined
  const hardStop = new Promise<'hard'>((resolve) => {
    hardTimer = setTimeout(() => resolve('hard'), maxMs + graceMs)
    hardTimer.unref()
  })
  const how = await Promise.race([workers.then(() => 'done' as const), hardStop])
  clearTimeout(hardTimer)
  if (how === 'hard') {
    timedOut = true
    abandon.abort(new Error(`abandoned after ${maxMs + graceMs} ms`))
    failed += started - completed - failed
    if (errors.length < 5) errors.push(`tasks still running ${graceMs} ms after the deadline were abandoned`)
  }
  const elapsedMs = msSince(start)
  return { completed, failed, elapsedMs, perSecond: completed / (elapsedMs / 1000), latenciesMs, timedOut, errors }
}

// ---------------------------------------------------------------------------------------------- interleaved comparison

/** A figure measured in every round. */
export interface Metric {
  readonly key: string
  readonly label: string
  readonly unit: string
  /** Which direction is an improvement; decides how the ratio reads. */
  readonly better: 'higher' | 'lower'
  /** Decimals shown. Default 1. */
  readonly digits?: number
}

/** One side of a comparison. `run` performs one round and returns a value for every metric key. */
export interface Contender {
  readonly name: string
  readonly run: (round: RoundInfo) => Promise<Record<string, number>>
}

export interface RoundInfo {
  /** 0-based; negative for warm-up rounds. */
  readonly index: number
  readonly warmup: boolean
}

export interface CompareOptions {
  readonly metrics: readonly Metric[]
  /** Rounds wanted (each runs both contenders once). */
  readonly rounds: number
  /** Rounds always taken, even over budget. Default min(3, rounds). */
  readonly minRounds?: number
  /** Untimed rounds of both contenders before measuring. Default 1. */
  readonly warmupRounds?: number
  /** No new round starts once this much time (ms, warm-up included) has passed and minRounds are done. */
  readonly budgetMs: number
  /** Progress lines (default: none). */
  readonly log?: (line: string) => void
}

export interface RoundRecord {
  readonly index: number
  /** Which ran first in this round. */
  readonly first: 'baseline' | 'candidate'
  readonly baseline: Record<string, number>
  readonly candidate: Record<string, number>
}

export interface MetricComparison {
  readonly metric: Metric
  readonly baseline: Summary
  readonly candidate: Summary
  /** Per-round candidate/baseline ratios. */
  readonly ratio: Summary
}

export interface Comparison {
  readonly title: string
  readonly baselineName: string
  readonly candidateName: string
  readonly rounds: readonly RoundRecord[]
  readonly metrics: readonly MetricComparison[]
  /** True when the time budget, not the round count, ended the comparison. */
  readonly stoppedByBudget: boolean
  readonly elapsedMs: number
}

/**
 * Runs `baseline` and `candidate` in alternating rounds (order flipped every round) and summarises each
 * metric for both plus the per-round ratio candidate/baseline.
 */
export async function compareInterleaved (
  title: string,
  baseline: Contender,
  candidate: Contender,
  options: CompareOptions
): Promise<Comparison> {
  const log = options.log ?? (() => {})
  const minRounds = Math.min(options.minRounds ?? 3, options.rounds)
  const start = now()
  for (let w = 0; w < (options.warmupRounds ?? 1); w++) {
    const info = { index: -1 - w, warmup: true }
    await baseline.run(info)
    await candidate.run(info)
  }
  log(`${title}: warm-up done in ${msSince(start).toFixed(0)} ms`)
  const rounds: RoundRecord[] = []
  let stoppedByBudget = false
  for (let index = 0; index < options.rounds; index++) {
    if (index >= minRounds && msSince(start) >= options.budgetMs) {
      stoppedByBudget = true
      break
    }
    const info = { index, warmup: false }
    const first = index % 2 === 0 ? 'baseline' : 'candidate'
    let b: Record<string, number>
    let c: Record<string, number>
    if (first === 'baseline') {
      b = await baseline.run(info)
      c = await candidate.run(info)
    } else {
      c = await candidate.run(info)
      b = await baseline.run(info)
    }
    rounds.push({ index, first, baseline: b, candidate: c })
    const head = options.metrics[0]
    if (head !== undefined) {
      const digits = head.digits ?? 1
      log(`${title}: round ${index + 1}/${options.rounds} ${head.label}: ${baseline.name} ${fmt(b[head.key], digits)}, ` +
        `${candidate.name} ${fmt(c[head.key], digits)} (ratio ${fmt(ratioOf(c[head.key], b[head.key]), 3)})`)
    }
  }
  const metrics = options.metrics.map((metric): MetricComparison => ({
    metric,
    baseline: summarize(rounds.map((r) => r.baseline[metric.key] ?? Number.NaN)),
    candidate: summarize(rounds.map((r) => r.candidate[metric.key] ?? Number.NaN)),
    ratio: summarize(rounds.map((r) => ratioOf(r.candidate[metric.key], r.baseline[metric.key])))
  }))
  return { title, baselineName: baseline.name, candidateName: candidate.name, rounds, metrics, stoppedByBudget, elapsedMs: msSince(start) }
}

function ratioOf (candidate: number | undefined, baseline: number | undefined): number {
  if (candidate === undefined || baseline === undefined || baseline === 0) return Number.NaN
  return candidate / baseline
}

/** The comparison of one metric, by key. */
export function metricOf (comparison: Comparison, key: string): MetricComparison {
  const found = comparison.metrics.find((m) => m.metric.key === key)
  if (found === undefined) throw new Error(`${comparison.title}: no metric "${key}"`)
  return found
}

// ---------------------------------------------------------------------------------------------- machine

export interface MachineInfo {
  readonly cpuModel: string
  readonly cores: number
  readonly node: string
  readonly os: string
  readonly totalMemoryGiB: number
  readonly date: string
  /** 1, 5 and 15 minute load averages when the run started. */
  readonly loadAtStart: readonly number[]
}

export function machineInfo (): MachineInfo {
  const cpus = os.cpus()
  return {
    cpuModel: cpus[0]?.model.trim() ?? 'unknown',
    cores: cpus.length,
    node: process.version,
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    totalMemoryGiB: os.totalmem() / 2 ** 30,
    date: new Date().toISOString(),
    loadAtStart: os.loadavg()
  }
}

// ---------------------------------------------------------------------------------------------- report

/** A number with fixed decimals; `n/a` for NaN or missing. */
export function fmt (value: number | undefined, digits = 1): string {
  return value === undefined || !Number.isFinite(value) ? 'n/a' : value.toFixed(digits)
}

/** A fraction as a percentage: 0.034 → `3.4 %`. */
export function pct (fraction: number, digits = 1): string {
  return Number.isFinite(fraction) ? `${(fraction * 100).toFixed(digits)} %` : 'n/a'
}

/** A GitHub-flavoured Markdown table; `align` per column, `r` for right (numbers), default left. */
export function markdownTable (header: readonly string[], rows: ReadonlyArray<readonly string[]>, align: ReadonlyArray<'l' | 'r'> = []): string {
  const cell = (s: string): string => s.replace(/\|/g, '\\|')
  const widths = header.map((h, i) => Math.max(3, h.length, ...rows.map((r) => (r[i] ?? '').length)))
  const line = (cells: readonly string[]): string =>
    `| ${cells.map((c, i) => (align[i] === 'r' ? cell(c).padStart(widths[i]!) : cell(c).padEnd(widths[i]!))).join(' | ')} |`
  const rule = `|${widths.map((w, i) => (align[i] === 'r' ? `${'-'.repeat(w + 1)}:` : `${'-'.repeat(w + 2)}`)).join('|')}|`
  return [line(header), rule, ...rows.map(line)].join('\n')
}

/**
 * The summary table of a comparison: per metric the baseline and candidate medians with their spread
 * (± half the relative IQR), and the median per-round ratio with its min–max.
 */
export function comparisonTable (c: Comparison): string {
  const centre = (s: Summary, digits: number): string =>
    s.n === 0 ? 'n/a' : Number.isFinite(s.relIqr) ? `${fmt(s.median, digits)} ±${pct(s.relIqr / 2, 0)}` : fmt(s.median, digits)
  const range = (a: number, b: number): string => (Number.isFinite(a) ? `${fmt(a, 3)}–${fmt(b, 3)}` : 'n/a')
  const rows = c.metrics.map(({ metric, baseline, candidate, ratio }) => {
    const d = metric.digits ?? 1
    return [
      `${metric.label} (${metric.unit}, ${metric.better} is better)`,
      centre(baseline, d),
      centre(candidate, d),
      fmt(ratio.median, 3),
      range(ratio.min, ratio.max),
      range(ratio.p25, ratio.p75)
    ]
  })
  return markdownTable(
    ['metric', `${c.baselineName} (median)`, `${c.candidateName} (median)`, 'ratio cand/base (median)', 'ratio min–max', 'ratio IQR'],
    rows, ['l', 'r', 'r', 'r', 'r', 'r'])
}

/** Every round's raw values for the given metrics, in run order, for the appendix of a report. */
export function roundsTable (c: Comparison, keys: readonly string[]): string {
  const metrics = keys.map((k) => metricOf(c, k).metric)
  const header = ['round', 'first', ...metrics.flatMap((m) => [`${m.label}: ${c.baselineName}`, `${m.label}: ${c.candidateName}`, 'ratio'])]
  const rows = c.rounds.map((r) => [
    String(r.index + 1),
    r.first,
    ...metrics.flatMap((m) => {
      const d = m.digits ?? 1
      return [fmt(r.baseline[m.key], d), fmt(r.candidate[m.key], d), fmt(ratioOf(r.candidate[m.key], r.baseline[m.key]), 3)]
    })
  ])
  return markdownTable(header, rows, ['r', 'l', ...metrics.flatMap(() => ['r', 'r', 'r'] as const)])
}

/** The machine block of a report. `loadAtEnd` is read now. */
export function machineSection (m: MachineInfo): string {
  const load = (l: readonly number[]): string => l.map((x) => x.toFixed(2)).join(' / ')
  return markdownTable(['', ''], [
    ['CPU', `${m.cpuModel} × ${m.cores}`],
    ['OS', m.os],
    ['memory', `${m.totalMemoryGiB.toFixed(1)} GiB`],
    ['Node.js', m.node],
    ['date', m.date],
    ['load average (1/5/15 min) at start', load(m.loadAtStart)],
    ['load average (1/5/15 min) at end', load(os.loadavg())]
  ])
}

/** Writes a report, creating its directory. */
export async function writeReport (path: string, markdown: string): Promise<void> {
  await mkdir(dirname(path), { recursive: true })
  await writeFile(path, markdown.endsWith('\n') ? markdown : `${markdown}\n`)
}

/**
 * Exits the process `ms` from now unless the run finished first (`cancel()`): the last line of defence
 * against a loop that forgot its bound. The timer does not keep the process alive.
 */
export function watchdog (ms: number, what: string): { cancel: () => void } {
  const timer = setTimeout(() => {
    console.error(`${what}: still running after ${ms} ms, giving up`)
    process.exit(3)
  }, ms)
  timer.unref()
  return { cancel: () => clearTimeout(timer) }
}
