/**
 * Request/reply over a forked child's IPC channel, for benchmark server processes: every request carries an
 * `id`, the child answers with the same `id` (and `error` when it failed). A call rejects on the child's
 * error answer, on a timeout, or when the child exits; nothing waits forever.
 */
import type { ChildProcess } from 'node:child_process'

export interface RpcReply {
  readonly id: number
  /** Set when the child could not do what was asked. */
  readonly error?: string
}

export class ChildRpc<Request extends object, Reply extends RpcReply> {
  readonly #child: ChildProcess
  readonly #name: string
  readonly #pending = new Map<number, { resolve: (reply: Reply) => void, reject: (err: Error) => void }>()
  #next = 1
  #exited = false

  /** `name` prefixes every error message, e.g. `server child`. */
  constructor (child: ChildProcess, name: string) {
    this.#child = child
    this.#name = name
    child.on('message', (reply: Reply) => {
      const waiter = this.#pending.get(reply.id)
      this.#pending.delete(reply.id)
      if (reply.error !== undefined) waiter?.reject(new Error(`${name}: ${reply.error}`))
      else waiter?.resolve(reply)
    })
    child.on('error', (err) => this.#failAll(err))
    child.on('exit', (code, signal) => {
      this.#exited = true
      this.#failAll(new Error(`${name} exited (${signal ?? code})`))
    })
  }

  get exited (): boolean { return this.#exited }

  #failAll (err: Error): void {
    for (const waiter of this.#pending.values()) waiter.reject(err)
    this.#pending.clear()
  }

  /** Sends `request` with a fresh id; resolves with the child's answer. */
  call (request: Request, timeoutMs: number): Promise<Reply> {
    const id = this.#next++
    return new Promise<Reply>((resolve, reject) => {
      if (this.#exited) {
        reject(new Error(`${this.#name} already exited`))
        return
      }
      const timer = setTimeout(() => {
        this.#pending.delete(id)
        reject(new Error(`${this.#name}: no answer to ${JSON.stringify((request as { type?: unknown }).type)} within ${timeoutMs} ms`))
      }, timeoutMs)
      timer.unref()
      const settle = <T>(fn: (value: T) => void) => (value: T): void => {
        clearTimeout(timer)
        fn(value)
      }
      this.#pending.set(id, { resolve: settle(resolve), reject: settle(reject) })
      this.#child.send({ id, ...request })
    })
  }

  /** Waits for the child's exit (at most `graceMs`), then SIGKILLs it and waits again (at most 5 s). */
  async exit (graceMs = 0): Promise<void> {
    if (this.#exited || this.#child.exitCode !== null || this.#child.signalCode !== null) return
    const exited = (ms: number): Promise<void> => new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms)
      timer.unref()
      this.#child.once('exit', () => {
        clearTimeout(timer)
        resolve()
      })
    })
    if (graceMs > 0) await exited(graceMs)
    if (this.#exited || this.#child.exitCode !== null || this.#child.signalCode !== null) return
    const killed = exited(5_000)
    this.#child.kill('SIGKILL')
    await killed
  }
}
