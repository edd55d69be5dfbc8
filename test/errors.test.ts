import assert from 'node:assert/strict'
import { AgentError, AuthorizationError, CertificateError, ConnectError, ErrorCodes, InvalidOptionError, SpiffeIdError, abortError, hasCode } from '../lib/errors.js'

describe('ConnectError', () => {
  it('carries a stable code and the cause', () => {
    const cause = new Error('boom')
    const err = new ConnectError('ERR_CONNECT_CLOSED', 'watch closed', { cause })
    assert.equal(err.code, 'ERR_CONNECT_CLOSED')
    assert.equal(err.cause, cause)
    assert.ok(err instanceof Error)
    assert.ok(err instanceof ConnectError)
  })

  it('is recognised across copies of the package through its Symbol.for brand', () => {
    // A look-alike built by "another copy": same brand symbol, unrelated class.
    class Other extends Error { code = 'ERR_CONNECT_CLOSED' }
    const foreign = new Other('x')
    Object.defineProperty(foreign, Symbol.for('consul-connect-native.error'), { value: true })
    assert.ok(foreign instanceof ConnectError)
    assert.ok(!(new Error('plain') instanceof ConnectError))
  })

  it('keeps subclasses distinct under instanceof', () => {
    const opt = new InvalidOptionError('agent.address', 'must be host:port')
    assert.ok(opt instanceof ConnectError)
    assert.ok(opt instanceof InvalidOptionError)
    assert.ok(!(opt instanceof AgentError))
    assert.equal(opt.field, 'agent.address')
    assert.match(opt.message, /invalid option "agent.address": must be host:port/)
  })

  describe('subclasses', () => {
    const table: Array<[ConnectError, string]> = [
      [new InvalidOptionError('x', 'y'), 'ERR_CONNECT_INVALID_OPTION'],
      [new SpiffeIdError('ERR_CONNECT_SPIFFE_ID_INVALID', 'spiffe://', 'bad'), 'ERR_CONNECT_SPIFFE_ID_INVALID'],
      [new CertificateError('ERR_CONNECT_CERT_EXPIRED', 'expired'), 'ERR_CONNECT_CERT_EXPIRED'],
      [new AgentError('ERR_CONNECT_AGENT_HTTP', 'x', { status: 500, path: '/v1/x' }), 'ERR_CONNECT_AGENT_HTTP'],
      [new AuthorizationError('denied by intention web => db'), 'ERR_CONNECT_NOT_AUTHORIZED'],
      [abortError('waiting for ready'), 'ERR_CONNECT_ABORTED']
    ]
    for (const [err, code] of table) {
      it(`${err.name} has code ${code} listed in ErrorCodes`, () => {
        assert.equal(err.code, code)
        assert.ok(code in ErrorCodes)
        assert.ok(hasCode(err, code as keyof typeof ErrorCodes))
      })
    }
  })
})
