/**
 * Teardown: what an example opened, closed in reverse order when it ends, whether it succeeded or not.
 * The examples use it so that each one leaves no socket, server, watch or agent behind (and so that the
 * process exits on its own when run directly).
 */
import { once } from 'node:events'
import type { AddressInfo, Server as NetServer, Socket } from 'node:net'

/** Anything with `listen(port, host)`: net, tls, https and http2 servers. */
type ListeningServer = NetServer

export class Teardown {
  readonly #steps: Array<() => unknown> = []

  /** Registers `close(value)` to run at teardown (the last one registered runs first); returns `value`. */
  add<T> (value: T, close: (value: T) => unknown): T {
    this.#steps.push(() => close(value))
    return value
  }

  /** Registers something with a `close()` method (a ConnectService, a WebSocket server...); returns it. */
  closes<T extends { close: () => unknown }> (value: T): T {
    return this.add(value, (v) => v.close())
  }

  /**
   * Starts `server` on a free port of 127.0.0.1 and returns the port. At teardown the server stops and every
   * connection it still has is destroyed (HTTP keep-alive, HTTP/2 sessions and raw TLS sockets alike).
   */
  async listen (server: ListeningServer): Promise<number> {
    const sockets = new Set<Socket>()
    server.on('connection', (socket: Socket) => {
      sockets.add(socket)
      socket.once('close', () => sockets.delete(socket))
    })
    server.listen(0, '127.0.0.1')
    await once(server, 'listening')
    this.add(server, async (s) => {
      const closed = new Promise((resolve) => s.close(resolve))
      for (const socket of sockets) socket.destroy()
      await closed
    })
    return (server.address() as AddressInfo).port
  }

  /** Runs every step, last registered first; all run even if one fails, and the first failure is thrown. */
  async run (): Promise<void> {
    let failure: unknown
    for (const step of this.#steps.splice(0).reverse()) {
      try {
        await step()
      } catch (err) {
        failure ??= err
      }
    }
    if (failure !== undefined) throw failure
  }
}
