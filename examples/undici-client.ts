/**
 * Calling mesh services by name with undici: `svc.dispatcher()` is an undici Dispatcher for
 * `https://<service>.service.consul/...` URLs, usable with every undici API (`request`, `fetch`, `stream`,
 * `pipeline`), and `svc.fetch` is `fetch` bound to it.
 *
 * For each new connection the dispatcher resolves the service through the agent, dials a healthy instance
 * (failing over to the next one), presents the current leaf and checks that the server is the service the
 * URL names. Connections are then pooled and kept alive by undici: every request below, whichever API sent
 * it, travels on one TLS connection (the server numbers its connections).
 *
 * Note: use `fetch` from the `undici` package (or `svc.fetch`) with this dispatcher, not Node's global
 * `fetch`, which bundles its own copy of undici.
 *
 * Run it: `npx tsx examples/undici-client.ts` (set CONSUL_HTTP_ADDR to use a real agent).
 *
 * Published imports:
 *   import { ConnectService, peerOf } from 'consul-connect-native'
 *   import { fetch, request } from 'undici'
 */
import { pathToFileURL } from 'node:url'
import type { TLSSocket } from 'node:tls'
import { fetch, request } from 'undici'
import { ConnectService, peerOf } from '../lib/index.js'
import { openPlayground } from './support/playground.js'
import type { ExampleOptions } from './support/playground.js'
import { Teardown } from './support/teardown.js'

/** What the `inventory` service answers: who called, and on which of its TLS connections. */
interface Answer {
  readonly caller: string
  readonly connection: number
  readonly path: string
}

export interface UndiciClientResult {
  /** Status of undici's `request`, undici's `fetch` and `svc.fetch`. */
  readonly statuses: { readonly request: number, readonly fetch: number, readonly svcFetch: number }
  /** The caller the server saw. */
  readonly caller: string
  /** Connection numbers the requests arrived on, in order (all the same: keep-alive). */
  readonly keepAliveConnections: readonly number[]
  /** TLS connections the server accepted in all. */
  readonly tlsConnections: number
  /** The error code of a request to a service with no instances. */
  readonly noInstancesCode: string | undefined
}

export async function main (options: ExampleOptions = {}): Promise<UndiciClientResult> {
  const log = options.log ?? console.log
  const teardown = new Teardown()
  try {
    const mesh = teardown.closes(await openPlayground(options.agentAddress))
    log(`agent: ${mesh.kind} at ${mesh.address}`)

    const inventory = teardown.closes(new ConnectService({ service: 'inventory', agent: mesh.agent }))
    // `dispatcher` options tune the undici Agent. One connection per service makes the reuse easy to see:
    // without a cap, undici's pool may open a second connection for a request sent in the same tick as the
    // previous response ended (plain undici does the same), and then reuses both.
    const web = teardown.closes(new ConnectService({ service: 'web', agent: mesh.agent, dispatcher: { connections: 1 } }))
    const deadline = AbortSignal.timeout(10_000)
    await Promise.all([inventory.ready({ signal: deadline }), web.ready({ signal: deadline })])

    // The server numbers its TLS connections, so the client can see which one each request used.
    const connectionIds = new WeakMap<TLSSocket, number>()
    let tlsConnections = 0
    const server = inventory.createServer((req, res) => {
      const peer = peerOf(req)
      const answer: Answer = {
        caller: peer?.id.kind === 'service' ? peer.id.service : 'unknown',
        connection: connectionIds.get(req.socket as TLSSocket) ?? 0,
        path: req.url ?? '/'
      }
      res.setHeader('content-type', 'application/json')
      res.end(JSON.stringify(answer))
    })
    server.on('secureConnection', (socket: TLSSocket) => { connectionIds.set(socket, ++tlsConnections) })
    const port = await teardown.listen(server)
    await mesh.register('inventory', port)
    log(`inventory listens on 127.0.0.1:${port}`)

    // One dispatcher per service, created on first use and closed by web.close().
    const dispatcher = web.dispatcher()

    // undici's request(): status, headers and a body stream.
    const viaRequest = await request('https://inventory.service.consul/items/1', { dispatcher })
    const first = await viaRequest.body.json() as Answer
    log(`request  → ${viaRequest.statusCode} ${JSON.stringify(first)}`)

    // undici's fetch(), with the dispatcher.
    const viaFetch = await fetch('https://inventory.service.consul/items/2', { dispatcher })
    const second = await viaFetch.json() as Answer
    log(`fetch    → ${viaFetch.status} ${JSON.stringify(second)}`)

    // svc.fetch(): the same, with the dispatcher already bound.
    const viaSvc = await web.fetch('https://inventory.service.consul/items/3', { headers: { accept: 'application/json' } })
    const third = await viaSvc.json() as Answer
    log(`svc.fetch→ ${viaSvc.status} ${JSON.stringify(third)}`)

    // Keep-alive: more requests reuse the pooled connection (no new handshake, no new resolution).
    const keepAliveConnections: number[] = [first.connection, second.connection, third.connection]
    for (let i = 0; i < 5; i++) {
      const res = await web.fetch(`https://inventory.service.consul/items/${10 + i}`)
      keepAliveConnections.push((await res.json() as Answer).connection)
    }
    log(`${keepAliveConnections.length} requests arrived on connection(s) ${[...new Set(keepAliveConnections)].join(', ')}; inventory accepted ${tlsConnections} TLS connection(s) in all`)

    // Failures keep the library's codes: request() rejects with the ConnectError itself, fetch() with a
    // TypeError whose `cause` is that error.
    let noInstancesCode: string | undefined
    try {
      await request('https://billing.service.consul/', { dispatcher })
    } catch (err) {
      noInstancesCode = (err as { code?: string }).code
      log(`request to billing (not registered) → ${noInstancesCode}: ${(err as Error).message}`)
    }

    return {
      statuses: { request: viaRequest.statusCode, fetch: viaFetch.status, svcFetch: viaSvc.status },
      caller: first.caller,
      keepAliveConnections,
      tlsConnections,
      noInstancesCode
    }
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
