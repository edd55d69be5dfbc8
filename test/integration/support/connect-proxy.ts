/**
 * Runs `consul connect proxy` (Consul's built-in proxy, built on its Go Connect SDK) as a real Go peer for
 * interop tests: as a Connect server (`-service X -service-addr app -listen addr`) or as a Connect client
 * (`-service X -upstream target:localPort`).
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { connect } from 'node:net'
import { consulBinary, type DevAgent } from './consul-agent.js'

export interface ProxyOptions {
  /** The identity the proxy runs as (`-service`). */
  service: string
  /** Public listener: forward mTLS traffic on `listen` to this plain address. */
  serviceAddr?: string
  listen?: string
  /** Upstreams: `target:localPort` pairs; the proxy listens on 127.0.0.1:localPort and dials `target` over mTLS. */
  upstreams?: Array<{ service: string, localPort: number }>
}

const running = new Set<ChildProcess>()
process.once('exit', () => { for (const c of running) c.kill('SIGKILL') })

export class ConnectProxy {
  readonly #child: ChildProcess
  #log = ''
  readonly #exited: Promise<void>

  private constructor (child: ChildProcess) {
    this.#child = child
    child.stdout?.on('data', (d: Buffer) => { this.#log = (this.#log + d.toString()).slice(-20_000) })
    child.stderr?.on('data', (d: Buffer) => { this.#log = (this.#log + d.toString()).slice(-20_000) })
    this.#exited = new Promise((resolve) => child.once('exit', () => resolve()))
  }

  get log (): string { return this.#log }

  /** Starts the proxy against `agent` and waits until every listener it should open accepts TCP connections. */
  static async start (agent: DevAgent, options: ProxyOptions, timeoutMs = 60_000): Promise<ConnectProxy> {
    const args = ['connect', 'proxy', `-http-addr=${agent.address}`, '-service', options.service, '-log-level=debug']
    const listeners: string[] = []
    if (options.listen !== undefined) {
      args.push('-listen', options.listen)
      listeners.push(options.listen)
      if (options.serviceAddr !== undefined) args.push('-service-addr', options.serviceAddr)
    }
    for (const up of options.upstreams ?? []) {
      args.push('-upstream', `${up.service}:${up.localPort}`)
      listeners.push(`127.0.0.1:${up.localPort}`)
    }
    const env = { ...process.env, CONSUL_HTTP_TOKEN: agent.managementToken ?? '' }
    const child = spawn(consulBinary(), args, { stdio: ['ignore', 'pipe', 'pipe'], env })
    running.add(child)
    const proxy = new ConnectProxy(child)
    try {
      // The proxy logs this once its leaf and roots are loaded; upstream listeners open before that.
      await proxy.#waitForLog(/ready to serve/, timeoutMs)
      await Promise.all(listeners.map((addr) => proxy.#waitListening(addr, timeoutMs)))
    } catch (err) {
      await proxy.stop()
      throw new Error(`consul connect proxy ${args.join(' ')} did not start: ${(err as Error).message}\n--- proxy log ---\n${proxy.log}`, { cause: err })
    }
    return proxy
  }

  /** Resolves when the proxy's output matches `pattern` (event-driven: checks each chunk as it arrives). */
  async #waitForLog (pattern: RegExp, timeoutMs: number): Promise<void> {
    if (pattern.test(this.#log)) return
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => { cleanup(); reject(new Error(`no log line matching ${pattern} after ${timeoutMs} ms`)) }, timeoutMs)
      const onData = (): void => { if (pattern.test(this.#log)) { cleanup(); resolve() } }
      const onExit = (): void => { cleanup(); reject(new Error(`the proxy exited with ${this.#child.exitCode}`)) }
      const cleanup = (): void => {
        clearTimeout(timer)
        this.#child.stdout?.off('data', onData)
        this.#child.stderr?.off('data', onData)
        this.#child.off('exit', onExit)
      }
      // Registered after the constructor's log collectors, so #log already holds the chunk.
      this.#child.stdout?.on('data', onData)
      this.#child.stderr?.on('data', onData)
      this.#child.once('exit', onExit)
    })
  }

  /** Polls a TCP connect until it succeeds (readiness of a child process, not test synchronization). */
  async #waitListening (addr: string, timeoutMs: number): Promise<void> {
    const [host, port] = [addr.slice(0, addr.lastIndexOf(':')), Number(addr.slice(addr.lastIndexOf(':') + 1))]
    const deadline = Date.now() + timeoutMs
    while (Date.now() < deadline) {
      if (this.#child.exitCode !== null) throw new Error(`the proxy exited with ${this.#child.exitCode}`)
      const ok = await new Promise<boolean>((resolve) => {
        const s = connect({ host, port }, () => { s.destroy(); resolve(true) })
        s.once('error', () => resolve(false))
      })
      if (ok) return
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
    throw new Error(`nothing listens on ${addr} after ${timeoutMs} ms`)
  }

  /** Stops the proxy (SIGINT, then SIGKILL after 5 s). Idempotent. */
  async stop (): Promise<void> {
    if (this.#child.exitCode === null && this.#child.signalCode === null) {
      this.#child.kill('SIGINT')
      const t = setTimeout(() => this.#child.kill('SIGKILL'), 5_000)
      t.unref()
      await this.#exited
      clearTimeout(t)
    }
    running.delete(this.#child)
  }
}
