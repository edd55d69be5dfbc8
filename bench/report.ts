/**
 * Renders docs/benchmarks.md from the results of `npm run bench`: the goals first (each marked met, not met
 * or not measured), then the machine and versions, then one section per scenario, then the problems.
 */
import { machineSection, markdownTable } from './harness.js'
import type { MachineInfo } from './harness.js'
import type { Goal, GoalStatus, ScenarioResult } from './scenario.js'

/** What happened to one scenario of the run. */
export type ScenarioOutcome =
  | { readonly id: string, readonly title: string, readonly elapsedMs: number, readonly result: ScenarioResult }
  | { readonly id: string, readonly title: string, readonly elapsedMs: number, readonly error: string }

export interface BenchRun {
  readonly machine: MachineInfo
  /** Component → version, e.g. `Consul` → `v1.22.7`. */
  readonly versions: Readonly<Record<string, string>>
  /** The command that produced the report. */
  readonly command: string
  readonly quick: boolean
  readonly outcomes: readonly ScenarioOutcome[]
  /** Goals the issue sets that no scenario of this run reported (a scenario failed or was left out). */
  readonly expectedGoals: readonly string[]
}

const MARK: Record<GoalStatus, string> = { met: '✅ met', 'not met': '❌ not met', 'not measured': '⚠️ not measured' }

function anchor (title: string): string {
  return title.toLowerCase().replace(/[^\p{L}\p{N} -]/gu, '').trim().replace(/ /g, '-')
}

/** Every goal of the run, with the scenario that decided it; expected goals nobody reported come out `not measured`. */
export function goalsOf (run: BenchRun): Array<Goal & { readonly scenario: string }> {
  const goals: Array<Goal & { readonly scenario: string }> = []
  for (const o of run.outcomes) {
    if ('result' in o) for (const g of o.result.goals) goals.push({ ...g, scenario: o.result.title })
  }
  for (const expected of run.expectedGoals) {
    if (!goals.some((g) => g.goal === expected)) {
      const failed = run.outcomes.filter((o) => 'error' in o).map((o) => o.id)
      goals.push({ goal: expected, measured: failed.length > 0 ? `no figure: scenario ${failed.join(', ')} failed (see Problems)` : 'no figure: its scenario was not run', status: 'not measured', scenario: '—' })
    }
  }
  return goals
}

/** All problems of the run: failed scenarios and problems scenarios reported. */
export function problemsOf (run: BenchRun): string[] {
  const problems: string[] = []
  for (const o of run.outcomes) {
    if ('error' in o) problems.push(`${o.id}: the scenario failed: ${o.error}`)
    else for (const p of o.result.problems) problems.push(`${o.id}: ${p}`)
  }
  return problems
}

export function renderBenchmarks (run: BenchRun): string {
  const goals = goalsOf(run)
  const problems = problemsOf(run)
  const versions = markdownTable(['component', 'version'], Object.entries(run.versions).map(([k, v]) => [k, v]))
  const sections = run.outcomes.map((o) => {
    const head = `## ${'result' in o ? o.result.title : o.title}\n\n_Scenario \`${o.id}\`, ${(o.elapsedMs / 1000).toFixed(0)} s._\n`
    return 'result' in o ? `${head}\n${o.result.markdown}` : `${head}\n**The scenario failed:** \`${o.error}\``
  })
  return [
    '# Benchmarks',
    '',
    `Produced by \`${run.command}\` on ${run.machine.date.slice(0, 10)}${run.quick ? ' (a **--quick** run: short, figures indicative only)' : ''}. ` +
      'Do not edit by hand: run the command again. Every figure is compared with a baseline measured in the same run on ' +
      'the same machine; absolute numbers depend on the machine and on what else it runs, ratios much less.',
    '',
    '## Goals',
    '',
    markdownTable(['goal', 'measured', 'status', 'section'], goals.map((g) => [g.goal, g.measured, MARK[g.status], g.scenario === '—' ? '—' : `[${g.scenario}](#${anchor(g.scenario)})`])),
    '',
    '## Machine and versions',
    '',
    machineSection(run.machine),
    '',
    versions,
    '',
    'The machine is small and shared: other work may run beside the benchmarks, which is why every comparison',
    'alternates its two sides in rounds and reports the per-round ratio with its spread (bench/README.md).',
    '',
    ...sections.flatMap((s) => [s, '']),
    '## Problems',
    '',
    problems.length === 0 ? 'None: every request of every scenario succeeded and every sanity check held.' : problems.map((p) => `- ${p}`).join('\n'),
    ''
  ].join('\n')
}
