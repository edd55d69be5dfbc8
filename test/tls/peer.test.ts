import assert from 'node:assert/strict'
import { X509Certificate } from 'node:crypto'
import type { TLSSocket } from 'node:tls'
import { TestCA } from '../../lib/testing/test-ca.js'
import type { IssuedLeaf } from '../../lib/testing/test-ca.js'
import { checkPeer, peerOf, setPeer } from '../../lib/tls/peer.js'

const HOUR = 3_600_000

/** The parts of a server TLSSocket checkPeer reads, as a resumed session would show them. */
function socketWith (leaf: IssuedLeaf | undefined, authorized = true, authorizationError?: unknown): TLSSocket {
  return {
    // Node's non-detailed getPeerCertificate(): `{}` without a certificate, else raw DER and fingerprints.
    getPeerCertificate: () => {
      if (leaf === undefined) return {}
      const x509 = new X509Certificate(leaf.leafPem)
      return { raw: x509.raw, fingerprint256: x509.fingerprint256 }
    },
    authorized,
    authorizationError
  } as unknown as TLSSocket
}

describe('checkPeer', () => {
  let ca: TestCA
  let leaf: IssuedLeaf

  before(async () => {
    ca = await TestCA.create()
    leaf = await ca.issueLeaf({ service: 'web' })
  })

  it('returns the parsed peer of a verified service leaf', () => {
    const result = checkPeer(socketWith(leaf))
    assert.equal(result.ok, true)
    if (result.ok) {
      assert.equal(result.peer.id.uri, leaf.spiffeId)
      assert.equal(result.peer.certificate?.serial, leaf.serial)
      assert.ok(Object.isFrozen(result.peer))
    }
  })

  it('re-checks the leaf validity at the time of the connection (a resumed session may be stale)', () => {
    const late = checkPeer(socketWith(leaf), leaf.notAfter.getTime() + HOUR)
    assert.deepEqual(late.ok ? undefined : late.code, 'ERR_CONNECT_CERT_EXPIRED')
    const early = checkPeer(socketWith(leaf), leaf.notBefore.getTime() - HOUR)
    assert.deepEqual(early.ok ? undefined : early.code, 'ERR_CONNECT_CERT_NOT_YET_VALID')
  })

  it('maps OpenSSL\'s result whether Node gives it as a string or an Error', () => {
    const asString = checkPeer(socketWith(leaf, false, 'CERT_SIGNATURE_FAILURE'))
    assert.equal(asString.ok ? undefined : asString.code, 'ERR_CONNECT_CERT_BAD_SIGNATURE')
    const asError = checkPeer(socketWith(leaf, false, Object.assign(new Error('x'), { code: 'INVALID_CA' })))
    assert.equal(asError.ok ? undefined : asError.code, 'ERR_CONNECT_CERT_NOT_CA')
    assert.match(asError.ok ? '' : asError.reason, /INVALID_CA/)
  })

  it('refuses a socket without a peer certificate, even when reading it throws', () => {
    const none = checkPeer(socketWith(undefined))
    assert.equal(none.ok ? undefined : none.code, 'ERR_CONNECT_PEER_VERIFICATION')
    const throwing = { getPeerX509Certificate: () => { throw new Error('gone') }, authorized: true } as unknown as TLSSocket
    assert.equal(checkPeer(throwing).ok, false)
  })
})

describe('peerOf', () => {
  const peer = Object.freeze({ id: { kind: 'service' }, certificate: {} }) as never

  it('finds the peer on the socket, through .socket, .stream.session.socket and .session.socket', () => {
    const socket = {} as TLSSocket
    setPeer(socket, peer)
    assert.equal(peerOf(socket), peer)
    assert.equal(peerOf({ socket }), peer)
    assert.equal(peerOf({ stream: { session: { socket } } }), peer)
    assert.equal(peerOf({ session: { socket } }), peer)
    // HTTP/2 hands out a Proxy of the socket: property reads, symbols included, reach the socket.
    assert.equal(peerOf({ socket: new Proxy({}, { get: (_target, prop) => (socket as unknown as Record<PropertyKey, unknown>)[prop] }) }), peer)
  })

  it('returns undefined for anything else, and never throws', () => {
    assert.equal(peerOf(undefined), undefined)
    assert.equal(peerOf('socket'), undefined)
    assert.equal(peerOf({}), undefined)
    assert.equal(peerOf({ get socket () { throw new Error('unbound') } }), undefined)
    assert.equal(peerOf(new Proxy({}, { get: () => { throw new Error('trap') } })), undefined)
  })

  it('cannot be set by assigning a property', () => {
    const socket = {} as TLSSocket
    setPeer(socket, peer)
    assert.throws(() => { 'use strict'; (socket as unknown as Record<symbol, unknown>)[Object.getOwnPropertySymbols(socket)[0]!] = {} })
    assert.equal(peerOf(socket), peer)
  })
})
