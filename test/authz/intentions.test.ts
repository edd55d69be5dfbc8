import assert from 'node:assert/strict'
import { intentionsMatchSchema } from '../../lib/agent/schemas.js'
import type { HttpRequestInfo } from '../../lib/authz/authorizer.js'
import { Intentions } from '../../lib/authz/intentions.js'
import type { IntentionInput, SourceService } from '../../lib/authz/intentions.js'
import { ConnectError, InvalidOptionError } from '../../lib/errors.js'
import { parseSpiffeId } from '../../lib/spiffe-id.js'

const TD = '11111111-2222-3333-4444-555555555555.consul'
const svc = (name: string, ns = 'default'): ReturnType<typeof parseSpiffeId> => parseSpiffeId(`spiffe://${TD}/ns/${ns}/dc/dc1/svc/${name}`)
const get = (path: string, headers: HttpRequestInfo['headers'] = {}): HttpRequestInfo => ({ method: 'GET', path, headers })

// A match answer as a Consul 1.22 agent writes it (fields, order and shapes from a real `-dev` agent).
const ANSWER = {
  db: [
    {
      SourceNS: 'default', SourceName: 'api', DestinationNS: 'default', DestinationName: 'db', SourceType: 'consul',
      Permissions: [
        { Action: 'deny', HTTP: { PathPrefix: '/admin' } },
        { Action: 'allow', HTTP: { PathPrefix: '/', Methods: ['GET'] } }
      ],
      Precedence: 9, CreateIndex: 17, ModifyIndex: 17
    },
    { SourceNS: 'default', SourceName: 'web', DestinationNS: 'default', DestinationName: 'db', SourceType: 'consul', Action: 'allow', Precedence: 9, CreateIndex: 17, ModifyIndex: 17 },
    { SourceNS: 'default', SourceName: 'web', DestinationNS: 'default', DestinationName: 'db', SourcePeer: 'other', SourceType: 'consul', Action: 'deny', Precedence: 9, CreateIndex: 17, ModifyIndex: 17 },
    { SourceNS: 'default', SourceName: '*', DestinationNS: 'default', DestinationName: 'db', SourceType: 'consul', Action: 'deny', Precedence: 8, CreateIndex: 17, ModifyIndex: 17 },
    { SourceNS: 'default', SourceName: 'billing', DestinationNS: 'default', DestinationName: '*', SourceType: 'consul', Action: 'allow', Precedence: 6, CreateIndex: 18, ModifyIndex: 18 }
  ]
}

describe('Intentions', () => {
  describe('constructor', () => {
    it('indexes a match answer, taking the destination from its only key', () => {
      const ix = new Intentions(ANSWER, { defaultAllow: true })
      assert.equal(ix.destination, 'db')
      assert.equal(ix.size, 5)
      assert.equal(ix.hasL7, true)
      assert.equal(ix.defaultAllow, true)
    })

    it('accepts the answer as the agent client parses it, keeping permissions in one canonical form', () => {
      const parsed = intentionsMatchSchema.parse(ANSWER)
      const ix = new Intentions(parsed, { defaultAllow: false })
      assert.deepEqual(ix.intentions, new Intentions(ANSWER, { defaultAllow: false }).intentions)
    })

    it('picks the destination option among several, and needs it then', () => {
      const answer = { db: ANSWER.db, cache: null }
      assert.equal(new Intentions(answer, { defaultAllow: true, destination: 'cache' }).size, 0)
      assert.throws(() => new Intentions(answer, { defaultAllow: true }), (err: unknown) => err instanceof InvalidOptionError && err.field === 'destination')
      assert.throws(() => new Intentions(answer, { defaultAllow: true, destination: 'web' }), /no list for "web" \(it has "db", "cache"\)/)
    })

    it('accepts a list of plain intentions, filling in namespaces and precedence', () => {
      const ix = new Intentions([{ SourceName: '*', Action: 'deny' }, { SourceName: 'web', Action: 'allow' }], { defaultAllow: false, destination: 'db' })
      assert.deepEqual(ix.intentions.map((i) => [i.SourceNS, i.SourceName, i.DestinationNS, i.DestinationName, i.Precedence]), [
        ['default', 'web', 'default', 'db', 9],
        ['default', '*', 'default', 'db', 8]
      ])
    })

    it('orders intentions by precedence, whatever the input order', () => {
      const ix = new Intentions([...ANSWER.db].reverse(), { defaultAllow: true, destination: 'db' })
      assert.deepEqual(ix.intentions.map((i) => `${i.SourcePeer ?? ''}/${i.SourceName}=>${i.DestinationName}`), [
        '/api=>db', '/web=>db', 'other/web=>db', '/*=>db', '/billing=>*'
      ])
    })

    it('keeps deeply frozen copies of the intentions', () => {
      const input: IntentionInput[] = [{ SourceName: 'api', Permissions: [{ Action: 'allow', HTTP: { PathPrefix: '/' } }] }]
      const ix = new Intentions(input, { defaultAllow: false, destination: 'db' })
      assert.ok(Object.isFrozen(ix))
      assert.ok(Object.isFrozen(ix.intentions))
      assert.ok(Object.isFrozen(ix.intentions[0]!.Permissions![0]!.HTTP))
      assert.notEqual(ix.intentions[0]!.Permissions, input[0]!.Permissions)
    })

    // [intentions, the message must match] — each names the intention and the field.
    const invalid: Array<[string, unknown[], RegExp]> = [
      ['an unknown action', [{ SourceName: 'web', Action: 'permit' }], /\[0\] \(default\/web => default\/db\): Action must be "allow" or "deny", got "permit"/],
      ['no action and no permissions', [{ SourceName: 'web' }], /Action must be "allow" or "deny", got undefined/],
      ['both action and permissions', [{ SourceName: 'web', Action: 'allow', Permissions: [{ Action: 'allow', HTTP: { PathExact: '/' } }] }], /Action must be omitted when Permissions are given/],
      ['a partial wildcard name', [{ SourceName: 'we*', Action: 'allow' }], /SourceName cannot use the wildcard "\*" with a partial value, got "we\*"/],
      ['a partial wildcard namespace', [{ SourceName: '*', SourceNS: 'te*', Action: 'allow' }], /SourceNS cannot use the wildcard/],
      ['an exact name under a wildcard namespace', [{ SourceName: 'web', SourceNS: '*', Action: 'allow' }], /SourceName cannot be exact \("web"\) under a wildcard namespace/],
      ['a wildcard partition', [{ SourceName: 'web', SourcePartition: '*', Action: 'allow' }], /SourcePartition cannot contain the wildcard/],
      ['a wildcard peer', [{ SourceName: 'web', SourcePeer: 'p*', Action: 'allow' }], /SourcePeer cannot contain the wildcard/],
      ['a partial wildcard destination', [{ SourceName: 'web', DestinationName: 'd*', Action: 'allow' }], /DestinationName cannot use the wildcard/],
      ['another destination', [{ SourceName: 'web', DestinationName: 'cache', Action: 'allow' }], /DestinationName "cache" does not cover the destination "db"/],
      ['permissions on a wildcard destination', [{ SourceName: 'web', DestinationName: '*', Permissions: [{ Action: 'allow', HTTP: { PathExact: '/' } }] }], /Permissions cannot be given for a wildcard destination/],
      ['an invalid permission regex', [{ SourceName: 'web', Permissions: [{ Action: 'allow', HTTP: { PathRegex: '(?!x)' } }] }], /Permissions\[0\]\.HTTP\.PathRegex is not a supported RE2 expression: lookaround/],
      ['a bad method', [{ SourceName: 'web', Permissions: [{ Action: 'allow', HTTP: { Methods: ['BREW'] } }] }], /Permissions\[0\]\.HTTP\.Methods contains an invalid method "BREW"/],
      ['a JWT requirement', [{ SourceName: 'web', Action: 'allow', JWT: { Providers: [] } }], /JWT is not supported/],
      ['another source type', [{ SourceName: 'web', Action: 'allow', SourceType: 'external-uri' }], /SourceType must be "consul"/],
      ['an empty source name', [{ SourceName: '', Action: 'allow' }], /SourceName is required/],
      ['a missing source name', [{ Action: 'allow' }], /invalid intention \[0\]: SourceName: /],
      ['a non-string field', [{ SourceName: 'web', SourceNS: 7, Action: 'allow' }], /invalid intention \[0\]: SourceNS: /],
      ['a fractional precedence', [{ SourceName: 'web', Action: 'allow', Precedence: 8.5 }], /Precedence/],
      ['the same source twice', [{ SourceName: 'web', Action: 'allow' }, { SourceName: 'web', Action: 'deny' }], /default\/web => default\/db \(Precedence: 9, Action: .*\): defined more than once/]
    ]
    for (const [what, list, message] of invalid) {
      it(`refuses ${what}`, () => {
        assert.throws(() => new Intentions(list as IntentionInput[], { defaultAllow: true, destination: 'db' }), (err: unknown) => {
          assert.ok(err instanceof ConnectError)
          assert.equal(err.code, 'ERR_CONNECT_INTENTION_INVALID')
          assert.match(err.message, message)
          return true
        })
      })
    }

    it('names the destination list in errors about a match answer', () => {
      assert.throws(() => new Intentions({ db: [ANSWER.db[1], { SourceName: 'x' }] } as never, { defaultAllow: true }), /invalid intention db\[1\] \(default\/x => default\/db\)/)
    })

    it('validates its options, naming them', () => {
      const fieldOf = (fn: () => unknown): string => {
        try { fn() } catch (err) { if (err instanceof InvalidOptionError) return err.field }
        return 'no error'
      }
      assert.equal(fieldOf(() => new Intentions([], {} as never)), 'defaultAllow')
      assert.equal(fieldOf(() => new Intentions([], { defaultAllow: 'yes' } as never)), 'defaultAllow')
      assert.equal(fieldOf(() => new Intentions([], { defaultAllow: true, destination: '' })), 'destination')
      assert.equal(fieldOf(() => new Intentions([], undefined as never)), 'options')
    })
  })

  describe('.fromMatchAnswer', () => {
    it('builds from the answer for the destination', () => {
      const ix = Intentions.fromMatchAnswer(ANSWER, 'db', { defaultAllow: false })
      assert.equal(ix.destination, 'db')
      assert.equal(ix.decide({ source: svc('web') }).allowed, true)
    })

    it('refuses what is not an answer object', () => {
      for (const json of [null, [], 'db', 3]) {
        assert.throws(() => Intentions.fromMatchAnswer(json, 'db', { defaultAllow: true }), (err: unknown) => err instanceof ConnectError && err.code === 'ERR_CONNECT_INTENTION_INVALID')
      }
    })
  })

  describe('#decide (connections)', () => {
    // Precedence, wildcards, namespaces, partitions and peers, with Consul's exact reasons.
    const intentions: IntentionInput[] = [
      { SourceName: 'web', Action: 'allow' },
      { SourceName: 'admin', Action: 'deny', ID: 'legacy-id' },
      { SourceName: '*', Action: 'deny' },
      { SourceNS: 'team', SourceName: '*', Action: 'allow' },
      { SourceNS: '*', SourceName: '*', Action: 'allow' },
      { SourceName: 'web', SourcePeer: 'other', Action: 'deny' },
      { SourceName: 'web', SourcePartition: 'ap1', Action: 'deny' },
      { SourceName: 'billing', DestinationName: '*', Action: 'allow' },
      { SourceName: 'ops', DestinationNS: 'default', DestinationName: '*', DestinationPartition: 'default', Action: 'allow' },
      { SourceName: 'api', Permissions: [{ Action: 'allow', HTTP: { PathPrefix: '/' } }] }
    ]
    const ix = new Intentions(intentions, { defaultAllow: true, destination: 'db' })
    const table: Array<[string, SourceService | ReturnType<typeof parseSpiffeId>, boolean, string]> = [
      ['an exact allow', svc('web'), true, 'Matched L4 intention: default/web => default/db (Precedence: 9, Action: ALLOW)'],
      ['an exact deny, with its legacy ID', svc('admin'), false, 'Matched L4 intention: default/admin => default/db (ID: legacy-id, Precedence: 9, Action: DENY)'],
      ['a wildcard name before a wildcard destination', svc('billing'), false, 'Matched L4 intention: default/* => default/db (Precedence: 8, Action: DENY)'],
      ['a wildcard name for an absent service', svc('nobody'), false, 'Matched L4 intention: default/* => default/db (Precedence: 8, Action: DENY)'],
      ['a namespace wildcard', svc('web', 'team'), true, 'Matched L4 intention: team/* => default/db (Precedence: 8, Action: ALLOW)'],
      ['a wildcard namespace', svc('web', 'elsewhere'), true, 'Matched L4 intention: */* => default/db (Precedence: 7, Action: ALLOW)'],
      ['the same name by parts', { service: 'web' }, true, 'Matched L4 intention: default/web => default/db (Precedence: 9, Action: ALLOW)'],
      ['a peered source', { service: 'web', peer: 'other' }, false, 'Matched L4 intention: peer(other)/default/web => default/db (Precedence: 9, Action: DENY)'],
      ['an unknown peer', { service: 'web', peer: 'unknown' }, true, 'Default behavior configured by ACLs'],
      ['another partition', { service: 'web', partition: 'ap1' }, false, 'Matched L4 intention: ap1/default/web => default/db (Precedence: 9, Action: DENY)'],
      ['a partition without intentions', { service: 'web', partition: 'ap2' }, true, 'Default behavior configured by ACLs'],
      ['a wildcard-destination intention with partitions', { service: 'ops', namespace: 'x' }, true, 'Matched L4 intention: */* => default/db (Precedence: 7, Action: ALLOW)'],
      ['an L7 intention, without a request', svc('api'), false, 'Matched L7 intention: default/api => default/db (Precedence: 9, Permissions: 1) (L7 permissions are decided per HTTP request; a connection-level check denies)'],
      ['a service named "*"', svc('*'), false, 'Matched L4 intention: default/* => default/db (Precedence: 8, Action: DENY)'],
      ['a client agent', parseSpiffeId(`spiffe://${TD}/agent/client/dc/dc1/id/node1`), false, 'Source is not a service identity (agent): intentions authorize services only'],
      ['a mesh gateway', parseSpiffeId(`spiffe://${TD}/gateway/mesh/dc/dc1`), false, 'Source is not a service identity (mesh-gateway): intentions authorize services only'],
      ['an empty service name', { service: '' }, false, 'Source is not a valid service']
    ]
    for (const [what, source, allowed, reason] of table) {
      it(`decides ${what}`, () => {
        const d = ix.decide({ source })
        assert.deepEqual([d.allowed, d.reason, d.layer], [allowed, reason, 'L4'])
      })
    }

    it('ignores the trust domain and the datacenter of a SPIFFE ID, as Consul does', () => {
      const d = ix.decide({ source: parseSpiffeId('spiffe://elsewhere.consul/ns/default/dc/dc9/svc/web') })
      assert.equal(d.allowed, true)
    })

    it('matches names and namespaces case-sensitively', () => {
      assert.match(ix.decide({ source: svc('Web') }).reason, /default\/\* =>/)
      assert.match(ix.decide({ source: svc('x', 'Team') }).reason, /\*\/\* =>/)
    })

    it('a wildcard intention over the same source loses to the exact one, even when it denies', () => {
      const both = new Intentions([{ SourceName: '*', Action: 'deny' }, { SourceName: 'web', Action: 'allow' }], { defaultAllow: false })
      assert.equal(both.decide({ source: svc('web') }).allowed, true)
    })

    it('gives the deciding intention with the decision', () => {
      const d = ix.decide({ source: svc('web', 'team') })
      assert.equal(d.intention, ix.match(svc('web', 'team')))
      assert.deepEqual(ix.match(svc('web', 'team')), { SourceName: '*', SourceNS: 'team', DestinationName: 'db', DestinationNS: 'default', Action: 'allow', Precedence: 8 })
      assert.equal(ix.match({ service: 'web', partition: 'ap2' }), undefined)
    })
  })

  describe('#decide (default)', () => {
    const table: Array<[boolean, string | undefined, string]> = [
      [true, undefined, 'Default behavior configured by ACLs'],
      [false, undefined, 'Default behavior configured by ACLs'],
      [false, 'Default intention policy', 'Default intention policy']
    ]
    for (const [defaultAllow, defaultReason, reason] of table) {
      it(`${defaultAllow ? 'allows' : 'denies'} with "${reason}" when nothing matches`, () => {
        const ix = new Intentions([{ SourceName: 'web', Action: 'deny' }], { defaultAllow, destination: 'db', ...(defaultReason === undefined ? {} : { defaultReason }) })
        for (const request of [undefined, get('/')]) {
          const d = ix.decide({ source: svc('api'), request })
          assert.deepEqual(d, { allowed: defaultAllow, reason, layer: request === undefined ? 'L4' : 'L7' })
        }
      })
    }

    it('decides by default with no intentions at all', () => {
      assert.equal(new Intentions([], { defaultAllow: false }).decide({ source: svc('web') }).allowed, false)
      assert.equal(new Intentions({ db: null }, { defaultAllow: true }).decide({ source: svc('web') }).allowed, true)
    })
  })

  describe('#decide (requests)', () => {
    const ix = new Intentions({
      db: [
        ...ANSWER.db,
        {
          SourceNS: 'default', SourceName: 'reports', DestinationNS: 'default', DestinationName: 'db', SourceType: 'consul', Precedence: 9,
          Permissions: [{ Action: 'allow', HTTP: { PathRegex: '/reports/[0-9]{4}', Header: [{ Name: 'X-Tenant', Present: true }] } }]
        }
      ]
    }, { defaultAllow: false, defaultReason: 'Default intention policy' })

    const table: Array<[string, string, HttpRequestInfo, boolean, string]> = [
      ['the first matching permission: deny', 'api', get('/admin/users'), false, 'Matched L7 intention: default/api => default/db (Precedence: 9, Permissions: 2), Permissions[0]: DENY'],
      ['the first matching permission: allow', 'api', get('/users'), true, 'Matched L7 intention: default/api => default/db (Precedence: 9, Permissions: 2), Permissions[1]: ALLOW'],
      ['no matching permission: the default, not the wildcard intention', 'api', { method: 'POST', path: '/users', headers: {} }, false,
        'Matched L7 intention: default/api => default/db (Precedence: 9, Permissions: 2), but no permission matched the request; Default intention policy'],
      ['a regex path and a present header', 'reports', get('/reports/2024', { 'x-tenant': 'a' }), true, 'Matched L7 intention: default/reports => default/db (Precedence: 9, Permissions: 1), Permissions[0]: ALLOW'],
      ['a regex path without the header', 'reports', get('/reports/2024'), false, 'Matched L7 intention: default/reports => default/db (Precedence: 9, Permissions: 1), but no permission matched the request; Default intention policy'],
      ['an L4 intention, per request', 'web', get('/anything'), true, 'Matched L4 intention: default/web => default/db (Precedence: 9, Action: ALLOW)'],
      ['an L4 wildcard intention, per request', 'nobody', get('/'), false, 'Matched L4 intention: default/* => default/db (Precedence: 8, Action: DENY)']
    ]
    for (const [what, source, request, allowed, reason] of table) {
      it(`decides ${what}`, () => {
        const d = ix.decide({ source: svc(source), request })
        assert.deepEqual([d.allowed, d.reason, d.layer], [allowed, reason, 'L7'])
      })
    }

    it('falls to an allowing default when no permission matches', () => {
      const open = new Intentions(ANSWER, { defaultAllow: true })
      assert.equal(open.decide({ source: svc('api'), request: { method: 'DELETE', path: '/users', headers: {} } }).allowed, true)
    })
  })

  describe('#decide (allocation)', () => {
    const ix = new Intentions(ANSWER, { defaultAllow: true })

    it('returns the same frozen Decision for the same outcome', () => {
      const cases: Array<() => unknown> = [
        () => ix.decide({ source: svc('web') }),
        () => ix.decide({ source: svc('web'), request: get('/') }),
        () => ix.decide({ source: svc('api'), request: get('/users') }),
        () => ix.decide({ source: svc('api'), request: { method: 'PUT', path: '/x', headers: {} } }),
        () => ix.decide({ source: svc('api') }),
        () => ix.decide({ source: { service: 'x', partition: 'ap9' } }),
        () => ix.decide({ source: parseSpiffeId(`spiffe://${TD}/agent/server/dc/dc1`) })
      ]
      for (const decide of cases) {
        const first = decide()
        assert.ok(Object.isFrozen(first))
        assert.equal(decide(), first)
      }
    })
  })

  describe('at scale', () => {
    it('decides among 20,000 intentions by index, agreeing with a scan', () => {
      const list: IntentionInput[] = []
      for (let k = 0; k < 10_000; k++) list.push({ SourceName: `svc-${k}`, Action: k % 3 === 0 ? 'deny' : 'allow' })
      for (let k = 0; k < 10_000; k++) list.push({ SourceNS: `ns-${k}`, SourceName: '*', Action: k % 2 === 0 ? 'deny' : 'allow' })
      const ix = new Intentions(list, { defaultAllow: false, destination: 'db' })
      assert.equal(ix.size, 20_000)
      for (const [name, ns, allowed] of [['svc-0', 'default', false], ['svc-9998', 'default', true], ['svc-9999', 'default', false], ['svc-1', 'ns-1', true], ['svc-1', 'ns-2', false], ['x', 'none', false]] as const) {
        const d = ix.decide({ source: svc(name, ns) })
        assert.equal(d.allowed, allowed, `${ns}/${name}: ${d.reason}`)
      }
    })
  })

  describe('#toString', () => {
    it('names the destination, the size and the default', () => {
      assert.equal(String(new Intentions(ANSWER, { defaultAllow: false })), 'Intentions(db: 5 intentions, default deny)')
    })
  })
})
