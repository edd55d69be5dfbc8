/**
 * The TestAgent's request log, counters, and `nextRequest()` waits: what tests use to see what a client
 * did and to synchronize with it without sleeping ("the watch is now blocked; change something").
 */
import { ConnectError, abortError } from '../errors.js'
import type { RequestLogEntry } from './test-agent-http.js'

/** Counters of a TestAgent (a frozen snapshot). */
export interface TestAgentCounters {
  /** Requests received. */
  readonly requests: number
  /** Requests being held now: blocking queries waiting for a change, and requests hung by a fault. */
  readonly held: number
  /** Requests that were held at some point. */
  readonly heldTotal: number
  /** Requests a fault applied to. */
  readonly faultsApplied: number
  /** Leaf certificates issued (first issues, renewals and re-issues after rotations). */
  readonly leavesIssued: number
  /** Root rotations. */
  readonly rootRotations: number
}

/** Which request {@link RequestRecorder.next} waits for. */
export interface RequestFilter {
  /** Exact path, or a RegExp tested against the path. */
  readonly path?: string | RegExp
  /** HTTP method (case-insensitive). */
  readonly method?: string
  /** Wait until the request is *held* (blocked on its index, or hung by a fault) rather than until it arrives. */
  readonly held?: boolean
}

interface Waiter {
  readonly filter: RequestFilter
  readonly resolve: (entry: RequestLogEntry) => void
  readonly reject: (err: unknown) => void
}

export class RequestRecorder {
  readonly #log: RequestLogEntry[] = []
  readonly #waiters = new Set<Waiter>()
  #seq = 0
  #held = 0
  #heldTotal = 0
  #faultsApplied = 0
  #closed = false

  /** The next sequence number. */
  nextSeq (): number {
    return ++this.#seq
  }

  get log (): readonly RequestLogEntry[] {
    return Object.freeze([...this.#log])
  }

  clear (): void {
    this.#log.length = 0
  }

  counters (ca: { readonly leavesIssued: number, readonly rotations: number }): TestAgentCounters {
    return Object.freeze({
      requests: this.#seq,
      held: this.#held,
      heldTotal: this.#heldTotal,
      faultsApplied: this.#faultsApplied,
      leavesIssued: ca.leavesIssued,
      rootRotations: ca.rotations
    })
  }

  arrived (entry: RequestLogEntry): void {
    this.#log.push(entry)
    this.#notify(entry, false)
  }

  held (entry: RequestLogEntry, holding: boolean): void {
    if (holding) {
      this.#held++
      this.#heldTotal++
      this.#notify(entry, true)
    } else {
      this.#held--
    }
  }

  faultApplied (): void {
    this.#faultsApplied++
  }

  /** Resolves with the next request matching `filter` (arriving, or held when `filter.held`). */
  async next (filter: RequestFilter, signal: AbortSignal | undefined): Promise<RequestLogEntry> {
    if (this.#closed) throw closedError()
    if (signal?.aborted === true) throw abortError('TestAgent.nextRequest', signal)
    return new Promise<RequestLogEntry>((resolve, reject) => {
      const onAbort = (): void => {
        this.#waiters.delete(waiter)
        reject(abortError('TestAgent.nextRequest', signal))
      }
      const waiter: Waiter = {
        filter,
        resolve: (entry) => {
          signal?.removeEventListener('abort', onAbort)
          resolve(entry)
        },
        reject: (err) => {
          signal?.removeEventListener('abort', onAbort)
          reject(err)
        }
      }
      this.#waiters.add(waiter)
      signal?.addEventListener('abort', onAbort, { once: true })
    })
  }

  /** Rejects every pending wait; later waits reject at once. */
  close (): void {
    this.#closed = true
    for (const waiter of this.#waiters) waiter.reject(closedError())
    this.#waiters.clear()
  }

  /** How many logged requests match `filter` (its `held` flag is ignored). */
  count (filter: RequestFilter): number {
    return this.#log.filter((e) => matches(filter, e)).length
  }

  #notify (entry: RequestLogEntry, held: boolean): void {
    for (const waiter of this.#waiters) {
      if ((waiter.filter.held === true) !== held || !matches(waiter.filter, entry)) continue
      this.#waiters.delete(waiter)
      waiter.resolve(entry)
    }
  }
}

function matches (filter: RequestFilter, entry: RequestLogEntry): boolean {
  if (filter.method !== undefined && filter.method.toUpperCase() !== entry.method) return false
  const p = filter.path
  if (p === undefined) return true
  if (typeof p === 'string') return p === entry.path
  p.lastIndex = 0
  return p.test(entry.path)
}

function closedError (): ConnectError {
  return new ConnectError('ERR_CONNECT_CLOSED', 'TestAgent: closed')
}
