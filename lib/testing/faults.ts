/**
 * Injected faults for the TestAgent: make chosen requests fail, hang, lag, or answer garbage, so that
 * clients can be tested against an agent that misbehaves.
 *
 * A fault matches by path (exact string or RegExp tested against the path without its query) and,
 * optionally, method. Faults are tried in the order they were added; the first active match applies to a
 * request, and counts one use. Effects, in order:
 * 1. `delayMs`: the answer waits that long first;
 * 2. `hang`: the request is held without an answer until the fault is cleared (the request then proceeds
 *    normally) or the agent closes (its socket is destroyed);
 * 3. `status` / `body`: that answer instead of the real one (status default 200 when only `body` is set;
 *    a string body is sent as text, anything else as JSON; a status alone gets a short text body);
 * 4. `malformed`: a 200 whose body is not valid JSON;
 * 5. `indexBackwards`: the real answer, never held by a blocking wait, whose `X-Consul-Index` is lower than
 *    what the client sent (its `index` minus one, or the current index minus one), as after a snapshot
 *    restore on the servers.
 * Without 3–5 the request is then handled normally. `times` limits how many requests a fault applies to
 * (default: every one until cleared).
 */
import { InvalidOptionError } from '../errors.js'

/** What to inject, and into which requests. */
export interface FaultSpec {
  /** Which paths (`/v1/agent/connect/ca/roots`): an exact path, or a RegExp tested against the path. */
  readonly path: string | RegExp
  /** Only this HTTP method (case-insensitive). Default: any. */
  readonly method?: string
  /** Answer with this HTTP status instead (100–599). */
  readonly status?: number
  /** Answer with this body instead: a string is sent as `text/plain`, anything else as JSON. */
  readonly body?: unknown
  /** Answer 200 with a body that is not valid JSON. */
  readonly malformed?: true
  /** Answer normally but with an `X-Consul-Index` that went backwards, never holding the request. */
  readonly indexBackwards?: true
  /** Hold the request without an answer until the fault is cleared or the agent closes. */
  readonly hang?: true
  /** Wait this many milliseconds before answering. */
  readonly delayMs?: number
  /** Apply to this many requests, then clear itself. Default: unlimited. */
  readonly times?: number
}

/** Controls one injected fault. */
export interface FaultHandle {
  /** How many requests this fault has applied to so far. */
  readonly hits: number
  /** False once cleared, by {@link FaultHandle.clear}, `clearFaults()`, `times` running out, or close. */
  readonly active: boolean
  /** Removes the fault (idempotent). Requests it holds with `hang` proceed normally. */
  clear(): void
}

/** One fault as applied to one request: what the request handler must do. */
export interface AppliedFault {
  readonly delayMs: number
  /** Resolves when a `hang` fault is cleared; `undefined` when the fault does not hang. */
  readonly released: Promise<void> | undefined
  readonly answer:
  | { readonly kind: 'status', readonly status: number, readonly body: unknown }
  | { readonly kind: 'malformed' }
  | { readonly kind: 'indexBackwards' }
  | { readonly kind: 'none' }
}

class Fault implements FaultHandle {
  hits = 0
  active = true
  readonly #spec: FaultSpec
  readonly #method: string | undefined
  readonly #owner: FaultSet
  #release: (() => void) | undefined
  #released: Promise<void> | undefined

  constructor (spec: FaultSpec, owner: FaultSet) {
    this.#spec = spec
    this.#method = spec.method?.toUpperCase()
    this.#owner = owner
    if (spec.hang === true) this.#released = new Promise((resolve) => { this.#release = resolve })
  }

  matches (method: string, path: string): boolean {
    if (!this.active) return false
    if (this.#method !== undefined && this.#method !== method) return false
    const p = this.#spec.path
    if (typeof p === 'string') return p === path
    p.lastIndex = 0 // a /g or /y RegExp keeps state between tests; matching must not depend on history
    return p.test(path)
  }

  apply (): AppliedFault {
    this.hits++
    if (this.#spec.times !== undefined && this.hits >= this.#spec.times) this.#retire(false)
    const s = this.#spec
    let answer: AppliedFault['answer'] = { kind: 'none' }
    if (s.status !== undefined || s.body !== undefined) {
      const status = s.status ?? 200
      answer = { kind: 'status', status, body: s.body ?? `TestAgent injected fault: HTTP ${status}` }
    } else if (s.malformed === true) {
      answer = { kind: 'malformed' }
    } else if (s.indexBackwards === true) {
      answer = { kind: 'indexBackwards' }
    }
    return { delayMs: s.delayMs ?? 0, released: this.#released, answer }
  }

  clear (): void {
    this.#retire(true)
  }

  #retire (releaseHeld: boolean): void {
    if (this.active) {
      this.active = false
      this.#owner.remove(this)
    }
    // A fault used up by `times` keeps holding the requests it already caught; clearing releases them.
    if (releaseHeld && this.#release !== undefined) {
      this.#release()
      this.#release = undefined
      this.#owner.released(this)
    }
  }
}

/** The agent's list of faults. */
export class FaultSet {
  readonly #faults: Fault[] = []
  // Hanging faults until released: one retired by `times` may still hold requests.
  readonly #hanging = new Set<Fault>()

  /** Validates `spec` and adds a fault. Throws {@link InvalidOptionError} naming the bad field. */
  add (spec: FaultSpec): FaultHandle {
    validate(spec)
    const fault = new Fault(Object.freeze({ ...spec }), this)
    this.#faults.push(fault)
    if (spec.hang === true) this.#hanging.add(fault)
    return fault
  }

  /** The first active fault matching the request, applied (its use counted), or `undefined`. */
  take (method: string, path: string): AppliedFault | undefined {
    return this.#faults.find((f) => f.matches(method, path))?.apply()
  }

  /** Clears every fault, releasing requests they hold. */
  clear (): void {
    for (const fault of new Set([...this.#faults, ...this.#hanging])) fault.clear()
  }

  /** Internal: called by a hanging fault once it has released what it held. */
  released (fault: FaultHandle): void {
    this.#hanging.delete(fault as Fault)
  }

  /** Internal: called by a fault that retires. */
  remove (fault: FaultHandle): void {
    const i = this.#faults.indexOf(fault as Fault)
    if (i >= 0) this.#faults.splice(i, 1)
  }
}

function validate (spec: FaultSpec): void {
  if (spec === null || typeof spec !== 'object') throw new InvalidOptionError('fault', 'expected an object')
  if (typeof spec.path !== 'string' && !(spec.path instanceof RegExp)) {
    throw new InvalidOptionError('fault.path', 'expected a path string or a RegExp')
  }
  if (typeof spec.path === 'string' && !spec.path.startsWith('/')) {
    throw new InvalidOptionError('fault.path', `expected an absolute path (like "/v1/agent/self"), got ${JSON.stringify(spec.path)}`)
  }
  if (spec.method !== undefined && (typeof spec.method !== 'string' || !/^[A-Za-z]+$/.test(spec.method))) {
    throw new InvalidOptionError('fault.method', 'expected an HTTP method name')
  }
  if (spec.status !== undefined && (!Number.isInteger(spec.status) || spec.status < 100 || spec.status > 599)) {
    throw new InvalidOptionError('fault.status', `expected an integer HTTP status from 100 to 599, got ${String(spec.status)}`)
  }
  for (const flag of ['malformed', 'indexBackwards', 'hang'] as const) {
    if (spec[flag] !== undefined && spec[flag] !== true) throw new InvalidOptionError(`fault.${flag}`, 'expected true or nothing')
  }
  for (const count of ['delayMs', 'times'] as const) {
    const n = spec[count]
    if (n !== undefined && (!Number.isInteger(n) || n < (count === 'times' ? 1 : 0))) {
      throw new InvalidOptionError(`fault.${count}`, `expected an integer ${count === 'times' ? '>= 1' : '>= 0'}, got ${String(n)}`)
    }
  }
  const answers = [spec.status !== undefined || spec.body !== undefined, spec.malformed === true, spec.indexBackwards === true]
  if (answers.filter(Boolean).length > 1) {
    throw new InvalidOptionError('fault', 'status/body, malformed and indexBackwards are mutually exclusive')
  }
}
