/**
 * An HTTPS server in the mesh, and a client calling it by service name.
 *
 * - `db` serves HTTPS with `svc.createServer(handler)`: mutual TLS with its leaf from the agent, the client's
 *   chain verified against the current CA roots, and every connection decided by `db`'s intentions (none
 *   are written here, so the agent's default applies: allow, with ACLs off).
 * - The handler learns who is calling with `peerOf(req)`: the SPIFFE ID from the client's verified
 *   certificate, never a header the caller could set.
 * - `web` calls it with `svc.fetch('https://db.service.consul/...')`: the name is resolved through the agent
 *   (healthy Connect instances of `db`), and the server must prove it is `db` before a byte is sent.
 *
 * Run it: `npx tsx examples/https-server.ts` (no Consul needed), or against an agent with
 * `CONSUL_HTTP_ADDR=127.0.0.1:8500 npx tsx examples/https-server.ts`.
 *
 * Published imports:
 *   import { ConnectService, peerOf } from 'consul-connect-native'
 *   import { TestAgent } from 'consul-connect-native/testing'
 */
import { pathToFileURL } from 'node:url'
import { ConnectService, peerOf } from '../lib/index.js'
import { openPlayground } from './support/playground.js'
import type { ExampleOptions } from './support/playground.js'
import { Teardown } from './support/teardown.js'

export interface HttpsServerResult {
  /** HTTP status `web` got. */
  readonly status: number
  /** The caller's service name, as `db` saw it (from the client certificate). */
  readonly caller: string
  /** The SPIFFE ID `db` saw. */
  readonly callerSpiffeId: string
  /** The path `db` was asked for. */
  readonly path: string
  /** The server's SPIFFE ID, as `db` itself reports it. */
  readonly serverSpiffeId: string
}

export async function main (options: ExampleOptions = {}): Promise<HttpsServerResult> {
  const log = options.log ?? console.log
  const teardown = new Teardown()
  try {
    const mesh = teardown.closes(await openPlayground(options.agentAddress))
    log(`agent: ${mesh.kind} at ${mesh.address}`)

    // Each process runs as one service; `agent` defaults to CONSUL_HTTP_ADDR and friends.
    const db = teardown.closes(new ConnectService({ service: 'db', agent: mesh.agent }))
    const web = teardown.closes(new ConnectService({ service: 'web', agent: mesh.agent }))
    // ready(): leaf, roots and intentions loaded. It never rejects on transient agent errors: pick a deadline.
    await Promise.all([db.ready({ signal: AbortSignal.timeout(10_000) }), web.ready({ signal: AbortSignal.timeout(10_000) })])
    log(`db runs as ${db.identity?.spiffeId} (leaf ${db.identity?.serial})`)

    const server = db.createServer((req, res) => {
      // Only connections whose client proved a mesh identity, and that the intentions allow, get here.
      const peer = peerOf(req)
      const caller = peer?.id.kind === 'service' ? peer.id.service : 'unknown'
      res.setHeader('content-type', 'application/json')
      res.end(JSON.stringify({ caller, callerSpiffeId: peer?.id.uri, path: req.url, server: db.identity?.spiffeId }))
    })
    const port = await teardown.listen(server)
    // In production the instance is registered by the agent's service definition, with `connect { native = true }`.
    await mesh.register('db', port)
    log(`db listens on 127.0.0.1:${port}`)

    // Port-less mesh URL: the instance's registered address and port are used.
    const res = await web.fetch('https://db.service.consul/orders/42')
    const body = await res.json() as { caller: string, callerSpiffeId: string, path: string, server: string }
    log(`web → GET https://db.service.consul/orders/42: ${res.status} ${JSON.stringify(body)}`)

    return { status: res.status, caller: body.caller, callerSpiffeId: body.callerSpiffeId, path: body.path, serverSpiffeId: body.server }
  } finally {
    await teardown.run()
  }
}

// `npx tsx examples/https-server.ts`: uses CONSUL_HTTP_ADDR when set, else a TestAgent.
if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main({ agentAddress: process.env.CONSUL_HTTP_ADDR, log: console.log }).catch((err: unknown) => {
    console.error(err)
    process.exitCode = 1
  })
}
