/**
 * TestCA: an in-memory certificate authority that issues certificates shaped like the ones Consul's
 * built-in CA issues, for tests (this project's and its users').
 *
 * What a real Consul CA produces, and so what this one produces by default:
 * - P-256 ECDSA keys, ECDSA-with-SHA-256 signatures, positive random serial numbers;
 * - a self-signed root with basicConstraints CA (critical), keyUsage digitalSignature|keyCertSign|cRLSign
 *   (critical), SubjectKeyIdentifier = AuthorityKeyIdentifier, and one URI SAN `spiffe://<trust domain>`;
 * - leaves with keyUsage digitalSignature|keyEncipherment|dataEncipherment|keyAgreement (critical; a
 *   2023 Consul leaf printed with openssl shows exactly these four),
 *   extKeyUsage serverAuth+clientAuth, basicConstraints CA:false (critical), SKI/AKI, and exactly one SAN:
 *   the service's SPIFFE URI (critical when the subject is empty, as RFC 5280 requires);
 * - leaf private keys as SEC1 `EC PRIVATE KEY` PEM, like the agent's `PrivateKeyPEM`.
 *
 * Key identifiers are SHA-256 of the public key point (32 bytes), which is what Consul's `connect.KeyId`
 * yields; serials and key ids are shown as Consul shows them: lower-case colon-separated hex.
 *
 * Keys come from node:crypto (P-256 generation takes well under a millisecond, so it is done synchronously;
 * the methods stay async so that may change) and nothing is written to disk. The options that let a
 * test build *bad* certificates (`isCA` on a leaf, odd `extKeyUsage`, `uris: []`, dates in the past) are
 * deliberate: they exist so verification code can be tested against them.
 */
import {
  AlgorithmIdentifier, AttributeTypeAndValue, AttributeValue, AuthorityKeyIdentifier, BasicConstraints, Certificate,
  ExtendedKeyUsage, Extension, Extensions, GeneralName, KeyUsage, KeyUsageFlags, Name, RelativeDistinguishedName,
  SubjectAlternativeName, SubjectKeyIdentifier, SubjectPublicKeyInfo, TBSCertificate, Validity, Version,
  id_ce_authorityKeyIdentifier, id_ce_basicConstraints, id_ce_extKeyUsage, id_ce_keyUsage, id_ce_subjectAltName,
  id_ce_subjectKeyIdentifier, id_kp_clientAuth, id_kp_codeSigning, id_kp_emailProtection, id_kp_serverAuth
} from '@peculiar/asn1-x509'
import { AsnConvert, OctetString } from '@peculiar/asn1-schema'
import { createHash, generateKeyPairSync, randomBytes, randomUUID, sign } from 'node:crypto'
import type { KeyObject } from 'node:crypto'

// Built on the ASN.1 schema layer plus node:crypto rather than on @peculiar/x509's generator: the latter
// loads tsyringe, which throws at import unless a global `reflect-metadata` polyfill was loaded first, and
// a test helper must not demand that of its users' entry points.

const ECDSA_WITH_SHA256 = '1.2.840.10045.4.3.2'
const COMMON_NAME = '2.5.4.3'
const HOUR = 3_600_000
const EKU_OIDS = {
  serverAuth: id_kp_serverAuth,
  clientAuth: id_kp_clientAuth,
  codeSigning: id_kp_codeSigning,
  emailProtection: id_kp_emailProtection
} as const

export interface TestCAOptions {
  /** Trust domain. Default `${crypto.randomUUID()}.consul`, like a Consul cluster's. */
  trustDomain?: string
  /** Root subject CN. Default like Consul's: `pri-<random>.consul.ca.<first 8 chars of td>.consul`. */
  commonName?: string
  /** Root validity. Default now − 1 h. */
  notBefore?: Date
  /** Root validity. Default now + 10 years. */
  notAfter?: Date
}

export type TestExtKeyUsage = 'serverAuth' | 'clientAuth' | 'codeSigning' | 'emailProtection'

export interface IssueLeafOptions {
  /** Service name. Default `'web'`. */
  service?: string
  /** Namespace. Default `'default'`. */
  namespace?: string
  /** Admin partition. Default `'default'`, which adds no `/ap/` segment to the URI. */
  partition?: string
  /** Datacenter. Default `'dc1'`. */
  datacenter?: string
  /** The URI SAN, overriding the one built from the fields above. */
  spiffeId?: string
  /** Exact URI SANs, overriding everything: `[]` or two URIs make deliberately bad leaves. */
  uris?: string[]
  /** DNS SANs. Default none (Consul leaves carry none unless asked). */
  dnsNames?: string[]
  /** Subject CN. Default the service name; `''` gives an empty subject, as recent Consul versions issue. */
  commonName?: string
  /** Validity. Default now − 1 min. */
  notBefore?: Date
  /** Validity. Default now + 72 h (Consul's default leaf TTL). */
  notAfter?: Date
  /** Default `['serverAuth', 'clientAuth']`; `[]` omits the extension. */
  extKeyUsage?: TestExtKeyUsage[]
  /** Issue a leaf that (wrongly) claims to be a CA, for tests. Default false. */
  isCA?: boolean
  /** Sign with this intermediate instead of the root; its chain is appended to `certPem`. */
  issuer?: TestIntermediate
  /** Extra PEM certificates appended after the leaf and issuer chain (e.g. a cross-signed root). */
  chain?: string[]
}

export interface IssuedLeaf {
  /** Leaf PEM followed by the chain PEMs: what Consul's `CertPEM` holds. */
  readonly certPem: string
  /** The leaf alone. */
  readonly leafPem: string
  /** SEC1 `-----BEGIN EC PRIVATE KEY-----`, P-256, like Consul's `PrivateKeyPEM`. */
  readonly keyPem: string
  /** Consul colon-hex, lower case: `"0a:1b:..."`. */
  readonly serial: string
  /** First URI SAN, or `''` when there is none. */
  readonly spiffeId: string
  readonly notBefore: Date
  readonly notAfter: Date
}

export interface CreateIntermediateOptions {
  /** Subject CN. Default `int-<random>.consul.ca.<first 8 chars of td>.consul`. */
  commonName?: string
  /** Validity. Default now − 1 h. */
  notBefore?: Date
  /** Validity. Default now + 1 year. */
  notAfter?: Date
  /** basicConstraints pathLenConstraint. Default none. */
  pathLen?: number
  /** basicConstraints CA flag (and keyCertSign). Default true; false builds a bad intermediate for tests. */
  isCA?: boolean
}

/** A freshly generated P-256 key pair with what certificates need of it. */
interface KeyPair {
  readonly privateKey: KeyObject
  readonly publicKey: KeyObject
  readonly spki: SubjectPublicKeyInfo
  /** SHA-256 of the public point, hex: 32 bytes, as Consul's key ids are. */
  readonly keyIdHex: string
}

/** The key and name of whoever signs, and the PEMs that must follow what it signs in a chain. */
interface Signer {
  readonly trustDomain: string
  readonly name: Name
  readonly keys: KeyPair
  /** The signer's own certificate and its ancestors below the root (empty for a root). */
  readonly chainPems: readonly string[]
}

/** An in-memory Consul-like CA. Create with {@link TestCA.create}. */
export class TestCA {
  readonly trustDomain: string
  /** Self-signed root certificate PEM. */
  readonly rootPem: string
  /** Root private key, PKCS#8 PEM. */
  readonly keyPem: string
  /** Root serial, colon-hex. */
  readonly serial: string
  /** Root SubjectKeyIdentifier, colon-hex (Consul's `SigningKeyID`). */
  readonly subjectKeyId: string
  /** SHA-1 fingerprint of the root DER, colon-hex: what Consul uses as a root's `ID`. */
  readonly id: string
  /** The root subject CN. */
  readonly commonName: string
  readonly notBefore: Date
  readonly notAfter: Date
  readonly #signer: Signer

  private constructor (signer: Signer, issued: Signed, commonName: string) {
    this.trustDomain = signer.trustDomain
    this.rootPem = issued.pem
    this.keyPem = signer.keys.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString()
    this.serial = colonHex(issued.serialHex)
    this.subjectKeyId = colonHexBytes(signer.keys.keyIdHex)
    this.id = colonHexBytes(createHash('sha1').update(issued.der).digest('hex'))
    this.commonName = commonName
    this.notBefore = issued.notBefore
    this.notAfter = issued.notAfter
    this.#signer = signer
    Object.freeze(this)
  }

  /** Generates a root key and self-signed root certificate. */
  static async create (options: TestCAOptions = {}): Promise<TestCA> {
    const trustDomain = options.trustDomain ?? `${randomUUID()}.consul`
    const commonName = options.commonName ?? defaultCaName('pri', trustDomain)
    const keys = generateKeys()
    const name = nameOf(commonName)
    const now = Date.now()
    const issued = signCertificate({
      subject: name,
      issuer: name,
      notBefore: options.notBefore ?? new Date(now - HOUR),
      notAfter: options.notAfter ?? new Date(now + 10 * 365 * 24 * HOUR),
      keys,
      signingKey: keys.privateKey,
      extensions: caExtensions(trustDomain, keys.keyIdHex, keys.keyIdHex, { isCA: true })
    })
    return new TestCA({ trustDomain, name, keys, chainPems: [] }, issued, commonName)
  }

  /** Issues a leaf for a service, signed by the root (or by `options.issuer`). */
  async issueLeaf (options: IssueLeafOptions = {}): Promise<IssuedLeaf> {
    return issueLeafWith(options.issuer === undefined ? this.#signer : signerOf(options.issuer), options)
  }

  /** Issues an intermediate CA signed by the root; its own leaves carry it in their chain. */
  async createIntermediate (options: CreateIntermediateOptions = {}): Promise<TestIntermediate> {
    return createIntermediateWith(this.#signer, options)
  }

  /**
   * Cross-signs `other`'s root: a CA certificate with `other`'s subject, public key and key id, issued and
   * signed by this CA. This is what Consul does on root rotation (the new root cross-signed by the old one,
   * shipped in leaf chains), so peers that trust only this (old) root accept leaves of `other` (new).
   * Validity: from max(now − 1 h, other's notBefore) to the earlier of the two roots' notAfter.
   */
  async crossSign (other: TestCA): Promise<string> {
    const theirs = other.#signer
    return signCertificate({
      subject: theirs.name,
      issuer: this.#signer.name,
      notBefore: new Date(Math.max(Date.now() - HOUR, other.notBefore.getTime())),
      notAfter: new Date(Math.min(this.notAfter.getTime(), other.notAfter.getTime())),
      keys: theirs.keys,
      signingKey: this.#signer.keys.privateKey,
      extensions: caExtensions(theirs.trustDomain, theirs.keys.keyIdHex, this.#signer.keys.keyIdHex, { isCA: true })
    }).pem
  }
}

/** An intermediate CA made by {@link TestCA.createIntermediate}. */
export class TestIntermediate {
  /** The intermediate certificate PEM. */
  readonly pem: string
  /** Its private key, PKCS#8 PEM. */
  readonly keyPem: string
  /** Serial, colon-hex. */
  readonly serial: string
  /** SubjectKeyIdentifier, colon-hex. */
  readonly subjectKeyId: string

  /** Not for direct use: intermediates come from {@link TestCA.createIntermediate}. */
  constructor (pem: string, keyPem: string, serial: string, subjectKeyId: string) {
    this.pem = pem
    this.keyPem = keyPem
    this.serial = serial
    this.subjectKeyId = subjectKeyId
    Object.freeze(this)
  }

  /** Issues a leaf signed by this intermediate; `certPem` holds leaf, this intermediate, and its parents. */
  async issueLeaf (options: Omit<IssueLeafOptions, 'issuer'> = {}): Promise<IssuedLeaf> {
    return issueLeafWith(signerOf(this), options)
  }

  /** Issues a further intermediate under this one (for path-length tests). */
  async createIntermediate (options: CreateIntermediateOptions = {}): Promise<TestIntermediate> {
    return createIntermediateWith(signerOf(this), options)
  }
}

// Private keys of intermediates stay out of the public type; the WeakMap ties them to their instance.
const intermediateSigners = new WeakMap<TestIntermediate, Signer>()

function signerOf (intermediate: TestIntermediate): Signer {
  const signer = intermediateSigners.get(intermediate)
  if (signer === undefined) throw new TypeError('TestIntermediate: not created by TestCA#createIntermediate')
  return signer
}

function issueLeafWith (signer: Signer, options: IssueLeafOptions): IssuedLeaf {
  const service = options.service ?? 'web'
  const uris = options.uris ?? [options.spiffeId ?? serviceUri(signer.trustDomain, service, options)]
  const commonName = options.commonName ?? service
  const keys = generateKeys()
  const now = Date.now()
  const isCA = options.isCA ?? false
  const usages = options.extKeyUsage ?? ['serverAuth', 'clientAuth']

  const extensions = [
    extension(id_ce_keyUsage, true, new KeyUsage(isCA
      ? KeyUsageFlags.digitalSignature | KeyUsageFlags.keyCertSign | KeyUsageFlags.cRLSign
      : KeyUsageFlags.digitalSignature | KeyUsageFlags.keyEncipherment | KeyUsageFlags.dataEncipherment |
        KeyUsageFlags.keyAgreement)),
    extension(id_ce_basicConstraints, true, new BasicConstraints({ cA: isCA })),
    extension(id_ce_subjectKeyIdentifier, false, new SubjectKeyIdentifier(hexBytes(keys.keyIdHex))),
    extension(id_ce_authorityKeyIdentifier, false, new AuthorityKeyIdentifier({ keyIdentifier: new OctetString(hexBytes(signer.keys.keyIdHex)) }))
  ]
  if (usages.length > 0) extensions.push(extension(id_ce_extKeyUsage, false, new ExtendedKeyUsage(usages.map((u) => EKU_OIDS[u]))))
  const names = [
    ...uris.map((uniformResourceIdentifier) => new GeneralName({ uniformResourceIdentifier })),
    ...(options.dnsNames ?? []).map((dNSName) => new GeneralName({ dNSName }))
  ]
  // RFC 5280 4.2.1.6: with an empty subject the SAN extension must be critical (Consul marks it so).
  if (names.length > 0) extensions.push(extension(id_ce_subjectAltName, commonName === '', new SubjectAlternativeName(names)))

  const issued = signCertificate({
    subject: nameOf(commonName),
    issuer: signer.name,
    notBefore: options.notBefore ?? new Date(now - 60_000),
    notAfter: options.notAfter ?? new Date(now + 72 * HOUR),
    keys,
    signingKey: signer.keys.privateKey,
    extensions
  })
  return Object.freeze({
    certPem: [issued.pem, ...signer.chainPems, ...(options.chain ?? []).map(withNewline)].join(''),
    leafPem: issued.pem,
    keyPem: keys.privateKey.export({ type: 'sec1', format: 'pem' }).toString(),
    serial: colonHex(issued.serialHex),
    spiffeId: uris[0] ?? '',
    notBefore: issued.notBefore,
    notAfter: issued.notAfter
  })
}

function createIntermediateWith (parent: Signer, options: CreateIntermediateOptions): TestIntermediate {
  const keys = generateKeys()
  const name = nameOf(options.commonName ?? defaultCaName('int', parent.trustDomain))
  const now = Date.now()
  const issued = signCertificate({
    subject: name,
    issuer: parent.name,
    notBefore: options.notBefore ?? new Date(now - HOUR),
    notAfter: options.notAfter ?? new Date(now + 365 * 24 * HOUR),
    keys,
    signingKey: parent.keys.privateKey,
    extensions: caExtensions(parent.trustDomain, keys.keyIdHex, parent.keys.keyIdHex, {
      isCA: options.isCA ?? true,
      ...(options.pathLen === undefined ? {} : { pathLen: options.pathLen })
    })
  })
  const signer: Signer = { trustDomain: parent.trustDomain, name, keys, chainPems: [issued.pem, ...parent.chainPems] }
  const keyPem = keys.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString()
  const intermediate = new TestIntermediate(issued.pem, keyPem, colonHex(issued.serialHex), colonHexBytes(keys.keyIdHex))
  intermediateSigners.set(intermediate, signer)
  return intermediate
}

function caExtensions (trustDomain: string, keyIdHex: string, authorityKeyIdHex: string, ca: { isCA: boolean, pathLen?: number }): Extension[] {
  const usage = KeyUsageFlags.digitalSignature | (ca.isCA ? KeyUsageFlags.keyCertSign | KeyUsageFlags.cRLSign : 0)
  const constraints = new BasicConstraints({ cA: ca.isCA })
  if (ca.pathLen !== undefined) constraints.pathLenConstraint = ca.pathLen
  return [
    extension(id_ce_keyUsage, true, new KeyUsage(usage)),
    extension(id_ce_basicConstraints, true, constraints),
    extension(id_ce_subjectKeyIdentifier, false, new SubjectKeyIdentifier(hexBytes(keyIdHex))),
    extension(id_ce_authorityKeyIdentifier, false, new AuthorityKeyIdentifier({ keyIdentifier: new OctetString(hexBytes(authorityKeyIdHex)) })),
    extension(id_ce_subjectAltName, false, new SubjectAlternativeName([new GeneralName({ uniformResourceIdentifier: `spiffe://${trustDomain}` })]))
  ]
}

interface CertificateSpec {
  subject: Name
  issuer: Name
  notBefore: Date
  notAfter: Date
  keys: KeyPair
  signingKey: KeyObject
  extensions: Extension[]
}

interface Signed {
  readonly der: Buffer
  readonly pem: string
  readonly serialHex: string
  readonly notBefore: Date
  readonly notAfter: Date
}

/** Encodes the TBSCertificate, signs it with ECDSA-SHA256 (DER signature, as X.509 wants), wraps it. */
function signCertificate (spec: CertificateSpec): Signed {
  const serial = randomSerial()
  const algorithm = new AlgorithmIdentifier({ algorithm: ECDSA_WITH_SHA256 })
  const tbs = new TBSCertificate({
    version: Version.v3,
    serialNumber: toArrayBuffer(serial),
    signature: algorithm,
    issuer: spec.issuer,
    validity: new Validity({ notBefore: spec.notBefore, notAfter: spec.notAfter }),
    subject: spec.subject,
    subjectPublicKeyInfo: spec.keys.spki,
    extensions: new Extensions(spec.extensions)
  })
  const tbsDer = Buffer.from(AsnConvert.serialize(tbs))
  const signature = sign('sha256', tbsDer, spec.signingKey)
  const cert = new Certificate({ tbsCertificate: tbs, signatureAlgorithm: algorithm, signatureValue: toArrayBuffer(signature) })
  const der = Buffer.from(AsnConvert.serialize(cert))
  return {
    der,
    pem: toPem(der),
    serialHex: serial.toString('hex'),
    notBefore: tbs.validity.notBefore.getTime(),
    notAfter: tbs.validity.notAfter.getTime()
  }
}

function extension (extnID: string, critical: boolean, value: object): Extension {
  return new Extension({ extnID, critical, extnValue: new OctetString(AsnConvert.serialize(value)) })
}

function nameOf (commonName: string): Name {
  if (commonName === '') return new Name()
  const attribute = new AttributeTypeAndValue({ type: COMMON_NAME, value: new AttributeValue({ utf8String: commonName }) })
  return new Name([new RelativeDistinguishedName([attribute])])
}

function generateKeys (): KeyPair {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' })
  const spki = AsnConvert.parse(publicKey.export({ type: 'spki', format: 'der' }), SubjectPublicKeyInfo)
  const keyIdHex = createHash('sha256').update(new Uint8Array(spki.subjectPublicKey)).digest('hex')
  return { privateKey, publicKey, spki, keyIdHex }
}

function serviceUri (trustDomain: string, service: string, o: IssueLeafOptions): string {
  const partition = o.partition ?? 'default'
  const ap = partition === 'default' ? '' : `/ap/${partition}`
  return `spiffe://${trustDomain}${ap}/ns/${o.namespace ?? 'default'}/dc/${o.datacenter ?? 'dc1'}/svc/${service}`
}

function defaultCaName (prefix: string, trustDomain: string): string {
  return `${prefix}-${randomBytes(4).toString('hex')}.consul.ca.${trustDomain.slice(0, 8)}.consul`
}

/** 16 random bytes, high bit clear (positive) and first byte non-zero (minimal DER encoding). */
function randomSerial (): Buffer {
  const bytes = randomBytes(16)
  bytes[0] = (bytes[0]! & 0x7f) || 0x01
  return bytes
}

/** Lower-case colon-separated hex, leading zero bytes dropped (as Go's big.Int.Bytes() gives them). */
/** Serial numbers in Consul's colon-hex: leading zero bytes dropped, as Consul formats them. */
function colonHex (hex: string): string {
  let h = hex.toLowerCase()
  if (h.length % 2 === 1) h = '0' + h
  while (h.length > 2 && h.startsWith('00')) h = h.slice(2)
  return h.match(/../g)?.join(':') ?? ''
}

/** Byte strings (key identifiers, fingerprints) in colon-hex: every byte kept, leading zeros included. */
function colonHexBytes (hex: string): string {
  return hex.toLowerCase().match(/../g)?.join(':') ?? ''
}

function hexBytes (hex: string): ArrayBuffer {
  return toArrayBuffer(Buffer.from(hex, 'hex'))
}

function toArrayBuffer (bytes: Uint8Array): ArrayBuffer {
  return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer
}

function toPem (der: Buffer): string {
  const lines = der.toString('base64').match(/.{1,64}/g) ?? []
  return `-----BEGIN CERTIFICATE-----\n${lines.join('\n')}\n-----END CERTIFICATE-----\n`
}

function withNewline (pem: string): string {
  return pem.endsWith('\n') ? pem : pem + '\n'
}
