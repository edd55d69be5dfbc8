/**
 * Connection counters of a guarded server, for metrics: monotonic, never reset, cheap to read.
 */
import type { ErrorCode } from '../errors.js'
import type { TlsErrorReason } from './handshake-error.js'

/** A point-in-time copy of the counters. */
export interface TlsCountersSnapshot {
  /** Connections that passed every check. */
  readonly accepted: number
  /** Connections refused, all codes together. */
  readonly refused: number
  /** Connections refused, by code. Codes never seen are absent. */
  readonly refusedByCode: Readonly<Partial<Record<ErrorCode, number>>>
  /** Handshakes that failed before there was a peer (plain bytes, timeouts, resets...). */
  readonly tlsErrors: number
  /** Failed handshakes by reason. Reasons never seen are absent. */
  readonly tlsErrorsByReason: Readonly<Partial<Record<TlsErrorReason, number>>>
}

export class TlsCounters {
  #accepted = 0
  #refused = 0
  #tlsErrors = 0
  readonly #refusedByCode = new Map<ErrorCode, number>()
  readonly #tlsErrorsByReason = new Map<TlsErrorReason, number>()

  get accepted (): number { return this.#accepted }
  get refused (): number { return this.#refused }
  get tlsErrors (): number { return this.#tlsErrors }

  /** Refusals with `code` so far. */
  refusedWith (code: ErrorCode): number {
    return this.#refusedByCode.get(code) ?? 0
  }

  /** Failed handshakes for `reason` so far. */
  tlsErrorsFor (reason: TlsErrorReason): number {
    return this.#tlsErrorsByReason.get(reason) ?? 0
  }

  snapshot (): TlsCountersSnapshot {
    return Object.freeze({
      accepted: this.#accepted,
      refused: this.#refused,
      refusedByCode: Object.freeze(Object.fromEntries(this.#refusedByCode)),
      tlsErrors: this.#tlsErrors,
      tlsErrorsByReason: Object.freeze(Object.fromEntries(this.#tlsErrorsByReason))
    })
  }

  /** @internal */
  countAccepted (): void {
    this.#accepted++
  }

  /** @internal */
  countRefused (code: ErrorCode): void {
    this.#refused++
    this.#refusedByCode.set(code, (this.#refusedByCode.get(code) ?? 0) + 1)
  }

  /** @internal */
  countTlsError (reason: TlsErrorReason): void {
    this.#tlsErrors++
    this.#tlsErrorsByReason.set(reason, (this.#tlsErrorsByReason.get(reason) ?? 0) + 1)
  }
}
