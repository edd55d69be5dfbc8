/**
 * The TestAgent's intention endpoints: match, check, exact (GET/PUT/DELETE) and `service-intentions`
 * config entries (PUT /v1/config, GET/DELETE /v1/config/<kind>/<name>).
 *
 * Status codes and texts follow Consul's agent/intentions_endpoint.go and agent/config_endpoint.go,
 * including its quirks: a missing query parameter is a 500 (`required query parameter 'by' not set`), a
 * validation failure of a written entry is a 500 with Consul's message, exact-intention ACL denials are the
 * bare `Permission denied`. Config entries of kinds `service-intentions`, `service-defaults` and
 * `proxy-defaults` are stored (the last two are handled in test-agent-defaults-routes.ts); writing another kind
 * is refused with a 400 that says so, reading one finds nothing.
 */
import type { Exchange } from './test-agent-http.js'
import { defaultsGetOrDelete, defaultsPut, PROXY_DEFAULTS, SERVICE_DEFAULTS } from './test-agent-defaults-routes.js'
import { decodeEntry, decodeExactBody } from './test-agent-intention-input.js'
import type { ServiceRef } from './test-agent-intentions.js'
import { intentionAllows, parseServiceRef } from './test-agent-intentions.js'
import type { Intention } from './test-agent-intention-shapes.js'
import { entryJson } from './test-agent-intention-shapes.js'
import type { AgentCore, Route } from './test-agent-routes.js'
import { field } from './test-agent-routes.js'

const KIND = 'service-intentions'

export const intentionRoutes: readonly Route[] = [
  { path: '/v1/connect/intentions/match', methods: ['GET'], enterpriseMeta: true, forwarded: true, handle: match },
  { path: '/v1/connect/intentions/check', methods: ['GET'], enterpriseMeta: true, forwarded: true, handle: check },
  { path: '/v1/connect/intentions/exact', methods: ['GET', 'PUT', 'DELETE'], enterpriseMeta: true, forwarded: true, handle: exact },
  { path: '/v1/config', methods: ['PUT'], forwarded: true, handle: configPut },
  { path: '/v1/config/', prefix: true, methods: ['GET', 'DELETE'], enterpriseMeta: true, forwarded: true, handle: configGetOrDelete }
]

async function match (core: AgentCore, ex: Exchange): Promise<void> {
  const params = ex.blocking()
  if (params === undefined) return
  const by = ex.query.getAll('by')
  if (by.length !== 1) return ex.text(500, "required query parameter 'by' not set")
  if (by[0] !== 'source' && by[0] !== 'destination') return ex.text(500, "'by' parameter must be one of 'source' or 'destination'")
  const names = ex.query.getAll('name')
  if (names.length === 0) return ex.text(500, "required query parameter 'name' not set")
  const refs: ServiceRef[] = []
  for (const name of names) {
    const ref = parseServiceRef(name, false)
    if (typeof ref === 'string') return ex.text(500, `name ${JSON.stringify(name)} is invalid: ${ref}`)
    refs.push(ref)
  }
  for (const ref of refs) {
    if (ex.denied({ resource: 'intention', access: 'read', name: ref.name })) return
  }
  if (!await ex.hold('intentions', params)) return
  const answer: Record<string, Intention[]> = {}
  for (const [i, ref] of refs.entries()) {
    answer[names[i]!] = by[0] === 'destination' ? core.intentions.matchDestination(ref) : core.intentions.matchSource(ref)
  }
  ex.json(200, answer, { index: core.board.of('intentions') })
}

async function check (core: AgentCore, ex: Exchange): Promise<void> {
  const sourceType = ex.query.get('source-type') ?? 'consul'
  const ends = requiredEnds(ex, false)
  if (ends === undefined) return
  if (sourceType !== 'consul') return ex.text(500, `unsupported SourceType: ${JSON.stringify(sourceType)}`)
  if (ex.denied({ resource: 'service', access: 'read', name: ends.destination.name })) return
  const decision = core.intentions.decide(ends.source, ends.destination)
  // Consul 1.22.7 answers check from the servers, which never see the agent's default_intention_policy: the ACL
  // default applies even when that setting says otherwise (proven in test/integration/intentions-differential).
  const allowed = decision !== undefined ? intentionAllows(decision) : core.aclDefaultAllow
  ex.json(200, { Allowed: allowed }, { index: core.board.of('intentions') })
}

async function exact (core: AgentCore, ex: Exchange): Promise<void> {
  if (ex.method === 'GET') return exactGet(core, ex)
  const ends = requiredEnds(ex, true)
  if (ends === undefined) return
  if (ex.method === 'PUT') {
    const raw = await ex.readJson()
    const body = 'error' in raw ? raw.error : decodeExactBody(raw.value)
    if (typeof body === 'string') return ex.text(400, `Request decode failed: ${body}`)
    if (ex.denied({ resource: 'intention', access: 'write', name: ends.destination.name, plain: true })) return
    const problem = core.intentions.upsertExact(ends.source, ends.destination, body)
    if (problem !== undefined) return ex.text(500, problem)
    return ex.json(200, true, { index: core.board.of('intentions') })
  }
  if (ex.denied({ resource: 'intention', access: 'write', name: ends.destination.name, plain: true })) return
  core.intentions.deleteExact(ends.source, ends.destination) // idempotent, as Consul's by-name delete is
  ex.json(200, true, { index: core.board.of('intentions') })
}

async function exactGet (core: AgentCore, ex: Exchange): Promise<void> {
  const params = ex.blocking()
  if (params === undefined) return
  const ends = requiredEnds(ex, false, true)
  if (ends === undefined || !await ex.hold('intentions', params)) return
  const intention = core.intentions.exact(ends.source, ends.destination)
  if (intention === undefined) return ex.text(404, 'Intention not found', { index: core.board.of('intentions') })
  // Read access on either end lets one read the intention (Consul's Intention.CanRead).
  const sourceReadable = ends.source.peer === undefined && ex.allows({ resource: 'intention', access: 'read', name: intention.SourceName })
  if (!sourceReadable && ex.denied({ resource: 'intention', access: 'read', name: intention.DestinationName, plain: true })) return
  ex.json(200, intention, { index: core.board.of('intentions') })
}

async function configPut (core: AgentCore, ex: Exchange): Promise<void> {
  const raw = await ex.readJson()
  if ('error' in raw) return ex.text(400, `Request decoding failed: ${raw.error}`)
  const value = raw.value
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return ex.text(400, 'Request decoding failed: expected a JSON object')
  const kind = field(value, 'Kind')
  if (typeof kind !== 'string' || kind === '') return ex.text(400, 'Request decoding failed: Payload does not contain a kind/Kind key at the top level')
  if (kind === SERVICE_DEFAULTS || kind === PROXY_DEFAULTS) return defaultsPut(core, ex, kind, value)
  if (kind !== KIND) {
    return ex.text(400, `Request decoding failed: the TestAgent stores only config entries of kinds "${KIND}", "${SERVICE_DEFAULTS}" and "${PROXY_DEFAULTS}", got ${JSON.stringify(kind)}`)
  }
  const entry = decodeEntry(value)
  if (typeof entry === 'string') return ex.text(400, `Request decoding failed: ${entry}`)
  if (ex.denied({ resource: 'intention', access: 'write', name: entry.Name ?? '' })) return
  const problem = core.intentions.put(entry)
  if (problem !== undefined) return ex.text(500, problem)
  ex.json(200, true, { index: core.board.of('intentions') })
}

async function configGetOrDelete (core: AgentCore, ex: Exchange, kindAndName: string): Promise<void> {
  const slash = kindAndName.indexOf('/')
  const kind = slash < 0 ? kindAndName : kindAndName.slice(0, slash)
  const name = slash < 0 ? undefined : kindAndName.slice(slash + 1)
  if (kind === SERVICE_DEFAULTS || kind === PROXY_DEFAULTS) return defaultsGetOrDelete(core, ex, kind, name)
  if (ex.method === 'DELETE') {
    if (name === undefined) return ex.text(404, 'Must provide both a kind and name to delete')
    if (kind === KIND) {
      if (ex.denied({ resource: 'intention', access: 'write', name })) return
      core.intentions.delete({ name })
    }
    return ex.json(200, {}, { index: core.board.of('intentions') })
  }
  const params = ex.blocking()
  if (params === undefined) return
  if (name === undefined) {
    if (!await ex.hold('intentions', params)) return
    // A list is filtered by ACLs rather than refused.
    const entries = kind === KIND ? core.intentions.entries().filter((e) => ex.allows({ resource: 'intention', access: 'read', name: e.name })) : []
    return ex.json(200, entries.map(entryJson), { index: core.board.of('intentions') })
  }
  if (kind === KIND && ex.denied({ resource: 'intention', access: 'read', name })) return
  if (!await ex.hold('intentions', params)) return
  const entry = kind === KIND ? core.intentions.get({ name }) : undefined
  if (entry === undefined) return ex.text(404, `Config entry not found for ${JSON.stringify(kind)} / ${JSON.stringify(name)}`, { index: core.board.of('intentions') })
  ex.json(200, entryJson(entry), { index: core.board.of('intentions') })
}

/**
 * The `source` and `destination` parameters, parsed; answers Consul's 500 and returns `undefined` when one
 * is missing or malformed. `refuseEmpty` refuses empty values too (the write endpoints do); `allowPeerSource`
 * accepts `peer:<p>/<name>` sources (the exact GET does).
 */
function requiredEnds (ex: Exchange, refuseEmpty: boolean, allowPeerSource = false): { source: ServiceRef, destination: ServiceRef } | undefined {
  const ends: Partial<Record<'source' | 'destination', ServiceRef>> = {}
  for (const end of ['source', 'destination'] as const) {
    const values = ex.query.getAll(end)
    if (values.length !== 1 || (refuseEmpty && values[0] === '')) {
      ex.text(500, `required query parameter '${end}' not set`)
      return undefined
    }
    const ref = parseServiceRef(values[0]!, end === 'source' && allowPeerSource)
    if (typeof ref === 'string') {
      ex.text(500, `${end} ${JSON.stringify(values[0])} is invalid: ${ref}`)
      return undefined
    }
    ends[end] = ref
  }
  return { source: ends.source!, destination: ends.destination! }
}
