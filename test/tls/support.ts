/**
 * Helpers for the TLS layer's tests: a credentials source whose snapshot a test swaps by hand, certificates
 * from TestCA, loopback servers and clients. Nothing here sleeps: every wait is on an event.
 */
import { once } from 'node:events'
import type { Server as NetServer, Socket } from 'node:net'
import tls from 'node:tls'
import type { ConnectionOptions, TLSSocket } from 'node:tls'
import { TrustBundle } from '../../lib/identity/bundle.js'
import { Identity } from '../../lib/identity/identity.js'
import { NO_CREDENTIALS } from '../../lib/identity/source.js'
import type { Credentials, CredentialsChange, CredentialsSource } from '../../lib/identity/source.js'
import type { ConnectError } from '../../lib/errors.js'
import type { IssueLeafOptions, IssuedLeaf, TestCA } from '../../lib/testing/test-ca.js'

type ChangeListener = (next: Credentials, previous: Credentials, change: CredentialsChange) => void

/** A CredentialsSource whose snapshot the test sets; listeners are called synchronously, as sources do. */
export class SwappableSource implements CredentialsSource {
  #current: Credentials = NO_CREDENTIALS
  readonly #listeners = new Set<ChangeListener>()

  constructor (identity?: Identity, bundle?: TrustBundle) {
    if (identity !== undefined || bundle !== undefined) this.set(identity, bundle)
  }

  get credentials (): Credentials {
    return this.#current
  }

  /** How many onChange listeners are subscribed. */
  get listenerCount (): number {
    return this.#listeners.size
  }

  /** Publishes a new snapshot (generation + 1). */
  set (identity: Identity | undefined, bundle: TrustBundle | undefined): Credentials {
    const previous = this.#current
    const next: Credentials = Object.freeze({ identity, bundle, generation: previous.generation + 1 })
    this.#current = next
    const change = { identityChanged: identity !== previous.identity, bundleChanged: bundle !== previous.bundle }
    for (const listener of [...this.#listeners]) listener(next, previous, change)
    return next
  }

  onChange (listener: ChangeListener): () => void {
    this.#listeners.add(listener)
    return () => { this.#listeners.delete(listener) }
  }

  onError (_listener: (error: ConnectError) => void): () => void {
    return () => {}
  }

  async ready (): Promise<Credentials> {
    return this.#current
  }

  async close (): Promise<void> {}
}

/** A leaf from `ca` as PEM and as an Identity. */
export async function issue (ca: TestCA, options: IssueLeafOptions = {}): Promise<{ leaf: IssuedLeaf, identity: Identity }> {
  const leaf = await ca.issueLeaf(options)
  return { leaf, identity: Identity.fromPem({ certPem: leaf.certPem, keyPem: leaf.keyPem }) }
}

/** A bundle trusting the roots of every CA given, in the first one's trust domain. */
export function bundleOf (...cas: TestCA[]): TrustBundle {
  return TrustBundle.fromPem(cas[0]!.trustDomain, cas.map((ca) => ca.rootPem))
}

/** Listens on 127.0.0.1, port 0; returns the port. Remembers raw sockets so {@link closeServer} can end them. */
export async function listen (server: NetServer): Promise<number> {
  const sockets = new Set<Socket>()
  server.on('connection', (socket: Socket) => {
    sockets.add(socket)
    socket.once('close', () => sockets.delete(socket))
  })
  openSockets.set(server, sockets)
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const address = server.address()
  if (address === null || typeof address === 'string') throw new Error('not a TCP server')
  return address.port
}

const openSockets = new WeakMap<NetServer, Set<Socket>>()

/** Closes a server and destroys its open connections. */
export async function closeServer (server: NetServer): Promise<void> {
  if (!server.listening) return
  const closed = once(server, 'close')
  server.close()
  for (const socket of openSockets.get(server) ?? []) socket.destroy()
  await closed
}

/** A TLS client connection; resolves at `secureConnect` (TLS 1.3: before the server has decided on us). */
export async function tlsClient (port: number, options: ConnectionOptions): Promise<TLSSocket> {
  const socket = tls.connect({ host: '127.0.0.1', port, checkServerIdentity: () => undefined, ...options })
  try {
    await once(socket, 'secureConnect')
  } catch (err) {
    socket.destroy()
    throw err
  }
  return socket
}

/** Client options presenting `leaf` and trusting `cas`. */
export function clientOptions (leaf: IssuedLeaf | undefined, ...cas: TestCA[]): ConnectionOptions {
  return {
    ...(leaf === undefined ? {} : { cert: leaf.certPem, key: leaf.keyPem }),
    ca: cas.map((ca) => ca.rootPem)
  }
}

/** Resolves when the socket has closed, whatever the reason (errors are swallowed; data is drained). */
export async function closed (socket: Socket): Promise<void> {
  if (socket.destroyed && socket.closed) return
  socket.on('error', () => {})
  socket.resume()
  if (!socket.closed) await once(socket, 'close')
}

/** Writes `text` and resolves with the same number of bytes read back (an echo server's answer). */
export async function echo (socket: Socket, text: string): Promise<string> {
  const chunks: Buffer[] = []
  let length = 0
  const done = new Promise<string>((resolve, reject) => {
    const onData = (chunk: Buffer): void => {
      chunks.push(chunk)
      length += chunk.length
      if (length >= Buffer.byteLength(text)) {
        socket.off('data', onData)
        socket.off('close', onClose)
        socket.pause()
        resolve(Buffer.concat(chunks).toString())
      }
    }
    const onClose = (): void => reject(new Error(`socket closed after ${length} bytes of echo`))
    socket.on('data', onData)
    socket.once('close', onClose)
    // An earlier echo paused the socket; a new 'data' listener does not undo an explicit pause.
    socket.resume()
  })
  socket.write(text)
  return await done
}

/** An echo connection listener for raw TLS servers. */
export function echoListener (socket: TLSSocket): void {
  socket.on('error', () => {})
  socket.on('data', (chunk: Buffer) => socket.write(chunk))
}
