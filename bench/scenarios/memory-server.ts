/**
 * The server child of the `memory` scenario (memory.ts): one server of one kind, in a process of its own
 * started with `--expose-gc`, answering the parent's calls over IPC. One fresh child per measurement, so
 * nothing (caches, compiled code, freed-but-kept pages) carries over from an earlier one.
 *
 * Kinds (the same TLS settings on both sides of a pair: requestCert, a client chain verified against one
 * root, TLS ≥ 1.2, static certificates, no authorization beyond `allowAll()`):
 * - `plain-https`: `https.createServer({ cert, key, ca, requestCert: true, rejectUnauthorized: true, ... })`;
 * - `lib-https`: `createHttpsServer({ source: staticCredentials(...), authorizer: allowAll() })`;
 * - `plain-tls`: `tls.createServer` with the same options, no ALPN;
 * - `lib-tls`: `createTlsServer({ source, authorizer: allowAll() })`, no ALPN.
 * HTTPS servers answer every request with `200 ok` and keep the connection alive (`keepAliveTimeout = 0`:
 * idle connections are never closed by the server); raw TLS servers echo what they read.
 *
 * The child counts the connections it holds open: +1 in a `secureConnection` listener registered after the
 * server's own (so after the library guard's, which destroys refused sockets), −1 on `close`. A `measure`
 * call waits, event-driven, until that count equals the number the parent says it holds, then runs `gc()`
 * twice and answers with `process.memoryUsage()`.
 *
 * Runs only as the main module of a forked process (importing it does nothing).
 */
import https from 'node:https'
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import tls from 'node:tls'
import type { TLSSocket } from 'node:tls'
import { fileURLToPath } from 'node:url'
import { writeHeapSnapshot } from 'node:v8'
import { allowAll } from '../../lib/authz/authorizer.js'
import { staticCredentials } from '../../lib/identity/static-source.js'
import { createHttpsServer, createTlsServer, tlsGuardOf } from '../../lib/tls/server.js'

export const SERVER_KINDS = ['plain-https', 'lib-https', 'plain-tls', 'lib-tls'] as const
export type ServerKind = typeof SERVER_KINDS[number]

export const HOST = '127.0.0.1'
export const BODY = 'ok'

/** What the parent sends. */
export type MemoryCall =
  | {
    readonly type: 'init'
    readonly kind: ServerKind
    readonly certPem: string
    readonly keyPem: string
    readonly rootPem: string
    readonly trustDomain: string
  }
  /** Wait until exactly `open` connections are held (at most `waitMs`), then gc twice and read memory. */
  | { readonly type: 'measure', readonly open: number, readonly waitMs: number }
  /** Write a heap snapshot into `dir`, its name ending in `-<label>.heapsnapshot` (investigation only). */
  | { readonly type: 'snapshot', readonly dir: string, readonly label: string }

export type MemoryRequest = { readonly id: number } & MemoryCall

/** `process.memoryUsage()` after two full collections, bytes. */
export interface MemoryFigures {
  readonly rss: number
  readonly heapUsed: number
  readonly heapTotal: number
  readonly external: number
  readonly arrayBuffers: number
}

export interface MemoryReply {
  readonly id: number
  readonly port?: number
  readonly memory?: MemoryFigures
  /** Connections held open when measured. */
  readonly open?: number
  /** Connections counted since the start (accepted ones, for a library server). */
  readonly total?: number
  /** The library guard's counters; undefined for a plain server. */
  readonly guard?: { readonly accepted: number, readonly refused: number, readonly tlsErrors: number }
  readonly snapshot?: string
  readonly error?: string
}

const handler = (_req: IncomingMessage, res: ServerResponse): void => {
  res.end(BODY)
}

/** Raw TLS servers echo: one exchange per connection, so the read path has run on both kinds alike. */
const echo = (socket: TLSSocket): void => {
  socket.on('data', (chunk: Buffer) => socket.write(chunk))
}

function createServer (call: Extract<MemoryCall, { type: 'init' }>): tls.Server {
  const plain: tls.TlsOptions = {
    cert: call.certPem,
    key: call.keyPem,
    ca: [call.rootPem],
    requestCert: true,
    rejectUnauthorized: true,
    minVersion: 'TLSv1.2'
  }
  const source = (): ReturnType<typeof staticCredentials> => staticCredentials({
    identity: { certPem: call.certPem, keyPem: call.keyPem },
    bundle: { trustDomain: call.trustDomain, rootsPem: call.rootPem }
  })
  switch (call.kind) {
    case 'plain-https':
      return https.createServer({ ...plain, ALPNProtocols: ['http/1.1'] }, handler)
    case 'lib-https':
      return createHttpsServer({ source: source(), authorizer: allowAll() }, handler)
    case 'plain-tls':
      return tls.createServer(plain, echo)
    case 'lib-tls':
      return createTlsServer({ source: source(), authorizer: allowAll() }, echo)
  }
}

/** Two full collections, a turn of the event loop between them (weak callbacks, finalizers). */
async function collect (): Promise<void> {
  const gc = globalThis.gc
  if (gc === undefined) throw new Error('gc() is not exposed: start the child with --expose-gc')
  gc()
  await new Promise<void>((resolve) => setImmediate(resolve))
  gc()
}

function serve (): void {
  let server: tls.Server | undefined
  let open = 0
  let total = 0
  /** Called whenever `open` changes. */
  let onChange: (() => void) | undefined

  const send = (reply: MemoryReply): void => {
    process.send?.(reply)
  }

  const count = (socket: TLSSocket): void => {
    // The library guard ran first (prepended) and destroyed a refused socket synchronously.
    if (socket.destroyed) return
    open++
    total++
    socket.on('error', () => {})
    socket.once('close', () => {
      open--
      onChange?.()
    })
    onChange?.()
  }

  const waitOpen = (target: number, waitMs: number): Promise<void> => new Promise((resolve, reject) => {
    if (open === target) {
      resolve()
      return
    }
    const timer = setTimeout(() => {
      onChange = undefined
      reject(new Error(`${open} connections open after ${waitMs} ms, wanted ${target}`))
    }, waitMs)
    onChange = () => {
      if (open !== target) return
      clearTimeout(timer)
      onChange = undefined
      resolve()
    }
  })

  // The parent gone (finished, crashed, killed) means we are done too.
  process.on('disconnect', () => process.exit(0))
  process.on('message', (message: MemoryRequest) => {
    void (async () => {
      try {
        if (message.type === 'init') {
          if (server !== undefined) throw new Error('already initialised')
          const created = createServer(message)
          server = created
          if (created instanceof https.Server) {
            // Idle keep-alive connections stay open until the client closes them (default: 5 s).
            created.keepAliveTimeout = 0
          }
          created.on('secureConnection', count)
          const port = await new Promise<number>((resolve, reject) => {
            created.once('error', reject)
            created.listen(0, HOST, () => resolve((created.address() as AddressInfo).port))
          })
          send({ id: message.id, port })
        } else if (message.type === 'measure') {
          await waitOpen(message.open, message.waitMs)
          await collect()
          const usage = process.memoryUsage()
          const counters = server === undefined ? undefined : tlsGuardOf(server)?.counters
          send({
            id: message.id,
            memory: { rss: usage.rss, heapUsed: usage.heapUsed, heapTotal: usage.heapTotal, external: usage.external, arrayBuffers: usage.arrayBuffers },
            open,
            total,
            ...(counters === undefined ? {} : { guard: { accepted: counters.accepted, refused: counters.refused, tlsErrors: counters.tlsErrors } })
          })
        } else {
          await collect()
          send({ id: message.id, snapshot: writeHeapSnapshot(join(message.dir, `memory-${process.pid}-${message.label}.heapsnapshot`)) })
        }
      } catch (err) {
        send({ id: message.id, error: (err as Error)?.stack ?? String(err) })
      }
    })()
  })
}

if (process.argv[1] === fileURLToPath(import.meta.url) && process.send !== undefined) serve()
