/**
 * The TestAgent's Connect CA: the listed roots and the leaf certificates issued to services.
 *
 * Behaviour, after Consul's built-in provider (agent/consul/leader_connect_ca.go, agent/leafcert):
 * - a leaf is issued on first request, from the active root, valid from one minute before issue (clock
 *   drift) until one leaf TTL after issue (Consul ends it a minute earlier; counting from the issue keeps
 *   very short test TTLs usable); its `CertPEM` is the leaf followed by the active root's intermediates;
 * - a leaf is renewed by itself at 80 % of its lifetime (the agent picks a random point between 60 % and
 *   90 %; a fixed point keeps tests deterministic), and on demand;
 * - a root rotation makes a new root of the same trust domain active at once, cross-signed by the old one;
 *   the cross-signed certificate becomes the new root's intermediate (so new leaf chains carry it and
 *   verify to the old root); the old root stays listed, inactive, until pruned; every issued leaf is
 *   re-issued at once (the agent spreads this over ~30 s).
 * Roots are listed by ID, as Consul's state store returns them.
 *
 * Operations that change certificates run one at a time, so a rotation never interleaves with an issue.
 */
import { TestCA } from './test-ca.js'
import type { IssuedLeaf } from './test-ca.js'
import { goTime, Uint64 } from './go-json.js'
import type { IndexBoard } from './test-agent-index.js'

/** A listed root (frozen snapshot). */
export interface RootRecord {
  readonly ca: TestCA
  /** PEMs that follow leaves of this root in their chain: the cross-signed root after a rotation. */
  readonly intermediates: readonly string[]
  readonly active: boolean
  readonly createIndex: number
  readonly modifyIndex: number
}

/** An issued leaf (frozen snapshot). */
export interface LeafRecord {
  readonly service: string
  readonly leaf: IssuedLeaf
  readonly createIndex: number
  readonly modifyIndex: number
  /** When it was stored (ms since epoch): answers from it are cache hits with this age. */
  readonly storedAt: number
}

export interface CaStateOptions {
  readonly datacenter: string
  readonly leafTtlMs: number
}

const RENEW_AT = 0.8
const BACKDATE_MS = 60_000
const MAX_TIMER_MS = 2 ** 31 - 1

export class CaState {
  readonly #board: IndexBoard
  readonly #datacenter: string
  #leafTtlMs: number
  #roots: RootRecord[]
  readonly #leaves = new Map<string, LeafRecord>()
  readonly #renewals = new Map<string, NodeJS.Timeout>()
  #queue: Promise<unknown> = Promise.resolve()
  #closed = false
  /** Counts, for the agent's counters. */
  leavesIssued = 0
  rotations = 0
  /** When the list of roots last changed (ms since epoch), for `X-Cache`/`Age` of roots answers. */
  changedAt = Date.now()

  constructor (board: IndexBoard, initial: TestCA, options: CaStateOptions) {
    this.#board = board
    this.#datacenter = options.datacenter
    this.#leafTtlMs = options.leafTtlMs
    this.#roots = [Object.freeze({ ca: initial, intermediates: [], active: true, createIndex: board.of('roots'), modifyIndex: board.of('roots') })]
  }

  get active (): RootRecord {
    return this.#roots.find((r) => r.active)!
  }

  get roots (): readonly RootRecord[] {
    return [...this.#roots]
  }

  get leafTtlMs (): number {
    return this.#leafTtlMs
  }

  /** Changes the TTL of leaves issued from now on. */
  set leafTtlMs (ms: number) {
    this.#leafTtlMs = ms
  }

  /** The current leaf of `service`, if one was issued. */
  peekLeaf (service: string): LeafRecord | undefined {
    return this.#leaves.get(service)
  }

  /** The current leaf of `service`, issuing it first when there is none. */
  async leaf (service: string): Promise<LeafRecord> {
    const existing = this.#leaves.get(service)
    if (existing !== undefined) return existing
    return this.#exclusive(async () => this.#leaves.get(service) ?? this.#issue(service))
  }

  /** Issues a new leaf for `service` now, replacing any current one. */
  async renew (service: string): Promise<LeafRecord> {
    return this.#exclusive(async () => this.#issue(service))
  }

  /**
   * Rotates to `next` (default: a new TestCA of the same trust domain): cross-signed by the current root,
   * active at once; the old root stays listed; every issued leaf is re-issued. Returns the new CA.
   */
  async rotate (next?: TestCA): Promise<TestCA> {
    return this.#exclusive(async () => {
      const old = this.active.ca
      const ca = next ?? await TestCA.create({ trustDomain: old.trustDomain })
      const crossSigned = await old.crossSign(ca)
      const index = this.#board.bump('roots')
      // Consul rewrites the whole root set: every root gets the new ModifyIndex, the old ones go inactive.
      this.#roots = [
        ...this.#roots.map((r) => Object.freeze({ ...r, active: false, modifyIndex: index })),
        Object.freeze({ ca, intermediates: Object.freeze([crossSigned]), active: true, createIndex: index, modifyIndex: index })
      ]
      this.rotations++
      this.changedAt = Date.now()
      for (const service of [...this.#leaves.keys()]) await this.#issue(service)
      return ca
    })
  }

  /** Removes every inactive root from the list; the number removed. */
  prune (): number {
    const before = this.#roots.length
    this.#roots = this.#roots.filter((r) => r.active)
    if (this.#roots.length !== before) {
      this.#board.bump('roots')
      this.changedAt = Date.now()
    }
    return before - this.#roots.length
  }

  /** Stops renewals; later operations do nothing. */
  close (): void {
    this.#closed = true
    for (const timer of this.#renewals.values()) clearTimeout(timer)
    this.#renewals.clear()
  }

  /** `GET /v1/agent/connect/ca/roots`. */
  rootsJson (): Record<string, unknown> {
    const active = this.active.ca
    return {
      ActiveRootID: active.id,
      TrustDomain: active.trustDomain,
      Roots: [...this.#roots].sort((a, b) => (a.ca.id < b.ca.id ? -1 : 1)).map((r) => ({
        ID: r.ca.id,
        Name: 'Consul CA Primary Cert',
        SerialNumber: Uint64.fromBytes(Buffer.from(r.ca.serial.replaceAll(':', ''), 'hex')),
        SigningKeyID: r.ca.subjectKeyId,
        ExternalTrustDomain: r.ca.trustDomain.replace(/\.consul$/, ''),
        NotBefore: goTime(r.ca.notBefore),
        NotAfter: goTime(r.ca.notAfter),
        RootCert: r.ca.rootPem,
        IntermediateCerts: r.intermediates.length === 0 ? null : r.intermediates,
        Active: r.active,
        PrivateKeyType: 'ec',
        PrivateKeyBits: 256,
        CreateIndex: r.createIndex,
        ModifyIndex: r.modifyIndex
      }))
    }
  }

  async #exclusive<T> (fn: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(fn)
    this.#queue = run.catch(() => undefined)
    return run
  }

  async #issue (service: string): Promise<LeafRecord> {
    const { ca, intermediates } = this.active
    const now = Date.now()
    const leaf = await ca.issueLeaf({
      service,
      datacenter: this.#datacenter,
      notBefore: new Date(now - BACKDATE_MS),
      notAfter: new Date(now + this.#leafTtlMs),
      chain: [...intermediates]
    })
    const index = this.#board.bump(`leaf:${service}`)
    const record = Object.freeze({ service, leaf, createIndex: index, modifyIndex: index, storedAt: now })
    this.#leaves.set(service, record)
    this.leavesIssued++
    this.#scheduleRenewal(service)
    return record
  }

  #scheduleRenewal (service: string): void {
    clearTimeout(this.#renewals.get(service))
    const delay = this.#leafTtlMs * RENEW_AT
    // Beyond setTimeout's range (~24.8 days) Node fires at once; no test waits that long anyway.
    if (this.#closed || delay > MAX_TIMER_MS) return
    const timer = setTimeout(() => {
      this.#renewals.delete(service)
      if (!this.#closed) this.renew(service).catch(() => undefined)
    }, delay)
    timer.unref()
    this.#renewals.set(service, timer)
  }
}

/** `GET /v1/agent/connect/ca/leaf/<service>`. */
export function leafJson (record: LeafRecord): Record<string, unknown> {
  const { leaf } = record
  return {
    SerialNumber: leaf.serial,
    CertPEM: leaf.certPem,
    PrivateKeyPEM: leaf.keyPem,
    Service: record.service,
    ServiceURI: leaf.spiffeId,
    ValidAfter: goTime(leaf.notBefore),
    ValidBefore: goTime(leaf.notAfter),
    CreateIndex: record.createIndex,
    ModifyIndex: record.modifyIndex
  }
}
