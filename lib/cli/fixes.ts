/**
 * The one-sentence fix the CLI prints under a failure. The error's stable code picks the advice; for a 403
 * the caller says which right the call needed, since only it knows (`the token needs service:write on
 * "web"`). Texts name settings (`CONSUL_HTTP_ADDR=…`, the token's source) and never a token value.
 */
import { ConnectError } from '../errors.js'
import type { AgentConnection, TokenSource } from './agent.js'

/** What a failed call needed, for the 403 advice: `service:write on "web"`. */
export interface FixContext {
  readonly needs?: string
}

/** The fix for a failed agent call. */
export function agentFix (err: unknown, agent: AgentConnection, context: FixContext = {}): string {
  if (!(err instanceof ConnectError)) return 'this is a bug in consul-connect-native: please report it with the message above'
  const message = err.message
  switch (err.code) {
    case 'ERR_CONNECT_AGENT_UNREACHABLE':
      return `is the agent running? check ${agent.addressSetting}`
    case 'ERR_CONNECT_AGENT_TIMEOUT':
      return `the agent at ${agent.address} did not answer within ${agent.timeoutMs} ms: check that it is healthy, or raise --timeout`
    case 'ERR_CONNECT_AGENT_PERMISSION_DENIED':
      if (message.includes('ACL not found')) return unknownTokenFix(agent.tokenSource)
      return `${context.needs === undefined ? 'the token lacks a right this call needs (named above)' : `the token needs ${context.needs}`}${noTokenHint(agent.tokenSource)}`
    case 'ERR_CONNECT_AGENT_CONFIG':
      return 'check the file named above (path and permissions) and the CONSUL_* variable or flag that points at it'
    case 'ERR_CONNECT_AGENT_NOT_FOUND':
      return `check that ${agent.addressSetting} points at a Consul agent, and CONSUL_NAMESPACE / CONSUL_PARTITION if set`
    case 'ERR_CONNECT_AGENT_INVALID_ANSWER':
      return `check that ${agent.addressSetting} points at a Consul agent and not at another service or a proxy rewriting answers`
    case 'ERR_CONNECT_AGENT_HTTP':
      if (message.includes('Connect must be enabled')) return CONNECT_FIX
      if (message.includes('No cluster leader')) return LEADER_FIX
      if (/Namespaces are a Consul Enterprise feature|Partitions are a Consul Enterprise feature/.test(message)) {
        return 'unset CONSUL_NAMESPACE and CONSUL_PARTITION: this agent is Consul Community Edition'
      }
      return 'read the agent\'s reason above, and its log'
    default:
      if (err.code.startsWith('ERR_CONNECT_CERT_')) return 'the agent returned a certificate this library cannot use: report it with the message above'
      return 'read the message above'
  }
}

export const CONNECT_FIX = 'enable Connect on the Consul servers (connect { enabled = true }) and wait for the CA to initialise'
export const LEADER_FIX = 'the Consul servers have no leader: check them with `consul operator raft list-peers` and their logs'

function unknownTokenFix (source: TokenSource): string {
  return source === 'none'
    ? 'the agent does not know the anonymous token: set CONSUL_HTTP_TOKEN or CONSUL_HTTP_TOKEN_FILE to a valid token'
    : `the token from ${source} is not known to Consul (ACL not found): check that it is current and belongs to this cluster`
}

function noTokenHint (source: TokenSource): string {
  return source === 'none' ? ' (no token was given: set CONSUL_HTTP_TOKEN or CONSUL_HTTP_TOKEN_FILE)' : ''
}
