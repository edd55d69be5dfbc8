import assert from 'node:assert/strict'
import { X509Certificate, createPrivateKey } from 'node:crypto'
import { once } from 'node:events'
import tls from 'node:tls'
import type { AddressInfo } from 'node:net'
import { TestCA } from '../../lib/testing/test-ca.js'
import type { IssuedLeaf } from '../../lib/testing/test-ca.js'
import { parseCertificate, parseCertificates } from '../../lib/identity/x509.js'

const HOUR = 3_600_000
const SERVER_AUTH = '1.3.6.1.5.5.7.3.1'
const CLIENT_AUTH = '1.3.6.1.5.5.7.3.2'

/** Runs one mutual-TLS handshake on 127.0.0.1 and reports what each side concluded. */
async function handshake (server: { certPem: string, keyPem: string, ca: string[] }, client: { certPem: string, keyPem: string, ca: string[] }): Promise<{ serverAuthorized: boolean, clientAuthorized: boolean, clientError: string | undefined, peerUri: string | undefined }> {
  const srv = tls.createServer({ cert: server.certPem, key: server.keyPem, ca: server.ca, requestCert: true, rejectUnauthorized: false })
  try {
    srv.listen(0, '127.0.0.1')
    await once(srv, 'listening')
    const { port } = srv.address() as AddressInfo
    const accepted = once(srv, 'secureConnection') as Promise<[tls.TLSSocket]>
    const socket = tls.connect({
      host: '127.0.0.1',
      port,
      cert: client.certPem,
      key: client.keyPem,
      ca: client.ca,
      rejectUnauthorized: false,
      // Mesh certificates carry no DNS name: identity is checked by SPIFFE URI elsewhere.
      checkServerIdentity: () => undefined
    })
    try {
      await once(socket, 'secureConnect')
      const [serverSide] = await accepted
      const result = {
        serverAuthorized: serverSide.authorized,
        clientAuthorized: socket.authorized,
        clientError: socket.authorizationError?.toString(),
        peerUri: serverSide.getPeerX509Certificate()?.subjectAltName
      }
      serverSide.destroy()
      return result
    } finally {
      socket.destroy()
    }
  } finally {
    srv.close()
  }
}

describe('TestCA', () => {
  let ca: TestCA

  before(async () => {
    ca = await TestCA.create()
  })

  describe('.create', () => {
    it('creates a self-signed P-256 CA root that OpenSSL accepts', () => {
      const root = new X509Certificate(ca.rootPem)
      assert.equal(root.ca, true)
      assert.equal(root.verify(root.publicKey), true)
      assert.equal(root.checkIssued(root), true)
      assert.equal(root.publicKey.asymmetricKeyDetails?.namedCurve, 'prime256v1')
      assert.equal(root.subjectAltName, `URI:spiffe://${ca.trustDomain}`)
      assert.match(ca.keyPem, /^-----BEGIN PRIVATE KEY-----\n/)
      assert.equal(root.checkPrivateKey(createPrivateKey(ca.keyPem)), true)
    })

    it('defaults the trust domain to <uuid>.consul and the CN to Consul\'s pattern', () => {
      assert.match(ca.trustDomain, /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\.consul$/)
      assert.equal(ca.commonName, new X509Certificate(ca.rootPem).subject.replace(/^CN=/, ''))
      assert.match(ca.commonName, new RegExp(`^pri-[0-9a-f]{8}\\.consul\\.ca\\.${ca.trustDomain.slice(0, 8)}\\.consul$`))
    })

    it('marks keyCertSign, cRLSign and the key ids like a Consul root', () => {
      const root = parseCertificate(ca.rootPem)
      assert.deepEqual(root.keyUsage, ['digitalSignature', 'keyCertSign', 'cRLSign'])
      assert.equal(root.subjectKeyId, ca.subjectKeyId)
      assert.equal(root.authorityKeyId, ca.subjectKeyId)
      assert.equal(ca.subjectKeyId.split(':').length, 32)
      assert.equal(ca.serial, root.serial)
    })

    it('honours trustDomain, commonName and validity options', async () => {
      const notBefore = new Date(Date.UTC(2020, 0, 1))
      const notAfter = new Date(Date.UTC(2040, 0, 1))
      const custom = await TestCA.create({ trustDomain: 'abc.consul', commonName: 'My Root', notBefore, notAfter })
      const root = new X509Certificate(custom.rootPem)
      assert.equal(custom.trustDomain, 'abc.consul')
      assert.equal(root.subject, 'CN=My Root')
      assert.deepEqual([custom.notBefore, custom.notAfter], [notBefore, notAfter])
      assert.equal(new Date(root.validTo).getTime(), notAfter.getTime())
    })
  })

  describe('#issueLeaf', () => {
    let leaf: IssuedLeaf

    before(async () => {
      leaf = await ca.issueLeaf()
    })

    it('issues a leaf that OpenSSL verifies against the root', () => {
      const cert = new X509Certificate(leaf.leafPem)
      const root = new X509Certificate(ca.rootPem)
      assert.equal(cert.verify(root.publicKey), true)
      assert.equal(cert.checkIssued(root), true)
      assert.equal(cert.ca, false)
      assert.equal(cert.checkPrivateKey(createPrivateKey(leaf.keyPem)), true)
    })

    it('returns the key as a SEC1 P-256 "EC PRIVATE KEY" like the agent does', () => {
      assert.match(leaf.keyPem, /^-----BEGIN EC PRIVATE KEY-----\n/)
      assert.equal(createPrivateKey(leaf.keyPem).asymmetricKeyDetails?.namedCurve, 'prime256v1')
    })

    it('puts the service SPIFFE ID as the only SAN, with Consul\'s key usages', () => {
      const cert = new X509Certificate(leaf.leafPem)
      assert.equal(leaf.spiffeId, `spiffe://${ca.trustDomain}/ns/default/dc/dc1/svc/web`)
      assert.equal(cert.subjectAltName, `URI:${leaf.spiffeId}`)
      assert.deepEqual([...cert.keyUsage].sort(), [SERVER_AUTH, CLIENT_AUTH])
      assert.deepEqual(parseCertificate(leaf.leafPem).keyUsage, ['digitalSignature', 'keyEncipherment', 'dataEncipherment', 'keyAgreement'])
      assert.equal(parseCertificate(leaf.leafPem).authorityKeyId, ca.subjectKeyId)
    })

    it('reports the serial in Consul colon-hex, matching OpenSSL\'s upper-case hex', () => {
      const cert = new X509Certificate(leaf.leafPem)
      assert.match(leaf.serial, /^[0-9a-f]{2}(:[0-9a-f]{2})+$/)
      assert.equal(BigInt('0x' + leaf.serial.replace(/:/g, '')), BigInt('0x' + cert.serialNumber))
      assert.ok(BigInt('0x' + cert.serialNumber) > 0n)
    })

    it('defaults validity to now − 1 min … now + 72 h', () => {
      const now = Date.now()
      assert.ok(Math.abs(leaf.notBefore.getTime() - (now - 60_000)) < 30_000)
      assert.ok(Math.abs(leaf.notAfter.getTime() - (now + 72 * HOUR)) < 30_000)
    })

    it('builds partition, namespace and datacenter into the URI', async () => {
      const other = await ca.issueLeaf({ service: 'db', namespace: 'ns1', partition: 'ap1', datacenter: 'dc2' })
      assert.equal(other.spiffeId, `spiffe://${ca.trustDomain}/ap/ap1/ns/ns1/dc/dc2/svc/db`)
    })

    it('uses spiffeId, then uris, as overrides', async () => {
      const one = await ca.issueLeaf({ spiffeId: 'spiffe://x.consul/agent/server/dc/dc1' })
      assert.equal(new X509Certificate(one.leafPem).subjectAltName, 'URI:spiffe://x.consul/agent/server/dc/dc1')
      const none = await ca.issueLeaf({ uris: [] })
      assert.equal(none.spiffeId, '')
      assert.equal(new X509Certificate(none.leafPem).subjectAltName, undefined)
      const two = await ca.issueLeaf({ uris: ['spiffe://a/x', 'spiffe://a/y'], dnsNames: ['web.example'] })
      assert.deepEqual(parseCertificate(two.leafPem).uriSans, ['spiffe://a/x', 'spiffe://a/y'])
      assert.deepEqual(parseCertificate(two.leafPem).dnsSans, ['web.example'])
    })

    it('issues deliberately bad leaves on request (CA flag, other usages, empty subject)', async () => {
      const bad = await ca.issueLeaf({ isCA: true, extKeyUsage: ['codeSigning'], commonName: '' })
      const cert = new X509Certificate(bad.leafPem)
      assert.equal(cert.ca, true)
      assert.deepEqual(cert.keyUsage, ['1.3.6.1.5.5.7.3.3'])
      assert.equal(parseCertificate(bad.leafPem).subject, '')
    })

    it('appends extra chain PEMs after the leaf', async () => {
      const withChain = await ca.issueLeaf({ chain: [ca.rootPem.trim()] })
      const certs = parseCertificates(withChain.certPem)
      assert.equal(certs.length, 2)
      assert.equal(certs[1]!.pem, ca.rootPem)
    })

    it('completes a mutual TLS handshake that OpenSSL authorizes on both sides', async () => {
      const client = await ca.issueLeaf({ service: 'api' })
      const result = await handshake({ ...leaf, ca: [ca.rootPem] }, { ...client, ca: [ca.rootPem] })
      assert.deepEqual(result, {
        serverAuthorized: true,
        clientAuthorized: true,
        clientError: undefined,
        peerUri: `URI:${client.spiffeId}`
      })
    })
  })

  describe('#createIntermediate', () => {
    it('issues a CA that signs leaves whose certPem carries the intermediate', async () => {
      const int = await ca.createIntermediate()
      const leaf = await int.issueLeaf({ service: 'db' })
      const [leafCert, intCert] = parseCertificates(leaf.certPem)
      assert.equal(intCert!.pem, int.pem)
      assert.equal(intCert!.isCA, true)
      assert.equal(leafCert!.authorityKeyId, int.subjectKeyId)
      assert.equal(new X509Certificate(leaf.leafPem).verify(new X509Certificate(int.pem).publicKey), true)
      assert.equal(new X509Certificate(int.pem).verify(new X509Certificate(ca.rootPem).publicKey), true)
    })

    it('chains nested intermediates and honours pathLen and isCA', async () => {
      const top = await ca.createIntermediate({ pathLen: 1 })
      const nested = await top.createIntermediate({ isCA: false })
      const leaf = await ca.issueLeaf({ issuer: nested })
      const certs = parseCertificates(leaf.certPem)
      assert.deepEqual(certs.map((c) => c.pem), [leaf.leafPem, nested.pem, top.pem])
      assert.equal(certs[1]!.isCA, false)
      assert.equal(certs[2]!.pathLen, 1)
    })

    it('serves a chain that a peer trusting only the root authorizes', async () => {
      const int = await ca.createIntermediate()
      const server = await int.issueLeaf()
      const client = await ca.issueLeaf()
      const result = await handshake({ ...server, ca: [ca.rootPem] }, { ...client, ca: [ca.rootPem] })
      assert.equal(result.clientAuthorized, true, result.clientError)
    })
  })

  describe('#crossSign', () => {
    it('issues the other root\'s subject and key, signed by this root', async () => {
      const next = await TestCA.create()
      const cross = new X509Certificate(await ca.crossSign(next))
      const nextRoot = new X509Certificate(next.rootPem)
      assert.equal(cross.subject, nextRoot.subject)
      assert.equal(cross.publicKey.equals(nextRoot.publicKey), true)
      assert.equal(cross.verify(new X509Certificate(ca.rootPem).publicKey), true)
      assert.equal(cross.ca, true)
      assert.equal(parseCertificate(cross).subjectKeyId, next.subjectKeyId)
    })

    it('lets a peer that trusts only the old root accept leaves of the new one', async () => {
      const next = await TestCA.create()
      const server = await next.issueLeaf({ chain: [await ca.crossSign(next)] })
      const client = await ca.issueLeaf()
      const result = await handshake({ ...server, ca: [ca.rootPem, next.rootPem] }, { ...client, ca: [ca.rootPem] })
      assert.equal(result.clientAuthorized, true, result.clientError)
      assert.equal(result.serverAuthorized, true)
    })
  })
})
