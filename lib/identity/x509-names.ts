/**
 * X.509 distinguished names as text: reads a DER Name into the RFC 4514-style string that x509.ts exposes
 * as `subject` and `issuer` (`CN=web,O=Acme`), escaping RDN values.
 *
 * Attributes with a known short name and a string value print as `KEY=value`; any other attribute prints
 * as `OID=#hex` of its DER value, as RFC 4514 2.4 allows. Malformed DER throws a plain `Error`; x509.ts
 * wraps it in a CertificateError ERR_CONNECT_CERT_PARSE.
 */
import { decodeOid, DerReader } from './der.js'

const ATTRIBUTE_NAMES: Readonly<Record<string, string>> = {
  '2.5.4.3': 'CN',
  '2.5.4.5': 'SERIALNUMBER',
  '2.5.4.6': 'C',
  '2.5.4.7': 'L',
  '2.5.4.8': 'ST',
  '2.5.4.9': 'STREET',
  '2.5.4.10': 'O',
  '2.5.4.11': 'OU',
  '0.9.2342.19200300.100.1.1': 'UID',
  '0.9.2342.19200300.100.1.25': 'DC'
}

/** Formats a DER Name as RFC 4514 does: last RDN first, `,` between RDNs, `+` inside one. */
export function readName (raw: Buffer): string {
  const rdns: string[] = []
  const seq = new DerReader(raw).sequence()
  while (!seq.done) {
    const set = seq.explicit(0x31)
    const parts: string[] = []
    while (!set.done) {
      const atv = set.sequence()
      const oid = decodeOid(atv.oidBytes())
      const tag = atv.peekTag()
      const valueTlv = atv.peekRaw()
      const content = atv.implicitPrimitive(tag)
      const key = ATTRIBUTE_NAMES[oid]
      const text = stringValue(tag, content)
      parts.push(key !== undefined && text !== undefined ? `${key}=${escapeRdnValue(text)}` : `${oid}=#${valueTlv.toString('hex')}`)
    }
    rdns.unshift(parts.join('+'))
  }
  return rdns.join(',')
}

function stringValue (tag: number, content: Buffer): string | undefined {
  switch (tag) {
    case 0x0c: return content.toString('utf8') // UTF8String
    case 0x13: case 0x16: case 0x14: return content.toString('latin1') // Printable, IA5, T61
    case 0x1e: { // BMPString: UTF-16BE
      const le = Buffer.from(content)
      le.swap16()
      return le.toString('utf16le')
    }
    default: return undefined
  }
}

function escapeRdnValue (value: string): string {
  // One pass: chained replaces turned the value " " into backslash, backslash, space (an escaped backslash).
  return value.replace(/[\\,+"<>;=]|^[ #]| $/g, (c) => `\\${c}`)
}
