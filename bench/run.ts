/**
 * `npm run bench`: runs every benchmark scenario against real components (a `consul agent -dev` from the pinned
 * build, `consul connect proxy` sidecars, a Go program on Consul's Connect SDK) and writes docs/benchmarks.md.
 *
 *   npm run bench                         # every scenario, writes docs/benchmarks.md (about 10–15 min)
 *   npm run bench -- --quick              # a short smoke run, writes bench/results/benchmarks-quick.md
 *   npm run bench -- --only authz,memory  # some scenarios, writes bench/results/benchmarks-<ids>.md
 *   npm run bench -- --out <file>         # write the report elsewhere
 *
 * Scenarios run one after another, never two at once (they would share the cores). Exit code 0 when every
 * scenario ran and reported no problem, 1 otherwise (the report is written either way), 3 when the watchdog
 * had to stop the run.
 */
import { execFileSync, spawnSync } from 'node:child_process'
import { dirname, join, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { consulBinary, consulVersion } from '../test/integration/support/consul-agent.js'
import { machineInfo, msSince, now, watchdog, writeReport } from './harness.js'
import { problemsOf, renderBenchmarks } from './report.js'
import type { ScenarioOutcome } from './report.js'
import type { BenchContext, Scenario } from './scenario.js'
import { scenario as authz } from './scenarios/authz.js'
import { scenario as connections } from './scenarios/connections.js'
import { scenario as latency } from './scenarios/latency.js'
import { scenario as memory } from './scenarios/memory.js'
import { scenario as ready } from './scenarios/ready.js'
import { scenario as rotation } from './scenarios/rotation.js'

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const SCENARIOS: readonly Scenario[] = [authz, connections, latency, rotation, memory, ready]

/** The goals the issue sets; any that no scenario reports shows up as not measured. */
export const EXPECTED_GOALS = [
  'decision ≥ 100× faster than the agent\'s authorize call',
  'new connections/s ≥ 90 % of the plain Node TLS ceiling',
  'new connections/s ≥ 1.5× the Go SDK server',
  'native p50 latency ≤ 0.6× the sidecar path',
  'zero failed requests through leaf renewals and CA root rotations'
] as const

const say = (line: string): void => { process.stderr.write(`[bench] ${line}\n`) }

function versionOf (cmd: string, args: readonly string[]): string {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim().split('\n')[0] ?? 'unknown'
  } catch {
    return 'not available'
  }
}

async function main (): Promise<number> {
  const { values } = parseArgs({ options: { quick: { type: 'boolean', default: false }, only: { type: 'string' }, out: { type: 'string' } } })
  const quick = values.quick === true
  const only = values.only?.split(',').map((s) => s.trim()).filter((s) => s !== '')
  for (const id of only ?? []) {
    if (!SCENARIOS.some((s) => s.id === id)) throw new Error(`--only: no scenario "${id}"; the scenarios are ${SCENARIOS.map((s) => s.id).join(', ')}`)
  }
  const chosen = SCENARIOS.filter((s) => only === undefined || only.includes(s.id))
  const out = resolve(values.out ?? (only !== undefined
    ? join(ROOT, 'bench/results', `benchmarks-${only.join('-')}${quick ? '-quick' : ''}.md`)
    : quick ? join(ROOT, 'bench/results/benchmarks-quick.md') : join(ROOT, 'docs/benchmarks.md')))
  const command = `npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`

  say(`${chosen.length} scenario(s): ${chosen.map((s) => `${s.id} (~${s.estimate})`).join(', ')}${quick ? ' — quick run' : ''}`)
  say('step: the Consul binary (built from Go modules on first use; several minutes then)')
  const consulBin = consulBinary()
  const consul = consulVersion()
  say(`step: compiling the package to dist/ (the time-to-ready scenario runs the published build)`)
  const build = spawnSync('npm', ['run', '--silent', 'build'], { cwd: ROOT, stdio: ['ignore', 'inherit', 'inherit'] })
  if (build.status !== 0) throw new Error(`npm run build exited with ${build.status}`)

  const machine = machineInfo()
  const outcomes: ScenarioOutcome[] = []
  const extraVersions: Record<string, string> = {}
  for (const [i, s] of chosen.entries()) {
    say(`scenario ${i + 1}/${chosen.length}: ${s.id} — ${s.title} (~${s.estimate})`)
    const ctx: BenchContext = { quick, consulBin, consulVersion: consul, log: (line) => process.stderr.write(`[bench:${s.id}] ${line}\n`) }
    const t0 = now()
    try {
      const result = await s.run(ctx)
      Object.assign(extraVersions, result.versions ?? {})
      outcomes.push({ id: s.id, title: s.title, elapsedMs: msSince(t0), result })
      say(`scenario ${s.id}: done in ${(msSince(t0) / 1000).toFixed(0)} s; ${result.goals.map((g) => `${g.goal}: ${g.status}`).join('; ') || 'no goal'}`)
    } catch (err) {
      const message = (err as Error)?.stack?.split('\n').slice(0, 3).join(' ') ?? String(err)
      outcomes.push({ id: s.id, title: s.title, elapsedMs: msSince(t0), error: message })
      say(`scenario ${s.id}: FAILED after ${(msSince(t0) / 1000).toFixed(0)} s: ${message}`)
    }
  }

  const versions: Record<string, string> = {
    'Node.js': process.version,
    OpenSSL: process.versions.openssl ?? 'unknown',
    Consul: consul.replace(/^Consul /, ''),
    ...extraVersions,
    'consul-connect-native': versionOf('node', ['-p', `require(${JSON.stringify(join(ROOT, 'package.json'))}).version`])
  }
  const run = { machine, versions, command, quick, outcomes, expectedGoals: only === undefined ? EXPECTED_GOALS : [] }
  await writeReport(out, renderBenchmarks(run))
  const problems = problemsOf(run)
  say(`wrote ${relative(process.cwd(), out)}; ${problems.length === 0 ? 'no problems' : `${problems.length} problem(s):\n  ${problems.join('\n  ')}`}`)
  return problems.length === 0 ? 0 : 1
}

const dog = watchdog(60 * 60_000, 'npm run bench')
try {
  process.exitCode = await main()
} catch (err) {
  say(`error: ${(err as Error).message}`)
  process.exitCode = 2
} finally {
  dog.cancel()
}
