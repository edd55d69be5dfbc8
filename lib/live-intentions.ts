/**
 * LiveIntentions: the destination's intentions, watched with a blocking query and kept as an immutable,
 * indexed `Intentions` snapshot, together with the default decision Consul applies when nothing matches.
 *
 * - The default is learned while the watch's first request is in flight; the first snapshot is published
 *   (`current`, `onChange`, `ready()`) once both are in. The default comes from, in this order (see
 *   authz/default-policy.ts for why):
 *   the `defaultAllow` option if given; `GET /v1/agent/self` (`DebugConfig.DefaultIntentionPolicy`, else the ACL
 *   default; needs `agent:read`); a probe of the agent's authorize endpoint (needs `service:write` on the
 *   destination, which the service's own token has); finally the `X-Consul-Default-ACL-Policy` header of the
 *   intentions answer. If none is available the default is deny (fail closed). Agent errors are retried with
 *   backoff. The default is looked up again after every intentions change, so a changed policy takes effect.
 * - An answer with a malformed intention (unknown action, partial wildcard, invalid regex...) never replaces
 *   the last good snapshot: it is reported as ERR_CONNECT_INTENTION_INVALID through `onError`.
 * - Reading `current` is one property access: the authorizer calls it on every connection.
 */
import type { AgentClient } from './agent/client.js'
import type { BlockingQuery } from './agent/blocking-query.js'
import type { Intention } from './agent/schemas.js'
import { watchIntentions } from './agent/watchers.js'
import type { AgentCredentialsWatchOptions } from './identity/agent-source.js'
import { defaultDecisionFrom, probeDefaultDecision } from './authz/default-policy.js'
import type { DefaultDecision } from './authz/default-policy.js'
import { Intentions } from './authz/intentions.js'
import type { IntentionInput } from './authz/intentions.js'
import { ConnectError } from './errors.js'
import { sleep, systemClock } from './agent/clock.js'

export interface LiveIntentionsOptions {
  readonly client: AgentClient
  readonly destination: string
  /** Fix the default decision instead of learning it from the agent. */
  readonly defaultAllow?: boolean
  readonly watch?: AgentCredentialsWatchOptions
}

type Listener<A extends unknown[]> = (...args: A) => void

export class LiveIntentions {
  readonly destination: string
  readonly #client: AgentClient
  readonly #query: BlockingQuery<readonly Intention[], Intentions>
  readonly #lifecycle = new AbortController()
  readonly #changeListeners = new Set<Listener<[Intentions, Intentions | undefined]>>()
  readonly #errorListeners = new Set<Listener<[ConnectError]>>()
  readonly #fixedDefault: boolean | undefined
  #default: DefaultDecision | undefined
  /** Callers of ready() waiting for the first default; all called once it is known or the watch closes. */
  readonly #defaultWaiters = new Set<() => void>()
  #defaultDone = false
  #raw: readonly Intention[] | undefined
  #current: Intentions | undefined

  constructor (options: LiveIntentionsOptions) {
    this.destination = options.destination
    this.#client = options.client
    this.#fixedDefault = options.defaultAllow
    if (options.defaultAllow !== undefined) {
      this.#default = Object.freeze({
        defaultAllow: options.defaultAllow,
        defaultReason: `Default ${options.defaultAllow ? 'allow' : 'deny'} configured for this service`,
        source: 'acl'
      })
    }
    this.#query = watchIntentions(options.client, options.destination, {
      ...(options.watch ?? {}),
      start: false,
      // Runs only when the answer changed; a throw (malformed intention) keeps the last good snapshot.
      transform: (raw) => {
        const built = this.#build(raw, this.#default)
        this.#raw = raw
        return built
      }
    })
    this.#query.on('change', (next, previous) => {
      // Until the first lookup of the default finishes, nothing is published: #start builds the first
      // snapshot itself once the default is known.
      if (this.#default === undefined) return
      this.#current = next
      for (const l of this.#changeListeners) {
        try { l(next, previous) } catch { /* a listener's failure is its own: the snapshot is in force */ }
      }
      if (this.#fixedDefault === undefined) void this.#relearn()
    })
    this.#query.on('error', (err) => {
      // A malformed intention fails the transform; report it under its own code, not as a generic bad answer.
      const cause = err.cause
      const reported = err.code === 'ERR_CONNECT_AGENT_INVALID_ANSWER' && cause instanceof ConnectError && cause.code === 'ERR_CONNECT_INTENTION_INVALID' ? cause : err
      this.#report(reported)
    })
    void this.#start()
  }

  /** The latest snapshot, or undefined before the first good answer. */
  get current (): Intentions | undefined { return this.#current }

  /** The default decision in force, or undefined before it is known. */
  get defaultDecision (): DefaultDecision | undefined { return this.#default }

  /** Counters of the underlying watch, for metrics. */
  get counters (): BlockingQuery<readonly Intention[], Intentions>['counters'] { return this.#query.counters }

  onChange (listener: (next: Intentions, previous: Intentions | undefined) => void): () => void {
    this.#changeListeners.add(listener)
    return () => this.#changeListeners.delete(listener)
  }

  onError (listener: (error: ConnectError) => void): () => void {
    this.#errorListeners.add(listener)
    return () => this.#errorListeners.delete(listener)
  }

  /** Resolves with the first snapshot; rejects with ERR_CONNECT_ABORTED on abort, ERR_CONNECT_CLOSED on close. */
  async ready (options: { signal?: AbortSignal } = {}): Promise<Intentions> {
    await this.#query.ready(options)
    if (!this.#defaultDone) {
      const { signal } = options
      await new Promise<void>((resolve, reject) => {
        const done = (): void => {
          signal?.removeEventListener('abort', onAbort)
          resolve()
        }
        const onAbort = (): void => {
          this.#defaultWaiters.delete(done)
          reject(new ConnectError('ERR_CONNECT_ABORTED', `waiting for the default intention policy of "${this.destination}": aborted`, { cause: signal?.reason }))
        }
        if (signal?.aborted === true) { onAbort(); return }
        signal?.addEventListener('abort', onAbort, { once: true })
        this.#defaultWaiters.add(done)
      })
    }
    if (this.#default === undefined || this.#current === undefined) {
      throw new ConnectError('ERR_CONNECT_CLOSED', `the intentions watch of "${this.destination}" is closed`)
    }
    return this.#current
  }

  /** Stops the watch and the default-policy lookups. Idempotent. Does not close the client. */
  async close (): Promise<void> {
    this.#lifecycle.abort()
    this.#settleDefault()
    await this.#query.close()
  }

  async #start (): Promise<void> {
    // The first intentions request and the default lookup run side by side: readiness waits for the slower.
    if (!this.#lifecycle.signal.aborted) this.#query.start()
    let failures = 0
    try {
      while (this.#default === undefined && !this.#lifecycle.signal.aborted) {
        let learned: DefaultDecision
        try {
          learned = await this.#learn()
        } catch (err) {
          failures++
          this.#report(asConnectError(err))
          // Same shape as the watches' backoff, shorter cap: readiness waits on this.
          const delay = Math.min(30_000, 250 * failures * failures) * (0.75 + Math.random() / 2)
          await sleep(systemClock, delay, this.#lifecycle.signal)
          continue
        }
        if (this.#lifecycle.signal.aborted) break
        this.#default = learned
        // An answer that arrived first was held back: publish it, built with the default now known.
        if (this.#raw !== undefined) this.#replace(this.#build(this.#raw, learned))
      }
    } finally {
      this.#settleDefault()
    }
  }

  #settleDefault (): void {
    this.#defaultDone = true
    for (const done of this.#defaultWaiters) done()
    this.#defaultWaiters.clear()
  }

  /** Hands an error to the listeners (none after close); a listener that throws does not stop the others. */
  #report (error: ConnectError): void {
    if (this.#lifecycle.signal.aborted) return
    for (const l of this.#errorListeners) {
      try { l(error) } catch { /* a listener's failure is its own; the watch goes on */ }
    }
  }

  async #learn (): Promise<DefaultDecision> {
    const signal = this.#lifecycle.signal
    try {
      const self = await this.#client.self({ signal })
      const fromSelf = defaultDecisionFrom({ self })
      if (fromSelf.source !== 'unknown') return fromSelf
    } catch (err) {
      if (!(err instanceof ConnectError) || (err.code !== 'ERR_CONNECT_AGENT_PERMISSION_DENIED' && err.code !== 'ERR_CONNECT_AGENT_NOT_FOUND')) throw err
    }
    const probed = await probeDefaultDecision(this.#client, { target: this.destination, signal })
    if (probed !== undefined) return probed
    return defaultDecisionFrom({ aclDefaultPolicyHeader: this.#query.current?.meta.defaultAclPolicy })
  }

  async #relearn (): Promise<void> {
    try {
      const next = await this.#learn()
      const prev = this.#default
      if (prev !== undefined && prev.defaultAllow === next.defaultAllow && prev.defaultReason === next.defaultReason) return
      this.#default = next
      if (this.#raw === undefined) return
      this.#replace(this.#build(this.#raw, next))
    } catch (err) {
      this.#report(asConnectError(err))
    }
  }

  #replace (rebuilt: Intentions): void {
    const before = this.#current
    this.#current = rebuilt
    for (const l of this.#changeListeners) {
      try { l(rebuilt, before) } catch { /* a listener's failure is its own: the snapshot is in force */ }
    }
  }

  #build (raw: readonly Intention[], def: DefaultDecision | undefined): Intentions {
    return new Intentions(raw as readonly IntentionInput[], {
      destination: this.destination,
      defaultAllow: def?.defaultAllow ?? false,
      ...(def ? { defaultReason: def.defaultReason } : { defaultReason: 'default decision not known (fail closed)' })
    })
  }
}

function asConnectError (err: unknown): ConnectError {
  return err instanceof ConnectError ? err : new ConnectError('ERR_CONNECT_AGENT_HTTP', `learning the default intention policy: ${(err as Error)?.message ?? String(err)}`, { cause: err })
}
