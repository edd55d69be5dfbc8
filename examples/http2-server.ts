/**
 * An HTTP/2 server in the mesh (`createServer({ http2: true, allowHTTP1: true })`) called three ways:
 *
 * 1. Node's own `http2.connect` over a socket from `svc.dial('db', { alpn: ['h2'] })`: several concurrent
 *    streams multiplexed on one mutual-TLS connection whose server proved to be `db`.
 * 2. `svc.fetch` with `dispatcher: { allowH2: true }`: undici negotiates `h2` through ALPN.
 * 3. `svc.fetch` from a service with the default dispatcher (HTTP/1.1 only): served too, thanks to `allowHTTP1`.
 *
 * Every connection is mutual TLS and decided by `db`'s intentions; with HTTP/2 each *stream* is a request,
 * so per-request (L7) intentions apply to streams exactly as to HTTP/1.1 requests.
 *
 * Run it: `npx tsx examples/http2-server.ts` (set CONSUL_HTTP_ADDR to use a real agent).
 *
 * Published imports:
 *   import { ConnectService, peerOf, peerSpiffeUri } from 'consul-connect-native'
 *   import { TestAgent } from 'consul-connect-native/testing'
 */
import { once } from 'node:events'
import { connect as http2Connect, constants } from 'node:http2'
import type { ClientHttp2Session, Http2ServerRequest, Http2ServerResponse } from 'node:http2'
import { pathToFileURL } from 'node:url'
import { ConnectService, peerOf, peerSpiffeUri } from '../lib/index.js'
import { openPlayground } from './support/playground.js'
import type { ExampleOptions } from './support/playground.js'
import { Teardown } from './support/teardown.js'

/** What `db` answered to one request. */
export interface Http2Answer {
  readonly caller: string
  readonly httpVersion: string
  readonly path: string
}

export interface Http2ServerResult {
  /** Answers to the concurrent streams sent with `http2.connect`. */
  readonly streams: readonly Http2Answer[]
  /** HTTP/2 sessions (connections) `db` accepted for those streams: 1. */
  readonly sessionsForStreams: number
  /** The answer to undici's `fetch` with `allowH2`. */
  readonly undiciH2: Http2Answer
  /** The answer to an HTTP/1.1-only client. */
  readonly http1: Http2Answer
}

export async function main (options: ExampleOptions = {}): Promise<Http2ServerResult> {
  const log = options.log ?? console.log
  const teardown = new Teardown()
  try {
    const mesh = teardown.closes(await openPlayground(options.agentAddress))
    log(`agent: ${mesh.kind} at ${mesh.address}`)

    const db = teardown.closes(new ConnectService({ service: 'db', agent: mesh.agent }))
    // `dispatcher` options shape the undici Agent behind `svc.fetch` and `svc.dispatcher()`.
    const web = teardown.closes(new ConnectService({ service: 'web', agent: mesh.agent, dispatcher: { allowH2: true } }))
    const legacy = teardown.closes(new ConnectService({ service: 'legacy', agent: mesh.agent }))
    const deadline = AbortSignal.timeout(10_000)
    await Promise.all([db, web, legacy].map((svc) => svc.ready({ signal: deadline })))

    // The compatibility API: one handler for HTTP/2 streams and, with allowHTTP1, HTTP/1.1 requests.
    const server = db.createServer({ http2: true, allowHTTP1: true }, (req: Http2ServerRequest, res: Http2ServerResponse) => {
      const peer = peerOf(req)
      const answer: Http2Answer = {
        caller: peer?.id.kind === 'service' ? peer.id.service : 'unknown',
        httpVersion: req.httpVersion,
        path: req.url
      }
      res.setHeader('content-type', 'application/json')
      res.end(JSON.stringify(answer))
    })
    let sessions = 0
    server.on('session', () => { sessions++ })
    const port = await teardown.listen(server)
    await mesh.register('db', port)
    log(`db serves HTTP/2 (and HTTP/1.1) on 127.0.0.1:${port}`)

    // 1. node:http2 on a mesh socket: dial resolves `db`, verifies its SPIFFE ID and negotiates h2.
    const socket = await web.dial('db', { alpn: ['h2'] })
    // The SPIFFE ID read from the DER (Node's `subjectaltname` string is escaped and lossy).
    log(`web dialled db: ALPN ${socket.alpnProtocol}, server ${peerSpiffeUri(socket.getPeerX509Certificate()!.raw)}`)
    const session = teardown.add(http2Connect('https://db.service.consul', { createConnection: () => socket }), closeSession)
    const streams = await Promise.all(['/orders/1', '/orders/2', '/orders/3'].map((path) => get(session, path)))
    for (const s of streams) log(`web → h2 stream ${s.path}: HTTP/${s.httpVersion} as ${s.caller}`)
    log(`db accepted ${sessions} HTTP/2 session(s) for ${streams.length} concurrent streams`)
    const sessionsForStreams = sessions

    // 2. undici through the mesh dispatcher, offering h2.
    const undiciH2 = await (await web.fetch('https://db.service.consul/inventory')).json() as Http2Answer
    log(`web → fetch /inventory (allowH2): HTTP/${undiciH2.httpVersion}`)

    // 3. An HTTP/1.1-only client.
    const http1 = await (await legacy.fetch('https://db.service.consul/status')).json() as Http2Answer
    log(`legacy → fetch /status (HTTP/1.1 only): HTTP/${http1.httpVersion} as ${http1.caller}`)

    return { streams, sessionsForStreams, undiciH2, http1 }
  } finally {
    await teardown.run()
  }
}

/** One GET stream on an HTTP/2 session, its JSON body parsed. */
async function get (session: ClientHttp2Session, path: string): Promise<Http2Answer> {
  const stream = session.request({ [constants.HTTP2_HEADER_PATH]: path })
  stream.setEncoding('utf8')
  let body = ''
  stream.on('data', (chunk: string) => { body += chunk })
  await once(stream, 'end')
  return JSON.parse(body) as Http2Answer
}

async function closeSession (session: ClientHttp2Session): Promise<void> {
  if (session.closed) return
  const closed = once(session, 'close')
  session.close()
  await closed
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main({ agentAddress: process.env.CONSUL_HTTP_ADDR, log: console.log }).catch((err: unknown) => {
    console.error(err)
    process.exitCode = 1
  })
}
