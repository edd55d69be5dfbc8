/**
 * Resilience (project issue 6): the leaf expires while the agent is "down" (its leaf endpoint hangs, so no
 * renewal arrives). New connections are then refused with ERR_CONNECT_LEAF_EXPIRED, reported on the server's
 * 'refused' event and as the service's 'error'; once the agent answers again a fresh leaf arrives and the service
 * serves again by itself.
 */
import assert from 'node:assert/strict'
import { once } from 'node:events'
import tls from 'node:tls'
import type { Server as TlsServer } from 'node:tls'
import { allowAll } from '../../lib/authz/authorizer.js'
import type { ConnectError } from '../../lib/errors.js'
import type { AgentCredentialsSource } from '../../lib/identity/agent-source.js'
import type { RefusedConnection } from '../../lib/tls/guard-events.js'
import { ConnectService } from '../../lib/service.js'
import { TestAgent } from '../../lib/testing/test-agent.js'
import type { IssuedLeaf } from '../../lib/testing/test-ca.js'
import { RejectionTracker, eventWhere, portOf, seconds, staticClient } from './support.js'

const LEAF_TTL_MS = 1500
const LEAF_PATH = '/v1/agent/connect/ca/leaf/db'
const WATCH = { backoff: { baseMs: 20, capMs: 200 }, rateLimit: { burst: 2, perSecond: 50 } } as const

describe('resilience: leaf expiry while the agent is down', function () {
  this.timeout(20_000)
  let agent: TestAgent
  const cleanups: Array<() => unknown> = []
  const tracker = new RejectionTracker()

  beforeEach(async () => {
    tracker.install()
    agent = await TestAgent.start({ leafTtlMs: LEAF_TTL_MS })
  })
  afterEach(async () => {
    for (const fn of cleanups.splice(0).reverse()) await fn()
    await agent.close()
    tracker.dispose()
    assert.deepEqual(tracker.rejections, [], 'no unhandled rejection')
  })

  /** One new TLS connection with a valid client leaf; it does not check the server's (possibly expired) leaf, so the server decides. */
  async function attempt (port: number, client: IssuedLeaf, signal: AbortSignal): Promise<'served' | 'refused'> {
    const socket = tls.connect({ host: '127.0.0.1', port, cert: client.certPem, key: client.keyPem, ca: [agent.ca.rootPem], rejectUnauthorized: false, checkServerIdentity: () => undefined })
    let data = ''
    socket.setEncoding('utf8')
    socket.on('data', (chunk: string) => { data += chunk })
    socket.on('error', () => {})
    await once(socket, 'close', { signal })
    return data === 'ok' ? 'served' : 'refused'
  }

  it('refuses new connections with ERR_CONNECT_LEAF_EXPIRED, then serves again by itself once a fresh leaf arrives', async () => {
    const signal = AbortSignal.timeout(15_000)
    const firstHeld = agent.nextRequest({ path: LEAF_PATH, held: true }, { signal })
    const db = new ConnectService({ service: 'db', agent: { address: agent.address, env: false }, authorizer: allowAll(), watch: WATCH })
    cleanups.push(() => db.close())
    const errors: ConnectError[] = []
    db.on('error', (err) => errors.push(err))
    const refusals: RefusedConnection[] = []
    db.on('refused', (event) => refusals.push(event))
    await db.ready({ signal })
    const server: TlsServer = db.createTlsServer({}, (socket) => { socket.on('error', () => {}); socket.end('ok') })
    server.listen(0, '127.0.0.1')
    await once(server, 'listening')
    cleanups.push(() => new Promise((resolve) => server.close(resolve)))
    const port = portOf(server)
    const clientLeaf = await agent.ca.issueLeaf({ service: 'web' })
    const web = await staticClient(agent.ca, [`127.0.0.1:${port}`])
    cleanups.push(() => web.close())
    assert.equal(await attempt(port, clientLeaf, signal), 'served')
    const meshOk = await web.dial('db', { signal })
    meshOk.destroy()

    // The agent goes "down" for this leaf: the blocked watch is answered once more (a renewal), the next call hangs.
    await firstHeld
    agent.fault({ path: LEAF_PATH, hang: true })
    const renewedEvent = once(db, 'leaf', { signal })
    const hung = agent.nextRequest({ path: LEAF_PATH, held: true }, { signal })
    const last = await agent.renewLeaf('db')
    await renewedEvent
    await hung
    assert.equal(db.identity?.serial, last.serial)
    const downAt = performance.now()

    // The leaf expires with no renewal: reported once with its cause, and the source says so.
    const [expired] = await eventWhere<[ConnectError]>(db, 'error', (err) => err.code === 'ERR_CONNECT_LEAF_EXPIRED', signal)
    assert.ok(Date.now() >= last.notAfter.getTime(), 'not reported before notAfter')
    assert.equal((db.source as AgentCredentialsSource).status, 'expired')
    assert.match(expired.message, /expire/)

    // New connections are refused, naming the cause, and the mesh client's dial fails.
    const ATTEMPTS = 5
    const outcomes: string[] = []
    for (let i = 0; i < ATTEMPTS; i++) outcomes.push(await attempt(port, clientLeaf, signal))
    assert.deepEqual(outcomes, Array(ATTEMPTS).fill('refused'))
    const leafRefusals = refusals.filter((r) => r.code === 'ERR_CONNECT_LEAF_EXPIRED')
    assert.equal(leafRefusals.length, ATTEMPTS)
    assert.match(leafRefusals[0]!.reason, new RegExp(`our leaf ${last.serial} expired at .* and no fresh one has arrived`))
    const dialError = await web.dial('db', { signal }).then((s) => { s.destroy(); return undefined }, (err: unknown) => err)
    assert.ok(dialError instanceof Error, 'the mesh client refuses a server whose leaf expired')
    const dialCode = (dialError as ConnectError).code

    // The agent answers again: the hung call proceeds, a fresh leaf arrives, and the service serves by itself.
    const fresh = eventWhere<[{ serial: string, validBefore: Date }]>(db, 'leaf', (id) => id.validBefore.getTime() > Date.now(), signal)
    agent.clearFaults()
    const [identity] = await fresh
    const downMs = performance.now() - downAt
    assert.notEqual(identity.serial, last.serial)
    assert.equal((db.source as AgentCredentialsSource).status, 'ready')
    assert.equal(await attempt(port, clientLeaf, signal), 'served')
    const meshAgain = await web.dial('db', { signal })
    meshAgain.destroy()
    assert.ok(db.counters.refused >= ATTEMPTS)
    console.log(`resilience: leaf expired while the agent was down ${seconds(downMs)} s: ${ATTEMPTS} connections refused with ERR_CONNECT_LEAF_EXPIRED, ` +
      `mesh dial failed with ${String(dialCode)}, errors reported: [${[...new Set(errors.map((e) => e.code))].join(', ')}], served again after a fresh leaf (${identity.serial})`)
  })
})
