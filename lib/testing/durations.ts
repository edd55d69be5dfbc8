/**
 * Durations as Consul's HTTP API reads them: Go's `time.ParseDuration` (`10s`, `5m`, `300ms`, `1h30m`,
 * `1.5s`, `.5h`, `0`), and the blocking-query wait rules built on it.
 *
 * Grammar (Go's): an optional sign, then either the bare `0` or one or more `<decimal><unit>` terms, where
 * a decimal is digits with an optional fraction (`1`, `1.5`, `.5`, `1.`) and a unit is one of `ns`, `us`,
 * `µs` (U+00B5), `μs` (U+03BC), `ms`, `s`, `m`, `h`. No spaces, no exponent, a unit on every term.
 */

const UNIT_MS: Readonly<Record<string, number>> = Object.freeze({
  ns: 1e-6,
  us: 1e-3,
  'µs': 1e-3,
  'μs': 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000
})

// One term: digits with an optional fraction (at least one digit overall), then a unit.
const TERM = /^(\d+\.?\d*|\.\d+)(ns|us|µs|μs|ms|s|m|h)/u

/** The agent's default blocking wait when `wait` is absent or not positive: 5 minutes. */
export const DEFAULT_WAIT_MS = 5 * 60_000

/** The agent's cap on a blocking wait: 10 minutes. */
export const MAX_WAIT_MS = 10 * 60_000

/**
 * Parses a Go duration into milliseconds (fractional for sub-millisecond values, negative when signed so).
 * Returns `undefined` when `text` is not a Go duration (the agent then answers 400 `Invalid wait time`).
 */
export function parseGoDuration (text: string): number | undefined {
  let rest = text
  let sign = 1
  if (rest.startsWith('-') || rest.startsWith('+')) {
    sign = rest.startsWith('-') ? -1 : 1
    rest = rest.slice(1)
  }
  // Go accepts a bare zero (with or without sign) and nothing else without a unit.
  if (rest === '0') return 0
  if (rest === '') return undefined
  let total = 0
  while (rest !== '') {
    const term = TERM.exec(rest)
    if (term === null) return undefined
    total += Number(term[1]) * UNIT_MS[term[2]!]!
    rest = rest.slice(term[0].length)
  }
  return sign * total
}

/**
 * The wait a blocking query gets, as the agent computes it from the `wait` parameter: absent, zero or
 * negative means {@link DEFAULT_WAIT_MS}; longer than {@link MAX_WAIT_MS} is capped. `undefined` when the
 * parameter is present but unparsable. Unlike the agent, no random jitter (up to wait/16) is added: test
 * runs stay deterministic.
 */
export function blockingWaitMs (wait: string | null): number | undefined {
  if (wait === null || wait === '') return DEFAULT_WAIT_MS
  const ms = parseGoDuration(wait)
  if (ms === undefined) return undefined
  if (ms <= 0) return DEFAULT_WAIT_MS
  return Math.min(ms, MAX_WAIT_MS)
}
