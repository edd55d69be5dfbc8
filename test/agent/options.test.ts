import assert from 'node:assert/strict'
import { resolveAgentOptions } from '../../lib/agent/options.js'
import type { AgentClientOptions } from '../../lib/agent/options.js'
import { InvalidOptionError } from '../../lib/errors.js'

describe('resolveAgentOptions', () => {
  describe('#defaults', () => {
    it('uses 127.0.0.1:8500, no token, verify on, 10 s timeout when nothing is set', () => {
      const resolved = resolveAgentOptions({ env: {} })
      assert.equal(resolved.address.origin, 'http://127.0.0.1:8500')
      assert.equal(resolved.token, undefined)
      assert.equal(resolved.tls.verify, true)
      assert.deepEqual(resolved.tls.ca, [])
      assert.equal(resolved.timeoutMs, 10_000)
      assert.equal(resolved.namespace, undefined)
      assert.equal(resolved.partition, undefined)
      assert.ok(Object.isFrozen(resolved) && Object.isFrozen(resolved.tls))
    })
  })

  describe('#precedence', () => {
    const env = {
      CONSUL_HTTP_ADDR: 'env-host:8500',
      CONSUL_HTTP_TOKEN: 'env-token',
      CONSUL_HTTP_SSL: 'true',
      CONSUL_CACERT: '/env/ca.pem',
      CONSUL_CLIENT_CERT: '/env/cert.pem',
      CONSUL_CLIENT_KEY: '/env/key.pem',
      CONSUL_NAMESPACE: 'env-ns',
      CONSUL_PARTITION: 'env-part'
    }

    it('takes everything from the environment when no option is given', () => {
      const r = resolveAgentOptions({ env })
      assert.equal(r.address.origin, 'https://env-host:8500')
      assert.equal(r.token?.kind, 'inline')
      assert.equal(r.token.kind === 'inline' ? r.token.text.reveal() : '', 'env-token')
      assert.equal(r.token.label, 'CONSUL_HTTP_TOKEN')
      assert.deepEqual(r.tls.ca, [{ kind: 'file', path: '/env/ca.pem', label: 'CONSUL_CACERT' }])
      assert.deepEqual(r.tls.cert, { kind: 'file', path: '/env/cert.pem', label: 'CONSUL_CLIENT_CERT' })
      assert.equal(r.namespace, 'env-ns')
      assert.equal(r.partition, 'env-part')
    })

    it('lets explicit options win field by field', () => {
      const r = resolveAgentOptions({ env, address: 'opt-host:9500', namespace: 'opt-ns', tls: { enabled: false } })
      assert.equal(r.address.origin, 'http://opt-host:9500')
      assert.equal(r.namespace, 'opt-ns')
      assert.equal(r.partition, 'env-part')
    })

    it('replaces the whole token group: an explicit tokenFile beats CONSUL_HTTP_TOKEN', () => {
      const r = resolveAgentOptions({ env, tokenFile: '/opt/token' })
      assert.deepEqual(r.token, { kind: 'file', path: '/opt/token', label: 'agent.tokenFile' })
    })

    it('treats token "" as "no token", silencing the environment', () => {
      assert.equal(resolveAgentOptions({ env, token: '' }).token, undefined)
    })

    it('replaces the whole CA group: an explicit inline CA is not mixed with CONSUL_CACERT', () => {
      const r = resolveAgentOptions({ env, tls: { ca: '-----BEGIN CERTIFICATE-----' } })
      assert.deepEqual(r.tls.ca.map((s) => s.label), ['agent.tls.ca'])
    })

    it('trusts every CA of the winning source', () => {
      const r = resolveAgentOptions({ env: {}, tls: { ca: 'pem', caFile: '/a.pem', caPath: '/cas' } })
      assert.deepEqual(r.tls.ca.map((s) => s.kind), ['inline', 'file', 'dir'])
    })

    it('reads no environment with env: false', () => {
      const saved = process.env['CONSUL_HTTP_ADDR']
      process.env['CONSUL_HTTP_ADDR'] = 'should-not-be-read:1'
      try {
        assert.equal(resolveAgentOptions({ env: false }).address.origin, 'http://127.0.0.1:8500')
        assert.equal(resolveAgentOptions({}).address.origin, 'http://should-not-be-read:1')
      } finally {
        if (saved === undefined) delete process.env['CONSUL_HTTP_ADDR']
        else process.env['CONSUL_HTTP_ADDR'] = saved
      }
    })
  })

  describe('#validation', () => {
    const table: Array<[options: unknown, field: string]> = [
      [{ address: 'ftp://x:1' }, 'agent.address'],
      [{ address: '' }, 'agent.address'],
      [{ address: 42 }, 'agent.address'],
      [{ adress: 'h:1' }, 'agent.adress'],
      [{ timeoutMs: 0 }, 'agent.timeoutMs'],
      [{ timeoutMs: 1.5 }, 'agent.timeoutMs'],
      [{ token: 'has space' }, 'agent.token'],
      [{ token: 'line\nbreak' }, 'agent.token'],
      [{ namespace: '' }, 'agent.namespace'],
      [{ tls: { verify: 'no' } }, 'agent.tls.verify'],
      [{ tls: { caFiel: '/x' } }, 'agent.tls.caFiel'],
      [{ tls: { certFile: '/c.pem' } }, 'agent.tls.key'],
      [{ tls: { key: 'k' } }, 'agent.tls.cert']
    ]
    for (const [options, field] of table) {
      it(`throws InvalidOptionError naming ${field} for ${JSON.stringify(options)}`, () => {
        assert.throws(() => resolveAgentOptions({ env: {}, ...(options as AgentClientOptions) }), (err: unknown) => {
          assert.ok(err instanceof InvalidOptionError, String(err))
          assert.equal(err.field, field)
          assert.doesNotMatch(err.message, /has space|line\nbreak/)
          return true
        })
      })
    }

    it('names the environment variable when the environment is at fault', () => {
      assert.throws(() => resolveAgentOptions({ env: { CONSUL_CLIENT_CERT: '/c.pem' } }), { field: 'CONSUL_CLIENT_KEY' })
    })
  })

  describe('#env', () => {
    it('accepts process.env itself (not a plain object, which zod 4 records refuse)', () => {
      assert.equal(Object.getPrototypeOf(process.env) === Object.prototype, false)
      assert.doesNotThrow(() => resolveAgentOptions({ env: process.env, address: '127.0.0.1:1' }))
      // Any object with another prototype is read by variable name, like process.env.
      const env = Object.assign(Object.create({ inherited: true }) as Record<string, string>, { CONSUL_NAMESPACE: 'team' })
      assert.equal(resolveAgentOptions({ env }).namespace, 'team')
    })

    it('refuses an env that is not an object or false', () => {
      assert.throws(() => resolveAgentOptions({ env: 'CONSUL_HTTP_ADDR=x' as never }), (err: unknown) => err instanceof InvalidOptionError && err.field === 'agent.env')
    })
  })
})
