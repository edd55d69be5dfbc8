/**
 * A token bucket that bounds how often a blocking-query loop may call the agent.
 *
 * A blocking query normally waits minutes between answers, but an agent that returns at once (an index
 * that went backwards, a non-blocking fallback, a misbehaving proxy) would turn the loop into a busy
 * loop against the agent. The bucket holds `burst` tokens and refills at `perSecond`; each request takes
 * one. Consul's docs recommend exactly this shape (burst about 2).
 */
import { z } from 'zod'
import type { Clock } from './clock.js'

export interface RateLimitOptions {
  /** Bucket size: requests allowed back to back. Default 2. */
  burst?: number | undefined
  /** Refill rate, tokens per second. Default 1. */
  perSecond?: number | undefined
}

export const DEFAULT_RATE_LIMIT = Object.freeze({ burst: 2, perSecond: 1 })

export const rateLimitOptionsSchema = z.object({
  burst: z.number().int().min(1).optional(),
  perSecond: z.number().positive().finite().optional()
}).strict()

/**
 * Token bucket on an injectable clock. Over any window of `w` ms it grants at most
 * `burst + w × perSecond / 1000` tokens.
 */
export class TokenBucket {
  readonly burst: number
  readonly perSecond: number
  readonly #clock: Clock
  #tokens: number
  #last: number

  constructor (clock: Clock, options?: RateLimitOptions) {
    this.burst = options?.burst ?? DEFAULT_RATE_LIMIT.burst
    this.perSecond = options?.perSecond ?? DEFAULT_RATE_LIMIT.perSecond
    this.#clock = clock
    this.#tokens = this.burst
    this.#last = clock.now()
  }

  /**
   * Takes a token if one is available and returns 0; otherwise takes nothing and returns how many
   * milliseconds (at least 1) until one will be.
   */
  take (): number {
    const now = this.#clock.now()
    this.#tokens = Math.min(this.burst, this.#tokens + ((now - this.#last) * this.perSecond) / 1000)
    this.#last = now
    if (this.#tokens >= 1) {
      this.#tokens -= 1
      return 0
    }
    return Math.max(1, Math.ceil(((1 - this.#tokens) * 1000) / this.perSecond))
  }
}
