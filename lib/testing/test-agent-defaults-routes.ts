/**
 * The TestAgent's `service-defaults` and `proxy-defaults` config entries over HTTP: the part of
 * `PUT /v1/config` and `GET|DELETE /v1/config/<kind>[/<name>]` for those kinds (the routes themselves are in
 * test-agent-intention-routes.ts, which hands these kinds over).
 *
 * As Consul 1.22.7 answers (agent/config_endpoint.go, agent/consul/config_endpoint.go): a write or delete
 * refused by validation or by an L7 intention answers 500 with Consul's text; a missing entry answers 404
 * `Config entry not found for "<kind>" / "<name>"`; a delete answers `{}` whether or not there was an entry.
 * ACLs: `service:read`/`service:write` on the service for `service-defaults` (lists are filtered),
 * `mesh:write` for writing `proxy-defaults`, which anyone may read.
 */
import type { Exchange } from './test-agent-http.js'
import {
  decodeProxyDefaults, decodeServiceDefaults, proxyDefaultsJson, proxyNameProblem, serviceDefaultsJson
} from './test-agent-defaults.js'
import type { AgentCore } from './test-agent-routes.js'

export const SERVICE_DEFAULTS = 'service-defaults'
export const PROXY_DEFAULTS = 'proxy-defaults'

/** `PUT /v1/config` of a `service-defaults` or `proxy-defaults` entry (`value` is the body, a JSON object). */
export async function defaultsPut (core: AgentCore, ex: Exchange, kind: string, value: object): Promise<void> {
  if (kind === SERVICE_DEFAULTS) {
    const entry = decodeServiceDefaults(value)
    if ('status' in entry) return ex.text(entry.status, entry.text)
    if (ex.denied({ resource: 'service', access: 'write', name: entry.Name ?? '' })) return
    const problem = core.defaults.putService(entry)
    if (problem !== undefined) return ex.text(500, problem)
  } else {
    const entry = decodeProxyDefaults(value)
    if ('status' in entry) return ex.text(entry.status, entry.text)
    if (ex.denied({ resource: 'mesh', access: 'write' })) return
    const problem = core.defaults.putProxy(entry)
    if (problem !== undefined) return ex.text(500, problem)
  }
  ex.json(200, true, { index: core.board.of('defaults') })
}

/** `GET` (one entry, or the kind's list) and `DELETE` of `/v1/config/<kind>[/<name>]` for these kinds. */
export async function defaultsGetOrDelete (core: AgentCore, ex: Exchange, kind: string, name: string | undefined): Promise<void> {
  if (ex.method === 'DELETE') {
    if (name === undefined) return ex.text(404, 'Must provide both a kind and name to delete')
    return defaultsDelete(core, ex, kind, name)
  }
  const params = ex.blocking()
  if (params === undefined) return
  if (name === undefined) {
    if (!await ex.hold('defaults', params)) return
    const entries = kind === SERVICE_DEFAULTS
      ? core.defaults.services().filter((e) => ex.allows({ resource: 'service', access: 'read', name: e.name })).map(serviceDefaultsJson)
      : core.defaults.proxy === undefined ? [] : [proxyDefaultsJson(core.defaults.proxy)]
    return ex.json(200, entries, { index: core.board.of('defaults') })
  }
  if (kind === SERVICE_DEFAULTS && ex.denied({ resource: 'service', access: 'read', name })) return
  if (!await ex.hold('defaults', params)) return
  const json = kind === SERVICE_DEFAULTS
    ? mapDefined(core.defaults.getService({ name }), serviceDefaultsJson)
    : name === 'global' ? mapDefined(core.defaults.proxy, proxyDefaultsJson) : undefined
  if (json === undefined) return ex.text(404, `Config entry not found for ${JSON.stringify(kind)} / ${JSON.stringify(name)}`, { index: core.board.of('defaults') })
  ex.json(200, json, { index: core.board.of('defaults') })
}

async function defaultsDelete (core: AgentCore, ex: Exchange, kind: string, name: string): Promise<void> {
  let outcome
  if (kind === SERVICE_DEFAULTS) {
    if (ex.denied({ resource: 'service', access: 'write', name })) return
    outcome = core.defaults.deleteService({ name })
  } else {
    // `proxy-defaults/` (an empty name) means `global`, as Consul's normalization makes it.
    const problem = proxyNameProblem(name)
    if (problem !== undefined) return ex.text(500, problem)
    if (ex.denied({ resource: 'mesh', access: 'write' })) return
    outcome = core.defaults.deleteProxy()
  }
  if ('problem' in outcome) return ex.text(500, outcome.problem)
  ex.json(200, {}, { index: core.board.of('defaults') })
}

function mapDefined<T, U> (value: T | undefined, map: (value: T) => U): U | undefined {
  return value === undefined ? undefined : map(value)
}
