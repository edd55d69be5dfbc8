/**
 * Unit tests for a service's own authorization rules, as a team would write them: the intentions of `db`
 * kept as data beside the code, decided by the library exactly as Consul (and its Envoy data plane) would
 * decide them, with no agent and no network. A rule change that lets the wrong caller in fails CI here,
 * before it is written to Consul.
 *
 * Run it: `npx mocha examples/authorization-rules.test.ts` (the project's .mocharc loads tsx).
 *
 * Published imports:
 *   import { Intentions, parseSpiffeId, hasCode } from 'consul-connect-native'
 *   import type { HttpRequestInfo, IntentionInput, SourceService } from 'consul-connect-native'
 */
import assert from 'node:assert/strict'
import { Intentions, hasCode, parseSpiffeId } from '../lib/index.js'
import type { HttpRequestInfo, IntentionInput, SourceService, SpiffeId } from '../lib/index.js'

/**
 * db's intentions, as plain objects with the fields of Consul's Intention JSON (a `service-intentions`
 * config entry says the same with `Sources: [{ Name, Namespace, Action, Permissions }]`).
 * The list order does not matter: Consul's precedence does (exact names before wildcards).
 */
const DB_INTENTIONS: readonly IntentionInput[] = [
  // The web front end may do anything.
  { SourceName: 'web', Action: 'allow' },
  // Reporting: read orders, but never the bulk export; GraphQL only with a tenant header. First match wins.
  {
    SourceName: 'reports',
    Permissions: [
      { Action: 'deny', HTTP: { PathExact: '/orders/export' } },
      { Action: 'allow', HTTP: { PathPrefix: '/orders', Methods: ['GET', 'HEAD'] } },
      { Action: 'allow', HTTP: { PathExact: '/graphql', Methods: ['POST'], Header: [{ Name: 'x-tenant', Present: true }] } }
    ]
  },
  // Every service of the billing namespace (Consul Enterprise)...
  { SourceNS: 'billing', SourceName: '*', Action: 'allow' },
  // ...except the exporter: an exact name outranks the namespace wildcard, wherever it is listed.
  { SourceNS: 'billing', SourceName: 'exporter', Action: 'deny' }
]

/** db is deny-by-default: whatever no intention allows is refused. */
const rules = new Intentions(DB_INTENTIONS, { destination: 'db', defaultAllow: false, defaultReason: 'db denies by default' })

function request (method: string, path: string, headers: Record<string, string> = {}): HttpRequestInfo {
  return { method, path, headers }
}

describe('examples: authorization rules of db', () => {
  describe('connections (L4: raw TLS servers, and every HTTP connection before its requests)', () => {
    const cases: Array<[string, SourceService, boolean, RegExp]> = [
      ['web is allowed', { service: 'web' }, true, /^Matched L4 intention: default\/web => default\/db .*ALLOW/],
      ['billing services are allowed by the namespace wildcard', { service: 'invoices', namespace: 'billing' }, true, /billing\/\* => default\/db/],
      ['billing/exporter is denied: the exact intention outranks the wildcard', { service: 'exporter', namespace: 'billing' }, false, /billing\/exporter => default\/db .*DENY/],
      ['a service named like a billing one, in another namespace, gets the default', { service: 'invoices' }, false, /^db denies by default$/],
      ['an unknown service gets the default', { service: 'api' }, false, /^db denies by default$/],
      // An intention with Permissions needs a request: a raw TLS server refuses, as Consul's authorize does.
      // (HTTP servers accept such a connection and decide each request, see below.)
      ['reports has only L7 permissions: a connection alone is denied', { service: 'reports' }, false, /^Matched L7 intention/]
    ]
    for (const [what, source, allowed, reason] of cases) {
      it(what, () => {
        const decision = rules.decide({ source })
        assert.equal(decision.allowed, allowed, decision.reason)
        assert.equal(decision.layer, 'L4')
        assert.match(decision.reason, reason)
      })
    }
  })

  describe('HTTP requests (L7)', () => {
    const cases: Array<[string, SourceService, HttpRequestInfo, boolean, RegExp]> = [
      ['web may DELETE: an L4 intention decides every request', { service: 'web' }, request('DELETE', '/orders/7'), true, /Matched L4 intention/],
      ['reports may GET an order', { service: 'reports' }, request('GET', '/orders/7'), true, /Permissions\[1\]: ALLOW/],
      ['reports may HEAD the orders list', { service: 'reports' }, request('HEAD', '/orders'), true, /Permissions\[1\]: ALLOW/],
      ['reports may not GET the export, though /orders is allowed: first match wins', { service: 'reports' }, request('GET', '/orders/export'), false, /Permissions\[0\]: DENY/],
      ['reports may not POST orders: no permission matches, so the default decides', { service: 'reports' }, request('POST', '/orders'), false, /no permission matched the request; db denies by default/],
      ['reports may POST GraphQL with a tenant header', { service: 'reports' }, request('POST', '/graphql', { 'x-tenant': 'acme' }), true, /Permissions\[2\]: ALLOW/],
      ['reports may not POST GraphQL without one', { service: 'reports' }, request('POST', '/graphql'), false, /db denies by default/],
      ['header names match case-insensitively', { service: 'reports' }, request('POST', '/graphql', { 'X-Tenant': 'acme' }), true, /Permissions\[2\]: ALLOW/],
      ['an unknown service is denied by the default', { service: 'api' }, request('GET', '/orders/7'), false, /^db denies by default$/]
    ]
    for (const [what, source, req, allowed, reason] of cases) {
      it(what, () => {
        const decision = rules.decide({ source, request: req })
        assert.equal(decision.allowed, allowed, decision.reason)
        assert.equal(decision.layer, 'L7')
        assert.match(decision.reason, reason)
      })
    }
  })

  describe('peers as the TLS layer sees them (SPIFFE IDs)', () => {
    const id = (uri: string): SpiffeId => parseSpiffeId(uri)

    it('decides on service, namespace and partition; trust domain and datacenter do not matter (as in Consul)', () => {
      assert.equal(rules.decide({ source: id('spiffe://11111111-2222-3333-4444-555555555555.consul/ns/default/dc/dc1/svc/web') }).allowed, true)
      assert.equal(rules.decide({ source: id('spiffe://aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee.consul/ns/default/dc/eu-west/svc/web') }).allowed, true)
      assert.equal(rules.decide({ source: id('spiffe://11111111-2222-3333-4444-555555555555.consul/ns/billing/dc/dc1/svc/exporter') }).allowed, false)
    })

    it('never authorizes an identity that is not a service (a client agent here)', () => {
      const decision = rules.decide({ source: id('spiffe://11111111-2222-3333-4444-555555555555.consul/agent/client/dc/dc1/id/node-1') })
      assert.equal(decision.allowed, false)
      assert.match(decision.reason, /not a service/)
    })
  })

  describe('rules copied from Consul (GET /v1/connect/intentions/match?by=destination&name=db)', () => {
    // An answer as consul 1.22 returns it, pasted as is (the destination is the answer's only key).
    const MATCH_ANSWER = `{
      "db": [
        { "SourceNS": "default", "SourceName": "reports", "DestinationNS": "default", "DestinationName": "db",
          "SourceType": "consul", "Precedence": 9, "CreateIndex": 65, "ModifyIndex": 65,
          "Permissions": [
            { "Action": "deny", "HTTP": { "PathExact": "/orders/export" } },
            { "Action": "allow", "HTTP": { "PathPrefix": "/orders", "Methods": ["GET", "HEAD"] } }
          ] },
        { "SourceNS": "default", "SourceName": "web", "DestinationNS": "default", "DestinationName": "db",
          "SourceType": "consul", "Action": "allow", "Precedence": 9, "CreateIndex": 65, "ModifyIndex": 65 },
        { "SourceNS": "default", "SourceName": "*", "DestinationNS": "default", "DestinationName": "db",
          "SourceType": "consul", "Action": "deny", "Precedence": 8, "CreateIndex": 65, "ModifyIndex": 65 }
      ]
    }`
    // defaultAllow: what the cluster does when nothing matches (ACLs off: allow); here the `*` deny decides anyway.
    const fromConsul = new Intentions(JSON.parse(MATCH_ANSWER) as Record<string, IntentionInput[]>, { defaultAllow: true })

    it('reads the destination and every intention', () => {
      assert.equal(fromConsul.destination, 'db')
      assert.equal(fromConsul.size, 3)
      assert.equal(fromConsul.hasL7, true)
    })

    it('lets web in, and reports read orders but not the export', () => {
      assert.equal(fromConsul.decide({ source: { service: 'web' } }).allowed, true)
      assert.equal(fromConsul.decide({ source: { service: 'reports' }, request: request('GET', '/orders/1') }).allowed, true)
      assert.equal(fromConsul.decide({ source: { service: 'reports' }, request: request('GET', '/orders/export') }).allowed, false)
    })

    it('denies everyone else through the wildcard intention, not the default', () => {
      const decision = fromConsul.decide({ source: { service: 'api' } })
      assert.equal(decision.allowed, false)
      assert.match(decision.reason, /Matched L4 intention: default\/\* => default\/db .*DENY/)
    })

    it('a request from reports that no permission matches gets the default, not the wildcard deny (as Envoy does)', () => {
      const decision = fromConsul.decide({ source: { service: 'reports' }, request: request('POST', '/orders') })
      assert.equal(decision.allowed, true)
      assert.match(decision.reason, /no permission matched the request/)
    })
  })

  describe('catching mistakes before they reach Consul', () => {
    it('refuses an unknown action, naming the intention and the field', () => {
      assert.throws(() => new Intentions([{ SourceName: 'web', Action: 'alow' }], { destination: 'db', defaultAllow: false }),
        (err: unknown) => hasCode(err, 'ERR_CONNECT_INTENTION_INVALID') && /default\/web => default\/db.*Action/.test((err as Error).message))
    })

    it('refuses the same source twice', () => {
      assert.throws(() => new Intentions([{ SourceName: 'web', Action: 'allow' }, { SourceName: 'web', Action: 'deny' }], { destination: 'db', defaultAllow: false }),
        (err: unknown) => hasCode(err, 'ERR_CONNECT_INTENTION_INVALID') && /more than once/.test((err as Error).message))
    })

    it('refuses a permission without a valid path rule', () => {
      assert.throws(() => new Intentions([{ SourceName: 'reports', Permissions: [{ Action: 'allow', HTTP: { PathPrefix: 'orders' } }] }], { destination: 'db', defaultAllow: false }),
        (err: unknown) => hasCode(err, 'ERR_CONNECT_INTENTION_INVALID'))
    })
  })
})
