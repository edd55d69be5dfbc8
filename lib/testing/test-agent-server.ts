/**
 * How the TestAgent handles one HTTP request: log it, apply a matching fault, route it, and turn an
 * unexpected failure into the agent's 500 text. Each request gets an AbortSignal that fires when its
 * client goes away or the agent closes; every wait of the request listens to it.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import { once } from 'node:events'
import type { FaultSet } from './faults.js'
import type { AclEngine } from './test-agent-acl.js'
import { tokenOf } from './test-agent-acl.js'
import { Exchange } from './test-agent-http.js'
import type { RequestLogEntry } from './test-agent-http.js'
import type { IndexBoard } from './test-agent-index.js'
import type { RequestRecorder } from './test-agent-requests.js'
import { dispatch } from './test-agent-routes.js'
import type { AgentCore } from './test-agent-routes.js'

export interface RequestHandlerDeps {
  readonly core: AgentCore
  readonly acl: AclEngine
  readonly board: IndexBoard
  readonly faults: FaultSet
  readonly recorder: RequestRecorder
}

export class RequestHandler {
  readonly #deps: RequestHandlerDeps
  readonly #exchanges = new Set<AbortController>()

  constructor (deps: RequestHandlerDeps) {
    this.#deps = deps
  }

  /** Aborts every request in progress: their waits end and nothing more is written to them. */
  abortAll (): void {
    for (const controller of this.#exchanges) controller.abort()
  }

  async handle (req: IncomingMessage, res: ServerResponse): Promise<void> {
    const { recorder } = this.#deps
    const url = new URL(req.url ?? '/', 'http://agent')
    let path: string
    try {
      path = decodeURIComponent(url.pathname)
    } catch {
      path = url.pathname // a malformed escape stays as sent; no route matches it
    }
    const entry: RequestLogEntry = Object.freeze({
      seq: recorder.nextSeq(),
      method: req.method ?? 'GET',
      path,
      query: loggableQuery(url.searchParams),
      hasToken: tokenOf(req.headers, url.searchParams) !== '',
      at: Date.now()
    })
    const controller = new AbortController()
    this.#exchanges.add(controller)
    res.once('close', () => {
      controller.abort()
      this.#exchanges.delete(controller)
    })
    const ex = new Exchange(req, res, path, url.searchParams, entry, controller.signal, {
      acl: this.#deps.acl,
      board: this.#deps.board,
      held: (exchange, holding) => recorder.held(exchange.entry, holding)
    })
    recorder.arrived(entry)
    try {
      if (await this.#applyFault(ex)) return
      await dispatch(this.#deps.core, ex)
    } catch (err) {
      ex.text(500, err instanceof Error ? err.message : String(err))
    }
  }

  /** Applies the first matching fault; true when it answered (or the request ended) in place of the agent. */
  async #applyFault (ex: Exchange): Promise<boolean> {
    const fault = this.#deps.faults.take(ex.method, ex.path)
    if (fault === undefined) return false
    const { recorder } = this.#deps
    recorder.faultApplied()
    if (fault.delayMs > 0) await delay(fault.delayMs, ex.signal)
    if (fault.released !== undefined && ex.open) {
      recorder.held(ex.entry, true)
      try {
        await Promise.race([fault.released, aborted(ex.signal)])
      } finally {
        recorder.held(ex.entry, false)
      }
    }
    if (!ex.open) return true
    const answer = fault.answer
    switch (answer.kind) {
      case 'status':
        if (typeof answer.body === 'string') ex.text(answer.status, answer.body)
        else ex.json(answer.status, answer.body)
        return true
      case 'malformed':
        ex.raw(200, 'application/json', '{"ActiveRootID": "truncated')
        return true
      case 'indexBackwards':
        ex.backwards = true
        return false
      case 'none':
        return false
    }
  }
}

function loggableQuery (query: URLSearchParams): Readonly<Record<string, string>> {
  const out: Record<string, string> = {}
  for (const key of new Set(query.keys())) {
    if (key !== 'token') out[key] = query.getAll(key).join(',')
  }
  return Object.freeze(out)
}

async function delay (ms: number, signal: AbortSignal): Promise<void> {
  await new Promise<void>((resolve) => {
    const timer = setTimeout(done, ms)
    timer.unref()
    signal.addEventListener('abort', done, { once: true })
    function done (): void {
      clearTimeout(timer)
      signal.removeEventListener('abort', done)
      resolve()
    }
  })
}

async function aborted (signal: AbortSignal): Promise<void> {
  if (signal.aborted) return
  await once(signal, 'abort')
}
