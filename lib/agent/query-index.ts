/**
 * The index rules of Consul blocking queries, as pure functions (Consul docs, "Blocking Queries", and
 * the Go watcher in `api/watch/plan.go`):
 *
 * - The next request sends the `X-Consul-Index` of the last answer, with `wait`.
 * - If the index goes backwards (a server restored from a snapshot, a new leader with a lower raft
 *   index, a different agent behind a load balancer), reset to 0: the next call is non-blocking and
 *   fetches the current state, whose index is then the new baseline.
 * - Never send an index below 1 in a blocking call: `index=0` returns at once, so an agent that answers
 *   0 would turn the loop into a busy loop. An index of 0 from the agent is therefore treated as 1.
 */

/**
 * The index to send with the next request, given the one last sent (`undefined` before the first
 * answer) and the one just received. Returns 0 after a reset: see {@link isBlockingIndex}.
 */
export function nextIndex (previous: number | undefined, received: number): number {
  if (previous !== undefined && received < previous) return 0
  return Math.max(1, received)
}

/** Whether a request with this index blocks (sends `index` and `wait`); 0 and undefined do not. */
export function isBlockingIndex (index: number | undefined): index is number {
  return index !== undefined && index >= 1
}

/** Maximum `wait` Consul honours; longer values are capped by the agent, so they are capped here too. */
export const MAX_WAIT_MS = 10 * 60_000
/** `wait` when none is configured: Consul's own default. */
export const DEFAULT_WAIT_MS = 5 * 60_000

/** Query parameters of a blocking call: `index` and `wait` in Go duration syntax (`300000ms`). */
export function blockingParams (index: number, waitMs: number): { index: string, wait: string } {
  return { index: String(index), wait: `${Math.min(waitMs, MAX_WAIT_MS)}ms` }
}

/**
 * Deadline of a blocking request: the agent may hold it for `wait` plus up to `wait/16` of jitter it
 * adds itself, and the answer then needs the ordinary request `marginMs` to arrive.
 */
export function blockingTimeoutMs (waitMs: number, marginMs: number): number {
  const wait = Math.min(waitMs, MAX_WAIT_MS)
  return wait + Math.ceil(wait / 16) + marginMs
}
