/**
 * The CLI's connection to the agent: an {@link AgentClient} built from the CONSUL_* environment with the
 * `--http-addr`, `--token-file`, `--token` and `--timeout` flags over it, plus what the fix texts need to
 * know about where the settings came from (never the token itself).
 *
 * `--token` is accepted because every Consul tool accepts it, with a warning: a token on the command line
 * lands in shell history and in the process list. `--token` and `--token-file` together are a usage error.
 */
import { AgentClient } from '../agent/client.js'
import { DEFAULT_AGENT_ADDRESS } from '../agent/address.js'
import type { Environment } from '../agent/env.js'
import type { AgentClientOptions } from '../agent/options.js'
import { ConnectError, InvalidOptionError } from '../errors.js'
import { parseDuration, stringOption, UsageError } from './args.js'
import type { ParsedValues } from './args.js'
import type { Output } from './output.js'

/** Where the token came from: a flag, a variable, or nowhere. */
export type TokenSource = '--token' | '--token-file' | 'CONSUL_HTTP_TOKEN' | 'CONSUL_HTTP_TOKEN_FILE' | 'none'

export interface AgentConnection {
  readonly client: AgentClient
  /** `http://127.0.0.1:8500`, as shown in messages. */
  readonly address: string
  /** How to change the address, for fix texts: `CONSUL_HTTP_ADDR=127.0.0.1:8500`, `--http-addr=…`. */
  readonly addressSetting: string
  /** What set the address. */
  readonly addressSource: '--http-addr' | 'CONSUL_HTTP_ADDR' | 'default'
  readonly tokenSource: TokenSource
  readonly timeoutMs: number
}

const DEFAULT_TIMEOUT_MS = 10_000
const FLAG_OF_FIELD: Readonly<Record<string, string>> = {
  'agent.address': '--http-addr',
  'agent.token': '--token',
  'agent.tokenFile': '--token-file'
}

/**
 * Builds the client. Throws {@link UsageError} when a flag or a CONSUL_* variable is malformed (naming it);
 * nothing is contacted yet.
 */
export function connectAgent (values: ParsedValues, env: Environment, out: Output, command: string): AgentConnection {
  const address = stringOption(values, 'http-addr', command)
  const token = stringOption(values, 'token', command)
  const tokenFile = stringOption(values, 'token-file', command)
  const timeoutText = stringOption(values, 'timeout', command)
  if (token !== undefined && tokenFile !== undefined) throw new UsageError('give --token or --token-file, not both', command)
  if (token !== undefined) {
    out.warn('--token puts the token in your shell history and the process list; prefer CONSUL_HTTP_TOKEN or --token-file')
  }
  const timeoutMs = timeoutText === undefined ? DEFAULT_TIMEOUT_MS : parseDuration(timeoutText, 'timeout', command)
  // A plain copy: the client's option schema refuses `process.env` itself (zod's record check wants a plain
  // object), and the CLI reads the environment once anyway.
  const options: { -readonly [K in keyof AgentClientOptions]: AgentClientOptions[K] } = { env: { ...env }, timeoutMs }
  if (address !== undefined) options.address = address
  if (token !== undefined) options.token = token
  if (tokenFile !== undefined) options.tokenFile = tokenFile

  let client: AgentClient
  try {
    client = new AgentClient(options)
  } catch (err) {
    if (err instanceof InvalidOptionError) {
      const setting = FLAG_OF_FIELD[err.field] ?? err.field
      const detail = err.message.replace(`invalid option "${err.field}": `, '')
      throw new UsageError(`invalid ${setting}: ${detail}`, command)
    }
    throw err
  }
  const fromEnv = (name: string): string | undefined => env[name] === undefined || env[name] === '' ? undefined : env[name]
  const addressSetting = address !== undefined
    ? `--http-addr=${address}`
    : `CONSUL_HTTP_ADDR=${fromEnv('CONSUL_HTTP_ADDR') ?? `${DEFAULT_AGENT_ADDRESS} (unset: the default)`}`
  const tokenSource: TokenSource = token !== undefined
    ? '--token'
    : tokenFile !== undefined
      ? '--token-file'
      : fromEnv('CONSUL_HTTP_TOKEN') !== undefined
        ? 'CONSUL_HTTP_TOKEN'
        : fromEnv('CONSUL_HTTP_TOKEN_FILE') !== undefined ? 'CONSUL_HTTP_TOKEN_FILE' : 'none'
  const addressSource = address !== undefined ? '--http-addr' : fromEnv('CONSUL_HTTP_ADDR') !== undefined ? 'CONSUL_HTTP_ADDR' : 'default'
  return { client, address: client.address, addressSetting, addressSource, tokenSource, timeoutMs }
}

/** An error for JSON output: its stable code (or `ERR_UNEXPECTED` for a bug), its message and the fix. */
export function errorJson (err: unknown, fix: string): { code: string, message: string, fix: string } {
  return {
    code: err instanceof ConnectError ? err.code : 'ERR_UNEXPECTED',
    message: err instanceof Error ? err.message : String(err),
    fix
  }
}
