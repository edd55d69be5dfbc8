/**
 * What a step of the story is, what it reports, and how it checks what it saw. Steps narrate as they go and
 * end with an outcome: what was observed, and whether every check held.
 */
import type { Cast } from './cast.js'
import type { Environment } from './environment.js'
import type { Narrator } from './narrator.js'

/** What every step gets. */
export interface StoryContext {
  readonly env: Environment
  readonly cast: Cast
  readonly narrator: Narrator
}

export interface StepOutcome {
  /** A short account of what happened, for the summary table. */
  readonly observed: string
  readonly ok: boolean
}

export interface Step {
  /** A few words for the summary table: `deny intention`. */
  readonly name: string
  /** The step's title in the narration. */
  readonly title: string
  /** What should happen, for the summary table. */
  readonly expected: string
  run (ctx: StoryContext): Promise<StepOutcome>
}

/** The result of a step, as the summary reports it. */
export interface StepResult extends StepOutcome {
  readonly number: number
  readonly name: string
  readonly expected: string
  /** False when an earlier step failed with an error and this one was not attempted. */
  readonly ran: boolean
}

/** Collects the checks of a step: each failed one is named in the outcome. */
export class Checks {
  readonly #failures: string[] = []

  /** Records `failure` unless `condition` holds; returns `condition`. */
  that (condition: boolean, failure: string): boolean {
    if (!condition) this.#failures.push(failure)
    return condition
  }

  /** The outcome: `observed`, followed by every failed check. */
  outcome (observed: string): StepOutcome {
    return this.#failures.length === 0
      ? { observed, ok: true }
      : { observed: `${observed}; but ${this.#failures.join('; ')}`, ok: false }
  }
}
