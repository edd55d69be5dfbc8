/**
 * A virtual clock for the blocking-query engine: timers fire in time order as soon as the event loop is
 * free (via setImmediate), moving virtual time forward to their deadline. Tests then assert the delays
 * the engine asked for and the virtual instants of its requests, never wall time.
 */
import type { CancelTimer, Clock } from '../../../lib/agent/clock.js'

interface Pending { readonly at: number, readonly seq: number, readonly callback: () => void, cancelled: boolean }

export class VirtualClock implements Clock {
  /** Every delay passed to schedule(), in order. */
  readonly scheduled: number[] = []
  #now = 0
  #seq = 0
  #pending: Pending[] = []
  #pumping = false

  now (): number { return this.#now }

  schedule (callback: () => void, ms: number): CancelTimer {
    this.scheduled.push(ms)
    const timer: Pending = { at: this.#now + Math.max(0, ms), seq: this.#seq++, callback, cancelled: false }
    this.#pending.push(timer)
    this.#pump()
    return () => { timer.cancelled = true }
  }

  /** Timers not yet fired nor cancelled. */
  get pendingCount (): number { return this.#pending.filter((t) => !t.cancelled).length }

  #pump (): void {
    if (this.#pumping) return
    this.#pumping = true
    setImmediate(() => {
      this.#pumping = false
      this.#pending = this.#pending.filter((t) => !t.cancelled)
      this.#pending.sort((a, b) => a.at - b.at || a.seq - b.seq)
      const next = this.#pending.shift()
      if (next === undefined) return
      this.#now = Math.max(this.#now, next.at)
      next.callback()
      if (this.#pending.length > 0) this.#pump()
    })
  }
}
