/**
 * TestAgent: a real HTTP server on 127.0.0.1 that answers the Consul agent endpoints this library uses,
 * for unit tests (this project's and its users') and demos, with no Consul binary.
 *
 * Endpoints, shaped as a Consul Community Edition agent answers them (see test-agent-routes.ts and
 * test-agent-intention-routes.ts for the details and the sources they follow):
 * `GET /v1/agent/connect/ca/roots`, `GET /v1/agent/connect/ca/leaf/<service>`,
 * `POST /v1/agent/connect/authorize`, `GET /v1/agent/self`, `GET /v1/connect/ca/roots`,
 * `GET|PUT /v1/connect/ca/configuration`, `GET /v1/connect/intentions/match`,
 * `GET /v1/connect/intentions/check`, `GET|PUT|DELETE /v1/connect/intentions/exact`,
 * `PUT /v1/config` (kinds `service-intentions`, `service-defaults`, `proxy-defaults`),
 * `GET|DELETE /v1/config/<kind>[/<name>]`,
 * `GET /v1/health/connect/<service>`, `GET /v1/status/leader`.
 *
 * Blocking queries (`?index=N&wait=10s`) are held until that resource's `X-Consul-Index` passes N or the
 * wait ends (default 5 min, at most 10 min, no jitter), then answered with the current state.
 *
 * Controls change the agent's state as Consul would change it (root rotation, leaf renewal, intentions,
 * service protocols, instances), inject faults, and observe requests. As in Consul, L7 intentions (sources
 * with `Permissions`) need a destination whose protocol is HTTP-like (`service-defaults`, or the global
 * `proxy-defaults`, or the `protocol` start option). Everything the agent schedules is unref'd; `close()`
 * ends held requests by destroying their sockets and releases every resource.
 */
import { createServer } from 'node:http'
import type { IncomingMessage, Server, ServerResponse } from 'node:http'
import type { Socket } from 'node:net'
import { randomUUID } from 'node:crypto'
import { once } from 'node:events'
import { InvalidOptionError } from '../errors.js'
import { TestCA } from './test-ca.js'
import type { IssuedLeaf } from './test-ca.js'
import { FaultSet } from './faults.js'
import type { FaultHandle, FaultSpec } from './faults.js'
import { AclEngine } from './test-agent-acl.js'
import { CaState } from './test-agent-ca-state.js'
import { Catalog } from './test-agent-catalog.js'
import type { TestAgentServiceRegistration } from './test-agent-catalog.js'
import { decodeProxyDefaults, decodeServiceDefaults, DefaultsStore } from './test-agent-defaults.js'
import type { ProxyDefaultsEntry, ServiceDefaultsEntry } from './test-agent-defaults.js'
import type { RequestLogEntry } from './test-agent-http.js'
import { IndexBoard } from './test-agent-index.js'
import type { ExactIntentionBody, ServiceIntentionSource } from './test-agent-intention-input.js'
import { decodeEntry, decodeExactBody } from './test-agent-intention-input.js'
import { IntentionStore, parseServiceRef } from './test-agent-intentions.js'
import type { ServiceRef } from './test-agent-intentions.js'
import { DEFAULT_DATACENTER, DEFAULT_LEAF_TTL_MS, DEFAULT_NODE_NAME, validateTestAgentOptions } from './test-agent-options.js'
import type { TestAgentOptions } from './test-agent-options.js'
import { RequestRecorder } from './test-agent-requests.js'
import type { RequestFilter, TestAgentCounters } from './test-agent-requests.js'
import type { AgentCore } from './test-agent-routes.js'
import { RequestHandler } from './test-agent-server.js'

/** The Consul version the TestAgent reports (`/v1/agent/self`, node meta). */
const CONSUL_VERSION = '1.21.0'

export class TestAgent {
  /** `127.0.0.1:<port>`, the form `CONSUL_HTTP_ADDR` takes. */
  readonly address: string
  /** `http://127.0.0.1:<port>`. */
  readonly url: string
  readonly port: number
  readonly datacenter: string
  readonly nodeName: string
  readonly nodeId: string
  readonly trustDomain: string

  readonly #server: Server
  readonly #sockets = new Set<Socket>()
  readonly #board = new IndexBoard()
  readonly #acl: AclEngine
  readonly #ca: CaState
  readonly #intentions: IntentionStore
  readonly #defaults: DefaultsStore
  readonly #catalog: Catalog
  readonly #faults = new FaultSet()
  readonly #recorder = new RequestRecorder()
  readonly #handler: RequestHandler
  #closing: Promise<void> | undefined

  private constructor (server: Server, port: number, options: TestAgentOptions, ca: TestCA) {
    this.#server = server
    this.port = port
    this.address = `127.0.0.1:${port}`
    this.url = `http://${this.address}`
    this.datacenter = options.datacenter ?? DEFAULT_DATACENTER
    this.nodeName = options.nodeName ?? DEFAULT_NODE_NAME
    this.nodeId = randomUUID()
    this.trustDomain = ca.trustDomain
    this.#acl = new AclEngine(options.acl)
    this.#ca = new CaState(this.#board, ca, { datacenter: this.datacenter, leafTtlMs: options.leafTtlMs ?? DEFAULT_LEAF_TTL_MS })
    // The two stores consult each other: L7 intentions need an HTTP-like protocol, protocol changes must keep it.
    this.#intentions = new IntentionStore(this.#board, (destination) => this.#defaults.l7Refusal(destination))
    this.#defaults = new DefaultsStore(this.#board, this.#intentions)
    if (options.protocol !== undefined) this.#defaults.putProxy({ Name: 'global', Config: { protocol: options.protocol }, Meta: undefined })
    this.#catalog = new Catalog(this.#board, { name: this.nodeName, id: this.nodeId, datacenter: this.datacenter, address: '127.0.0.1', version: CONSUL_VERSION })
    const caState = this.#ca
    const core: AgentCore = {
      datacenter: this.datacenter,
      nodeName: this.nodeName,
      nodeId: this.nodeId,
      version: CONSUL_VERSION,
      defaultIntentionPolicy: options.defaultIntentionPolicy,
      board: this.#board,
      ca: this.#ca,
      intentions: this.#intentions,
      defaults: this.#defaults,
      catalog: this.#catalog,
      get rootsChangedAt () { return caState.changedAt },
      aclEnabled: this.#acl.enabled,
      aclDefaultAllow: this.#acl.defaultAllow,
      rotate: async (leafTtlMs) => {
        if (leafTtlMs !== undefined) this.#ca.leafTtlMs = leafTtlMs
        await this.rotateRoot()
        this.#board.bump('ca-config')
      }
    }
    server.on('connection', (socket: Socket) => {
      this.#sockets.add(socket)
      socket.once('close', () => this.#sockets.delete(socket))
    })
    this.#handler = new RequestHandler({ core, acl: this.#acl, board: this.#board, faults: this.#faults, recorder: this.#recorder })
    server.on('request', (req: IncomingMessage, res: ServerResponse) => {
      if (this.#closing !== undefined) req.socket.destroy()
      else void this.#handler.handle(req, res)
    })
  }

  /**
   * Starts an agent listening on 127.0.0.1 (a free port unless `options.port`). Throws
   * {@link InvalidOptionError} naming the field when an option is invalid.
   */
  static async start (options: TestAgentOptions = {}): Promise<TestAgent> {
    validateTestAgentOptions(options)
    const ca = options.ca ?? await TestCA.create(options.trustDomain === undefined ? {} : { trustDomain: options.trustDomain })
    const server = createServer()
    server.listen(options.port ?? 0, '127.0.0.1')
    await once(server, 'listening')
    const address = server.address()
    const port = typeof address === 'object' && address !== null ? address.port : 0
    return new TestAgent(server, port, options, ca)
  }

  /** The active CA (the one new leaves come from). */
  get ca (): TestCA {
    return this.#ca.active.ca
  }

  /** Every listed root's CA, oldest first (the active one last). */
  get roots (): readonly TestCA[] {
    return Object.freeze(this.#ca.roots.map((r) => r.ca))
  }

  /** The current leaf of `service`, issuing it now if the agent has none (as a first request would). */
  async leaf (service: string): Promise<IssuedLeaf> {
    return (await this.#ca.leaf(checkName(service, 'service'))).leaf
  }

  /** Issues a new leaf for `service` now; blocked leaf queries for it are answered with the new one. */
  async renewLeaf (service: string): Promise<IssuedLeaf> {
    return (await this.#ca.renew(checkName(service, 'service'))).leaf
  }

  /**
   * Rotates the CA root, as a CA configuration change does in Consul: a new root with the same trust
   * domain (or `options.ca`, which must share it) becomes active at once, cross-signed by the old one;
   * the cross-signed certificate follows the leaf in new leaves' `CertPEM`; the old root stays listed
   * until {@link pruneRoots}; every issued leaf is re-issued. Returns the new active CA.
   */
  async rotateRoot (options: { readonly ca?: TestCA } = {}): Promise<TestCA> {
    if (options.ca !== undefined && (!(options.ca instanceof TestCA) || options.ca.trustDomain !== this.trustDomain)) {
      throw new InvalidOptionError('ca', `expected a TestCA of trust domain ${JSON.stringify(this.trustDomain)}`)
    }
    return this.#ca.rotate(options.ca)
  }

  /** Removes inactive roots from the roots answer (Consul prunes them after 2 × leaf TTL). Returns how many. */
  pruneRoots (): number {
    return this.#ca.prune()
  }

  /**
   * Replaces every intention whose destination is `destination` (the `service-intentions` config entry
   * named so), in Consul's wire format: `[{ Name: 'web', Action: 'allow' }, { Name: '*', Action: 'deny' }]`.
   * An empty list deletes the entry. `options.namespace`/`partition` place the destination (Enterprise
   * shapes, `*` namespace included). Throws {@link InvalidOptionError} with Consul's validation message,
   * and, as Consul, refuses `Permissions` unless the destination's protocol is HTTP-like
   * ({@link setServiceDefaults}, {@link setProxyDefaults}): `service "db" has protocol "tcp", which is
   * incompatible with L7 intentions permissions`.
   */
  setIntentions (destination: string, sources: readonly ServiceIntentionSource[], options: { readonly namespace?: string, readonly partition?: string, readonly meta?: Readonly<Record<string, string>> } = {}): void {
    checkName(destination, 'destination')
    const ref = { name: destination, ...options }
    if (Array.isArray(sources) && sources.length === 0) {
      this.#intentions.delete(ref)
      return
    }
    const entry = decodeEntry({ Kind: 'service-intentions', Name: destination, Namespace: options.namespace, Partition: options.partition, Sources: sources, Meta: options.meta })
    const problem = typeof entry === 'string' ? entry : this.#intentions.put(entry)
    if (problem !== undefined) throw new InvalidOptionError('intentions', problem)
  }

  /**
   * Creates or replaces the intention from `source` to `destination` (names as the API writes them:
   * `web`, `ns/web`, `ap/ns/web`), like `PUT /v1/connect/intentions/exact`. Throws {@link InvalidOptionError}
   * (with `Permissions`, unless the destination's protocol is HTTP-like, as {@link setIntentions}).
   */
  upsertIntention (source: string, destination: string, intention: ExactIntentionBody): void {
    const body = decodeExactBody(intention)
    const problem = typeof body === 'string' ? body : this.#intentions.upsertExact(ref(source, 'source'), ref(destination, 'destination'), body)
    if (problem !== undefined) throw new InvalidOptionError('intention', problem)
  }

  /** Deletes the intention from `source` to `destination`; false when there was none. */
  deleteIntention (source: string, destination: string): boolean {
    return this.#intentions.deleteExact(ref(source, 'source'), ref(destination, 'destination'))
  }

  /**
   * Writes `service`'s `service-defaults` config entry (replacing it), in Consul's wire format:
   * `{ Protocol: 'http' }`. The protocol (`tcp`, `http`, `http2` or `grpc`, any case, stored lower-cased; none
   * means `tcp`) is what L7 intentions on `service` need to be HTTP-like; it wins over the global
   * `proxy-defaults` one, even when it is none. `options.namespace`/`partition` place the service. Throws
   * {@link InvalidOptionError} with Consul's message when the entry is invalid
   * (`1 error occurred:\n\t* invalid value for protocol: bogus`) or would leave an L7 intention on a
   * protocol that is not HTTP-like (`service "db" has protocol "tcp", which is incompatible with L7
   * intentions permissions`); the stored entry is then unchanged.
   */
  setServiceDefaults (service: string, entry: Omit<ServiceDefaultsEntry, 'Kind' | 'Name' | 'Namespace' | 'Partition'>, options: { readonly namespace?: string, readonly partition?: string } = {}): void {
    checkName(service, 'service')
    const decoded = decodeServiceDefaults({ ...entry, Name: service, Namespace: options.namespace, Partition: options.partition })
    const problem = 'status' in decoded ? decoded.text.replace(/^Request decoding failed: /, '') : this.#defaults.putService(decoded)
    if (problem !== undefined) throw new InvalidOptionError('serviceDefaults', problem.trimEnd())
  }

  /**
   * Deletes `service`'s `service-defaults` entry; false when there was none. Throws
   * {@link InvalidOptionError} with Consul's message when that would leave an L7 intention on a protocol
   * that is not HTTP-like (the protocol falls back to `proxy-defaults`, then `tcp`).
   */
  deleteServiceDefaults (service: string, options: { readonly namespace?: string, readonly partition?: string } = {}): boolean {
    const outcome = this.#defaults.deleteService({ name: checkName(service, 'service'), ...options })
    if ('problem' in outcome) throw new InvalidOptionError('serviceDefaults', outcome.problem)
    return outcome.deleted
  }

  /**
   * Writes the global `proxy-defaults` config entry (replacing it), in Consul's wire format:
   * `{ Config: { protocol: 'http' } }`. `Config.protocol` is the protocol of every service without a
   * `service-defaults` entry (none means `tcp`). Throws {@link InvalidOptionError} with Consul's message when
   * that would leave an L7 intention on a protocol that is not HTTP-like; the stored entry is then unchanged.
   */
  setProxyDefaults (entry: Omit<ProxyDefaultsEntry, 'Kind' | 'Name'>): void {
    const decoded = decodeProxyDefaults({ ...entry, Name: 'global' })
    const problem = 'status' in decoded ? decoded.text.replace(/^Request decoding failed: /, '') : this.#defaults.putProxy(decoded)
    if (problem !== undefined) throw new InvalidOptionError('proxyDefaults', problem.trimEnd())
  }

  /** Deletes the global `proxy-defaults` entry; false when there was none. Refused as {@link setProxyDefaults} is. */
  deleteProxyDefaults (): boolean {
    const outcome = this.#defaults.deleteProxy()
    if ('problem' in outcome) throw new InvalidOptionError('proxyDefaults', outcome.problem)
    return outcome.deleted
  }

  /** Registers a Connect-native instance (replacing one with the same ID); returns its ID. */
  registerService (registration: TestAgentServiceRegistration): string {
    return this.#catalog.register(registration)
  }

  /** Deregisters an instance; false when there was none. */
  deregisterService (id: string): boolean {
    return this.#catalog.deregister(id)
  }

  /** Sets an instance's health check passing or critical; false when there is no such instance. */
  setServiceHealth (id: string, passing: boolean): boolean {
    return this.#catalog.setPassing(id, passing)
  }

  /** Injects a fault (see faults.ts for the effects and their order). Throws {@link InvalidOptionError}. */
  fault (spec: FaultSpec): FaultHandle {
    return this.#faults.add(spec)
  }

  /** Removes every fault; requests they hang proceed normally. */
  clearFaults (): void {
    this.#faults.clear()
  }

  /** The requests received so far (frozen copies; tokens never recorded). */
  get requests (): readonly RequestLogEntry[] {
    return this.#recorder.log
  }

  /** Empties the request log (counters keep counting). */
  clearRequests (): void {
    this.#recorder.clear()
  }

  /** How many logged requests match `filter`. */
  requestCount (filter: RequestFilter = {}): number {
    return this.#recorder.count(filter)
  }

  /** A snapshot of the counters. */
  get counters (): TestAgentCounters {
    return this.#recorder.counters(this.#ca)
  }

  /**
   * Resolves with the next request matching `filter` when it arrives or, with `held: true`, when it starts
   * being held (blocked waiting for a change, or hung by a fault): the moment to make the change a test
   * wants the client to see. Rejects with `ERR_CONNECT_ABORTED` on `signal`, `ERR_CONNECT_CLOSED` on close.
   */
  async nextRequest (filter: RequestFilter = {}, options: { readonly signal?: AbortSignal } = {}): Promise<RequestLogEntry> {
    return this.#recorder.next(filter, options.signal)
  }

  /**
   * Stops the agent: held and hanging requests end with their sockets destroyed, pending `nextRequest`
   * waits reject, timers stop, the port is released. Idempotent; resolves when the server has closed.
   */
  async close (): Promise<void> {
    this.#closing ??= (async () => {
      this.#handler.abortAll()
      this.#faults.clear()
      this.#ca.close()
      this.#recorder.close()
      const closed = once(this.#server, 'close')
      this.#server.close()
      this.#server.closeAllConnections()
      for (const socket of this.#sockets) socket.destroy()
      await closed
    })()
    return this.#closing
  }
}

function ref (input: string, field: string): ServiceRef {
  checkName(input, field)
  const parsed = parseServiceRef(input, false)
  if (typeof parsed === 'string') throw new InvalidOptionError(field, parsed)
  return parsed
}

function checkName (value: string, field: string): string {
  if (typeof value !== 'string' || value === '') throw new InvalidOptionError(field, 'expected a non-empty string')
  return value
}
