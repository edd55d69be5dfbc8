import assert from 'node:assert/strict'
import { X509Certificate } from 'node:crypto'
import fc from 'fast-check'
import { CertificateError } from '../../lib/errors.js'
import {
  formatSerial, issuerRank, parseCertificate, parseCertificates, peerSpiffeUri, spiffeUriOf, verifySignature
} from '../../lib/identity/x509.js'
import type { Certificate } from '../../lib/identity/x509.js'
import { TestCA } from '../../lib/testing/test-ca.js'
import type { IssuedLeaf, TestIntermediate } from '../../lib/testing/test-ca.js'

function derOf (pem: string): Buffer {
  return new X509Certificate(pem).raw
}

function assertCode (code: string): (err: unknown) => true {
  return (err: unknown) => {
    assert.ok(err instanceof CertificateError, `expected a CertificateError, got ${String(err)}`)
    assert.equal(err.code, code)
    return true
  }
}

describe('x509', () => {
  let ca: TestCA
  let int: TestIntermediate
  let leaf: IssuedLeaf
  let intLeaf: IssuedLeaf

  before(async () => {
    ca = await TestCA.create()
    int = await ca.createIntermediate({ pathLen: 0 })
    leaf = await ca.issueLeaf({ dnsNames: ['web.example'] })
    intLeaf = await int.issueLeaf({ service: 'db' })
  })

  describe('#parseCertificate', () => {
    it('reads a PEM leaf into a frozen value with Consul\'s fields', () => {
      const cert = parseCertificate(leaf.leafPem)
      const native = new X509Certificate(leaf.leafPem)
      assert.equal(Object.isFrozen(cert), true)
      assert.equal(cert.serial, leaf.serial)
      assert.equal(cert.subject, 'CN=web')
      assert.equal(cert.issuer, `CN=${ca.commonName}`)
      assert.deepEqual(cert.uriSans, [leaf.spiffeId])
      assert.deepEqual(cert.dnsSans, ['web.example'])
      assert.equal(cert.isCA, false)
      assert.equal(cert.pathLen, undefined)
      assert.deepEqual(cert.extKeyUsage, ['serverAuth', 'clientAuth'])
      assert.equal(cert.authorityKeyId, ca.subjectKeyId)
      assert.deepEqual(cert.unhandledCriticalExtensions, [])
      assert.equal(cert.notBefore.getTime(), new Date(native.validFrom).getTime())
      assert.equal(cert.notAfter.getTime(), new Date(native.validTo).getTime())
      assert.equal(cert.fingerprint256, native.fingerprint256.toLowerCase())
      assert.equal(cert.signatureAlgorithm, '1.2.840.10045.4.3.2')
      assert.equal(cert.publicKey.equals(native.publicKey), true)
    })

    it('reads CA fields (isCA, pathLen, keyCertSign) of an intermediate', () => {
      const cert = parseCertificate(int.pem)
      assert.equal(cert.isCA, true)
      assert.equal(cert.pathLen, 0)
      assert.deepEqual(cert.keyUsage, ['digitalSignature', 'keyCertSign', 'cRLSign'])
      assert.equal(cert.extKeyUsage, undefined)
    })

    it('round-trips PEM → DER → PEM and accepts bytes and node certificates', () => {
      const fromPem = parseCertificate(leaf.leafPem)
      assert.equal(fromPem.pem, leaf.leafPem)
      const der = derOf(leaf.leafPem)
      assert.deepEqual(fromPem.der, der)
      const fromDer = parseCertificate(new Uint8Array(der))
      assert.equal(fromDer.fingerprint256, fromPem.fingerprint256)
      const native = new X509Certificate(der)
      const fromNative = parseCertificate(native)
      assert.equal(fromNative.x509, native)
      assert.equal(parseCertificate(fromNative.pem).serial, fromPem.serial)
    })

    it('copies its input so later changes to the caller\'s buffer do not leak in', () => {
      const der = derOf(leaf.leafPem)
      const cert = parseCertificate(der)
      der.fill(0)
      assert.deepEqual(cert.uriSans, [leaf.spiffeId])
      assert.equal(cert.der[0], 0x30)
    })

    it('keeps a URI SAN exactly, where node\'s subjectAltName string is escaped', async () => {
      const tricky = 'spiffe://td.consul/ns/default/dc/dc1/svc/a, URI:spiffe://evil'
      const issued = await ca.issueLeaf({ uris: [tricky] })
      assert.deepEqual(parseCertificate(issued.leafPem).uriSans, [tricky])
      assert.notEqual(new X509Certificate(issued.leafPem).subjectAltName, `URI:${tricky}`)
    })

    it('gives an empty subject as \'\'', async () => {
      const issued = await ca.issueLeaf({ commonName: '' })
      assert.equal(parseCertificate(issued.leafPem).subject, '')
    })

    const malformed: Array<[string, () => string | Uint8Array]> = [
      ['an empty string', () => ''],
      ['text without a PEM block', () => 'hello'],
      ['two PEM blocks', () => intLeaf.certPem],
      ['a PEM block with a non-base64 body', () => '-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n'],
      ['a private key', () => leaf.keyPem],
      ['truncated DER', () => derOf(leaf.leafPem).subarray(0, 100)],
      ['DER with trailing bytes', () => Buffer.concat([derOf(leaf.leafPem), Buffer.from([0])])],
      ['a DER SEQUENCE that is not a certificate', () => Buffer.from([0x30, 0x03, 0x02, 0x01, 0x01])],
      ['empty bytes', () => new Uint8Array(0)]
    ]
    for (const [name, input] of malformed) {
      it(`throws ERR_CONNECT_CERT_PARSE for ${name}`, () => {
        assert.throws(() => parseCertificate(input()), assertCode('ERR_CONNECT_CERT_PARSE'))
      })
    }

    it('throws only ERR_CONNECT_CERT_PARSE, never anything else, for corrupted DER', () => {
      const der = derOf(intLeaf.leafPem)
      fc.assert(fc.property(fc.nat(der.length - 1), fc.integer({ min: 1, max: 255 }), (index, xor) => {
        const copy = Buffer.from(der)
        copy[index] = copy[index]! ^ xor
        try {
          parseCertificate(copy)
        } catch (err) {
          assert.ok(err instanceof CertificateError && err.code === 'ERR_CONNECT_CERT_PARSE', String(err))
        }
      }), { numRuns: 300 })
    })
  })

  describe('#parseCertificates', () => {
    it('reads every block of a PEM bundle in order', () => {
      const certs = parseCertificates(intLeaf.certPem + ca.rootPem)
      assert.deepEqual(certs.map((c) => c.serial), [intLeaf.serial, int.serial, ca.serial])
    })

    it('skips blocks that are not certificates, as Go does', () => {
      const certs = parseCertificates(leaf.keyPem + leaf.leafPem)
      assert.deepEqual(certs.map((c) => c.serial), [leaf.serial])
    })

    it('reads concatenated DER', () => {
      const certs = parseCertificates(Buffer.concat([derOf(intLeaf.leafPem), derOf(int.pem)]))
      assert.deepEqual(certs.map((c) => c.serial), [intLeaf.serial, int.serial])
    })

    it('gives [] for blank input and throws when a key is all there is', () => {
      assert.deepEqual(parseCertificates('  \n'), [])
      assert.throws(() => parseCertificates(leaf.keyPem), assertCode('ERR_CONNECT_CERT_PARSE'))
    })

    it('throws for a bundle whose last block is cut off', () => {
      const cut = ca.rootPem + leaf.leafPem.slice(0, 200)
      assert.throws(() => parseCertificates(cut), assertCode('ERR_CONNECT_CERT_PARSE'))
    })

    it('names the broken block of a bundle', () => {
      const broken = ca.rootPem + '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n'
      assert.throws(() => parseCertificates(broken), (err: unknown) => {
        assertCode('ERR_CONNECT_CERT_PARSE')(err)
        assert.match((err as Error).message, /certificate 2 of PEM bundle/)
        return true
      })
    })
  })

  describe('#formatSerial', () => {
    const cases: Array<[string | Uint8Array, string]> = [
      ['ABCDEF', 'ab:cd:ef'],
      ['0A1B', '0a:1b'],
      ['00FF', 'ff'],
      ['abc', '0a:bc'],
      ['0a:1b', '0a:1b'],
      [new Uint8Array([0x00, 0x80, 0x01]), '80:01'],
      [new Uint8Array([0x0a]), '0a'],
      ['00', '00']
    ]
    for (const [input, expected] of cases) {
      it(`formats ${typeof input === 'string' ? `"${input}"` : `bytes ${Buffer.from(input).toString('hex')}`} as "${expected}"`, () => {
        assert.equal(formatSerial(input), expected)
      })
    }

    it('turns node\'s upper-case serialNumber into the certificate\'s colon-hex serial', () => {
      const native = new X509Certificate(leaf.leafPem)
      assert.match(native.serialNumber, /^[0-9A-F]+$/)
      assert.equal(formatSerial(native.serialNumber), parseCertificate(leaf.leafPem).serial)
    })

    it('throws ERR_CONNECT_CERT_PARSE for non-hex input', () => {
      assert.throws(() => formatSerial('xyz'), assertCode('ERR_CONNECT_CERT_PARSE'))
    })
  })

  describe('#spiffeUriOf / #peerSpiffeUri', () => {
    const cases: Array<[string, string[] | undefined, string | null]> = [
      ['the single SPIFFE URI SAN', undefined, 'default'],
      ['a SPIFFE URI next to DNS names', ['spiffe://td.consul/ns/default/dc/dc1/svc/x'], 'spiffe://td.consul/ns/default/dc/dc1/svc/x'],
      ['no URI SAN', [], null],
      ['two URI SANs', ['spiffe://td.consul/a', 'spiffe://td.consul/b'], null],
      ['a non-SPIFFE URI SAN', ['https://td.consul/a'], null],
      ['an upper-case scheme', ['SPIFFE://td.consul/a'], null]
    ]
    for (const [name, uris, expected] of cases) {
      it(`${expected === null ? 'throws ERR_CONNECT_CERT_SAN for' : 'returns'} ${name}`, async () => {
        const issued = await ca.issueLeaf({ dnsNames: ['x.example'], ...(uris === undefined ? {} : { uris }) })
        const want = expected === 'default' ? issued.spiffeId : expected
        const cert = parseCertificate(issued.leafPem)
        if (want === null) {
          assert.throws(() => spiffeUriOf(cert), assertCode('ERR_CONNECT_CERT_SAN'))
          assert.throws(() => peerSpiffeUri(cert.der), assertCode('ERR_CONNECT_CERT_SAN'))
        } else {
          assert.equal(spiffeUriOf(cert), want)
          assert.equal(peerSpiffeUri(cert.der), want)
        }
      })
    }

    it('peerSpiffeUri throws ERR_CONNECT_CERT_PARSE for malformed DER', () => {
      assert.throws(() => peerSpiffeUri(derOf(leaf.leafPem).subarray(0, 200)), assertCode('ERR_CONNECT_CERT_PARSE'))
    })
  })

  describe('#verifySignature / #issuerRank', () => {
    let root: Certificate
    let impostor: Certificate

    before(async () => {
      root = parseCertificate(ca.rootPem)
      // Same subject name, different key: only the signature tells them apart.
      impostor = parseCertificate((await TestCA.create({ commonName: ca.commonName })).rootPem)
    })

    it('verifies a signature with the issuer\'s key and rejects another key', () => {
      const cert = parseCertificate(leaf.leafPem)
      assert.equal(verifySignature(cert, root), true)
      assert.equal(verifySignature(cert, impostor), false)
      assert.equal(verifySignature(parseCertificate(intLeaf.leafPem), root), false)
    })

    it('ranks issuers by name, then by key identifier', () => {
      const cert = parseCertificate(leaf.leafPem)
      assert.equal(issuerRank(cert, root), 2)
      assert.equal(issuerRank(cert, impostor), 0)
      assert.equal(issuerRank(cert, parseCertificate(int.pem)), -1)
    })
  })
})
