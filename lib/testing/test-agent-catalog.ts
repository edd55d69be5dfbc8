/**
 * The TestAgent's catalog: Connect-native service instances on the agent's own node, with a health check
 * each, as `GET /v1/health/connect/<service>` returns them.
 *
 * Instances are registered through control methods (not the HTTP API). Each gets the node's
 * `serfHealth` check (always passing) and a TTL-style service check, `passing` or `critical`. Registering
 * an existing ID replaces that instance, as the agent does.
 */
import { InvalidOptionError } from '../errors.js'
import type { IndexBoard } from './test-agent-index.js'

/** An instance to register. */
export interface TestAgentServiceRegistration {
  /** Service name. */
  readonly name: string
  /** Instance ID. Default: the name. */
  readonly id?: string
  /** Address the instance listens on. Default `127.0.0.1`. */
  readonly address?: string
  /** Port the instance listens on (its mTLS port). */
  readonly port: number
  /** Whether its health check passes. Default true. */
  readonly passing?: boolean
  readonly tags?: readonly string[]
  readonly meta?: Readonly<Record<string, string>>
}

/** The agent's node, as catalog answers describe it. */
export interface CatalogNode {
  readonly name: string
  readonly id: string
  readonly datacenter: string
  readonly address: string
  readonly version: string
}

interface Instance {
  readonly id: string
  readonly name: string
  readonly address: string
  readonly port: number
  readonly passing: boolean
  readonly tags: readonly string[]
  readonly meta: Readonly<Record<string, string>>
  readonly createIndex: number
  readonly modifyIndex: number
}

export class Catalog {
  readonly #board: IndexBoard
  readonly #node: CatalogNode
  readonly #nodeIndex: number
  readonly #instances = new Map<string, Instance>()

  constructor (board: IndexBoard, node: CatalogNode) {
    this.#board = board
    this.#node = node
    this.#nodeIndex = board.of('catalog')
  }

  /** Registers (or replaces) an instance; returns its ID. Throws {@link InvalidOptionError} on bad input. */
  register (registration: TestAgentServiceRegistration): string {
    const r = validate(registration)
    const id = r.id ?? r.name
    const previous = this.#instances.get(id)
    const index = this.#board.bump('catalog')
    this.#instances.set(id, Object.freeze({
      id,
      name: r.name,
      address: r.address ?? '127.0.0.1',
      port: r.port,
      passing: r.passing ?? true,
      tags: Object.freeze([...(r.tags ?? [])]),
      meta: Object.freeze({ ...(r.meta ?? {}) }),
      createIndex: previous?.createIndex ?? index,
      modifyIndex: index
    }))
    return id
  }

  /** Removes an instance; false when there was none. */
  deregister (id: string): boolean {
    if (!this.#instances.delete(id)) return false
    this.#board.bump('catalog')
    return true
  }

  /** Sets an instance's check to passing or critical; false when there is no such instance. */
  setPassing (id: string, passing: boolean): boolean {
    const instance = this.#instances.get(id)
    if (instance === undefined) return false
    if (instance.passing !== passing) {
      this.#instances.set(id, Object.freeze({ ...instance, passing, modifyIndex: this.#board.bump('catalog') }))
    }
    return true
  }

  /** `GET /v1/health/connect/<name>[?passing]`: the name's instances, sorted by ID. */
  connectJson (name: string, passingOnly: boolean): Array<Record<string, unknown>> {
    return [...this.#instances.values()]
      .filter((i) => i.name === name && (!passingOnly || i.passing))
      .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
      .map((i) => ({ Node: this.#nodeJson(), Service: serviceJson(i), Checks: [this.#serfCheck(), this.#serviceCheck(i)] }))
  }

  #nodeJson (): Record<string, unknown> {
    const { id, name, address, datacenter, version } = this.#node
    return {
      ID: id,
      Node: name,
      Address: address,
      Datacenter: datacenter,
      TaggedAddresses: { lan: address, lan_ipv4: address, wan: address, wan_ipv4: address },
      Meta: { 'consul-network-segment': '', 'consul-version': version },
      CreateIndex: this.#nodeIndex,
      ModifyIndex: this.#nodeIndex
    }
  }

  #serfCheck (): Record<string, unknown> {
    return check(this.#node.name, {
      CheckID: 'serfHealth', Name: 'Serf Health Status', Status: 'passing', Output: 'Agent alive and reachable',
      ServiceID: '', ServiceName: '', ServiceTags: [], Type: '', index: this.#nodeIndex
    })
  }

  #serviceCheck (i: Instance): Record<string, unknown> {
    return check(this.#node.name, {
      CheckID: `service:${i.id}`, Name: `Service '${i.name}' check`, Status: i.passing ? 'passing' : 'critical',
      Output: '', ServiceID: i.id, ServiceName: i.name, ServiceTags: i.tags, Type: 'ttl', index: i.modifyIndex
    })
  }
}

function serviceJson (i: Instance): Record<string, unknown> {
  return {
    ID: i.id,
    Service: i.name,
    Tags: i.tags,
    Address: i.address,
    Meta: i.meta,
    Port: i.port,
    Weights: { Passing: 1, Warning: 1 },
    EnableTagOverride: false,
    Proxy: { Mode: '', MeshGateway: {}, Expose: {} },
    Connect: { Native: true },
    PeerName: '',
    CreateIndex: i.createIndex,
    ModifyIndex: i.modifyIndex
  }
}

interface CheckFields {
  CheckID: string
  Name: string
  Status: string
  Output: string
  ServiceID: string
  ServiceName: string
  ServiceTags: readonly string[]
  Type: string
  index: number
}

function check (node: string, { index, ...f }: CheckFields): Record<string, unknown> {
  return {
    Node: node,
    CheckID: f.CheckID,
    Name: f.Name,
    Status: f.Status,
    Notes: '',
    Output: f.Output,
    ServiceID: f.ServiceID,
    ServiceName: f.ServiceName,
    ServiceTags: f.ServiceTags,
    Type: f.Type,
    Interval: '',
    Timeout: '',
    ExposedPort: 0,
    Definition: {},
    CreateIndex: index,
    ModifyIndex: index
  }
}

function validate (r: TestAgentServiceRegistration): TestAgentServiceRegistration {
  if (r === null || typeof r !== 'object') throw new InvalidOptionError('service', 'expected an object')
  if (typeof r.name !== 'string' || r.name === '') throw new InvalidOptionError('service.name', 'expected a non-empty string')
  if (r.id !== undefined && (typeof r.id !== 'string' || r.id === '')) throw new InvalidOptionError('service.id', 'expected a non-empty string')
  if (r.address !== undefined && (typeof r.address !== 'string' || r.address === '')) throw new InvalidOptionError('service.address', 'expected a non-empty string')
  if (!Number.isInteger(r.port) || r.port < 1 || r.port > 65535) throw new InvalidOptionError('service.port', `expected a port from 1 to 65535, got ${String(r.port)}`)
  if (r.passing !== undefined && typeof r.passing !== 'boolean') throw new InvalidOptionError('service.passing', 'expected a boolean')
  if (r.tags !== undefined && (!Array.isArray(r.tags) || !r.tags.every((t) => typeof t === 'string'))) throw new InvalidOptionError('service.tags', 'expected an array of strings')
  if (r.meta !== undefined && (r.meta === null || typeof r.meta !== 'object' || !Object.values(r.meta).every((v) => typeof v === 'string'))) {
    throw new InvalidOptionError('service.meta', 'expected an object of strings')
  }
  return r
}
