/**
 * The server side of the `latency` scenario (bench/scenarios/latency.ts), run as a child process so the
 * servers never share an event loop with the clients that time them:
 *
 *   fork('bench/scenarios/latency-server.ts', ['<agent address>'], { execArgv: ['--import', 'tsx'] })
 *
 * It serves the same small handler twice, on 127.0.0.1 with ephemeral ports:
 * - `native`: `ConnectService({ service: 'bench-api' })` + `svc.createServer(handler)` (mTLS, intentions
 *   decided in-process), the path a Connect-native app takes;
 * - `plain`: `http.createServer(handler)`, the app behind a `consul connect proxy` sidecar.
 *
 * Protocol (IPC): once the service is ready and both servers listen it sends `{ type: 'ready', nativePort,
 * plainPort }` (or `{ type: 'error', message }` and exits). It answers `{ type: 'stats' }` with the
 * connections and requests each server has seen, and stops on `{ type: 'stop' }` or when the parent goes away.
 */
import { createServer } from 'node:http'
import type { IncomingMessage, Server, ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { resolve as resolvePath } from 'node:path'
import { fileURLToPath } from 'node:url'
import { ConnectService } from '../../lib/service.js'

/** The answer of both servers: 100 bytes of text. */
export const BODY = 'consul-connect-native latency bench: a small answer, the same on both paths, one hundred bytes.\n'.padEnd(100, '.')

/** Idle time the servers keep a connection open: longer than any round, so keep-alive holds between rounds. */
const KEEP_ALIVE_MS = 120_000

export interface ServerStats {
  readonly nativeConnections: number
  readonly plainConnections: number
  readonly nativeRequests: number
  readonly plainRequests: number
}

export type ServerMessage =
  | { readonly type: 'ready', readonly nativePort: number, readonly plainPort: number }
  | { readonly type: 'stats', readonly stats: ServerStats }
  | { readonly type: 'error', readonly message: string }

export type ParentMessage = { readonly type: 'stats' } | { readonly type: 'stop' }

function send (message: ServerMessage): void {
  process.send?.(message)
}

async function listen (server: Server): Promise<number> {
  return await new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject)
      resolve((server.address() as AddressInfo).port)
    })
  })
}

async function main (agentAddress: string): Promise<void> {
  const counts = { nativeConnections: 0, plainConnections: 0, nativeRequests: 0, plainRequests: 0 }
  // One handler for both servers; only the counter it bumps differs (a closure, no branch on the hot path).
  const handler = (count: () => void) => (_req: IncomingMessage, res: ServerResponse): void => {
    count()
    res.setHeader('content-type', 'text/plain')
    res.end(BODY)
  }

  const svc = new ConnectService({ service: 'bench-api', agent: { address: agentAddress, env: false } })
  const native = svc.createServer(handler(() => { counts.nativeRequests++ }))
  const plain = createServer(handler(() => { counts.plainRequests++ }))
  native.on('secureConnection', () => { counts.nativeConnections++ })
  plain.on('connection', () => { counts.plainConnections++ })
  for (const server of [native, plain]) {
    server.keepAliveTimeout = KEEP_ALIVE_MS
    server.headersTimeout = KEEP_ALIVE_MS + 1_000
  }

  let stopping: Promise<void> | undefined
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      for (const server of [native, plain]) {
        server.closeAllConnections()
        server.close()
      }
      await svc.close()
      if (process.connected) process.disconnect()
    })()
    return stopping
  }
  process.on('disconnect', () => { void stop() })
  process.on('message', (message: ParentMessage) => {
    if (message.type === 'stats') send({ type: 'stats', stats: { ...counts } })
    else void stop()
  })

  try {
    await svc.ready({ signal: AbortSignal.timeout(60_000) })
    const [nativePort, plainPort] = await Promise.all([listen(native), listen(plain)])
    send({ type: 'ready', nativePort, plainPort })
  } catch (err) {
    send({ type: 'error', message: (err as Error)?.stack ?? String(err) })
    await stop()
  }
}

// Only when run as the child: the parent imports BODY and the message types from this module.
if (process.argv[1] !== undefined && resolvePath(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const agentAddress = process.argv[2]
  if (agentAddress === undefined || process.send === undefined) {
    console.error('latency-server.ts: run me through fork() with the agent address as the only argument')
    process.exitCode = 2
  } else {
    main(agentAddress).catch((err: unknown) => {
      send({ type: 'error', message: (err as Error)?.stack ?? String(err) })
      process.exitCode = 1
      if (process.connected) process.disconnect()
    })
  }
}
