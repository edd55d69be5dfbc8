/**
 * What a command receives from the dispatcher, and what it is: a spec (its interface, for the parser and the
 * help) and a function resolving to the exit code.
 */
import type { Environment } from '../agent/env.js'
import type { CommandSpec } from './args.js'
import type { Output } from './output.js'

/** Exit codes shared by every command. */
export const EXIT_OK = 0
/** A problem was found, the request was denied, or the agent could not answer. */
export const EXIT_PROBLEM = 1
export const EXIT_USAGE = 2

export interface CommandContext {
  /** The arguments after the command name. */
  readonly argv: readonly string[]
  /** Where CONSUL_* settings are read from. */
  readonly env: Environment
  readonly out: Output
  /** The clock for time-left computations. */
  readonly now: () => Date
  /** Prints `spec`'s help on stdout; returns the exit code (0). */
  readonly help: (spec: CommandSpec) => number
}

export interface Command {
  readonly spec: CommandSpec
  readonly run: (ctx: CommandContext) => Promise<number>
}
