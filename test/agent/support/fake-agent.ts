/**
 * A scripted fake Consul agent for the agent-layer tests: an HTTP (or HTTPS, or unix-socket) server that
 * records every request and answers from a script, then from a fallback handler (default: hang, like a
 * blocking query with nothing new). Tests wait on its events, never on wall time.
 */
import { EventEmitter, once } from 'node:events'
import { createServer as createHttpServer } from 'node:http'
import type { IncomingMessage, Server, ServerResponse } from 'node:http'
import { createServer as createHttpsServer } from 'node:https'
import type { AddressInfo, Socket } from 'node:net'

export interface ScriptedResponse {
  readonly status?: number
  /** Sets `X-Consul-Index`. */
  readonly index?: number
  readonly headers?: Readonly<Record<string, string>>
  /** Sent as JSON. */
  readonly json?: unknown
  /** Sent verbatim (wins over `json`). */
  readonly body?: string
  /** Never answer: the client must give up (timeout, abort, close). */
  readonly hang?: boolean
}

export interface RecordedRequest {
  readonly method: string
  /** Path and query exactly as sent. */
  readonly rawUrl: string
  readonly path: string
  readonly query: URLSearchParams
  readonly headers: IncomingMessage['headers']
  readonly body: string
  /** Resolves when the client went away before an answer was sent (true) or the answer finished (false). */
  readonly ended: Promise<boolean>
}

export type Handler = (req: RecordedRequest) => ScriptedResponse | Promise<ScriptedResponse>

export interface FakeAgentOptions {
  /** Listen on this unix socket path instead of 127.0.0.1. */
  readonly socketPath?: string
  /** Listen on this host (default 127.0.0.1), e.g. `::1`. */
  readonly host?: string
  /** Serve HTTPS with these PEMs; `requestCert` demands a client certificate signed by `ca`. */
  readonly tls?: { readonly cert: string, readonly key: string, readonly ca?: string, readonly requestCert?: boolean }
}

export class FakeAgent extends EventEmitter<{ request: [RecordedRequest] }> {
  readonly requests: RecordedRequest[] = []
  readonly #server: Server
  readonly #sockets = new Set<Socket>()
  readonly #script: ScriptedResponse[] = []
  #handler: Handler = () => ({ hang: true })
  #address = ''

  private constructor (server: Server) {
    super()
    this.#server = server
    server.on('connection', (socket: Socket) => {
      this.#sockets.add(socket)
      socket.on('close', () => this.#sockets.delete(socket))
    })
    server.on('secureConnection', (socket: Socket) => {
      this.#sockets.add(socket)
      socket.on('close', () => this.#sockets.delete(socket))
    })
    server.on('request', (req: IncomingMessage, res: ServerResponse) => { void this.#serve(req, res) })
  }

  static async start (options: FakeAgentOptions = {}): Promise<FakeAgent> {
    const server = options.tls === undefined
      ? createHttpServer()
      : createHttpsServer({
        cert: options.tls.cert,
        key: options.tls.key,
        ...(options.tls.ca === undefined ? {} : { ca: options.tls.ca }),
        requestCert: options.tls.requestCert ?? false,
        rejectUnauthorized: options.tls.requestCert ?? false
      })
    const agent = new FakeAgent(server)
    if (options.socketPath !== undefined) {
      server.listen(options.socketPath)
      await once(server, 'listening')
      agent.#address = `unix://${options.socketPath}`
    } else {
      const host = options.host ?? '127.0.0.1'
      server.listen(0, host)
      await once(server, 'listening')
      const { port } = server.address() as AddressInfo
      const scheme = options.tls === undefined ? 'http' : 'https'
      agent.#address = `${scheme}://${host.includes(':') ? `[${host}]` : host}:${port}`
    }
    return agent
  }

  /** The address to give the client: `http://127.0.0.1:1234`, `unix:///tmp/x.sock`. */
  get address (): string { return this.#address }

  /** Answers the next requests, in order, with these responses. */
  script (...responses: ScriptedResponse[]): this {
    this.#script.push(...responses)
    return this
  }

  /** Answers requests that the script does not cover. */
  fallback (handler: Handler): this {
    this.#handler = handler
    return this
  }

  /** Resolves with the next request to arrive. */
  async nextRequest (): Promise<RecordedRequest> {
    const [req] = await once(this, 'request')
    return req as RecordedRequest
  }

  /** Resolves once `count` requests have arrived in total. */
  async waitForRequests (count: number): Promise<void> {
    while (this.requests.length < count) await once(this, 'request')
  }

  async close (): Promise<void> {
    for (const socket of this.#sockets) socket.destroy()
    await new Promise<void>((resolve) => this.#server.close(() => resolve()))
  }

  async #serve (req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = []
    for await (const chunk of req) chunks.push(chunk as Buffer)
    const url = new URL(req.url ?? '/', 'http://fake')
    let settle: (early: boolean) => void = () => {}
    const ended = new Promise<boolean>((resolve) => { settle = resolve })
    res.on('close', () => settle(!res.writableFinished))
    const recorded: RecordedRequest = Object.freeze({
      method: req.method ?? 'GET',
      rawUrl: req.url ?? '/',
      path: url.pathname,
      query: url.searchParams,
      headers: req.headers,
      body: Buffer.concat(chunks).toString('utf8'),
      ended
    })
    this.requests.push(recorded)
    const scripted = this.#script.shift()
    this.emit('request', recorded)
    const answer = scripted ?? await this.#handler(recorded)
    if (answer.hang === true) return
    const headers: Record<string, string> = { 'content-type': 'application/json', ...answer.headers }
    if (answer.index !== undefined) headers['x-consul-index'] = String(answer.index)
    res.writeHead(answer.status ?? 200, headers)
    res.end(answer.body ?? (answer.json === undefined ? '' : JSON.stringify(answer.json)))
  }
}
