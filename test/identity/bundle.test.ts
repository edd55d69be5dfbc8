import assert from 'node:assert/strict'
import { CertificateError, InvalidOptionError } from '../../lib/errors.js'
import { TrustBundle } from '../../lib/identity/bundle.js'
import { parseCertificate } from '../../lib/identity/x509.js'
import { TestCA } from '../../lib/testing/test-ca.js'

describe('TrustBundle', () => {
  let oldCA: TestCA
  let newCA: TestCA
  let impostorCA: TestCA

  before(async () => {
    oldCA = await TestCA.create()
    newCA = await TestCA.create({ trustDomain: oldCA.trustDomain })
    impostorCA = await TestCA.create({ trustDomain: oldCA.trustDomain, commonName: oldCA.commonName })
  })

  describe('.fromPem', () => {
    it('trusts every block of a PEM string that holds several', () => {
      const bundle = TrustBundle.fromPem(oldCA.trustDomain, oldCA.rootPem + newCA.rootPem)
      assert.equal(bundle.size, 2)
      assert.deepEqual(bundle.pem, [oldCA.rootPem, newCA.rootPem])
      assert.deepEqual(bundle.roots.map((r) => r.serial), [oldCA.serial, newCA.serial])
      assert.equal(bundle.trustDomain, oldCA.trustDomain)
    })

    it('accepts an array of PEM strings and drops duplicates', () => {
      const bundle = TrustBundle.fromPem(oldCA.trustDomain, [oldCA.rootPem, newCA.rootPem + oldCA.rootPem])
      assert.deepEqual(bundle.pem, [oldCA.rootPem, newCA.rootPem])
    })

    it('gives an empty bundle for empty input', () => {
      assert.equal(TrustBundle.fromPem('td.consul', '').size, 0)
      assert.equal(TrustBundle.fromPem('td.consul', []).size, 0)
    })

    it('is frozen, roots and pem included', () => {
      const bundle = TrustBundle.fromPem(oldCA.trustDomain, oldCA.rootPem)
      assert.equal(Object.isFrozen(bundle), true)
      assert.equal(Object.isFrozen(bundle.roots), true)
      assert.equal(Object.isFrozen(bundle.pem), true)
      assert.throws(() => { (bundle.roots as unknown[]).push(1) }, TypeError)
    })

    it('throws ERR_CONNECT_CERT_PARSE for a malformed block', () => {
      // Deterministic corruption: the second base64 line becomes characters outside the alphabet.
      const lines = oldCA.rootPem.split('\n')
      lines[2] = '!'.repeat(lines[2]!.length)
      assert.throws(() => TrustBundle.fromPem('td.consul', lines.join('\n')),
        (err: unknown) => err instanceof CertificateError && err.code === 'ERR_CONNECT_CERT_PARSE')
    })

    for (const td of ['', 'Upper.consul', 'spiffe://td.consul', 'td.consul/ns']) {
      it(`throws InvalidOptionError for trust domain "${td}"`, () => {
        assert.throws(() => TrustBundle.fromPem(td, oldCA.rootPem), (err: unknown) => err instanceof InvalidOptionError && err.field === 'trustDomain')
      })
    }
  })

  describe('#has', () => {
    it('is true for a trusted root only', async () => {
      const bundle = TrustBundle.fromPem(oldCA.trustDomain, oldCA.rootPem)
      assert.equal(bundle.has(parseCertificate(oldCA.rootPem)), true)
      assert.equal(bundle.has(parseCertificate(newCA.rootPem)), false)
      assert.equal(bundle.has(parseCertificate(impostorCA.rootPem)), false)
      assert.equal(bundle.has(parseCertificate((await oldCA.issueLeaf()).leafPem)), false)
    })
  })

  describe('#issuersOf', () => {
    it('finds the root that issued a leaf', async () => {
      const bundle = TrustBundle.fromPem(oldCA.trustDomain, [newCA.rootPem, oldCA.rootPem])
      const leaf = parseCertificate((await oldCA.issueLeaf()).leafPem)
      assert.deepEqual(bundle.issuersOf(leaf).map((r) => r.serial), [oldCA.serial])
    })

    it('returns nothing for a leaf of another CA', async () => {
      const bundle = TrustBundle.fromPem(oldCA.trustDomain, oldCA.rootPem)
      const leaf = parseCertificate((await newCA.issueLeaf()).leafPem)
      assert.deepEqual(bundle.issuersOf(leaf), [])
    })

    it('lists same-name roots with the matching key identifier first', async () => {
      const leaf = parseCertificate((await oldCA.issueLeaf()).leafPem)
      for (const order of [[impostorCA.rootPem, oldCA.rootPem], [oldCA.rootPem, impostorCA.rootPem]]) {
        const bundle = TrustBundle.fromPem(oldCA.trustDomain, order)
        assert.deepEqual(bundle.issuersOf(leaf).map((r) => r.serial), [oldCA.serial, impostorCA.serial])
      }
    })
  })

  describe('#equals', () => {
    it('compares trust domain and the set of roots, not their order', () => {
      const a = TrustBundle.fromPem(oldCA.trustDomain, [oldCA.rootPem, newCA.rootPem])
      assert.equal(a.equals(TrustBundle.fromPem(oldCA.trustDomain, [newCA.rootPem, oldCA.rootPem])), true)
      assert.equal(a.equals(TrustBundle.fromPem(oldCA.trustDomain, [oldCA.rootPem])), false)
      assert.equal(a.equals(TrustBundle.fromPem(oldCA.trustDomain, [oldCA.rootPem, impostorCA.rootPem])), false)
      assert.equal(a.equals(TrustBundle.fromPem('other.consul', [oldCA.rootPem, newCA.rootPem])), false)
    })
  })
})
