import assert from 'node:assert/strict'
import type { HttpRequestInfo } from '../../lib/authz/authorizer.js'
import { HttpPermission, firstMatchingPermission } from '../../lib/authz/l7.js'
import type { IntentionHttpInput, IntentionPermissionInput } from '../../lib/authz/l7.js'
import { ConnectError } from '../../lib/errors.js'

const WHERE = 'invalid intention db[0] (default/web => default/db)'

function permission (http: IntentionHttpInput, action: 'allow' | 'deny' = 'allow'): HttpPermission {
  return new HttpPermission({ Action: action, HTTP: http }, 0, WHERE)
}

function request (method: string, path: string, headers: HttpRequestInfo['headers'] = {}): HttpRequestInfo {
  return { method, path, headers }
}

function matches (http: IntentionHttpInput, req: HttpRequestInfo): boolean {
  return firstMatchingPermission([permission(http)], req) === 0
}

describe('HttpPermission', () => {
  describe('constructor', () => {
    // [permission, the message must match] — Consul's Validate rules, plus regexes that must compile.
    const invalid: Array<[string, unknown, RegExp]> = [
      ['no action', { HTTP: { PathExact: '/a' } }, /Permissions\[0\]\.Action must be "allow" or "deny", got undefined/],
      ['an unknown action', { Action: 'permit', HTTP: { PathExact: '/a' } }, /Action must be "allow" or "deny", got "permit"/],
      ['no HTTP', { Action: 'allow' }, /Permissions\[0\]\.HTTP is required/],
      ['null HTTP', { Action: 'allow', HTTP: null }, /HTTP is required/],
      ['an empty HTTP', { Action: 'allow', HTTP: {} }, /HTTP must not be empty/],
      ['two path matchers', { Action: 'allow', HTTP: { PathExact: '/a', PathPrefix: '/b' } }, /at most one of PathExact, PathPrefix or PathRegex, got PathExact and PathPrefix/],
      ['a relative PathExact', { Action: 'allow', HTTP: { PathExact: 'a' } }, /HTTP\.PathExact must start with "\/", got "a"/],
      ['a relative PathPrefix', { Action: 'allow', HTTP: { PathPrefix: 'a/' } }, /HTTP\.PathPrefix must start with "\/"/],
      ['a lookahead PathRegex', { Action: 'allow', HTTP: { PathRegex: '/(?=a)' } }, /HTTP\.PathRegex is not a supported RE2 expression: lookaround .* at offset 1/],
      ['an unclosed PathRegex', { Action: 'allow', HTTP: { PathRegex: '/(a' } }, /PathRegex is not a supported RE2 expression: missing closing \)/],
      ['a header without name', { Action: 'allow', HTTP: { Header: [{ Exact: 'x' }] } }, /HTTP\.Header\[0\]\.Name is required/],
      ['a header without matcher', { Action: 'allow', HTTP: { Header: [{ Name: 'x' }] } }, /Header\[0\] must set exactly one of .* got none/],
      ['a header with two matchers', { Action: 'allow', HTTP: { Header: [{ Name: 'x', Exact: 'a', Prefix: 'b' }] } }, /got Exact and Prefix/],
      ['a header with Present and Exact', { Action: 'allow', HTTP: { Header: [{ Name: 'x', Present: true, Exact: 'a' }] } }, /got Present and Exact/],
      ['IgnoreCase with Present', { Action: 'allow', HTTP: { Header: [{ Name: 'x', Present: true, IgnoreCase: true }] } }, /Header\[0\]\.IgnoreCase applies only to Exact, Prefix, Suffix or Contains/],
      ['IgnoreCase with Regex', { Action: 'allow', HTTP: { Header: [{ Name: 'x', Regex: 'a', IgnoreCase: true }] } }, /IgnoreCase applies only/],
      ['a bad header regex', { Action: 'allow', HTTP: { Header: [{ Name: 'x', Regex: 'a**' }] } }, /Header\[0\]\.Regex is not a supported RE2 expression: bad repetition operator/],
      ['an unknown method', { Action: 'allow', HTTP: { Methods: ['FETCH'] } }, /HTTP\.Methods contains an invalid method "FETCH"/],
      ['a duplicated method', { Action: 'allow', HTTP: { Methods: ['get', 'GET'] } }, /HTTP\.Methods contains "GET" more than once/],
      ['a JWT requirement', { Action: 'allow', HTTP: { PathExact: '/a' }, JWT: { Providers: [{ Name: 'okta' }] } }, /Permissions\[0\]\.JWT is not supported/]
    ]
    for (const [what, input, message] of invalid) {
      it(`refuses ${what}, naming the field`, () => {
        assert.throws(() => new HttpPermission(input as IntentionPermissionInput, 0, WHERE), (err: unknown) => {
          assert.ok(err instanceof ConnectError)
          assert.equal(err.code, 'ERR_CONNECT_INTENTION_INVALID')
          assert.ok(err.message.startsWith(`${WHERE}: Permissions[0]`), err.message)
          assert.match(err.message, message)
          return true
        })
      })
    }

    it('accepts lower-case methods, as Consul stores them upper-cased', () => {
      assert.equal(matches({ Methods: ['get', 'Post'] }, request('POST', '/')), true)
    })

    it('treats empty strings as unset, as Consul does', () => {
      const p = permission({ PathExact: '', PathPrefix: '/a', PathRegex: '' })
      assert.equal(firstMatchingPermission([p], request('GET', '/a/b')), 0)
    })

    it('is frozen, with its action and index', () => {
      const p = new HttpPermission({ Action: 'deny', HTTP: { PathExact: '/a' } }, 3, WHERE)
      assert.equal(p.action, 'deny')
      assert.equal(p.index, 3)
      assert.ok(Object.isFrozen(p))
    })
  })

  describe('#matches', () => {
    // [matcher, request, matches] — Envoy RBAC semantics as Consul configures them.
    const table: Array<[string, IntentionHttpInput, HttpRequestInfo, boolean]> = [
      ['PathExact equal', { PathExact: '/a' }, request('GET', '/a'), true],
      ['PathExact with a trailing slash', { PathExact: '/a' }, request('GET', '/a/'), false],
      ['PathExact is case-sensitive', { PathExact: '/a' }, request('GET', '/A'), false],
      ['PathExact ignores the query string', { PathExact: '/a' }, request('GET', '/a?x=1'), true],
      ['PathPrefix is a string prefix, not a segment one', { PathPrefix: '/a' }, request('GET', '/ab'), true],
      ['PathPrefix mismatch', { PathPrefix: '/a' }, request('GET', '/b/a'), false],
      ['PathRegex full match', { PathRegex: '/v[0-9]+/.*' }, request('GET', '/v2/users'), true],
      ['PathRegex must match the whole path', { PathRegex: '/v[0-9]+' }, request('GET', '/v2/users'), false],
      ['PathRegex is not a search', { PathRegex: '/v[0-9]+/.*' }, request('GET', '/x/v2/users'), false],
      ['PathRegex ignores the query string', { PathRegex: '/a' }, request('GET', '/a?b'), true],
      ['a listed method', { Methods: ['GET', 'POST'] }, request('POST', '/'), true],
      ['an unlisted method', { Methods: ['GET', 'POST'] }, request('PUT', '/'), false],
      ['methods are case-sensitive', { Methods: ['GET'] }, request('get', '/'), false],
      ['Exact header', { Header: [{ Name: 'x-role', Exact: 'admin' }] }, request('GET', '/', { 'x-role': 'admin' }), true],
      ['Exact header is case-sensitive', { Header: [{ Name: 'x-role', Exact: 'admin' }] }, request('GET', '/', { 'x-role': 'Admin' }), false],
      ['Exact header with IgnoreCase', { Header: [{ Name: 'x-role', Exact: 'AdMin', IgnoreCase: true }] }, request('GET', '/', { 'x-role': 'ADMIN' }), true],
      ['IgnoreCase is ASCII only', { Header: [{ Name: 'x', Exact: 'é', IgnoreCase: true }] }, request('GET', '/', { x: 'É' }), false],
      ['header names are case-insensitive', { Header: [{ Name: 'X-Role', Exact: 'admin' }] }, request('GET', '/', { 'x-role': 'admin' }), true],
      ['header records need not be lower-case', { Header: [{ Name: 'x-role', Exact: 'admin' }] }, request('GET', '/', { 'X-ROLE': 'admin' }), true],
      ['a missing header fails Exact', { Header: [{ Name: 'x-role', Exact: 'admin' }] }, request('GET', '/'), false],
      ['a missing header fails an inverted Exact too (Envoy)', { Header: [{ Name: 'x-role', Exact: 'admin', Invert: true }] }, request('GET', '/'), false],
      ['an inverted Exact on another value', { Header: [{ Name: 'x-role', Exact: 'admin', Invert: true }] }, request('GET', '/', { 'x-role': 'user' }), true],
      ['an inverted Exact on the value', { Header: [{ Name: 'x-role', Exact: 'admin', Invert: true }] }, request('GET', '/', { 'x-role': 'admin' }), false],
      ['Present on a present header', { Header: [{ Name: 'x-a', Present: true }] }, request('GET', '/', { 'x-a': '' }), true],
      ['Present on a missing header', { Header: [{ Name: 'x-a', Present: true }] }, request('GET', '/'), false],
      ['inverted Present on a missing header', { Header: [{ Name: 'x-a', Present: true, Invert: true }] }, request('GET', '/'), true],
      ['inverted Present on a present header', { Header: [{ Name: 'x-a', Present: true, Invert: true }] }, request('GET', '/', { 'x-a': 'v' }), false],
      ['an empty list of values is a missing header', { Header: [{ Name: 'x-a', Present: true }] }, request('GET', '/', { 'x-a': [] }), false],
      ['Prefix', { Header: [{ Name: 'x', Prefix: 'Bearer ' }] }, request('GET', '/', { x: 'Bearer t' }), true],
      ['Prefix with IgnoreCase', { Header: [{ Name: 'x', Prefix: 'bearer ', IgnoreCase: true }] }, request('GET', '/', { x: 'BEARER t' }), true],
      ['Prefix longer than the value', { Header: [{ Name: 'x', Prefix: 'abc', IgnoreCase: true }] }, request('GET', '/', { x: 'ab' }), false],
      ['Suffix', { Header: [{ Name: 'x', Suffix: '.internal' }] }, request('GET', '/', { x: 'a.internal' }), true],
      ['Suffix with IgnoreCase', { Header: [{ Name: 'x', Suffix: '.INTERNAL', IgnoreCase: true }] }, request('GET', '/', { x: 'a.Internal' }), true],
      ['Suffix mismatch', { Header: [{ Name: 'x', Suffix: '.internal' }] }, request('GET', '/', { x: 'a.internal.evil' }), false],
      ['Contains', { Header: [{ Name: 'x', Contains: 'mid' }] }, request('GET', '/', { x: 'amidst' }), true],
      ['Contains with IgnoreCase', { Header: [{ Name: 'x', Contains: 'MID', IgnoreCase: true }] }, request('GET', '/', { x: 'aMiDst' }), true],
      ['Contains mismatch', { Header: [{ Name: 'x', Contains: 'mid', IgnoreCase: true }] }, request('GET', '/', { x: 'mi-d' }), false],
      ['Regex must match the whole value', { Header: [{ Name: 'x', Regex: 'a.*' }] }, request('GET', '/', { x: 'abc' }), true],
      ['Regex is not a search', { Header: [{ Name: 'x', Regex: 'a.*' }] }, request('GET', '/', { x: 'xabc' }), false],
      ['several values are joined with a comma', { Header: [{ Name: 'x', Exact: 'a,b' }] }, request('GET', '/', { x: ['a', 'b'] }), true],
      ['a joined value is matched as a whole', { Header: [{ Name: 'x', Exact: 'a' }] }, request('GET', '/', { x: ['a', 'b'] }), false],
      ['one value in a list is the value', { Header: [{ Name: 'x', Exact: 'a' }] }, request('GET', '/', { x: ['a'] }), true],
      [':method is the request method', { Header: [{ Name: ':method', Exact: 'DELETE' }] }, request('DELETE', '/'), true],
      [':path is the request path', { Header: [{ Name: ':path', Prefix: '/admin' }] }, request('GET', '/admin/x'), true],
      [':authority falls back to host', { Header: [{ Name: ':authority', Exact: 'db.example' }] }, request('GET', '/', { host: 'db.example' }), true],
      ['every part must match: path', { PathPrefix: '/a', Methods: ['GET'], Header: [{ Name: 'x', Present: true }] }, request('GET', '/b', { x: '1' }), false],
      ['every part must match: method', { PathPrefix: '/a', Methods: ['GET'], Header: [{ Name: 'x', Present: true }] }, request('POST', '/a', { x: '1' }), false],
      ['every part must match: header', { PathPrefix: '/a', Methods: ['GET'], Header: [{ Name: 'x', Present: true }] }, request('GET', '/a'), false],
      ['every part must match: all', { PathPrefix: '/a', Methods: ['GET'], Header: [{ Name: 'x', Present: true }] }, request('GET', '/a', { x: '1' }), true],
      ['two header entries: both must hold', { Header: [{ Name: 'x', Exact: '1' }, { Name: 'y', Exact: '2' }] }, request('GET', '/', { x: '1', y: '3' }), false]
    ]
    for (const [what, http, req, expected] of table) {
      it(`${expected ? 'matches' : 'does not match'}: ${what}`, () => {
        assert.equal(matches(http, req), expected)
      })
    }
  })
})

describe('firstMatchingPermission', () => {
  const permissions = [
    new HttpPermission({ Action: 'deny', HTTP: { PathPrefix: '/admin' } }, 0, WHERE),
    new HttpPermission({ Action: 'allow', HTTP: { Methods: ['GET'] } }, 1, WHERE),
    new HttpPermission({ Action: 'allow', HTTP: { PathPrefix: '/' } }, 2, WHERE)
  ]

  it('returns the first permission that matches, top to bottom', () => {
    assert.equal(firstMatchingPermission(permissions, request('GET', '/admin/users')), 0)
    assert.equal(firstMatchingPermission(permissions, request('GET', '/users')), 1)
    assert.equal(firstMatchingPermission(permissions, request('POST', '/users')), 2)
  })

  it('returns -1 when none matches', () => {
    assert.equal(firstMatchingPermission(permissions.slice(0, 2), request('POST', '/users')), -1)
    assert.equal(firstMatchingPermission([], request('GET', '/')), -1)
  })
})
