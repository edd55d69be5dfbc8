/**
 * BlockingQuery: the one engine that keeps a value fresh from a Consul blocking endpoint.
 *
 * It owns every rule of CONSUL-FACTS.md "Blocking queries":
 * - index and wait: the first call is non-blocking; later calls send `?index=<last>&wait=<waitMs>`
 *   (default 5 min, capped at 10 min); the index rules are in query-index.ts (backwards → reset,
 *   never below 1). An answer without a numeric `X-Consul-Index` is an invalid answer.
 * - deadline: each blocking call may take `wait + wait/16 + client.timeoutMs`.
 * - rate limit: a token bucket (burst 2, 1/s by default) before every request.
 * - backoff: after a failure, `baseMs × failures²` capped at `capMs` (5 s and 180 s by default, as
 *   Consul's Go watcher), with ±25 % jitter by default (see backoff.ts).
 * - content: a return does not prove a change. The validated answer is compared with the last good one
 *   (`equals`, default deep equality); only a real change runs `transform` and emits 'change'. A 200
 *   with the same content updates the index and meta silently.
 * - last good state: a failed, timed-out or invalid answer (schema failure, or `transform`/`equals`
 *   throwing) never replaces `current`; it is emitted as 'error' with its code and retried with backoff.
 *   The index is left as it was, so the retry fetches the current state again.
 *
 * 'error' is emitted only when someone listens (an unheard 'error' must not crash the process for a
 * transient agent outage); `lastError` always holds the latest failure.
 */
import { EventEmitter } from 'node:events'
import { isDeepStrictEqual } from 'node:util'
import { z } from 'zod'
import { abortError, ConnectError, InvalidOptionError } from '../errors.js'
import { invalidAnswerError } from './agent-errors.js'
import { backoffDelay, backoffOptionsSchema, backoffPolicy } from './backoff.js'
import type { BackoffOptions, BackoffPolicy } from './backoff.js'
import type { AgentRequest, AgentResponse, QueryValue } from './client.js'
import { sleep, systemClock } from './clock.js'
import type { Clock } from './clock.js'
import { blockingParams, blockingTimeoutMs, DEFAULT_WAIT_MS, isBlockingIndex, MAX_WAIT_MS, nextIndex } from './query-index.js'
import { rateLimitOptionsSchema, TokenBucket } from './rate-limiter.js'
import type { RateLimitOptions } from './rate-limiter.js'
import type { AgentResponseMeta } from './response-meta.js'
import { parseOptions } from './validate.js'

/** What the engine needs of a client: AgentClient, or a fake in tests. */
export interface AgentRequester {
  request<T>(req: AgentRequest<T>): Promise<AgentResponse<T>>
  /** Margin added to a blocking call's wait to form its deadline. */
  readonly timeoutMs: number
}

/** Tuning shared by every watcher. */
export interface WatchOptions<Raw, T = Raw> {
  /** Turns a validated answer into the value kept (e.g. parse a leaf into an identity). May throw:
   * that counts as an invalid answer. Runs only when the answer's content changed. */
  readonly transform?: (value: Raw) => T
  /** Compares two validated answers; default deep strict equality. */
  readonly equals?: (a: Raw, b: Raw) => boolean
  /** `wait` of blocking calls, ms. Default 300 000 (5 min); values above 600 000 are capped. */
  readonly waitMs?: number
  readonly rateLimit?: RateLimitOptions
  readonly backoff?: BackoffOptions
  /** Aborting it closes the query. */
  readonly signal?: AbortSignal
  /** Injected time, for tests. Default: real, unref'd timers. */
  readonly clock?: Clock
  /** Injected randomness in [0, 1), for tests. Default `Math.random`. */
  readonly random?: () => number
}

export interface BlockingQueryOptions<Raw, T = Raw> extends WatchOptions<Raw, T> {
  readonly path: string
  /** Extra query parameters (filters, `passing`, `ns`...). `index` and `wait` are the engine's. */
  readonly query?: Readonly<Record<string, QueryValue>>
  readonly schema: z.ZodType<Raw>
  /** Start of every error message: `fetching leaf for "web"`. */
  readonly what: string
}

/** The last good value and where it came from. Frozen. */
export interface QuerySnapshot<T> {
  readonly value: T
  /** `X-Consul-Index` of the answer that last confirmed this value. */
  readonly index: number
  readonly meta: AgentResponseMeta
  /** Wall-clock time (ms since epoch) of that answer. */
  readonly receivedAt: number
}

export interface QueryCounters {
  readonly requests: number
  /** Answers whose content changed (the first value included). */
  readonly changes: number
  /** Good answers with unchanged content. */
  readonly unchanged: number
  readonly errors: number
  readonly consecutiveFailures: number
}

export interface QueryErrorInfo {
  /** Consecutive failures, this one included. */
  readonly failures: number
  /** Delay before the retry, ms (jitter included). */
  readonly retryInMs: number
}

export interface QueryRequestInfo {
  /** Index sent, or undefined for a non-blocking call. */
  readonly index: number | undefined
  readonly blocking: boolean
}

// A type alias (not an interface): EventEmitter's event map needs an index-signature-compatible type.
export type BlockingQueryEvents<T> = {
  change: [value: T, previous: T | undefined]
  error: [error: ConnectError, info: QueryErrorInfo]
  request: [info: QueryRequestInfo]
}

const tuningSchema = z.object({
  waitMs: z.number().int().positive().optional(),
  rateLimit: rateLimitOptionsSchema.optional(),
  backoff: backoffOptionsSchema.optional()
})

export class BlockingQuery<Raw, T = Raw> extends EventEmitter<BlockingQueryEvents<T>> {
  readonly what: string
  readonly #client: AgentRequester
  readonly #options: BlockingQueryOptions<Raw, T>
  readonly #waitMs: number
  readonly #backoff: BackoffPolicy
  readonly #bucket: TokenBucket
  readonly #clock: Clock
  readonly #random: () => number
  readonly #equals: (a: Raw, b: Raw) => boolean
  readonly #lifecycle = new AbortController()
  readonly #waiters = new Set<{ resolve: (value: T) => void, reject: (err: unknown) => void }>()
  #index: number | undefined
  #current: QuerySnapshot<T> | undefined
  #currentRaw: Raw | undefined
  #lastError: ConnectError | undefined
  #loop: Promise<void> | undefined
  #counters = { requests: 0, changes: 0, unchanged: 0, errors: 0, consecutiveFailures: 0 }

  /** Validates the tuning eagerly (InvalidOptionError naming `watch.<field>`). Does not start. */
  constructor (client: AgentRequester, options: BlockingQueryOptions<Raw, T>) {
    super()
    const tuning = parseOptions(tuningSchema, { waitMs: options.waitMs, rateLimit: options.rateLimit, backoff: options.backoff }, 'watch')
    try {
      this.#backoff = backoffPolicy(tuning.backoff)
    } catch (err) {
      throw new InvalidOptionError('watch.backoff.capMs', (err as Error).message)
    }
    this.what = options.what
    this.#client = client
    this.#options = options
    this.#waitMs = Math.min(tuning.waitMs ?? DEFAULT_WAIT_MS, MAX_WAIT_MS)
    this.#clock = options.clock ?? systemClock
    this.#random = options.random ?? Math.random
    this.#bucket = new TokenBucket(this.#clock, tuning.rateLimit)
    this.#equals = options.equals ?? isDeepStrictEqual
    const external = options.signal
    if (external !== undefined) {
      if (external.aborted) void this.close()
      else external.addEventListener('abort', () => { void this.close() }, { once: true, signal: this.#lifecycle.signal })
    }
  }

  /** The last good value, or undefined before the first one. */
  get current (): QuerySnapshot<T> | undefined { return this.#current }

  /** The latest failure, kept until the next good answer. */
  get lastError (): ConnectError | undefined { return this.#lastError }

  get closed (): boolean { return this.#lifecycle.signal.aborted }

  /** A frozen copy of the counters, for metrics. */
  get counters (): QueryCounters { return Object.freeze({ ...this.#counters }) }

  /**
   * Starts the loop. Idempotent; throws ERR_CONNECT_CLOSED after close(). The first request goes out on
   * a later tick, so listeners attached right after start() see every event, 'request' included.
   */
  start (): this {
    if (this.closed) throw new ConnectError('ERR_CONNECT_CLOSED', `${this.what}: query is closed`)
    this.#loop ??= Promise.resolve().then(() => this.#run())
    return this
  }

  /**
   * Resolves with the first good value (at once if there is one). Transient errors do not reject it:
   * the caller picks the deadline through `signal`. Rejects with ERR_CONNECT_ABORTED when `signal`
   * aborts and ERR_CONNECT_CLOSED when the query is closed first. Does not start the query.
   */
  ready (options: { signal?: AbortSignal } = {}): Promise<T> {
    const { signal } = options
    if (this.#current !== undefined) return Promise.resolve(this.#current.value)
    if (this.closed) return Promise.reject(this.#closedError())
    if (signal?.aborted === true) return Promise.reject(abortError(`waiting for ${this.what}`, signal))
    return new Promise<T>((resolve, reject) => {
      const onAbort = (): void => {
        this.#waiters.delete(waiter)
        reject(abortError(`waiting for ${this.what}`, signal))
      }
      const waiter = {
        resolve: (value: T) => { signal?.removeEventListener('abort', onAbort); resolve(value) },
        reject: (err: unknown) => { signal?.removeEventListener('abort', onAbort); reject(err) }
      }
      this.#waiters.add(waiter)
      signal?.addEventListener('abort', onAbort, { once: true })
    })
  }

  /**
   * Stops the loop: cancels the request in flight and any pending retry or rate-limit timer, rejects
   * pending ready() calls with ERR_CONNECT_CLOSED. Resolves once the loop has exited. Idempotent.
   * Does not close the client, which the caller owns.
   */
  async close (): Promise<void> {
    if (!this.closed) {
      this.#lifecycle.abort()
      const err = this.#closedError()
      for (const waiter of this.#waiters) waiter.reject(err)
      this.#waiters.clear()
    }
    await this.#loop
  }

  async #run (): Promise<void> {
    const signal = this.#lifecycle.signal
    while (!signal.aborted) {
      const wait = this.#bucket.take()
      if (wait > 0) {
        await sleep(this.#clock, wait, signal)
        continue
      }
      const retryInMs = await this.#fetchOnce(signal)
      if (retryInMs !== undefined) await sleep(this.#clock, retryInMs, signal)
    }
  }

  /** One request and its outcome; returns the retry delay after a failure. */
  async #fetchOnce (signal: AbortSignal): Promise<number | undefined> {
    const { path, schema, what } = this.#options
    const index = this.#index
    const blocking = isBlockingIndex(index)
    this.#counters.requests++
    this.#emitSafely('request', Object.freeze({ index: blocking ? index : undefined, blocking }))
    let change: [T, T | undefined] | undefined
    try {
      const res = await this.#client.request({
        path,
        query: { ...this.#options.query, ...(blocking ? blockingParams(index, this.#waitMs) : {}) },
        schema,
        signal,
        what,
        ...(blocking ? { timeoutMs: blockingTimeoutMs(this.#waitMs, this.#client.timeoutMs) } : {})
      })
      change = this.#accept(res)
    } catch (err) {
      if (signal.aborted) return undefined
      return this.#fail(err)
    }
    if (change !== undefined) this.#announce(change)
    return undefined
  }

  /** Applies a good answer; returns the change to announce, if any. Throws on an unusable answer. */
  #accept (res: AgentResponse<Raw>): [T, T | undefined] | undefined {
    const { path, what } = this.#options
    if (res.index === undefined) throw invalidAnswerError(what, 'no numeric X-Consul-Index header', path, res.status)
    const raw = deepFreeze(res.value)
    const previous = this.#current
    const receivedAt = Date.now()
    let same: boolean
    try {
      same = this.#currentRaw !== undefined && this.#equals(this.#currentRaw, raw)
    } catch (err) {
      throw invalidAnswerError(what, `comparing answers failed: ${messageOf(err)}`, path, res.status, err)
    }
    let value: T
    try {
      value = same ? (previous as QuerySnapshot<T>).value : this.#transform(raw)
    } catch (err) {
      throw invalidAnswerError(what, `transform failed: ${messageOf(err)}`, path, res.status, err)
    }
    this.#index = nextIndex(this.#index, res.index)
    this.#current = Object.freeze({ value, index: res.index, meta: res.meta, receivedAt })
    this.#lastError = undefined
    this.#counters.consecutiveFailures = 0
    if (same) {
      this.#counters.unchanged++
      return undefined
    }
    this.#currentRaw = raw
    this.#counters.changes++
    return [value, previous?.value]
  }

  #transform (raw: Raw): T {
    const transform = this.#options.transform
    return transform === undefined ? raw as unknown as T : transform(raw)
  }

  #fail (err: unknown): number {
    const error = err instanceof ConnectError
      ? err
      : invalidAnswerError(this.what, messageOf(err), this.#options.path, undefined, err)
    this.#lastError = error
    this.#counters.errors++
    const failures = ++this.#counters.consecutiveFailures
    const retryInMs = backoffDelay(this.#backoff, failures, this.#random)
    if (this.listenerCount('error') > 0) this.#emitSafely('error', error, Object.freeze({ failures, retryInMs }))
    return retryInMs
  }

  #announce ([value, previous]: [T, T | undefined]): void {
    for (const waiter of this.#waiters) waiter.resolve(value)
    this.#waiters.clear()
    this.#emitSafely('change', value, previous)
  }

  #emitSafely<K extends keyof BlockingQueryEvents<T>> (event: K, ...args: BlockingQueryEvents<T>[K]): void {
    try {
      (this.emit as (event: K, ...args: BlockingQueryEvents<T>[K]) => boolean)(event, ...args)
    } catch (err) {
      // A listener's bug is not an agent failure: surface it as any listener error would, without
      // breaking the loop or being mistaken for an invalid answer.
      process.nextTick(() => { throw err })
    }
  }

  #closedError (): ConnectError {
    return new ConnectError('ERR_CONNECT_CLOSED', `${this.what}: query closed before a value arrived`)
  }
}

function messageOf (err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}

/** Freezes a plain JSON value in depth, so listeners cannot alter what later answers are compared with. */
function deepFreeze<V> (value: V): V {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value)
    for (const child of Object.values(value)) deepFreeze(child)
  }
  return value
}
