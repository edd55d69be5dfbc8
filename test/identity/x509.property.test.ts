import assert from 'node:assert/strict'
import { X509Certificate, createPrivateKey, sign } from 'node:crypto'
import fc from 'fast-check'
import { ConnectError } from '../../lib/errors.js'
import { TrustBundle } from '../../lib/identity/bundle.js'
import { decodeOid, DerReader } from '../../lib/identity/der.js'
import { formatSerial, parseCertificate, parseCertificates, peerSpiffeUri, spiffeUriOf, verifySignature } from '../../lib/identity/x509.js'
import type { Certificate } from '../../lib/identity/x509.js'
import { parseSpiffeId } from '../../lib/spiffe-id.js'
import { TestCA } from '../../lib/testing/test-ca.js'
import type { IssueLeafOptions, IssuedLeaf, TestExtKeyUsage, TestIntermediate } from '../../lib/testing/test-ca.js'

// Issuing a certificate costs a P-256 key generation and a signature (≈ 2.5 ms); parsing costs ≈ 0.15 ms.
const ISSUE_RUNS = 200
const NODE_RUNS = 150
const SERIAL_RUNS = 300
const MUTATION_RUNS = 5000
const READER_RUNS = 5000
const TIME_RUNS = 3000
const OID_RUNS = 2000
const PEM_RUNS = 500

/**
 * fc.check, failing the test with fast-check's report (seed, counterexample) when the property fails, and
 * printing how many generated cases ran: `property: x509 round trip: 200 cases (612 ms)`.
 */
async function checkProperty<Ts> (name: string, property: fc.IRawProperty<Ts>, numRuns: number): Promise<void> {
  const started = performance.now()
  const details = await fc.check(property, { numRuns })
  if (details.failed) throw new Error(fc.defaultReportMessage(details) ?? `property "${name}" failed`, { cause: details.errorInstance })
  assert.equal(details.numRuns, numRuns, `property "${name}": only ${details.numRuns} of ${numRuns} cases ran`)
  console.log(`property: ${name}: ${details.numRuns} cases (${Math.round(performance.now() - started)} ms)`)
}

/** Throws unless `err` is a ConnectError (checked through its brand) carrying one of `codes`. */
function assertConnectError (err: unknown, codes: readonly string[]): asserts err is ConnectError {
  if (err instanceof assert.AssertionError) throw err
  // (Messages built only on failure: reading `stack` is slow under source maps, and this runs thousands of times.)
  if (!(err instanceof ConnectError)) assert.fail(`expected a ConnectError, got ${err instanceof Error ? err.stack : String(err)}`)
  if (!codes.includes(err.code)) assert.fail(`unexpected code ${err.code}: ${err.message}`)
  assert.ok(err.message.length > 0)
}

/** Throws unless `err` is exactly a plain Error, which is all der.ts may throw. */
function assertPlainError (err: unknown): void {
  if (err instanceof assert.AssertionError) throw err
  if (!(err instanceof Error && Object.getPrototypeOf(err) === Error.prototype)) {
    assert.fail(`expected a plain Error, got ${err instanceof Error ? err.stack : String(err)}`)
  }
  assert.ok(err.message.length > 0)
}

const PARSE = ['ERR_CONNECT_CERT_PARSE']
const PARSE_OR_SAN = ['ERR_CONNECT_CERT_PARSE', 'ERR_CONNECT_CERT_SAN']

// ---------------------------------------------------------------------------------------------------------
// An independent DER encoder and tree, to build inputs: strict (minimal lengths), so that decoding then
// encoding an unchanged tree gives back the same bytes.

function header (tag: number, length: number): Buffer {
  if (length < 0x80) return Buffer.from([tag, length])
  const bytes: number[] = []
  for (let n = length; n > 0; n = Math.floor(n / 256)) bytes.unshift(n % 256)
  return Buffer.from([tag, 0x80 | bytes.length, ...bytes])
}

function tlv (tag: number, content: Uint8Array): Buffer {
  return Buffer.concat([header(tag, content.length), content])
}

/** A decoded element; `inner` is its content decoded when that is DER itself (constructed or encapsulating). */
interface Node { tag: number, content: Buffer, lead: Buffer, inner: Node[] | undefined }

function decodeAll (buf: Buffer): Node[] | undefined {
  const out: Node[] = []
  let p = 0
  while (p < buf.length) {
    const tag = buf[p]!
    if ((tag & 0x1f) === 0x1f || p + 1 >= buf.length) return undefined
    let length = buf[p + 1]!
    let q = p + 2
    if (length >= 0x80) {
      const n = length & 0x7f
      if (n === 0 || n > 3 || q + n > buf.length || buf[q] === 0) return undefined
      length = buf.readUIntBE(q, n)
      if (n === 1 && length < 0x80) return undefined
      q += n
    }
    if (q + length > buf.length) return undefined
    out.push(nodeOf(tag, buf.subarray(q, q + length)))
    p = q + length
  }
  return out
}

function nodeOf (tag: number, content: Buffer): Node {
  const none = Buffer.alloc(0)
  if ((tag & 0x20) !== 0 || (tag === 0x04 && content.length > 0)) return { tag, content, lead: none, inner: decodeAll(content) }
  if (tag === 0x03 && content.length > 1 && content[0] === 0) {
    const inner = decodeAll(content.subarray(1))
    return { tag, content, lead: inner === undefined ? none : content.subarray(0, 1), inner }
  }
  return { tag, content, lead: none, inner: undefined }
}

function encodeNode (node: Node): Buffer {
  return tlv(node.tag, node.inner === undefined ? node.content : Buffer.concat([node.lead, ...node.inner.map(encodeNode)]))
}

interface Slot { list: Node[], index: number }

function slotsOf (list: Node[], out: Slot[] = []): Slot[] {
  list.forEach((node, index) => {
    out.push({ list, index })
    if (node.inner !== undefined) slotsOf(node.inner, out)
  })
  return out
}

/** Positions of the first length octet of every element of a well-formed prefix of `buf`. */
function lengthOctets (buf: Buffer): number[] {
  const out: number[] = []
  const visit = (start: number, end: number, depth: number): void => {
    let p = start
    while (p + 1 < end && depth < 12) {
      const tag = buf[p]!
      out.push(p + 1)
      let length = buf[p + 1]!
      let q = p + 2
      if (length >= 0x80) {
        const n = length & 0x7f
        if (n === 0 || n > 3 || q + n > end) return
        length = buf.readUIntBE(q, n)
        q += n
      }
      if (q + length > end) return
      if ((tag & 0x20) !== 0 || tag === 0x04) visit(q, q + length, depth + 1)
      p = q + length
    }
  }
  visit(0, buf.length, 0)
  return out
}

// ---------------------------------------------------------------------------------------------------------
// Mutations of valid certificates.

const INTERESTING_TAGS = [0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x0c, 0x13, 0x14, 0x16, 0x17, 0x18, 0x1e, 0x1f, 0x30, 0x31,
  0x80, 0x81, 0x82, 0x86, 0xa0, 0xa1, 0xa2, 0xa3, 0xbf]

type Mutation =
  | { kind: 'flip', at: number, xor: number }
  | { kind: 'set', at: number, value: number }
  | { kind: 'truncate', at: number }
  | { kind: 'insert', at: number, bytes: Uint8Array }
  | { kind: 'delete', at: number, count: number }
  | { kind: 'length', which: number, value: number, delta: number }
  | { kind: 'retag', which: number, tag: number }
  | { kind: 'replace', which: number, donor: number, from: number }
  | { kind: 'remove', which: number }
  | { kind: 'duplicate', which: number }
  | { kind: 'content', which: number, bytes: Uint8Array }

const byteMutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), xor: fc.integer({ min: 1, max: 255 }) }),
  fc.record({ kind: fc.constant('set' as const), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 8 }) }),
  fc.record({ kind: fc.constant('delete' as const), at: fc.nat(), count: fc.integer({ min: 1, max: 16 }) }),
  fc.record({
    kind: fc.constant('length' as const),
    which: fc.nat(),
    value: fc.oneof(fc.constantFrom(0x00, 0x01, 0x7f, 0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x88, 0xff), fc.integer({ min: 0, max: 255 })),
    delta: fc.integer({ min: -3, max: 3 })
  })
)

const treeMutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('retag' as const), which: fc.nat(), tag: fc.oneof(fc.constantFrom(...INTERESTING_TAGS), fc.integer({ min: 0, max: 255 })) }),
  fc.record({ kind: fc.constant('replace' as const), which: fc.nat(), donor: fc.nat(), from: fc.nat() }),
  fc.record({ kind: fc.constant('remove' as const), which: fc.nat() }),
  fc.record({ kind: fc.constant('duplicate' as const), which: fc.nat() }),
  fc.record({ kind: fc.constant('content' as const), which: fc.nat(), bytes: fc.uint8Array({ maxLength: 24 }) })
)

const mutations = fc.array(fc.oneof(byteMutation, treeMutation), { minLength: 1, maxLength: 3 })

/** Applies one mutation; `donors` are valid DERs whose elements 'replace' may graft in. */
function mutate (buf: Buffer, m: Mutation, donors: readonly Buffer[]): Buffer {
  const len = buf.length
  switch (m.kind) {
    case 'flip': case 'set': {
      if (len === 0) return buf
      const copy = Buffer.from(buf)
      copy[m.at % len] = m.kind === 'flip' ? copy[m.at % len]! ^ m.xor : m.value
      return copy
    }
    case 'truncate': return len === 0 ? buf : Buffer.from(buf.subarray(0, m.at % len))
    case 'insert': {
      const at = m.at % (len + 1)
      return Buffer.concat([buf.subarray(0, at), m.bytes, buf.subarray(at)])
    }
    case 'delete': {
      if (len === 0) return buf
      const at = m.at % len
      return Buffer.concat([buf.subarray(0, at), buf.subarray(at + m.count)])
    }
    case 'length': {
      const octets = lengthOctets(buf)
      if (octets.length === 0) return buf
      const at = octets[m.which % octets.length]!
      const copy = Buffer.from(buf)
      // Either a new first length octet, or the last octet of the length nudged by a few.
      if (m.delta === 0) copy[at] = m.value
      else {
        const n = copy[at]! >= 0x80 ? copy[at]! & 0x7f : 0
        const last = Math.min(at + n, copy.length - 1)
        copy[last] = (copy[last]! + m.delta + 256) % 256
      }
      return copy
    }
    default: {
      const tree = decodeAll(buf)
      if (tree === undefined) return buf
      const slots = slotsOf(tree)
      if (slots.length === 0) return buf
      const { list, index } = slots[m.which % slots.length]!
      const node = list[index]!
      switch (m.kind) {
        case 'retag': list[index] = { ...node, tag: m.tag }; break
        case 'remove': list.splice(index, 1); break
        case 'duplicate': list.splice(index, 0, node); break
        case 'content': list[index] = { tag: node.tag, content: Buffer.from(m.bytes), lead: Buffer.alloc(0), inner: undefined }; break
        case 'replace': {
          const donor = slotsOf(decodeAll(donors[m.donor % donors.length]!)!)
          const from = donor[m.from % donor.length]!
          list[index] = from.list[from.index]!
          break
        }
      }
      return Buffer.concat(tree.map(encodeNode))
    }
  }
}

// ---------------------------------------------------------------------------------------------------------
// Reading DER with every DerReader method, as x509.ts would, recording what was read.

const BASE128 = (n: number): number[] => {
  const out = [n % 128]
  for (let v = Math.floor(n / 128); v > 0; v = Math.floor(v / 128)) out.unshift(0x80 | (v % 128))
  return out
}

/** OBJECT IDENTIFIER content bytes of a dotted OID (X.690 8.19), written independently of der.ts. */
function encodeOid (dotted: string): Buffer {
  const arcs = dotted.split('.').map(Number)
  return Buffer.from([...BASE128(arcs[0]! * 40 + arcs[1]!), ...arcs.slice(2).flatMap(BASE128)])
}

const pad = (n: number, width: number): string => String(n).padStart(width, '0')

/** The UTCTime (tag 0x17) or GeneralizedTime (0x18) text of a date, or undefined when UTCTime cannot hold it. */
function timeText (tag: number, date: Date): string | undefined {
  const year = date.getUTCFullYear()
  if (tag === 0x17 && (year < 1950 || year > 2049)) return undefined
  const rest = [date.getUTCMonth() + 1, date.getUTCDate(), date.getUTCHours(), date.getUTCMinutes(), date.getUTCSeconds()].map((n) => pad(n, 2)).join('')
  return `${tag === 0x17 ? pad(year % 100, 2) : pad(year, 4)}${rest}Z`
}

/** Walks every element of `reader`; returns a trace of what was read. Nested DER in strings is walked too. */
function walk (reader: DerReader, trace: string[], depth = 0): void {
  while (!reader.done) {
    const tag = reader.peekTag()
    const raw = reader.peekRaw()
    assert.equal(raw[0], tag)
    trace.push(`${depth}:${tag.toString(16)}:${raw.length}`)
    switch (tag) {
      case 0x30: walk(reader.sequence(), trace, depth + 1); break
      case 0x31: case 0xa0: case 0xa1: case 0xa2: case 0xa3: walk(reader.explicit(tag), trace, depth + 1); break
      case 0x01: trace.push(String(reader.boolean())); break
      case 0x02: {
        const bytes = reader.integerBytes()
        assert.ok(bytes.length > 0 && raw.subarray(raw.length - bytes.length).equals(bytes))
        trace.push(bytes.toString('hex'))
        break
      }
      case 0x03: {
        const { bytes, unused } = reader.bitStringWithUnused()
        assert.ok(Number.isInteger(unused) && unused >= 0 && unused <= 7 && (unused === 0 || bytes.length > 0))
        if (unused === 0) walkNested(bytes, trace, depth)
        break
      }
      case 0x04: walkNested(reader.octetString(), trace, depth); break
      case 0x06: {
        const bytes = reader.oidBytes()
        let oid: string
        try {
          oid = decodeOid(bytes)
        } catch (err) {
          assertPlainError(err)
          trace.push('bad oid')
          break
        }
        assert.match(oid, /^[0-2]\.\d+(\.\d+)*$/)
        assert.deepEqual(encodeOid(oid), bytes, `OID ${oid} does not re-encode to ${bytes.toString('hex')}`)
        trace.push(oid)
        break
      }
      case 0x17: case 0x18: {
        const text = raw.subarray(raw[1]! < 0x80 ? 2 : 2 + (raw[1]! & 0x7f)).toString('latin1')
        const date = reader.time()
        assert.equal(timeText(tag, date), text, `time ${JSON.stringify(text)} read as ${date.toISOString()}`)
        trace.push(String(date.getTime()))
        break
      }
      default:
        if ((tag & 0xa0) === 0x80) trace.push(reader.implicitPrimitive(tag).toString('hex'))
        else reader.skip()
    }
  }
  reader.end('at the end of the walk')
}

function walkNested (bytes: Buffer, trace: string[], depth: number): void {
  if (depth > 8 || bytes.length === 0) return
  try {
    walk(new DerReader(bytes), trace, depth + 1)
  } catch (err) {
    assertPlainError(err)
    trace.push('nested error')
  }
}

/** Walks a reader, returning the trace and the error that stopped the walk, if any (which must be plain). */
function walkAll (reader: () => DerReader): { trace: string[], error: string | undefined } {
  const trace: string[] = []
  try {
    walk(reader(), trace)
    return { trace, error: undefined }
  } catch (err) {
    assertPlainError(err)
    return { trace, error: (err as Error).message }
  }
}

// ---------------------------------------------------------------------------------------------------------
// Generated certificate options.

const dnsLabel = fc.stringMatching(/^[a-z0-9](?:[a-z0-9-]{0,14}[a-z0-9])?$/)
const name = fc.oneof(dnsLabel, fc.constantFrom('web', 'db', 'a', 'x-1'))
const dnsName = fc.tuple(fc.boolean(), fc.array(dnsLabel, { minLength: 1, maxLength: 4 }))
  .map(([wildcard, labels]) => `${wildcard ? '*.' : ''}${labels.join('.')}`)

const MIN_TIME = Date.UTC(1950, 0, 1) // UTCTime's first year; TestCA's encoder does not go earlier
const MAX_TIME = Date.UTC(9999, 11, 31, 23, 59, 59, 999)
const instant = fc.oneof(
  fc.integer({ min: MIN_TIME, max: MAX_TIME }),
  fc.constantFrom(MIN_TIME, Date.UTC(1999, 11, 31, 23, 59, 59), Date.UTC(2049, 11, 31, 23, 59, 59, 999), Date.UTC(2050, 0, 1),
    Date.UTC(2024, 1, 29, 12), MAX_TIME, Date.now())
).map((t) => new Date(t))
const validity = fc.oneof(
  fc.tuple(instant, fc.integer({ min: 0, max: 20 * 365 * 86_400_000 }))
    .map(([notBefore, ms]) => ({ notBefore, notAfter: new Date(Math.min(notBefore.getTime() + ms, MAX_TIME)) })),
  // Either order: the parser reports the dates, verification judges them.
  fc.record({ notBefore: instant, notAfter: instant })
)

// RDN-special characters, spaces and '#' (special at the start and end), non-ASCII, and any grapheme.
const commonName = fc.oneof(
  fc.constant(''),
  fc.string({ unit: fc.constantFrom(' ', '#', 'a'), minLength: 1, maxLength: 3 }),
  fc.string({ unit: fc.constantFrom(...Array.from(' #,+"\\<>;=aZ9-.é中😀')), minLength: 1, maxLength: 10 }),
  fc.string({ unit: 'grapheme', minLength: 1, maxLength: 10 })
)
const asciiUri = fc.string({ unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)), maxLength: 40 })
const uri = fc.oneof(asciiUri, asciiUri.map((s) => `spiffe://${s}`), fc.constant('spiffe://td.consul/ns/default/dc/dc1/svc/a, URI:spiffe://evil'))
const EKUS: readonly TestExtKeyUsage[] = ['serverAuth', 'clientAuth', 'codeSigning', 'emailProtection']
const EKU_OIDS: Readonly<Record<TestExtKeyUsage, string>> = {
  serverAuth: '1.3.6.1.5.5.7.3.1', clientAuth: '1.3.6.1.5.5.7.3.2', codeSigning: '1.3.6.1.5.5.7.3.3', emailProtection: '1.3.6.1.5.5.7.3.4'
}

interface LeafInput {
  service: string
  namespace: string
  partition: string
  datacenter: string
  dnsNames: string[]
  /** undefined: TestCA's default, the service name. */
  commonName: string | undefined
  /** undefined: the SPIFFE ID built from the fields above. */
  uris: string[] | undefined
  notBefore: Date
  notAfter: Date
  /** undefined: TestCA's default, serverAuth + clientAuth. */
  extKeyUsage: TestExtKeyUsage[] | undefined
  isCA: boolean
  byIntermediate: boolean
}

const leafInput: fc.Arbitrary<LeafInput> = fc.record({
  service: name,
  namespace: fc.oneof(fc.constant('default'), name),
  partition: fc.oneof(fc.constant('default'), name),
  datacenter: name,
  dnsNames: fc.array(dnsName, { maxLength: 3 }),
  commonName: fc.option(commonName, { nil: undefined, freq: 2 }),
  uris: fc.option(fc.array(uri, { maxLength: 3 }), { nil: undefined, freq: 3 }),
  validity,
  extKeyUsage: fc.option(fc.shuffledSubarray([...EKUS]), { nil: undefined }),
  isCA: fc.boolean(),
  byIntermediate: fc.boolean()
}).map(({ validity: v, ...rest }) => ({ ...rest, ...v }))

function optionsOf (input: LeafInput): IssueLeafOptions {
  return {
    service: input.service,
    namespace: input.namespace,
    partition: input.partition,
    datacenter: input.datacenter,
    dnsNames: input.dnsNames,
    notBefore: input.notBefore,
    notAfter: input.notAfter,
    isCA: input.isCA,
    ...(input.commonName === undefined ? {} : { commonName: input.commonName }),
    ...(input.uris === undefined ? {} : { uris: input.uris }),
    ...(input.extKeyUsage === undefined ? {} : { extKeyUsage: input.extKeyUsage })
  }
}

/** Consul's service SPIFFE ID shape, written out here rather than taken from the library. */
function expectedUri (trustDomain: string, input: LeafInput): string {
  const ap = input.partition === 'default' ? '' : `/ap/${input.partition}`
  return `spiffe://${trustDomain}${ap}/ns/${input.namespace}/dc/${input.datacenter}/svc/${input.service}`
}

/** DER times hold whole seconds: TestCA drops the milliseconds. */
const toSecond = (d: Date): number => Math.floor(d.getTime() / 1000) * 1000

/**
 * Reads one RFC 4514 attribute value back, checking that every special character was escaped (so the
 * string cannot fake a second attribute or RDN), leading space or '#' and trailing space included.
 */
function unescapeRdnValue (value: string): string {
  let out = ''
  for (let i = 0; i < value.length; i++) {
    const c = value[i]!
    if (c === '\\') {
      const next = value[++i]
      assert.ok(next !== undefined && '\\,+"<>;= #'.includes(next), `needless or dangling escape in ${JSON.stringify(value)}`)
      out += next
    } else {
      assert.ok(!'\\,+"<>;='.includes(c), `unescaped ${JSON.stringify(c)} in ${JSON.stringify(value)}`)
      out += c
    }
  }
  if (/^[ #]/.test(out)) assert.ok(value.startsWith('\\'), `leading ${JSON.stringify(out[0])} not escaped in ${JSON.stringify(value)}`)
  if (out.endsWith(' ')) assert.ok(value.endsWith('\\ '), `trailing space not escaped in ${JSON.stringify(value)}`)
  return out
}

/** Node's `subjectAltName`: `URI:a, DNS:b`, values JSON-quoted when they hold special characters. */
function nodeSans (text: string | undefined): { uris: string[], dns: string[] } {
  const out = { uris: [] as string[], dns: [] as string[] }
  const all = text ?? ''
  const entry = /([A-Za-z ]+):("(?:[^"\\]|\\.)*"|[^,]*)(?:, |$)/y
  while (entry.lastIndex < all.length) {
    const m = entry.exec(all)
    assert.ok(m !== null, `could not read node's subjectAltName ${JSON.stringify(all)}`)
    const value = m[2]!.startsWith('"') ? JSON.parse(m[2]!) as string : m[2]!
    if (m[1] === 'URI') out.uris.push(value)
    else if (m[1] === 'DNS') out.dns.push(value)
  }
  return out
}

// ---------------------------------------------------------------------------------------------------------

describe('x509 (properties)', () => {
  let ca: TestCA
  let rootCert: Certificate
  let int: TestIntermediate
  let intCert: Certificate
  /** Valid certificates to mutate, each with the certificate that signed it. */
  let bases: Array<{ cert: Certificate, issuer: Certificate }>
  let donors: Buffer[]
  let keyPem: string

  before(async () => {
    ca = await TestCA.create()
    rootCert = parseCertificate(ca.rootPem)
    int = await ca.createIntermediate({ pathLen: 1 })
    intCert = parseCertificate(int.pem)
    const leaf = parseCertificate((await ca.issueLeaf({ dnsNames: ['web.example', '*.web.example'] })).leafPem)
    const intLeaf = parseCertificate((await int.issueLeaf({ service: 'db', partition: 'ap1' })).leafPem)
    const bare = await ca.issueLeaf({ commonName: '', extKeyUsage: [], notAfter: new Date(Date.UTC(2051, 0, 1)) })
    keyPem = bare.keyPem
    const other = await TestCA.create({ trustDomain: 'other.consul', commonName: 'Other, "Root" CA+1' })
    const otherRoot = parseCertificate(other.rootPem)
    bases = [
      { cert: leaf, issuer: rootCert },
      { cert: intLeaf, issuer: intCert },
      { cert: intCert, issuer: rootCert },
      { cert: rootCert, issuer: rootCert },
      { cert: parseCertificate(bare.leafPem), issuer: rootCert },
      { cert: otherRoot, issuer: otherRoot }
    ]
    donors = bases.map((b) => b.cert.der)
  })

  async function issue (input: LeafInput): Promise<{ issued: IssuedLeaf, issuer: Certificate, cert: Certificate }> {
    const issued = await (input.byIntermediate ? int : ca).issueLeaf(optionsOf(input))
    return { issued, issuer: input.byIntermediate ? intCert : rootCert, cert: parseCertificate(issued.leafPem) }
  }

  it(`round trip: a TestCA leaf parses to the fields it was issued with (${ISSUE_RUNS} generated leaves)`, async () => {
    await checkProperty('x509 round trip', fc.asyncProperty(leafInput, async (input) => {
      const { issued, issuer, cert } = await issue(input)
      const uris = input.uris ?? [expectedUri(ca.trustDomain, input)]

      assert.equal(cert.serial, issued.serial)
      assert.match(cert.serial, /^[0-9a-f]{2}(:[0-9a-f]{2})*$/)
      assert.equal(cert.serialHex, cert.serial.replaceAll(':', ''))
      assert.deepEqual(cert.uriSans, uris)
      assert.deepEqual(cert.dnsSans, input.dnsNames)
      assert.equal(cert.notBefore.getTime(), toSecond(input.notBefore))
      assert.equal(cert.notAfter.getTime(), toSecond(input.notAfter))
      assert.equal(cert.notBefore.getTime(), issued.notBefore.getTime())
      assert.equal(cert.notAfter.getTime(), issued.notAfter.getTime())
      assert.equal(cert.isCA, input.isCA)
      assert.equal(cert.pathLen, undefined)
      assert.deepEqual(cert.keyUsage, input.isCA
        ? ['digitalSignature', 'keyCertSign', 'cRLSign']
        : ['digitalSignature', 'keyEncipherment', 'dataEncipherment', 'keyAgreement'])
      const ekus = input.extKeyUsage ?? ['serverAuth', 'clientAuth']
      assert.deepEqual(cert.extKeyUsage, ekus.length === 0 ? undefined : ekus)
      const cn = input.commonName ?? input.service
      if (cn === '') assert.equal(cert.subject, '')
      else {
        assert.ok(cert.subject.startsWith('CN='), cert.subject)
        assert.equal(unescapeRdnValue(cert.subject.slice(3)), cn)
      }
      assert.equal(cert.issuer, issuer.subject)
      if (!input.byIntermediate) assert.equal(cert.issuer, `CN=${ca.commonName}`)
      assert.ok(cert.rawIssuer.equals(issuer.rawSubject))
      assert.equal(cert.authorityKeyId, input.byIntermediate ? int.subjectKeyId : ca.subjectKeyId)
      assert.match(cert.subjectKeyId ?? '', /^[0-9a-f]{2}(:[0-9a-f]{2}){31}$/)
      assert.deepEqual(cert.unhandledCriticalExtensions, [])
      assert.equal(cert.signatureAlgorithm, '1.2.840.10045.4.3.2')
      assert.equal(verifySignature(cert, issuer), true)
      assert.equal(verifySignature(cert, input.byIntermediate ? rootCert : intCert), false)

      // The SPIFFE ID: the one URI SAN when there is exactly one spiffe:// URI, and both readers agree.
      if (uris.length === 1 && uris[0]!.startsWith('spiffe://')) {
        assert.equal(spiffeUriOf(cert), uris[0])
        assert.equal(peerSpiffeUri(cert.der), uris[0])
      } else {
        assert.throws(() => spiffeUriOf(cert), (err) => { assertConnectError(err, ['ERR_CONNECT_CERT_SAN']); return true })
        assert.throws(() => peerSpiffeUri(cert.der), (err) => { assertConnectError(err, ['ERR_CONNECT_CERT_SAN']); return true })
      }
      if (input.uris === undefined) {
        const id = parseSpiffeId(spiffeUriOf(cert))
        assert.deepEqual({ ...id }, {
          kind: 'service', trustDomain: ca.trustDomain, partition: input.partition, namespace: input.namespace,
          datacenter: input.datacenter, service: input.service, uri: uris[0]
        })
      }

      // Every input form gives the same certificate; the chain in certPem comes out in order.
      assert.equal(cert.pem, issued.leafPem)
      assert.equal(parseCertificate(cert.der).fingerprint256, cert.fingerprint256)
      assert.equal(parseCertificate(new Uint8Array(cert.der)).fingerprint256, cert.fingerprint256)
      assert.deepEqual(parseCertificates(issued.certPem).map((c) => c.fingerprint256),
        [cert.fingerprint256, ...(input.byIntermediate ? [intCert.fingerprint256] : [])])
    }), ISSUE_RUNS)
  })

  it(`serial round trip: any positive serial of up to 20 octets, in a re-signed leaf, reads as Consul's colon-hex (${SERIAL_RUNS} cases)`, async () => {
    // TestCA picks serials at random; to choose them, replace the serial of a leaf and sign it again with the root key.
    const rootKey = createPrivateKey(ca.keyPem)
    const rootNative = new X509Certificate(ca.rootPem)
    const [tbs, algorithm] = decodeAll(bases[0]!.cert.der)![0]!.inner!
    const serial = fc.oneof(
      fc.bigInt({ min: 1n, max: (1n << 160n) - 1n }),
      fc.integer({ min: 1, max: 20 }).chain((octets) => fc.bigInt({ min: 1n << BigInt(8 * octets - 1), max: (1n << BigInt(8 * octets)) - 1n })),
      fc.bigInt({ min: 1n, max: 0x1_0000n })
    )
    await checkProperty('x509 serial round trip', fc.property(serial, (n) => {
      let hex = n.toString(16)
      if (hex.length % 2 === 1) hex = `0${hex}`
      // DER INTEGER: two's complement, so a leading 0x00 keeps a high first bit positive.
      const content = Buffer.from((Number.parseInt(hex.slice(0, 2), 16) >= 0x80 ? '00' : '') + hex, 'hex')
      const fields = [...tbs!.inner!]
      fields[1] = nodeOf(0x02, content)
      const tbsDer = tlv(0x30, Buffer.concat(fields.map(encodeNode)))
      const der = tlv(0x30, Buffer.concat([tbsDer, encodeNode(algorithm!), tlv(0x03, Buffer.concat([Buffer.from([0]), sign('sha256', tbsDer, rootKey)]))]))

      const cert = parseCertificate(der)
      assert.equal(cert.serialHex, hex)
      assert.equal(cert.serial, hex.match(/../g)!.join(':'))
      assert.equal(verifySignature(cert, rootCert), true)
      const native = new X509Certificate(der)
      assert.equal(BigInt(`0x${native.serialNumber}`), n)
      assert.equal(formatSerial(native.serialNumber), cert.serial)
      assert.equal(native.verify(rootNative.publicKey), true)
    }), SERIAL_RUNS)
  })

  it(`agrees with node's X509Certificate on serial, validity, SANs, CA flag and more (${NODE_RUNS} generated leaves)`, async () => {
    const rootNative = new X509Certificate(ca.rootPem)
    const intNative = new X509Certificate(int.pem)
    await checkProperty('x509 agrees with node:crypto X509Certificate', fc.asyncProperty(leafInput, async (input) => {
      const { issuer, cert } = await issue(input)
      const native = new X509Certificate(cert.der)
      assert.equal(BigInt(`0x${native.serialNumber}`), BigInt(`0x${cert.serialHex}`))
      assert.equal(cert.notBefore.getTime(), new Date(native.validFrom).getTime(), native.validFrom)
      assert.equal(cert.notAfter.getTime(), new Date(native.validTo).getTime(), native.validTo)
      const sans = nodeSans(native.subjectAltName)
      assert.deepEqual(cert.uriSans, sans.uris)
      assert.deepEqual(cert.dnsSans, sans.dns)
      assert.equal(cert.isCA, native.ca)
      // Node's misnamed `keyUsage` is the extended key usage, as OIDs.
      assert.deepEqual(cert.extKeyUsage?.map((u) => EKU_OIDS[u as TestExtKeyUsage] ?? u), native.keyUsage)
      assert.equal(cert.fingerprint256, native.fingerprint256.toLowerCase())
      assert.equal(cert.publicKey.equals(native.publicKey), true)
      const issuerNative = input.byIntermediate ? intNative : rootNative
      assert.equal(native.checkIssued(issuerNative), true)
      assert.equal(verifySignature(cert, issuer), native.verify(issuerNative.publicKey))
    }), NODE_RUNS)
  })

  it(`mutated DER either parses or throws ERR_CONNECT_CERT_PARSE, and every reader agrees (${MUTATION_RUNS} cases)`, async () => {
    const input = fc.oneof(
      { weight: 6, arbitrary: fc.tuple(fc.nat(), mutations).map(([base, ms]) => ({ base, ms, random: undefined })) },
      { weight: 1, arbitrary: fc.uint8Array({ maxLength: 600 }).map((random) => ({ base: 0, ms: [] as Mutation[], random })) },
      // Random content behind a well-formed outer SEQUENCE header, so the walk goes further in.
      { weight: 1, arbitrary: fc.uint8Array({ maxLength: 600 }).map((random) => ({ base: 0, ms: [] as Mutation[], random: tlv(0x30, random) })) }
    )
    let parsed = 0
    await checkProperty('x509 mutated DER', fc.property(input, ({ base: which, ms, random }) => {
      const base = bases[which % bases.length]!
      const der = random === undefined ? ms.reduce((buf, m) => mutate(buf, m, donors), base.cert.der) : Buffer.from(random)

      let cert: Certificate | undefined
      try {
        cert = parseCertificate(der)
      } catch (err) {
        assertConnectError(err, PARSE)
      }
      let list: Certificate[] | undefined
      try {
        list = parseCertificates(der)
      } catch (err) {
        assertConnectError(err, PARSE)
      }
      let peer: string | ConnectError
      try {
        peer = peerSpiffeUri(der)
        assert.ok(peer.startsWith('spiffe://'))
      } catch (err) {
        assertConnectError(err, PARSE_OR_SAN)
        peer = err
      }
      if (cert === undefined) return
      parsed++

      assert.equal(Object.isFrozen(cert), true)
      assert.ok(cert.der.equals(der))
      assert.deepEqual(list?.map((c) => c.fingerprint256), [cert.fingerprint256])
      assert.match(cert.serial, /^[0-9a-f]{2}(:[0-9a-f]{2})*$/)
      assert.equal(cert.serialHex, cert.serial.replaceAll(':', ''))
      assert.ok(Number.isFinite(cert.notBefore.getTime()) && Number.isFinite(cert.notAfter.getTime()))
      for (const san of [...cert.uriSans, ...cert.dnsSans]) assert.match(san, /^[\x00-\x7f]*$/) // eslint-disable-line no-control-regex
      assert.equal(typeof cert.subject, 'string')
      assert.equal(typeof cert.issuer, 'string')
      assert.ok(cert.pathLen === undefined || (Number.isInteger(cert.pathLen) && cert.pathLen >= 0))
      assert.ok(parseCertificate(cert.pem).der.equals(der))
      // The per-connection reader gives what the full parse gives.
      let own: string | ConnectError
      try {
        own = spiffeUriOf(cert)
      } catch (err) {
        assertConnectError(err, ['ERR_CONNECT_CERT_SAN'])
        own = err
      }
      if (typeof own === 'string') assert.equal(peer, own)
      else assert.equal(typeof peer === 'string' ? peer : peer.code, own.code)
      // The signature holds exactly when the signed bytes and the signature are the original ones.
      const intact = cert.rawTbs.equals(base.cert.rawTbs) && cert.signature.equals(base.cert.signature)
      assert.equal(verifySignature(cert, base.issuer), random === undefined && intact)
    }), MUTATION_RUNS)
    console.log(`property: x509 mutated DER: ${parsed} of ${MUTATION_RUNS} cases parsed to a certificate`)
    assert.ok(parsed > MUTATION_RUNS / 100, 'the mutations should leave some certificates parseable')
  })

  it(`DerReader reads any bytes with plain Errors only, the same through a view, and re-encodes what it reads (${READER_RUNS} cases)`, async () => {
    const bytes = fc.oneof(
      fc.uint8Array({ maxLength: 300 }),
      fc.array(fc.constantFrom(...INTERESTING_TAGS, 0x00, 0x01, 0x02, 0x03, 0x7f, 0x80, 0x81, 0x82, 0x84, 0xff), { maxLength: 60 }).map((a) => Uint8Array.from(a)),
      fc.tuple(fc.nat(), mutations).map(([base, ms]) => {
        const der = bases[base % bases.length]!.cert.der
        return ms.reduce((buf, m) => mutate(buf, m, donors), der)
      })
    )
    await checkProperty('DerReader any bytes', fc.property(bytes, fc.nat(8), fc.nat(8), (input, before, after) => {
      const copy = Buffer.from(input)
      const direct = walkAll(() => new DerReader(copy))
      // The same bytes inside a larger buffer (of 0x30 bytes, which read as SEQUENCE headers), as a view and
      // as bounds: nothing outside them is read.
      const padded = new Uint8Array(before + input.length + after).fill(0x30)
      padded.set(input, before)
      assert.deepEqual(walkAll(() => new DerReader(new Uint8Array(padded.buffer, before, input.length))), direct)
      assert.deepEqual(walkAll(() => new DerReader(padded, before, before + input.length)), direct)
      assert.ok(Buffer.from(input).equals(copy), 'the reader must not modify its input')
    }), READER_RUNS)
  })

  it(`DerReader.time accepts exactly the valid UTCTime/GeneralizedTime texts and reads their date (${TIME_RUNS} cases)`, async () => {
    const digits = (n: number): fc.Arbitrary<string> => fc.string({ unit: fc.constantFrom(...'0123456789'), minLength: n, maxLength: n })
    const fields = fc.record({
      generalized: fc.boolean(),
      year: fc.integer({ min: 0, max: 9999 }),
      month: fc.integer({ min: 0, max: 13 }),
      day: fc.integer({ min: 0, max: 32 }),
      hour: fc.integer({ min: 0, max: 25 }),
      minute: fc.integer({ min: 0, max: 61 }),
      second: fc.integer({ min: 0, max: 61 })
    })
    const isLeap = (y: number): boolean => (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0
    const daysIn = (y: number, m: number): number => [31, isLeap(y) ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][m - 1]!
    const structured = fields.map((f) => {
      const year = f.generalized ? f.year : 1950 + (f.year % 100)
      const text = `${f.generalized ? pad(year, 4) : pad(year % 100, 2)}${[f.month, f.day, f.hour, f.minute, f.second].map((n) => pad(n, 2)).join('')}Z`
      const valid = f.month >= 1 && f.month <= 12 && f.day >= 1 && f.day <= daysIn(year, f.month) && f.hour <= 23 && f.minute <= 59 && f.second <= 59
      return { tag: f.generalized ? 0x18 : 0x17, text, valid: valid as boolean | undefined }
    })
    const noisy = fc.tuple(fc.constantFrom(0x17, 0x18), fc.oneof(
      fc.tuple(digits(12), fc.constantFrom('Z', 'z', '', '+0000', '.5Z')).map(([d, z]) => d + z),
      fc.tuple(digits(14), fc.constantFrom('Z', '', '.000Z', '-0100')).map(([d, z]) => d + z),
      fc.string({ unit: fc.constantFrom(...'0123456789Z.+- '), maxLength: 18 })
    )).map(([tag, text]) => ({ tag, text, valid: undefined }))
    await checkProperty('DerReader time', fc.property(fc.oneof(structured, noisy), ({ tag, text, valid }) => {
      let date: Date
      try {
        date = new DerReader(tlv(tag, Buffer.from(text, 'latin1'))).time()
      } catch (err) {
        assertPlainError(err)
        assert.notEqual(valid, true, `rejected the valid time ${JSON.stringify(text)}: ${(err as Error).message}`)
        return
      }
      assert.notEqual(valid, false, `accepted the invalid time ${JSON.stringify(text)} as ${date.toISOString()}`)
      assert.equal(timeText(tag, date), text, `read ${JSON.stringify(text)} as ${date.toISOString()}`)
    }), TIME_RUNS)
  })

  it(`decodeOid reads every encoded OID back, and any bytes either decode to an OID that re-encodes to them or throw (${OID_RUNS} cases)`, async () => {
    const arc = fc.oneof(fc.nat(200), fc.nat(), fc.maxSafeNat())
    const oid = fc.oneof(
      fc.tuple(fc.constantFrom(0, 1), fc.nat(39), fc.array(arc, { maxLength: 8 })),
      fc.tuple(fc.constant(2), fc.oneof(fc.nat(200), fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER - 80 })), fc.array(arc, { maxLength: 8 }))
    ).map(([a, b, rest]) => [a, b, ...rest].join('.'))
    const input = fc.oneof(
      oid.map((dotted) => ({ dotted, bytes: encodeOid(dotted) })),
      fc.uint8Array({ maxLength: 24 }).map((bytes) => ({ dotted: undefined, bytes: Buffer.from(bytes) }))
    )
    await checkProperty('decodeOid', fc.property(input, ({ dotted, bytes }) => {
      let decoded: string
      try {
        decoded = decodeOid(bytes)
      } catch (err) {
        assertPlainError(err)
        assert.equal(dotted, undefined, `rejected the OID ${dotted}`)
        return
      }
      if (dotted !== undefined) assert.equal(decoded, dotted)
      assert.deepEqual(encodeOid(decoded), bytes)
      assert.equal(decodeOid(Buffer.from(bytes)), decoded) // and again, from the cache
    }), OID_RUNS)
  })

  it(`PEM bundles with any whitespace, line width, CRLF and text between blocks give each block's DER, in order (${PEM_RUNS} cases)`, async () => {
    const block = fc.record({
      which: fc.nat(),
      width: fc.oneof(fc.constant(64), fc.integer({ min: 1, max: 120 })),
      eol: fc.constantFrom('\n', '\r\n', '\r\n\r\n', ' \n', '\t\r\n', '\n\n'),
      first: fc.constantFrom('', '\n', '\r\n', '  ')
    })
    const between = fc.oneof(
      fc.constantFrom('', '\n', '\r\n', ' \t \r\n\r\n', 'subject=CN=web\nissuer=CN=root\n', '-----END CERTIFICATE-----\n',
        '-----BEGIN DANGLING-----\n', '# comment with -----\n'),
      fc.string({ maxLength: 30 }),
      fc.string({ unit: 'grapheme', maxLength: 10 }),
      fc.constant('key').map(() => keyPem)
    ).filter((s) => !s.includes('-----BEGIN CERTIFICATE'))
    const bundle = fc.tuple(fc.array(fc.tuple(between, block), { minLength: 1, maxLength: 6 }), between)
    await checkProperty('x509 PEM bundles', fc.property(bundle, ([parts, tail]) => {
      const ders: Buffer[] = []
      let text = ''
      for (const [junk, b] of parts) {
        const der = bases[b.which % bases.length]!.cert.der
        ders.push(der)
        const lines = der.toString('base64').match(new RegExp(`.{1,${b.width}}`, 'g'))!
        const pem = `-----BEGIN CERTIFICATE-----${b.first}${lines.join(b.eol)}${b.eol}-----END CERTIFICATE-----`
        assert.ok(parseCertificate(pem).der.equals(der))
        text += junk + pem
      }
      text += tail
      const certs = parseCertificates(text)
      assert.deepEqual(certs.map((c) => c.der.toString('hex')), ders.map((d) => d.toString('hex')))
      // Bytes read the same, unless they start with 0x30 ('0'), which marks DER.
      if (!text.startsWith('0')) assert.deepEqual(parseCertificates(Buffer.from(text)).map((c) => c.fingerprint256), certs.map((c) => c.fingerprint256))
      // A trust bundle keeps each distinct certificate once, first occurrence first.
      const unique = [...new Set(certs.map((c) => c.fingerprint256))]
      assert.deepEqual(TrustBundle.fromPem('td.consul', text).roots.map((c) => c.fingerprint256), unique)
    }), PEM_RUNS)
  })

  describe('regressions: bugs found while writing these properties', () => {
    function timeOf (tag: number, text: string): Date {
      return new DerReader(tlv(tag, Buffer.from(text, 'latin1'))).time()
    }

    it('rejects times whose month, minute or second is out of range instead of rolling them over', () => {
      for (const text of ['491301000000Z', '490101006000Z', '490101000060Z', '490101240000Z']) {
        assert.throws(() => timeOf(0x17, text), /bad time/, text)
      }
      assert.throws(() => timeOf(0x18, '20501301000000Z'), /bad time/)
    })

    it('reads GeneralizedTime years 0–99 as such, not as 1900–1999', () => {
      assert.equal(timeOf(0x18, '00500101000000Z').getUTCFullYear(), 50)
      assert.equal(timeOf(0x18, '00000229120000Z').toISOString(), '0000-02-29T12:00:00.000Z')
      assert.equal(timeOf(0x17, '500101000000Z').getUTCFullYear(), 1950)
    })

    it('rejects a certificate whose notAfter has month 13 (it was read as January of the next year)', () => {
      const der = bases[0]!.cert.der
      const tree = decodeAll(der)!
      const validity = tree[0]!.inner![0]!.inner![4]!
      assert.equal(validity.tag, 0x30)
      validity.inner![1] = nodeOf(0x17, Buffer.from('491301000000Z', 'latin1'))
      const bad = Buffer.concat(tree.map(encodeNode))
      assert.throws(() => parseCertificate(bad), (err) => { assertConnectError(err, PARSE); return /bad time/.test(err.message) })
    })

    it('escapes a subject CN that is a single space as "\\ ", not "\\\\ "', async () => {
      const cert = parseCertificate((await ca.issueLeaf({ commonName: ' ' })).leafPem)
      assert.equal(cert.subject, 'CN=\\ ')
      assert.equal(unescapeRdnValue(cert.subject.slice(3)), ' ')
      for (const [cn, subject] of [['  ', 'CN=\\ \\ '], ['# a ', 'CN=\\# a\\ '], ['a,b', 'CN=a\\,b'], ['\\', 'CN=\\\\']]) {
        assert.equal(parseCertificate((await ca.issueLeaf({ commonName: cn! })).leafPem).subject, subject)
      }
    })
  })
})
