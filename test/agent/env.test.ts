import assert from 'node:assert/strict'
import { agentOptionsFromEnv } from '../../lib/agent/env.js'
import { InvalidOptionError } from '../../lib/errors.js'

describe('agentOptionsFromEnv', () => {
  describe('#variables', () => {
    const table: Array<[env: Record<string, string>, expected: object]> = [
      [{}, {}],
      [{ CONSUL_HTTP_ADDR: '10.0.0.1:8500' }, { address: '10.0.0.1:8500' }],
      [{ CONSUL_HTTP_ADDR: 'https://consul.local:8501' }, { address: 'https://consul.local:8501' }],
      [{ CONSUL_HTTP_ADDR: 'unix:///run/consul.sock' }, { address: 'unix:///run/consul.sock' }],
      [{ CONSUL_HTTP_ADDR: '[::1]:8500' }, { address: '[::1]:8500' }],
      [{ CONSUL_HTTP_TOKEN: ' abc-123 ' }, { token: 'abc-123' }],
      [{ CONSUL_HTTP_TOKEN_FILE: '/etc/consul/token' }, { tokenFile: '/etc/consul/token' }],
      // The token wins over the token file.
      [{ CONSUL_HTTP_TOKEN: 'abc', CONSUL_HTTP_TOKEN_FILE: '/etc/consul/token' }, { token: 'abc' }],
      [{ CONSUL_HTTP_SSL: 'true' }, { tls: { enabled: true } }],
      [{ CONSUL_HTTP_SSL: '1' }, { tls: { enabled: true } }],
      [{ CONSUL_HTTP_SSL: 'False' }, { tls: { enabled: false } }],
      [{ CONSUL_HTTP_SSL_VERIFY: 'false' }, { tls: { verify: false } }],
      [{ CONSUL_HTTP_SSL_VERIFY: 'T' }, { tls: { verify: true } }],
      [{ CONSUL_CACERT: '/etc/ca.pem' }, { tls: { caFile: '/etc/ca.pem' } }],
      [{ CONSUL_CAPATH: '/etc/cas' }, { tls: { caPath: '/etc/cas' } }],
      [{ CONSUL_CLIENT_CERT: '/etc/c.pem', CONSUL_CLIENT_KEY: '/etc/k.pem' }, { tls: { certFile: '/etc/c.pem', keyFile: '/etc/k.pem' } }],
      [{ CONSUL_TLS_SERVER_NAME: 'server.dc1.consul' }, { tls: { serverName: 'server.dc1.consul' } }],
      [{ CONSUL_NAMESPACE: 'team-a' }, { namespace: 'team-a' }],
      [{ CONSUL_PARTITION: 'part-1' }, { partition: 'part-1' }],
      // Empty counts as unset, as in Go's client.
      [{ CONSUL_HTTP_ADDR: '', CONSUL_HTTP_TOKEN: '', CONSUL_HTTP_SSL: '', CONSUL_NAMESPACE: '' }, {}],
      [{ UNRELATED: 'x', CONSUL_HTTP_AUTH: 'u:p' }, {}]
    ]
    for (const [env, expected] of table) {
      it(`reads ${JSON.stringify(env)}`, () => {
        assert.deepEqual(agentOptionsFromEnv(env), expected)
      })
    }

    it('reads process.env by default', () => {
      const saved = process.env['CONSUL_PARTITION']
      process.env['CONSUL_PARTITION'] = 'from-process-env'
      try {
        assert.equal(agentOptionsFromEnv().partition, 'from-process-env')
      } finally {
        if (saved === undefined) delete process.env['CONSUL_PARTITION']
        else process.env['CONSUL_PARTITION'] = saved
      }
    })

    it('returns frozen options', () => {
      const options = agentOptionsFromEnv({ CONSUL_HTTP_SSL: 'true' })
      assert.ok(Object.isFrozen(options))
      assert.ok(Object.isFrozen(options.tls))
    })
  })

  describe('#errors', () => {
    const table: Array<[env: Record<string, string>, field: string]> = [
      [{ CONSUL_HTTP_SSL: 'yes' }, 'CONSUL_HTTP_SSL'],
      [{ CONSUL_HTTP_SSL_VERIFY: 'nope' }, 'CONSUL_HTTP_SSL_VERIFY'],
      [{ CONSUL_HTTP_ADDR: 'ftp://x:1' }, 'CONSUL_HTTP_ADDR'],
      [{ CONSUL_HTTP_ADDR: '::1:8500' }, 'CONSUL_HTTP_ADDR']
    ]
    for (const [env, field] of table) {
      it(`throws InvalidOptionError naming ${field} for ${JSON.stringify(env)}`, () => {
        assert.throws(() => agentOptionsFromEnv(env), (err: unknown) => {
          assert.ok(err instanceof InvalidOptionError)
          assert.equal(err.code, 'ERR_CONNECT_INVALID_OPTION')
          assert.equal(err.field, field)
          return true
        })
      })
    }
  })
})
