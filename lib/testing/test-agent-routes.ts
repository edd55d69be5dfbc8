/**
 * The TestAgent's HTTP API: the route table, the dispatcher (404 and 405 as the agent answers them), and
 * the agent, CA and catalog endpoints. Intention endpoints are in test-agent-intention-routes.ts.
 *
 * Behaviour follows a Consul Community Edition agent (agent/http.go, agent/agent_endpoint.go,
 * agent/connect_ca_endpoint.go, agent/health_endpoint.go):
 * - an unknown path answers 404 `Invalid URL path: not a recognized HTTP API endpoint`; a known path with
 *   a wrong method answers 405 `method PUT not allowed` with an `Allow` header; `OPTIONS` answers the
 *   `Allow` header;
 * - the `ns`/`partition` parameters and `X-Consul-Namespace`/`X-Consul-Partition` headers are refused
 *   with 400, as Community Edition refuses them; a `dc` other than the agent's answers 500 `No path to
 *   datacenter`;
 * - `PUT /v1/connect/ca/configuration` rotates the root every time (a real agent rotates when the new
 *   configuration yields a new root key); a supplied `PrivateKey`/`RootCert` is not used, `LeafCertTTL` is.
 */
import { parseSpiffeId } from '../spiffe-id.js'
import type { CaState } from './test-agent-ca-state.js'
import { leafJson } from './test-agent-ca-state.js'
import type { Catalog } from './test-agent-catalog.js'
import type { DefaultsStore } from './test-agent-defaults.js'
import type { Exchange } from './test-agent-http.js'
import type { IndexBoard } from './test-agent-index.js'
import { intentionRoutes } from './test-agent-intention-routes.js'
import type { IntentionStore } from './test-agent-intentions.js'
import { intentionAllows } from './test-agent-intentions.js'
import { describeIntention } from './test-agent-intention-shapes.js'
import { parseGoDuration } from './durations.js'

/** The agent state the endpoints read and change. */
export interface AgentCore {
  readonly datacenter: string
  readonly nodeName: string
  readonly nodeId: string
  readonly version: string
  /** Consul 1.18+'s `default_intention_policy`, when set. */
  readonly defaultIntentionPolicy: 'allow' | 'deny' | undefined
  readonly board: IndexBoard
  readonly ca: CaState
  readonly intentions: IntentionStore
  /** `service-defaults` and `proxy-defaults`: the services' protocols. */
  readonly defaults: DefaultsStore
  readonly catalog: Catalog
  /** When the roots last changed (ms since epoch), for `X-Cache`/`Age`. */
  readonly rootsChangedAt: number
  readonly aclEnabled: boolean
  /** Whether the ACL default policy is allow (the intention default when no policy is set). */
  readonly aclDefaultAllow: boolean
  /** Rotates the CA root (as `rotateRoot()`), after taking a new leaf TTL if given. */
  rotate (leafTtlMs: number | undefined): Promise<void>
}

/** One endpoint. `prefix` routes take the rest of the path as their argument. */
export interface Route {
  readonly path: string
  readonly prefix?: boolean
  readonly methods: readonly string[]
  /** Refuse `ns`/`partition` as Community Edition does. */
  readonly enterpriseMeta?: boolean
  /** Refuse a foreign `dc` (server-forwarded endpoints). */
  readonly forwarded?: boolean
  /** The endpoint never looks at the token (CA roots): an unknown token is not refused. */
  readonly noToken?: boolean
  handle (core: AgentCore, ex: Exchange, rest: string): Promise<void>
}

const routes: readonly Route[] = [
  { path: '/v1/agent/connect/ca/roots', methods: ['GET'], noToken: true, handle: agentRoots },
  { path: '/v1/agent/connect/ca/leaf/', prefix: true, methods: ['GET'], enterpriseMeta: true, handle: agentLeaf },
  { path: '/v1/agent/connect/authorize', methods: ['POST'], enterpriseMeta: true, handle: agentAuthorize },
  { path: '/v1/agent/self', methods: ['GET'], handle: agentSelf },
  { path: '/v1/connect/ca/roots', methods: ['GET'], forwarded: true, noToken: true, handle: caRoots },
  { path: '/v1/connect/ca/configuration', methods: ['GET', 'PUT'], forwarded: true, handle: caConfiguration },
  { path: '/v1/health/connect/', prefix: true, methods: ['GET'], enterpriseMeta: true, forwarded: true, handle: healthConnect },
  { path: '/v1/status/leader', methods: ['GET'], noToken: true, handle: statusLeader },
  ...intentionRoutes
]

/** Routes one request to its endpoint, or answers 404/405/400 as the agent would. */
export async function dispatch (core: AgentCore, ex: Exchange): Promise<void> {
  if (ex.path === '/') {
    ex.text(200, 'Consul Agent: UI disabled. To enable, set ui_config.enabled=true in the agent configuration and restart.')
    return
  }
  const route = routes.find((r) => r.prefix === true ? ex.path.startsWith(r.path) : ex.path === r.path)
  if (route === undefined) {
    ex.text(404, ex.path.includes('/v1/')
      ? 'Invalid URL path: not a recognized HTTP API endpoint\n'
      : "Invalid URL path: if attempting to use the HTTP API, ensure the path starts with '/v1/'\n")
    return
  }
  const allow = ['OPTIONS', ...route.methods].join(',')
  if (ex.method === 'OPTIONS') {
    ex.raw(200, undefined, '', { headers: { Allow: allow } })
    return
  }
  if (!route.methods.includes(ex.method)) {
    ex.text(405, `method ${ex.method} not allowed`, { headers: { Allow: allow } })
    return
  }
  if (route.enterpriseMeta === true && refuseEnterpriseMeta(ex)) return
  if (route.noToken !== true && ex.unknownToken()) return
  const dc = ex.query.get('dc')
  if (route.forwarded === true && dc !== null && dc !== '' && dc !== core.datacenter) {
    ex.text(500, 'No path to datacenter')
    return
  }
  await route.handle(core, ex, route.prefix === true ? ex.path.slice(route.path.length) : '')
}

function refuseEnterpriseMeta (ex: Exchange): boolean {
  const refusals: Array<[boolean, string]> = [
    [(ex.req.headers['x-consul-namespace'] ?? '') !== '', 'Invalid header: "X-Consul-Namespace" - Namespaces are a Consul Enterprise feature'],
    [(ex.query.get('ns') ?? '') !== '', 'Invalid query parameter: "ns" - Namespaces are a Consul Enterprise feature'],
    [(ex.req.headers['x-consul-partition'] ?? '') !== '', 'Invalid header: "X-Consul-Partition" - Partitions are a Consul Enterprise feature'],
    [(ex.query.get('partition') ?? '') !== '', 'Invalid query parameter: "partition" - Partitions are a Consul Enterprise feature']
  ]
  const refusal = refusals.find(([refused]) => refused)
  if (refusal !== undefined) ex.text(400, refusal[1])
  return refusal !== undefined
}

async function agentRoots (core: AgentCore, ex: Exchange): Promise<void> {
  const params = ex.blocking()
  if (params === undefined || !await ex.hold('roots', params)) return
  const age = Math.floor((Date.now() - core.rootsChangedAt) / 1000)
  ex.json(200, core.ca.rootsJson(), { index: core.board.of('roots'), cache: { hit: core.rootsChangedAt < ex.entry.at, ageSeconds: age } })
}

async function caRoots (core: AgentCore, ex: Exchange): Promise<void> {
  const params = ex.blocking()
  if (params === undefined || !await ex.hold('roots', params)) return
  const pemParam = ex.query.get('pem')
  const pem = pemParam === null || pemParam === '' ? false : parseGoBool(pemParam)
  if (pem === undefined) {
    ex.text(400, "The 'pem' query parameter must be a boolean value")
    return
  }
  if (pem) {
    const bundle = core.ca.roots.map((r) => [r.ca.rootPem, ...r.intermediates].join('')).join('')
    ex.raw(200, 'application/pem-certificate-chain', bundle, { index: core.board.of('roots') })
    return
  }
  ex.json(200, core.ca.rootsJson(), { index: core.board.of('roots') })
}

async function agentLeaf (core: AgentCore, ex: Exchange, service: string): Promise<void> {
  const params = ex.blocking()
  if (params === undefined) return
  if (service === '') {
    ex.text(400, 'Missing service name')
    return
  }
  if (ex.denied({ resource: 'service', access: 'write', name: service })) return
  // Issued lazily, before blocking: a first blocking request with a stale index gets the new leaf at once.
  await core.ca.leaf(service)
  if (!await ex.hold(`leaf:${service}`, params)) return
  const record = core.ca.peekLeaf(service)!
  const hit = record.storedAt < ex.entry.at
  ex.json(200, leafJson(record), {
    index: record.modifyIndex,
    cache: { hit, ageSeconds: Math.floor((Date.now() - record.storedAt) / 1000) }
  })
}

async function agentAuthorize (core: AgentCore, ex: Exchange): Promise<void> {
  const body = await ex.readJson()
  if ('error' in body || body.value === null || typeof body.value !== 'object' || Array.isArray(body.value)) {
    ex.text(400, `Request decode failed: ${'error' in body ? body.error : 'expected a JSON object'}`)
    return
  }
  // Go's JSON decoder matches field names case-insensitively.
  const target = field(body.value, 'Target')
  const uri = field(body.value, 'ClientCertURI')
  if (typeof target !== 'string' || target === '') {
    ex.text(400, 'Target service must be specified')
    return
  }
  let client
  try {
    client = parseSpiffeId(typeof uri === 'string' ? uri : '')
  } catch {
    ex.text(400, 'ClientCertURI not a valid Connect identifier')
    return
  }
  if (client.kind !== 'service') {
    ex.text(400, 'ClientCertURI not a valid Service identifier')
    return
  }
  if (ex.denied({ resource: 'service', access: 'write', name: target })) return
  if (client.partition !== 'default') {
    ex.text(400, `Mismatched partitions: ${JSON.stringify(client.partition)} != "default"`)
    return
  }
  const match = core.intentions.decide({ name: client.service, namespace: client.namespace, partition: client.partition }, { name: target })
  let authorized: boolean
  let reason: string
  if (match !== undefined) {
    authorized = intentionAllows(match)
    reason = `Matched ${(match.Permissions?.length ?? 0) > 0 ? 'L7' : 'L4'} intention: ${describeIntention(match)}`
  } else if (core.defaultIntentionPolicy !== undefined) {
    authorized = core.defaultIntentionPolicy === 'allow'
    reason = 'Default intention policy'
  } else {
    authorized = core.aclDefaultAllow
    reason = 'Default behavior configured by ACLs'
  }
  // The agent answers from its intention-match cache, which it keeps fresh: a hit.
  ex.json(200, { Authorized: authorized, Reason: reason }, { index: core.board.of('intentions'), cache: { hit: true, ageSeconds: 0 } })
}

async function agentSelf (core: AgentCore, ex: Exchange): Promise<void> {
  if (ex.denied({ resource: 'agent', access: 'read', name: core.nodeName })) return
  ex.json(200, {
    Config: {
      Datacenter: core.datacenter,
      PrimaryDatacenter: core.datacenter,
      NodeName: core.nodeName,
      NodeID: core.nodeId,
      Revision: 'testagent',
      Server: true,
      Version: core.version,
      BuildDate: '2025-01-01T00:00:00Z'
    },
    DebugConfig: {
      ConnectEnabled: true,
      ACLsEnabled: core.aclEnabled,
      Datacenter: core.datacenter,
      NodeName: core.nodeName
    },
    Coord: null,
    Member: { Name: core.nodeName, Addr: '127.0.0.1', Port: 8301, Tags: { dc: core.datacenter, role: 'consul', vsn: '2' }, Status: 1 },
    Stats: { consul: { server: 'true', leader: 'true', known_datacenters: '1' } },
    Meta: { 'consul-network-segment': '', 'consul-version': core.version }
  })
}

async function caConfiguration (core: AgentCore, ex: Exchange): Promise<void> {
  if (ex.method === 'GET') {
    if (ex.denied({ resource: 'operator', access: 'write' })) return
    ex.json(200, caConfigJson(core), { index: core.board.of('ca-config') })
    return
  }
  const body = await ex.readJson()
  if ('error' in body || body.value === null || typeof body.value !== 'object' || Array.isArray(body.value)) {
    ex.text(400, `Request decode failed: ${'error' in body ? body.error : 'expected a JSON object'}`)
    return
  }
  if (ex.denied({ resource: 'operator', access: 'write' })) return
  const provider = field(body.value, 'Provider')
  if (provider !== 'consul') {
    ex.text(400, `Request decode failed: the TestAgent supports only the "consul" CA provider, got ${JSON.stringify(provider)}`)
    return
  }
  const config = field(body.value, 'Config')
  const ttl = config !== null && typeof config === 'object' ? field(config, 'LeafCertTTL') : undefined
  const leafTtlMs = typeof ttl === 'string' ? parseGoDuration(ttl) : undefined
  if (ttl !== undefined && (leafTtlMs === undefined || leafTtlMs <= 0)) {
    ex.text(500, `Error parsing LeafCertTTL: ${JSON.stringify(ttl)}`)
    return
  }
  await core.rotate(leafTtlMs)
  ex.raw(200, undefined, '', { index: core.board.of('ca-config') })
}

async function healthConnect (core: AgentCore, ex: Exchange, service: string): Promise<void> {
  const params = ex.blocking()
  if (params === undefined) return
  if (service === '') {
    ex.text(400, 'Missing service name')
    return
  }
  // `?passing` with no value means true (the agent's getBoolQueryParam).
  const passing = ex.query.get('passing')
  const passingOnly = passing === null ? false : passing === '' ? true : parseGoBool(passing)
  if (passingOnly === undefined) {
    ex.text(400, 'Invalid value for ?passing')
    return
  }
  if (ex.denied({ resource: 'service', access: 'read', name: service, plain: true })) return
  if (!await ex.hold('catalog', params)) return
  ex.json(200, core.catalog.connectJson(service, passingOnly), { index: core.board.of('catalog') })
}

async function statusLeader (_core: AgentCore, ex: Exchange): Promise<void> {
  ex.json(200, '127.0.0.1:8300')
}

function caConfigJson (core: AgentCore): Record<string, unknown> {
  const index = core.board.of('ca-config')
  return {
    Provider: 'consul',
    Config: {
      LeafCertTTL: `${core.ca.leafTtlMs / 1000}s`,
      IntermediateCertTTL: '8760h',
      RootCertTTL: '87600h',
      PrivateKeyType: 'ec',
      PrivateKeyBits: 256
    },
    State: null,
    ForceWithoutCrossSigning: false,
    CreateIndex: index,
    ModifyIndex: index
  }
}

/** Go's `strconv.ParseBool`: `undefined` for anything else. */
function parseGoBool (text: string): boolean | undefined {
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(text)) return true
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(text)) return false
  return undefined
}

/** A JSON object's field by name, matched as Go's decoder does: exactly first, then case-insensitively. */
export function field (object: object, name: string): unknown {
  const record = object as Record<string, unknown>
  if (Object.hasOwn(record, name)) return record[name]
  const key = Object.keys(record).find((k) => k.toLowerCase() === name.toLowerCase())
  return key === undefined ? undefined : record[key]
}
