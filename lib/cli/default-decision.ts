/**
 * The default intention decision for the CLI, learned as a running service learns it (live-intentions.ts),
 * but once and without retries, and saying how it was learned:
 * 1. `GET /v1/agent/self` (needs `agent:read`): `default_intention_policy`, else the ACL default;
 * 2. a probe of `POST /v1/agent/connect/authorize` (needs `service:write` on the destination);
 * 3. the `X-Consul-Default-ACL-Policy` header of an earlier answer (the ACL default only);
 * 4. nothing known: deny, as the library does (fail closed).
 * Failures of 1 and 2 are not errors here: they are kept as notes and the next way is tried.
 */
import type { AgentClient } from '../agent/client.js'
import { AgentError } from '../errors.js'
import type { AgentSelf } from '../agent/schemas.js'
import { defaultDecisionFrom, probeDefaultDecision } from '../authz/default-policy.js'
import type { DefaultDecision } from '../authz/default-policy.js'

/** How the default was learned. */
export type DefaultVia = 'option' | 'agent-self' | 'authorize-probe' | 'acl-header' | 'none'

export interface LearnedDefault {
  readonly decision: DefaultDecision
  readonly via: DefaultVia
  /** Why the earlier ways did not answer, briefly: `agent self: 403 (needs agent:read)`. */
  readonly notes: readonly string[]
}

export interface LearnDefaultInput {
  readonly client: AgentClient
  readonly destination: string
  /** The answer of `client.self()` if already fetched, or its failure. Fetched here when undefined. */
  readonly self?: AgentSelf | Error
  /** `X-Consul-Default-ACL-Policy` of an earlier answer. */
  readonly aclHeader?: 'allow' | 'deny' | undefined
}

/** Human wording of {@link DefaultVia}. */
export const VIA_TEXT: Readonly<Record<DefaultVia, string>> = {
  option: 'given with --default-policy',
  'agent-self': 'read from /v1/agent/self',
  'authorize-probe': 'learned from the agent\'s authorize endpoint',
  'acl-header': 'from the X-Consul-Default-ACL-Policy header only, which ignores default_intention_policy',
  none: 'not learnable with this token'
}

/** A default fixed by the user (`--default-policy allow|deny`). */
export function fixedDefault (allow: boolean): LearnedDefault {
  return Object.freeze({
    decision: Object.freeze({ defaultAllow: allow, defaultReason: `Default ${allow ? 'allow' : 'deny'} set on the command line`, source: 'acl' as const }),
    via: 'option' as const,
    notes: Object.freeze([])
  })
}

/** Learns the default; never rejects. */
export async function learnDefault (input: LearnDefaultInput): Promise<LearnedDefault> {
  const { client, destination } = input
  const notes: string[] = []
  const self = input.self ?? await client.self().catch((err: unknown) => asError(err))
  if (self instanceof Error) {
    notes.push(`agent self: ${briefly(self, 'agent:read')}`)
  } else {
    const decision = defaultDecisionFrom({ self })
    if (decision.source !== 'unknown') return done(decision, 'agent-self', notes)
    notes.push('agent self: the answer does not disclose the default policy')
  }
  try {
    const probed = await probeDefaultDecision(client, { target: destination })
    if (probed !== undefined) return done(probed, 'authorize-probe', notes)
    notes.push('authorize probe: a wildcard intention matched, so the answer says nothing about the default')
  } catch (err) {
    notes.push(`authorize probe: ${briefly(err, `service:write on ${JSON.stringify(destination)}`)}`)
  }
  const fallback = defaultDecisionFrom({ aclDefaultPolicyHeader: input.aclHeader })
  return done(fallback, fallback.source === 'acl-header' ? 'acl-header' : 'none', notes)
}

function done (decision: DefaultDecision, via: DefaultVia, notes: string[]): LearnedDefault {
  return Object.freeze({ decision, via, notes: Object.freeze(notes) })
}

/** `403 (needs agent:read)`, `answered 500`, or the message of a failure below HTTP. */
function briefly (err: unknown, needs: string): string {
  if (err instanceof AgentError && err.status !== undefined) {
    if (err.status !== 403) return `answered ${err.status}`
    return err.message.includes('ACL not found') ? '403 (ACL not found: the token is unknown)' : `403 (needs ${needs})`
  }
  return asError(err).message
}

function asError (err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err))
}

/**
 * The JSON form: `{ allow, reason, source, via, notes }`; `source` is Consul's setting that decided (null when
 * given as an option), `notes` why the ways tried before `via` did not answer.
 */
export function defaultJson (learned: LearnedDefault): { allow: boolean, reason: string, source: string | null, via: DefaultVia, notes: string[] } {
  return {
    allow: learned.decision.defaultAllow,
    reason: learned.decision.defaultReason,
    source: learned.via === 'option' ? null : learned.decision.source,
    via: learned.via,
    notes: [...learned.notes]
  }
}

/** The human form: `deny: Default behavior configured by ACLs (read from /v1/agent/self)`. */
export function defaultText (learned: LearnedDefault): string {
  return `${learned.decision.defaultAllow ? 'allow' : 'deny'}: ${learned.decision.defaultReason} (${VIA_TEXT[learned.via]})`
}
