/**
 * A string that must not leak: a token or an inline private key. It prints as `[redacted]` in
 * `inspect`, `String()`, template literals and JSON; only {@link Secret.reveal} returns the value.
 */
import { inspect } from 'node:util'

export class Secret {
  readonly #value: string

  constructor (value: string) {
    this.#value = value
    Object.freeze(this)
  }

  /** The value itself, for the one place that sends or uses it. */
  reveal (): string {
    return this.#value
  }

  toString (): string { return '[redacted]' }
  toJSON (): string { return '[redacted]' }
  [inspect.custom] (): string { return '[redacted]' }
}
