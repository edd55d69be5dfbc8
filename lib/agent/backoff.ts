/**
 * Retry delays after failed agent requests.
 *
 * The growth follows Consul's Go watcher (`api/watch/plan.go`): `base × failures²`, capped. With the
 * defaults that is 5 s, 20 s, 45 s, 80 s, 125 s, then 180 s for every further failure. Go's watcher adds
 * no jitter; this library does, so that many processes that lost the same agent do not return to it in
 * lock step.
 */
import { z } from 'zod'

/** How a computed delay is randomised. */
export type JitterMode =
  /** Uniform in `[0.75 × d, 1.25 × d]` (±25 %), then capped: the default. */
  | 'proportional'
  /** Uniform in `[0, d]` ("full jitter"): spreads retries most, but may retry almost at once. */
  | 'full'
  /** Exactly `d`: deterministic, for tests and for callers that jitter elsewhere. */
  | 'none'

export interface BackoffOptions {
  /** Delay unit, multiplied by failures². Default 5000 ms. */
  baseMs?: number | undefined
  /** Upper bound of every delay, jitter included. Default 180 000 ms. */
  capMs?: number | undefined
  /** Default `'proportional'`. */
  jitter?: JitterMode | undefined
}

/** Validated, defaulted backoff settings. */
export interface BackoffPolicy {
  readonly baseMs: number
  readonly capMs: number
  readonly jitter: JitterMode
}

export const DEFAULT_BACKOFF: BackoffPolicy = Object.freeze({ baseMs: 5_000, capMs: 180_000, jitter: 'proportional' })

/** zod schema of {@link BackoffOptions}; the cross-field check (cap ≥ base) is in {@link backoffPolicy}. */
export const backoffOptionsSchema = z.object({
  baseMs: z.number().int().nonnegative().optional(),
  capMs: z.number().int().nonnegative().optional(),
  jitter: z.enum(['proportional', 'full', 'none']).optional()
}).strict()

/** Applies defaults; throws a plain Error naming the field when `capMs < baseMs` (callers wrap it). */
export function backoffPolicy (options: BackoffOptions | undefined): BackoffPolicy {
  const baseMs = options?.baseMs ?? DEFAULT_BACKOFF.baseMs
  const capMs = options?.capMs ?? Math.max(DEFAULT_BACKOFF.capMs, baseMs)
  if (capMs < baseMs) throw new RangeError(`capMs (${capMs}) is below baseMs (${baseMs})`)
  return Object.freeze({ baseMs, capMs, jitter: options?.jitter ?? DEFAULT_BACKOFF.jitter })
}

/**
 * The delay before retry number `failures` (1 for the first failure), in whole milliseconds.
 * `random` returns a number in [0, 1), like `Math.random`. Never negative, never above `capMs`.
 */
export function backoffDelay (policy: BackoffPolicy, failures: number, random: () => number = Math.random): number {
  if (failures < 1) return 0
  // Square before capping; failures² overflows nothing meaningful, Math.min keeps it bounded.
  const raw = Math.min(policy.capMs, policy.baseMs * failures * failures)
  let jittered: number
  switch (policy.jitter) {
    case 'none':
      jittered = raw
      break
    case 'full':
      jittered = raw * random()
      break
    case 'proportional':
      jittered = raw * (0.75 + 0.5 * random())
      break
  }
  return Math.round(Math.min(policy.capMs, Math.max(0, jittered)))
}
