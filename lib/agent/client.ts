/**
 * AgentClient: the one way this library talks HTTP to the local Consul agent.
 *
 * - Address, TLS and token come from options over the CONSUL_* environment (see options.ts).
 * - The token travels only in the `X-Consul-Token` header; it never appears in a URL, an error, or
 *   `inspect`/`toString`/JSON output of the client.
 * - `ns`, `partition` and `dc` are sent only when configured (Community Edition answers 400 to `ns`).
 * - Each request has a deadline (`timeoutMs`, default the client's) and honours an AbortSignal.
 * - Every answer is validated with a zod schema; every failure is an AgentError with a stable code
 *   (see agent-errors.ts), an abort is ERR_CONNECT_ABORTED, use after close() is ERR_CONNECT_CLOSED.
 *
 * Files (token file, CAs, client certificate) are read at first use; a failure there rejects that
 * request with ERR_CONNECT_AGENT_CONFIG and is retried by the next one.
 */
import { inspect } from 'node:util'
import type { Agent } from 'undici'
import type { z } from 'zod'
import { abortError, AgentError, ConnectError, hasCode, InvalidOptionError } from '../errors.js'
import { describeZodError, invalidAnswerError, statusError, timeoutError, transportError } from './agent-errors.js'
import { loadToken } from './credentials.js'
import { createAgentDispatcher } from './dispatcher.js'
import { resolveAgentOptions } from './options.js'
import type { AgentClientOptions, ResolvedAgentOptions } from './options.js'
import { parseIndexHeader, parseResponseMeta } from './response-meta.js'
import type { AgentResponseMeta } from './response-meta.js'
import {
  agentSelfSchema, authorizeAnswerSchema, ignoredAnswerSchema, intentionCheckSchema, writeResultSchema
} from './schemas.js'
import type { AgentSelf, AuthorizeAnswer, CaConfigurationWrite, ConfigEntryWrite, IntentionCheckAnswer, IntentionWrite } from './schemas.js'

export type QueryValue = string | number | boolean | undefined

/** One request to the agent. */
export interface AgentRequest<T> {
  /** Default `GET`. */
  readonly method?: 'GET' | 'PUT' | 'POST' | 'DELETE'
  /** Absolute path without query, components already encoded: `/v1/agent/connect/ca/leaf/web`. */
  readonly path: string
  /** Query parameters; `undefined` and `false` are left out, `true` is sent as `true`. A key given here
   * replaces the client's `ns`/`partition`/`dc` default (give it `undefined` to leave it out). */
  readonly query?: Readonly<Record<string, QueryValue>>
  /** JSON-encoded as the request body. */
  readonly body?: unknown
  /** Validates the answer (an empty body reaches it as `undefined`). */
  readonly schema: z.ZodType<T>
  readonly signal?: AbortSignal
  /** Deadline of the whole request, answer body included. Default: the client's `timeoutMs`. */
  readonly timeoutMs?: number
  /** What the caller is doing, the start of every error message: `fetching leaf for "web"`. */
  readonly what: string
}

export interface AgentResponse<T> {
  readonly value: T
  readonly status: number
  /** `X-Consul-Index`, when present and a decimal integer. */
  readonly index: number | undefined
  readonly meta: AgentResponseMeta
}

/** Options every convenience call accepts. */
export interface CallOptions {
  readonly signal?: AbortSignal
  readonly timeoutMs?: number
}

interface InFlight {
  readonly controller: AbortController
  reason: 'abort' | 'timeout' | 'close' | undefined
}

/** Stops a request; the first reason wins, so a timeout racing a close reports what happened first. */
function cancel (flight: InFlight, reason: NonNullable<InFlight['reason']>): void {
  flight.reason ??= reason
  flight.controller.abort()
}

const USER_AGENT = 'consul-connect-native'

export class AgentClient {
  /** The validated settings (no token value). */
  readonly options: ResolvedAgentOptions
  readonly #inFlight = new Set<InFlight>()
  #dispatcher: Promise<Agent> | undefined
  #token: Promise<string | undefined> | undefined
  #closing: Promise<void> | undefined

  /** Validates `options` eagerly; throws InvalidOptionError naming the field. Opens nothing yet. */
  constructor (options: AgentClientOptions = {}) {
    this.options = resolveAgentOptions(options)
  }

  /** The agent's address as shown in messages: `http://127.0.0.1:8500`, `unix:///run/consul.sock`. */
  get address (): string { return this.options.address.display }

  /** Default per-request deadline, also the margin a blocking query adds to its wait. */
  get timeoutMs (): number { return this.options.timeoutMs }

  get closed (): boolean { return this.#closing !== undefined }

  /**
   * Sends one request and validates its answer. Rejects with AgentError (see module doc),
   * ERR_CONNECT_ABORTED when `signal` aborts, ERR_CONNECT_CLOSED when the client is or gets closed.
   */
  async request<T> (req: AgentRequest<T>): Promise<AgentResponse<T>> {
    const { what } = req
    if (!req.path.startsWith('/') || /[?#]/.test(req.path)) {
      throw new InvalidOptionError('request.path', `must be an absolute path without query: ${JSON.stringify(req.path)}`)
    }
    if (this.closed) throw new ConnectError('ERR_CONNECT_CLOSED', `${what}: the agent client is closed`)
    if (req.signal?.aborted === true) throw abortError(what, req.signal)
    const flight: InFlight = { controller: new AbortController(), reason: undefined }
    const onAbort = (): void => cancel(flight, 'abort')
    const timeoutMs = req.timeoutMs ?? this.options.timeoutMs
    const timer = setTimeout(() => cancel(flight, 'timeout'), timeoutMs)
    timer.unref()
    req.signal?.addEventListener('abort', onAbort, { once: true })
    this.#inFlight.add(flight)
    const path = req.path
    try {
      let dispatcher: Agent
      let token: string | undefined
      try {
        [dispatcher, token] = await Promise.all([this.#getDispatcher(), this.#getToken()])
      } catch (err) {
        // Settings files failed (AgentError ERR_CONNECT_AGENT_CONFIG): say what the caller was doing too.
        throw hasCode(err, 'ERR_CONNECT_AGENT_CONFIG')
          ? new AgentError('ERR_CONNECT_AGENT_CONFIG', `${what}: ${(err as Error).message}`, { path, cause: err })
          : err
      }
      this.#throwIfStopped(flight, req, timeoutMs)
      const headers: Record<string, string> = { accept: 'application/json', 'user-agent': USER_AGENT }
      if (token !== undefined) headers['x-consul-token'] = token
      const body = req.body === undefined ? undefined : JSON.stringify(req.body)
      if (body !== undefined) headers['content-type'] = 'application/json'

      let status: number
      let responseHeaders: Record<string, string | string[] | undefined>
      let text: string
      try {
        const res = await dispatcher.request({
          origin: this.options.address.origin,
          path: path + this.#queryString(req.query),
          method: req.method ?? 'GET',
          headers,
          body: body ?? null,
          signal: flight.controller.signal,
          // This client owns the deadline; undici's 300 s defaults would cut long blocking queries.
          headersTimeout: 0,
          bodyTimeout: 0
        })
        status = res.statusCode
        responseHeaders = res.headers
        text = await res.body.text()
      } catch (err) {
        this.#throwIfStopped(flight, req, timeoutMs)
        throw transportError(what, err, this.address, path)
      }

      if (status < 200 || status > 299) throw statusError(what, status, text, path, token)
      let json: unknown
      try {
        json = text.trim() === '' ? undefined : JSON.parse(text)
      } catch (err) {
        throw invalidAnswerError(what, `body is not JSON (${(err as Error).message})`, path, status, err)
      }
      const parsed = req.schema.safeParse(json)
      if (!parsed.success) throw invalidAnswerError(what, describeZodError(parsed.error), path, status, parsed.error)
      return Object.freeze({
        value: parsed.data,
        status,
        index: parseIndexHeader(responseHeaders),
        meta: parseResponseMeta(responseHeaders)
      })
    } finally {
      clearTimeout(timer)
      req.signal?.removeEventListener('abort', onAbort)
      this.#inFlight.delete(flight)
    }
  }

  /**
   * Cancels every request in flight (they reject with ERR_CONNECT_CLOSED) and releases the connection
   * pool. Idempotent: every call returns the same promise.
   */
  close (): Promise<void> {
    this.#closing ??= (async () => {
      for (const flight of this.#inFlight) cancel(flight, 'close')
      const dispatcher = this.#dispatcher
      this.#dispatcher = undefined
      if (dispatcher !== undefined) {
        const pool = await dispatcher.catch(() => undefined)
        await pool?.destroy().catch(() => undefined)
      }
    })()
    return this.#closing
  }

  // ------------------------------------------------------------------------------------------------
  // Thin typed calls. Each is one request(); failures are those of request().

  /** `GET /v1/agent/self`: datacenter, node name, and (with `agent:read`) the runtime config. */
  async self (options: CallOptions = {}): Promise<AgentSelf> {
    const res = await this.request({ ...options, path: '/v1/agent/self', schema: agentSelfSchema, what: 'reading agent self' })
    return res.value
  }

  /**
   * `POST /v1/agent/connect/authorize`: asks the agent whether `clientCertUri` may connect to `target`.
   * `clientCertSerial` is lower-case colon-separated hex. Needs `service:write` on `target`.
   */
  async authorize (args: { target: string, clientCertUri: string, clientCertSerial: string }, options: CallOptions = {}): Promise<AuthorizeAnswer> {
    const res = await this.request({
      ...options,
      method: 'POST',
      path: '/v1/agent/connect/authorize',
      body: { Target: args.target, ClientCertURI: args.clientCertUri, ClientCertSerial: args.clientCertSerial },
      schema: authorizeAnswerSchema,
      what: `authorizing ${JSON.stringify(args.clientCertUri)} to ${JSON.stringify(args.target)}`
    })
    return res.value
  }

  /** `GET /v1/connect/intentions/check`: whether `source` may connect to `destination` (L7 intentions count as deny). */
  async intentionCheck (args: { source: string, destination: string }, options: CallOptions = {}): Promise<IntentionCheckAnswer> {
    const res = await this.request({
      ...options,
      path: '/v1/connect/intentions/check',
      query: { source: args.source, destination: args.destination },
      schema: intentionCheckSchema,
      what: `checking intention ${JSON.stringify(args.source)} → ${JSON.stringify(args.destination)}`
    })
    return res.value
  }

  /** `PUT /v1/connect/intentions/exact`: creates or replaces the intention `source` → `destination`. */
  async upsertIntentionExact (args: { source: string, destination: string, intention: IntentionWrite }, options: CallOptions = {}): Promise<boolean> {
    const res = await this.request({
      ...options,
      method: 'PUT',
      path: '/v1/connect/intentions/exact',
      query: { source: args.source, destination: args.destination },
      body: args.intention,
      schema: writeResultSchema,
      what: `writing intention ${JSON.stringify(args.source)} → ${JSON.stringify(args.destination)}`
    })
    return res.value
  }

  /** `DELETE /v1/connect/intentions/exact`. */
  async deleteIntentionExact (args: { source: string, destination: string }, options: CallOptions = {}): Promise<boolean> {
    const res = await this.request({
      ...options,
      method: 'DELETE',
      path: '/v1/connect/intentions/exact',
      query: { source: args.source, destination: args.destination },
      schema: writeResultSchema,
      what: `deleting intention ${JSON.stringify(args.source)} → ${JSON.stringify(args.destination)}`
    })
    return res.value
  }

  /** `PUT /v1/config`. With `cas`, resolves false when the entry changed since that index. */
  async putConfigEntry (entry: ConfigEntryWrite, options: CallOptions & { readonly cas?: number } = {}): Promise<boolean> {
    const { cas, ...rest } = options
    const res = await this.request({
      ...rest,
      method: 'PUT',
      path: '/v1/config',
      query: { cas },
      body: entry,
      schema: writeResultSchema,
      what: `writing config entry ${entry.Kind}/${JSON.stringify(entry.Name)}`
    })
    return res.value
  }

  /** `PUT /v1/connect/ca/configuration` (needs `operator:write`). */
  async setCaConfiguration (config: CaConfigurationWrite, options: CallOptions = {}): Promise<void> {
    await this.request({
      ...options,
      method: 'PUT',
      path: '/v1/connect/ca/configuration',
      body: config,
      schema: ignoredAnswerSchema,
      what: 'setting the CA configuration'
    })
  }

  toString (): string {
    return `AgentClient(${this.address})`
  }

  toJSON (): Record<string, unknown> {
    return this.#describe()
  }

  [inspect.custom] (): string {
    return `AgentClient ${inspect(this.#describe())}`
  }

  #describe (): Record<string, unknown> {
    const { options } = this
    return {
      address: this.address,
      token: options.token === undefined ? 'none' : `[redacted] (${options.token.label})`,
      ...(options.datacenter === undefined ? {} : { datacenter: options.datacenter }),
      ...(options.namespace === undefined ? {} : { namespace: options.namespace }),
      ...(options.partition === undefined ? {} : { partition: options.partition }),
      closed: this.closed
    }
  }

  #throwIfStopped (flight: InFlight, req: AgentRequest<unknown>, timeoutMs: number): void {
    switch (flight.reason) {
      case undefined: return
      case 'abort': throw abortError(req.what, req.signal)
      case 'close': throw new ConnectError('ERR_CONNECT_CLOSED', `${req.what}: the agent client was closed`)
      case 'timeout': throw timeoutError(req.what, this.address, timeoutMs, req.path)
    }
  }

  #queryString (query: AgentRequest<unknown>['query']): string {
    const params = new URLSearchParams()
    const defaults: Record<string, QueryValue> = {
      dc: this.options.datacenter,
      ns: this.options.namespace,
      partition: this.options.partition
    }
    const merged: Record<string, QueryValue> = { ...defaults, ...query }
    for (const [key, value] of Object.entries(merged)) {
      if (value === undefined || value === false) continue
      params.append(key, String(value))
    }
    const text = params.toString()
    return text === '' ? '' : `?${text}`
  }

  #getDispatcher (): Promise<Agent> {
    if (this.#dispatcher === undefined) {
      const pending = createAgentDispatcher(this.options)
      this.#dispatcher = pending
      // A file that could not be read may be fixed later: forget the failure so the next request retries.
      pending.catch(() => { if (this.#dispatcher === pending) this.#dispatcher = undefined })
    }
    return this.#dispatcher
  }

  #getToken (): Promise<string | undefined> {
    if (this.#token === undefined) {
      const pending = loadToken(this.options.token)
      this.#token = pending
      pending.catch(() => { if (this.#token === pending) this.#token = undefined })
    }
    return this.#token
  }
}
