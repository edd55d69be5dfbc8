/**
 * A minimal strict DER reader: the TLV layer under x509.ts, with no knowledge of X.509 itself.
 *
 * What it accepts: single-byte tags, definite lengths of up to 4 length bytes, and the universal types
 * certificates use (SEQUENCE, SET through `explicit`, INTEGER, BOOLEAN, BIT STRING, OCTET STRING, OBJECT
 * IDENTIFIER, UTCTime, GeneralizedTime) plus context-specific tags. Bounds are checked on every read:
 * a length that runs past its enclosing element is an error, never a short read.
 *
 * Failure behaviour: anything unexpected throws a plain `Error` with a short reason (`expected SEQUENCE
 * (tag 0x30), found tag 0x31`); callers (x509.ts) wrap it in a CertificateError ERR_CONNECT_CERT_PARSE
 * with the context of what they were reading. Returned Buffers are views of the input, not copies.
 */

/** Reads DER elements in order from `buf[start, end)`; nested readers cover one element's content. */
export class DerReader {
  readonly #buf: Buffer
  #pos: number
  readonly #end: number

  /** Reads `buf` (not copied) between `start` and `end`. */
  constructor (buf: Uint8Array, start = 0, end = buf.length) {
    this.#buf = Buffer.isBuffer(buf) ? buf : Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength)
    this.#pos = start
    this.#end = end
  }

  /** True when every element has been read. */
  get done (): boolean { return this.#pos >= this.#end }

  /** The tag byte of the next element, without moving. */
  peekTag (): number {
    if (this.done) throw new Error('unexpected end of data')
    return this.#buf[this.#pos]!
  }

  /** Reads the header at the current position: [tag, contentStart, contentEnd]. */
  #header (): [number, number, number] {
    const buf = this.#buf
    const tag = this.peekTag()
    if ((tag & 0x1f) === 0x1f) throw new Error('multi-byte ASN.1 tags are not supported')
    let p = this.#pos + 1
    if (p >= this.#end) throw new Error('truncated length')
    let len = buf[p++]!
    if (len === 0x80) throw new Error('indefinite length is not DER')
    if (len > 0x80) {
      const n = len & 0x7f
      if (n > 4 || p + n > this.#end) throw new Error('bad length')
      len = 0
      for (let i = 0; i < n; i++) len = len * 256 + buf[p++]!
    }
    if (p + len > this.#end) throw new Error('length runs past the end of the data')
    return [tag, p, p + len]
  }

  /** Moves past the next element (checking its tag unless undefined); returns its content bounds. */
  #take (tag: number | undefined, what: string): [number, number] {
    const [actual, start, end] = this.#header()
    if (tag !== undefined && actual !== tag) throw new Error(`expected ${what} (tag 0x${tag.toString(16)}), found tag 0x${actual.toString(16)}`)
    this.#pos = end
    return [start, end]
  }

  /** Moves past the next element, whatever its tag. */
  skip (): void { this.#take(undefined, 'any') }

  /** Throws unless every element has been read; `where` ends the message (`after the signature`). */
  end (where: string): void {
    if (!this.done) throw new Error(`unexpected trailing data ${where}`)
  }

  /** A reader over the content of the next element, a SEQUENCE. */
  sequence (): DerReader {
    const [start, end] = this.#take(0x30, 'SEQUENCE')
    return new DerReader(this.#buf, start, end)
  }

  /** A reader over the content of the next element, which must carry `tag` (an EXPLICIT tag or a SET). */
  explicit (tag: number): DerReader {
    const [start, end] = this.#take(tag, `[${tag & 0x1f}]`)
    return new DerReader(this.#buf, start, end)
  }

  /** The whole TLV (header included) at the current position, without moving. */
  peekRaw (): Buffer {
    const [, , end] = this.#header()
    return this.#buf.subarray(this.#pos, end)
  }

  /** The whole TLV (header included), checking its tag. */
  rawTlv (tag: number): Buffer {
    const from = this.#pos
    const [, end] = this.#take(tag, 'element')
    return this.#buf.subarray(from, end)
  }

  /** Content bytes of the next element, which must carry `tag` (an IMPLICIT primitive). */
  implicitPrimitive (tag: number): Buffer { return this.#content(tag, `[${tag & 0x1f}]`) }
  octetString (): Buffer { return this.#content(0x04, 'OCTET STRING') }
  oidBytes (): Buffer { return this.#content(0x06, 'OBJECT IDENTIFIER') }

  /** Content bytes of an INTEGER (two's complement, sign byte kept); never empty. */
  integerBytes (): Buffer {
    const bytes = this.#content(0x02, 'INTEGER')
    if (bytes.length === 0) throw new Error('empty INTEGER')
    return bytes
  }

  /** A BOOLEAN; DER allows only 0x00 and 0xff. */
  boolean (): boolean {
    const bytes = this.#content(0x01, 'BOOLEAN')
    if (bytes.length !== 1 || (bytes[0] !== 0 && bytes[0] !== 0xff)) throw new Error('BOOLEAN is not DER')
    return bytes[0] === 0xff
  }

  /** A BIT STRING's bytes and its count of unused trailing bits (0–7). */
  bitStringWithUnused (): { bytes: Buffer, unused: number } {
    const raw = this.#content(0x03, 'BIT STRING')
    const unused = raw[0]
    if (unused === undefined || unused > 7 || (unused > 0 && raw.length === 1)) throw new Error('bad BIT STRING')
    return { bytes: raw.subarray(1), unused }
  }

  /** A BIT STRING that must hold whole bytes (a signature, a key). */
  bitString (): Buffer {
    const { bytes, unused } = this.bitStringWithUnused()
    if (unused !== 0) throw new Error('signature BIT STRING has unused bits')
    return bytes
  }

  /** Reads a UTCTime or GeneralizedTime (RFC 5280 4.1.2.5: seconds present, `Z`, no fractions). */
  time (): Date {
    const tag = this.peekTag()
    if (tag !== 0x17 && tag !== 0x18) throw new Error(`expected a time, found tag 0x${tag.toString(16)}`)
    const text = this.#content(tag, 'time').toString('latin1')
    const m = (tag === 0x17 ? /^(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/ : /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/).exec(text)
    if (m === null) throw new Error(`bad time "${text}"`)
    let year = Number(m[1])
    if (tag === 0x17) year += year >= 50 ? 1900 : 2000 // RFC 5280: UTCTime YY >= 50 is 19YY
    const [month, day, hour, minute, second] = m.slice(2, 7).map(Number) as [number, number, number, number, number]
    // Out-of-range fields must not roll over (month 13 is not January of the next year).
    if (month < 1 || month > 12 || day < 1 || hour > 23 || minute > 59 || second > 59) throw new Error(`bad time "${text}"`)
    // Not Date.UTC(year, …): it reads years 0–99 as 1900–1999, and GeneralizedTime 0050 is year 50.
    const date = new Date(0)
    date.setUTCFullYear(year, month - 1, day)
    date.setUTCHours(hour, minute, second, 0)
    if (date.getUTCDate() !== day) throw new Error(`bad time "${text}"`) // 30 February
    return date
  }

  #content (tag: number, what: string): Buffer {
    const [start, end] = this.#take(tag, what)
    return this.#buf.subarray(start, end)
  }
}

// Certificates repeat a handful of OIDs; remember decoded ones (bounded: peers choose what they send).
const oidCache = new Map<string, string>()

/** Decodes OBJECT IDENTIFIER content bytes to dotted form (`1.2.840.10045.4.3.2`). Throws a plain Error. */
export function decodeOid (bytes: Buffer): string {
  const key = bytes.toString('latin1')
  const cached = oidCache.get(key)
  if (cached !== undefined) return cached
  const oid = decodeOidUncached(bytes)
  if (oidCache.size < 256) oidCache.set(key, oid)
  return oid
}

function decodeOidUncached (bytes: Buffer): string {
  if (bytes.length === 0 || (bytes[bytes.length - 1]! & 0x80) !== 0) throw new Error('bad OBJECT IDENTIFIER')
  const arcs: number[] = []
  let value = 0
  for (const b of bytes) {
    if (value === 0 && b === 0x80) throw new Error('OBJECT IDENTIFIER arc is not minimal')
    value = value * 128 + (b & 0x7f)
    if (value > Number.MAX_SAFE_INTEGER) throw new Error('OBJECT IDENTIFIER arc too large')
    if ((b & 0x80) === 0) {
      if (arcs.length === 0) arcs.push(value < 80 ? Math.floor(value / 40) : 2, value < 80 ? value % 40 : value - 80)
      else arcs.push(value)
      value = 0
    }
  }
  return arcs.join('.')
}
