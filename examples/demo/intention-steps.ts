/**
 * The steps about intentions, Consul's rules of who may call whom: 2, an allowed call; 3, a deny intention
 * refuses the next connection; 4, an L7 intention decides each HTTP request; 6, live enforcement closes an
 * open connection when its intention turns to deny.
 */
import { performance } from 'node:perf_hooks'
import type { TLSSocket } from 'node:tls'
// Published: import { connectTls } from 'consul-connect-native'
import { connectTls } from '../../lib/index.js'
import type { ClosedConnection, RefusedConnection } from '../../lib/index.js'
import { DB, WEB } from './cast.js'
import type { Cast } from './cast.js'
import type { Environment } from './environment.js'
import { Checks } from './step.js'
import type { Step, StoryContext } from './step.js'
import { describeError, seconds, waitFor } from './wait.js'

/** Live enforcement should close a denied connection within this, from the write of the intention. */
const LIVE_ENFORCEMENT_BOUND_MS = 1_000

export const allowedCall: Step = {
  name: '2 allowed call',
  title: 'An allowed call: web → db over mutual TLS',
  expected: '200; db sees the caller web',
  async run ({ cast, env, narrator }: StoryContext) {
    await cast.startServers()
    narrator.say(`db serves HTTPS with db.createServer(handler) on 127.0.0.1:${cast.ordersPort}, registered ` +
      'in Consul as a Connect-native instance of db. Every client must present a leaf from the mesh\'s CA.')
    narrator.say('An intention is a rule stored in Consul about who may call a service, such as ' +
      '"web → db: allow". We write that one now; db watches its intentions and applies changes at once, ' +
      'with no restart.')
    await changeIntentions(cast, env, () => env.setIntentionAllow(WEB, DB))
    const res = await cast.web.fetch('https://db.service.consul/orders')
    const body = await res.text()
    const caller = cast.callers.at(-1) ?? '(nobody)'
    narrator.fact('web calls', 'GET https://db.service.consul/orders (the agent says where db runs)')
    narrator.fact('web got', `${res.status} "${body}"`)
    narrator.fact('db\'s handler saw', `the caller ${caller}, from web's verified client certificate`)
    const checks = new Checks()
    checks.that(res.status === 200, `status ${res.status}`)
    checks.that(caller === WEB, `db saw the caller ${caller}`)
    return checks.outcome(`${res.status}, caller "${caller}"`)
  }
}

export const denied: Step = {
  name: '3 deny intention',
  title: 'The intention turns to deny: the next connection is refused',
  expected: 'refused, reason names the deny',
  async run ({ cast, env, narrator }: StoryContext) {
    narrator.say('The operator changes the intention to "web → db: deny". db decides each new connection ' +
      'with it, right after the TLS handshake and before reading a byte of the request.')
    await changeIntentions(cast, env, () => env.setIntentionDeny(WEB, DB))
    const refused = waitFor<[RefusedConnection]>(cast.db, 'refused', 'db to refuse the connection', env.patienceMs)
    let clientError: unknown
    let status: number | undefined
    try {
      const res = await cast.web.fetch('https://db.service.consul/orders')
      status = res.status
      await res.text()
    } catch (err) {
      clientError = err
    }
    const checks = new Checks()
    if (!checks.that(clientError !== undefined, `web's fetch was answered ${status ?? '?'}`)) {
      narrator.fact('web\'s fetch', `answered ${status ?? '?'}: the connection was not refused`)
      return checks.outcome('not refused')
    }
    const [event] = await refused
    narrator.fact('db refused it', `${event.reason} [${event.code}]`)
    narrator.fact('web\'s fetch', `failed: ${describeError(clientError)}`)
    narrator.say('The client only sees its connection closed: the reason stays with db, which reports it in ' +
      'its \'refused\' event (and in its logs, if you log that event).')
    checks.that(event.code === 'ERR_CONNECT_NOT_AUTHORIZED', `db refused with ${event.code}`)
    checks.that(/DENY/.test(event.reason), 'the reason does not name the deny intention')
    return checks.outcome('refused: web → db DENY; fetch failed')
  }
}

export const layer7: Step = {
  name: '4 L7 intention',
  title: 'An L7 intention: GET /orders passes, POST /admin gets 403',
  expected: 'GET /orders 200; POST /admin 403 with the reason',
  async run ({ cast, env, narrator }: StoryContext) {
    narrator.say('Intentions can also judge HTTP requests (L7): a list of permissions tried in order, the ' +
      'first match deciding. For db: allow GET on /orders, deny everything else. db accepts the connection ' +
      'and decides each request; a denied one is answered 403 with the reason.')
    narrator.say('Consul accepts HTTP permissions only for a service whose protocol is http, so db\'s ' +
      'service-defaults config entry declares it first.')
    await changeIntentions(cast, env, () => env.setL7(WEB, DB, [
      { Action: 'allow', HTTP: { PathPrefix: '/orders', Methods: ['GET'] } },
      { Action: 'deny', HTTP: { PathPrefix: '/' } }
    ]))
    const get = await cast.web.fetch('https://db.service.consul/orders')
    const getBody = await get.text()
    const requestDenied = waitFor(cast.db, 'requestDenied', 'db to deny the request', env.patienceMs)
    const post = await cast.web.fetch('https://db.service.consul/admin', { method: 'POST' })
    const postBody = await post.text()
    await requestDenied
    narrator.fact('GET /orders', `${get.status} "${getBody}"`)
    narrator.fact('POST /admin', `${post.status}`)
    narrator.fact('403 body', postBody)
    const checks = new Checks()
    checks.that(get.status === 200, `GET /orders answered ${get.status}`)
    checks.that(post.status === 403, `POST /admin answered ${post.status}`)
    checks.that(/Permissions\[1\]: DENY/.test(postBody), 'the 403 body does not name the deny permission')
    return checks.outcome(`GET ${get.status}; POST ${post.status} "…Permissions[1]: DENY"`)
  }
}

export const liveEnforcement: Step = {
  name: '6 live enforcement',
  title: 'Live enforcement: an open connection is closed when denied',
  expected: `closed < ${seconds(LIVE_ENFORCEMENT_BOUND_MS)} after the deny`,
  async run ({ cast, env, narrator }: StoryContext) {
    narrator.say('Consul decides connections when they open: turning an intention to deny does not end ' +
      'connections already open, in Consul\'s proxies or here by default. db opted in with ' +
      '`liveEnforcement: true`: when its intentions change, it re-decides its open connections and closes ' +
      'the ones now denied.')
    narrator.say('web → db is allowed again, and web opens a raw mutual-TLS connection to db\'s echo port ' +
      `(127.0.0.1:${cast.echoPort}) with connectTls.`)
    await changeIntentions(cast, env, () => env.setIntentionAllow(WEB, DB))
    const socket = await connectTls({ host: '127.0.0.1', port: cast.echoPort, source: cast.web.source, expect: { service: DB } })
    let socketError: Error | undefined
    socket.on('error', (err) => { socketError = err })
    try {
      const echoed = await echo(socket, 'ping', env.patienceMs)
      narrator.fact('web sent', `"ping", db echoed "${echoed}"; the connection stays open`)
      const closed = waitFor<[ClosedConnection]>(cast.db, 'connectionClosed', 'db to close the denied connection', env.patienceMs)
      const socketClosed = waitFor(socket, 'close', 'web\'s socket to close', env.patienceMs)
      const changedAt = performance.now()
      await env.setIntentionDeny(WEB, DB)
      const [event] = await closed
      await socketClosed
      const afterMs = Math.round(performance.now() - changedAt)
      narrator.fact('db closed it', `${afterMs} ms after the intention was written (cause: ${event.cause})`)
      narrator.fact('reason', event.reason)
      narrator.fact('web\'s socket', socketError === undefined ? 'closed' : `closed (${describeError(socketError)})`)
      const checks = new Checks()
      checks.that(echoed === 'ping', `the echo answered "${echoed}"`)
      checks.that(event.cause === 'reauthorize', `closed for ${event.cause}`)
      checks.that(/DENY/.test(event.reason), 'the reason does not name the deny intention')
      checks.that(afterMs < LIVE_ENFORCEMENT_BOUND_MS, `closed only after ${afterMs} ms`)
      return checks.outcome(`closed ${afterMs} ms after the deny`)
    } finally {
      socket.destroy()
    }
  }
}

/** Runs `write` (an intention change) and resolves once db holds the new intentions. */
async function changeIntentions (cast: Cast, env: Environment, write: () => Promise<void>): Promise<void> {
  const changed = waitFor(cast.db, 'intentions', 'db to see the new intentions', env.patienceMs)
  await write()
  await changed
}

/** Writes `text` and resolves with what comes back. */
async function echo (socket: TLSSocket, text: string, ms: number): Promise<string> {
  const data = waitFor<[Buffer]>(socket, 'data', 'the echo', ms)
  socket.write(text)
  const [chunk] = await data
  return chunk.toString()
}
