// An ES module consumer of the packed package: the main entry point and /testing, type-checked and run.
import assert from 'node:assert/strict'
import { ConnectError, ConnectService, Intentions, parseSpiffeId } from 'consul-connect-native'
import type { ConnectServiceOptions, Decision, SpiffeId } from 'consul-connect-native'
import { TestAgent, TestCA } from 'consul-connect-native/testing'

const id: SpiffeId = parseSpiffeId('spiffe://11111111-2222-3333-4444-555555555555.consul/ns/default/dc/dc1/svc/web')
assert.equal(id.kind === 'service' && id.service, 'web')
assert.throws(() => parseSpiffeId('https://web'), (err: unknown) => err instanceof ConnectError && err.code.startsWith('ERR_CONNECT_'))

const rules = new Intentions([{ SourceName: 'web', Action: 'allow' }], { destination: 'db', defaultAllow: false })
const decision: Decision = rules.decide({ source: id })
assert.equal(decision.allowed, true)
assert.equal(rules.decide({ source: { service: 'api' } }).allowed, false)

const ca = await TestCA.create()
const agent = await TestAgent.start({ ca })
try {
  const options: ConnectServiceOptions = { service: 'web', agent: { address: agent.address, env: false } }
  const svc = new ConnectService(options)
  try {
    await svc.ready({ signal: AbortSignal.timeout(10_000) })
    assert.equal(svc.identity?.spiffeId, `spiffe://${ca.trustDomain}/ns/default/dc/dc1/svc/web`)
  } finally {
    await svc.close()
  }
} finally {
  await agent.close()
}
console.log('OK esm')
