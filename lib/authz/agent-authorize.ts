/**
 * An authorizer backed by the local agent's `POST /v1/agent/connect/authorize`, for services whose token
 * cannot read intentions, or to cross-check the local decision.
 *
 * An {@link Authorizer} is synchronous and the agent call is not, so this is an asynchronous pre-check plus
 * a cache, keyed by the peer's SPIFFE ID:
 * - `prefetch(peer)` asks the agent (one request per identity at a time; concurrent callers share it) and
 *   caches the answer for `cacheTtlMs` (default 10 s). It resolves to the agent's decision, or to a deny when
 *   the call failed (timeout after `timeoutMs`, default 5 s; 403; agent down): errors never allow. A failure
 *   is cached for `failureTtlMs` (default 1 s) so a burst of connections does not hammer a failing agent.
 *   It rejects only with ERR_CONNECT_ABORTED when its own `signal` aborts (the shared request carries on).
 * - `authorizer` answers from the cache only. A fresh answer gives the agent's decision (with the agent's
 *   reason); no answer, or an expired one, denies with "authorization pending" (fail closed); a recent
 *   failure denies with its reason. So: `await prefetch(peer)` before deciding (e.g. in the TLS server's
 *   secure-connection handler), then the synchronous check sees the answer.
 *
 * What the agent decides: L4 only. An L7 intention counts as deny, whatever the request (the agent has no
 * request to match), and the serial sent (`ClientCertSerial`) is not checked by Consul. The agent keeps its
 * own intentions cache fresh, so a change of intentions shows in answers after at most `cacheTtlMs` here.
 * Only service identities are asked about; other kinds are denied without a call (the agent answers 400).
 */
import type { AgentClient } from '../agent/client.js'
import type { Clock } from '../agent/clock.js'
import { systemClock } from '../agent/clock.js'
import { abortError, InvalidOptionError } from '../errors.js'
import type { Authorizer, Decision, HttpRequestInfo, Peer } from './authorizer.js'

export interface AgentAuthorizeOptions {
  /** The destination service: this service's name. The client's token needs `service:write` on it. */
  readonly target: string
  /** Deadline of one authorize call, in ms. Default 5,000. */
  readonly timeoutMs?: number
  /** How long an answer stays fresh, in ms. Default 10,000. */
  readonly cacheTtlMs?: number
  /** How long a failed call is remembered (as a deny with its reason), in ms. Default 1,000. */
  readonly failureTtlMs?: number
  /** Most identities cached at once; the oldest answer is dropped first. Default 10,000. */
  readonly maxEntries?: number
  /** Time source (tests inject one). Default the system clock. */
  readonly clock?: Pick<Clock, 'now'>
}

export interface AgentAuthorizer {
  /** Answers from the cache; see the module comment. Synchronous, no I/O. */
  readonly authorizer: Authorizer
  /** Asks the agent about `peer` unless a fresh answer is cached; resolves to the decision (deny on failure). */
  prefetch (peer: Peer, options?: { readonly signal?: AbortSignal }): Promise<Decision>
  /** Forgets every cached answer (after intentions changed, say). In-flight calls still complete and cache. */
  clear (): void
  /** The number of cached answers, expired ones included until they are looked at or evicted. */
  readonly size: number
}

interface CacheEntry {
  readonly L4: Decision
  readonly L7: Decision
  readonly expiresAt: number
}

function positive (field: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) throw new InvalidOptionError(field, `expected a positive number, got ${String(value)}`)
  return value
}

function both (allowed: boolean, reason: string): { L4: Decision, L7: Decision } {
  return {
    L4: Object.freeze({ allowed, reason, layer: 'L4' as const }),
    L7: Object.freeze({ allowed, reason, layer: 'L7' as const })
  }
}

/** Creates the pre-check and cache described in the module comment. Validates options eagerly. */
export function agentAuthorize (client: Pick<AgentClient, 'authorize'>, options: AgentAuthorizeOptions): AgentAuthorizer {
  if (client === null || typeof client?.authorize !== 'function') throw new InvalidOptionError('client', 'expected an AgentClient')
  if (typeof options?.target !== 'string' || options.target === '') throw new InvalidOptionError('target', 'expected the destination service name')
  const target = options.target
  const timeoutMs = positive('timeoutMs', options.timeoutMs, 5_000)
  const cacheTtlMs = positive('cacheTtlMs', options.cacheTtlMs, 10_000)
  const failureTtlMs = positive('failureTtlMs', options.failureTtlMs, 1_000)
  const maxEntries = positive('maxEntries', options.maxEntries, 10_000)
  const clock = options.clock ?? systemClock

  const cache = new Map<string, CacheEntry>()
  const inFlight = new Map<string, Promise<Decision>>()
  const pending = both(false, `denied: authorization pending: no fresh answer from the agent for this peer (call prefetch first)`)
  const notService = both(false, 'denied: the peer is not a service identity (the agent authorizes services only)')
  const pick = (pair: { L4: Decision, L7: Decision }, request: HttpRequestInfo | undefined): Decision => request === undefined ? pair.L4 : pair.L7

  /** The cached entry for `key` if still fresh; an expired one is dropped. */
  const fresh = (key: string): CacheEntry | undefined => {
    const entry = cache.get(key)
    if (entry === undefined) return undefined
    if (clock.now() < entry.expiresAt) return entry
    cache.delete(key)
    return undefined
  }

  const store = (key: string, allowed: boolean, reason: string, ttl: number): Decision => {
    cache.delete(key) // re-insert at the end: Map order is the eviction order
    while (cache.size >= maxEntries) cache.delete(cache.keys().next().value!)
    const entry: CacheEntry = { ...both(allowed, reason), expiresAt: clock.now() + ttl }
    cache.set(key, entry)
    return entry.L4
  }

  const ask = async (peer: Peer, key: string): Promise<Decision> => {
    try {
      const answer = await client.authorize(
        // Consul does not check the serial (revocation is unimplemented); a peer known only by ID sends none.
        { target, clientCertUri: key, clientCertSerial: peer.certificate?.serial ?? '' },
        { timeoutMs }
      )
      const reason = answer.Reason !== '' ? answer.Reason : answer.Authorized ? 'allowed by the agent' : 'denied by the agent'
      return store(key, answer.Authorized, reason, cacheTtlMs)
    } catch (err) {
      return store(key, false, `denied: agent authorization failed: ${(err as Error)?.message ?? String(err)}`, failureTtlMs)
    }
  }

  const authorizer: Authorizer = (peer, request) => {
    const id = peer.id
    if (id.kind !== 'service') return pick(notService, request)
    const entry = fresh(id.uri)
    return entry === undefined ? pick(pending, request) : pick(entry, request)
  }

  return Object.freeze({
    authorizer,
    async prefetch (peer: Peer, prefetchOptions: { readonly signal?: AbortSignal } = {}): Promise<Decision> {
      const { signal } = prefetchOptions
      if (signal?.aborted === true) throw abortError(`authorizing ${peer.id.uri}`, signal)
      if (peer.id.kind !== 'service') return notService.L4
      const key = peer.id.uri
      const entry = fresh(key)
      if (entry !== undefined) return entry.L4
      let request = inFlight.get(key)
      if (request === undefined) {
        const started = ask(peer, key) // never rejects: failures become cached denies
        inFlight.set(key, started)
        void started.finally(() => { if (inFlight.get(key) === started) inFlight.delete(key) })
        request = started
      }
      if (signal === undefined) return await request
      return await raceAbort(request, signal, `authorizing ${key}`)
    },
    clear (): void {
      cache.clear()
    },
    get size (): number {
      return cache.size
    }
  })
}

/** `promise`, or a rejection with ERR_CONNECT_ABORTED when `signal` aborts first. */
function raceAbort<T> (promise: Promise<T>, signal: AbortSignal, what: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(abortError(what, signal))
    signal.addEventListener('abort', onAbort, { once: true })
    promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort))
  })
}
