/**
 * The story: an introduction, six steps run in order against one Environment, the cleanup, and the summary
 * table. A step whose checks fail is reported and the story goes on; a step that throws (a deadline passed,
 * the agent refused a write) stops it, and the remaining steps are reported as not run. Cleanup always runs.
 */
import { Cast } from './cast.js'
import { identities, rotation } from './certificate-steps.js'
import type { Environment } from './environment.js'
import { allowedCall, denied, layer7, liveEnforcement } from './intention-steps.js'
import type { Narrator } from './narrator.js'
import type { Step, StepOutcome, StepResult } from './step.js'
import { renderTable } from './table.js'
import { describeError } from './wait.js'

export const STEPS: readonly Step[] = [identities, allowedCall, denied, layer7, rotation, liveEnforcement]

export interface StoryResult {
  /** True when every step ran and behaved as expected, and the cleanup succeeded. */
  readonly ok: boolean
  readonly steps: readonly StepResult[]
  /** What the cleanup did, one line each (lines starting with `FAILED` are failures). */
  readonly cleanup: readonly string[]
}

export async function runStory (env: Environment, narrator: Narrator): Promise<StoryResult> {
  introduce(env, narrator)
  const results: StepResult[] = []
  const cleanup: string[] = []
  let cast: Cast | undefined
  try {
    cast = new Cast(env)
    const ctx = { env, cast, narrator }
    let stoppedBy: number | undefined
    for (const [index, step] of STEPS.entries()) {
      const number = index + 1
      if (stoppedBy !== undefined) {
        results.push({ number, name: step.name, expected: step.expected, observed: `not run (step ${stoppedBy} failed)`, ok: false, ran: false })
        continue
      }
      narrator.heading(`Step ${number} of ${STEPS.length}. ${step.title}`)
      let outcome: StepOutcome
      try {
        outcome = await step.run(ctx)
      } catch (err) {
        outcome = { observed: `error: ${describeError(err)}`, ok: false }
        stoppedBy = number
      }
      narrator.verdict(outcome.ok, outcome.ok ? step.expected : outcome.observed)
      results.push({ number, name: step.name, expected: step.expected, ...outcome, ran: true })
    }
  } finally {
    narrator.heading('Cleaning up')
    if (cast !== undefined) {
      try {
        await cast.close()
        cleanup.push('closed web and db, and db\'s servers')
      } catch (err) {
        cleanup.push(`FAILED to close the services: ${describeError(err)}`)
      }
    }
    try {
      cleanup.push(...await env.close())
    } catch (err) {
      cleanup.push(`FAILED to clean up: ${describeError(err)}`)
    }
    for (const line of cleanup) narrator.item(line)
    if (env.kind === 'consul') {
      narrator.item('the CA rotation stays: the new root is active, and the agent prunes the old one later, ' +
        'as after any rotation')
    }
  }
  const cleanedUp = !cleanup.some((line) => line.startsWith('FAILED'))
  summarize(results, cleanedUp, narrator)
  return { ok: cleanedUp && results.length === STEPS.length && results.every((r) => r.ok), steps: results, cleanup }
}

function introduce (env: Environment, narrator: Narrator): void {
  narrator.heading('consul-connect-native: two Node.js services in a Consul service mesh, no sidecar')
  narrator.say('Connect-native means the process itself is a member of the mesh. It asks the local Consul ' +
    'agent for a leaf certificate (its identity) and for the CA roots (whom to trust), speaks mutual TLS ' +
    'with them, and decides every inbound connection itself.')
  narrator.say('Who may call whom is written in Consul as intentions: rules such as "web → db: allow" or ' +
    '"web → db: deny", optionally per HTTP method and path (L7). Each service keeps a copy of its ' +
    'intentions, watched from the agent, and decides in-process.')
  narrator.say(`Agent: ${env.description}.`)
  if (env.kind === 'embedded') narrator.say('Set CONSUL_HTTP_ADDR to run the same story against a real Consul agent.')
}

function summarize (results: readonly StepResult[], cleanedUp: boolean, narrator: Narrator): void {
  narrator.heading('Summary')
  const rows = results.map((r) => ({ step: r.name, expected: r.expected, observed: r.observed, ok: r.ran ? (r.ok ? 'yes' : 'NO') : '-' }))
  for (const line of renderTable(rows)) narrator.raw(line)
  narrator.raw('')
  const failed = results.filter((r) => !r.ok)
  if (failed.length === 0 && cleanedUp) {
    narrator.raw(`All ${results.length} steps behaved as expected.`, 'green')
    return
  }
  for (const r of failed.filter((f) => f.ran)) narrator.raw(`FAILED: step ${r.number} (${r.name.replace(/^\d+ /, '')})`, 'red')
  if (!cleanedUp) narrator.raw('FAILED: cleanup (see above)', 'red')
}
