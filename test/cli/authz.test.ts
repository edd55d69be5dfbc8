import assert from 'node:assert/strict'
import { TestAgent } from '../../lib/testing/index.js'
import { cli, closedPort, json } from './support.js'

interface AuthzJson {
  command: 'authz'
  source: { service: string | null, namespace: string | null, partition: string | null, spiffeId: string | null }
  destination: string
  request: { method: string, path: string, headers: Record<string, string | string[]> } | null
  agent: { address: string }
  ok: boolean
  allowed: boolean | null
  decision: { reason: string, layer: 'L4' | 'L7', intention: Record<string, unknown> | null } | null
  defaultPolicy: { allow: boolean, reason: string, source: string | null, via: string, notes: string[] } | null
  intentionCount: number | null
  error: { code: string, message: string, fix: string } | null
}

const KEYS = ['command', 'source', 'destination', 'request', 'agent', 'ok', 'allowed', 'decision', 'defaultPolicy', 'intentionCount', 'error']

describe('consul-connect-native authz', () => {
  let agent: TestAgent
  let env: Record<string, string>

  before(async () => {
    agent = await TestAgent.start()
    env = { CONSUL_HTTP_ADDR: agent.address }
    agent.setIntentions('db', [{ Name: 'web', Action: 'allow' }, { Name: 'batch', Action: 'deny' }, { Name: '*', Action: 'deny' }])
    agent.setServiceDefaults('api', { Protocol: 'http' })
    agent.setIntentions('api', [{
      Name: 'web',
      Permissions: [
        { Action: 'deny', HTTP: { PathPrefix: '/admin', Header: [{ Name: 'x-role', Exact: 'guest' }] } },
        { Action: 'allow', HTTP: { PathPrefix: '/', Methods: ['GET', 'POST'] } }
      ]
    }])
  })
  after(async () => { await agent.close() })

  describe('connections (L4)', () => {
    it('exits 0 for an allowed source and names the intention that decided', async () => {
      const result = await cli(['authz', '--source', 'web', '--destination', 'db'], env)
      assert.equal(result.code, 0, result.stderr)
      assert.equal(result.stdout, [
        'allowed: web → db',
        '  reason     Matched L4 intention: default/web => default/db (Precedence: 9, Action: ALLOW)',
        '  intention  web → db, action allow, precedence 9',
        '  default    allow: Default behavior configured by ACLs (learned from the agent\'s authorize endpoint)',
        `  checked    3 intentions for "db" from ${agent.url}`,
        ''
      ].join('\n'))
    })

    it('exits 1 for a denied source, in text and in --json', async () => {
      const text = await cli(['authz', '--source', 'batch', '--destination', 'db'], env)
      assert.equal(text.code, 1)
      assert.match(text.stdout, /^denied: batch → db\n/)
      assert.match(text.stdout, / {2}intention {2}batch → db, action deny, precedence 9\n/)

      const result = await cli(['authz', '--source', 'batch', '--destination', 'db', '--json'], env)
      assert.equal(result.code, 1)
      const doc = json<AuthzJson>(result)
      assert.deepEqual(Object.keys(doc), KEYS)
      assert.equal(doc.ok, false)
      assert.equal(doc.allowed, false)
      assert.deepEqual(doc.source, { service: 'batch', namespace: 'default', partition: 'default', spiffeId: null })
      assert.equal(doc.request, null)
      assert.deepEqual(doc.decision, {
        reason: 'Matched L4 intention: default/batch => default/db (Precedence: 9, Action: DENY)',
        layer: 'L4',
        intention: {
          id: null,
          source: 'batch',
          sourceNamespace: 'default',
          sourcePartition: null,
          sourcePeer: null,
          destination: 'db',
          destinationNamespace: 'default',
          action: 'deny',
          permissions: 0,
          permission: null,
          precedence: 9
        }
      })
      assert.equal(doc.intentionCount, 3)
      assert.equal(doc.error, null)
    })

    it('shows a wildcard intention as the one that decided', async () => {
      const doc = json<AuthzJson>(await cli(['authz', '--source', 'other', '--destination', 'db', '--json'], env))
      assert.equal(doc.allowed, false)
      assert.equal(doc.decision!.intention!['source'], '*')
      assert.equal(doc.decision!.intention!['precedence'], 8)
    })

    it('accepts the source as a SPIFFE ID', async () => {
      const id = `spiffe://${agent.trustDomain}/ns/default/dc/dc1/svc/web`
      const result = await cli(['authz', '--source', id, '--destination', 'db', '--json'], env)
      assert.equal(result.code, 0)
      assert.deepEqual(json<AuthzJson>(result).source, { service: 'web', namespace: 'default', partition: 'default', spiffeId: id })
    })

    it('matches the source namespace given with --source-namespace', async () => {
      // The `*` → db deny has precedence 8 (`default/*`): a web in another namespace matches nothing, so the default decides.
      const doc = json<AuthzJson>(await cli(['authz', '--source', 'web', '--source-namespace', 'team-a', '--destination', 'db', '--json'], env))
      assert.equal(doc.decision!.intention, null)
      assert.equal(doc.decision!.reason, 'Default behavior configured by ACLs')
      assert.equal(doc.allowed, true)
    })

    it('denies a connection that an L7 intention governs, as the agent\'s authorize does', async () => {
      const result = await cli(['authz', '--source', 'web', '--destination', 'api'], env)
      assert.equal(result.code, 1)
      assert.match(result.stdout, /^denied: web → api\n/)
      assert.match(result.stdout, /intention {2}web → api, L7 intention with 2 permission\(s\), precedence 9\n/)
    })
  })

  describe('HTTP requests (L7)', () => {
    it('names the permission that denied the request', async () => {
      const result = await cli(['authz', '--source', 'web', '--destination', 'api', '--path', '/admin/users', '--header', 'X-Role=guest', '--json'], env)
      assert.equal(result.code, 1)
      const doc = json<AuthzJson>(result)
      assert.deepEqual(doc.request, { method: 'GET', path: '/admin/users', headers: { 'x-role': 'guest' } })
      assert.equal(doc.decision!.layer, 'L7')
      assert.equal(doc.decision!.reason, 'Matched L7 intention: default/web => default/api (Precedence: 9, Permissions: 2), Permissions[0]: DENY')
      assert.deepEqual(doc.decision!.intention!['permission'], { index: 0, action: 'deny' })
      assert.equal(doc.decision!.intention!['action'], null)
      assert.equal(doc.decision!.intention!['permissions'], 2)
    })

    it('names the permission that allowed the request', async () => {
      const result = await cli(['authz', '--source', 'web', '--destination', 'api', '--method', 'post', '--path', '/admin/users', '--header', 'x-role=ops'], env)
      assert.equal(result.code, 0)
      assert.match(result.stdout, /^allowed: web → api \(POST \/admin\/users\)\n/)
      assert.match(result.stdout, /intention {2}web → api, Permissions\[1\] \(allow\), precedence 9\n/)
    })

    it('falls to the default when no permission matches', async () => {
      const doc = json<AuthzJson>(await cli(['authz', '--source', 'web', '--destination', 'api', '--method', 'DELETE', '--path', '/x', '--json', '--default-policy', 'deny'], env))
      assert.equal(doc.allowed, false)
      assert.equal(doc.decision!.intention!['permission'], null)
      assert.match(doc.decision!.reason, /no permission matched the request; Default deny set on the command line$/)
      assert.deepEqual(doc.defaultPolicy, { allow: false, reason: 'Default deny set on the command line', source: null, via: 'option', notes: [] })
    })

    it('collects a repeated header into several values', async () => {
      const doc = json<AuthzJson>(await cli(['authz', '--source', 'web', '--destination', 'api', '--header', 'a=1', '--header', 'A=2', '--header', 'b=x=y', '--json'], env))
      assert.deepEqual(doc.request, { method: 'GET', path: '/', headers: { a: ['1', '2'], b: 'x=y' } })
    })
  })

  describe('the default decision', () => {
    it('decides with default_intention_policy when no intention matches', async () => {
      const strict = await TestAgent.start({ defaultIntentionPolicy: 'deny' })
      try {
        const result = await cli(['authz', '--source', 'web', '--destination', 'db', '--json'], { CONSUL_HTTP_ADDR: strict.address })
        assert.equal(result.code, 1)
        const doc = json<AuthzJson>(result)
        assert.equal(doc.decision!.intention, null)
        assert.equal(doc.decision!.reason, 'Default intention policy')
        assert.deepEqual(doc.defaultPolicy, { allow: false, reason: 'Default intention policy', source: 'default_intention_policy', via: 'authorize-probe', notes: ['agent self: the answer does not disclose the default policy'] })
        assert.equal(doc.intentionCount, 0)
      } finally {
        await strict.close()
      }
    })

    it('falls back to the ACL header when the token may read neither agent self nor authorize; --default-policy overrides', async () => {
      const acl = await TestAgent.start({ acl: { defaultPolicy: 'allow', tokens: { reader: { intentionsRead: true } } } })
      try {
        const env = { CONSUL_HTTP_ADDR: acl.address, CONSUL_HTTP_TOKEN: 'reader' }
        // With default allow this ACL model grants everything: faults make self and authorize refuse, leaving the header.
        acl.fault({ path: '/v1/agent/self', status: 403, body: 'Permission denied' })
        acl.fault({ path: '/v1/agent/connect/authorize', status: 403, body: 'Permission denied' })
        const fromHeader = await cli(['authz', '--source', 'web', '--destination', 'db', '--json'], env)
        assert.equal(fromHeader.code, 0)
        assert.equal(fromHeader.stderr, '')
        assert.deepEqual(json<AuthzJson>(fromHeader).defaultPolicy, {
          allow: true,
          reason: 'Default behavior configured by ACLs',
          source: 'acl-header',
          via: 'acl-header',
          notes: ['agent self: 403 (needs agent:read)', 'authorize probe: 403 (needs service:write on "db")']
        })

        const overridden = await cli(['authz', '--source', 'web', '--destination', 'db', '--default-policy', 'deny'], env)
        assert.equal(overridden.code, 1)
        assert.match(overridden.stdout, / {2}default {4}deny: Default deny set on the command line \(given with --default-policy\)\n/)
        assert.equal(acl.requestCount({ path: '/v1/agent/connect/authorize' }), 1, 'an override asks the agent nothing about the default')
      } finally {
        await acl.close()
      }
    })
  })

  describe('failures', () => {
    it('exits 1 with the intentions:read fix when the token cannot read the intentions', async () => {
      const acl = await TestAgent.start({ acl: { defaultPolicy: 'deny', tokens: { 'web-secret': { serviceWrite: ['web'] } } } })
      try {
        const env = { CONSUL_HTTP_ADDR: acl.address, CONSUL_HTTP_TOKEN: 'web-secret' }
        const text = await cli(['authz', '--source', 'web', '--destination', 'db'], env)
        assert.equal(text.code, 1)
        assert.equal(text.stdout, '')
        assert.match(text.stderr, /^consul-connect-native: error: fetching intentions for "db": agent answered 403: Permission denied: .*lacks permission 'intention:read' on "db"\nfix: the token needs intentions:read on "db" \(service:read\)\n$/)

        const result = await cli(['authz', '--source', 'web', '--destination', 'db', '--json'], env)
        assert.equal(result.code, 1)
        const doc = json<AuthzJson>(result)
        assert.deepEqual(Object.keys(doc), KEYS)
        assert.equal(doc.allowed, null)
        assert.equal(doc.decision, null)
        assert.equal(doc.error!.code, 'ERR_CONNECT_AGENT_PERMISSION_DENIED')
        assert.equal(doc.error!.fix, 'the token needs intentions:read on "db" (service:read)')
        assert.ok(!result.stdout.includes('web-secret'))
      } finally {
        await acl.close()
      }
    })

    it('exits 1 with the unreachable fix when the agent is down', async () => {
      const port = await closedPort()
      const result = await cli(['authz', '--source', 'web', '--destination', 'db', '--json'], { CONSUL_HTTP_ADDR: `127.0.0.1:${port}` })
      assert.equal(result.code, 1)
      const doc = json<AuthzJson>(result)
      assert.equal(doc.error!.code, 'ERR_CONNECT_AGENT_UNREACHABLE')
      assert.equal(doc.error!.fix, `is the agent running? check CONSUL_HTTP_ADDR=127.0.0.1:${port}`)
    })

    // [what, argv, message]
    const usage: Array<[string, string[], RegExp]> = [
      ['no --source', ['--destination', 'db'], /--source is required/],
      ['no --destination', ['--source', 'web'], /--destination is required/],
      ['an empty --source', ['--source', '', '--destination', 'db'], /--source needs a non-empty value/],
      ['a source with a slash', ['--source', 'ns/web', '--destination', 'db'], /--source must be a service name or a spiffe:\/\/ ID/],
      ['a malformed SPIFFE ID', ['--source', 'spiffe://UPPER/x', '--destination', 'db'], /--source: invalid SPIFFE ID/],
      ['a SPIFFE ID that is not a service', ['--source', 'spiffe://a.consul/agent/server/dc/dc1', '--destination', 'db'], /is a server identity; intentions authorize services only/],
      ['a SPIFFE ID with --source-namespace', ['--source', 'spiffe://a.consul/ns/default/dc/dc1/svc/web', '--source-namespace', 'x', '--destination', 'db'], /cannot be combined with a SPIFFE ID/],
      ['a header without "="', ['--source', 'web', '--destination', 'db', '--header', 'x-role'], /--header expects name=value/],
      ['a path without "/"', ['--source', 'web', '--destination', 'db', '--path', 'admin'], /--path must start with "\/"/],
      ['a method that is not one', ['--source', 'web', '--destination', 'db', '--method', 'GE T'], /--method must be an HTTP method/],
      ['an unknown default policy', ['--source', 'web', '--destination', 'db', '--default-policy', 'maybe'], /--default-policy must be allow or deny/],
      ['an unknown option', ['--source', 'web', '--destination', 'db', '--verbose'], /Unknown option '--verbose'/]
    ]
    for (const [what, argv, message] of usage) {
      it(`exits 2 on ${what}`, async () => {
        const result = await cli(['authz', ...argv], env)
        assert.equal(result.code, 2)
        assert.equal(result.stdout, '')
        assert.match(result.stderr, message)
        assert.match(result.stderr, /\nUsage: consul-connect-native authz --source/)
      })
    }
  })
})
