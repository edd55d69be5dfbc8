/**
 * ACLs for the TestAgent: tokens with a few grants, a default policy, and Consul's 403 texts.
 *
 * The model is deliberately simpler than Consul's rule language: a token *grants* what its fields list;
 * whatever it does not grant falls to the default policy. With `defaultPolicy: 'deny'` (the usual test
 * setup) that is exactly Consul's behaviour for the equivalent policy. With `'allow'`, Consul would also
 * deny a write on a service the token names only for read; this model allows it.
 *
 * Implied grants follow Consul: `service:write` implies `service:read`; read or write on a service implies
 * `intention:read` on it; `intentionsWrite` implies `intentionsRead`; `operator:write` implies `mesh:write`
 * (which `proxy-defaults` writes need); `management` grants everything.
 *
 * Texts, from Consul's `acl/errors.go`: an unknown token gets `ACL not found`; a denial is either the bare
 * `Permission denied` (what some endpoints answer) or the attributed form
 * `Permission denied: token with AccessorID '<id>' lacks permission 'service:write' on "web"`, with the
 * anonymous token's own wording when the request carried no token.
 */
import { randomUUID } from 'node:crypto'
import type { IncomingHttpHeaders } from 'node:http'

/** What a token may do. Lists name services exactly; `'*'` means every service. */
export interface TestAgentTokenPolicy {
  /** The token's AccessorID, shown in 403 texts. Default: a random UUID. */
  readonly accessorId?: string
  /** Grants everything (like `global-management`). */
  readonly management?: boolean
  /** `service:write` (and so `service:read` and `intention:read`) on these services. */
  readonly serviceWrite?: readonly string[] | '*'
  /** `service:read` (and so `intention:read`) on these services. */
  readonly serviceRead?: readonly string[] | '*'
  /** `intention:read` on every service. */
  readonly intentionsRead?: boolean
  /** `intention:write` (and read) on every service. */
  readonly intentionsWrite?: boolean
  /** `operator:write` (CA configuration), and so `mesh:write` (`proxy-defaults`). */
  readonly operatorWrite?: boolean
  /** `agent:read` on the agent's node (`/v1/agent/self`). */
  readonly agentRead?: boolean
}

/** ACL settings of a TestAgent. */
export interface TestAgentAclOptions {
  /** What tokens (and the anonymous token) get when no grant applies. */
  readonly defaultPolicy: 'allow' | 'deny'
  /** Tokens by SecretID (what clients send in `X-Consul-Token` or `Authorization: Bearer`). */
  readonly tokens?: Readonly<Record<string, TestAgentTokenPolicy>>
}

export type AclResource = 'service' | 'intention' | 'operator' | 'mesh' | 'agent'

/** One permission an endpoint needs. `name` is absent for global resources (operator, mesh). */
export interface AclPermission {
  readonly resource: AclResource
  readonly access: 'read' | 'write'
  readonly name?: string
  /** Answer the bare `Permission denied` (as Consul does on some endpoints) instead of the attributed text. */
  readonly plain?: boolean
}

/** Who made a request, as far as ACLs are concerned. */
export type AclPrincipal =
  | { readonly kind: 'anonymous' }
  | { readonly kind: 'unknown' }
  | { readonly kind: 'token', readonly accessorId: string, readonly policy: TestAgentTokenPolicy }

/** Resolves tokens and decides permissions. With no options, ACLs are off and everything is allowed. */
export class AclEngine {
  /** `X-Consul-Default-ACL-Policy`: `allow` when ACLs are off, as the agent reports. */
  readonly defaultPolicy: 'allow' | 'deny'
  readonly enabled: boolean
  readonly #tokens: ReadonlyMap<string, { readonly accessorId: string, readonly policy: TestAgentTokenPolicy }>

  constructor (options: TestAgentAclOptions | undefined) {
    this.enabled = options !== undefined
    this.defaultPolicy = options?.defaultPolicy ?? 'allow'
    this.#tokens = new Map(Object.entries(options?.tokens ?? {}).map(([secret, policy]) =>
      [secret, { accessorId: policy.accessorId ?? randomUUID(), policy }]))
  }

  /**
   * The principal of a request. The token comes, in Consul's order, from the deprecated `?token=`
   * parameter, then `X-Consul-Token`, then `Authorization: Bearer`.
   */
  resolve (headers: IncomingHttpHeaders, query: URLSearchParams): AclPrincipal {
    const secret = tokenOf(headers, query)
    if (secret === '') return { kind: 'anonymous' }
    const token = this.#tokens.get(secret)
    return token === undefined ? { kind: 'unknown' } : { kind: 'token', ...token }
  }

  /** `undefined` when allowed, otherwise the text of the 403 answer. */
  deny (principal: AclPrincipal, permission: AclPermission): string | undefined {
    if (!this.enabled) return undefined
    if (principal.kind === 'unknown') return 'ACL not found'
    const granted = principal.kind === 'token' && grants(principal.policy, permission)
    if (granted || this.defaultPolicy === 'allow') return undefined
    return permission.plain === true ? 'Permission denied' : denialText(principal, permission)
  }

  /** Whether intentions default to allow when nothing matches (the ACL default policy; allow when off). */
  get defaultAllow (): boolean {
    return this.defaultPolicy === 'allow'
  }
}

/** The SecretID a request carries, or `''`. */
export function tokenOf (headers: IncomingHttpHeaders, query: URLSearchParams): string {
  const fromQuery = query.get('token')
  if (fromQuery !== null && fromQuery !== '') return fromQuery
  const header = headers['x-consul-token']
  if (typeof header === 'string' && header.trim() !== '') return header.trim()
  const auth = headers.authorization
  if (typeof auth === 'string') {
    const bearer = /^Bearer\s+(.+)$/i.exec(auth.trim())
    if (bearer !== null) return bearer[1]!.trim()
  }
  return ''
}

function grants (policy: TestAgentTokenPolicy, p: AclPermission): boolean {
  if (policy.management === true) return true
  switch (p.resource) {
    case 'service':
      return covers(policy.serviceWrite, p.name) || (p.access === 'read' && covers(policy.serviceRead, p.name))
    case 'intention':
      if (policy.intentionsWrite === true) return true
      return p.access === 'read' &&
        (policy.intentionsRead === true || covers(policy.serviceWrite, p.name) || covers(policy.serviceRead, p.name))
    case 'operator':
    case 'mesh':
      return policy.operatorWrite === true
    case 'agent':
      return p.access === 'read' && policy.agentRead === true
  }
}

function covers (list: readonly string[] | '*' | undefined, name: string | undefined): boolean {
  if (list === '*') return true
  return list !== undefined && name !== undefined && list.includes(name)
}

function denialText (principal: AclPrincipal, p: AclPermission): string {
  const anonymous = principal.kind !== 'token'
  const who = anonymous ? 'anonymous token' : `token with AccessorID '${principal.accessorId}'`
  const on = p.name === undefined ? '' : ` on "${p.name}"`
  const hint = anonymous ? '. The anonymous token is used implicitly when a request does not specify a token.' : ''
  return `Permission denied: ${who} lacks permission '${p.resource}:${p.access}'${on}${hint}`
}
