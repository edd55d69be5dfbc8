/* eslint-disable @typescript-eslint/no-require-imports -- a CommonJS consumer calling require() is the point */
// A CommonJS consumer using require(), on Node >= 20.19 / 22.12 (require(esm) unflagged); TypeScript >= 5.8
// types it under module nodenext. require() and import() must give the same module: no dual-package hazard.
import assert = require('node:assert/strict')
import ccn = require('consul-connect-native')
import testing = require('consul-connect-native/testing')

async function main (): Promise<void> {
  assert.equal(ccn.parseSpiffeId('spiffe://a.consul/ns/default/dc/dc1/svc/web').kind, 'service')
  assert.equal(typeof testing.TestAgent.start, 'function')
  const imported = await import('consul-connect-native')
  assert.equal(imported.ConnectError, ccn.ConnectError)
  console.log('OK cjs require()')
}

main().catch((err: unknown) => {
  console.error(err)
  process.exitCode = 1
})
