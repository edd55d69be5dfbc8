import assert from 'node:assert/strict'
import { TrustBundle } from '../../lib/identity/bundle.js'
import type { Identity } from '../../lib/identity/identity.js'
import type { Credentials } from '../../lib/identity/source.js'
import { TestCA } from '../../lib/testing/test-ca.js'
import { credentialOptions, higherVersion, isReady, requireReady, secureContextOf, serverContextOptions } from '../../lib/tls/context.js'
import type { ReadyCredentials } from '../../lib/tls/context.js'
import { bundleOf, issue } from './support.js'

const snapshot = (identity: Identity | undefined, bundle: TrustBundle | undefined, generation = 1): Credentials =>
  Object.freeze({ identity, bundle, generation })

describe('TLS contexts from credentials', () => {
  let ca: TestCA
  let otherCA: TestCA
  let identity: Identity
  let ready: ReadyCredentials

  before(async () => {
    ca = await TestCA.create()
    otherCA = await TestCA.create({ trustDomain: ca.trustDomain })
    identity = (await issue(ca, { service: 'db' })).identity
    ready = snapshot(identity, bundleOf(ca)) as ReadyCredentials
  })

  describe('isReady / requireReady', () => {
    it('needs both a leaf and roots, and names what is missing', () => {
      assert.equal(isReady(ready), true)
      assert.equal(isReady(snapshot(identity, undefined)), false)
      assert.equal(isReady(snapshot(undefined, bundleOf(ca))), false)
      assert.equal(requireReady(ready, 'x'), ready)
      assert.throws(() => requireReady(snapshot(undefined, undefined), 'dialling db'),
        { code: 'ERR_CONNECT_NOT_READY', message: 'dialling db: credentials not ready (no leaf certificate and no CA roots yet)' })
      assert.throws(() => requireReady(snapshot(identity, undefined), 'x'), /no CA roots yet/)
    })
  })

  describe('credentialOptions', () => {
    it('presents the whole chain and trusts exactly the bundle, never Node\'s public roots', () => {
      const options = credentialOptions(ready)
      assert.equal(options.cert, identity.certPem)
      assert.equal(options.key, identity.keyPem)
      assert.deepEqual(options.ca, [ca.rootPem])
      assert.equal(options.minVersion, 'TLSv1.2')
      assert.equal(credentialOptions(ready), options, 'one object per snapshot')
      const empty = snapshot(identity, TrustBundle.fromPem(ca.trustDomain, [])) as ReadyCredentials
      assert.deepEqual(credentialOptions(empty).ca, [])
    })
  })

  describe('secureContextOf', () => {
    it('builds one client context per snapshot', () => {
      assert.equal(secureContextOf(ready), secureContextOf(ready))
      assert.notEqual(secureContextOf(snapshot(identity, bundleOf(ca), 2) as ReadyCredentials), secureContextOf(ready))
    })
  })

  describe('serverContextOptions', () => {
    it('carries the credentials, fresh ticket keys on every call, and an explicit CA list', () => {
      const a = serverContextOptions(ready)
      const b = serverContextOptions(ready)
      assert.equal(a.cert, identity.certPem)
      assert.deepEqual(a.ca, [ca.rootPem])
      assert.equal(a.ticketKeys?.length, 48)
      assert.ok(!a.ticketKeys!.equals(b.ticketKeys!))
    })

    it('has no certificate and trusts nothing while not ready', () => {
      const options = serverContextOptions(snapshot(identity, undefined))
      assert.equal(options.cert, undefined)
      assert.equal(options.key, undefined)
      assert.deepEqual(options.ca, [])
    })

    it('binds the session id context to the content: equal for equal credentials, different after a change', () => {
      const same = serverContextOptions(snapshot(identity, bundleOf(ca), 7)).sessionIdContext
      assert.match(same!, /^[0-9a-f]{32}$/)
      assert.equal(serverContextOptions(ready).sessionIdContext, same)
      assert.notEqual(serverContextOptions(snapshot(identity, bundleOf(ca, otherCA))).sessionIdContext, same)
      assert.notEqual(serverContextOptions(snapshot(undefined, undefined)).sessionIdContext, same)
    })

    it('keeps carried server settings but never goes below TLS 1.2', () => {
      assert.equal(serverContextOptions(ready, { minVersion: 'TLSv1.3', ciphers: 'ECDHE-ECDSA-AES128-GCM-SHA256' }).minVersion, 'TLSv1.3')
      assert.equal(serverContextOptions(ready, { ciphers: 'ECDHE-ECDSA-AES128-GCM-SHA256' }).ciphers, 'ECDHE-ECDSA-AES128-GCM-SHA256')
      assert.equal(serverContextOptions(ready, { minVersion: 'TLSv1' }).minVersion, 'TLSv1.2')
      assert.equal(higherVersion(undefined, 'TLSv1.2'), 'TLSv1.2')
    })
  })
})
