/**
 * WebSockets over the mesh: a chat room served by the `chat` service, two mesh clients talking through it,
 * and a third that the intentions deny.
 *
 * - Server: `svc.webSocketServer(server, { path: '/chat' }, onConnection)` on a server from
 *   `svc.createServer`. Every upgrade comes from a mutual-TLS connection the intentions allowed, and is
 *   decided again before the handshake completes (the service's authorizer; pass `authorize` for more rules).
 *   `onConnection` receives the verified peer, so the room knows who is speaking without trusting a header.
 * - Client: `svc.webSocket('wss://chat.service.consul/chat')` returns a `ws` WebSocket at once, like
 *   `new WebSocket(url)`; the service is resolved and dialled (its SPIFFE ID verified) before the upgrade
 *   request is sent, and failures arrive as the socket's `'error'` event.
 *
 * Intentions of `chat` here: `batch` is denied (everyone else: the agent's default, allow with ACLs off).
 *
 * Run it: `npx tsx examples/websocket.ts` (set CONSUL_HTTP_ADDR to use a real agent).
 *
 * Published imports:
 *   import { ConnectService } from 'consul-connect-native'
 *   import type { RefusedConnection } from 'consul-connect-native'
 *   import type { WebSocket } from 'ws'
 */
import { once } from 'node:events'
import { pathToFileURL } from 'node:url'
import type { WebSocket } from 'ws'
import { ConnectService } from '../lib/index.js'
import type { RefusedConnection } from '../lib/index.js'
import { openPlayground } from './support/playground.js'
import type { ExampleOptions } from './support/playground.js'
import { Teardown } from './support/teardown.js'

export interface WebSocketResult {
  /** Who joined the room, as the server saw them (from their certificates). */
  readonly joined: readonly string[]
  /** What each client received, in order. */
  readonly received: Readonly<Record<string, readonly string[]>>
  /** The denied client: whether its WebSocket ever opened (false), the error it got, and the server's reason. */
  readonly denied: { readonly opened: boolean, readonly error: string, readonly serverCode: string, readonly serverReason: string }
}

export async function main (options: ExampleOptions = {}): Promise<WebSocketResult> {
  const log = options.log ?? console.log
  const teardown = new Teardown()
  try {
    const mesh = teardown.closes(await openPlayground(options.agentAddress))
    log(`agent: ${mesh.kind} at ${mesh.address}`)
    await mesh.setIntentions('chat', [{ Name: 'batch', Action: 'deny' }])

    const chat = teardown.closes(new ConnectService({ service: 'chat', agent: mesh.agent }))
    const clients = ['web', 'mobile', 'batch'].map((service) => teardown.closes(new ConnectService({ service, agent: mesh.agent })))
    const [web, mobile, batch] = clients as [ConnectService, ConnectService, ConnectService]
    const deadline = AbortSignal.timeout(10_000)
    await Promise.all([chat, ...clients].map((svc) => svc.ready({ signal: deadline })))

    // Plain HTTP requests get a 404; WebSocket upgrades to /chat join the room.
    const server = chat.createServer((_req, res) => { res.statusCode = 404; res.end('WebSocket endpoint: /chat\n') })
    const room = new Map<WebSocket, string>()
    const joined: string[] = []
    // Closed by chat.close() (teardown), with code 1001 to the clients still connected.
    await chat.webSocketServer(server, { path: '/chat' }, (ws, _req, peer) => {
      const name = peer.id.kind === 'service' ? peer.id.service : 'unknown'
      room.set(ws, name)
      joined.push(name)
      log(`chat: ${name} joined (${peer.id.uri})`)
      ws.on('message', (data) => {
        for (const member of room.keys()) member.send(`${name}: ${String(data)}`)
      })
      ws.on('close', () => room.delete(ws))
    })
    const port = await teardown.listen(server)
    await mesh.register('chat', port)
    log(`chat listens on 127.0.0.1:${port}`)

    // Two members. webSocket() returns at once; 'open' follows the mesh dial and the upgrade.
    const received: Record<string, string[]> = { web: [], mobile: [] }
    const members = { web: web.webSocket('wss://chat.service.consul/chat'), mobile: mobile.webSocket('wss://chat.service.consul/chat') }
    for (const [name, ws] of Object.entries(members)) {
      teardown.add(ws, closeWebSocket)
      ws.on('message', (data) => {
        received[name]!.push(String(data))
        log(`${name} received "${String(data)}"`)
      })
    }
    await Promise.all([once(members.web, 'open'), once(members.mobile, 'open')])

    // Each line is broadcast to both members; wait for both copies before the next line.
    const everyoneReceives = (): Promise<unknown> => Promise.all([once(members.web, 'message'), once(members.mobile, 'message')])
    let delivered = everyoneReceives()
    members.web.send('hello from web')
    await delivered
    delivered = everyoneReceives()
    members.mobile.send('hi web, mobile here')
    await delivered

    // batch: the intention denies it, so chat ends the connection right after the TLS handshake, before any
    // HTTP byte is read. The client only sees the connection end; the reason is on the server's side.
    const refusal = once(chat, 'refused') as Promise<[RefusedConnection]>
    const rejected = batch.webSocket('wss://chat.service.consul/chat')
    let opened = false
    rejected.on('open', () => { opened = true })
    // Not events.once(ws, 'close'): it would reject on the 'error' that comes first.
    const closed = new Promise((resolve) => rejected.once('close', resolve))
    const [error] = await once(rejected, 'error') as [Error]
    await closed
    const [refused] = await refusal
    log(`batch could not join: ${error.message}; chat refused it with ${refused.code}: ${refused.reason}`)

    return { joined, received, denied: { opened, error: error.message, serverCode: refused.code, serverReason: refused.reason } }
  } finally {
    await teardown.run()
  }
}

/** Closes a WebSocket (1000, normal closure) and waits for the close to complete. */
async function closeWebSocket (ws: WebSocket): Promise<void> {
  if (ws.readyState === ws.CLOSED) return
  const closed = once(ws, 'close')
  ws.close(1000, 'bye')
  await closed
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main({ agentAddress: process.env.CONSUL_HTTP_ADDR, log: console.log }).catch((err: unknown) => {
    console.error(err)
    process.exitCode = 1
  })
}
