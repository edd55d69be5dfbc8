/**
 * The checks of `doctor`, one function each: what a check concludes from the agent's answers, its status, its
 * one-sentence fix and its data (see docs/cli.md for the keys). No I/O here: doctor.ts fetches and calls these.
 */
import type { AgentSelf, CaRoots, LeafCert } from '../agent/schemas.js'
import { Intentions } from '../authz/intentions.js'
import { ConnectError } from '../errors.js'
import { TrustBundle } from '../identity/bundle.js'
import { Identity } from '../identity/identity.js'
import { verifyChain } from '../identity/verify.js'
import { parseSpiffeId } from '../spiffe-id.js'
import type { SpiffeId } from '../spiffe-id.js'
import type { AgentConnection } from './agent.js'
import { defaultJson, defaultText } from './default-decision.js'
import type { LearnedDefault } from './default-decision.js'
import { agentFix, CONNECT_FIX } from './fixes.js'
import { formatTimeLeft, plural } from './output.js'

export type CheckStatus = 'ok' | 'warn' | 'fail' | 'skip'

export type CheckId = 'agent' | 'leader' | 'connect' | 'trust-domain' | 'token' | 'leaf' | 'chain' | 'intentions' | 'default-policy'

/** One check's outcome, as printed and as JSON. */
export interface CheckResult {
  readonly id: CheckId
  readonly title: string
  readonly status: CheckStatus
  readonly summary: string
  /** One sentence, for `fail` and `warn`; null otherwise. */
  readonly fix: string | null
  /** Facts the check found (stable keys per check, see docs/cli.md); null when it found none. */
  readonly data: Readonly<Record<string, unknown>> | null
}

export const TITLES: Readonly<Record<CheckId, string>> = {
  agent: 'agent reachable',
  leader: 'leader known',
  connect: 'Connect enabled',
  'trust-domain': 'trust domain',
  token: 'token may fetch the leaf',
  leaf: 'leaf certificate',
  chain: 'leaf verifies against roots',
  intentions: 'intentions readable',
  'default-policy': 'default policy'
}
export const ORDER = Object.keys(TITLES) as CheckId[]

/** A leaf with less than this share of its lifetime left should have been renewed (the agent renews at 60–90 %). */
const RENEWAL_OVERDUE = 0.1

export type Setter = (id: CheckId, status: CheckStatus, summary: string, fix?: string | null, data?: Record<string, unknown> | null) => void
export type Settled<T> = { ok: true, value: T } | { ok: false, error: unknown }

export async function settle<T> (promise: Promise<T>): Promise<Settled<T>> {
  try {
    return { ok: true, value: await promise }
  } catch (error) {
    return { ok: false, error }
  }
}

export function agentSummary (agent: AgentConnection, self: AgentSelf | Error): string {
  if (self instanceof Error) return `${agent.address} answered (agent details need agent:read)`
  const c = self.Config
  return `${agent.address} answered: Consul ${c.Version ?? '?'}, node ${JSON.stringify(c.NodeName)}, datacenter ${c.Datacenter}`
}

export function agentData (agent: AgentConnection, self: AgentSelf | Error): Record<string, unknown> {
  const c = self instanceof Error ? undefined : self.Config
  return { address: agent.address, version: c?.Version ?? null, node: c?.NodeName ?? null, datacenter: c?.Datacenter ?? null }
}

/** Connect enabled: the roots answer lists at least one usable root. Returns the bundle when it does. */
export function checkConnect (roots: Settled<{ value: CaRoots }>, agent: AgentConnection, set: Setter): TrustBundle | undefined {
  if (!roots.ok) {
    set('connect', 'fail', messageOf(roots.error), agentFix(roots.error, agent))
    return undefined
  }
  const answer = roots.value.value
  if (answer.Roots.length === 0) {
    set('connect', 'fail', 'the agent lists no CA roots', CONNECT_FIX, { roots: 0, activeRootId: null, trustDomain: answer.TrustDomain || null })
    return undefined
  }
  let bundle: TrustBundle
  try {
    bundle = TrustBundle.fromPem(answer.TrustDomain, answer.Roots.map((root) => root.RootCert))
  } catch (err) {
    set('connect', 'fail', `the CA roots are unusable: ${messageOf(err)}`,
      'the CA provider returned roots this library cannot use: check the CA configuration (consul connect ca get-config)')
    return undefined
  }
  const active = answer.Roots.find((root) => root.Active)
  const activeName = active?.Name ?? active?.ID
  set('connect', 'ok', `${plural(answer.Roots.length, 'CA root')}${activeName === undefined ? ', none active' : `, active ${JSON.stringify(activeName)}`}`, null,
    { roots: answer.Roots.length, activeRootId: answer.ActiveRootID || null, trustDomain: answer.TrustDomain })
  return bundle
}

export interface LeafFacts {
  readonly identity: Identity
  readonly id: SpiffeId | undefined
}

/** The token's right to the leaf, and the leaf itself. */
export function checkLeaf (leaf: Settled<{ value: LeafCert }>, service: string, agent: AgentConnection, now: Date, set: Setter): LeafFacts | undefined {
  const needs = `service:write on ${JSON.stringify(service)}`
  if (!leaf.ok) {
    const err = leaf.error
    if (hasCodeOf(err, 'ERR_CONNECT_AGENT_PERMISSION_DENIED')) {
      set('token', 'fail', messageOf(err), agentFix(err, agent, { needs }))
      set('leaf', 'skip', 'skipped: the token may not fetch the leaf')
    } else {
      set('token', 'skip', 'skipped: the leaf request failed before the agent checked the token')
      set('leaf', 'fail', messageOf(err), agentFix(err, agent, { needs }))
    }
    set('chain', 'skip', 'skipped: no leaf')
    return undefined
  }
  set('token', 'ok', `the agent issued the leaf of ${JSON.stringify(service)} (${needs})`)
  const answer = leaf.value.value
  let identity: Identity
  try {
    identity = Identity.fromPem({ certPem: answer.CertPEM, keyPem: answer.PrivateKeyPEM })
  } catch (err) {
    set('leaf', 'fail', `the agent's leaf is unusable: ${messageOf(err)}`, 'the agent returned a leaf this library cannot use: report it with the message above')
    set('chain', 'skip', 'skipped: no usable leaf')
    return undefined
  }
  let id: SpiffeId | undefined
  try {
    id = parseSpiffeId(identity.spiffeId)
  } catch {
    id = undefined
  }
  const left = identity.expiresIn(now)
  const lifetime = identity.validBefore.getTime() - identity.validAfter.getTime()
  const data = {
    spiffeId: identity.spiffeId,
    serial: identity.serial,
    validAfter: identity.validAfter.toISOString(),
    validBefore: identity.validBefore.toISOString(),
    expiresInMs: left
  }
  const summary = `${identity.spiffeId}, expires ${identity.validBefore.toISOString()} (${formatTimeLeft(left)})`
  const renewFix = 'the agent is not renewing the leaf: check that it reaches the Consul servers (`consul members`) and read its log'
  if (id === undefined || id.kind !== 'service') {
    set('leaf', 'fail', `${summary}; its SPIFFE ID is not a Consul service identity`, 'the agent issued a leaf this library cannot use: report it with the SPIFFE ID above', data)
  } else if (id.service !== service) {
    set('leaf', 'fail', `${summary}; it names service ${JSON.stringify(id.service)}, not ${JSON.stringify(service)}`, 'check the service name: the agent issued a leaf for another service', data)
  } else if (left <= 0) {
    set('leaf', 'fail', summary, renewFix, data)
  } else if (now.getTime() < identity.validAfter.getTime()) {
    set('leaf', 'fail', `${summary}; not valid before ${identity.validAfter.toISOString()}`, 'synchronise the clocks of this host and the Consul servers', data)
  } else if (lifetime > 0 && left < lifetime * RENEWAL_OVERDUE) {
    set('leaf', 'warn', `${summary}; the agent should have renewed it by now`, renewFix, data)
  } else {
    set('leaf', 'ok', summary, null, data)
  }
  return { identity, id }
}

export function checkTrustDomain (roots: Settled<{ value: CaRoots }>, bundle: TrustBundle | undefined, leaf: LeafFacts | undefined, set: Setter): void {
  if (!roots.ok || bundle === undefined) {
    set('trust-domain', 'skip', 'skipped: no CA roots')
    return
  }
  const trustDomain = bundle.trustDomain
  const leafDomain = leaf?.id?.trustDomain
  const data = { trustDomain, leafTrustDomain: leafDomain ?? null }
  if (leafDomain === undefined) {
    set('trust-domain', 'ok', trustDomain, null, data)
  } else if (leafDomain === trustDomain) {
    set('trust-domain', 'ok', `${trustDomain} (the leaf's SPIFFE ID agrees)`, null, data)
  } else {
    set('trust-domain', 'warn', `the roots speak for ${trustDomain} but the leaf's SPIFFE ID names ${leafDomain}`,
      'the leaf predates a trust-domain change and is replaced when the agent renews it; restart the agent to renew it now', data)
  }
}

export function checkChain (bundle: TrustBundle | undefined, leaf: LeafFacts | undefined, now: Date, set: Setter): void {
  if (leaf === undefined) return // set by checkLeaf
  if (bundle === undefined) {
    set('chain', 'skip', 'skipped: no CA roots')
    return
  }
  const { identity } = leaf
  const result = verifyChain(identity.leaf, identity.intermediates, bundle, { now })
  if (result.ok) {
    const root = result.chain[result.chain.length - 1]!
    set('chain', 'ok', `a chain of ${plural(result.chain.length, 'certificate')} ends at root ${JSON.stringify(root.subject)}`, null,
      { chainLength: result.chain.length, root: root.subject })
    return
  }
  const error = result.error
  const fix = error.code === 'ERR_CONNECT_CERT_UNKNOWN_ISSUER'
    ? 'the leaf comes from a CA the agent no longer lists: it is re-issued shortly after a root rotation; if not, restart the agent'
    : error.code === 'ERR_CONNECT_CERT_EXPIRED' || error.code === 'ERR_CONNECT_CERT_NOT_YET_VALID'
      ? 'check the clocks of this host and the Consul servers, and that the agent renews its certificates'
      : 'the CA chain is malformed: check the CA provider configuration (consul connect ca get-config)'
  set('chain', 'fail', error.message, fix, { code: error.code })
}

export function checkIntentions (answer: Settled<{ value: Record<string, unknown> }>, service: string, learned: LearnedDefault, agent: AgentConnection, set: Setter): void {
  if (!answer.ok) {
    set('intentions', 'fail', messageOf(answer.error), agentFix(answer.error, agent, { needs: `intentions:read on ${JSON.stringify(service)} (service:read)` }))
    return
  }
  let intentions: Intentions
  try {
    intentions = Intentions.fromMatchAnswer(answer.value.value, service, {
      defaultAllow: learned.decision.defaultAllow,
      defaultReason: learned.decision.defaultReason
    })
  } catch (err) {
    set('intentions', 'fail', messageOf(err), 'fix or delete the intention named above (consul config read -kind service-intentions -name <destination>)')
    return
  }
  const l7 = intentions.intentions.filter((i) => i.Permissions !== undefined).length
  const data = { count: intentions.size, l7 }
  const summary = `${plural(intentions.size, 'intention')} for ${JSON.stringify(service)}${l7 > 0 ? ` (${l7} with L7 permissions)` : ''}`
  const allowsSomething = intentions.intentions.some((i) => i.Action === 'allow' || i.Permissions?.some((p) => p.Action === 'allow') === true)
  if (!learned.decision.defaultAllow && !allowsSomething) {
    set('intentions', 'warn', `${summary}, none allows anything, and the default is deny: every connection to ${JSON.stringify(service)} will be refused`,
      `add an intention for each caller, e.g. consul intention create -allow <source> ${service}`, data)
  } else {
    set('intentions', 'ok', summary, null, data)
  }
}

export function checkDefault (learned: LearnedDefault, service: string, set: Setter): void {
  const data = defaultJson(learned)
  const notes = learned.notes.length > 0 ? `; ${learned.notes.join(', ')}` : ''
  const rights = `give the token agent:read (or service:write on ${JSON.stringify(service)}) so the default can be read from the agent`
  if (learned.via === 'none') set('default-policy', 'warn', `${defaultText(learned)}${notes}`, rights, data)
  else if (learned.via === 'acl-header') set('default-policy', 'warn', `${defaultText(learned)}${notes}`, rights, data)
  else set('default-policy', 'ok', defaultText(learned), null, data)
}

export function messageOf (err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}

export function hasCodeOf (err: unknown, code: string): boolean {
  return err instanceof ConnectError && err.code === code
}
