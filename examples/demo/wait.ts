/**
 * Waiting for something to happen, with a deadline: the demo never sleeps to let a change propagate, it
 * waits for the event that says the change arrived, and gives up with a sentence saying what it waited for.
 */
import { once } from 'node:events'
import type { EventEmitter } from 'node:events'

/**
 * Resolves with the arguments of the next `event` of `emitter`; rejects after `ms` with an Error saying
 * "timed out after 5 s waiting for <what>". Call it before the action that causes the event. The returned
 * promise may be left unawaited when that action fails: its rejection is then not reported as unhandled.
 */
export function waitFor<T extends unknown[] = unknown[]> (emitter: EventEmitter, event: string, what: string, ms: number): Promise<T> {
  const signal = AbortSignal.timeout(ms)
  const waiting = once(emitter, event, { signal }).then(
    (args) => args as T,
    (err: unknown) => {
      if (signal.aborted) throw new Error(`timed out after ${seconds(ms)} waiting for ${what}`)
      throw err
    })
  waiting.catch(() => undefined)
  return waiting
}

/** A duration for people: `250 ms`, `5 s`, `21.3 s`. */
export function seconds (ms: number): string {
  if (ms < 1_000) return `${Math.round(ms)} ms`
  return ms % 1_000 === 0 ? `${ms / 1_000} s` : `${(ms / 1_000).toFixed(1)} s`
}

/**
 * The message of an error and of its causes, `fetch failed (other side closed [UND_ERR_SOCKET])`; a cause
 * whose message is already part of the text is left out.
 */
export function describeError (err: unknown): string {
  const head = messageOf(err)
  const causes: string[] = []
  let current: unknown = err instanceof Error ? err.cause : undefined
  for (let depth = 0; current !== undefined && current !== null && depth < 3; depth++) {
    const message = messageOf(current)
    if (![head, ...causes].some((known) => known.includes(message.replace(/ \[[A-Z_]+\]$/, '')))) causes.push(message)
    current = current instanceof Error ? current.cause : undefined
  }
  return causes.length === 0 ? head : `${head} (${causes.join('; ')})`
}

function messageOf (err: unknown): string {
  const message = err instanceof Error ? err.message : String(err)
  const code = (err as { code?: unknown } | null | undefined)?.code
  return typeof code === 'string' && !message.includes(code) ? `${message} [${code}]` : message
}
