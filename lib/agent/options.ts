/**
 * Options of the agent client, their validation and their merge with the environment.
 *
 * Precedence: explicit options, then the CONSUL_* environment ({@link agentOptionsFromEnv}), then
 * defaults. Related settings override as a group, so two sources never mix into one credential:
 * - token: `token` / `tokenFile` (inline wins over file within one source; `token: ''` means "no token"
 *   and also silences the environment);
 * - trusted CAs: `tls.ca` / `tls.caFile` / `tls.caPath` (every CA given by the winning source is trusted);
 * - client certificate: `tls.cert` / `tls.certFile` with `tls.key` / `tls.keyFile`.
 * Every other setting overrides field by field.
 *
 * Shape errors throw InvalidOptionError naming the field (`agent.address`); files are read later, at
 * first use, and their failures are AgentErrors with code ERR_CONNECT_AGENT_CONFIG.
 */
import { z } from 'zod'
import { InvalidOptionError } from '../errors.js'
import { DEFAULT_AGENT_ADDRESS, parseAgentAddress } from './address.js'
import type { AgentAddress } from './address.js'
import { agentOptionsFromEnv } from './env.js'
import type { Environment } from './env.js'
import { Secret } from './secret.js'
import { parseOptions } from './validate.js'

/** TLS to the agent's HTTPS port. Ignored unless the address is https (or `enabled` makes it so). */
export interface AgentTlsOptions {
  /** Use https for `host:port` and `http://` addresses (`CONSUL_HTTP_SSL`). Default false. */
  readonly enabled?: boolean
  /** Trusted CA certificates as PEM text (one or more blocks). */
  readonly ca?: string
  /** File of trusted CA certificates, PEM (`CONSUL_CACERT`). */
  readonly caFile?: string
  /** Directory whose files hold trusted CA certificates, PEM (`CONSUL_CAPATH`). */
  readonly caPath?: string
  /** Client certificate (chain) as PEM text, for agents with `verify_incoming`. */
  readonly cert?: string
  /** File of the client certificate (`CONSUL_CLIENT_CERT`). */
  readonly certFile?: string
  /** Client private key as PEM text. */
  readonly key?: string
  /** File of the client private key (`CONSUL_CLIENT_KEY`). */
  readonly keyFile?: string
  /** Name to send as SNI and to verify the agent's certificate against (`CONSUL_TLS_SERVER_NAME`). */
  readonly serverName?: string
  /** Verify the agent's certificate (`CONSUL_HTTP_SSL_VERIFY`). Default true. */
  readonly verify?: boolean
}

export interface AgentClientOptions {
  /** Agent address (see address.ts for the forms). Default `127.0.0.1:8500` (`CONSUL_HTTP_ADDR`). */
  readonly address?: string
  /** ACL token, sent only as the `X-Consul-Token` header (`CONSUL_HTTP_TOKEN`). */
  readonly token?: string
  /** File holding the ACL token; read once at first use and trimmed (`CONSUL_HTTP_TOKEN_FILE`). */
  readonly tokenFile?: string
  /** Datacenter (`dc` query parameter), sent only when set. */
  readonly datacenter?: string
  /** Namespace (`ns`), sent only when set: Community Edition answers 400 to any `ns` (`CONSUL_NAMESPACE`). */
  readonly namespace?: string
  /** Admin partition (`partition`), sent only when set (`CONSUL_PARTITION`). */
  readonly partition?: string
  readonly tls?: AgentTlsOptions
  /** Timeout of a non-blocking request, and the margin added to a blocking one's wait. Default 10 000 ms. */
  readonly timeoutMs?: number
  /** How long an idle pooled connection to the agent is kept. Default 10 000 ms. */
  readonly keepAliveTimeoutMs?: number
  /** Environment to read CONSUL_* from; `false` reads none. Default `process.env`. */
  readonly env?: Environment | false
}

/**
 * Where a PEM (or the token) comes from; `label` names the option or variable, for error messages.
 * Inline values are {@link Secret}s: a token or a private key must not show in logs of these options.
 */
export type MaterialSource =
  | { readonly kind: 'inline', readonly text: Secret, readonly label: string }
  | { readonly kind: 'file', readonly path: string, readonly label: string }
  | { readonly kind: 'dir', readonly path: string, readonly label: string }

export interface ResolvedTls {
  readonly ca: readonly MaterialSource[]
  readonly cert: MaterialSource | undefined
  readonly key: MaterialSource | undefined
  readonly serverName: string | undefined
  readonly verify: boolean
}

/** Validated settings, frozen. Inline secrets print as `[redacted]`. */
export interface ResolvedAgentOptions {
  readonly address: AgentAddress
  readonly datacenter: string | undefined
  readonly namespace: string | undefined
  readonly partition: string | undefined
  readonly tls: ResolvedTls
  readonly timeoutMs: number
  readonly keepAliveTimeoutMs: number
  readonly token: MaterialSource | undefined
}

export const DEFAULT_TIMEOUT_MS = 10_000
export const DEFAULT_KEEP_ALIVE_TIMEOUT_MS = 10_000

const text = z.string().min(1, 'must not be empty')
// Printable ASCII without spaces: anything else could split the header. The message never quotes it.
const token = z.string().regex(/^[\x21-\x7e]*$/, 'must be printable ASCII without spaces or line breaks')

const tlsSchema = z.object({
  enabled: z.boolean().optional(),
  ca: text.optional(),
  caFile: text.optional(),
  caPath: text.optional(),
  cert: text.optional(),
  certFile: text.optional(),
  key: text.optional(),
  keyFile: text.optional(),
  serverName: text.optional(),
  verify: z.boolean().optional()
}).strict()

const optionsSchema = z.object({
  address: text.optional(),
  token: token.optional(),
  tokenFile: text.optional(),
  datacenter: text.optional(),
  namespace: text.optional(),
  partition: text.optional(),
  tls: tlsSchema.optional(),
  timeoutMs: z.number().int().positive().optional(),
  keepAliveTimeoutMs: z.number().int().positive().optional(),
  // Not z.record: zod 4 accepts plain objects only, and process.env is not one. Variables are read by name.
  env: z.union([z.literal(false), z.custom<Environment>((v) => typeof v === 'object' && v !== null && !Array.isArray(v), 'expected an object of environment variables or false')]).optional()
}).strict()

/**
 * Validates `options`, merges the environment under them and applies defaults. Throws
 * InvalidOptionError naming the field (`agent.tls.key`) or the environment variable.
 */
export function resolveAgentOptions (options: AgentClientOptions = {}, prefix = 'agent'): ResolvedAgentOptions {
  const explicit = parseOptions(optionsSchema, options, prefix)
  const env = explicit.env === false ? {} : agentOptionsFromEnv(explicit.env ?? process.env)
  const label = (name: string): string => `${prefix}.${name}`

  const tokenSource = explicit.token !== undefined || explicit.tokenFile !== undefined
    ? pick(explicit.token, explicit.tokenFile, label('token'), label('tokenFile'))
    : pick(env.token, env.tokenFile, 'CONSUL_HTTP_TOKEN', 'CONSUL_HTTP_TOKEN_FILE')

  const e = explicit.tls ?? {}
  const v = env.tls ?? {}
  const ca = e.ca !== undefined || e.caFile !== undefined || e.caPath !== undefined
    ? caSources(e, { ca: label('tls.ca'), caFile: label('tls.caFile'), caPath: label('tls.caPath') })
    : caSources(v, { ca: 'CONSUL_CACERT', caFile: 'CONSUL_CACERT', caPath: 'CONSUL_CAPATH' })
  const explicitCert = e.cert !== undefined || e.certFile !== undefined || e.key !== undefined || e.keyFile !== undefined
  const cert = explicitCert ? pick(e.cert, e.certFile, label('tls.cert'), label('tls.certFile')) : pick(undefined, v.certFile, '', 'CONSUL_CLIENT_CERT')
  const key = explicitCert ? pick(e.key, e.keyFile, label('tls.key'), label('tls.keyFile')) : pick(undefined, v.keyFile, '', 'CONSUL_CLIENT_KEY')
  if ((cert === undefined) !== (key === undefined)) {
    const missing = cert === undefined ? (explicitCert ? label('tls.cert') : 'CONSUL_CLIENT_CERT') : (explicitCert ? label('tls.key') : 'CONSUL_CLIENT_KEY')
    throw new InvalidOptionError(missing, 'a client certificate and its key must be given together')
  }

  const tlsEnabled = e.enabled ?? v.enabled ?? false
  const addressText = explicit.address ?? env.address ?? DEFAULT_AGENT_ADDRESS
  let address: AgentAddress
  try {
    address = parseAgentAddress(addressText, tlsEnabled)
  } catch (err) {
    throw new InvalidOptionError(explicit.address !== undefined ? label('address') : 'CONSUL_HTTP_ADDR', (err as Error).message, { cause: err })
  }

  return Object.freeze({
    address,
    datacenter: explicit.datacenter,
    namespace: explicit.namespace ?? env.namespace,
    partition: explicit.partition ?? env.partition,
    tls: Object.freeze({
      ca: Object.freeze(ca),
      cert,
      key,
      serverName: e.serverName ?? v.serverName,
      verify: e.verify ?? v.verify ?? true
    }),
    timeoutMs: explicit.timeoutMs ?? DEFAULT_TIMEOUT_MS,
    keepAliveTimeoutMs: explicit.keepAliveTimeoutMs ?? DEFAULT_KEEP_ALIVE_TIMEOUT_MS,
    token: tokenSource
  })
}

/** Inline beats file. An empty inline value (only `token: ''`) means "none". */
function pick (inline: string | undefined, file: string | undefined, inlineLabel: string, fileLabel: string): MaterialSource | undefined {
  if (inline !== undefined) return inline === '' ? undefined : Object.freeze({ kind: 'inline', text: new Secret(inline), label: inlineLabel })
  if (file !== undefined) return Object.freeze({ kind: 'file', path: file, label: fileLabel })
  return undefined
}

function caSources (tls: { readonly ca?: string | undefined, readonly caFile?: string | undefined, readonly caPath?: string | undefined }, labels: { ca: string, caFile: string, caPath: string }): MaterialSource[] {
  const out: MaterialSource[] = []
  if (tls.ca !== undefined) out.push(Object.freeze({ kind: 'inline', text: new Secret(tls.ca), label: labels.ca }))
  if (tls.caFile !== undefined) out.push(Object.freeze({ kind: 'file', path: tls.caFile, label: labels.caFile }))
  if (tls.caPath !== undefined) out.push(Object.freeze({ kind: 'dir', path: tls.caPath, label: labels.caPath }))
  return out
}
