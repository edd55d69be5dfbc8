/**
 * Mesh fixtures for the net tests: a TestCA, credentials for a client service, and mTLS servers built with
 * plain node:https (requestCert, the CA's root as the only trust), so these tests do not depend on
 * lib/tls/server.ts. Each server records the serial of every client leaf, one entry per TLS connection.
 */
import { once } from 'node:events'
import { createServer as createHttpsServer } from 'node:https'
import type { Server as HttpsServer } from 'node:https'
import { createServer as createNetServer } from 'node:net'
import type { AddressInfo, Server as NetServer, Socket } from 'node:net'
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { TLSSocket } from 'node:tls'
import { formatSerial } from '../../../lib/identity/x509.js'
import { StaticCredentialsSource } from '../../../lib/identity/static-source.js'
import { TestCA } from '../../../lib/testing/index.js'

export interface MeshServer {
  readonly server: HttpsServer
  readonly port: number
  /** Client leaf serial (colon-hex) of each TLS connection, in order of arrival. */
  readonly clientSerials: string[]
  /** The server-side sockets of completed TLS handshakes, in order of arrival. */
  readonly sockets: TLSSocket[]
  /** TCP connections accepted, handshake completed or not. */
  readonly tcpConnections: number
  /** Resolves once `count` TLS connections have completed on the server side (TLS 1.3 clients finish first). */
  secureConnections (count: number): Promise<void>
  close (): Promise<void>
}

export type Handler = (req: IncomingMessage, res: ServerResponse) => void

/** Credentials of `service` as a static source, trusting `ca`. */
export async function credentialsFor (ca: TestCA, service: string): Promise<StaticCredentialsSource> {
  const leaf = await ca.issueLeaf({ service })
  return new StaticCredentialsSource({
    identity: { certPem: leaf.certPem, keyPem: leaf.keyPem },
    bundle: { trustDomain: ca.trustDomain, rootsPem: ca.rootPem }
  })
}

/** An HTTPS server on 127.0.0.1 presenting a leaf of `service`, requiring a client leaf from `ca` (or `trust`). */
export async function startMeshServer (ca: TestCA, service: string, handler: Handler = (_req, res) => res.end('ok'), options: { trust?: string[] } = {}): Promise<MeshServer> {
  const leaf = await ca.issueLeaf({ service })
  const server = createHttpsServer({
    cert: leaf.certPem,
    key: leaf.keyPem,
    ca: options.trust ?? [ca.rootPem],
    requestCert: true,
    rejectUnauthorized: true,
    ALPNProtocols: ['http/1.1']
  }, handler)
  const clientSerials: string[] = []
  const sockets: TLSSocket[] = []
  let tcpConnections = 0
  server.on('connection', () => { tcpConnections++ })
  server.on('secureConnection', (socket: TLSSocket) => {
    sockets.push(socket)
    const cert = socket.getPeerX509Certificate()
    clientSerials.push(cert === undefined ? '' : formatSerial(cert.serialNumber))
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  return {
    server,
    port: (server.address() as AddressInfo).port,
    clientSerials,
    sockets,
    get tcpConnections () { return tcpConnections },
    async secureConnections (count: number) {
      while (sockets.length < count) await once(server, 'secureConnection')
    },
    async close () {
      server.closeAllConnections()
      for (const socket of sockets) socket.destroy()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    }
  }
}

/** A port nothing listens on (bound, then released). */
export async function closedPort (): Promise<number> {
  const server = createNetServer()
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address() as AddressInfo
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return port
}

/** A TCP server that accepts connections and never answers (a TLS handshake there never completes). */
export async function silentServer (): Promise<{ port: number, server: NetServer, close (): Promise<void> }> {
  const sockets = new Set<Socket>()
  const server = createNetServer((socket) => {
    sockets.add(socket)
    socket.on('error', () => {})
    socket.on('close', () => sockets.delete(socket))
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  return {
    port: (server.address() as AddressInfo).port,
    server,
    async close () {
      for (const socket of sockets) socket.destroy()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    }
  }
}

/** Every error on the `cause` chain of `err`, outermost first. */
export function causes (err: unknown): unknown[] {
  const out: unknown[] = []
  for (let e: unknown = err; e !== undefined && e !== null && out.length < 10; e = (e as { cause?: unknown }).cause) out.push(e)
  return out
}

/** The codes on the cause chain. */
export function codesOf (err: unknown): string[] {
  return causes(err).map((e) => (e as { code?: unknown }).code).filter((c): c is string => typeof c === 'string')
}

export { TestCA }
