/**
 * Starts a real `consul agent -dev` for integration tests: free loopback ports, a temp data dir, optional
 * ACLs, and a guaranteed stop. The binary comes from `scripts/consul-bin.mjs` (CONSUL_BIN overrides it), which
 * builds the pinned release from Go modules on first use.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { execFileSync } from 'node:child_process'
import { consulBin as locateConsul } from '../../../scripts/consul-bin.mjs'

export interface DevAgentOptions {
  /** Enable ACLs with this default policy; a management token is created and exposed as `managementToken`. */
  acl?: { defaultPolicy: 'allow' | 'deny' }
  /** Extra HCL appended to the generated config. */
  extraHcl?: string
  /** Datacenter name; default dc1. */
  datacenter?: string
  /** How long to wait for a leader and the CA; default 60 s. */
  startTimeoutMs?: number
}

let cachedBin: string | undefined
let cachedVersion: string | undefined

/** Absolute path of the consul binary the integration tests use. */
export function consulBinary (): string {
  cachedBin ??= locateConsul()
  return cachedBin
}

/** `Consul v1.22.7` (first line of `consul version`). */
export function consulVersion (): string {
  cachedVersion ??= execFileSync(consulBinary(), ['version'], { encoding: 'utf8' }).split('\n')[0]!.trim()
  return cachedVersion
}

/** A free TCP port on 127.0.0.1 (bound then released; good enough for a test agent). */
export async function freePort (): Promise<number> {
  return await new Promise((resolve, reject) => {
    const srv = createServer()
    srv.unref()
    srv.once('error', reject)
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address()
      srv.close(() => {
        if (typeof addr === 'object' && addr !== null) resolve(addr.port)
        else reject(new Error('no port'))
      })
    })
  })
}

const running = new Set<DevAgent>()
process.once('exit', () => { for (const a of running) a.kill() })

export class DevAgent {
  readonly httpPort: number
  readonly grpcPort: number
  readonly datacenter: string
  readonly managementToken: string | undefined
  readonly dataDir: string
  readonly #child: ChildProcess
  #log = ''
  #exited: Promise<void>
  #stopping: Promise<void> | undefined

  private constructor (child: ChildProcess, opts: { httpPort: number, grpcPort: number, datacenter: string, managementToken: string | undefined, dataDir: string }) {
    this.#child = child
    this.httpPort = opts.httpPort
    this.grpcPort = opts.grpcPort
    this.datacenter = opts.datacenter
    this.managementToken = opts.managementToken
    this.dataDir = opts.dataDir
    child.stdout?.on('data', (d: Buffer) => { this.#log = (this.#log + d.toString()).slice(-20_000) })
    child.stderr?.on('data', (d: Buffer) => { this.#log = (this.#log + d.toString()).slice(-20_000) })
    this.#exited = new Promise((resolve) => child.once('exit', () => resolve()))
  }

  /** `127.0.0.1:<port>`, the form CONSUL_HTTP_ADDR takes. */
  get address (): string { return `127.0.0.1:${this.httpPort}` }
  get url (): string { return `http://127.0.0.1:${this.httpPort}` }
  /** The agent's process id (benchmarks read its CPU time from /proc). */
  get pid (): number { return this.#child.pid ?? -1 }
  /** The agent's recent output, for failure messages. */
  get log (): string { return this.#log }

  static async start (options: DevAgentOptions = {}): Promise<DevAgent> {
    const bin = consulBinary()
    const dataDir = await mkdtemp(join(tmpdir(), 'ccn-consul-'))
    const [http, grpc, server, serfLan, serfWan] = await Promise.all([freePort(), freePort(), freePort(), freePort(), freePort()])
    const datacenter = options.datacenter ?? 'dc1'
    const managementToken = options.acl ? randomUUID() : undefined
    const hcl = [
      `node_name = "ccn-test-${randomUUID().slice(0, 8)}"`,
      `datacenter = "${datacenter}"`,
      `data_dir = "${dataDir}"`,
      'bind_addr = "127.0.0.1"',
      'client_addr = "127.0.0.1"',
      'advertise_addr = "127.0.0.1"',
      'log_level = "warn"',
      'disable_update_check = true',
      `ports { http = ${http}, https = -1, grpc = ${grpc}, grpc_tls = -1, dns = -1, server = ${server}, serf_lan = ${serfLan}, serf_wan = ${serfWan} }`,
      'connect { enabled = true }',
      options.acl
        ? `acl { enabled = true, default_policy = "${options.acl.defaultPolicy}", enable_token_persistence = false, tokens { initial_management = "${managementToken}", agent = "${managementToken}" } }`
        : '',
      options.extraHcl ?? ''
    ].join('\n')
    const configFile = join(dataDir, 'test.hcl')
    await writeFile(configFile, hcl)
    const child = spawn(bin, ['agent', '-dev', `-config-file=${configFile}`], { stdio: ['ignore', 'pipe', 'pipe'] })
    const agent = new DevAgent(child, { httpPort: http, grpcPort: grpc, datacenter, managementToken, dataDir })
    running.add(agent)
    try {
      await agent.#waitReady(options.startTimeoutMs ?? 60_000)
    } catch (err) {
      await agent.stop()
      throw new Error(`consul agent -dev did not become ready: ${(err as Error).message}\n--- agent log ---\n${agent.log}`, { cause: err })
    }
    return agent
  }

  /** Polls until the agent has a leader and its CA has an active root (readiness, not test synchronization). */
  async #waitReady (timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs
    let exited = false
    void this.#exited.then(() => { exited = true })
    let last = ''
    while (Date.now() < deadline) {
      if (exited) throw new Error('the agent process exited')
      try {
        const leader = await this.api('GET', '/v1/status/leader')
        if (typeof leader === 'string' && leader.length > 0) {
          const roots = await this.api('GET', '/v1/agent/connect/ca/roots') as { Roots?: unknown[] } | undefined
          if (roots?.Roots && roots.Roots.length > 0) return
          last = 'no CA roots yet'
        } else {
          last = 'no leader yet'
        }
      } catch (err) {
        last = (err as Error).message
      }
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
    throw new Error(`timed out after ${timeoutMs} ms (${last})`)
  }

  /**
   * A minimal JSON call for test set-up (writing intentions, CA config, tokens). Uses the management token
   * unless `token` is given (pass `null` for none). Throws on non-2xx with the agent's text.
   */
  async api (method: string, path: string, body?: unknown, token?: string | null): Promise<unknown> {
    const headers: Record<string, string> = {}
    const tok = token === null ? undefined : (token ?? this.managementToken)
    if (tok) headers['X-Consul-Token'] = tok
    if (body !== undefined) headers['Content-Type'] = 'application/json'
    const res = await fetch(`${this.url}${path}`, { method, headers, ...(body !== undefined ? { body: JSON.stringify(body) } : {}), signal: AbortSignal.timeout(30_000) })
    const text = await res.text()
    if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text}`)
    return text.length > 0 ? JSON.parse(text) : undefined
  }

  /** Creates an ACL token with the given HCL/JSON rules (through a policy) and returns its SecretID. */
  async createToken (rules: string, name = `p-${randomUUID().slice(0, 8)}`): Promise<string> {
    const policy = await this.api('PUT', '/v1/acl/policy', { Name: name, Rules: rules }) as { ID: string }
    const token = await this.api('PUT', '/v1/acl/token', { Policies: [{ ID: policy.ID }] }) as { SecretID: string }
    return token.SecretID
  }

  kill (): void {
    if (this.#child.exitCode === null && this.#child.signalCode === null) this.#child.kill('SIGKILL')
  }

  /** Stops the agent (SIGINT for a graceful leave, SIGKILL after 10 s) and removes its data dir. Idempotent. */
  async stop (): Promise<void> {
    this.#stopping ??= (async () => {
      if (this.#child.exitCode === null && this.#child.signalCode === null) {
        this.#child.kill('SIGINT')
        const timer = setTimeout(() => this.kill(), 10_000)
        timer.unref()
        await this.#exited
        clearTimeout(timer)
      }
      running.delete(this)
      await rm(this.dataDir, { recursive: true, force: true })
    })()
    return await this.#stopping
  }
}
