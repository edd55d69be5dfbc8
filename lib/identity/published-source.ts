/**
 * PublishedSource: what every credentials source does the same way, through a {@link CredentialsPublisher}:
 * the snapshot, its status, listeners, readiness and the last error. A source supplies the publisher (and its own
 * loading and `close()`); the methods here only delegate to it.
 */
import type { ConnectError } from '../errors.js'
import type { CredentialsPublisher, Credentials, CredentialsChange, CredentialsSource, CredentialsStatus } from './source.js'

export abstract class PublishedSource implements CredentialsSource {
  /** The publisher holding this source's snapshots and listeners. */
  protected abstract get publisher (): CredentialsPublisher

  abstract close (): Promise<void>

  get credentials (): Credentials { return this.publisher.credentials }

  /** `loading` until leaf and roots are both loaded, `expired` once the leaf's notAfter has passed, else `ready`. */
  get status (): CredentialsStatus { return this.publisher.status() }

  /** True when a leaf is loaded and its notAfter is at or before `now` (ms since the epoch). */
  leafExpired (now: number = Date.now()): boolean {
    return this.publisher.leafExpired(now)
  }

  /** The latest reported error, until the next change. */
  get lastError (): ConnectError | undefined { return this.publisher.lastError }

  onChange (listener: (next: Credentials, previous: Credentials, change: CredentialsChange) => void): () => void {
    return this.publisher.onChange(listener)
  }

  onError (listener: (error: ConnectError) => void): () => void {
    return this.publisher.onError(listener)
  }

  /**
   * Resolves once leaf and roots are both loaded (at once if they are). Update errors do not reject it: the
   * caller picks the deadline through `signal` (ERR_CONNECT_ABORTED); close() rejects it with ERR_CONNECT_CLOSED.
   */
  ready (options: { signal?: AbortSignal } = {}): Promise<Credentials> {
    return this.publisher.ready(options)
  }
}
