/**
 * Where the CLI writes, and the small formatters its human output shares.
 *
 * Results go to stdout (a human report, or one JSON document with `--json`); warnings and usage errors go to
 * stderr, so `--json` output can always be piped to a JSON reader. Nothing written here ever contains the
 * token: the agent client keeps it in a header and redacts it from errors, and the CLI never prints settings
 * values other than addresses and file paths.
 */

/** Anything with a `write(string)`: `process.stdout`, a test's collector. */
export interface Writable {
  write (chunk: string): unknown
}

export class Output {
  readonly #stdout: Writable
  readonly #stderr: Writable

  constructor (stdout: Writable, stderr: Writable) {
    this.#stdout = stdout
    this.#stderr = stderr
  }

  /** One line of the human report. */
  line (text = ''): void {
    this.#stdout.write(`${text}\n`)
  }

  /** The one JSON document of a `--json` run: two-space indented, newline-terminated. */
  json (value: unknown): void {
    this.#stdout.write(`${JSON.stringify(value, null, 2)}\n`)
  }

  /** A warning on stderr (`warning: ...`); never changes the exit code. */
  warn (text: string): void {
    this.#stderr.write(`consul-connect-native: warning: ${text}\n`)
  }

  /** An error on stderr (`error: ...`). */
  error (text: string): void {
    this.#stderr.write(`consul-connect-native: error: ${text}\n`)
  }

  /** Raw text on stderr (usage after a usage error). */
  stderr (text: string): void {
    this.#stderr.write(text.endsWith('\n') ? text : `${text}\n`)
  }
}

const UNITS: ReadonlyArray<[string, number]> = [['d', 86_400_000], ['h', 3_600_000], ['m', 60_000], ['s', 1000]]

/**
 * A duration for people, two most significant units: `2d 23h`, `59m 10s`, `12s`, `0s`; `< 1s` below a
 * second. Negative durations are formatted by their magnitude (callers say "ago").
 */
export function formatDuration (ms: number): string {
  let rest = Math.abs(ms)
  if (rest < 1000) return rest === 0 ? '0s' : '< 1s'
  const parts: string[] = []
  for (const [unit, size] of UNITS) {
    const n = Math.floor(rest / size)
    rest -= n * size
    if (n > 0 || parts.length > 0) parts.push(`${n}${unit}`)
    if (parts.length === 2) break
  }
  // `1h 0m` reads worse than `1h`.
  return parts.filter((part, k) => k === 0 || !/^0[a-z]$/.test(part)).join(' ')
}

/** `in 2d 23h`, or `expired 5m ago`. */
export function formatTimeLeft (ms: number): string {
  return ms >= 0 ? `in ${formatDuration(ms)}` : `expired ${formatDuration(ms)} ago`
}

/** `1 intention`, `2 intentions`. */
export function plural (n: number, word: string, many = `${word}s`): string {
  return `${n} ${n === 1 ? word : many}`
}

/** Rows of `label  value`, labels padded to the longest. */
export function table (rows: ReadonlyArray<readonly [string, string]>, indent = ''): string[] {
  const width = Math.max(0, ...rows.map(([label]) => label.length))
  return rows.map(([label, value]) => `${indent}${label.padEnd(width)}  ${value}`)
}
