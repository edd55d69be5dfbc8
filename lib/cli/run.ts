/**
 * The CLI as a function: `run(argv, io)` parses `argv` (the arguments after the program name), runs one
 * command and resolves to the exit code, writing only to `io.stdout` / `io.stderr` and reading settings only
 * from `io.env`. It never calls `process.exit` and never rejects: a usage error is exit 2 with the command's
 * usage on stderr; an unexpected failure is exit 1 with its message. main.ts is the executable around it;
 * tests call it in-process.
 */
import { readFileSync } from 'node:fs'
import type { Environment } from '../agent/env.js'
import { UsageError } from './args.js'
import type { CommandSpec } from './args.js'
import { authz, authzSpec } from './authz.js'
import { EXIT_OK, EXIT_PROBLEM, EXIT_USAGE } from './command.js'
import type { Command, CommandContext } from './command.js'
import { doctor, doctorSpec } from './doctor.js'
import { commandHelp, PROGRAM, programHelp } from './help.js'
import { identity, identitySpec } from './identity.js'
import { Output } from './output.js'
import type { Writable } from './output.js'

export interface RunIo {
  /** Where CONSUL_* settings are read from. Default `process.env`. */
  readonly env?: Environment
  /** Default `process.stdout`. */
  readonly stdout?: Writable
  /** Default `process.stderr`. */
  readonly stderr?: Writable
  /** The clock (time left of certificates). Default `() => new Date()`. */
  readonly now?: () => Date
}

/** Every command, in help order. */
export const COMMANDS: readonly Command[] = [
  { spec: doctorSpec, run: doctor },
  { spec: authzSpec, run: authz },
  { spec: identitySpec, run: identity }
]

/** Runs the CLI; resolves to the exit code (0 ok, 1 problem / denied, 2 usage error). */
export async function run (argv: readonly string[], io: RunIo = {}): Promise<number> {
  const out = new Output(io.stdout ?? process.stdout, io.stderr ?? process.stderr)
  const specs = COMMANDS.map((c) => c.spec)
  const [first, ...rest] = argv
  try {
    if (first === undefined) {
      out.stderr(programHelp(specs))
      return EXIT_USAGE
    }
    if (first === '--help' || first === '-h') return printHelp(out, programHelp(specs))
    if (first === '--version') {
      if (rest.length > 0) throw new UsageError('--version takes no arguments')
      out.line(`${PROGRAM} ${version()}`)
      return EXIT_OK
    }
    if (first === 'help') {
      if (rest.length === 0) return printHelp(out, programHelp(specs))
      if (rest.length > 1) throw new UsageError('help takes one command name')
      return printHelp(out, commandHelp(find(rest[0]!).spec))
    }
    if (first.startsWith('-')) throw new UsageError(`expected a command before ${JSON.stringify(first)} (options follow the command)`)
    const command = find(first)
    const ctx: CommandContext = {
      argv: rest,
      env: io.env ?? process.env,
      out,
      now: io.now ?? (() => new Date()),
      help: (spec: CommandSpec) => printHelp(out, commandHelp(spec))
    }
    return await command.run(ctx)
  } catch (err) {
    if (err instanceof UsageError) {
      out.error(err.message)
      const spec = err.command === undefined ? undefined : specs.find((s) => s.name === err.command)
      out.stderr(spec === undefined ? `Run \`${PROGRAM} --help\` for usage.` : `Usage: ${PROGRAM} ${spec.usage}\nRun \`${PROGRAM} help ${spec.name}\` for every option.`)
      return EXIT_USAGE
    }
    out.error(`unexpected failure: ${err instanceof Error ? err.stack ?? err.message : String(err)}`)
    return EXIT_PROBLEM
  }
}

function find (name: string): Command {
  const command = COMMANDS.find((c) => c.spec.name === name)
  if (command === undefined) {
    throw new UsageError(`unknown command ${JSON.stringify(name)}; commands: ${COMMANDS.map((c) => c.spec.name).join(', ')}`)
  }
  return command
}

function printHelp (out: Output, text: string): number {
  out.line(text.trimEnd())
  return EXIT_OK
}

let cachedVersion: string | undefined

/** The package's version, from package.json (two levels up from lib/cli/ and from dist/cli/ alike). */
export function version (): string {
  cachedVersion ??= (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version
  return cachedVersion
}
