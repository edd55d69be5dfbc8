/**
 * A Fastify (v5) app as a mesh server, with per-request (L7) intentions.
 *
 * Two small pieces a team would keep in its own package:
 * - `meshServerFactory(svc)`: Fastify's `serverFactory` option. Fastify then runs on the server made by
 *   `svc.createServer(handler)`, so everything `createServer` guarantees applies to every route: mutual TLS
 *   with the service's leaf, the caller's chain verified against the current roots, each connection decided
 *   by the intentions, and each request decided by L7 intentions *before Fastify sees it* (a denied request
 *   is answered 403 with the reason and never reaches a hook or a route).
 * - `connectNative`: a plugin (registered with `skip-override`, so its decorators are visible to the whole
 *   app, as `fastify-plugin` would do) that decorates `request.peer` with the verified caller (`peerOf`) and
 *   `fastify.mesh` with the service. It refuses to load on a server that is not a mesh server, so a
 *   forgotten `serverFactory` fails at start-up instead of serving without mutual TLS.
 *
 * The intentions of `db` in this example (written through the agent; in production they live in a
 * `service-intentions` config entry):
 *   web: GET /orders* allowed, /admin* denied (any other request: the default)
 *   ops: allowed (an L4 intention: every request)
 * and `db` runs with `intentions: { defaultAllow: false }`: a request no permission matches is denied.
 *
 * Run it: `npx tsx examples/fastify-plugin.ts` (set CONSUL_HTTP_ADDR to use a real agent).
 *
 * Published imports:
 *   import { ConnectService, peerOf, tlsGuardOf } from 'consul-connect-native'
 *   import type { Peer } from 'consul-connect-native'
 */
import type { Server as HttpsServer } from 'node:https'
import { pathToFileURL } from 'node:url'
import Fastify from 'fastify'
import type { FastifyInstance, FastifyServerFactory } from 'fastify'
import { ConnectService, peerOf, tlsGuardOf } from '../lib/index.js'
import type { Peer } from '../lib/index.js'
import { openPlayground } from './support/playground.js'
import type { ExampleOptions } from './support/playground.js'
import { Teardown } from './support/teardown.js'

// ---------------------------------------------------------------------------------------------------------
// The integration.

declare module 'fastify' {
  interface FastifyRequest {
    /** The verified mesh caller (its SPIFFE ID and leaf), set by `connectNative`. */
    peer: Peer | undefined
  }
  interface FastifyInstance {
    /** The ConnectService this app serves as, set by `connectNative`. */
    mesh: ConnectService
  }
}

/** Fastify's `serverFactory` for a mesh server: `Fastify({ serverFactory: meshServerFactory(svc) })`. */
export function meshServerFactory (service: ConnectService): FastifyServerFactory<HttpsServer> {
  return (handler) => service.createServer(handler)
}

export interface ConnectNativeOptions {
  /** The service the app runs as; the app's server must come from `meshServerFactory(service)`. */
  readonly service: ConnectService
}

/** Decorates `request.peer` and `fastify.mesh`; see the module comment. */
async function connectNativePlugin (fastify: FastifyInstance<HttpsServer>, options: ConnectNativeOptions): Promise<void> {
  if (!(options?.service instanceof ConnectService)) throw new TypeError('connectNative: options.service must be a ConnectService')
  if (tlsGuardOf(fastify.server) === undefined) {
    throw new Error('connectNative: this Fastify server does not serve mutual TLS; create the app with Fastify({ serverFactory: meshServerFactory(service) })')
  }
  fastify.decorate('mesh', options.service)
  fastify.decorateRequest('peer', undefined)
  fastify.addHook('onRequest', async (request) => {
    // The request reached Fastify, so the server verified and authorized its connection (and the request).
    request.peer = peerOf(request.raw)
  })
}

/**
 * The plugin. `skip-override` makes Fastify run it in the parent's context (what `fastify-plugin` does),
 * so `request.peer` exists in every route, not only those registered inside the plugin.
 */
export const connectNative = Object.assign(connectNativePlugin, {
  [Symbol.for('skip-override')]: true,
  [Symbol.for('fastify.display-name')]: 'consul-connect-native'
})

// ---------------------------------------------------------------------------------------------------------
// The example.

/** One request and what came back. */
export interface FastifyCall {
  readonly caller: string
  readonly method: string
  readonly path: string
  readonly status: number
  readonly body: string
}

export interface FastifyPluginResult {
  readonly calls: readonly FastifyCall[]
  /** Requests answered 403 by L7 authorization (the server's 'requestDenied' events). */
  readonly denied: number
}

export async function main (options: ExampleOptions = {}): Promise<FastifyPluginResult> {
  const log = options.log ?? console.log
  const teardown = new Teardown()
  try {
    const mesh = teardown.closes(await openPlayground(options.agentAddress))
    log(`agent: ${mesh.kind} at ${mesh.address}`)
    // L7 intentions (Permissions, first match wins) for web; an L4 allow for ops.
    await mesh.setIntentions('db', [
      {
        Name: 'web',
        Permissions: [
          { Action: 'allow', HTTP: { PathPrefix: '/orders', Methods: ['GET'] } },
          { Action: 'deny', HTTP: { PathPrefix: '/admin' } }
        ]
      },
      { Name: 'ops', Action: 'allow' }
    ])

    const db = teardown.closes(new ConnectService({ service: 'db', agent: mesh.agent, intentions: { defaultAllow: false } }))
    const web = teardown.closes(new ConnectService({ service: 'web', agent: mesh.agent }))
    const ops = teardown.closes(new ConnectService({ service: 'ops', agent: mesh.agent }))
    const deadline = AbortSignal.timeout(10_000)
    await Promise.all([db, web, ops].map((svc) => svc.ready({ signal: deadline })))
    let denied = 0
    db.on('requestDenied', (event) => {
      denied++
      log(`db denied ${event.method} ${event.path}: ${event.decision.reason}`)
    })

    // The app: Fastify on the mesh server, the plugin, and ordinary routes.
    const app = Fastify({ serverFactory: meshServerFactory(db), forceCloseConnections: true })
    teardown.add(app, (a) => a.close())
    await app.register(connectNative, { service: db })
    const callerOf = (peer: Peer | undefined): string => peer?.id.kind === 'service' ? peer.id.service : 'unknown'
    app.get('/orders', async (request) => ({ orders: [{ id: 42, item: 'coffee' }], caller: callerOf(request.peer) }))
    app.post('/admin/reindex', async (request) => ({ reindexed: true, by: callerOf(request.peer) }))
    app.get('/metrics', async () => 'requests_total 3\n')
    await app.listen({ port: 0, host: '127.0.0.1' })
    const port = (app.server.address() as { port: number }).port
    await mesh.register('db', port)
    log(`db (Fastify, ${app.mesh.identity?.spiffeId}) listens on 127.0.0.1:${port}`)

    const calls: FastifyCall[] = []
    const call = async (client: ConnectService, method: string, path: string): Promise<void> => {
      const res = await client.fetch(`https://db.service.consul${path}`, { method })
      const body = (await res.text()).trim()
      calls.push({ caller: client.service, method, path, status: res.status, body })
      log(`${client.service} → ${method} ${path}: ${res.status} ${body}`)
    }
    await call(web, 'GET', '/orders') // 200: Permissions[0] allows
    await call(web, 'POST', '/admin/reindex') // 403: Permissions[1] denies
    await call(web, 'GET', '/metrics') // 403: no permission matches, and db's default is deny
    await call(ops, 'POST', '/admin/reindex') // 200: ops has an L4 allow

    return { calls, denied }
  } finally {
    await teardown.run()
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main({ agentAddress: process.env.CONSUL_HTTP_ADDR, log: console.log }).catch((err: unknown) => {
    console.error(err)
    process.exitCode = 1
  })
}
