import assert from 'node:assert/strict'
import type { Authorizer, HttpRequestInfo, Peer } from '../../lib/authz/authorizer.js'
import {
  allOf, anyOf, authorizeAny, authorizeNone, authorizeServices, authorizeSpiffeIds, authorizeTrustDomain, intentionsAuthorizer
} from '../../lib/authz/constructors.js'
import { Intentions } from '../../lib/authz/intentions.js'
import { InvalidOptionError, SpiffeIdError } from '../../lib/errors.js'
import { parseSpiffeId } from '../../lib/spiffe-id.js'

const TD = 'aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee.consul'
const peer = (uri: string): Peer => ({ id: parseSpiffeId(uri) })
const service = (name: string, ns = 'default', ap?: string, td = TD): Peer =>
  peer(`spiffe://${td}/${ap === undefined ? '' : `ap/${ap}/`}ns/${ns}/dc/dc1/svc/${name}`)
const REQUEST: HttpRequestInfo = { method: 'GET', path: '/', headers: {} }
const allowing: Authorizer = () => ({ allowed: true, reason: 'yes', layer: 'L4' })
const denying = (reason: string): Authorizer => () => ({ allowed: false, reason, layer: 'L4' })

function fieldOf (fn: () => unknown): string {
  try {
    fn()
  } catch (err) {
    if (err instanceof InvalidOptionError) return err.field
    throw err
  }
  return 'no error'
}

describe('constructors', () => {
  describe('#authorizeAny / #authorizeNone', () => {
    it('allow and deny everyone', () => {
      assert.equal(authorizeAny()(service('web')).allowed, true)
      const none = authorizeNone('closed for maintenance')(service('web'))
      assert.deepEqual([none.allowed, none.reason], [false, 'closed for maintenance'])
    })
  })

  describe('#authorizeServices', () => {
    const authorize = authorizeServices(['web', { service: 'api', namespace: 'team' }, { service: 'ops', partition: 'ap1' }])
    const table: Array<[string, Peer, boolean]> = [
      ['a listed name', service('web'), true],
      ['a listed name in another trust domain', service('web', 'default', undefined, 'other.consul'), true],
      ['a listed name in another namespace', service('web', 'team'), false],
      ['a listed name in another partition', service('web', 'default', 'ap1'), false],
      ['a name listed with its namespace', service('api', 'team'), true],
      ['that name in the default namespace', service('api'), false],
      ['a name listed with its partition', service('ops', 'default', 'ap1'), true],
      ['an unlisted name', service('db'), false],
      ['a name differing in case', service('Web'), false],
      ['a client agent', peer(`spiffe://${TD}/agent/client/dc/dc1/id/web`), false]
    ]
    for (const [what, p, allowed] of table) {
      it(`${allowed ? 'allows' : 'denies'} ${what}`, () => {
        assert.equal(authorize(p).allowed, allowed)
        assert.equal(authorize(p, REQUEST).layer, 'L7')
      })
    }

    it('names the allowed service in its reason and shares its decisions', () => {
      assert.equal(authorize(service('web')).reason, 'allowed: service default/default/web is in the allowed list')
      assert.equal(authorize(service('web')), authorize(service('web')))
      assert.ok(Object.isFrozen(authorize(service('db'))))
    })

    it('refuses an empty list, empty names and wildcards, naming the entry', () => {
      assert.equal(fieldOf(() => authorizeServices([])), 'services')
      assert.equal(fieldOf(() => authorizeServices(['web', ''])), 'services[1].service')
      assert.equal(fieldOf(() => authorizeServices([{ service: 'web', namespace: '*' }])), 'services[0].namespace')
      assert.equal(fieldOf(() => authorizeServices(['*'])), 'services[0].service')
    })
  })

  describe('#authorizeSpiffeIds', () => {
    const authorize = authorizeSpiffeIds([`spiffe://${TD}/ap/default/ns/default/dc/dc1/svc/web`, `spiffe://${TD}/agent/server/dc/dc1`])

    it('allows listed IDs, compared in canonical form', () => {
      assert.equal(authorize(service('web')).allowed, true)
      assert.equal(authorize(peer(`spiffe://${TD}/agent/server/dc/dc1`)).allowed, true)
    })

    it('denies other IDs, including the same service elsewhere', () => {
      assert.equal(authorize(service('web', 'default', undefined, 'other.consul')).allowed, false)
      assert.equal(authorize(peer(`spiffe://${TD}/ns/default/dc/dc2/svc/web`)).allowed, false)
    })

    it('refuses malformed IDs and an empty list', () => {
      assert.throws(() => authorizeSpiffeIds(['https://example.com']), SpiffeIdError)
      assert.equal(fieldOf(() => authorizeSpiffeIds([])), 'uris')
    })
  })

  describe('#authorizeTrustDomain', () => {
    it('allows any identity of the trust domain, and only those', () => {
      const authorize = authorizeTrustDomain(TD)
      assert.equal(authorize(service('anything')).allowed, true)
      assert.equal(authorize(peer(`spiffe://${TD}/agent/server/dc/dc1`)).allowed, true)
      assert.equal(authorize(service('web', 'default', undefined, 'other.consul')).allowed, false)
    })

    it('refuses a malformed trust domain', () => {
      assert.equal(fieldOf(() => authorizeTrustDomain('Example.COM')), 'trustDomain')
      assert.equal(fieldOf(() => authorizeTrustDomain('')), 'trustDomain')
    })
  })

  describe('#anyOf', () => {
    it('returns the first allowing decision', () => {
      const d = anyOf(denying('a'), allowing, denying('c'))(service('web'))
      assert.deepEqual([d.allowed, d.reason], [true, 'yes'])
    })

    it('combines the reasons when all deny', () => {
      const d = anyOf(denying('a'), denying('b'))(service('web'), REQUEST)
      assert.deepEqual(d, { allowed: false, reason: 'denied by all 2 authorizers: a; b', layer: 'L7' })
    })

    it('returns a single authorizer\'s deny as is', () => {
      assert.equal(anyOf(denying('only'))(service('web')).reason, 'only')
    })

    it('counts a throwing authorizer as a deny and goes on', () => {
      const throwing: Authorizer = () => { throw new Error('boom') }
      assert.equal(anyOf(throwing, allowing)(service('web')).allowed, true)
      assert.match(anyOf(throwing, denying('b'))(service('web')).reason, /authorizer threw: boom; b/)
    })

    it('needs at least one authorizer, and functions only', () => {
      assert.equal(fieldOf(() => anyOf()), 'anyOf')
      assert.equal(fieldOf(() => anyOf(allowing, 'x' as never)), 'anyOf[1]')
    })
  })

  describe('#allOf', () => {
    it('returns the first deny, without running the rest', () => {
      let ran = false
      const d = allOf(allowing, denying('second'), () => { ran = true; return { allowed: true, reason: '', layer: 'L4' } })(service('web'))
      assert.deepEqual([d.allowed, d.reason, ran], [false, 'second', false])
    })

    it('allows when all allow', () => {
      assert.equal(allOf(allowing, authorizeServices(['web']))(service('web')).allowed, true)
      assert.equal(allOf(allowing, authorizeServices(['web']))(service('api')).allowed, false)
    })

    it('denies when one throws', () => {
      assert.equal(allOf(allowing, () => { throw new Error('x') })(service('web')).allowed, false)
    })

    it('needs at least one authorizer', () => {
      assert.equal(fieldOf(() => allOf()), 'allOf')
    })
  })

  describe('#intentionsAuthorizer', () => {
    const intentions = new Intentions([{ SourceName: 'web', Action: 'allow' }], { defaultAllow: false, destination: 'db' })

    it('decides with the current intentions, read at each call', () => {
      let current: Intentions | undefined = intentions
      const authorize = intentionsAuthorizer(() => current)
      assert.equal(authorize(service('web')).allowed, true)
      assert.equal(authorize(service('api')).allowed, false)
      current = new Intentions([{ SourceName: 'web', Action: 'deny' }], { defaultAllow: false, destination: 'db' })
      assert.equal(authorize(service('web')).allowed, false)
    })

    it('passes the request on, for L7 decisions', () => {
      const l7 = new Intentions([{ SourceName: 'web', Permissions: [{ Action: 'allow', HTTP: { PathPrefix: '/ok' } }] }], { defaultAllow: false, destination: 'db' })
      const authorize = intentionsAuthorizer(() => l7)
      assert.equal(authorize(service('web'), { method: 'GET', path: '/ok/1', headers: {} }).allowed, true)
      assert.equal(authorize(service('web'), { method: 'GET', path: '/no', headers: {} }).allowed, false)
    })

    it('fails closed when intentions are not loaded', () => {
      const authorize = intentionsAuthorizer(() => undefined)
      assert.deepEqual(authorize(service('web')), { allowed: false, reason: 'denied: intentions not loaded (fail closed)', layer: 'L4' })
      assert.equal(authorize(service('web'), REQUEST).layer, 'L7')
    })

    it('fails closed when reading them throws', () => {
      const authorize = intentionsAuthorizer(() => { throw new Error('watch closed') })
      assert.deepEqual([authorize(service('web')).allowed, authorize(service('web')).reason], [false, 'denied: intentions unavailable: watch closed'])
    })

    it('needs a function', () => {
      assert.equal(fieldOf(() => intentionsAuthorizer(intentions as never)), 'getIntentions')
    })
  })
})
