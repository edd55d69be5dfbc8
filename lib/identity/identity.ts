/**
 * Identity: a frozen snapshot of what this service presents in TLS: its leaf certificate, the
 * intermediates that follow it, and the matching private key.
 *
 * Built from what the agent's leaf endpoint returns (`CertPEM`: leaf first, then intermediates;
 * `PrivateKeyPEM`: SEC1 P-256), or from files or a TestCA in the same shape. Construction checks that
 * the certificates parse, that the leaf carries exactly one `spiffe://` URI SAN, and that the key belongs
 * to the leaf; it does not check validity dates or the chain (the bundle may not be known yet, and an
 * expired identity is still worth reporting): callers use `expiresIn` and `verifyChain` for that.
 *
 * The SPIFFE ID is kept as the URI string; parsing its structure belongs to spiffe-id.ts.
 */
import { createPrivateKey, createPublicKey } from 'node:crypto'
import type { KeyObject } from 'node:crypto'
import { CertificateError } from '../errors.js'
import { parseCertificates, spiffeUriOf } from './x509.js'
import type { Certificate } from './x509.js'

export interface IdentityPem {
  /** Leaf certificate PEM, optionally followed by intermediates (Consul's `CertPEM`). */
  certPem: string
  /** Private key PEM of the leaf: SEC1 `EC PRIVATE KEY` (Consul's `PrivateKeyPEM`) or PKCS#8. */
  keyPem: string
}

export class Identity {
  /** The leaf's SPIFFE ID, exactly as in its URI SAN. */
  readonly spiffeId: string
  readonly leaf: Certificate
  /** Certificates after the leaf in `certPem`, in the order given. */
  readonly intermediates: readonly Certificate[]
  /** Leaf then intermediates, re-encoded: what to present as the TLS `cert` option. */
  readonly certPem: string
  /** The private key PEM as given: the TLS `key` option. */
  readonly keyPem: string
  readonly privateKey: KeyObject
  /** Leaf serial, Consul colon-hex. */
  readonly serial: string
  /** Leaf notBefore. */
  readonly validAfter: Date
  /** Leaf notAfter. */
  readonly validBefore: Date

  private constructor (leaf: Certificate, intermediates: Certificate[], keyPem: string, privateKey: KeyObject, spiffeId: string) {
    this.spiffeId = spiffeId
    this.leaf = leaf
    this.intermediates = Object.freeze(intermediates)
    this.certPem = [leaf, ...intermediates].map((cert) => cert.pem).join('')
    this.keyPem = keyPem
    this.privateKey = privateKey
    this.serial = leaf.serial
    this.validAfter = leaf.notBefore
    this.validBefore = leaf.notAfter
    Object.freeze(this)
  }

  /**
   * Builds an identity from PEM text.
   * @throws CertificateError ERR_CONNECT_CERT_PARSE (no certificate, malformed certificate or key),
   *   ERR_CONNECT_CERT_SAN (leaf without exactly one SPIFFE URI SAN),
   *   ERR_CONNECT_CERT_KEY_MISMATCH (the key is not the leaf's)
   */
  static fromPem ({ certPem, keyPem }: IdentityPem): Identity {
    const certs = parseCertificates(certPem)
    const [leaf, ...intermediates] = certs
    if (leaf === undefined) throw new CertificateError('ERR_CONNECT_CERT_PARSE', 'reading identity: certPem holds no certificate')
    let spiffeId: string
    try {
      spiffeId = spiffeUriOf(leaf)
    } catch (err) {
      throw new CertificateError('ERR_CONNECT_CERT_SAN', `reading identity: leaf ${(err as Error).message}`, { cause: err })
    }
    let privateKey: KeyObject
    try {
      privateKey = createPrivateKey({ key: keyPem, format: 'pem' })
    } catch (err) {
      // The message must not echo the key: only say what failed.
      throw new CertificateError('ERR_CONNECT_CERT_PARSE', `reading identity ${spiffeId}: private key is not a readable unencrypted PEM key`, { cause: err })
    }
    // KeyObject#equals compares the keys, not their encodings (a compressed point still matches).
    if (!createPublicKey(privateKey).equals(leaf.publicKey)) {
      throw new CertificateError('ERR_CONNECT_CERT_KEY_MISMATCH', `reading identity ${spiffeId}: private key does not match leaf ${leaf.serial}`)
    }
    return new Identity(leaf, intermediates, keyPem, privateKey, spiffeId)
  }

  /** Milliseconds from `now` (default: the current time) until the leaf expires; negative once expired. */
  expiresIn (now: Date = new Date()): number {
    return this.validBefore.getTime() - now.getTime()
  }
}
