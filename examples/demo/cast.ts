/**
 * The cast of the story: two Connect-native services in this one process, as two processes would run them.
 *
 * - `db` serves an HTTPS API (`createServer`) registered in the catalog, and a raw TLS echo port
 *   (`createTlsServer`) that step 6 dials directly. It runs with `liveEnforcement: true`.
 * - `web` is the client: `web.fetch('https://db.service.consul/...')` finds db's instances through the agent
 *   and checks that the server proves to be db.
 *
 * `close()` stops the servers (and any connection still open on them), then both services.
 */
import { once } from 'node:events'
import type { AddressInfo, Socket } from 'node:net'
import type { Server as HttpsServer } from 'node:https'
import type { Server as TlsServer } from 'node:tls'
// Published: import { ConnectService, peerOf } from 'consul-connect-native'
import { ConnectService, peerOf } from '../../lib/index.js'
import type { ConnectServiceOptions } from '../../lib/index.js'
import type { Environment } from './environment.js'

export const WEB = 'web'
export const DB = 'db'

/**
 * The demo changes intentions several times a second. The watches' default rate limit (a burst of 2
 * blocking requests, then 1 per second, as gentle on the agent as Consul's own watches) would make some
 * steps wait for their turn, so the demo allows more.
 */
const WATCH: NonNullable<ConnectServiceOptions['watch']> = { rateLimit: { burst: 10, perSecond: 20 } }

export class Cast {
  readonly web: ConnectService
  readonly db: ConnectService
  /** The caller of each request db's handler served, as it saw it (from the client certificate). */
  readonly callers: string[] = []
  readonly #env: Environment
  readonly #orders: HttpsServer
  readonly #echo: TlsServer
  readonly #echoSockets = new Set<Socket>()
  #ordersPort = 0
  #echoPort = 0

  constructor (env: Environment) {
    this.#env = env
    this.db = new ConnectService({ service: DB, agent: env.agent, liveEnforcement: true, watch: WATCH })
    // One connection per request (undici's pipelining 0): each request is then decided afresh by db. With
    // keep-alive, an L4 intention decides the connection once, and later requests reuse it.
    this.web = new ConnectService({ service: WEB, agent: env.agent, watch: WATCH, dispatcher: { pipelining: 0 } })
    this.#orders = this.db.createServer((req, res) => {
      // Only connections whose client proved a mesh identity, and that db's intentions allow, get here.
      const peer = peerOf(req)
      const caller = peer?.id.kind === 'service' ? peer.id.service : 'unknown'
      this.callers.push(caller)
      res.setHeader('content-type', 'text/plain; charset=utf-8')
      res.end(`${req.method ?? 'GET'} ${req.url ?? '/'} served to ${caller}`)
    })
    this.#echo = this.db.createTlsServer({}, (socket) => {
      this.#echoSockets.add(socket)
      socket.once('close', () => this.#echoSockets.delete(socket))
      socket.on('error', () => undefined)
      socket.pipe(socket)
    })
  }

  get ordersPort (): number { return this.#ordersPort }
  get echoPort (): number { return this.#echoPort }

  /** Starts db's servers on free loopback ports and registers the HTTPS one as an instance of db. */
  async startServers (): Promise<void> {
    this.#ordersPort = await listen(this.#orders)
    this.#echoPort = await listen(this.#echo)
    await this.#env.register(DB, this.#ordersPort)
  }

  async close (): Promise<void> {
    const closing: Array<Promise<unknown>> = []
    if (this.#orders.listening) {
      closing.push(new Promise((resolve) => this.#orders.close(resolve)))
      this.#orders.closeAllConnections()
    }
    if (this.#echo.listening) {
      closing.push(new Promise((resolve) => this.#echo.close(resolve)))
      for (const socket of this.#echoSockets) socket.destroy()
    }
    await Promise.all(closing)
    await Promise.all([this.web.close(), this.db.close()])
  }
}

async function listen (server: HttpsServer | TlsServer): Promise<number> {
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  return (server.address() as AddressInfo).port
}
