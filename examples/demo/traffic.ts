/**
 * Traffic: a few concurrent loops of requests, counted, for step 5 (rotation while requests flow). Each loop
 * sends its next request as soon as the previous one is answered; nothing is paced by timers.
 */

export interface TrafficCounts {
  readonly made: number
  readonly failed: number
  /** The first few failures, described. */
  readonly failures: readonly string[]
}

export class Traffic {
  readonly #send: () => Promise<void>
  readonly #loops: Array<Promise<void>> = []
  readonly #waiters: Array<{ readonly count: number, readonly resolve: () => void }> = []
  readonly #failures: string[] = []
  #made = 0
  #failed = 0
  #stopped = false

  /** Starts `concurrency` loops calling `send`; a rejection counts as a failed request. */
  constructor (send: () => Promise<void>, concurrency: number) {
    this.#send = send
    for (let i = 0; i < concurrency; i++) this.#loops.push(this.#loop())
  }

  get counts (): TrafficCounts {
    return { made: this.#made, failed: this.#failed, failures: [...this.#failures] }
  }

  /**
   * Resolves once `count` requests have completed (answered or failed) in all; rejects after `deadlineMs`
   * with an Error naming the count reached.
   */
  async until (count: number, deadlineMs: number): Promise<void> {
    if (this.#made >= count) return
    let timer: NodeJS.Timeout | undefined
    const reached = new Promise<void>((resolve) => this.#waiters.push({ count, resolve }))
    const late = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => reject(new Error(`only ${this.#made} of ${count} requests completed in ${deadlineMs} ms`)), deadlineMs)
      timer.unref()
    })
    try {
      await Promise.race([reached, late])
    } finally {
      clearTimeout(timer)
    }
  }

  /** Lets the requests in flight finish, sends no more, and returns the final counts. */
  async stop (): Promise<TrafficCounts> {
    this.#stopped = true
    await Promise.all(this.#loops)
    for (const waiter of this.#waiters.splice(0)) waiter.resolve()
    return this.counts
  }

  async #loop (): Promise<void> {
    while (!this.#stopped) {
      try {
        await this.#send()
      } catch (err) {
        this.#failed++
        if (this.#failures.length < 3) this.#failures.push(err instanceof Error ? err.message : String(err))
      }
      this.#made++
      for (const waiter of [...this.#waiters]) {
        if (this.#made >= waiter.count) {
          this.#waiters.splice(this.#waiters.indexOf(waiter), 1)
          waiter.resolve()
        }
      }
    }
  }
}
