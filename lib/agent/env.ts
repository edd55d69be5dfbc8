/**
 * Agent options from the Consul ecosystem's environment variables, as the `consul` CLI and the Go API
 * client read them. Explicit options override these (see {@link resolveAgentOptions}).
 *
 * | variable | option |
 * |---|---|
 * | `CONSUL_HTTP_ADDR` | `address` (`host:port`, `http(s)://host:port`, `unix:///path`) |
 * | `CONSUL_HTTP_TOKEN` | `token` |
 * | `CONSUL_HTTP_TOKEN_FILE` | `tokenFile` (used only when `CONSUL_HTTP_TOKEN` is unset) |
 * | `CONSUL_HTTP_SSL` | `tls.enabled` (boolean) |
 * | `CONSUL_HTTP_SSL_VERIFY` | `tls.verify` (boolean) |
 * | `CONSUL_CACERT` | `tls.caFile` |
 * | `CONSUL_CAPATH` | `tls.caPath` |
 * | `CONSUL_CLIENT_CERT` | `tls.certFile` |
 * | `CONSUL_CLIENT_KEY` | `tls.keyFile` |
 * | `CONSUL_TLS_SERVER_NAME` | `tls.serverName` |
 * | `CONSUL_NAMESPACE` | `namespace` |
 * | `CONSUL_PARTITION` | `partition` |
 *
 * An empty variable counts as unset, as in Go's client.
 */
import { InvalidOptionError } from '../errors.js'
import { parseAgentAddress } from './address.js'
import type { AgentClientOptions, AgentTlsOptions } from './options.js'

/** An environment: `process.env` or any plain map of strings. */
export type Environment = Readonly<Record<string, string | undefined>>

/**
 * Reads the CONSUL_* variables of `env` into agent options. Only variables that are set appear in the
 * result. Throws InvalidOptionError naming the variable (`CONSUL_HTTP_SSL`) when one is malformed; the
 * token's value never appears in an error.
 */
export function agentOptionsFromEnv (env: Environment = process.env): AgentClientOptions {
  const get = (name: string): string | undefined => {
    const value = env[name]
    return value === undefined || value === '' ? undefined : value
  }
  const options: { -readonly [K in keyof AgentClientOptions]: AgentClientOptions[K] } = {}
  const tls: { -readonly [K in keyof AgentTlsOptions]: AgentTlsOptions[K] } = {}

  const address = get('CONSUL_HTTP_ADDR')
  if (address !== undefined) {
    try {
      parseAgentAddress(address)
    } catch (err) {
      throw new InvalidOptionError('CONSUL_HTTP_ADDR', (err as Error).message, { cause: err })
    }
    options.address = address.trim()
  }

  const token = get('CONSUL_HTTP_TOKEN')
  const tokenFile = get('CONSUL_HTTP_TOKEN_FILE')
  // The token wins over the token file, as in Go's client.
  if (token !== undefined) options.token = token.trim()
  else if (tokenFile !== undefined) options.tokenFile = tokenFile

  const ssl = parseGoBool(env, 'CONSUL_HTTP_SSL')
  if (ssl !== undefined) tls.enabled = ssl
  const verify = parseGoBool(env, 'CONSUL_HTTP_SSL_VERIFY')
  if (verify !== undefined) tls.verify = verify

  const files: Array<[string, 'caFile' | 'caPath' | 'certFile' | 'keyFile' | 'serverName']> = [
    ['CONSUL_CACERT', 'caFile'],
    ['CONSUL_CAPATH', 'caPath'],
    ['CONSUL_CLIENT_CERT', 'certFile'],
    ['CONSUL_CLIENT_KEY', 'keyFile'],
    ['CONSUL_TLS_SERVER_NAME', 'serverName']
  ]
  for (const [name, key] of files) {
    const value = get(name)
    if (value !== undefined) tls[key] = value
  }
  if (Object.keys(tls).length > 0) options.tls = Object.freeze(tls)

  const namespace = get('CONSUL_NAMESPACE')
  if (namespace !== undefined) options.namespace = namespace
  const partition = get('CONSUL_PARTITION')
  if (partition !== undefined) options.partition = partition

  return Object.freeze(options)
}

// Go's strconv.ParseBool, which the Consul CLI uses for these variables.
const TRUE = new Set(['1', 't', 'T', 'TRUE', 'true', 'True'])
const FALSE = new Set(['0', 'f', 'F', 'FALSE', 'false', 'False'])

function parseGoBool (env: Environment, name: string): boolean | undefined {
  const value = env[name]
  if (value === undefined || value === '') return undefined
  const text = value.trim()
  if (TRUE.has(text)) return true
  if (FALSE.has(text)) return false
  throw new InvalidOptionError(name, `"${value}" is not a boolean (true/false/1/0)`)
}
