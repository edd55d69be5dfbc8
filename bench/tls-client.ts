/**
 * The benchmark client's unit of work for new-connection scenarios: one TLS connection, one hand-written
 * `GET /` with `Connection: close`, the whole response read, the socket closed. Used by tls-server.ts and
 * scenarios/connections.ts so both measure exactly the same client work.
 */
import tls from 'node:tls'
import type { SecureContext } from 'node:tls'

const HOST = '127.0.0.1'
const REQUEST = Buffer.from(`GET / HTTP/1.1\r\nHost: ${HOST}\r\nConnection: close\r\n\r\n`)
/** The body every benchmark server answers. */
export const BODY = 'ok'

export interface ConnectionResult {
  /** Whether the server resumed the offered session. */
  readonly reused: boolean
}

/**
 * One connection to `127.0.0.1:port` with the client certificate and roots of `context` (server identity not
 * checked: the servers compared present the same leaf). Offers `session` when given; `onSession` receives the
 * tickets the server sends. Rejects on any error, on a response other than 200 `ok`, when `signal` aborts, or
 * after 10 s.
 */
export function oneConnection (port: number, context: SecureContext, session: Buffer | undefined, signal: AbortSignal | undefined,
  onSession?: (session: Buffer) => void): Promise<ConnectionResult> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({
      host: HOST,
      port,
      secureContext: context,
      rejectUnauthorized: true,
      checkServerIdentity: () => undefined,
      ALPNProtocols: ['http/1.1'],
      ...(session === undefined ? {} : { session })
    })
    let reused = false
    const chunks: Buffer[] = []
    const fail = (err: Error): void => {
      cleanup()
      socket.destroy()
      reject(err)
    }
    const onAbort = (): void => fail(new Error('abandoned'))
    const cleanup = (): void => {
      signal?.removeEventListener('abort', onAbort)
      socket.setTimeout(0)
    }
    signal?.addEventListener('abort', onAbort, { once: true })
    socket.setTimeout(10_000, () => fail(new Error('no response within 10 s')))
    if (onSession !== undefined) socket.on('session', onSession)
    socket.once('secureConnect', () => {
      reused = socket.isSessionReused()
      socket.write(REQUEST)
    })
    socket.on('data', (chunk: Buffer) => chunks.push(chunk))
    socket.once('error', fail)
    socket.once('end', () => {
      cleanup()
      const text = Buffer.concat(chunks).toString('latin1')
      socket.destroy()
      if (text.startsWith('HTTP/1.1 200 ') && text.endsWith(`\r\n\r\n${BODY}`)) resolve({ reused })
      else reject(new Error(`unexpected response: ${JSON.stringify(text.slice(0, 80))}${text.length === 0 ? ' (connection closed without an answer: refused?)' : ''}`))
    })
  })
}
