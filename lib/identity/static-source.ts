/**
 * Static credentials: a {@link CredentialsSource} over values the caller supplies, for tests, dev mode and
 * callers that manage certificates themselves. No I/O and no agent: the snapshot changes only when
 * `update()` is called, which swaps identity and bundle together (one generation, one notification).
 *
 * Inputs are validated eagerly: PEM is parsed at once (CertificateError: ERR_CONNECT_CERT_PARSE,
 * ERR_CONNECT_CERT_SAN, ERR_CONNECT_CERT_KEY_MISMATCH), and a value of the wrong shape is an
 * InvalidOptionError naming the field (`identity.keyPem`, `bundle.trustDomain`). A rejected update leaves
 * the snapshot as it was.
 *
 * Dates are not checked on input (a test may want to present an expired leaf on purpose), but the leaf's
 * expiry is watched as in every source: `status` turns `expired` and ERR_CONNECT_LEAF_EXPIRED is reported
 * through `onError` when its notAfter passes.
 */
import { ConnectError, InvalidOptionError } from '../errors.js'
import { TrustBundle } from './bundle.js'
import { Identity } from './identity.js'
import type { IdentityPem } from './identity.js'
import { PublishedSource } from './published-source.js'
import { CredentialsPublisher } from './source.js'
import type { CredentialsChange } from './source.js'

/** Roots as PEM text: one string (several blocks allowed) or a list of strings. */
export interface BundlePem {
  readonly trustDomain: string
  readonly rootsPem: string | readonly string[]
}

export interface StaticCredentialsInput {
  /** This service's leaf, key and chain. Left out: kept as it is (undefined at first). */
  readonly identity?: Identity | IdentityPem
  /** Trusted roots. Left out: kept as it is (undefined at first). */
  readonly bundle?: TrustBundle | BundlePem
}

export class StaticCredentialsSource extends PublishedSource {
  readonly #publisher = new CredentialsPublisher({ what: 'static credentials' })
  #closed = false

  protected override get publisher (): CredentialsPublisher { return this.#publisher }

  /** Validates and loads `input`; throws as {@link update} does. */
  constructor (input: StaticCredentialsInput = {}) {
    super()
    this.update(input)
  }

  /**
   * Replaces the identity and/or bundle given, atomically: both are validated before anything changes.
   * Returns what changed, or undefined when the values equal the current ones (then no generation is
   * spent and no listener is called).
   * @throws InvalidOptionError for a value of the wrong shape, CertificateError for PEM that does not
   *   parse or a key that does not match its leaf, ConnectError ERR_CONNECT_CLOSED after close()
   */
  update (input: StaticCredentialsInput): CredentialsChange | undefined {
    if (this.#closed) throw new ConnectError('ERR_CONNECT_CLOSED', 'updating static credentials: the source is closed')
    if (typeof input !== 'object' || input === null) throw new InvalidOptionError('credentials', 'expected an object with identity and/or bundle')
    const identity = input.identity === undefined ? undefined : toIdentity(input.identity)
    const bundle = input.bundle === undefined ? undefined : toBundle(input.bundle)
    return this.#publisher.publish({ ...(identity === undefined ? {} : { identity }), ...(bundle === undefined ? {} : { bundle }) })
  }

  /** Stops the expiry timer and rejects pending ready() calls; later update() calls throw. Idempotent. */
  async close (): Promise<void> {
    this.#closed = true
    this.#publisher.close()
  }
}

/** Same as `new StaticCredentialsSource(input)`. */
export function staticCredentials (input: StaticCredentialsInput = {}): StaticCredentialsSource {
  return new StaticCredentialsSource(input)
}

function toIdentity (value: Identity | IdentityPem): Identity {
  if (value instanceof Identity) return value
  if (typeof value !== 'object' || value === null) throw new InvalidOptionError('identity', 'expected an Identity or { certPem, keyPem }')
  for (const field of ['certPem', 'keyPem'] as const) {
    if (typeof value[field] !== 'string' || value[field] === '') throw new InvalidOptionError(`identity.${field}`, 'expected a non-empty PEM string')
  }
  return Identity.fromPem({ certPem: value.certPem, keyPem: value.keyPem })
}

function toBundle (value: TrustBundle | BundlePem): TrustBundle {
  if (value instanceof TrustBundle) return value
  if (typeof value !== 'object' || value === null) throw new InvalidOptionError('bundle', 'expected a TrustBundle or { trustDomain, rootsPem }')
  const { trustDomain, rootsPem } = value
  if (typeof trustDomain !== 'string') throw new InvalidOptionError('bundle.trustDomain', 'expected a string')
  const texts: readonly unknown[] = typeof rootsPem === 'string' ? [rootsPem] : Array.isArray(rootsPem) ? rootsPem : [undefined]
  if (!texts.every((text) => typeof text === 'string')) throw new InvalidOptionError('bundle.rootsPem', 'expected a PEM string or a list of them')
  let bundle: TrustBundle
  try {
    bundle = TrustBundle.fromPem(trustDomain, texts as readonly string[])
  } catch (err) {
    // TrustBundle names its own parameter; name the option as the caller wrote it.
    if (err instanceof InvalidOptionError) throw new InvalidOptionError('bundle.trustDomain', 'is not a trust domain (lower-case letters, digits, ".", "-", "_")', { cause: err })
    throw err
  }
  // An empty bundle trusts nothing: every verification would fail, which is never what a caller means.
  if (bundle.size === 0) throw new InvalidOptionError('bundle.rootsPem', 'holds no certificate')
  return bundle
}
