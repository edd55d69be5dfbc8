/**
 * The TestAgent's `service-defaults` and `proxy-defaults` config entries, as far as they decide a service's
 * protocol, and the rule that ties the protocol to intentions: Consul refuses L7 intentions (sources with
 * `Permissions`) on a destination whose protocol is not HTTP-like, and refuses a protocol change or a delete
 * that would leave such a destination on a protocol that is not.
 *
 * Semantics follow Consul 1.22.7 (agent/structs/config_entry.go, the discovery chain's protocol,
 * `validateProposedConfigEntryInServiceGraph` in agent/consul/state/config_entry.go), checked against the
 * real binary:
 * - a service's protocol is its `service-defaults` entry's `Protocol` when that entry exists (`tcp` when the
 *   entry has none: the entry wins over proxy-defaults even then), otherwise the global `proxy-defaults`
 *   entry's `Config.protocol`, otherwise `tcp`; it is compared lower-cased;
 * - `http`, `http2` and `grpc` are HTTP-like;
 * - `service-defaults` lower-cases its `Protocol` and accepts only `tcp`, `http`, `http2` and `grpc` (or none);
 *   `proxy-defaults` is always named `global`, keeps `Config` as written and does not check its protocol;
 * - values are decoded as Consul's weak decoder does: a number or boolean is a string (`true` is `"1"`), a
 *   one-element array is its element, `null` is empty;
 * - every write or delete of either kind is checked against every stored L7 intention, in name order; the
 *   first destination left without an HTTP-like protocol refuses it, with Consul's message.
 *
 * One `proxy-defaults` entry applies to every partition. Of the many other fields of these entries (Mode,
 * TransparentProxy, …) none is stored: they are ignored on input and shown empty, as Consul shows them unset.
 */
import type { IndexBoard } from './test-agent-index.js'
import { keyOf } from './test-agent-intentions.js'
import type { ServiceKey } from './test-agent-intentions.js'
import type { StoredEntry } from './test-agent-intention-shapes.js'
import { orDefault, partitionOf } from './test-agent-intention-shapes.js'

/** A `service-defaults` config entry (only the fields the TestAgent keeps). */
export interface ServiceDefaultsEntry {
  readonly Kind?: 'service-defaults'
  /** The service's name (not a wildcard). */
  readonly Name: string
  /** `tcp`, `http`, `http2` or `grpc`, in any case (stored lower-cased). None means `tcp`. */
  readonly Protocol?: string
  /** Namespace (Enterprise), `default` when absent. */
  readonly Namespace?: string
  /** Admin partition (Enterprise), the default partition when absent. */
  readonly Partition?: string
  readonly Meta?: Readonly<Record<string, string>>
}

/** The global `proxy-defaults` config entry (only the fields the TestAgent keeps). */
export interface ProxyDefaultsEntry {
  readonly Kind?: 'proxy-defaults'
  /** Always `global` (the default). */
  readonly Name?: 'global'
  /** Opaque proxy configuration; `protocol` is the protocol of every service without `service-defaults`. */
  readonly Config?: Readonly<Record<string, unknown>>
  readonly Meta?: Readonly<Record<string, string>>
}

/** The protocols a `service-defaults` entry accepts (besides none). */
export const PROTOCOLS = ['tcp', 'http', 'http2', 'grpc'] as const
const HTTP_LIKE: ReadonlySet<string> = new Set(['http', 'http2', 'grpc'])
const DEFAULT_PROTOCOL = 'tcp'
const GLOBAL = 'global'
const WILDCARD = '*'

/** A decoded `service-defaults` body; `Protocol` as written (not yet lower-cased or checked). */
export interface DecodedServiceDefaults {
  readonly Name: string | undefined
  readonly Namespace: string | undefined
  readonly Partition: string | undefined
  readonly Protocol: string
  readonly Meta: Readonly<Record<string, string>> | undefined
}

/** A decoded `proxy-defaults` body. */
export interface DecodedProxyDefaults {
  readonly Name: string | undefined
  readonly Config: Readonly<Record<string, unknown>> | undefined
  readonly Meta: Readonly<Record<string, string>> | undefined
}

/** A stored `service-defaults` entry (frozen). */
export interface StoredServiceDefaults {
  readonly name: string
  readonly namespace: string
  readonly partition: string
  /** Lower-cased; `''` when the entry sets none. */
  readonly protocol: string
  readonly meta: Readonly<Record<string, string>> | undefined
  readonly createIndex: number
  readonly modifyIndex: number
}

/** The stored `proxy-defaults` entry (frozen). */
export interface StoredProxyDefaults {
  readonly config: Readonly<Record<string, unknown>> | undefined
  /** `Config.protocol`, weakly decoded and lower-cased; `''` when none. */
  readonly protocol: string
  readonly meta: Readonly<Record<string, string>> | undefined
  readonly createIndex: number
  readonly modifyIndex: number
}

/** How an entry failed to decode: the status the agent answers (400 or 500) and its text. */
export interface DecodeFailure {
  readonly status: 400 | 500
  readonly text: string
}

/** What the defaults need to know of the intentions. */
export interface IntentionEntries {
  entries (): StoredEntry[]
}

/** The agent's `service-defaults` entries and its `proxy-defaults` entry. Writes bump the `defaults` index. */
export class DefaultsStore {
  readonly #board: IndexBoard
  readonly #intentions: IntentionEntries
  readonly #services = new Map<string, StoredServiceDefaults>()
  #proxy: StoredProxyDefaults | undefined

  constructor (board: IndexBoard, intentions: IntentionEntries) {
    this.#board = board
    this.#intentions = intentions
  }

  /** A service's effective protocol (lower-cased): its service-defaults', else proxy-defaults', else `tcp`. */
  protocolOf (service: ServiceKey): string {
    return effectiveProtocol(this.#services.get(keyOf(service)), this.#proxy)
  }

  /** Consul's refusal of L7 permissions on `destination` when its protocol is not HTTP-like, else `undefined`. */
  l7Refusal (destination: ServiceKey): string | undefined {
    const protocol = this.protocolOf(destination)
    return HTTP_LIKE.has(protocol) ? undefined : l7Message(destination.name, protocol)
  }

  /** Validates and stores a `service-defaults` entry (replacing the service's). Consul's error text on failure. */
  putService (input: DecodedServiceDefaults): string | undefined {
    const problem = validateServiceDefaults(input)
    if (problem !== undefined) return problem
    const ref = { name: input.Name!, namespace: input.Namespace, partition: input.Partition }
    const key = keyOf(ref)
    const protocol = input.Protocol.toLowerCase()
    const stranded = this.#stranded((e) => keyOf(e) === key ? effectiveProtocol({ protocol }, this.#proxy) : this.protocolOf(e))
    if (stranded !== undefined) return stranded
    const index = this.#board.bump('defaults')
    this.#services.set(key, Object.freeze({
      name: ref.name,
      namespace: orDefault(ref.namespace),
      partition: partitionOf(ref.partition),
      protocol,
      meta: frozenMeta(input.Meta),
      createIndex: this.#services.get(key)?.createIndex ?? index,
      modifyIndex: index
    }))
    return undefined
  }

  /**
   * Deletes a service's `service-defaults` entry: `{ deleted }` (false when there was none), or Consul's
   * `{ problem }` when an L7 intention would be left on a protocol that is not HTTP-like.
   */
  deleteService (service: ServiceKey): { readonly deleted: boolean } | { readonly problem: string } {
    const key = keyOf(service)
    if (!this.#services.has(key)) return { deleted: false }
    const stranded = this.#stranded((e) => keyOf(e) === key ? effectiveProtocol(undefined, this.#proxy) : this.protocolOf(e))
    if (stranded !== undefined) return { problem: stranded }
    this.#services.delete(key)
    this.#board.bump('defaults')
    return { deleted: true }
  }

  /** Validates and stores the `proxy-defaults` entry. Consul's error text on failure. */
  putProxy (input: DecodedProxyDefaults): string | undefined {
    const name = proxyNameProblem(input.Name)
    if (name !== undefined) return name
    // Consul decodes `Config.protocol` as Go's mapstructure does: the key matched case-insensitively.
    const weak = weakString(input.Config === undefined ? undefined : prop(input.Config, 'protocol'))
    if ('goType' in weak) return unconvertible('protocol', weak.goType)
    const protocol = weak.value.toLowerCase()
    const stranded = this.#stranded((e) => effectiveProtocol(this.#services.get(keyOf(e)), { protocol }))
    if (stranded !== undefined) return stranded
    const index = this.#board.bump('defaults')
    this.#proxy = Object.freeze({
      config: input.Config === undefined ? undefined : Object.freeze(structuredClone(input.Config)),
      protocol,
      meta: frozenMeta(input.Meta),
      createIndex: this.#proxy?.createIndex ?? index,
      modifyIndex: index
    })
    return undefined
  }

  /** Deletes the `proxy-defaults` entry, like {@link deleteService}. */
  deleteProxy (): { readonly deleted: boolean } | { readonly problem: string } {
    if (this.#proxy === undefined) return { deleted: false }
    const stranded = this.#stranded((e) => effectiveProtocol(this.#services.get(keyOf(e)), undefined))
    if (stranded !== undefined) return { problem: stranded }
    this.#proxy = undefined
    this.#board.bump('defaults')
    return { deleted: true }
  }

  getService (service: ServiceKey): StoredServiceDefaults | undefined {
    return this.#services.get(keyOf(service))
  }

  /** Every `service-defaults` entry, sorted by partition, namespace and name (as Consul lists config entries). */
  services (): StoredServiceDefaults[] {
    return [...this.#services.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, e]) => e)
  }

  get proxy (): StoredProxyDefaults | undefined {
    return this.#proxy
  }

  /**
   * The refusal for the first L7 intentions entry (in name order) that a proposed change would leave on a
   * protocol that is not HTTP-like; `proposed` gives each destination's protocol after the change.
   */
  #stranded (proposed: (entry: StoredEntry) => string): string | undefined {
    for (const entry of this.#intentions.entries()) {
      if (!hasL7(entry)) continue
      const protocol = proposed(entry)
      if (!HTTP_LIKE.has(protocol)) return l7Message(entry.name, protocol)
    }
    return undefined
  }
}

/** Consul's refusal of L7 permissions on a service whose protocol is not HTTP-like. */
export function l7Message (service: string, protocol: string): string {
  return `service ${JSON.stringify(service)} has protocol ${JSON.stringify(protocol)}, which is incompatible with L7 intentions permissions`
}

/** The `service-defaults` entry as `GET /v1/config/service-defaults/<name>` returns it. */
export function serviceDefaultsJson (e: StoredServiceDefaults): Record<string, unknown> {
  return {
    Kind: 'service-defaults',
    Name: e.name,
    Protocol: e.protocol,
    TransparentProxy: {},
    MeshGateway: {},
    Expose: {},
    ...(e.meta === undefined ? {} : { Meta: e.meta }),
    ...(e.namespace === 'default' ? {} : { Namespace: e.namespace }),
    ...(e.partition === '' ? {} : { Partition: e.partition }),
    CreateIndex: e.createIndex,
    ModifyIndex: e.modifyIndex
  }
}

/** The `proxy-defaults` entry as `GET /v1/config/proxy-defaults/global` returns it. */
export function proxyDefaultsJson (e: StoredProxyDefaults): Record<string, unknown> {
  return {
    Kind: 'proxy-defaults',
    Name: GLOBAL,
    Config: e.config ?? null,
    TransparentProxy: {},
    MeshGateway: {},
    Expose: {},
    AccessLogs: {},
    ...(e.meta === undefined ? {} : { Meta: e.meta }),
    CreateIndex: e.createIndex,
    ModifyIndex: e.modifyIndex
  }
}

/**
 * Decodes a `service-defaults` body (field names matched case-insensitively, as Go's decoder does): the
 * entry, or the failure the agent answers (a 400 `Request decoding failed: …`).
 */
export function decodeServiceDefaults (raw: object): DecodedServiceDefaults | DecodeFailure {
  const strings = decodeStrings(raw, ['Name', 'Namespace', 'Partition'])
  if ('status' in strings) return strings
  const protocol = weakString(prop(raw, 'Protocol'))
  if ('goType' in protocol) return { status: 400, text: `Request decoding failed: ${unconvertible('Protocol', protocol.goType)}` }
  const meta = decodeMeta(raw)
  if ('status' in meta) return meta
  return { Name: strings.Name, Namespace: strings.Namespace, Partition: strings.Partition, Protocol: protocol.value, Meta: meta.value }
}

/** Decodes a `proxy-defaults` body, like {@link decodeServiceDefaults}. */
export function decodeProxyDefaults (raw: object): DecodedProxyDefaults | DecodeFailure {
  const strings = decodeStrings(raw, ['Name'])
  if ('status' in strings) return strings
  const config = prop(raw, 'Config')
  if (config !== undefined && config !== null && (typeof config !== 'object' || Array.isArray(config))) {
    return { status: 400, text: 'Request decoding failed: Config: expected a JSON object' }
  }
  const meta = decodeMeta(raw)
  if ('status' in meta) return meta
  return { Name: strings.Name, Config: config === null ? undefined : config as Record<string, unknown> | undefined, Meta: meta.value }
}

/** Consul's check of a `proxy-defaults` name (`global`, or empty for `global`). */
export function proxyNameProblem (name: string | undefined): string | undefined {
  return name === undefined || name === '' || name === GLOBAL ? undefined : `invalid name (${JSON.stringify(name)}), only "global" is supported`
}

/** Consul's validation of a `service-defaults` entry (name, then protocol: a multierror list). */
function validateServiceDefaults (input: DecodedServiceDefaults): string | undefined {
  if (input.Name === undefined || input.Name === '') return 'Name is required'
  if (input.Name === WILDCARD) return 'service-defaults name must be the name of a service, and not a wildcard'
  const protocol = input.Protocol.toLowerCase()
  if (protocol !== '' && !(PROTOCOLS as readonly string[]).includes(protocol)) {
    return `1 error occurred:\n\t* invalid value for protocol: ${protocol}\n\n`
  }
  return undefined
}

function effectiveProtocol (service: { readonly protocol: string } | undefined, proxy: { readonly protocol: string } | undefined): string {
  const protocol = service !== undefined ? service.protocol : proxy?.protocol ?? ''
  return protocol === '' ? DEFAULT_PROTOCOL : protocol
}

/** Whether an intentions entry has L7 permissions on a concrete destination (Consul checks only those). */
function hasL7 (entry: StoredEntry): boolean {
  return entry.name !== WILDCARD && entry.namespace !== WILDCARD && entry.sources.some((s) => s.permissions !== undefined)
}

/** Go's weak decoding of a JSON value into a string, or the Go type it cannot convert. */
function weakString (value: unknown): { readonly value: string } | { readonly goType: string } {
  if (value === undefined || value === null) return { value: '' }
  if (typeof value === 'string') return { value }
  if (typeof value === 'number') return { value: String(value) }
  if (typeof value === 'boolean') return { value: value ? '1' : '0' }
  if (Array.isArray(value)) return value.length === 1 ? weakString(value[0]) : { goType: '[]interface {}' }
  return { goType: 'map[string]interface {}' }
}

function unconvertible (key: string, goType: string): string {
  return `decoding failed due to the following error(s):\n\n'${key}' expected type 'string', got unconvertible type '${goType}'`
}

function decodeStrings<K extends string> (raw: object, keys: readonly K[]): Record<K, string | undefined> | DecodeFailure {
  const out = {} as Record<K, string | undefined>
  for (const key of keys) {
    const value = prop(raw, key)
    if (value !== undefined && value !== null && typeof value !== 'string') return { status: 400, text: `Request decoding failed: ${key}: expected a string` }
    out[key] = value === null ? undefined : value as string | undefined
  }
  return out
}

function decodeMeta (raw: object): { readonly value: Record<string, string> | undefined } | DecodeFailure {
  const meta = prop(raw, 'Meta')
  if (meta === undefined || meta === null) return { value: undefined }
  if (typeof meta !== 'object' || Array.isArray(meta) || Object.values(meta).some((v) => typeof v !== 'string')) {
    return { status: 400, text: 'Request decoding failed: Meta: expected an object of strings' }
  }
  return { value: meta as Record<string, string> }
}

function frozenMeta (meta: Readonly<Record<string, string>> | undefined): Readonly<Record<string, string>> | undefined {
  return meta === undefined || Object.keys(meta).length === 0 ? undefined : Object.freeze({ ...meta })
}

/** A field by name, matched as Go's decoder does: exactly first, then case-insensitively. */
function prop (object: object, name: string): unknown {
  const record = object as Record<string, unknown>
  if (Object.hasOwn(record, name)) return record[name]
  const key = Object.keys(record).find((k) => k.toLowerCase() === name.toLowerCase())
  return key === undefined ? undefined : record[key]
}
