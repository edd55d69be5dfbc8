import assert from 'node:assert/strict'
import { TestAgent } from '../../lib/testing/index.js'
import { call } from './test-agent-client.js'

const ROOTS = '/v1/agent/connect/ca/roots'
const SELF = '/v1/agent/self'

describe('TestAgent', () => {
  let agent: TestAgent

  beforeEach(async () => {
    agent = await TestAgent.start()
  })

  afterEach(async () => {
    await agent.close()
  })

  describe('#fault', () => {
    it('answers a chosen status and text body instead of the real answer', async () => {
      agent.fault({ path: ROOTS, status: 503, body: 'No cluster leader' })
      const answer = await call(agent, ROOTS)
      assert.equal(answer.status, 503)
      assert.equal(answer.text, 'No cluster leader')
      assert.equal(answer.headers['content-type'], 'text/plain; charset=utf-8')
      assert.equal(agent.counters.faultsApplied, 1)
    })

    it('answers a JSON body, and a default text when only a status is given', async () => {
      agent.fault({ path: ROOTS, body: { Roots: 'not a list' } })
      agent.fault({ path: SELF, status: 500 })
      const json = await call(agent, ROOTS)
      assert.equal(json.status, 200)
      assert.deepEqual(json.json(), { Roots: 'not a list' })
      const text = await call(agent, SELF)
      assert.equal(text.status, 500)
      assert.match(text.text, /500/)
    })

    it('answers 200 with a body that is not JSON when malformed', async () => {
      agent.fault({ path: ROOTS, malformed: true })
      const answer = await call(agent, ROOTS)
      assert.equal(answer.status, 200)
      assert.equal(answer.headers['content-type'], 'application/json')
      assert.throws(() => answer.json(), SyntaxError)
    })

    it('answers a blocking query at once with an index below the one sent when indexBackwards', async () => {
      const first = await call(agent, ROOTS)
      agent.fault({ path: ROOTS, indexBackwards: true })
      const answer = await call(agent, `${ROOTS}?index=${first.index}&wait=5m`)
      assert.equal(answer.status, 200)
      assert.equal(answer.index, first.index - 1)
      assert.deepEqual(answer.json(), first.json(), 'the body is the real one')
      assert.equal(agent.counters.heldTotal, 0, 'never held')
    })

    it('goes backwards from the current index when the client sent none', async () => {
      const first = await call(agent, ROOTS)
      agent.fault({ path: ROOTS, indexBackwards: true })
      assert.equal((await call(agent, ROOTS)).index, first.index - 1)
    })

    it('delays the answer by delayMs', async () => {
      agent.fault({ path: ROOTS, delayMs: 150 })
      const started = Date.now()
      const answer = await call(agent, ROOTS)
      assert.ok(Date.now() - started >= 140)
      assert.equal(answer.status, 200)
    })

    it('hangs a request until the fault is cleared, then answers normally', async () => {
      const fault = agent.fault({ path: SELF, hang: true })
      const held = agent.nextRequest({ path: SELF, held: true })
      const pending = call(agent, SELF)
      await held
      assert.equal(agent.counters.held, 1)
      fault.clear()
      const answer = await pending
      assert.equal(answer.status, 200)
      assert.equal(answer.json().Config.NodeName, agent.nodeName)
      assert.equal(fault.active, false)
    })

    it('releases hanging requests on clearFaults()', async () => {
      agent.fault({ path: SELF, hang: true, times: 1 })
      const held = agent.nextRequest({ path: SELF, held: true })
      const pending = call(agent, SELF)
      await held
      agent.clearFaults()
      assert.equal((await pending).status, 200)
    })

    it('ends a hanging request when the agent closes', async () => {
      agent.fault({ path: SELF, hang: true })
      const held = agent.nextRequest({ path: SELF, held: true })
      const pending = call(agent, SELF).then(() => 'answered', (err: NodeJS.ErrnoException) => err.code)
      await held
      await agent.close()
      assert.equal(await pending, 'ECONNRESET')
    })

    it('applies to `times` requests, then clears itself', async () => {
      const fault = agent.fault({ path: ROOTS, status: 500, times: 2 })
      assert.equal((await call(agent, ROOTS)).status, 500)
      assert.equal((await call(agent, ROOTS)).status, 500)
      assert.equal((await call(agent, ROOTS)).status, 200)
      assert.equal(fault.hits, 2)
      assert.equal(fault.active, false)
    })

    it('matches by RegExp and method, first added first', async () => {
      agent.fault({ path: /^\/v1\/agent\/connect\/ca\/leaf\//, method: 'get', status: 429 })
      agent.fault({ path: /leaf/, status: 500 })
      agent.fault({ path: ROOTS, method: 'PUT', status: 418 })
      assert.equal((await call(agent, '/v1/agent/connect/ca/leaf/web')).status, 429)
      assert.equal((await call(agent, ROOTS)).status, 200, 'another method is not faulted')
    })

    it('stops applying once cleared', async () => {
      const fault = agent.fault({ path: ROOTS, status: 500 })
      assert.equal((await call(agent, ROOTS)).status, 500)
      fault.clear()
      fault.clear()
      assert.equal((await call(agent, ROOTS)).status, 200)
    })

    const invalid: Array<[string, object, string]> = [
      ['a relative path', { path: 'v1/agent/self' }, 'fault.path'],
      ['no path', { status: 500 }, 'fault.path'],
      ['a bad status', { path: SELF, status: 99 }, 'fault.status'],
      ['a negative delay', { path: SELF, delayMs: -1 }, 'fault.delayMs'],
      ['zero times', { path: SELF, times: 0 }, 'fault.times'],
      ['a false flag', { path: SELF, hang: false }, 'fault.hang'],
      ['two answers at once', { path: SELF, malformed: true, status: 500 }, 'fault']
    ]
    for (const [what, spec, field] of invalid) {
      it(`rejects ${what}`, () => {
        assert.throws(() => agent.fault(spec as never), { code: 'ERR_CONNECT_INVALID_OPTION', field })
      })
    }
  })
})
