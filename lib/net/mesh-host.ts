/**
 * parseMeshHost: reads a mesh target from a Consul DNS-style hostname, so URLs such as
 * `https://db.service.consul/x` or `wss://chat.service.dc2.consul/room` name services.
 *
 * Accepted forms (`<domain>` is `consul` unless configured; labels are case-insensitive):
 * - `<service>.service.<domain>` and `<service>.connect.<domain>` (Consul's mesh-only form; both resolve
 *   mesh-capable instances here);
 * - a locality after the type label, as Consul's DNS server reads it (agent/dns/parser.go):
 *   `.<datacenter>` alone, or up to three `<value>.<key>` pairs in any order with keys `ns` (namespace),
 *   `ap` (admin partition) and `dc` (datacenter; `cluster` is Consul's alias), e.g.
 *   `db.service.billing.ns.eu.ap.dc2.dc.consul`; Enterprise's older `<namespace>.<datacenter>` pair too;
 * - `<query>.query.<domain>` and `<query>.query.<datacenter>.<domain>` (or `.<datacenter>.dc.`): a prepared
 *   query, which takes no namespace or partition labels.
 *
 * Rejected with InvalidOptionError (field `hostname`), each with a message saying why: a name outside the
 * domain, a tag filter (`primary.db.service.consul`) and RFC 2782 (`_db._tcp.service.consul`) forms,
 * `.virtual`, `.ingress`, `.node` and `.workload` names (they name no mesh service identity to verify),
 * cluster peers (`.peer`) and sameness groups (`.sg`), a key given twice, and malformed labels.
 * Unlike Consul, which lets a repeated key overwrite the earlier one, a repeat is an error here.
 */
import { InvalidOptionError } from '../errors.js'
import type { Target } from './resolver.js'

export interface MeshHostOptions {
  /** Consul's DNS `domain` (without dots at the ends). Default `consul`. */
  readonly domain?: string
}

const TYPES = new Set(['service', 'connect', 'query', 'virtual', 'ingress', 'node', 'workload'])
const LABEL = /^[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?$/

/** Parses `hostname` into a frozen {@link Target}; see the module comment for the grammar. */
export function parseMeshHost (hostname: string, options: MeshHostOptions = {}): Target {
  if (typeof hostname !== 'string' || hostname === '') throw new InvalidOptionError('hostname', 'expected a non-empty hostname')
  const domain = normalizeDomain(options.domain ?? 'consul')
  const host = (hostname.endsWith('.') ? hostname.slice(0, -1) : hostname).toLowerCase()
  const shown = JSON.stringify(hostname)
  const fail = (why: string): never => {
    throw new InvalidOptionError('hostname', `${shown} is not a mesh hostname: ${why}`)
  }
  if (!host.endsWith(`.${domain}`)) fail(`expected a name under ".${domain}", such as "db.service.${domain}"`)
  const labels = host.slice(0, -domain.length - 1).split('.')
  for (const label of labels) if (!LABEL.test(label)) fail(`label ${JSON.stringify(label)} is not a DNS label`)

  // As Consul does, the rightmost known type label splits the name: parts before, locality after.
  let at = -1
  for (let i = labels.length - 1; i >= 0; i--) if (TYPES.has(labels[i]!)) { at = i; break }
  if (at === -1) fail(`expected "<service>.service.${domain}" or "<query>.query.${domain}"`)
  const type = labels[at]!
  const parts = labels.slice(0, at)
  const locality = labels.slice(at + 1)
  if (type !== 'service' && type !== 'connect' && type !== 'query') {
    fail(`".${type}." names are not supported (only .service, .connect and .query name an identity to verify)`)
  }
  if (parts.length === 0) fail(`no name before ".${type}"`)
  if (parts.some((part) => part.startsWith('_'))) fail('RFC 2782 names ("_service._tcp") are not supported')
  if (parts.length > 1) fail(type === 'query' ? 'a prepared query name is a single label' : `tag filters ("<tag>.<service>.${type}") are not supported; filter with the resolver instead`)
  const name = parts[0]!
  const where = parseLocality(locality, fail)
  if (type === 'query') {
    if (where.namespace !== undefined || where.partition !== undefined) fail('a prepared query takes no namespace or partition labels')
    return Object.freeze(where.datacenter === undefined ? { query: name } : { query: name, datacenter: where.datacenter })
  }
  return Object.freeze({ service: name, ...where })
}

interface Locality {
  datacenter?: string
  namespace?: string
  partition?: string
}

function parseLocality (labels: readonly string[], fail: (why: string) => never): Locality {
  if (labels.length === 0) return {}
  if (labels.length === 1) return { datacenter: labels[0]! }
  if (labels.length % 2 === 1 || labels.length > 6) fail('expected ".<datacenter>" or up to three "<value>.<ns|ap|dc>" pairs after the type label')
  const out: Locality = {}
  const set = (key: keyof Locality, value: string, label: string): void => {
    if (out[key] !== undefined) fail(`".${label}" is given twice`)
    out[key] = value
  }
  for (let i = 0; i < labels.length; i += 2) {
    const value = labels[i]!
    const key = labels[i + 1]!
    switch (key) {
      case 'ns': set('namespace', value, key); break
      case 'ap': set('partition', value, key); break
      case 'dc': case 'cluster': set('datacenter', value, 'dc'); break
      case 'peer': fail('cluster peers (".peer") are not supported'); break
      case 'sg': fail('sameness groups (".sg") are not supported'); break
      default:
        // Consul Enterprise's older "<namespace>.<datacenter>" form is the only pair without a key.
        if (labels.length === 2) return { namespace: value, datacenter: key }
        fail(`unknown locality label ".${key}" (expected ns, ap or dc)`)
    }
  }
  return out
}

function normalizeDomain (domain: string): string {
  const d = typeof domain === 'string' ? domain.replace(/^\.+|\.+$/g, '').toLowerCase() : ''
  if (d === '' || !d.split('.').every((label) => LABEL.test(label))) {
    throw new InvalidOptionError('domain', `expected a DNS domain such as "consul", got ${JSON.stringify(domain)}`)
  }
  return d
}
