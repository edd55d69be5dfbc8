import assert from 'node:assert/strict'
import { CertificateError } from '../../lib/errors.js'
import { TrustBundle } from '../../lib/identity/bundle.js'
import { assertChain, verifyChain } from '../../lib/identity/verify.js'
import type { ChainUsage } from '../../lib/identity/verify.js'
import { parseCertificate, parseCertificates } from '../../lib/identity/x509.js'
import type { Certificate } from '../../lib/identity/x509.js'
import { TestCA } from '../../lib/testing/test-ca.js'
import type { IssuedLeaf } from '../../lib/testing/test-ca.js'

const DAY = 86_400_000

interface Case {
  name: string
  /** Leaf PEM followed by the chain it ships with. */
  certPem: () => string
  /** Extra pool certificates (PEM), added after the shipped chain. */
  pool?: () => string[]
  roots: () => string[]
  usage?: ChainUsage
  now?: () => Date
  maxDepth?: number
  /** The expected chain as PEMs (leaf first, root last), or the expected error code. */
  expect: (() => string[]) | string
}

/** Flips a bit in the last byte of the DER, which lies in the signature: the certificate still parses. */
function tamper (pem: string): string {
  const der = Buffer.from(parseCertificate(pem).der)
  der[der.length - 1] = der[der.length - 1]! ^ 0x01
  return parseCertificate(der).pem
}

describe('verifyChain', () => {
  let oldCA: TestCA
  let newCA: TestCA
  let otherCA: TestCA
  let impostorCA: TestCA
  let cross: string
  const leaves: Record<string, IssuedLeaf> = {}
  const pems: Record<string, string> = {}

  before(async () => {
    oldCA = await TestCA.create()
    newCA = await TestCA.create({ trustDomain: oldCA.trustDomain })
    otherCA = await TestCA.create()
    impostorCA = await TestCA.create({ trustDomain: oldCA.trustDomain, commonName: oldCA.commonName })
    cross = await oldCA.crossSign(newCA)

    const int = await oldCA.createIntermediate()
    const int2 = await int.createIntermediate()
    const expiredInt = await oldCA.createIntermediate({ notBefore: new Date(Date.now() - 10 * DAY), notAfter: new Date(Date.now() - DAY) })
    const notCaInt = await oldCA.createIntermediate({ isCA: false })
    const pathLen0 = await oldCA.createIntermediate({ pathLen: 0 })
    const underPathLen0 = await pathLen0.createIntermediate()
    // An unrelated intermediate that happens to have the expired one's name (and leads nowhere).
    const lookalike = await impostorCA.createIntermediate({ commonName: parseCertificate(expiredInt.pem).subject.slice(3) })
    pems.int = int.pem
    pems.int2 = int2.pem
    pems.lookalike = lookalike.pem

    leaves.direct = await oldCA.issueLeaf()
    leaves.viaInt = await int.issueLeaf()
    leaves.viaInt2 = await int2.issueLeaf()
    leaves.rotated = await newCA.issueLeaf({ chain: [cross] })
    leaves.expired = await oldCA.issueLeaf({ notBefore: new Date(Date.now() - 3 * DAY), notAfter: new Date(Date.now() - DAY) })
    leaves.notYetValid = await oldCA.issueLeaf({ notBefore: new Date(Date.now() + DAY), notAfter: new Date(Date.now() + 3 * DAY) })
    leaves.viaExpiredInt = await expiredInt.issueLeaf()
    leaves.unknown = await otherCA.issueLeaf()
    leaves.impostor = await impostorCA.issueLeaf()
    leaves.viaNotCa = await notCaInt.issueLeaf()
    leaves.pathLenExceeded = await underPathLen0.issueLeaf()
    leaves.codeSigning = await oldCA.issueLeaf({ extKeyUsage: ['codeSigning'] })
    leaves.noEku = await oldCA.issueLeaf({ extKeyUsage: [] })
    leaves.serverOnly = await oldCA.issueLeaf({ extKeyUsage: ['serverAuth'] })
    leaves.claimsCA = await oldCA.issueLeaf({ isCA: true })
    const lapsedCA = await TestCA.create({ notBefore: new Date(Date.now() - 10 * DAY), notAfter: new Date(Date.now() - DAY) })
    pems.lapsedRoot = lapsedCA.rootPem
    leaves.underLapsedRoot = await lapsedCA.issueLeaf()
  })

  const cases: Case[] = [
    { name: 'a leaf signed directly by a trusted root', certPem: () => leaves.direct!.certPem, roots: () => [oldCA.rootPem], expect: () => [leaves.direct!.leafPem, oldCA.rootPem] },
    { name: 'a leaf via an intermediate', certPem: () => leaves.viaInt!.certPem, roots: () => [oldCA.rootPem], expect: () => [leaves.viaInt!.leafPem, pems.int!, oldCA.rootPem] },
    { name: 'a leaf via two intermediates given out of order', certPem: () => leaves.viaInt2!.leafPem, pool: () => [otherCA.rootPem, pems.int!, pems.int2!], roots: () => [otherCA.rootPem, oldCA.rootPem], expect: () => [leaves.viaInt2!.leafPem, pems.int2!, pems.int!, oldCA.rootPem] },
    { name: 'a rotated leaf when only the old root is trusted (via the cross-signed root)', certPem: () => leaves.rotated!.certPem, roots: () => [oldCA.rootPem], expect: () => [leaves.rotated!.leafPem, cross, oldCA.rootPem] },
    { name: 'a rotated leaf when only the new root is trusted', certPem: () => leaves.rotated!.certPem, roots: () => [newCA.rootPem], expect: () => [leaves.rotated!.leafPem, newCA.rootPem] },
    { name: 'a rotated leaf when both roots are trusted', certPem: () => leaves.rotated!.certPem, roots: () => [oldCA.rootPem, newCA.rootPem], expect: () => [leaves.rotated!.leafPem, newCA.rootPem] },
    { name: 'a leaf without extKeyUsage for clientAuth', certPem: () => leaves.noEku!.certPem, roots: () => [oldCA.rootPem], usage: 'clientAuth', expect: () => [leaves.noEku!.leafPem, oldCA.rootPem] },
    { name: 'a codeSigning leaf when usage is "any"', certPem: () => leaves.codeSigning!.certPem, roots: () => [oldCA.rootPem], usage: 'any', expect: () => [leaves.codeSigning!.leafPem, oldCA.rootPem] },
    { name: 'a chain of 4 with maxDepth 4', certPem: () => leaves.viaInt2!.certPem, roots: () => [oldCA.rootPem], maxDepth: 4, expect: () => [leaves.viaInt2!.leafPem, pems.int2!, pems.int!, oldCA.rootPem] },

    { name: 'an expired leaf', certPem: () => leaves.expired!.certPem, roots: () => [oldCA.rootPem], expect: 'ERR_CONNECT_CERT_EXPIRED' },
    { name: 'a valid leaf checked 100 days later', certPem: () => leaves.direct!.certPem, roots: () => [oldCA.rootPem], now: () => new Date(Date.now() + 100 * DAY), expect: 'ERR_CONNECT_CERT_EXPIRED' },
    { name: 'a not-yet-valid leaf', certPem: () => leaves.notYetValid!.certPem, roots: () => [oldCA.rootPem], expect: 'ERR_CONNECT_CERT_NOT_YET_VALID' },
    { name: 'a leaf under an expired intermediate', certPem: () => leaves.viaExpiredInt!.certPem, roots: () => [oldCA.rootPem], expect: 'ERR_CONNECT_CERT_EXPIRED' },
    { name: 'a leaf under an expired intermediate with a same-name lookalike in the pool', certPem: () => leaves.viaExpiredInt!.leafPem, pool: () => [pems.lookalike!, ...parseCertificates(leaves.viaExpiredInt!.certPem).slice(1).map((c) => c.pem)], roots: () => [oldCA.rootPem], expect: 'ERR_CONNECT_CERT_EXPIRED' },
    { name: 'a leaf of a trusted root that has expired', certPem: () => leaves.underLapsedRoot!.certPem, roots: () => [pems.lapsedRoot!], expect: 'ERR_CONNECT_CERT_EXPIRED' },
    { name: 'a leaf of an unknown CA', certPem: () => leaves.unknown!.certPem, roots: () => [oldCA.rootPem], expect: 'ERR_CONNECT_CERT_UNKNOWN_ISSUER' },
    { name: 'a leaf whose intermediate is missing', certPem: () => leaves.viaInt!.leafPem, roots: () => [oldCA.rootPem], expect: 'ERR_CONNECT_CERT_UNKNOWN_ISSUER' },
    { name: 'a leaf with a tampered signature', certPem: () => tamper(leaves.direct!.leafPem), roots: () => [oldCA.rootPem], expect: 'ERR_CONNECT_CERT_BAD_SIGNATURE' },
    { name: 'a leaf of a CA with the trusted root\'s name but another key', certPem: () => leaves.impostor!.certPem, roots: () => [oldCA.rootPem], expect: 'ERR_CONNECT_CERT_BAD_SIGNATURE' },
    { name: 'a leaf under an intermediate that is not a CA', certPem: () => leaves.viaNotCa!.certPem, roots: () => [oldCA.rootPem], expect: 'ERR_CONNECT_CERT_NOT_CA' },
    { name: 'a leaf beyond an intermediate\'s pathLen', certPem: () => leaves.pathLenExceeded!.certPem, roots: () => [oldCA.rootPem], expect: 'ERR_CONNECT_CERT_NOT_CA' },
    { name: 'a codeSigning-only leaf for clientAuth', certPem: () => leaves.codeSigning!.certPem, roots: () => [oldCA.rootPem], usage: 'clientAuth', expect: 'ERR_CONNECT_CERT_WRONG_USAGE' },
    { name: 'a serverAuth-only leaf for clientAuth', certPem: () => leaves.serverOnly!.certPem, roots: () => [oldCA.rootPem], usage: 'clientAuth', expect: 'ERR_CONNECT_CERT_WRONG_USAGE' },
    { name: 'a leaf that claims to be a CA', certPem: () => leaves.claimsCA!.certPem, roots: () => [oldCA.rootPem], expect: 'ERR_CONNECT_CERT_WRONG_USAGE' },
    { name: 'a chain of 4 with maxDepth 3', certPem: () => leaves.viaInt2!.certPem, roots: () => [oldCA.rootPem], maxDepth: 3, expect: 'ERR_CONNECT_CERT_UNKNOWN_ISSUER' },
    { name: 'an empty root set', certPem: () => leaves.direct!.certPem, roots: () => [], expect: 'ERR_CONNECT_NO_ROOTS' }
  ]

  for (const c of cases) {
    const title = typeof c.expect === 'string' ? `fails with ${c.expect} for ${c.name}` : `accepts ${c.name}`
    it(title, () => {
      const [leaf, ...shipped] = parseCertificates(c.certPem())
      const pool = [...shipped, ...(c.pool?.() ?? []).map((pem) => parseCertificate(pem))]
      const roots = c.roots().map((pem) => parseCertificate(pem))
      const options = {
        ...(c.usage === undefined ? {} : { usage: c.usage }),
        ...(c.now === undefined ? {} : { now: c.now() }),
        ...(c.maxDepth === undefined ? {} : { maxDepth: c.maxDepth })
      }
      // Same answer whether roots come as an array or as a bundle.
      for (const trusted of [roots, TrustBundle.fromCertificates(oldCA.trustDomain, roots)]) {
        const result = verifyChain(leaf!, pool, trusted, options)
        if (typeof c.expect === 'string') {
          assert.equal(result.ok, false, 'expected a failure')
          if (!result.ok) {
            assert.ok(result.error instanceof CertificateError)
            assert.equal(result.error.code, c.expect, result.error.message)
          }
        } else {
          assert.equal(result.ok, true, result.ok ? '' : result.error.message)
          if (result.ok) assert.deepEqual(result.chain.map((cert) => cert.pem), c.expect())
        }
      }
    })
  }

  it('is synchronous and returns frozen results', () => {
    const leaf = parseCertificate(leaves.direct!.leafPem)
    const result = verifyChain(leaf, [], [parseCertificate(oldCA.rootPem)])
    assert.equal(result instanceof Promise, false)
    assert.equal(Object.isFrozen(result), true)
    assert.ok(result.ok && Object.isFrozen(result.chain))
  })

  it('ends without a path when cross-signed certificates form a loop', async () => {
    const a = await TestCA.create()
    const b = await TestCA.create()
    const pool: Certificate[] = [await b.crossSign(a), await a.crossSign(b), a.rootPem, b.rootPem].map((pem) => parseCertificate(pem))
    const leaf = parseCertificate((await a.issueLeaf()).leafPem)
    const unrelated = verifyChain(leaf, pool, [parseCertificate(otherCA.rootPem)])
    assert.equal(unrelated.ok ? 'ok' : unrelated.error.code, 'ERR_CONNECT_CERT_UNKNOWN_ISSUER')
    const viaB = verifyChain(leaf, pool, [parseCertificate(b.rootPem)])
    assert.equal(viaB.ok && viaB.chain.length, 3)
  })

  it('names the failing certificate in the message', () => {
    const [leaf, ...pool] = parseCertificates(leaves.viaExpiredInt!.certPem)
    const result = verifyChain(leaf!, pool, [parseCertificate(oldCA.rootPem)])
    assert.ok(!result.ok)
    assert.match(result.error.message, new RegExp(`^verifying certificate ${leaf!.serial}: intermediate ${pool[0]!.serial} .*expired at `))
  })
})

describe('assertChain', () => {
  it('returns the chain or throws the failure', async () => {
    const ca = await TestCA.create()
    const other = await TestCA.create()
    const root = parseCertificate(ca.rootPem)
    const good = parseCertificate((await ca.issueLeaf()).leafPem)
    assert.deepEqual(assertChain(good, [], [root]).map((c) => c.serial), [good.serial, root.serial])
    const bad = parseCertificate((await other.issueLeaf()).leafPem)
    assert.throws(() => assertChain(bad, [], [root]), (err: unknown) => err instanceof CertificateError && err.code === 'ERR_CONNECT_CERT_UNKNOWN_ISSUER')
  })
})
