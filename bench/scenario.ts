/**
 * The contract between `bench/run.ts` (the `npm run bench` orchestrator) and each scenario module under
 * `bench/scenarios/`. A scenario module exports `scenario: Scenario`; the orchestrator runs them one after
 * another (never two at once: they would share the cores), collects their results and writes
 * `docs/benchmarks.md`.
 *
 * A scenario owns everything it starts (its own `consul agent -dev`, servers, child processes) and stops all
 * of it before `run` settles, also when it throws. It bounds every loop by count and time (see harness.ts),
 * so a run always ends by itself.
 */

/** How a goal from the issue came out. `not measured` when the scenario could not take the measurement. */
export type GoalStatus = 'met' | 'not met' | 'not measured'

export interface Goal {
  /** The goal as the issue states it, e.g. `decision ≥ 100× faster than the agent call`. */
  readonly goal: string
  /** What was measured, in words and figures, e.g. `3,510× at 10, 3,861× at 1,000 intentions`. */
  readonly measured: string
  readonly status: GoalStatus
}

export interface ScenarioResult {
  /** Section title in docs/benchmarks.md. */
  readonly title: string
  /** The section body (Markdown, no top-level heading): what was measured and how, tables, charts. */
  readonly markdown: string
  /** Goals this scenario decides (may be empty). */
  readonly goals: readonly Goal[]
  /** Failures seen during the run (failed requests, sanity checks that did not hold). Empty when clean. */
  readonly problems: readonly string[]
  /** Versions of components besides Node and Consul that took part, e.g. `{ 'Go': 'go1.26.8' }`. */
  readonly versions?: Readonly<Record<string, string>>
}

export interface BenchContext {
  /** A shorter run (smoke test of the harness); figures are indicative only. */
  readonly quick: boolean
  /** A progress line on stderr, prefixed with the scenario id. */
  readonly log: (line: string) => void
  /** Absolute path of the pinned consul binary (scripts/consul-bin.mjs). */
  readonly consulBin: string
  /** `Consul v1.22.7`. */
  readonly consulVersion: string
}

export interface Scenario {
  /** Short id used on the command line (`npm run bench -- --only <id>`) and in progress lines. */
  readonly id: string
  readonly title: string
  /** Rough duration of a full run, for the progress output. */
  readonly estimate: string
  readonly run: (ctx: BenchContext) => Promise<ScenarioResult>
}
