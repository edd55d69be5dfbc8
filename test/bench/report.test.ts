/**
 * The renderer of docs/benchmarks.md (bench/report.ts) and its charts (bench/chart.ts): every goal comes out
 * marked, a goal nobody measured is never shown as met, and failures reach the Problems section.
 */
import assert from 'node:assert/strict'
import { barChart, lineChart, niceCeiling } from '../../bench/chart.js'
import { machineInfo } from '../../bench/harness.js'
import { goalsOf, problemsOf, renderBenchmarks } from '../../bench/report.js'
import type { BenchRun } from '../../bench/report.js'

function aRun (overrides: Partial<BenchRun> = {}): BenchRun {
  return {
    machine: machineInfo(),
    versions: { 'Node.js': process.version, Consul: 'v1.22.7' },
    command: 'npm run bench',
    quick: false,
    outcomes: [
      { id: 'authz', title: 'Authorization', elapsedMs: 61_000, result: { title: 'Authorization: decide vs agent', markdown: '| a | b |', goals: [{ goal: 'decision ≥ 100× faster', measured: '3,500×', status: 'met' }], problems: [] } },
      { id: 'connections', title: 'Connections', elapsedMs: 90_000, result: { title: 'New connections', markdown: 'text', goals: [{ goal: 'rate ≥ 1.5× Go', measured: '0.8×', status: 'not met' }], problems: ['Go SDK: 2 of 150 connections failed'] } },
      { id: 'latency', title: 'Latency', elapsedMs: 5_000, error: 'Error: the proxy did not start' }
    ],
    expectedGoals: ['decision ≥ 100× faster', 'rate ≥ 1.5× Go', 'p50 ≤ 0.6× sidecars'],
    ...overrides
  }
}

describe('bench report', () => {
  it('marks every goal: met, not met, and not measured for an expected goal whose scenario failed', () => {
    const goals = goalsOf(aRun())
    assert.deepEqual(goals.map((g) => [g.goal, g.status]), [
      ['decision ≥ 100× faster', 'met'], ['rate ≥ 1.5× Go', 'not met'], ['p50 ≤ 0.6× sidecars', 'not measured']
    ])
    assert.match(goals[2]!.measured, /scenario latency failed/)
    const md = renderBenchmarks(aRun())
    assert.match(md, /\| decision ≥ 100× faster \| 3,500× +\| ✅ met/)
    assert.match(md, /\| rate ≥ 1\.5× Go +\| 0\.8× +\| ❌ not met/)
    assert.match(md, /p50 ≤ 0\.6× sidecars .*⚠️ not measured/)
  })

  it('lists failed scenarios and reported problems; a clean run says so', () => {
    assert.deepEqual(problemsOf(aRun()), ['connections: Go SDK: 2 of 150 connections failed', 'latency: the scenario failed: Error: the proxy did not start'])
    const md = renderBenchmarks(aRun())
    assert.match(md, /## Latency\n\n_Scenario `latency`, 5 s._\n\n\*\*The scenario failed:\*\*/)
    const clean = renderBenchmarks(aRun({ outcomes: aRun().outcomes.slice(0, 1), expectedGoals: [] }))
    assert.match(clean, /## Problems\n\nNone: /)
  })

  it('names the machine, the versions and the command, and says when a run was quick', () => {
    const md = renderBenchmarks(aRun({ quick: true, command: 'npm run bench -- --quick' }))
    assert.match(md, /Produced by `npm run bench -- --quick` on \d{4}-\d\d-\d\d \(a \*\*--quick\*\* run/)
    assert.match(md, /\| Consul +\| v1\.22\.7 +\|/)
    assert.match(md, /\| CPU +\| .+ × \d+ +\|/)
  })
})

describe('bench charts', () => {
  it('draws Mermaid bar and line charts with a readable axis top, and refuses mismatched data', () => {
    const bar = barChart({ title: 'Rate "x"', labels: ['a', 'b'], values: [120.44, Number.NaN], yLabel: 'conn/s' })
    assert.equal(bar, '```mermaid\nxychart-beta\n  title "Rate \'x\'"\n  x-axis ["a", "b"]\n  y-axis "conn/s" 0 --> 200\n  bar [120.4, 0]\n```')
    assert.match(lineChart({ title: 't', xLabels: ['0', '1'], values: [1, 2.5], yLabel: 'ms' }), /line \[1, 2\.5\]/)
    assert.throws(() => barChart({ title: 't', labels: ['a'], values: [1, 2], yLabel: 'y' }), /1 labels for 2 values/)
    assert.deepEqual([0, 0.3, 7, 10, 11, 240, 251, 4999].map(niceCeiling), [1, 0.5, 10, 10, 20, 250, 500, 5000])
  })
})
