import assert from 'node:assert/strict'
import { z } from 'zod'
import { BlockingQuery } from '../../lib/agent/blocking-query.js'
import type { AgentRequester, BlockingQueryOptions, QueryErrorInfo } from '../../lib/agent/blocking-query.js'
import { AgentClient } from '../../lib/agent/client.js'
import type { AgentRequest, AgentResponse } from '../../lib/agent/client.js'
import type { ConnectError } from '../../lib/errors.js'
import { abortError, AgentError, InvalidOptionError } from '../../lib/errors.js'
import { nextEvent } from './support/events.js'
import { FakeAgent } from './support/fake-agent.js'
import type { ScriptedResponse } from './support/fake-agent.js'
import { VirtualClock } from './support/virtual-clock.js'

const itemSchema = z.object({ v: z.number() })
type Item = z.infer<typeof itemSchema>

/** Options that keep HTTP-driven tests fast: no rate-limit waits, 1 ms backoff, short waits. */
const fast = { rateLimit: { burst: 1000, perSecond: 1000 }, backoff: { baseMs: 1, capMs: 5, jitter: 'none' as const }, waitMs: 60_000 }

/** Collects a query's events for assertions. */
function record<R, T> (query: BlockingQuery<R, T>): { changes: Array<[T, T | undefined]>, errors: Array<[ConnectError, QueryErrorInfo]> } {
  const log = { changes: [] as Array<[T, T | undefined]>, errors: [] as Array<[ConnectError, QueryErrorInfo]> }
  query.on('change', (value, previous) => log.changes.push([value, previous]))
  query.on('error', (err, info) => log.errors.push([err, info]))
  return log
}


describe('BlockingQuery', () => {
  describe('over HTTP', () => {
    let agent: FakeAgent
    let client: AgentClient
    const queries: Array<{ close (): Promise<void> }> = []

    function query<T = Item> (options: Partial<BlockingQueryOptions<Item, T>> = {}): BlockingQuery<Item, T> {
      const q = new BlockingQuery<Item, T>(client, { path: '/v1/thing', schema: itemSchema, what: 'fetching thing', ...fast, ...options })
      queries.push(q)
      return q
    }

    beforeEach(async () => {
      agent = await FakeAgent.start()
      client = new AgentClient({ env: {}, address: agent.address, timeoutMs: 2_000 })
    })
    afterEach(async () => {
      await Promise.all(queries.splice(0).map((q) => q.close()))
      await client.close()
      await agent.close()
    })

    describe('#index and wait', () => {
      it('starts non-blocking, then sends back X-Consul-Index with wait', async () => {
        agent.script({ json: { v: 1 }, index: 10 }, { json: { v: 2 }, index: 12 })
        const q = query({ waitMs: 90_000, query: { extra: 'x' } }).start()
        await agent.waitForRequests(3)
        const sent = agent.requests.map((r) => r.rawUrl)
        assert.deepEqual(sent, ['/v1/thing?extra=x', '/v1/thing?extra=x&index=10&wait=90000ms', '/v1/thing?extra=x&index=12&wait=90000ms'])
        assert.equal(q.current?.index, 12)
      })

      it('emits request for each call, even to a listener attached right after start()', async () => {
        agent.script({ json: { v: 1 }, index: 10 })
        const q = query().start()
        const [first] = await nextEvent(q, 'request')
        assert.deepEqual(first, { index: undefined, blocking: false })
        const [second] = await nextEvent(q, 'request')
        assert.deepEqual(second, { index: 10, blocking: true })
      })

      it('resets when the index goes backwards: the next call is non-blocking', async () => {
        agent.script({ json: { v: 1 }, index: 50 }, { json: { v: 2 }, index: 7 }, { json: { v: 3 }, index: 8 })
        query().start()
        await agent.waitForRequests(4)
        assert.deepEqual(agent.requests.map((r) => r.query.get('index')), [null, '50', null, '8'])
        assert.equal(agent.requests[2]!.query.get('wait'), null)
      })

      it('never sends an index below 1: an index of 0 becomes 1', async () => {
        agent.script({ json: { v: 1 }, index: 0 })
        query().start()
        await agent.waitForRequests(2)
        assert.equal(agent.requests[1]!.query.get('index'), '1')
      })

      it('caps wait at 10 minutes', async () => {
        agent.script({ json: { v: 1 }, index: 3 })
        query({ waitMs: 3_600_000 }).start()
        await agent.waitForRequests(2)
        assert.equal(agent.requests[1]!.query.get('wait'), '600000ms')
      })

      it('fails eagerly on bad tuning, naming the field', () => {
        assert.throws(() => query({ waitMs: -1 }), (err: unknown) => err instanceof InvalidOptionError && err.field === 'watch.waitMs')
        assert.throws(() => query({ rateLimit: { burst: 0 } }), (err: unknown) => err instanceof InvalidOptionError && err.field === 'watch.rateLimit.burst')
        assert.throws(() => query({ backoff: { baseMs: 10, capMs: 1 } }), (err: unknown) => err instanceof InvalidOptionError && err.field === 'watch.backoff.capMs')
      })
    })

    describe('#change detection', () => {
      it('emits change only when the content changed; same content updates the index silently', async () => {
        agent.script({ json: { v: 1 }, index: 10 }, { json: { v: 1 }, index: 11 }, { json: { v: 2 }, index: 12 })
        const q = query()
        const log = record(q)
        q.start()
        await agent.waitForRequests(3)
        const first = q.current
        assert.deepEqual(log.changes, [[{ v: 1 }, undefined]])
        await agent.waitForRequests(4)
        assert.deepEqual(log.changes, [[{ v: 1 }, undefined], [{ v: 2 }, { v: 1 }]])
        assert.deepEqual(agent.requests.map((r) => r.query.get('index')), [null, '10', '11', '12'])
        assert.equal(first?.index, 11)
        assert.deepEqual(q.counters, { requests: 4, changes: 2, unchanged: 1, errors: 0, consecutiveFailures: 0 })
      })

      it('uses a custom equals', async () => {
        agent.script({ json: { v: 1 }, index: 10 }, { json: { v: 3 }, index: 11 }, { json: { v: 4 }, index: 12 })
        const q = query({ equals: (a, b) => a.v % 2 === b.v % 2 })
        const log = record(q)
        q.start()
        await agent.waitForRequests(4)
        assert.deepEqual(log.changes.map(([value]) => value), [{ v: 1 }, { v: 4 }])
      })

      it('freezes the kept value and snapshot', async () => {
        agent.script({ json: { v: 1 }, index: 10 })
        const q = query().start()
        const value = await q.ready()
        assert.ok(Object.isFrozen(value) && Object.isFrozen(q.current))
      })
    })

    describe('#last good state', () => {
      const bad: Array<[string, ScriptedResponse, string]> = [
        ['a 500', { status: 500, body: 'No cluster leader' }, 'ERR_CONNECT_AGENT_HTTP'],
        ['a 403', { status: 403, body: 'Permission denied' }, 'ERR_CONNECT_AGENT_PERMISSION_DENIED'],
        ['malformed JSON', { body: '{"v":', index: 20 }, 'ERR_CONNECT_AGENT_INVALID_ANSWER'],
        ['a schema mismatch', { json: { v: 'two' }, index: 20 }, 'ERR_CONNECT_AGENT_INVALID_ANSWER'],
        ['a missing X-Consul-Index', { json: { v: 2 } }, 'ERR_CONNECT_AGENT_INVALID_ANSWER']
      ]
      for (const [what, answer, code] of bad) {
        it(`keeps the last good value through ${what}, reports ${code} and retries at the same index`, async () => {
          agent.script({ json: { v: 1 }, index: 10 }, answer, { json: { v: 2 }, index: 11 })
          const q = query()
          const log = record(q)
          q.start()
          const [err, info] = await nextEvent(q, 'error') as [ConnectError, QueryErrorInfo]
          assert.equal(err.code, code)
          assert.match(err.message, /^fetching thing: /)
          assert.deepEqual(info, { failures: 1, retryInMs: 1 })
          assert.deepEqual(q.current?.value, { v: 1 })
          assert.equal(q.lastError, err)
          await nextEvent(q, 'change')
          assert.deepEqual(q.current?.value, { v: 2 })
          assert.equal(q.lastError, undefined)
          assert.deepEqual(agent.requests.map((r) => r.query.get('index')), [null, '10', '10'])
          assert.deepEqual(log.changes.map(([v]) => v), [{ v: 1 }, { v: 2 }])
          assert.equal(q.counters.consecutiveFailures, 0)
        })
      }

      it('keeps the last good value through a timed-out blocking call', async () => {
        const slow = new AgentClient({ env: {}, address: agent.address, timeoutMs: 200 })
        try {
          agent.script({ json: { v: 1 }, index: 10 }, { hang: true }, { json: { v: 2 }, index: 11 })
          const q = new BlockingQuery(slow, { path: '/v1/thing', schema: itemSchema, what: 'fetching thing', ...fast, waitMs: 20 })
          queries.push(q)
          q.start()
          const [err] = await nextEvent(q, 'error') as [ConnectError]
          assert.equal(err.code, 'ERR_CONNECT_AGENT_TIMEOUT')
          // wait + wait/16 + the client's timeout: 20 + 2 + 200.
          assert.match(err.message, /within 222 ms/)
          assert.deepEqual(q.current?.value, { v: 1 })
          await nextEvent(q, 'change')
          assert.deepEqual(q.current?.value, { v: 2 })
        } finally {
          await slow.close()
        }
      })

      it('treats a throwing transform as an invalid answer', async () => {
        agent.script({ json: { v: 1 }, index: 10 }, { json: { v: -1 }, index: 11 }, { json: { v: 3 }, index: 12 })
        const q = query<string>({
          transform: (item) => {
            if (item.v < 0) throw new RangeError('negative values are not identities')
            return `#${item.v}`
          }
        })
        const log = record(q)
        q.start()
        const [err] = await nextEvent(q, 'error') as [AgentError]
        assert.equal(err.code, 'ERR_CONNECT_AGENT_INVALID_ANSWER')
        assert.match(err.message, /transform failed: negative values are not identities/)
        assert.ok(err.cause instanceof RangeError)
        assert.equal(q.current?.value, '#1')
        await nextEvent(q, 'change')
        assert.deepEqual(log.changes, [['#1', undefined], ['#3', '#1']])
      })

      it('runs transform only when the content changed', async () => {
        agent.script({ json: { v: 1 }, index: 10 }, { json: { v: 1 }, index: 11 }, { json: { v: 1 }, index: 12 })
        let calls = 0
        query<number>({ transform: (item) => { calls++; return item.v } }).start()
        await agent.waitForRequests(4)
        assert.equal(calls, 1)
      })

      it('does not throw when nobody listens for errors, and keeps lastError', async () => {
        agent.script({ json: { v: 1 }, index: 10 }, { status: 500, body: 'boom' })
        const q = query().start()
        await agent.waitForRequests(3)
        assert.equal(q.lastError?.code, 'ERR_CONNECT_AGENT_HTTP')
        assert.equal(q.listenerCount('error'), 0)
      })
    })

    describe('#ready', () => {
      it('resolves with the first good value, riding out transient errors', async () => {
        agent.script({ status: 500, body: 'not yet' }, { status: 503, body: 'still not' }, { json: { v: 7 }, index: 3 })
        const q = query()
        const log = record(q)
        const value = await q.start().ready()
        assert.deepEqual(value, { v: 7 })
        assert.equal(log.errors.length, 2)
        assert.deepEqual(log.errors.map(([, info]) => info.failures), [1, 2])
        assert.deepEqual(await q.ready(), { v: 7 })
      })

      it('rejects with ERR_CONNECT_ABORTED when its signal aborts', async () => {
        const q = query().start()
        const controller = new AbortController()
        const waiting = q.ready({ signal: controller.signal })
        await agent.nextRequest()
        controller.abort()
        await assert.rejects(waiting, { code: 'ERR_CONNECT_ABORTED' })
        await assert.rejects(q.ready({ signal: AbortSignal.abort() }), { code: 'ERR_CONNECT_ABORTED' })
      })

      it('rejects with ERR_CONNECT_CLOSED when the query closes first', async () => {
        const q = query().start()
        const waiting = q.ready()
        await agent.nextRequest()
        await q.close()
        await assert.rejects(waiting, { code: 'ERR_CONNECT_CLOSED' })
        await assert.rejects(q.ready(), { code: 'ERR_CONNECT_CLOSED' })
      })
    })

    describe('#close', () => {
      it('cancels the in-flight blocking request, is idempotent, and refuses start()', async () => {
        agent.script({ json: { v: 1 }, index: 10 })
        const q = query()
        const log = record(q)
        q.start()
        await agent.waitForRequests(2)
        const blocked = agent.requests[1]!
        await Promise.all([q.close(), q.close()])
        assert.equal(await blocked.ended, true)
        await q.close()
        assert.equal(q.closed, true)
        assert.equal(log.errors.length, 0)
        assert.deepEqual(q.current?.value, { v: 1 })
        assert.throws(() => q.start(), { code: 'ERR_CONNECT_CLOSED' })
        assert.equal(agent.requests.length, 2)
      })

      it('closes when the signal option aborts', async () => {
        const controller = new AbortController()
        const q = query({ signal: controller.signal }).start()
        const first = await agent.nextRequest()
        controller.abort()
        assert.equal(await first.ended, true)
        assert.equal(q.closed, true)
      })

      it('cancels a pending retry timer', async () => {
        agent.script({ status: 500, body: 'down' })
        const q = query({ backoff: { baseMs: 3_600_000, capMs: 3_600_000, jitter: 'none' } })
        q.on('error', () => {})
        q.start()
        const [, info] = await nextEvent(q, 'error') as [ConnectError, QueryErrorInfo]
        assert.equal(info.retryInMs, 3_600_000)
        await q.close()
        assert.equal(agent.requests.length, 1)
      })
    })
  })

  describe('on virtual time', () => {
    /** A requester whose answers come from `respond`; from call `hangFrom` on it blocks until aborted. */
    class ScriptedRequester implements AgentRequester {
      readonly timeoutMs = 1_000
      readonly calls: Array<{ at: number, query: AgentRequest<unknown>['query'], timeoutMs: number | undefined }> = []
      constructor (
        private readonly clock: VirtualClock,
        private readonly respond: (n: number) => AgentResponse<unknown> | Error,
        private readonly hangFrom: number
      ) {}

      async request<T> (req: AgentRequest<T>): Promise<AgentResponse<T>> {
        this.calls.push({ at: this.clock.now(), query: req.query, timeoutMs: req.timeoutMs })
        const n = this.calls.length
        if (n >= this.hangFrom) {
          return await new Promise<never>((_resolve, reject) => {
            req.signal?.addEventListener('abort', () => reject(abortError(req.what, req.signal)), { once: true })
          })
        }
        const answer = this.respond(n)
        if (answer instanceof Error) throw answer
        return answer as AgentResponse<T>
      }
    }

    const ok = (value: unknown, index: number): AgentResponse<unknown> => ({ value, status: 200, index, meta: {} })
    const down = (): AgentError => new AgentError('ERR_CONNECT_AGENT_UNREACHABLE', 'fetching thing: agent unreachable at http://127.0.0.1:8500: ECONNREFUSED')

    async function run (requester: ScriptedRequester, clock: VirtualClock, options: Partial<BlockingQueryOptions<unknown>>, calls: number): Promise<{ q: BlockingQuery<unknown>, errors: QueryErrorInfo[] }> {
      const q = new BlockingQuery<unknown>(requester, { path: '/v1/thing', schema: z.unknown(), what: 'fetching thing', clock, ...options })
      const errors: QueryErrorInfo[] = []
      q.on('error', (_err, info) => errors.push(info))
      q.start()
      while (requester.calls.length < calls) await nextEvent(q, 'request')
      await q.close()
      return { q, errors }
    }

    it('backs off 5 s × failures², capped at 180 s, by default (jitter off to read exact values)', async () => {
      const clock = new VirtualClock()
      const requester = new ScriptedRequester(clock, down, 9)
      const { errors, q } = await run(requester, clock, { backoff: { jitter: 'none' } }, 9)
      const expected = [5_000, 20_000, 45_000, 80_000, 125_000, 180_000, 180_000, 180_000]
      assert.deepEqual(errors.map((e) => e.retryInMs), expected)
      assert.deepEqual(errors.map((e) => e.failures), [1, 2, 3, 4, 5, 6, 7, 8])
      // The loop really waited that long (virtual time between requests).
      const gaps = requester.calls.slice(1).map((c, i) => c.at - requester.calls[i]!.at)
      assert.deepEqual(gaps, expected)
      assert.deepEqual(q.counters, { requests: 9, changes: 0, unchanged: 0, errors: 8, consecutiveFailures: 8 })
    })

    it('jitters ±25 % by default, never above the cap', async () => {
      const clock = new VirtualClock()
      const requester = new ScriptedRequester(clock, down, 8)
      const { errors } = await run(requester, clock, { random: () => 0.999999 }, 8)
      assert.deepEqual(errors.map((e) => e.retryInMs), [6_250, 25_000, 56_250, 100_000, 156_250, 180_000, 180_000])
      const low = new VirtualClock()
      const { errors: lowErrors } = await run(new ScriptedRequester(low, down, 3), low, { random: () => 0 }, 3)
      assert.deepEqual(lowErrors.map((e) => e.retryInMs), [3_750, 15_000])
    })

    it('resets the failure count after a good answer', async () => {
      const clock = new VirtualClock()
      const script = [down(), down(), ok({ a: 1 }, 5), down()]
      const requester = new ScriptedRequester(clock, (n) => script[n - 1]!, 5)
      const { errors } = await run(requester, clock, { backoff: { jitter: 'none' } }, 5)
      assert.deepEqual(errors.map((e) => [e.failures, e.retryInMs]), [[1, 5_000], [2, 20_000], [1, 5_000]])
    })

    it('rate-limits a loop whose agent answers at once: burst 2, then 1 per second', async () => {
      const clock = new VirtualClock()
      // Each answer's index goes backwards, so every next call is non-blocking and returns at once.
      const requester = new ScriptedRequester(clock, (n) => ok({ n }, 1_000 - n), 31)
      await run(requester, clock, {}, 31)
      const times = requester.calls.map((c) => c.at)
      for (let i = 0; i < times.length; i++) {
        for (let j = i; j < times.length; j++) {
          assert.ok(j - i + 1 <= 2 + (times[j]! - times[i]!) / 1000 + 1e-9, `${j - i + 1} requests within ${times[j]! - times[i]!} ms`)
        }
      }
      // Not slower than the limit either: 31 requests take (31 - 2) s.
      assert.equal(times.at(-1)! - times[0]!, 29_000)
    })

    it('applies a configured rate', async () => {
      const clock = new VirtualClock()
      const requester = new ScriptedRequester(clock, (n) => ok({ n }, 1_000 - n), 13)
      await run(requester, clock, { rateLimit: { burst: 3, perSecond: 10 } }, 13)
      assert.equal(requester.calls.at(-1)!.at - requester.calls[0]!.at, 1_000)
    })

    it('gives blocking calls a deadline of wait + wait/16 + the client margin, and non-blocking ones the default', async () => {
      const clock = new VirtualClock()
      const requester = new ScriptedRequester(clock, (n) => ok({ n }, 10 + n), 3)
      await run(requester, clock, { waitMs: 160_000 }, 3)
      assert.deepEqual(requester.calls.map((c) => c.timeoutMs), [undefined, 160_000 + 10_000 + 1_000, 160_000 + 10_000 + 1_000])
      assert.deepEqual(requester.calls.map((c) => c.query?.['index']), [undefined, '11', '12'])
    })

    it('leaves no timer behind after close()', async () => {
      const clock = new VirtualClock()
      const requester = new ScriptedRequester(clock, down, 100)
      const q = new BlockingQuery<unknown>(requester, { path: '/v1/thing', schema: z.unknown(), what: 'fetching thing', clock, backoff: { jitter: 'none' } })
      q.on('error', () => {})
      q.start()
      await nextEvent(q, 'error')
      await q.close()
      assert.equal(clock.pendingCount, 0)
    })
  })
})
