/** Waiting on events in tests. */
import type { EventEmitter } from 'node:events'

/** The arguments of the next emission of `event`. Unlike `events.once`, an 'error' emission does not reject it. */
export function nextEvent (emitter: EventEmitter, event: string): Promise<unknown[]> {
  return new Promise((resolve) => emitter.once(event, (...args: unknown[]) => resolve(args)))
}
