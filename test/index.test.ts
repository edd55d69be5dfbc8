import assert from 'node:assert/strict'
import * as api from '../lib/index.js'
import * as testing from '../lib/testing/index.js'

// The names DESIGN.md lists (and users call). Removing or renaming one is a breaking change.
describe('public API', () => {
  const required: Array<[string, string]> = [
    ['ConnectService', 'function'],
    ['Intentions', 'function'],
    ['certificateAuthenticator', 'function'],
    ['parseSpiffeId', 'function'],
    ['formatSpiffeId', 'function'],
    ['ConnectError', 'function'],
    ['ErrorCodes', 'object'],
    ['AgentClient', 'function'],
    ['TrustBundle', 'function'],
    ['Identity', 'function'],
    ['verifyChain', 'function'],
    ['staticCredentials', 'function'],
    ['fileCredentials', 'function'],
    ['createHttpsServer', 'function'],
    ['peerOf', 'function'],
    ['meshDispatcher', 'function'],
    ['staticResolver', 'function'],
    ['consulResolver', 'function']
  ]
  for (const [name, type] of required) {
    it(`exports ${name}`, () => {
      assert.equal(typeof (api as Record<string, unknown>)[name], type)
    })
  }

  it('exports TestCA and TestAgent from the /testing subpath', () => {
    assert.equal(typeof testing.TestCA, 'function')
    assert.equal(typeof testing.TestAgent, 'function')
    assert.equal(typeof testing.TestAgent.start, 'function')
  })

  it('ConnectService has the methods DESIGN.md names', () => {
    for (const method of ['ready', 'createServer', 'createTlsServer', 'attach', 'dial', 'fetch', 'dispatcher', 'webSocket', 'authorize', 'certificateAuthenticator', 'reauthorize', 'close']) {
      assert.equal(typeof (api.ConnectService.prototype as unknown as Record<string, unknown>)[method], 'function', method)
    }
  })
})
