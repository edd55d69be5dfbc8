/**
 * The undici connection pool to one agent: plain TCP, TLS, or a unix socket. Owned by one AgentClient;
 * never installed as undici's global dispatcher.
 */
import { Agent } from 'undici'
import { loadTlsMaterial } from './credentials.js'
import type { ResolvedAgentOptions } from './options.js'

/**
 * Builds the pool for `options`, reading TLS files first (AgentError ERR_CONNECT_AGENT_CONFIG when one is
 * unusable). Connections are kept alive for `keepAliveTimeoutMs` so that a blocking-query loop reuses
 * one socket. undici's own header and body timeouts are switched off per request by the client, which
 * owns the deadline (a blocking query may legitimately wait 10 minutes and more).
 */
export async function createAgentDispatcher (options: ResolvedAgentOptions): Promise<Agent> {
  const { address, tls } = options
  const connect: Record<string, unknown> = {}
  if (address.kind === 'unix') connect['socketPath'] = address.socketPath
  if (address.secure) {
    const material = await loadTlsMaterial(tls)
    if (material.ca !== undefined) connect['ca'] = [...material.ca]
    if (material.cert !== undefined) connect['cert'] = material.cert
    if (material.key !== undefined) connect['key'] = material.key
    if (tls.serverName !== undefined) connect['servername'] = tls.serverName
    connect['rejectUnauthorized'] = tls.verify
  }
  return new Agent({
    keepAliveTimeout: options.keepAliveTimeoutMs,
    connect
  })
}
