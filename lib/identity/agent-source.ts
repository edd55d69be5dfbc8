/**
 * AgentCredentialsSource: this service's identity and trusted roots, kept fresh from the local Consul agent.
 *
 * It composes two blocking queries (see lib/agent/watchers.ts), as Consul's Go `connect.Service` does:
 * - `GET /v1/agent/connect/ca/roots` → a {@link TrustBundle} of the answer's `TrustDomain` holding the
 *   `RootCert` of *every* listed root, active or not (CONSUL-FACTS: trust every root until it is pruned,
 *   so leaves of the old and the new root both verify during a rotation). `IntermediateCerts` are not
 *   trusted as anchors: they ride in leaf chains (`CertPEM`), which is where Consul's own clients take
 *   them from, and they are not reliably listed (Vault provider, secondary datacenters).
 * - `GET /v1/agent/connect/ca/leaf/<service>` → an {@link Identity}, accepted only when the leaf's
 *   SPIFFE ID parses as a Consul *service* ID for the requested service name and the leaf has not expired.
 *
 * Failure behaviour: an agent failure, or an answer that does not parse or pass those checks, is an
 * invalid answer for the engine: the last good identity and bundle are kept, the error (code
 * ERR_CONNECT_AGENT_*; a certificate problem is ERR_CONNECT_AGENT_INVALID_ANSWER with the CertificateError
 * as `cause`) goes to `onError`, and the query retries with backoff. When the leaf's notAfter passes with no
 * fresh leaf, ERR_CONNECT_LEAF_EXPIRED is reported (cause: the leaf query's last error) and `status` turns
 * `expired` until one arrives.
 *
 * Ownership: the source owns its two queries and its expiry timer; it does not own the agent client it was
 * given, and `close()` leaves that client open.
 */
import { z } from 'zod'
import type { AgentRequester, BlockingQuery, QueryCounters, WatchOptions } from '../agent/blocking-query.js'
import type { CaRoots, LeafCert } from '../agent/schemas.js'
import { watchLeaf, watchRoots } from '../agent/watchers.js'
import type { ConnectError } from '../errors.js'
import { CertificateError, InvalidOptionError } from '../errors.js'
import { parseOptions } from '../agent/validate.js'
import { parseSpiffeId } from '../spiffe-id.js'
import { TrustBundle } from './bundle.js'
import { Identity } from './identity.js'
import { PublishedSource } from './published-source.js'
import { CredentialsPublisher } from './source.js'

/** Engine tuning for both queries: `waitMs`, `rateLimit`, `backoff` (and `clock`/`random` for tests). */
export type AgentCredentialsWatchOptions = Omit<WatchOptions<unknown>, 'transform' | 'equals' | 'signal'>

export interface AgentCredentialsOptions {
  /** The agent client (an `AgentClient`). Not closed by the source. */
  readonly client: AgentRequester
  /** The service whose leaf to fetch; the token needs `service:write` on it. */
  readonly service: string
  /** Tuning of the two blocking queries; defaults are the engine's (5 min wait, Consul-like backoff). */
  readonly watch?: AgentCredentialsWatchOptions
}

/** The counters of the two underlying queries, for metrics. */
export interface AgentCredentialsCounters {
  readonly roots: QueryCounters
  readonly leaf: QueryCounters
}

// Strict objects: a misspelt option is an error, not a silently ignored key. The engine validates the values.
const optionsSchema = z.strictObject({
  client: z.custom<AgentRequester>((v) => typeof (v as AgentRequester | undefined)?.request === 'function', 'expected an AgentClient'),
  service: z.string().min(1, 'expected a non-empty service name'),
  watch: z.strictObject({
    waitMs: z.unknown(),
    rateLimit: z.unknown(),
    backoff: z.unknown(),
    clock: z.unknown(),
    random: z.unknown()
  }).partial().optional()
})

export class AgentCredentialsSource extends PublishedSource {
  /** The service this source fetches the leaf of. */
  readonly service: string
  readonly #publisher: CredentialsPublisher
  readonly #roots: BlockingQuery<CaRoots, TrustBundle>
  readonly #leaf: BlockingQuery<LeafCert, Identity>
  #closing: Promise<void> | undefined

  protected override get publisher (): CredentialsPublisher { return this.#publisher }

  /**
   * Validates the options (InvalidOptionError naming `client`, `service` or `watch.<field>`) and starts
   * both queries at once; nothing is emitted before the caller can attach listeners.
   */
  constructor (options: AgentCredentialsOptions) {
    super()
    if (typeof options !== 'object' || options === null) throw new InvalidOptionError('options', 'expected an object')
    const { client, service, watch = {} } = parseOptions(optionsSchema, options, '') as AgentCredentialsOptions
    this.service = service
    this.#publisher = new CredentialsPublisher({
      what: `credentials of ${JSON.stringify(service)}`,
      expiryCause: () => this.#leaf.lastError
    })
    this.#roots = watchRoots(client, { ...watch, start: false, transform: bundleFromAnswer })
    try {
      this.#leaf = watchLeaf(client, service, { ...watch, start: false, transform: (answer) => identityFromAnswer(answer, service) })
    } catch (err) {
      void this.#roots.close()
      throw err
    }
    for (const query of [this.#roots, this.#leaf] as const) {
      query.on('error', (error: ConnectError) => this.#publisher.report(error))
    }
    this.#roots.on('change', (bundle) => { this.#publisher.publish({ bundle }) })
    this.#leaf.on('change', (identity) => { this.#publisher.publish({ identity }) })
    this.#roots.start()
    this.#leaf.start()
  }

  /** Frozen counters of the roots and leaf queries. */
  get counters (): AgentCredentialsCounters {
    return Object.freeze({ roots: this.#roots.counters, leaf: this.#leaf.counters })
  }

  /**
   * Closes both queries (their requests in flight are cancelled) and the expiry timer; resolves once the
   * query loops have exited. Idempotent. Leaves the agent client open.
   */
  close (): Promise<void> {
    this.#closing ??= (async () => {
      this.#publisher.close()
      await Promise.all([this.#roots.close(), this.#leaf.close()])
    })()
    return this.#closing
  }
}

/** Same as `new AgentCredentialsSource(options)`. */
export function agentCredentials (options: AgentCredentialsOptions): AgentCredentialsSource {
  return new AgentCredentialsSource(options)
}

/** A roots answer as a bundle. Throws (an invalid answer) when the CA is not set up or a root is malformed. */
function bundleFromAnswer (answer: CaRoots): TrustBundle {
  // Before the CA is initialised Consul answers an empty TrustDomain and no roots: not a state to trust.
  if (answer.TrustDomain === '') throw new Error('TrustDomain is empty (is Connect enabled and its CA initialised?)')
  if (answer.Roots.length === 0) throw new Error('no roots listed (is Connect enabled and its CA initialised?)')
  return TrustBundle.fromPem(answer.TrustDomain, answer.Roots.map((root) => root.RootCert))
}

/**
 * A leaf answer as an identity, checked to be a live leaf of `service`. Throws (an invalid answer)
 * otherwise: SpiffeIdError when the URI SAN is not a Consul SPIFFE ID, CertificateError for the rest.
 */
function identityFromAnswer (answer: LeafCert, service: string): Identity {
  const identity = Identity.fromPem({ certPem: answer.CertPEM, keyPem: answer.PrivateKeyPEM })
  const id = parseSpiffeId(identity.spiffeId)
  if (id.kind !== 'service') {
    throw new CertificateError('ERR_CONNECT_CERT_SAN', `leaf ${identity.serial} carries a ${id.kind} ID (${identity.spiffeId}), not a service ID`)
  }
  if (id.service !== service) {
    throw new CertificateError('ERR_CONNECT_CERT_SAN', `leaf ${identity.serial} is for service ${JSON.stringify(id.service)} (${identity.spiffeId}), expected ${JSON.stringify(service)}`)
  }
  // An expired leaf must not replace a live one, nor make the source look ready.
  if (identity.expiresIn() <= 0) {
    throw new CertificateError('ERR_CONNECT_CERT_EXPIRED', `leaf ${identity.serial} (${identity.spiffeId}) expired at ${identity.validBefore.toISOString()}`)
  }
  return identity
}
