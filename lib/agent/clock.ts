/**
 * Time as the agent layer sees it: a clock and a one-shot timer, injectable so that tests of the
 * blocking-query engine (backoff, rate limiting) can run on virtual time and assert computed delays
 * instead of measuring wall time.
 */

/** Cancels a scheduled callback. Calling it after the callback ran, or twice, does nothing. */
export type CancelTimer = () => void

/** A source of time and one-shot timers. */
export interface Clock {
  /** Milliseconds on a monotonic-enough scale; only differences are used. */
  now(): number
  /**
   * Runs `callback` once after `ms` milliseconds. The real clock's timers are unref'd: a pending
   * retry or rate-limit wait never keeps the process alive on its own.
   */
  schedule(callback: () => void, ms: number): CancelTimer
}

/** The real clock: `performance.now()` and unref'd `setTimeout`. */
export const systemClock: Clock = Object.freeze({
  now: () => performance.now(),
  schedule (callback: () => void, ms: number): CancelTimer {
    const timer = setTimeout(callback, Math.max(0, ms))
    timer.unref()
    return () => clearTimeout(timer)
  }
})

/**
 * Resolves after `ms` on `clock`, or at once when `signal` aborts (then it resolves too: the caller checks
 * its own state afterwards, which keeps shutdown paths free of rejections nobody handles).
 */
export function sleep (clock: Clock, ms: number, signal: AbortSignal): Promise<void> {
  return new Promise<void>((resolve) => {
    if (signal.aborted) {
      resolve()
      return
    }
    let settled = false
    // Function declarations are hoisted: a fake clock may run `finish` synchronously inside schedule().
    function finish (): void {
      if (settled) return
      settled = true
      signal.removeEventListener('abort', onAbort)
      resolve()
    }
    function onAbort (): void {
      cancel()
      finish()
    }
    const cancel = clock.schedule(finish, ms)
    if (!settled) signal.addEventListener('abort', onAbort, { once: true })
  })
}
