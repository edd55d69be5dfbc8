import assert from 'node:assert/strict'
import { createPrivateKey } from 'node:crypto'
import { CertificateError } from '../../lib/errors.js'
import { Identity } from '../../lib/identity/identity.js'
import { TestCA } from '../../lib/testing/test-ca.js'
import type { IssuedLeaf, TestIntermediate } from '../../lib/testing/test-ca.js'

function throwsCode (code: string): (err: unknown) => true {
  return (err: unknown) => {
    assert.ok(err instanceof CertificateError, String(err))
    assert.equal(err.code, code, err.message)
    return true
  }
}

describe('Identity', () => {
  let ca: TestCA
  let int: TestIntermediate
  let leaf: IssuedLeaf
  let other: IssuedLeaf

  before(async () => {
    ca = await TestCA.create()
    int = await ca.createIntermediate()
    leaf = await int.issueLeaf({ service: 'db' })
    other = await ca.issueLeaf({ service: 'db' })
  })

  describe('.fromPem', () => {
    it('reads the agent\'s CertPEM and PrivateKeyPEM into a frozen snapshot', () => {
      const id = Identity.fromPem(leaf)
      assert.equal(Object.isFrozen(id), true)
      assert.equal(id.spiffeId, leaf.spiffeId)
      assert.equal(id.serial, leaf.serial)
      assert.equal(id.leaf.pem, leaf.leafPem)
      assert.deepEqual(id.intermediates.map((c) => c.pem), [int.pem])
      assert.equal(id.certPem, leaf.certPem)
      assert.equal(id.keyPem, leaf.keyPem)
      assert.equal(id.privateKey.type, 'private')
      assert.deepEqual([id.validAfter, id.validBefore], [leaf.notBefore, leaf.notAfter])
    })

    it('accepts a PKCS#8 key as well as SEC1', () => {
      const pkcs8 = createPrivateKey(leaf.keyPem).export({ type: 'pkcs8', format: 'pem' }).toString()
      assert.equal(Identity.fromPem({ certPem: leaf.certPem, keyPem: pkcs8 }).spiffeId, leaf.spiffeId)
    })

    it('throws ERR_CONNECT_CERT_KEY_MISMATCH when the key belongs to another leaf', () => {
      assert.throws(() => Identity.fromPem({ certPem: leaf.certPem, keyPem: other.keyPem }), throwsCode('ERR_CONNECT_CERT_KEY_MISMATCH'))
    })

    it('throws ERR_CONNECT_CERT_SAN when the leaf has no URI SAN', async () => {
      const bare = await ca.issueLeaf({ uris: [] })
      assert.throws(() => Identity.fromPem(bare), throwsCode('ERR_CONNECT_CERT_SAN'))
    })

    it('throws ERR_CONNECT_CERT_SAN when the leaf has two URI SANs', async () => {
      const two = await ca.issueLeaf({ uris: ['spiffe://a.consul/x', 'spiffe://a.consul/y'] })
      assert.throws(() => Identity.fromPem(two), throwsCode('ERR_CONNECT_CERT_SAN'))
    })

    it('throws ERR_CONNECT_CERT_PARSE for an empty certPem', () => {
      assert.throws(() => Identity.fromPem({ certPem: '', keyPem: leaf.keyPem }), throwsCode('ERR_CONNECT_CERT_PARSE'))
    })

    it('throws ERR_CONNECT_CERT_PARSE for an unreadable key, without echoing it', () => {
      const keyPem = '-----BEGIN EC PRIVATE KEY-----\nc2VjcmV0LWtleS1tYXRlcmlhbA==\n-----END EC PRIVATE KEY-----\n'
      assert.throws(() => Identity.fromPem({ certPem: leaf.certPem, keyPem }), (err: unknown) => {
        throwsCode('ERR_CONNECT_CERT_PARSE')(err)
        assert.doesNotMatch((err as Error).message, /c2VjcmV0/)
        return true
      })
    })
  })

  describe('#expiresIn', () => {
    it('counts milliseconds to notAfter, negative once past', () => {
      const id = Identity.fromPem(leaf)
      const at = new Date(leaf.notAfter.getTime() - 1000)
      assert.equal(id.expiresIn(at), 1000)
      assert.equal(id.expiresIn(new Date(leaf.notAfter.getTime() + 5000)), -5000)
      assert.ok(id.expiresIn() > 71 * 3_600_000)
    })
  })
})
