/**
 * How failures of one agent request become AgentErrors. Messages read like a path, starting with what
 * the caller was doing: `fetching leaf for "web": agent answered 403: Permission denied`.
 *
 * | failure | code |
 * |---|---|
 * | connect refused, DNS, reset, closed socket, TLS handshake | ERR_CONNECT_AGENT_UNREACHABLE |
 * | no complete answer within the request's timeout | ERR_CONNECT_AGENT_TIMEOUT |
 * | 403 (the agent's body is the reason) | ERR_CONNECT_AGENT_PERMISSION_DENIED |
 * | 404 | ERR_CONNECT_AGENT_NOT_FOUND |
 * | any other non-2xx | ERR_CONNECT_AGENT_HTTP |
 * | body not JSON, or not the expected shape | ERR_CONNECT_AGENT_INVALID_ANSWER |
 */
import type { z } from 'zod'
import { AgentError } from '../errors.js'

/** Longest slice of an agent's error body quoted in a message. */
const MAX_REASON = 300

/** The error for a non-2xx answer. `body` is the agent's text; `secret` (the token) is redacted from it. */
export function statusError (what: string, status: number, body: string, path: string, secret: string | undefined): AgentError {
  const reason = summarize(body, secret)
  const message = `${what}: agent answered ${status}${reason === '' ? '' : `: ${reason}`}`
  const code = status === 403 ? 'ERR_CONNECT_AGENT_PERMISSION_DENIED' : status === 404 ? 'ERR_CONNECT_AGENT_NOT_FOUND' : 'ERR_CONNECT_AGENT_HTTP'
  return new AgentError(code, message, { status, path })
}

/** The error for a request that failed below HTTP: connection, DNS, TLS, a socket closed mid-answer. */
export function transportError (what: string, err: unknown, display: string, path: string): AgentError {
  const timeouts = ['UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT']
  const code = errorCode(err)
  if (code !== undefined && timeouts.includes(code)) {
    return new AgentError('ERR_CONNECT_AGENT_TIMEOUT', `${what}: agent at ${display} did not answer in time`, { path, cause: err })
  }
  return new AgentError('ERR_CONNECT_AGENT_UNREACHABLE', `${what}: agent unreachable at ${display}: ${describeCause(err)}`, { path, cause: err })
}

/** The error for a request that outlived `timeoutMs`. */
export function timeoutError (what: string, display: string, timeoutMs: number, path: string): AgentError {
  return new AgentError('ERR_CONNECT_AGENT_TIMEOUT', `${what}: agent at ${display} did not answer within ${timeoutMs} ms`, { path })
}

/** The error for a 2xx answer whose body is not JSON, fails the schema, or fails a transform. */
export function invalidAnswerError (what: string, reason: string, path: string, status: number | undefined, cause?: unknown): AgentError {
  return new AgentError('ERR_CONNECT_AGENT_INVALID_ANSWER', `${what}: invalid answer from agent: ${reason}`, {
    path,
    ...(status === undefined ? {} : { status }),
    ...(cause === undefined ? {} : { cause })
  })
}

/** Names the fields a zod validation rejected: `Roots[0].RootCert: expected string, received undefined`. */
export function describeZodError (error: z.ZodError): string {
  const issues = error.issues.slice(0, 3).map((issue) => {
    const where = issue.path.reduce<string>((acc, part) =>
      typeof part === 'number' ? `${acc}[${part}]` : acc === '' ? String(part) : `${acc}.${String(part)}`, '')
    return `${where === '' ? '(root)' : where}: ${issue.message}`
  })
  const more = error.issues.length > 3 ? ` (and ${error.issues.length - 3} more)` : ''
  return issues.join('; ') + more
}

function summarize (body: string, secret: string | undefined): string {
  let text = body.replace(/\s+/g, ' ').trim()
  // An agent or a proxy in front of it could echo the request; the token must not reach a log.
  if (secret !== undefined && secret !== '') text = text.split(secret).join('[redacted]')
  return text.length > MAX_REASON ? `${text.slice(0, MAX_REASON)}…` : text
}

function errorCode (err: unknown): string | undefined {
  if (typeof err !== 'object' || err === null) return undefined
  const code = (err as { code?: unknown }).code
  if (typeof code === 'string') return code
  // Node's happy-eyeballs connect (autoSelectFamily) reports an AggregateError of per-address failures.
  const inner = (err as { errors?: unknown }).errors
  return Array.isArray(inner) ? errorCode(inner[0]) : undefined
}

function describeCause (err: unknown): string {
  const code = errorCode(err)
  let message = err instanceof Error ? err.message : String(err)
  if (message === '' && err instanceof AggregateError) {
    message = err.errors.map((inner: unknown) => inner instanceof Error ? inner.message : String(inner)).join('; ')
  }
  if (code === undefined || message.includes(code)) return message
  return `${message} (${code})`
}
