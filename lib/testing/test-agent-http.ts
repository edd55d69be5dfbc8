/**
 * One HTTP exchange with the TestAgent: what a request asks, and how answers are written, with the
 * headers every agent answer carries and the blocking-query wait.
 *
 * Every answer carries `X-Consul-Index` (the resource's index, or the latest one), `X-Consul-KnownLeader:
 * true`, `X-Consul-LastContact: 0` and `X-Consul-Default-ACL-Policy`. Errors are `text/plain`, as the
 * agent writes them. Nothing is written once the client has gone or the agent is closing.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import { stringifyGo } from './go-json.js'
import type { AclEngine, AclPermission, AclPrincipal } from './test-agent-acl.js'
import { blockingWaitMs } from './durations.js'
import type { IndexBoard } from './test-agent-index.js'

/** One request, as the agent's log records it (never the token). */
export interface RequestLogEntry {
  /** 1 for the first request the agent saw, then 2, 3, … */
  readonly seq: number
  readonly method: string
  /** The decoded path, without the query. */
  readonly path: string
  /** Query parameters except `token`; repeated keys have their values joined with `,`. */
  readonly query: Readonly<Record<string, string>>
  /** Whether the request carried a token (header or query). */
  readonly hasToken: boolean
  /** Arrival time, ms since the epoch. */
  readonly at: number
}

/** What an exchange needs from the agent. */
export interface ExchangeContext {
  readonly acl: AclEngine
  readonly board: IndexBoard
  /** Called when the request starts waiting (blocking query or hanging fault), and when it stops. */
  held (exchange: Exchange, holding: boolean): void
}

/** Options of an answer. */
export interface ReplyOptions {
  /** `X-Consul-Index`; default the latest index. */
  readonly index?: number
  /** `X-Cache` (and `Age` on a hit), as agent-cached endpoints send. */
  readonly cache?: { readonly hit: boolean, readonly ageSeconds: number }
  /** Extra headers. */
  readonly headers?: Readonly<Record<string, string>>
}

const MAX_BODY_BYTES = 4 * 1024 * 1024

export class Exchange {
  readonly req: IncomingMessage
  readonly res: ServerResponse
  readonly method: string
  readonly path: string
  readonly query: URLSearchParams
  readonly entry: RequestLogEntry
  /** Aborts when the client goes away or the agent closes: every wait listens to it. */
  readonly signal: AbortSignal
  /** Set by the `indexBackwards` fault: answer at once, with an index that went backwards. */
  backwards = false
  readonly #context: ExchangeContext
  #principal: AclPrincipal | undefined

  constructor (req: IncomingMessage, res: ServerResponse, path: string, query: URLSearchParams, entry: RequestLogEntry, signal: AbortSignal, context: ExchangeContext) {
    this.req = req
    this.res = res
    this.method = req.method ?? 'GET'
    this.path = path
    this.query = query
    this.entry = entry
    this.signal = signal
    this.#context = context
  }

  /** Whether an answer can still be written. */
  get open (): boolean {
    return !this.signal.aborted && !this.res.writableEnded && !this.res.destroyed
  }

  /** Who is asking (resolved once). */
  get principal (): AclPrincipal {
    return this.#principal ??= this.#context.acl.resolve(this.req.headers, this.query)
  }

  /** Checks a permission; when denied, answers 403 with Consul's text and returns true. */
  denied (permission: AclPermission): boolean {
    const text = this.#context.acl.deny(this.principal, permission)
    if (text === undefined) return false
    this.text(403, text)
    return true
  }

  /**
   * Answers 403 `ACL not found` and returns true when ACLs are on and the request's token is unknown: the
   * agent resolves the token before anything else on every endpoint that looks at it.
   */
  unknownToken (): boolean {
    if (!this.#context.acl.enabled || this.principal.kind !== 'unknown') return false
    this.text(403, 'ACL not found')
    return true
  }

  /** Checks a permission without answering (for ACL-filtered lists and either-end checks). */
  allows (permission: AclPermission): boolean {
    return this.#context.acl.deny(this.principal, permission) === undefined
  }

  /**
   * The blocking-query parameters; answers 400 (`Invalid wait time`, `Invalid index`) and returns
   * `undefined` when they do not parse, as the agent does before anything else.
   */
  blocking (): { readonly index: number, readonly waitMs: number } | undefined {
    const waitMs = blockingWaitMs(this.query.get('wait'))
    if (waitMs === undefined) {
      this.text(400, 'Invalid wait time')
      return undefined
    }
    const raw = this.query.get('index')
    if (raw !== null && raw !== '' && !/^\d+$/.test(raw)) {
      this.text(400, 'Invalid index')
      return undefined
    }
    return { index: raw === null || raw === '' ? 0 : Number(raw), waitMs }
  }

  /**
   * Holds a blocking request until `key`'s index passes the request's `index`, or its wait ends. Returns at
   * once for non-blocking requests (no `index`, or 0). Resolves false when the request was released without
   * an answer to give (client gone, agent closing): the handler then writes nothing.
   */
  async hold (key: string, params: { readonly index: number, readonly waitMs: number }): Promise<boolean> {
    if (params.index > 0 && !this.backwards && this.#context.board.of(key) <= params.index) {
      this.#context.held(this, true)
      try {
        await this.#context.board.wait(key, params.index, params.waitMs, this.signal)
      } finally {
        this.#context.held(this, false)
      }
    }
    return this.open
  }

  /** Answers JSON (Go-compatible: {@link stringifyGo}). */
  json (status: number, body: unknown, options: ReplyOptions = {}): void {
    this.#write(status, 'application/json', stringifyGo(body), options)
  }

  /** Answers plain text (the agent's error answers). */
  text (status: number, text: string, options: ReplyOptions = {}): void {
    this.#write(status, 'text/plain; charset=utf-8', text, options)
  }

  /** Answers with an exact body and content type (faults, PEM bundles), or no body at all. */
  raw (status: number, contentType: string | undefined, body: string, options: ReplyOptions = {}): void {
    this.#write(status, contentType, body, options)
  }

  /**
   * Reads and parses the JSON body: `{ value }`, or `{ error }` with a message like Go's decoder gives
   * (`EOF` for an empty body).
   */
  async readJson (): Promise<{ readonly value: unknown } | { readonly error: string }> {
    const chunks: Buffer[] = []
    let size = 0
    for await (const chunk of this.req) {
      size += (chunk as Buffer).length
      if (size > MAX_BODY_BYTES) return { error: 'http: request body too large' }
      chunks.push(chunk as Buffer)
    }
    const text = Buffer.concat(chunks).toString('utf8')
    if (text.trim() === '') return { error: 'EOF' }
    try {
      return { value: JSON.parse(text) as unknown }
    } catch (err) {
      return { error: (err as Error).message }
    }
  }

  #write (status: number, contentType: string | undefined, body: string, options: ReplyOptions): void {
    if (!this.open) return
    const res = this.res
    res.statusCode = status
    res.setHeader('X-Consul-Default-ACL-Policy', this.#context.acl.defaultPolicy)
    res.setHeader('X-Consul-Index', String(this.#index(options.index ?? this.#context.board.current)))
    res.setHeader('X-Consul-KnownLeader', 'true')
    res.setHeader('X-Consul-LastContact', '0')
    if (options.cache !== undefined) {
      res.setHeader('X-Cache', options.cache.hit ? 'HIT' : 'MISS')
      if (options.cache.hit) res.setHeader('Age', String(options.cache.ageSeconds))
    }
    for (const [name, value] of Object.entries(options.headers ?? {})) res.setHeader(name, value)
    if (contentType !== undefined) res.setHeader('Content-Type', contentType)
    res.end(body)
  }

  /** The index to report: as is, or (fault `indexBackwards`) one below what the client last saw. */
  #index (actual: number): number {
    if (!this.backwards) return actual
    const sent = Number(this.query.get('index') ?? '0')
    const reference = Number.isSafeInteger(sent) && sent > 0 ? sent : actual
    return Math.max(0, reference - 1)
  }
}
