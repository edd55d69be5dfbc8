/**
 * Helpers of the resilience suite: an unhandled-rejection tracker, a bounded traffic loop, and bounded waits on
 * events. Nothing here sleeps: every wait is on an event, and every wait is bounded by an AbortSignal.
 */
import { once } from 'node:events'
import type { EventEmitter } from 'node:events'
import type { AddressInfo } from 'node:net'
import { ConnectService } from '../../lib/service.js'
import { allowAll } from '../../lib/authz/authorizer.js'
import { staticCredentials } from '../../lib/identity/static-source.js'
import { staticResolver } from '../../lib/net/static-resolver.js'
import type { TestCA } from '../../lib/testing/test-ca.js'

/** Collects unhandled rejections while installed (the process would otherwise crash or warn). */
export class RejectionTracker {
  readonly rejections: unknown[] = []
  readonly #listener = (reason: unknown): void => { this.rejections.push(reason) }
  install (): this {
    process.on('unhandledRejection', this.#listener)
    return this
  }

  dispose (): void {
    process.off('unhandledRejection', this.#listener)
  }
}

/** A request loop: one request at a time until stopped or `maxRequests` were made. */
export class Traffic {
  served = 0
  failed = 0
  readonly failures: string[] = []
  readonly #done: Promise<void>
  #stopped = false
  #ended: string | undefined

  /**
   * Runs `request` in a loop until stop(), bounded in count and in time (whichever comes first), so it always ends
   * by itself. A loop that ended on a bound makes waitServed() fail at once, naming the bound, instead of waiting.
   */
  constructor (request: () => Promise<void>, maxRequests = 2_000_000, maxMs = 300_000) {
    const deadline = performance.now() + maxMs
    this.#done = (async () => {
      let i = 0
      for (; i < maxRequests && !this.#stopped && performance.now() < deadline; i++) {
        try {
          await request()
          this.served++
        } catch (err) {
          this.failed++
          if (this.failures.length < 20) this.failures.push(describeError(err))
        }
      }
      if (!this.#stopped) this.#ended = i >= maxRequests ? `its cap of ${maxRequests} requests` : `its ${maxMs} ms time bound`
    })()
  }

  /** A snapshot of the counts. */
  snapshot (): { served: number, failed: number } {
    return { served: this.served, failed: this.failed }
  }

  /** Resolves once `n` more requests were served after the call (bounded by `signal`). */
  async waitServed (n: number, signal: AbortSignal): Promise<void> {
    const target = this.served + n
    await until(() => {
      if (this.#ended !== undefined && this.served < target) throw new Error(`the traffic loop ended at ${this.#ended}`)
      return this.served >= target
    }, signal)
  }

  async stop (): Promise<void> {
    this.#stopped = true
    await this.#done
  }
}

export function describeError (err: unknown): string {
  const e = err as { code?: unknown, message?: unknown, cause?: { code?: unknown } } | undefined
  return `${String(e?.code ?? e?.cause?.code ?? 'no code')}: ${String(e?.message ?? err)}`
}

/**
 * Resolves when `predicate` (a condition on counters) holds, re-checking it every `everyMs`, at most `maxChecks`
 * times; rejects when `signal` aborts. The condition is what synchronizes, never the delay.
 */
export async function until (predicate: () => boolean, signal: AbortSignal, everyMs = 5, maxChecks = 20_000): Promise<void> {
  for (let i = 0; i < maxChecks; i++) {
    if (predicate()) return
    signal.throwIfAborted()
    await new Promise((resolve) => setTimeout(resolve, everyMs))
  }
  throw new Error(`condition not met after ${maxChecks} checks`)
}

/** Resolves when `emitter` emits `event` with arguments that satisfy `match` (bounded by `signal`). */
export async function eventWhere<A extends unknown[]> (emitter: EventEmitter, event: string, match: (...args: A) => boolean, signal: AbortSignal, maxEvents = 10_000): Promise<A> {
  for (let i = 0; i < maxEvents; i++) {
    const args = await once(emitter, event, { signal }) as A
    if (match(...args)) return args
  }
  throw new Error(`no matching '${event}' event in ${maxEvents}`)
}

export const portOf = (server: { address: () => unknown }): number => (server.address() as AddressInfo).port

/**
 * A mesh client "web" that needs no agent: a long-lived leaf from `ca` (static credentials), a fixed resolver to
 * `db` at `dbAddress`, and allowAll. Only the service under test then talks to the agent.
 */
export async function staticClient (ca: TestCA, dbAddresses: readonly string[]): Promise<ConnectService> {
  const leaf = await ca.issueLeaf({ service: 'web' })
  return new ConnectService({
    service: 'web',
    credentials: staticCredentials({ identity: { certPem: leaf.certPem, keyPem: leaf.keyPem }, bundle: { trustDomain: ca.trustDomain, rootsPem: ca.rootPem } }),
    authorizer: allowAll(),
    resolver: staticResolver({ db: dbAddresses })
  })
}

/** Seconds with one decimal. */
export const seconds = (ms: number): string => (ms / 1000).toFixed(1)
