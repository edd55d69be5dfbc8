/**
 * Command-line parsing: each command declares its options once (`CommandSpec`), and that declaration drives
 * both `node:util` parseArgs (strict: an unknown option, a missing value or a stray argument is a usage
 * error) and the help text. Every usage problem is a {@link UsageError}, which the CLI reports with the
 * command's usage and exit code 2.
 */
import { parseArgs } from 'node:util'

/** One option of a command. */
export interface OptionSpec {
  readonly name: string
  readonly type: 'string' | 'boolean'
  /** May be given several times (values are collected in order). */
  readonly multiple?: boolean
  readonly short?: string
  /** Placeholder of the value in help: `<name>`. */
  readonly value?: string
  readonly description: string
}

/** A command's interface: what help prints and what the parser accepts. */
export interface CommandSpec {
  readonly name: string
  /** One line, for the command list. */
  readonly summary: string
  /** The synopsis after the program name: `doctor --service <name> [options]`. */
  readonly usage: string
  /** Paragraph lines printed under the synopsis. */
  readonly description: readonly string[]
  readonly options: readonly OptionSpec[]
  /** The exit codes of this command, `[code, meaning]`. */
  readonly exitCodes: ReadonlyArray<readonly [number, string]>
  readonly examples: readonly string[]
}

/** A mistake in the command line. `command` names the command whose usage applies, if known. */
export class UsageError extends Error {
  readonly command: string | undefined
  constructor (message: string, command?: string) {
    super(message)
    this.name = 'UsageError'
    this.command = command
  }
}

/** Options every agent-facing command accepts. */
export const AGENT_OPTIONS: readonly OptionSpec[] = [
  { name: 'http-addr', type: 'string', value: '<address>', description: 'agent address: host:port, http(s)://host:port or unix:///path (overrides CONSUL_HTTP_ADDR; default 127.0.0.1:8500)' },
  { name: 'token-file', type: 'string', value: '<path>', description: 'file holding the ACL token (overrides CONSUL_HTTP_TOKEN and CONSUL_HTTP_TOKEN_FILE)' },
  { name: 'token', type: 'string', value: '<token>', description: 'the ACL token itself; discouraged: it lands in shell history and the process list (prefer CONSUL_HTTP_TOKEN or --token-file)' },
  { name: 'timeout', type: 'string', value: '<duration>', description: 'deadline of each request to the agent: 500ms, 10s, 1m (default 10s)' },
  { name: 'json', type: 'boolean', description: 'print one JSON document (stable keys) instead of the human report' },
  { name: 'help', type: 'boolean', short: 'h', description: 'show this help' }
]

export type ParsedValues = Readonly<Record<string, string | boolean | ReadonlyArray<string | boolean> | undefined>>

/** Parses `argv` (the arguments after the command name) against `spec`. Throws {@link UsageError}. */
export function parseCommandArgs (spec: CommandSpec, argv: readonly string[]): ParsedValues {
  const options: Record<string, { type: 'string' | 'boolean', multiple?: boolean, short?: string }> = {}
  for (const o of spec.options) {
    options[o.name] = { type: o.type, ...(o.multiple === true ? { multiple: true } : {}), ...(o.short === undefined ? {} : { short: o.short }) }
  }
  try {
    const { values } = parseArgs({ args: [...argv], options, strict: true, allowPositionals: false })
    return values
  } catch (err) {
    throw new UsageError(describeParseError(err), spec.name)
  }
}

/** A string option's value: undefined when absent; a usage error when given empty. */
export function stringOption (values: ParsedValues, name: string, command: string): string | undefined {
  const value = values[name]
  if (value === undefined) return undefined
  if (typeof value !== 'string') throw new UsageError(`--${name} takes a value`, command)
  if (value.trim() === '') throw new UsageError(`--${name} needs a non-empty value`, command)
  return value
}

/** A required string option. */
export function requiredOption (values: ParsedValues, name: string, command: string): string {
  const value = stringOption(values, name, command)
  if (value === undefined) throw new UsageError(`--${name} is required`, command)
  return value
}

/** Every value of a repeatable string option, in order. */
export function listOption (values: ParsedValues, name: string): readonly string[] {
  const value = values[name]
  if (value === undefined) return []
  return (Array.isArray(value) ? value : [value]).filter((v): v is string => typeof v === 'string')
}

export function flag (values: ParsedValues, name: string): boolean {
  return values[name] === true
}

const DURATION = /^(\d+(?:\.\d+)?)(ms|s|m)$/
const UNIT_MS: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000 }

/** A Go-style duration with one unit (`500ms`, `10s`, `1.5m`) in whole milliseconds, at least 1 ms. */
export function parseDuration (text: string, option: string, command: string): number {
  const match = DURATION.exec(text.trim())
  const ms = match === null ? NaN : Math.round(Number(match[1]) * UNIT_MS[match[2]!]!)
  if (!Number.isSafeInteger(ms) || ms < 1) {
    throw new UsageError(`--${option} expects a duration such as 500ms, 10s or 1m, got ${JSON.stringify(text)}`, command)
  }
  return ms
}

function describeParseError (err: unknown): string {
  const message = err instanceof Error ? err.message : String(err)
  // parseArgs explains itself well, but appends advice about "--" that does not apply here.
  return message
    .replace(/\.? ?To specify a positional argument starting with a '-', place it at the end of the command after '--', as in '-- ".*"'\.?/, '')
    .replace(/\s*\n\s*/g, ' ')
    .trim()
}
