/**
 * Raw mutual TLS, no HTTP: an echo server and a client that dials it by service name.
 *
 * - `svc.createTlsServer({}, socket => socket.pipe(socket))`: a `tls.Server` with the service's leaf that
 *   verifies the client's chain against the current roots and decides each connection by the intentions
 *   before the connection listener runs. `peerOf(socket)` tells the listener who connected.
 * - `svc.dial('echo')`: resolves healthy instances through the agent, dials one (failing over to the next),
 *   and resolves with a TLS socket only once the server proved, by its certificate's SPIFFE ID, that it is
 *   `echo`. Any protocol can then run over the socket.
 * - The last step shows why the server's identity matters: a client whose resolver points `echo` at a
 *   server of another service (a stale catalog entry, a hijacked address) refuses to talk to it.
 *
 * Run it: `npx tsx examples/raw-tls-echo.ts` (set CONSUL_HTTP_ADDR to use a real agent).
 *
 * Published imports:
 *   import { ConnectService, peerOf, peerSpiffeUri, staticResolver } from 'consul-connect-native'
 */
import type { TLSSocket } from 'node:tls'
import { pathToFileURL } from 'node:url'
import { ConnectService, peerOf, peerSpiffeUri, staticResolver } from '../lib/index.js'
import { openPlayground } from './support/playground.js'
import type { ExampleOptions } from './support/playground.js'
import { Teardown } from './support/teardown.js'

export interface RawTlsEchoResult {
  /** What came back for each line sent. */
  readonly echoed: readonly string[]
  /** The server's SPIFFE ID, as the client verified it. */
  readonly serverSpiffeId: string
  /** The client's service name, as the echo server saw it. */
  readonly clientSeenByServer: string
  /** The error code when dialling `echo` reached a server of another service. */
  readonly impostorCode: string | undefined
}

export async function main (options: ExampleOptions = {}): Promise<RawTlsEchoResult> {
  const log = options.log ?? console.log
  const teardown = new Teardown()
  try {
    const mesh = teardown.closes(await openPlayground(options.agentAddress))
    log(`agent: ${mesh.kind} at ${mesh.address}`)

    const echo = teardown.closes(new ConnectService({ service: 'echo', agent: mesh.agent }))
    const web = teardown.closes(new ConnectService({ service: 'web', agent: mesh.agent }))
    const deadline = AbortSignal.timeout(10_000)
    await Promise.all([echo.ready({ signal: deadline }), web.ready({ signal: deadline })])

    let clientSeenByServer = ''
    const server = echo.createTlsServer({}, (socket) => {
      const peer = peerOf(socket)
      clientSeenByServer = peer?.id.kind === 'service' ? peer.id.service : 'unknown'
      log(`echo: connection from ${peer?.id.uri}`)
      socket.on('error', () => socket.destroy())
      socket.pipe(socket)
    })
    const port = await teardown.listen(server)
    await mesh.register('echo', port)
    log(`echo listens on 127.0.0.1:${port}`)

    const socket = teardown.add(await web.dial('echo', { timeoutMs: 5_000 }), (s) => s.destroy())
    const serverSpiffeId = peerSpiffeUri(socket.getPeerX509Certificate()!.raw)
    log(`web dialled echo: TLS ${socket.getProtocol()}, server ${serverSpiffeId}`)
    const echoed: string[] = []
    for (const line of ['hello', 'from the mesh']) {
      const back = await roundTrip(socket, line)
      echoed.push(back)
      log(`web sent "${line}", got back "${back}"`)
    }
    socket.end()

    // An impostor: a mesh service that is not `echo`, at the address a (bad) resolver gives for `echo`.
    const impostor = teardown.closes(new ConnectService({ service: 'impostor', agent: mesh.agent }))
    await impostor.ready({ signal: deadline })
    const impostorPort = await teardown.listen(impostor.createTlsServer({}, (s) => s.pipe(s)))
    const misled = teardown.closes(new ConnectService({
      service: 'web',
      agent: mesh.agent,
      resolver: staticResolver({ echo: [`127.0.0.1:${impostorPort}`] })
    }))
    await misled.ready({ signal: deadline })
    let impostorCode: string | undefined
    try {
      const wrong = await misled.dial('echo', { timeoutMs: 5_000 })
      wrong.destroy()
    } catch (err) {
      impostorCode = (err as { code?: string }).code
      log(`dialling echo at the impostor's address: ${impostorCode}: ${(err as Error).message}`)
    }

    return { echoed, serverSpiffeId, clientSeenByServer, impostorCode }
  } finally {
    await teardown.run()
  }
}

/** Writes `text` and reads until as many bytes came back (TCP may split or merge chunks). */
async function roundTrip (socket: TLSSocket, text: string): Promise<string> {
  const expected = Buffer.byteLength(text)
  return await new Promise<string>((resolve, reject) => {
    const chunks: Buffer[] = []
    let length = 0
    const onData = (chunk: Buffer): void => {
      chunks.push(chunk)
      length += chunk.length
      if (length >= expected) done(null)
    }
    const onClose = (): void => done(new Error('the connection closed before the echo came back'))
    const done = (err: Error | null): void => {
      socket.off('data', onData)
      socket.off('error', done)
      socket.off('close', onClose)
      if (err === null) resolve(Buffer.concat(chunks).toString('utf8'))
      else reject(err)
    }
    socket.on('data', onData)
    socket.once('error', done)
    socket.once('close', onClose)
    socket.write(text)
  })
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main({ agentAddress: process.env.CONSUL_HTTP_ADDR, log: console.log }).catch((err: unknown) => {
    console.error(err)
    process.exitCode = 1
  })
}
