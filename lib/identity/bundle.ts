/**
 * TrustBundle: the frozen set of CA roots trusted for one trust domain.
 *
 * A bundle is a snapshot: the roots watcher builds a new one for every change of the agent's answer and
 * swaps a reference, so a verification in progress never sees half an update. Consul lists every root
 * that is still trusted (the active one and, after a rotation, the previous one until it is pruned), and a
 * `RootCert` may itself hold several PEM blocks: every certificate of every block is trusted.
 *
 * Roots are deduplicated by SHA-256 fingerprint and kept in the order given. Lookups by issuer name are
 * indexed, so `issuersOf` costs one map lookup per call.
 */
import { InvalidOptionError } from '../errors.js'
import { issuerRank, parseCertificates } from './x509.js'
import type { Certificate } from './x509.js'

// SPIFFE trust domain characters (spiffe-id spec 2.1): lower-case letters, digits, '.', '-', '_'.
const TRUST_DOMAIN = /^[a-z0-9._-]+$/

export class TrustBundle {
  /** The trust domain these roots speak for (`<cluster-uuid>.consul` for Consul). */
  readonly trustDomain: string
  /** The trusted roots, deduplicated, in the order given. */
  readonly roots: readonly Certificate[]
  /** One PEM string per root, ready for a TLS `ca` option. */
  readonly pem: readonly string[]
  readonly #fingerprints: ReadonlySet<string>
  readonly #bySubject: ReadonlyMap<string, readonly Certificate[]>

  private constructor (trustDomain: string, roots: Iterable<Certificate>) {
    if (typeof trustDomain !== 'string' || !TRUST_DOMAIN.test(trustDomain)) {
      throw new InvalidOptionError('trustDomain', `"${String(trustDomain)}" is not a trust domain (lower-case letters, digits, ".", "-", "_")`)
    }
    const unique: Certificate[] = []
    const fingerprints = new Set<string>()
    const bySubject = new Map<string, Certificate[]>()
    for (const root of roots) {
      if (fingerprints.has(root.fingerprint256)) continue
      fingerprints.add(root.fingerprint256)
      unique.push(root)
      const key = nameKey(root.rawSubject)
      const list = bySubject.get(key)
      if (list === undefined) bySubject.set(key, [root])
      else list.push(root)
    }
    this.trustDomain = trustDomain
    this.roots = Object.freeze(unique)
    this.pem = Object.freeze(unique.map((root) => root.pem))
    this.#fingerprints = fingerprints
    this.#bySubject = bySubject
    Object.freeze(this)
  }

  /**
   * Parses one or more PEM strings, each possibly holding several CERTIFICATE blocks, and trusts every
   * certificate found. An empty input gives an empty bundle (verification then fails with
   * ERR_CONNECT_NO_ROOTS).
   * @throws CertificateError ERR_CONNECT_CERT_PARSE when a block is malformed
   * @throws InvalidOptionError when `trustDomain` is not a trust domain
   */
  static fromPem (trustDomain: string, pem: string | readonly string[]): TrustBundle {
    const texts = typeof pem === 'string' ? [pem] : pem
    return new TrustBundle(trustDomain, texts.flatMap((text) => parseCertificates(text)))
  }

  /** A bundle of already parsed roots. */
  static fromCertificates (trustDomain: string, roots: Iterable<Certificate>): TrustBundle {
    return new TrustBundle(trustDomain, roots)
  }

  /** Number of distinct roots. */
  get size (): number {
    return this.roots.length
  }

  /** True when this exact certificate (same DER) is a trusted root. */
  has (cert: Certificate): boolean {
    return this.#fingerprints.has(cert.fingerprint256)
  }

  /**
   * Roots that may have issued `cert`: those whose subject equals its issuer name, best first (matching
   * key identifiers, then unknown, then disagreeing). Only a signature check proves issuance.
   */
  issuersOf (cert: Certificate): readonly Certificate[] {
    const named = this.#bySubject.get(nameKey(cert.rawIssuer))
    if (named === undefined) return []
    if (named.length === 1) return named
    return [...named].sort((a, b) => issuerRank(cert, b) - issuerRank(cert, a))
  }

  /** Same trust domain and the same set of roots (order ignored). */
  equals (other: TrustBundle): boolean {
    if (other === this) return true
    if (other.trustDomain !== this.trustDomain || other.roots.length !== this.roots.length) return false
    return this.roots.every((root) => other.has(root))
  }
}

function nameKey (rawName: Buffer): string {
  // latin1 maps bytes 1:1 to a string: a cheap exact key for a Map.
  return rawName.toString('latin1')
}
