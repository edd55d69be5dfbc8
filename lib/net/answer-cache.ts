/**
 * How consulResolver reuses agent answers between dials. Two strategies behind one interface:
 *
 * - {@link TtlCache}: an answer is reused for `ttlMs` after it arrived, and concurrent lookups of one key
 *   share a single request in flight. Nothing runs in the background, so nothing keeps the process alive;
 *   an instance that vanished may be dialed for up to `ttlMs` (the dialer then fails over to the next).
 * - {@link WatchCache}: the first lookup of a key starts a blocking query that keeps the answer fresh;
 *   later lookups read it with no round trip. While the agent is unreachable the last good answer keeps
 *   being served (last good state wins). A watch nobody read for `idleMs` is closed. Its request in flight
 *   is a live socket, so the owner must call `close()`.
 *
 * Both hold at most `maxKeys` keys and drop the least recently used beyond that. A failed first lookup is
 * never cached: the next lookup asks again.
 */
import { abortError, ConnectError } from '../errors.js'
import type { BlockingQuery } from '../agent/blocking-query.js'

export interface AnswerCache<T> {
  /** The answer for `key`, from cache or from `load` (ttl) / the watch `start` makes (watch). */
  get (key: string, signal: AbortSignal | undefined): Promise<T>
  close (): Promise<void>
}

interface TtlEntry<T> {
  readonly promise: Promise<T>
  /** When the answer arrived (ms since epoch); undefined while in flight. */
  settledAt: number | undefined
}

/** Reuses each answer for `ttlMs`; `ttlMs: 0` only shares requests in flight. */
export class TtlCache<T> implements AnswerCache<T> {
  readonly #entries = new Map<string, TtlEntry<T>>()
  readonly #load: (key: string) => Promise<T>
  readonly #ttlMs: number
  readonly #maxKeys: number
  #closed = false

  constructor (load: (key: string) => Promise<T>, options: { ttlMs: number, maxKeys: number }) {
    this.#load = load
    this.#ttlMs = options.ttlMs
    this.#maxKeys = options.maxKeys
  }

  get (key: string, signal: AbortSignal | undefined): Promise<T> {
    if (this.#closed) return Promise.reject(closedError())
    const now = Date.now()
    let entry = this.#entries.get(key)
    if (entry !== undefined && entry.settledAt !== undefined && now - entry.settledAt >= this.#ttlMs) entry = undefined
    if (entry === undefined) {
      // The shared request takes no caller's signal: one caller giving up must not fail the others.
      const promise = this.#load(key)
      const created: TtlEntry<T> = { promise, settledAt: undefined }
      entry = created
      promise.then(
        () => { created.settledAt = Date.now() },
        () => { if (this.#entries.get(key) === created) this.#entries.delete(key) }
      )
    }
    touch(this.#entries, key, entry, this.#maxKeys)
    return withSignal(entry.promise, signal)
  }

  async close (): Promise<void> {
    this.#closed = true
    this.#entries.clear()
  }
}

interface WatchEntry<Raw, T> {
  readonly query: BlockingQuery<Raw, T>
  lastUsed: number
}

/** Keeps one blocking query per key; see the module comment. */
export class WatchCache<Raw, T> implements AnswerCache<T> {
  readonly #entries = new Map<string, WatchEntry<Raw, T>>()
  readonly #start: (key: string) => BlockingQuery<Raw, T>
  readonly #idleMs: number
  readonly #maxKeys: number
  #sweeper: NodeJS.Timeout | undefined
  #closed = false

  /** `start` must return a started query for `key`. */
  constructor (start: (key: string) => BlockingQuery<Raw, T>, options: { idleMs: number, maxKeys: number }) {
    this.#start = start
    this.#idleMs = options.idleMs
    this.#maxKeys = options.maxKeys
  }

  /** Number of live watches (for tests and metrics). */
  get size (): number { return this.#entries.size }

  get (key: string, signal: AbortSignal | undefined): Promise<T> {
    if (this.#closed) return Promise.reject(closedError())
    let entry = this.#entries.get(key)
    if (entry === undefined) {
      entry = { query: this.#start(key), lastUsed: 0 }
      this.#ensureSweeper()
    }
    entry.lastUsed = Date.now()
    const evicted = touch(this.#entries, key, entry, this.#maxKeys)
    for (const old of evicted) void old.query.close()
    const current = entry.query.current
    if (current !== undefined) return Promise.resolve(current.value)
    return this.#first(key, entry, signal)
  }

  async close (): Promise<void> {
    this.#closed = true
    if (this.#sweeper !== undefined) clearInterval(this.#sweeper)
    this.#sweeper = undefined
    const closing = [...this.#entries.values()].map((entry) => entry.query.close())
    this.#entries.clear()
    await Promise.all(closing)
  }

  /**
   * Waits for a new watch's first answer. Unlike BlockingQuery#ready, a failure before any answer rejects
   * (the dialer must not hang while the agent is down) and closes the watch, so the next lookup retries.
   */
  #first (key: string, entry: WatchEntry<Raw, T>, signal: AbortSignal | undefined): Promise<T> {
    const { query } = entry
    return new Promise<T>((resolve, reject) => {
      const stop = new AbortController()
      const onError = (err: ConnectError): void => {
        stop.abort()
        if (this.#entries.get(key) === entry) this.#entries.delete(key)
        void query.close()
        reject(err)
      }
      query.once('error', onError)
      const linked = signal === undefined ? stop.signal : AbortSignal.any([signal, stop.signal])
      query.ready({ signal: linked }).then(
        (value) => { query.off('error', onError); resolve(value) },
        (err: unknown) => {
          query.off('error', onError)
          // Our own stop (after onError) already settled the promise; a caller's abort is reported as such.
          if (!stop.signal.aborted) reject(signal?.aborted === true ? abortError('resolving', signal) : err)
        }
      )
    })
  }

  #ensureSweeper (): void {
    if (this.#sweeper !== undefined) return
    this.#sweeper = setInterval(() => this.#sweep(), Math.max(1000, Math.floor(this.#idleMs / 2)))
    this.#sweeper.unref()
  }

  #sweep (): void {
    const now = Date.now()
    for (const [key, entry] of this.#entries) {
      if (now - entry.lastUsed >= this.#idleMs) {
        this.#entries.delete(key)
        void entry.query.close()
      }
    }
    if (this.#entries.size === 0 && this.#sweeper !== undefined) {
      clearInterval(this.#sweeper)
      this.#sweeper = undefined
    }
  }
}

/** Marks `key` most recently used; returns the entries dropped to stay within `maxKeys`. */
function touch<E> (map: Map<string, E>, key: string, entry: E, maxKeys: number): E[] {
  map.delete(key)
  map.set(key, entry)
  const evicted: E[] = []
  for (const [oldKey, old] of map) {
    if (map.size <= maxKeys) break
    map.delete(oldKey)
    evicted.push(old)
  }
  return evicted
}

/** `promise`, or an ERR_CONNECT_ABORTED rejection as soon as `signal` fires. */
export function withSignal<T> (promise: Promise<T>, signal: AbortSignal | undefined, what = 'resolving'): Promise<T> {
  if (signal === undefined) return promise
  if (signal.aborted) return Promise.reject(abortError(what, signal))
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(abortError(what, signal))
    signal.addEventListener('abort', onAbort, { once: true })
    promise.then(
      (value) => { signal.removeEventListener('abort', onAbort); resolve(value) },
      (err: unknown) => { signal.removeEventListener('abort', onAbort); reject(err) }
    )
  })
}

function closedError (): ConnectError {
  return new ConnectError('ERR_CONNECT_CLOSED', 'resolving: the resolver is closed')
}
