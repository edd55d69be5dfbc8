import assert from 'node:assert/strict'
import { ConnectError, SpiffeIdError } from '../lib/errors.js'
import { formatSpiffeId, isSpiffeId, parseSpiffeId, sameService, serviceId } from '../lib/spiffe-id.js'
import type { SpiffeId, SpiffeIdInput } from '../lib/spiffe-id.js'

/** The fields of each kind of ID, without `uri`. */
type Fields = { [K in SpiffeId['kind']]: Omit<Extract<SpiffeId, { kind: K }>, 'uri'> }[SpiffeId['kind']]

const TD = '11111111-2222-3333-4444-555555555555.consul'
const ROOT = `spiffe://${TD}`

function assertSpiffeError (fn: () => unknown, code: string, phrase: string): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof SpiffeIdError, `expected a SpiffeIdError, got ${String(err)}`)
    assert.ok(err instanceof ConnectError)
    assert.equal(err.code, code)
    assert.ok(err.message.includes(phrase), `message ${JSON.stringify(err.message)} lacks ${JSON.stringify(phrase)}`)
    return true
  })
}

describe('spiffe-id', () => {
  describe('#parseSpiffeId', () => {
    // input → expected value; `uri` in the expectation is the canonical form.
    const valid: Array<[string, string, Fields, string?]> = [
      ['service', `${ROOT}/ns/default/dc/dc1/svc/web`,
        { kind: 'service', trustDomain: TD, partition: 'default', namespace: 'default', datacenter: 'dc1', service: 'web' }],
      ['service in a partition', `${ROOT}/ap/team-a/ns/billing/dc/dc1/svc/web`,
        { kind: 'service', trustDomain: TD, partition: 'team-a', namespace: 'billing', datacenter: 'dc1', service: 'web' }],
      ['service with explicit /ap/default (canonical form omits it)', `${ROOT}/ap/default/ns/default/dc/dc1/svc/web`,
        { kind: 'service', trustDomain: TD, partition: 'default', namespace: 'default', datacenter: 'dc1', service: 'web' },
        `${ROOT}/ns/default/dc/dc1/svc/web`],
      ['service with a percent-encoded UTF-8 name (lower-case hex)', `${ROOT}/ns/default/dc/dc1/svc/caf%c3%a9`,
        { kind: 'service', trustDomain: TD, partition: 'default', namespace: 'default', datacenter: 'dc1', service: 'café' },
        `${ROOT}/ns/default/dc/dc1/svc/caf%C3%A9`],
      ['service with needlessly encoded letters', `${ROOT}/ns/%64efault/dc/dc%31/svc/w%65b`,
        { kind: 'service', trustDomain: TD, partition: 'default', namespace: 'default', datacenter: 'dc1', service: 'web' },
        `${ROOT}/ns/default/dc/dc1/svc/web`],
      ['service with raw sub-delims Go leaves unescaped', `${ROOT}/ns/default/dc/dc1/svc/a$b&c+d,e:f;g=h@i~j`,
        { kind: 'service', trustDomain: TD, partition: 'default', namespace: 'default', datacenter: 'dc1', service: 'a$b&c+d,e:f;g=h@i~j' }],
      ['service with raw !\'()* (Go escapes them)', `${ROOT}/ns/default/dc/dc1/svc/a!b'c(d)e*`,
        { kind: 'service', trustDomain: TD, partition: 'default', namespace: 'default', datacenter: 'dc1', service: "a!b'c(d)e*" },
        `${ROOT}/ns/default/dc/dc1/svc/a%21b%27c%28d%29e%2A`],
      ['service with an encoded space and percent sign', `${ROOT}/ns/default/dc/dc1/svc/a%20b%25`,
        { kind: 'service', trustDomain: TD, partition: 'default', namespace: 'default', datacenter: 'dc1', service: 'a b%' }],
      ['service named like a keyword', `${ROOT}/ns/ap/dc/dc/svc/svc`,
        { kind: 'service', trustDomain: TD, partition: 'default', namespace: 'ap', datacenter: 'dc', service: 'svc' }],
      ['service with a non-.consul trust domain', 'spiffe://example.org/ns/default/dc/dc1/svc/web',
        { kind: 'service', trustDomain: 'example.org', partition: 'default', namespace: 'default', datacenter: 'dc1', service: 'web' }],
      ['service with an upper-case partition kept as written', `${ROOT}/ap/Default/ns/default/dc/dc1/svc/web`,
        { kind: 'service', trustDomain: TD, partition: 'Default', namespace: 'default', datacenter: 'dc1', service: 'web' }],
      ['client agent', `${ROOT}/agent/client/dc/dc1/id/node-1`,
        { kind: 'agent', trustDomain: TD, partition: 'default', datacenter: 'dc1', node: 'node-1' }],
      ['client agent in a partition', `${ROOT}/ap/p1/agent/client/dc/dc1/id/ip-10-0-0-1.ec2.internal`,
        { kind: 'agent', trustDomain: TD, partition: 'p1', datacenter: 'dc1', node: 'ip-10-0-0-1.ec2.internal' }],
      ['server', `${ROOT}/agent/server/dc/dc1`,
        { kind: 'server', trustDomain: TD, datacenter: 'dc1' }],
      ['mesh gateway', `${ROOT}/gateway/mesh/dc/dc2`,
        { kind: 'mesh-gateway', trustDomain: TD, partition: 'default', datacenter: 'dc2' }],
      ['mesh gateway in a partition', `${ROOT}/ap/p1/gateway/mesh/dc/dc2`,
        { kind: 'mesh-gateway', trustDomain: TD, partition: 'p1', datacenter: 'dc2' }],
      ['mesh gateway with explicit /ap/default', `${ROOT}/ap/default/gateway/mesh/dc/dc2`,
        { kind: 'mesh-gateway', trustDomain: TD, partition: 'default', datacenter: 'dc2' }, `${ROOT}/gateway/mesh/dc/dc2`],
      ['signing certificate', ROOT,
        { kind: 'signing', trustDomain: TD, clusterId: '11111111-2222-3333-4444-555555555555' }],
    ]
    for (const [name, input, fields, canonical] of valid) {
      it(`parses a ${name}`, () => {
        const id = parseSpiffeId(input)
        assert.deepEqual(id, { ...fields, uri: canonical ?? input })
        assert.ok(Object.isFrozen(id))
        assert.equal(formatSpiffeId(id), canonical ?? input)
        assert.equal(isSpiffeId(input), true)
      })
    }

    it('accepts an ID of exactly 2048 bytes', () => {
      const prefix = `${ROOT}/ns/default/dc/dc1/svc/`
      const input = prefix + 'a'.repeat(2048 - prefix.length)
      assert.equal(parseSpiffeId(input).uri, input)
    })

    it('accepts a trust domain of exactly 255 bytes', () => {
      const td = 'a'.repeat(255)
      assert.equal(parseSpiffeId(`spiffe://${td}/agent/server/dc/dc1`).trustDomain, td)
    })

    const INVALID = 'ERR_CONNECT_SPIFFE_ID_INVALID'
    const UNSUPPORTED = 'ERR_CONNECT_SPIFFE_ID_UNSUPPORTED'
    const invalid: Array<[string, string, string, string]> = [
      ['the empty string', '', INVALID, 'is empty'],
      ['no scheme', `${TD}/ns/default/dc/dc1/svc/web`, INVALID, 'scheme is missing or invalid'],
      ['another scheme', `https://${TD}/ns/default/dc/dc1/svc/web`, INVALID, 'scheme is missing or invalid'],
      ['an upper-case scheme', `SPIFFE://${TD}/ns/default/dc/dc1/svc/web`, INVALID, 'scheme must be "spiffe" in lower case'],
      ['a single slash after the scheme', `spiffe:/${TD}/ns/default/dc/dc1/svc/web`, INVALID, 'scheme is missing or invalid'],
      ['leading whitespace', ` ${ROOT}/ns/default/dc/dc1/svc/web`, INVALID, 'contains whitespace or a control character'],
      ['trailing whitespace', `${ROOT}/ns/default/dc/dc1/svc/web `, INVALID, 'contains whitespace or a control character'],
      ['a newline in the path', `${ROOT}/ns/default/dc/dc1/svc/we\nb`, INVALID, 'contains whitespace or a control character'],
      ['a NUL in the trust domain', 'spiffe://td\0.consul/agent/server/dc/dc1', INVALID, 'contains whitespace or a control character'],
      ['an empty trust domain', 'spiffe:///ns/default/dc/dc1/svc/web', INVALID, 'trust domain is missing'],
      ['nothing after the scheme', 'spiffe://', INVALID, 'trust domain is missing'],
      ['an upper-case trust domain', 'spiffe://Example.org/ns/default/dc/dc1/svc/web', INVALID, 'trust domain characters are limited'],
      ['a percent-encoded trust domain', 'spiffe://ex%41mple.org/agent/server/dc/dc1', INVALID, 'trust domain characters are limited'],
      ['an IPv6 trust domain', 'spiffe://[::1]/agent/server/dc/dc1', INVALID, 'trust domain characters are limited'],
      ['a port', `spiffe://${TD}:8443/ns/default/dc/dc1/svc/web`, INVALID, 'trust domain contains a port'],
      ['userinfo', `spiffe://user@${TD}/ns/default/dc/dc1/svc/web`, INVALID, 'trust domain contains userinfo'],
      ['userinfo with a password', `spiffe://user:pw@${TD}/ns/default/dc/dc1/svc/web`, INVALID, 'trust domain contains userinfo'],
      ['a trust domain over 255 bytes', `spiffe://${'a'.repeat(256)}/agent/server/dc/dc1`, INVALID, 'trust domain is longer than 255 bytes'],
      ['a query', `${ROOT}/ns/default/dc/dc1/svc/web?x=1`, INVALID, 'has a query'],
      ['a query right after the trust domain', `${ROOT}?x=1`, INVALID, 'has a query'],
      ['a fragment', `${ROOT}/ns/default/dc/dc1/svc/web#frag`, INVALID, 'has a fragment'],
      ['an empty path segment', `${ROOT}/ns//dc/dc1/svc/web`, INVALID, 'path segment is empty'],
      ['a double slash after the trust domain', `${ROOT}//ns/default/dc/dc1/svc/web`, INVALID, 'path segment is empty'],
      ['a trailing slash', `${ROOT}/ns/default/dc/dc1/svc/web/`, INVALID, 'path has a trailing slash'],
      ['a lone trailing slash', `${ROOT}/`, INVALID, 'path has a trailing slash'],
      ['a "." segment', `${ROOT}/ns/./dc/dc1/svc/web`, INVALID, 'path segment is "." or ".."'],
      ['a ".." segment', `${ROOT}/ns/default/dc/dc1/svc/web/..`, INVALID, 'path segment is "." or ".."'],
      ['an encoded ".." segment', `${ROOT}/ns/default/dc/dc1/svc/%2E%2e`, INVALID, 'is "." or ".." once percent-decoded'],
      ['a truncated percent-escape', `${ROOT}/ns/default/dc/dc1/svc/web%2`, INVALID, 'bad percent-encoding'],
      ['a non-hex percent-escape', `${ROOT}/ns/default/dc/dc1/svc/web%zz`, INVALID, 'bad percent-encoding'],
      ['a bare percent sign', `${ROOT}/ns/default/dc/dc1/svc/10%`, INVALID, 'bad percent-encoding'],
      ['bytes that are not UTF-8', `${ROOT}/ns/default/dc/dc1/svc/%FF%FE`, INVALID, 'not valid UTF-8 once percent-decoded'],
      ['an encoded surrogate', `${ROOT}/ns/default/dc/dc1/svc/%ED%A0%80`, INVALID, 'not valid UTF-8 once percent-decoded'],
      ['an encoded slash faking structure', `${ROOT}/ns/default/dc/dc1/svc/web%2Fadmin`, INVALID, 'contains "/" once percent-decoded'],
      ['an encoded control character', `${ROOT}/ns/default/dc/dc1/svc/web%0A`, INVALID, 'contains a control character once percent-decoded'],
      ['an encoded DEL', `${ROOT}/ns/default/dc/dc1/svc/web%7F`, INVALID, 'contains a control character once percent-decoded'],
      ['raw non-ASCII', `${ROOT}/ns/default/dc/dc1/svc/café`, INVALID, 'must be percent-encoded'],
      ['a raw double quote', `${ROOT}/ns/default/dc/dc1/svc/"web"`, INVALID, 'must be percent-encoded'],
      ['a raw backslash', `${ROOT}/ns/default/dc/dc1/svc/a\\b`, INVALID, 'must be percent-encoded'],
      ['an ID over 2048 bytes', `${ROOT}/ns/default/dc/dc1/svc/${'a'.repeat(2048)}`, INVALID, 'is longer than 2048 bytes'],
      ['an ID whose canonical form exceeds 2048 bytes', `${ROOT}/ns/default/dc/dc1/svc/${'!'.repeat(1900)}`, INVALID, 'in canonical form'],
      ['a SPIRE-style workload ID', 'spiffe://example.org/foo/bar', UNSUPPORTED, 'path is not one Consul issues'],
      ['a service ID missing its namespace', `${ROOT}/dc/dc1/svc/web`, UNSUPPORTED, 'path is not one Consul issues'],
      ['a service ID with an extra segment', `${ROOT}/ns/default/dc/dc1/svc/web/extra`, UNSUPPORTED, 'path is not one Consul issues'],
      ['keywords in the wrong case', `${ROOT}/NS/default/DC/dc1/SVC/web`, UNSUPPORTED, 'path is not one Consul issues'],
      ['a percent-encoded keyword', `${ROOT}/%6Es/default/dc/dc1/svc/web`, UNSUPPORTED, 'path is not one Consul issues'],
      ['a partition prefix with nothing after it', `${ROOT}/ap/p1`, UNSUPPORTED, 'path is not one Consul issues'],
      ['a server ID in a partition', `${ROOT}/ap/p1/agent/server/dc/dc1`, UNSUPPORTED, 'path is not one Consul issues'],
      ['an old-style agent ID', `${ROOT}/agent/node-1`, UNSUPPORTED, 'path is not one Consul issues'],
      ['a workload identity (experimental v2 catalog)', `${ROOT}/ap/default/ns/default/identity/web`, UNSUPPORTED, 'path is not one Consul issues'],
      ['a pathless non-.consul trust domain', 'spiffe://example.org', UNSUPPORTED, 'trust domain is not "<cluster-id>.consul"'],
      ['a pathless bare "consul" trust domain', 'spiffe://consul', UNSUPPORTED, 'trust domain is not "<cluster-id>.consul"'],
      ['a pathless dotted cluster ID', 'spiffe://a.b.consul', UNSUPPORTED, 'trust domain is not "<cluster-id>.consul"'],
    ]
    for (const [name, input, code, phrase] of invalid) {
      it(`throws ${code === INVALID ? 'INVALID' : 'UNSUPPORTED'} for ${name}`, () => {
        assertSpiffeError(() => parseSpiffeId(input), code, phrase)
        assert.equal(isSpiffeId(input), false)
      })
    }

    it('keeps the whole input on the error and quotes it escaped in the message', () => {
      const input = `${ROOT}/ns/default/dc/dc1/svc/we\u001b[31mb`
      assert.throws(() => parseSpiffeId(input), (err: unknown) => {
        assert.ok(err instanceof SpiffeIdError)
        assert.equal(err.input, input)
        assert.equal(err.message, `invalid SPIFFE ID ${JSON.stringify(input)}: contains whitespace or a control character`)
        assert.ok(!err.message.includes('\u001b'))
        return true
      })
    })

    it('throws INVALID when given something other than a string', () => {
      assertSpiffeError(() => parseSpiffeId(42 as unknown as string), 'ERR_CONNECT_SPIFFE_ID_INVALID', 'expected a string, got number')
      assert.equal(isSpiffeId(42), false)
    })
  })

  describe('#formatSpiffeId', () => {
    const table: Array<[string, SpiffeIdInput, string]> = [
      ['a service with defaults', { kind: 'service', trustDomain: TD, datacenter: 'dc1', service: 'web' }, `${ROOT}/ns/default/dc/dc1/svc/web`],
      ['a service in partition "default"', { kind: 'service', trustDomain: TD, datacenter: 'dc1', service: 'web', partition: 'default', namespace: 'ns1' }, `${ROOT}/ns/ns1/dc/dc1/svc/web`],
      ['a service in a partition', { kind: 'service', trustDomain: TD, datacenter: 'dc1', service: 'web', partition: 'p1' }, `${ROOT}/ap/p1/ns/default/dc/dc1/svc/web`],
      ['a service needing encoding', { kind: 'service', trustDomain: TD, datacenter: 'dc 1', service: 'a?b#c%d!é😀:@' },
        `${ROOT}/ns/default/dc/dc%201/svc/a%3Fb%23c%25d%21%C3%A9%F0%9F%98%80:@`],
      ['a client agent', { kind: 'agent', trustDomain: TD, datacenter: 'dc1', node: 'n1', partition: 'p1' }, `${ROOT}/ap/p1/agent/client/dc/dc1/id/n1`],
      ['a server', { kind: 'server', trustDomain: TD, datacenter: 'dc1' }, `${ROOT}/agent/server/dc/dc1`],
      ['a mesh gateway', { kind: 'mesh-gateway', trustDomain: TD, datacenter: 'dc1' }, `${ROOT}/gateway/mesh/dc/dc1`],
      ['a signing ID', { kind: 'signing', trustDomain: TD }, ROOT],
    ]
    for (const [name, input, expected] of table) {
      it(`formats ${name}`, () => {
        assert.equal(formatSpiffeId(input), expected)
      })
    }

    const bad: Array<[string, SpiffeIdInput, string, string]> = [
      ['an empty service', { kind: 'service', trustDomain: TD, datacenter: 'dc1', service: '' }, 'ERR_CONNECT_SPIFFE_ID_INVALID', 'service "" is empty'],
      ['an empty partition', { kind: 'service', trustDomain: TD, datacenter: 'dc1', service: 'web', partition: '' }, 'ERR_CONNECT_SPIFFE_ID_INVALID', 'partition "" is empty'],
      ['a "/" in a field', { kind: 'agent', trustDomain: TD, datacenter: 'dc1', node: 'a/b' }, 'ERR_CONNECT_SPIFFE_ID_INVALID', 'node "a/b" contains "/"'],
      ['a ".." field', { kind: 'server', trustDomain: TD, datacenter: '..' }, 'ERR_CONNECT_SPIFFE_ID_INVALID', 'is "." or ".."'],
      ['a control character', { kind: 'mesh-gateway', trustDomain: TD, datacenter: 'dc\t1' }, 'ERR_CONNECT_SPIFFE_ID_INVALID', 'contains a control character'],
      ['an unpaired surrogate', { kind: 'server', trustDomain: TD, datacenter: 'dc\ud800' }, 'ERR_CONNECT_SPIFFE_ID_INVALID', 'unpaired surrogate'],
      ['a missing datacenter', { kind: 'server', trustDomain: TD } as unknown as SpiffeIdInput, 'ERR_CONNECT_SPIFFE_ID_INVALID', 'datacenter must be a string'],
      ['an upper-case trust domain', { kind: 'server', trustDomain: 'TD', datacenter: 'dc1' }, 'ERR_CONNECT_SPIFFE_ID_INVALID', 'trust domain "TD"'],
      ['an empty trust domain', { kind: 'server', trustDomain: '', datacenter: 'dc1' }, 'ERR_CONNECT_SPIFFE_ID_INVALID', 'trust domain ""'],
      ['an ID over 2048 bytes', { kind: 'server', trustDomain: TD, datacenter: 'é'.repeat(400) }, 'ERR_CONNECT_SPIFFE_ID_INVALID', 'longer than 2048 bytes'],
      ['a signing ID outside .consul', { kind: 'signing', trustDomain: 'example.org' }, 'ERR_CONNECT_SPIFFE_ID_UNSUPPORTED', 'is not "<cluster-id>.consul"'],
      ['an unknown kind', { kind: 'workload', trustDomain: TD } as unknown as SpiffeIdInput, 'ERR_CONNECT_SPIFFE_ID_UNSUPPORTED', 'kind "workload"'],
    ]
    for (const [name, input, code, phrase] of bad) {
      it(`throws for ${name}`, () => {
        assertSpiffeError(() => formatSpiffeId(input), code, phrase)
      })
    }

    it('ignores the uri and clusterId of a value passed back in', () => {
      const forged: SpiffeId = { ...parseSpiffeId(`${ROOT}/ap/default/ns/default/dc/dc1/svc/web`), uri: 'spiffe://forged/x' }
      assert.equal(formatSpiffeId(forged), `${ROOT}/ns/default/dc/dc1/svc/web`)
      const signing: SpiffeId = { ...parseSpiffeId(ROOT), clusterId: 'forged' } as SpiffeId
      assert.equal(formatSpiffeId(signing), ROOT)
    })
  })

  describe('#serviceId', () => {
    it('builds a frozen service ID with default namespace and partition', () => {
      const id = serviceId({ trustDomain: TD, datacenter: 'dc1', service: 'web' })
      assert.deepEqual(id, {
        kind: 'service', trustDomain: TD, partition: 'default', namespace: 'default', datacenter: 'dc1', service: 'web',
        uri: `${ROOT}/ns/default/dc/dc1/svc/web`,
      })
      assert.ok(Object.isFrozen(id))
      assert.deepEqual(parseSpiffeId(id.uri), id)
    })

    it('throws INVALID when the service name contains "/"', () => {
      assertSpiffeError(() => serviceId({ trustDomain: TD, datacenter: 'dc1', service: 'a/b' }), 'ERR_CONNECT_SPIFFE_ID_INVALID', 'contains "/"')
    })
  })

  describe('#sameService', () => {
    const web = parseSpiffeId(`${ROOT}/ns/default/dc/dc1/svc/web`)
    const table: Array<[string, string, boolean, boolean?]> = [
      ['the same ID', `${ROOT}/ns/default/dc/dc1/svc/web`, true],
      ['another trust domain (ignored, as Consul does)', 'spiffe://other.consul/ns/default/dc/dc1/svc/web', true],
      ['explicit /ap/default', `${ROOT}/ap/default/ns/default/dc/dc1/svc/web`, true],
      ['another case (Consul compares with EqualFold)', `${ROOT}/ap/DEFAULT/ns/Default/dc/dc1/svc/WEB`, true],
      ['another datacenter when datacenters are not compared', `${ROOT}/ns/default/dc/dc2/svc/web`, true],
      ['another datacenter when datacenters are compared', `${ROOT}/ns/default/dc/dc2/svc/web`, false, true],
      ['the same datacenter in another case when compared', `${ROOT}/ns/default/dc/DC1/svc/web`, true, true],
      ['another service', `${ROOT}/ns/default/dc/dc1/svc/api`, false],
      ['a service whose name is a prefix', `${ROOT}/ns/default/dc/dc1/svc/webx`, false],
      ['another namespace', `${ROOT}/ns/other/dc/dc1/svc/web`, false],
      ['another partition', `${ROOT}/ap/p1/ns/default/dc/dc1/svc/web`, false],
      ['a client agent', `${ROOT}/agent/client/dc/dc1/id/web`, false],
      ['a mesh gateway', `${ROOT}/gateway/mesh/dc/dc1`, false],
    ]
    for (const [name, other, expected, datacenter] of table) {
      it(`is ${String(expected)} for ${name}`, () => {
        const b = parseSpiffeId(other)
        const options = datacenter === true ? { datacenter } : {}
        assert.equal(sameService(web, b, options), expected)
        assert.equal(sameService(b, web, options), expected)
      })
    }

    it('folds non-ASCII letters case-insensitively', () => {
      const a = serviceId({ trustDomain: TD, datacenter: 'dc1', service: 'café' })
      const b = serviceId({ trustDomain: TD, datacenter: 'dc1', service: 'CAFÉ' })
      const c = serviceId({ trustDomain: TD, datacenter: 'dc1', service: 'cafe' })
      assert.equal(sameService(a, b), true)
      assert.equal(sameService(a, c), false)
    })
  })
})
