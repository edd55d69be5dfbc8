/**
 * X.509 certificates as frozen values: parse PEM/DER once, read every field the mesh needs.
 *
 * How the work is split, and why:
 * - Fields (serial, names, validity, SANs, basicConstraints, keyUsage, extKeyUsage, key ids) come from a
 *   small strict DER walker: der.ts reads the TLV layer, this file the X.509 structure, x509-names.ts the
 *   subject and issuer Names, x509-extensions.ts the extensions. It is ≈ 5× faster than building a node
 *   `X509Certificate` and than the `@peculiar/asn1-schema` object mapper (measured on a loaded 2-core
 *   machine: `parseCertificate` ≈ 140 µs, `new X509Certificate` ≈ 700 µs, asn1-schema ≈ 670 µs; the
 *   ratios are what matter), and it reads URI SANs exactly as encoded, whereas node's `subjectAltName`
 *   string is escaped and lossy (a comma or quote inside a URI changes its meaning).
 * - Signatures are checked natively: `verifySignature` hands the raw TBS bytes, the signature and the
 *   issuer's cached `KeyObject` to `crypto.verify` (OpenSSL), falling back to node's
 *   `X509Certificate#verify` for algorithms not mapped here (RSA-PSS, …).
 * - A node `crypto.X509Certificate` is still available as `cert.x509`, built on first use and kept, for
 *   callers that want `checkHost`, `toLegacyObject` and the like.
 * - `@peculiar/x509` itself is not used at run time: it loads tsyringe, which throws at import unless a
 *   global `reflect-metadata` polyfill was loaded first; a library must not demand that of its users.
 *
 * Every malformed input raises `CertificateError` `ERR_CONNECT_CERT_PARSE` with the original failure as
 * `cause`. Values are frozen; `der` and the `raw*` fields are Buffers (views of one private copy of the
 * input) that callers must not modify.
 */
import { X509Certificate, createHash, createPublicKey, verify as cryptoVerify } from 'node:crypto'
import type { KeyObject } from 'node:crypto'
import { CertificateError } from '../errors.js'
import { decodeOid, DerReader } from './der.js'
import { colonHex, extensionsOf, readExtensions, uriSansOf } from './x509-extensions.js'
import type { KeyUsageName } from './x509-extensions.js'
import { readName } from './x509-names.js'

export type { KeyUsageName } from './x509-extensions.js'

/** A parsed certificate. Build with {@link parseCertificate} or {@link parseCertificates}. */
export interface Certificate {
  /** The DER encoding (do not modify). */
  readonly der: Buffer
  /** PEM of `der`, with a trailing newline. */
  readonly pem: string
  /** Serial as Consul writes it: lower-case colon-separated hex of the unsigned bytes, `"0a:1b:…"`. */
  readonly serial: string
  /** Serial as lower-case hex without separators or leading zero bytes. */
  readonly serialHex: string
  /** Subject as an RFC 4514-style string (`CN=web, O=Acme`); `''` when empty. */
  readonly subject: string
  /** Issuer as an RFC 4514-style string. */
  readonly issuer: string
  readonly notBefore: Date
  readonly notAfter: Date
  /** URI SANs exactly as encoded, in certificate order. */
  readonly uriSans: readonly string[]
  readonly dnsSans: readonly string[]
  /** basicConstraints cA; false when the extension is absent. */
  readonly isCA: boolean
  /** basicConstraints pathLenConstraint, when present. */
  readonly pathLen: number | undefined
  /** keyUsage bits by name; `undefined` when the extension is absent (which places no restriction). */
  readonly keyUsage: readonly KeyUsageName[] | undefined
  /** extKeyUsage by name (`serverAuth`, `clientAuth`, …) or dotted OID; `undefined` when absent. */
  readonly extKeyUsage: readonly string[] | undefined
  /** SubjectKeyIdentifier, colon-hex. */
  readonly subjectKeyId: string | undefined
  /** AuthorityKeyIdentifier keyIdentifier, colon-hex. */
  readonly authorityKeyId: string | undefined
  /** Dotted OIDs of critical extensions this module does not interpret. */
  readonly unhandledCriticalExtensions: readonly string[]
  /** SHA-256 of `der`, lower-case colon-hex. */
  readonly fingerprint256: string
  /** DER of the subject Name, for exact issuer matching (RFC 5280 7.1 treats equal bytes as equal names). */
  readonly rawSubject: Buffer
  /** DER of the issuer Name. */
  readonly rawIssuer: Buffer
  /** DER of the TBSCertificate: the signed bytes. */
  readonly rawTbs: Buffer
  /** DER of the SubjectPublicKeyInfo. */
  readonly rawSubjectPublicKeyInfo: Buffer
  /** Signature algorithm OID (dotted). */
  readonly signatureAlgorithm: string
  /** Signature bytes (the BIT STRING content). */
  readonly signature: Buffer
  /** The subject public key, imported on first use and kept. */
  readonly publicKey: KeyObject
  /** Node's certificate object, built on first use and kept. */
  readonly x509: X509Certificate
}

/** Signature OIDs that map onto a plain `crypto.verify(hash, …)` call. */
const SIGNATURE_HASHES: Readonly<Record<string, string | null>> = {
  '1.2.840.10045.4.3.2': 'sha256', // ecdsa-with-SHA256 (Consul's only choice)
  '1.2.840.10045.4.3.3': 'sha384',
  '1.2.840.10045.4.3.4': 'sha512',
  '1.2.840.113549.1.1.11': 'sha256', // sha256WithRSAEncryption (Vault or custom roots)
  '1.2.840.113549.1.1.12': 'sha384',
  '1.2.840.113549.1.1.13': 'sha512',
  '1.3.101.112': null // Ed25519
}

const PEM_BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----([\s\S]*?)-----END \1-----/g
const BASE64_BODY = /^[A-Za-z0-9+/=\s]*$/

/**
 * Parses one certificate from PEM text (exactly one CERTIFICATE block), DER bytes (exactly one
 * certificate, no trailing bytes) or a node `X509Certificate` (kept as `x509`).
 * @throws CertificateError ERR_CONNECT_CERT_PARSE
 */
export function parseCertificate (input: string | Uint8Array | X509Certificate): Certificate {
  if (input instanceof X509Certificate) return fromDer(input.raw, input)
  if (typeof input === 'string' || looksLikePem(input)) {
    const certs = parseCertificates(input)
    if (certs.length !== 1) {
      throw new CertificateError('ERR_CONNECT_CERT_PARSE', `parsing certificate: expected one PEM CERTIFICATE block, found ${certs.length}`)
    }
    return certs[0]!
  }
  return fromDer(input)
}

/**
 * Parses every certificate in a PEM bundle (blocks of other types, such as keys, are skipped, as Go's
 * `AppendCertsFromPEM` does) or in concatenated DER. Empty or blank input gives `[]`; text with no
 * CERTIFICATE block, or any malformed block, throws.
 * @throws CertificateError ERR_CONNECT_CERT_PARSE
 */
export function parseCertificates (input: string | Uint8Array): Certificate[] {
  if (typeof input !== 'string' && !looksLikePem(input)) return splitDer(input).map((der) => fromDer(der))
  const text = typeof input === 'string' ? input : Buffer.from(input).toString('latin1')
  if (text.trim() === '') return []
  const certs: Certificate[] = []
  for (const match of text.matchAll(PEM_BLOCK)) {
    if (match[1] !== 'CERTIFICATE') continue
    const body = match[2] ?? ''
    if (!BASE64_BODY.test(body)) {
      throw new CertificateError('ERR_CONNECT_CERT_PARSE', `parsing certificate ${certs.length + 1} of PEM bundle: body is not base64`)
    }
    certs.push(fromDer(Buffer.from(body, 'base64'), undefined, `parsing certificate ${certs.length + 1} of PEM bundle`))
  }
  if (certs.length === 0) {
    throw new CertificateError('ERR_CONNECT_CERT_PARSE', 'parsing PEM: no complete "-----BEGIN CERTIFICATE-----" block found')
  }
  // A BEGIN line without its END line would otherwise vanish silently from a bundle.
  const begun = text.split('-----BEGIN CERTIFICATE-----').length - 1
  if (begun !== certs.length) {
    throw new CertificateError('ERR_CONNECT_CERT_PARSE', `parsing PEM: ${begun - certs.length} CERTIFICATE block(s) have no matching END line`)
  }
  return certs
}

/** Lower-case colon-separated hex of a serial (hex string, any case, or bytes); leading zero bytes dropped. */
export function formatSerial (serial: string | Uint8Array): string {
  let hex = typeof serial === 'string' ? serial.replace(/[:\s]/g, '').toLowerCase() : Buffer.from(serial).toString('hex')
  if (!/^[0-9a-f]*$/.test(hex)) throw new CertificateError('ERR_CONNECT_CERT_PARSE', `formatting serial: "${String(serial)}" is not hex`)
  if (hex.length % 2 === 1) hex = '0' + hex
  // Go's big.Int.Bytes() (what Consul formats) has no leading zero bytes; a DER sign byte is not part of it.
  while (hex.length > 2 && hex.startsWith('00')) hex = hex.slice(2)
  return colonHex(Buffer.from(hex === '' ? '00' : hex, 'hex'))
}

/**
 * The certificate's SPIFFE ID: its single URI SAN, which must start with `spiffe://`.
 * @throws CertificateError ERR_CONNECT_CERT_SAN when there are zero URI SANs, several, or a non-SPIFFE one
 */
export function spiffeUriOf (cert: Certificate): string {
  return singleSpiffeUri(cert.uriSans, cert.serial)
}

/**
 * The SPIFFE ID of a DER certificate, for per-connection use: walks only to the SAN extension and
 * allocates one string: ≈ 8× cheaper than `parseCertificate` and ≈ 40× cheaper than node's
 * `X509Certificate` (≈ 18 µs for a Consul leaf on the same loaded machine). Same rules as
 * {@link spiffeUriOf}.
 * @throws CertificateError ERR_CONNECT_CERT_PARSE on malformed DER, ERR_CONNECT_CERT_SAN on the SAN rule
 */
export function peerSpiffeUri (der: Uint8Array): string {
  let uris: string[]
  try {
    uris = uriSansOf(der)
  } catch (err) {
    throw new CertificateError('ERR_CONNECT_CERT_PARSE', `reading peer SPIFFE ID: ${(err as Error).message}`, { cause: err })
  }
  return singleSpiffeUri(uris, undefined)
}

/**
 * True when `issuer`'s public key verifies `cert`'s signature (OpenSSL through `crypto.verify`).
 * Never throws: an unusable key or algorithm is a failed verification.
 */
export function verifySignature (cert: Certificate, issuer: Certificate): boolean {
  try {
    const hash = SIGNATURE_HASHES[cert.signatureAlgorithm]
    if (hash === undefined) return cert.x509.verify(issuer.publicKey)
    return cryptoVerify(hash, cert.rawTbs, issuer.publicKey, cert.signature)
  } catch {
    return false
  }
}

/**
 * How plausible `candidate` is as the issuer of `cert`: -1 not at all (issuer name differs), 0 names match
 * but key identifiers disagree, 1 names match and a key identifier is missing, 2 names and key ids match.
 * Names compare as DER bytes (RFC 5280 7.1 lets equal encodings stand for equal names). A 0 is still a
 * candidate: the signature check, not a hint extension, is what decides.
 */
export function issuerRank (cert: Certificate, candidate: Certificate): -1 | 0 | 1 | 2 {
  if (!cert.rawIssuer.equals(candidate.rawSubject)) return -1
  if (cert.authorityKeyId === undefined || candidate.subjectKeyId === undefined) return 1
  return cert.authorityKeyId === candidate.subjectKeyId ? 2 : 0
}

function singleSpiffeUri (uris: readonly string[], serial: string | undefined): string {
  const what = serial === undefined ? 'certificate' : `certificate ${serial}`
  if (uris.length !== 1) {
    throw new CertificateError('ERR_CONNECT_CERT_SAN', `${what}: has ${uris.length} URI SANs, expected exactly one SPIFFE ID`)
  }
  const uri = uris[0]!
  if (!uri.startsWith('spiffe://')) throw new CertificateError('ERR_CONNECT_CERT_SAN', `${what}: URI SAN "${uri}" is not a spiffe:// URI`)
  return uri
}

function looksLikePem (bytes: Uint8Array): boolean {
  // DER certificates start with 0x30; PEM text starts with '-' possibly after whitespace or a comment line.
  return bytes.length > 0 && bytes[0] !== 0x30
}

/** Splits concatenated DER certificates by their outer lengths. */
function splitDer (input: Uint8Array): Buffer[] {
  const bytes = Buffer.from(input)
  const out: Buffer[] = []
  try {
    const reader = new DerReader(bytes)
    while (!reader.done) out.push(reader.rawTlv(0x30))
  } catch (err) {
    throw new CertificateError('ERR_CONNECT_CERT_PARSE', `parsing DER certificates: ${(err as Error).message}`, { cause: err })
  }
  return out
}

function fromDer (input: Uint8Array, native?: X509Certificate, context = 'parsing certificate'): Certificate {
  try {
    // Copy: the value must not change if the caller reuses its buffer.
    return build(Buffer.from(input), native)
  } catch (err) {
    throw new CertificateError('ERR_CONNECT_CERT_PARSE', `${context}: ${(err as Error).message}`, { cause: err })
  }
}

function build (der: Buffer, native: X509Certificate | undefined): Certificate {
  const outer = new DerReader(der)
  const certSeq = outer.sequence()
  outer.end('after the certificate')
  const rawTbs = certSeq.peekRaw()
  const tbs = certSeq.sequence()
  const outerAlg = certSeq.rawTlv(0x30)
  const signature = certSeq.bitString()
  certSeq.end('after the signature')

  if (tbs.peekTag() === 0xa0) {
    const version = tbs.explicit(0xa0).integerBytes()
    if (version.length !== 1 || version[0]! > 2) throw new Error('unknown X.509 version')
  }
  const serialBytes = tbs.integerBytes()
  const innerAlg = tbs.rawTlv(0x30)
  if (!innerAlg.equals(outerAlg)) throw new Error('signature algorithm differs between TBS and certificate')
  const rawIssuer = tbs.rawTlv(0x30)
  const validity = tbs.sequence()
  const notBefore = validity.time()
  const notAfter = validity.time()
  validity.end('in validity')
  const rawSubject = tbs.rawTlv(0x30)
  const rawSubjectPublicKeyInfo = tbs.rawTlv(0x30)
  const fields = readExtensions(extensionsOf(tbs))

  const serial = minimalBytes(serialBytes)
  let x509 = native
  let publicKey: KeyObject | undefined
  let pem: string | undefined
  const cert = {
    der,
    serial: colonHex(serial),
    serialHex: serial.toString('hex'),
    subject: readName(rawSubject),
    issuer: readName(rawIssuer),
    notBefore,
    notAfter,
    uriSans: Object.freeze(fields.uriSans),
    dnsSans: Object.freeze(fields.dnsSans),
    isCA: fields.isCA,
    pathLen: fields.pathLen,
    keyUsage: fields.keyUsage === undefined ? undefined : Object.freeze(fields.keyUsage),
    extKeyUsage: fields.extKeyUsage === undefined ? undefined : Object.freeze(fields.extKeyUsage),
    subjectKeyId: fields.subjectKeyId,
    authorityKeyId: fields.authorityKeyId,
    unhandledCriticalExtensions: Object.freeze(fields.unhandled),
    fingerprint256: colonHex(createHash('sha256').update(der).digest()),
    rawSubject,
    rawIssuer,
    rawTbs,
    rawSubjectPublicKeyInfo,
    signatureAlgorithm: decodeOid(new DerReader(outerAlg).sequence().oidBytes()),
    signature,
    get pem (): string {
      pem ??= toPem(der)
      return pem
    },
    // Both are costly (an OpenSSL parse) and unneeded for most certificates: build on first use, keep.
    get publicKey (): KeyObject {
      publicKey ??= createPublicKey({ key: rawSubjectPublicKeyInfo, format: 'der', type: 'spki' })
      return publicKey
    },
    get x509 (): X509Certificate {
      x509 ??= new X509Certificate(der)
      return x509
    }
  }
  return Object.freeze(cert)
}

function minimalBytes (bytes: Buffer): Buffer {
  let i = 0
  while (i < bytes.length - 1 && bytes[i] === 0) i++
  return bytes.subarray(i)
}

function toPem (der: Buffer): string {
  const b64 = der.toString('base64')
  let body = ''
  for (let i = 0; i < b64.length; i += 64) body += b64.slice(i, i + 64) + '\n'
  return `-----BEGIN CERTIFICATE-----\n${body}-----END CERTIFICATE-----\n`
}
