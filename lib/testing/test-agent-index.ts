/**
 * The TestAgent's indexes and blocking-query wake-ups.
 *
 * Like Consul's Raft log, one counter orders every write; each resource (`roots`, `intentions`,
 * `catalog`, `leaf:<service>`, `ca-config`, `defaults` for service-defaults and proxy-defaults) remembers
 * the counter value of its last change, which is what its answers carry as `X-Consul-Index`. A blocking
 * request waits until its resource's index passes the `index` it sent, or its wait ends, or it is released
 * (client gone, agent closing).
 */

/** The first index the agent reports: above 1, as a real cluster's are after bootstrap writes. */
export const FIRST_INDEX = 10

/** Resource keys whose index exists from the start (others start at their first write). */
export const BASE_RESOURCES = ['roots', 'intentions', 'catalog', 'ca-config', 'defaults'] as const

export class IndexBoard {
  #raft = FIRST_INDEX
  readonly #resources = new Map<string, number>(BASE_RESOURCES.map((k) => [k, FIRST_INDEX]))
  readonly #waiters = new Map<string, Set<() => void>>()

  /** The latest index of any write. */
  get current (): number {
    return this.#raft
  }

  /** The index of `key`'s last change; the latest index when `key` was never written (as for an empty table). */
  of (key: string): number {
    return this.#resources.get(key) ?? this.#raft
  }

  /** Records one write touching `keys`: a new index, stamped on each key, waking their blocked requests. */
  bump (...keys: string[]): number {
    const index = ++this.#raft
    for (const key of keys) {
      this.#resources.set(key, index)
      const waiters = this.#waiters.get(key)
      this.#waiters.delete(key)
      for (const wake of waiters ?? []) wake()
    }
    return index
  }

  /** Forgets a resource (a deleted leaf, say): its index becomes the latest one again. */
  forget (key: string): void {
    this.#resources.delete(key)
  }

  /**
   * Resolves once `key`'s index is above `after`, or after `ms`, or when `signal` aborts, whichever comes
   * first. Never rejects: the caller looks at the state afterwards. The timer is unref'd.
   */
  async wait (key: string, after: number, ms: number, signal: AbortSignal): Promise<void> {
    if (this.of(key) > after || signal.aborted) return
    await new Promise<void>((resolve) => {
      let waiters = this.#waiters.get(key)
      if (waiters === undefined) this.#waiters.set(key, waiters = new Set())
      const done = (): void => {
        clearTimeout(timer)
        signal.removeEventListener('abort', done)
        waiters.delete(done)
        resolve()
      }
      const timer = setTimeout(done, ms)
      timer.unref()
      waiters.add(done)
      signal.addEventListener('abort', done, { once: true })
    })
  }
}
