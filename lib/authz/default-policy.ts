/**
 * The default intention decision: what Consul decides when no intention matches a source (and, for L7
 * intentions, when no permission matches a request), and how a client of the agent can find it out.
 *
 * Findings for Consul 1.22.7, from its source and checked against the real binary (`consul agent -dev`,
 * see test/integration/intentions-differential.test.ts):
 * - The agent setting is `default_intention_policy` (top-level agent config, `"allow"` or `"deny"`; added in
 *   1.18.0, GH-20544). When set, `POST /v1/agent/connect/authorize` answers with it and the reason
 *   `Default intention policy`, and the Envoy RBAC default that proxies get follows it. When unset, both use
 *   the ACL default policy (`allow` when ACLs are off, as in `-dev`), reason
 *   `Default behavior configured by ACLs`.
 * - Its value is not validated: with any other non-empty value authorize denies, while proxies fall back to
 *   the ACL default. {@link defaultDecisionFrom} treats an unknown value as deny (fail closed, as authorize).
 * - The server-side endpoints ignore it: 1.22.7 never copies the runtime setting into the server's config,
 *   so `GET /v1/connect/intentions/check` answers with the ACL default even when the setting says otherwise.
 *   Do not learn the default from `check`.
 * - A client can learn it three ways:
 *   1. `GET /v1/agent/self` (needs `agent:read`): `DebugConfig.DefaultIntentionPolicy` (`""` when unset) and
 *      `DebugConfig.ACLResolverSettings.ACLDefaultPolicy` (`allow` even with ACLs off). Authoritative.
 *   2. The `X-Consul-Default-ACL-Policy` header on every answer (`AgentResponse.meta.defaultAclPolicy`): the
 *      ACL default only. Right exactly when `default_intention_policy` is unset, which the header cannot tell.
 *   3. {@link probeDefaultDecision}: ask authorize about a source no intention can name (a random service in a
 *      random namespace). Its reason says which default applied and `Authorized` gives the value. Needs
 *      `service:write` on the destination, which a service's own token has.
 */
import { randomBytes } from 'node:crypto'
import type { AgentClient, CallOptions } from '../agent/client.js'
import type { AgentSelf, AuthorizeAnswer } from '../agent/schemas.js'
import { aclDefaultPolicyOf } from '../agent/schemas.js'

/** Consul's reason when `default_intention_policy` decided. */
export const INTENTION_POLICY_REASON = 'Default intention policy'
/** Consul's reason when the ACL default policy decided. */
export const ACL_POLICY_REASON = 'Default behavior configured by ACLs'

/**
 * Where a default came from: `default_intention_policy` or `acl` (both authoritative: agent self or a
 * probe), `acl-header` (the ACL header alone: right unless `default_intention_policy` is set), or `unknown`
 * (nothing was known, so deny).
 */
export type DefaultPolicySource = 'default_intention_policy' | 'acl' | 'acl-header' | 'unknown'

/** A default decision, ready to spread into the options of `new Intentions(...)`. */
export interface DefaultDecision {
  readonly defaultAllow: boolean
  readonly defaultReason: string
  readonly source: DefaultPolicySource
}

/** What {@link defaultDecisionFrom} can use; each field optional. */
export interface DefaultPolicyInput {
  /** `GET /v1/agent/self`, when the token could read it. */
  readonly self?: AgentSelf | undefined
  /** `default_intention_policy` if known some other way (configuration). Wins over `self`. */
  readonly defaultIntentionPolicy?: string | undefined
  /** The `X-Consul-Default-ACL-Policy` header (`meta.defaultAclPolicy` of any AgentResponse). */
  readonly aclDefaultPolicyHeader?: 'allow' | 'deny' | undefined
}

/**
 * The default decision from what is known, in order: an explicit or self-reported `default_intention_policy`
 * (unknown values deny), the ACL default from self, the ACL header; with nothing known, deny.
 */
export function defaultDecisionFrom (input: DefaultPolicyInput): DefaultDecision {
  const debug = input.self?.DebugConfig as Record<string, unknown> | undefined
  const fromSelf = typeof debug?.['DefaultIntentionPolicy'] === 'string' ? debug['DefaultIntentionPolicy'] : undefined
  const intentionPolicy = input.defaultIntentionPolicy ?? fromSelf
  if (intentionPolicy !== undefined && intentionPolicy !== '') {
    // The agent's authorize compares with "allow": anything else, unknown values included, denies.
    return freeze(intentionPolicy === 'allow', INTENTION_POLICY_REASON, 'default_intention_policy')
  }
  const aclFromSelf = input.self === undefined ? undefined : aclDefaultPolicyOf(input.self)
  if (aclFromSelf !== undefined) return freeze(aclFromSelf === 'allow', ACL_POLICY_REASON, 'acl')
  if (input.aclDefaultPolicyHeader !== undefined) return freeze(input.aclDefaultPolicyHeader === 'allow', ACL_POLICY_REASON, 'acl-header')
  return freeze(false, 'Default policy unknown: denied (fail closed)', 'unknown')
}

/** The default an authorize answer reveals, when its reason is one of Consul's two default reasons. */
export function defaultDecisionFromAuthorize (answer: AuthorizeAnswer): DefaultDecision | undefined {
  if (answer.Reason === INTENTION_POLICY_REASON) return freeze(answer.Authorized, INTENTION_POLICY_REASON, 'default_intention_policy')
  if (answer.Reason === ACL_POLICY_REASON) return freeze(answer.Authorized, ACL_POLICY_REASON, 'acl')
  return undefined
}

export interface ProbeDefaultOptions extends CallOptions {
  /** The destination service (the token needs `service:write` on it). */
  readonly target: string
  /** Trust domain for the made-up source ID; any well-formed one will do (authorize does not check it). */
  readonly trustDomain?: string
  /** Datacenter for the made-up source ID (not checked by authorize). Default `dc1`. */
  readonly datacenter?: string
}

/**
 * Asks the agent's authorize endpoint about a made-up source (random name in a random namespace, which no
 * intention can name but a `*`/`*` wildcard) and reads the default from the answer. Resolves `undefined`
 * when an intention matched after all (the answer says nothing about the default); rejects as
 * `client.authorize` does (AgentError, e.g. ERR_CONNECT_AGENT_PERMISSION_DENIED without `service:write`).
 */
export async function probeDefaultDecision (client: Pick<AgentClient, 'authorize'>, options: ProbeDefaultOptions): Promise<DefaultDecision | undefined> {
  const { target, trustDomain = '00000000-0000-0000-0000-000000000000.consul', datacenter = 'dc1', ...call } = options
  const nonce = randomBytes(8).toString('hex')
  const answer = await client.authorize({
    target,
    clientCertUri: `spiffe://${trustDomain}/ns/ccn-probe-${nonce}/dc/${datacenter}/svc/ccn-probe-${nonce}`,
    clientCertSerial: '01'
  }, call)
  return defaultDecisionFromAuthorize(answer)
}

function freeze (defaultAllow: boolean, defaultReason: string, source: DefaultPolicySource): DefaultDecision {
  return Object.freeze({ defaultAllow, defaultReason, source })
}
