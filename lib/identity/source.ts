/**
 * Credentials sources: where the TLS layer reads this service's identity (leaf + key + chain) and the trusted
 * roots from. Modeled on go-spiffe's tiny source interfaces: a static value implements the same interface as
 * the live agent source, so tests and dev mode need no server.
 *
 * Contract for every implementation:
 * - `credentials` is a frozen snapshot read with one property access: no I/O, never throws. The TLS layer
 *   reads it per handshake, so a rotation is seen by the next connection.
 * - A new snapshot replaces the old one atomically (one reference swap) and `generation` increases by one.
 * - A failed or invalid update never replaces good credentials (last good state wins); it is reported through
 *   `onError` listeners.
 * - `close()` is idempotent and releases every watch, timer and file handle the source created.
 */
import { abortError, ConnectError } from '../errors.js'
import type { TrustBundle } from './bundle.js'
import type { Identity } from './identity.js'

export interface Credentials {
  /** This service's leaf, key and chain; undefined until the first good one arrives. */
  readonly identity: Identity | undefined
  /** The trusted roots; undefined until the first good answer. */
  readonly bundle: TrustBundle | undefined
  /** Increases by one with every change of identity or bundle; 0 before anything loaded. */
  readonly generation: number
}

/** What changed between two snapshots. */
export interface CredentialsChange {
  readonly identityChanged: boolean
  readonly bundleChanged: boolean
}

export interface CredentialsSource {
  /** The latest snapshot. */
  readonly credentials: Credentials
  /** Calls `listener` after every new snapshot. Returns a function that unsubscribes. */
  onChange (listener: (next: Credentials, previous: Credentials, change: CredentialsChange) => void): () => void
  /** Calls `listener` when an update failed and was discarded. Returns a function that unsubscribes. */
  onError (listener: (error: ConnectError) => void): () => void
  /** Resolves once both identity and bundle are loaded; rejects with ERR_CONNECT_ABORTED on abort. */
  ready (options?: { signal?: AbortSignal }): Promise<Credentials>
  close (): Promise<void>
}

/** An empty snapshot. */
export const NO_CREDENTIALS: Credentials = Object.freeze({ identity: undefined, bundle: undefined, generation: 0 })

/**
 * Where a source stands, for the TLS layer and for health checks:
 * - `loading`: identity or bundle not loaded yet (refuse connections: nothing to present or verify with);
 * - `ready`: both loaded and the leaf is before its notAfter;
 * - `expired`: the leaf's notAfter has passed and no fresh leaf has arrived (refuse new connections).
 */
export type CredentialsStatus = 'loading' | 'ready' | 'expired'

/** Same certificate chain and key: what decides `identityChanged`. */
export function sameIdentity (a: Identity | undefined, b: Identity | undefined): boolean {
  if (a === b) return true
  if (a === undefined || b === undefined) return false
  return a.certPem === b.certPem && a.keyPem === b.keyPem
}

/** Same trust domain and roots: what decides `bundleChanged`. */
export function sameBundle (a: TrustBundle | undefined, b: TrustBundle | undefined): boolean {
  if (a === b) return true
  if (a === undefined || b === undefined) return false
  return a.equals(b)
}

/** The status of `credentials` at `now` (ms since the epoch). */
export function credentialsStatus (credentials: Credentials, now: number = Date.now()): CredentialsStatus {
  const { identity, bundle } = credentials
  if (identity === undefined || bundle === undefined) return 'loading'
  return identity.validBefore.getTime() <= now ? 'expired' : 'ready'
}

type ChangeListener = (next: Credentials, previous: Credentials, change: CredentialsChange) => void
type ErrorListener = (error: ConnectError) => void

export interface CredentialsPublisherOptions {
  /** Start of messages: `credentials of "web"`. */
  readonly what: string
  /** Why no fresh leaf arrived (e.g. the leaf query's last error): the `cause` of ERR_CONNECT_LEAF_EXPIRED. */
  readonly expiryCause?: () => unknown
}

// setTimeout fires at once beyond 2^31 - 1 ms (~24.8 days): longer waits are taken in steps.
const MAX_TIMER_MS = 2 ** 31 - 1

/**
 * The machinery every built-in source shares, so each implements the {@link CredentialsSource} contract
 * the same way: it holds the snapshot, swaps it atomically, counts generations, calls listeners, settles
 * `ready()` waiters, and watches the leaf's expiry.
 *
 * Expiry: after each new identity an unref'd timer is set to its notAfter; when it fires and the identity
 * is still the current one, ERR_CONNECT_LEAF_EXPIRED is reported through `onError` (once per identity).
 * The identity is kept (it is still the last good state, and the TLS layer decides what to do with it
 * through `status`). A listener that throws does not break the source: its error is rethrown on a later
 * tick, as an unhandled listener error would be.
 */
export class CredentialsPublisher {
  readonly #what: string
  readonly #expiryCause: (() => unknown) | undefined
  readonly #changeListeners = new Set<ChangeListener>()
  readonly #errorListeners = new Set<ErrorListener>()
  readonly #waiters = new Set<{ resolve: (value: Credentials) => void, reject: (err: unknown) => void }>()
  #credentials: Credentials = NO_CREDENTIALS
  #lastError: ConnectError | undefined
  #expiryTimer: NodeJS.Timeout | undefined
  #closed = false

  constructor (options: CredentialsPublisherOptions) {
    this.#what = options.what
    this.#expiryCause = options.expiryCause
  }

  get credentials (): Credentials { return this.#credentials }

  /** The latest reported error, kept until the next successful change. */
  get lastError (): ConnectError | undefined { return this.#lastError }

  get closed (): boolean { return this.#closed }

  status (now: number = Date.now()): CredentialsStatus {
    return credentialsStatus(this.#credentials, now)
  }

  /** True when a leaf is loaded and its notAfter is at or before `now` (ms since the epoch). */
  leafExpired (now: number = Date.now()): boolean {
    const identity = this.#credentials.identity
    return identity !== undefined && identity.validBefore.getTime() <= now
  }

  onChange (listener: ChangeListener): () => void {
    this.#changeListeners.add(listener)
    return () => { this.#changeListeners.delete(listener) }
  }

  onError (listener: ErrorListener): () => void {
    this.#errorListeners.add(listener)
    return () => { this.#errorListeners.delete(listener) }
  }

  /**
   * Replaces the identity and/or bundle given (a field left out keeps its value). When neither differs
   * from the current one (same chain and key, same roots) nothing happens and `undefined` is returned;
   * otherwise the new snapshot is swapped in with `generation + 1`, listeners are called and the change
   * returned. Does nothing after close().
   */
  publish (update: { readonly identity?: Identity, readonly bundle?: TrustBundle }): CredentialsChange | undefined {
    if (this.#closed) return undefined
    const previous = this.#credentials
    const identityChanged = update.identity !== undefined && !sameIdentity(update.identity, previous.identity)
    const bundleChanged = update.bundle !== undefined && !sameBundle(update.bundle, previous.bundle)
    if (!identityChanged && !bundleChanged) return undefined
    const next: Credentials = Object.freeze({
      identity: identityChanged ? update.identity : previous.identity,
      bundle: bundleChanged ? update.bundle : previous.bundle,
      generation: previous.generation + 1
    })
    this.#credentials = next
    this.#lastError = undefined
    if (identityChanged) this.#watchExpiry()
    const change: CredentialsChange = Object.freeze({ identityChanged, bundleChanged })
    if (next.identity !== undefined && next.bundle !== undefined) {
      for (const waiter of this.#waiters) waiter.resolve(next)
      this.#waiters.clear()
    }
    for (const listener of [...this.#changeListeners]) guarded(() => listener(next, previous, change))
    return change
  }

  /** Reports a discarded update to `onError` listeners; the snapshot is untouched. Ignored after close(). */
  report (error: ConnectError): void {
    if (this.#closed) return
    this.#lastError = error
    for (const listener of [...this.#errorListeners]) guarded(() => listener(error))
  }

  ready (options: { signal?: AbortSignal } = {}): Promise<Credentials> {
    const { signal } = options
    const current = this.#credentials
    if (current.identity !== undefined && current.bundle !== undefined) return Promise.resolve(current)
    if (this.#closed) return Promise.reject(this.#closedError())
    if (signal?.aborted === true) return Promise.reject(abortError(`waiting for ${this.#what}`, signal))
    return new Promise<Credentials>((resolve, reject) => {
      const onAbort = (): void => {
        this.#waiters.delete(waiter)
        reject(abortError(`waiting for ${this.#what}`, signal))
      }
      const waiter = {
        resolve: (value: Credentials) => { signal?.removeEventListener('abort', onAbort); resolve(value) },
        reject: (err: unknown) => { signal?.removeEventListener('abort', onAbort); reject(err) }
      }
      this.#waiters.add(waiter)
      signal?.addEventListener('abort', onAbort, { once: true })
    })
  }

  /** Stops the expiry timer, rejects pending ready() calls with ERR_CONNECT_CLOSED, drops listeners. Idempotent. */
  close (): void {
    if (this.#closed) return
    this.#closed = true
    clearTimeout(this.#expiryTimer)
    this.#expiryTimer = undefined
    const err = this.#closedError()
    for (const waiter of this.#waiters) waiter.reject(err)
    this.#waiters.clear()
    this.#changeListeners.clear()
    this.#errorListeners.clear()
  }

  #watchExpiry (): void {
    clearTimeout(this.#expiryTimer)
    this.#expiryTimer = undefined
    const identity = this.#credentials.identity
    if (identity === undefined) return
    const check = (): void => {
      this.#expiryTimer = undefined
      if (this.#closed || this.#credentials.identity !== identity) return
      const left = identity.validBefore.getTime() - Date.now()
      if (left > 0) {
        this.#expiryTimer = setTimeout(check, Math.min(left, MAX_TIMER_MS))
        this.#expiryTimer.unref()
        return
      }
      const cause = this.#expiryCause?.()
      this.report(new ConnectError('ERR_CONNECT_LEAF_EXPIRED',
        `${this.#what}: leaf ${identity.serial} (${identity.spiffeId}) expired at ${identity.validBefore.toISOString()} and no fresh one has arrived`,
        cause === undefined ? undefined : { cause }))
    }
    // Checked on a later tick even when already expired, so listeners attached after publish() hear it.
    this.#expiryTimer = setTimeout(check, Math.min(Math.max(0, identity.expiresIn()), MAX_TIMER_MS))
    this.#expiryTimer.unref()
  }

  #closedError (): ConnectError {
    return new ConnectError('ERR_CONNECT_CLOSED', `${this.#what}: source closed before credentials were loaded`)
  }
}

function guarded (call: () => void): void {
  try {
    call()
  } catch (err) {
    // A listener's bug must not stop other listeners or the source; surface it as an uncaught error.
    process.nextTick(() => { throw err })
  }
}
