/**
 * X.509 v3 extensions: finds a TBSCertificate's extensions and reads the ones the mesh needs (SANs,
 * basicConstraints, keyUsage, extKeyUsage, subject and authority key identifiers) for x509.ts.
 *
 * URI and DNS SANs are read exactly as encoded (IA5String bytes, no unescaping). Critical extensions not
 * interpreted here are listed by OID, so a verifier can refuse them. Malformed DER, a repeated extension
 * or an out-of-range value throws a plain `Error`; x509.ts wraps it in a CertificateError
 * ERR_CONNECT_CERT_PARSE.
 */
import { decodeOid, DerReader } from './der.js'

export type KeyUsageName =
  | 'digitalSignature' | 'nonRepudiation' | 'keyEncipherment' | 'dataEncipherment' | 'keyAgreement'
  | 'keyCertSign' | 'cRLSign' | 'encipherOnly' | 'decipherOnly'

const OID = {
  subjectKeyId: '2.5.29.14',
  keyUsage: '2.5.29.15',
  subjectAltName: '2.5.29.17',
  basicConstraints: '2.5.29.19',
  authorityKeyId: '2.5.29.35',
  extKeyUsage: '2.5.29.37'
} as const

const KEY_USAGE_BITS: readonly KeyUsageName[] = [
  'digitalSignature', 'nonRepudiation', 'keyEncipherment', 'dataEncipherment', 'keyAgreement',
  'keyCertSign', 'cRLSign', 'encipherOnly', 'decipherOnly'
]

const EKU_NAMES: Readonly<Record<string, string>> = {
  '2.5.29.37.0': 'anyExtendedKeyUsage',
  '1.3.6.1.5.5.7.3.1': 'serverAuth',
  '1.3.6.1.5.5.7.3.2': 'clientAuth',
  '1.3.6.1.5.5.7.3.3': 'codeSigning',
  '1.3.6.1.5.5.7.3.4': 'emailProtection',
  '1.3.6.1.5.5.7.3.8': 'timeStamping',
  '1.3.6.1.5.5.7.3.9': 'OCSPSigning'
}

export interface RawExtension { oid: string, critical: boolean, value: Buffer }

/** The fields read from a certificate's extensions; the arrays are fresh, for the caller to freeze. */
export interface ExtensionFields {
  uriSans: string[]
  dnsSans: string[]
  isCA: boolean
  pathLen: number | undefined
  keyUsage: KeyUsageName[] | undefined
  extKeyUsage: string[] | undefined
  subjectKeyId: string | undefined
  authorityKeyId: string | undefined
  unhandled: string[]
}

/** Reads every extension in `exts`, in order; an extension that appears twice throws. */
export function readExtensions (exts: readonly RawExtension[]): ExtensionFields {
  const uriSans: string[] = []
  const dnsSans: string[] = []
  const unhandled: string[] = []
  let isCA = false
  let pathLen: number | undefined
  let keyUsage: KeyUsageName[] | undefined
  let extKeyUsage: string[] | undefined
  let subjectKeyId: string | undefined
  let authorityKeyId: string | undefined
  const seen = new Set<string>()
  for (const ext of exts) {
    if (seen.has(ext.oid)) throw new Error(`extension ${ext.oid} appears twice`) // RFC 5280 4.2
    seen.add(ext.oid)
    const r = new DerReader(ext.value)
    switch (ext.oid) {
      case OID.subjectAltName: readGeneralNames(ext.value, uriSans, dnsSans); break
      case OID.basicConstraints: {
        const seq = r.sequence()
        if (!seq.done && seq.peekTag() === 0x01) isCA = seq.boolean()
        if (!seq.done && seq.peekTag() === 0x02) pathLen = smallInteger(seq.integerBytes())
        seq.end('in basicConstraints')
        break
      }
      case OID.keyUsage: keyUsage = keyUsageNames(r.bitStringWithUnused()); break
      case OID.extKeyUsage: {
        const seq = r.sequence()
        extKeyUsage = []
        while (!seq.done) {
          const oid = decodeOid(seq.oidBytes())
          extKeyUsage.push(EKU_NAMES[oid] ?? oid)
        }
        break
      }
      case OID.subjectKeyId: subjectKeyId = colonHex(r.octetString()); break
      case OID.authorityKeyId: {
        const seq = r.sequence()
        if (!seq.done && seq.peekTag() === 0x80) authorityKeyId = colonHex(seq.implicitPrimitive(0x80))
        break
      }
      default:
        if (ext.critical) unhandled.push(ext.oid)
    }
  }
  return { uriSans, dnsSans, isCA, pathLen, keyUsage, extKeyUsage, subjectKeyId, authorityKeyId, unhandled }
}

/**
 * The URI SANs of a DER certificate, in certificate order, walking only to its extensions: the fast path
 * under x509.ts `peerSpiffeUri`, which reads no other field.
 */
export function uriSansOf (der: Uint8Array): string[] {
  const tbs = new DerReader(der).sequence().sequence()
  skipToExtensions(tbs)
  const uris: string[] = []
  const exts = extensionsOf(tbs)
  for (const ext of exts) {
    if (ext.oid === OID.subjectAltName) readGeneralNames(ext.value, uris, undefined)
  }
  return uris
}

/** Moves a TBS reader from the start to its optional extensions. */
function skipToExtensions (tbs: DerReader): void {
  if (tbs.peekTag() === 0xa0) tbs.skip()
  for (let i = 0; i < 6; i++) tbs.skip() // serial, signature, issuer, validity, subject, spki
}

export function extensionsOf (tbs: DerReader): RawExtension[] {
  // issuerUniqueID [1] and subjectUniqueID [2] may precede the extensions; Consul never sets them.
  while (!tbs.done && (tbs.peekTag() === 0x81 || tbs.peekTag() === 0xa1 || tbs.peekTag() === 0x82 || tbs.peekTag() === 0xa2)) tbs.skip()
  const out: RawExtension[] = []
  if (tbs.done) return out
  const list = tbs.explicit(0xa3).sequence()
  tbs.end('after extensions')
  while (!list.done) {
    const ext = list.sequence()
    const oid = decodeOid(ext.oidBytes())
    const critical = !ext.done && ext.peekTag() === 0x01 ? ext.boolean() : false
    const value = ext.octetString()
    ext.end(`in extension ${oid}`)
    out.push({ oid, critical, value })
  }
  return out
}

function readGeneralNames (value: Buffer, uris: string[], dns: string[] | undefined): void {
  const seq = new DerReader(value).sequence()
  while (!seq.done) {
    const tag = seq.peekTag()
    // [6] uniformResourceIdentifier and [2] dNSName are IA5String, IMPLICIT: the bytes are the string.
    if (tag === 0x86) uris.push(ia5(seq.implicitPrimitive(0x86)))
    else if (tag === 0x82 && dns !== undefined) dns.push(ia5(seq.implicitPrimitive(0x82)))
    else seq.skip()
  }
}

function ia5 (bytes: Buffer): string {
  for (const b of bytes) if (b > 0x7f) throw new Error('non-ASCII byte in an IA5String SAN')
  return bytes.toString('latin1')
}

function keyUsageNames ({ bytes, unused }: { bytes: Buffer, unused: number }): KeyUsageName[] {
  const names: KeyUsageName[] = []
  const bits = bytes.length * 8 - unused
  for (let i = 0; i < KEY_USAGE_BITS.length && i < bits; i++) {
    // Bit 0 (digitalSignature) is the most significant bit of the first byte.
    if (((bytes[i >> 3] ?? 0) & (0x80 >> (i & 7))) !== 0) names.push(KEY_USAGE_BITS[i]!)
  }
  return names
}

function smallInteger (bytes: Buffer): number {
  if (bytes.length > 4 || (bytes[0]! & 0x80) !== 0) throw new Error('pathLenConstraint out of range')
  return bytes.readUIntBE(0, bytes.length)
}

const HEX_PAIRS = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'))

/** Lower-case colon-separated hex; a plain loop, as this runs several times per parsed certificate. */
export function colonHex (bytes: Uint8Array): string {
  let out = ''
  for (let i = 0; i < bytes.length; i++) out += (i === 0 ? '' : ':') + HEX_PAIRS[bytes[i]!]!
  return out
}
