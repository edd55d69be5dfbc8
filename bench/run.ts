/**
 * `npm run bench`: runs every benchmark scenario against real components (a `consul agent -dev` from the pinned
 * build, `consul connect proxy` sidecars, a Go program on Consul's Connect SDK) and writes docs/benchmarks.md.
 *
 *   npm run bench                         # every scenario, writes docs/benchmarks.md (about 10–15 min)
 *   npm run bench -- --quick              # a short smoke run, writes bench/results/benchmarks-quick.md
 *   npm run bench -- --only authz,memory  # some scenarios, writes bench/results/benchmarks-<ids>.md
 *   npm run bench -- --out <file>         # write the report elsewhere
 *   npm run bench -- --no-lts             # skip the second pass on the LTS Node
 *
 * After the scenarios on the running Node, the `connections` and `latency` scenarios (the ones that measure
 * Node's TLS) run again on the pinned LTS Node (scripts/node-lts.mjs), whose OpenSSL is newer, unless the
 * running Node already is that version. Their sections and goals are added with the Node version in the title.
 *
 * Scenarios run one after another, never two at once (they would share the cores). Exit code 0 when every
 * scenario ran and reported no problem, 1 otherwise (the report is written either way), 3 when the watchdog
 * had to stop the run.
 */
import { execFileSync, spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { nodeLtsBin } from '../scripts/node-lts.mjs'
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
/** Scenarios run a second time on the LTS Node: those whose figures are Node's TLS. */
const LTS_SCENARIOS = ['connections', 'latency'] as const

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

/** What a run on another Node hands back (`--json`): its outcomes and the versions it saw. */
interface SubRun {
  readonly outcomes: ScenarioOutcome[]
  readonly versions: Record<string, string>
}

async function runScenarios (chosen: readonly Scenario[], quick: boolean, consulBin: string, consul: string): Promise<SubRun> {
  const outcomes: ScenarioOutcome[] = []
  const versions: Record<string, string> = {}
  for (const [i, s] of chosen.entries()) {
    say(`scenario ${i + 1}/${chosen.length} on Node ${process.version}: ${s.id} — ${s.title} (~${s.estimate})`)
    const ctx: BenchContext = { quick, consulBin, consulVersion: consul, log: (line) => process.stderr.write(`[bench:${s.id}] ${line}\n`) }
    const t0 = now()
    try {
      const result = await s.run(ctx)
      Object.assign(versions, result.versions ?? {})
      outcomes.push({ id: s.id, title: s.title, elapsedMs: msSince(t0), result })
      say(`scenario ${s.id}: done in ${(msSince(t0) / 1000).toFixed(0)} s; ${result.goals.map((g) => `${g.goal}: ${g.status}`).join('; ') || 'no goal'}`)
    } catch (err) {
      const message = (err as Error)?.stack?.split('\n').slice(0, 3).join(' ') ?? String(err)
      outcomes.push({ id: s.id, title: s.title, elapsedMs: msSince(t0), error: message })
      say(`scenario ${s.id}: FAILED after ${(msSince(t0) / 1000).toFixed(0)} s: ${message}`)
    }
  }
  return { outcomes, versions }
}

/**
 * Runs `ids` again in a child on the LTS Node (`--json`), and returns its outcomes relabelled with that Node's
 * version; a child that fails is reported as failed outcomes, never hidden.
 */
function ltsPass (ids: readonly string[], quick: boolean): { outcomes: ScenarioOutcome[], node: string, openssl: string } | undefined {
  let node: string
  try {
    node = nodeLtsBin()
  } catch (err) {
    say(`no LTS Node for the second pass: ${(err as Error).message}`)
    return { outcomes: ids.map((id) => ({ id: `${id}@lts`, title: `${id} on the LTS Node`, elapsedMs: 0, error: `the LTS Node could not be installed: ${(err as Error).message}` })), node: 'not available', openssl: 'not available' }
  }
  const [version, openssl] = versionOf(node, ['-p', 'process.version + " " + process.versions.openssl']).split(' ')
  if (version === process.version) return undefined
  const dir = mkdtempSync(join(tmpdir(), 'ccn-bench-'))
  try {
    const out = join(dir, 'lts.json')
    say(`second pass on Node ${version} (OpenSSL ${openssl}): ${ids.join(', ')}`)
    const child = spawnSync(node, ['--import', 'tsx', fileURLToPath(import.meta.url), '--only', ids.join(','), '--json', out, '--no-build', '--no-lts', ...(quick ? ['--quick'] : [])], { cwd: ROOT, stdio: ['ignore', 'inherit', 'inherit'] })
    let sub: SubRun
    try {
      sub = JSON.parse(readFileSync(out, 'utf8')) as SubRun
    } catch {
      return { outcomes: ids.map((id) => ({ id: `${id}@lts`, title: `${id} on Node ${version}`, elapsedMs: 0, error: `the run on Node ${version} exited with ${child.status ?? child.signal} and wrote no results` })), node: version ?? 'unknown', openssl: openssl ?? 'unknown' }
    }
    const label = ` — on Node ${version} (OpenSSL ${openssl})`
    const outcomes = sub.outcomes.map((o): ScenarioOutcome => 'result' in o
      ? {
          ...o,
          id: `${o.id}@lts`,
          title: `${o.title}${label}`,
          result: { ...o.result, title: `${o.result.title}${label}`, goals: o.result.goals.map((g) => ({ ...g, goal: `${g.goal}, on Node ${version}` })) }
        }
      : { ...o, id: `${o.id}@lts`, title: `${o.title}${label}` })
    return { outcomes, node: version ?? 'unknown', openssl: openssl ?? 'unknown' }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

async function main (): Promise<number> {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean', default: false },
      only: { type: 'string' },
      out: { type: 'string' },
      json: { type: 'string' },
      'no-build': { type: 'boolean', default: false },
      'no-lts': { type: 'boolean', default: false }
    }
  })
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
  if (values['no-build'] !== true) {
    say('step: compiling the package to dist/ (the time-to-ready scenario runs the published build)')
    const build = spawnSync('npm', ['run', '--silent', 'build'], { cwd: ROOT, stdio: ['ignore', 'inherit', 'inherit'] })
    if (build.status !== 0) throw new Error(`npm run build exited with ${build.status}`)
  }

  const machine = machineInfo()
  const first = await runScenarios(chosen, quick, consulBin, consul)
  if (values.json !== undefined) {
    writeFileSync(values.json, JSON.stringify(first))
    return problemsOf({ machine, versions: {}, command, quick, outcomes: first.outcomes, expectedGoals: [] }).length === 0 ? 0 : 1
  }
  const outcomes = [...first.outcomes]
  const versions: Record<string, string> = {
    'Node.js': process.version,
    OpenSSL: process.versions.openssl ?? 'unknown',
    Consul: consul.replace(/^Consul /, ''),
    ...first.versions,
    'consul-connect-native': versionOf('node', ['-p', `require(${JSON.stringify(join(ROOT, 'package.json'))}).version`])
  }
  const again = LTS_SCENARIOS.filter((id) => chosen.some((s) => s.id === id))
  if (values['no-lts'] !== true && again.length > 0) {
    const lts = ltsPass(again, quick)
    if (lts !== undefined) {
      outcomes.push(...lts.outcomes)
      versions['Node.js, second pass'] = `${lts.node} (${again.join(', ')})`
      versions['OpenSSL, second pass'] = lts.openssl
    }
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
