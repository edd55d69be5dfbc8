import assert from 'node:assert/strict'
import { CertificateError, ConnectError, InvalidOptionError } from '../../lib/errors.js'
import { TrustBundle } from '../../lib/identity/bundle.js'
import { Identity } from '../../lib/identity/identity.js'
import type { Credentials, CredentialsChange } from '../../lib/identity/source.js'
import { staticCredentials } from '../../lib/identity/static-source.js'
import type { StaticCredentialsSource } from '../../lib/identity/static-source.js'
import { TestCA } from '../../lib/testing/test-ca.js'
import type { IssuedLeaf } from '../../lib/testing/test-ca.js'

describe('StaticCredentialsSource', () => {
  let ca: TestCA
  let leaf: IssuedLeaf
  let renewed: IssuedLeaf
  let other: IssuedLeaf
  const sources: StaticCredentialsSource[] = []

  function track (source: StaticCredentialsSource): StaticCredentialsSource {
    sources.push(source)
    return source
  }

  before(async () => {
    ca = await TestCA.create()
    leaf = await ca.issueLeaf({ service: 'web' })
    renewed = await ca.issueLeaf({ service: 'web' })
    other = await ca.issueLeaf({ service: 'web' })
  })

  afterEach(async () => {
    await Promise.all(sources.splice(0).map((s) => s.close()))
  })

  describe('staticCredentials', () => {
    it('loads PEM identity and roots into a frozen, ready snapshot', async () => {
      const s = track(staticCredentials({ identity: leaf, bundle: { trustDomain: ca.trustDomain, rootsPem: ca.rootPem } }))
      const credentials = await s.ready()
      assert.equal(Object.isFrozen(credentials), true)
      assert.equal(credentials.generation, 1)
      assert.equal(credentials.identity?.serial, leaf.serial)
      assert.deepEqual(credentials.bundle?.pem, [ca.rootPem])
      assert.equal(s.status, 'ready')
    })

    it('takes an Identity and a TrustBundle as they are', () => {
      const identity = Identity.fromPem(leaf)
      const bundle = TrustBundle.fromPem(ca.trustDomain, ca.rootPem)
      const s = track(staticCredentials({ identity, bundle }))
      assert.equal(s.credentials.identity, identity)
      assert.equal(s.credentials.bundle, bundle)
    })

    it('starts empty and loading without input', () => {
      const s = track(staticCredentials())
      assert.equal(s.credentials.generation, 0)
      assert.equal(s.credentials.identity, undefined)
      assert.equal(s.status, 'loading')
    })

    const invalid: Array<[string, () => unknown, string]> = [
      ['identity is a string', () => ({ identity: 'pem' }), 'identity'],
      ['certPem is missing', () => ({ identity: { keyPem: leaf.keyPem } }), 'identity.certPem'],
      ['keyPem is empty', () => ({ identity: { certPem: leaf.certPem, keyPem: '' } }), 'identity.keyPem'],
      ['bundle is a number', () => ({ bundle: 1 }), 'bundle'],
      ['trustDomain is not one', () => ({ bundle: { trustDomain: 'Not A Domain', rootsPem: ca.rootPem } }), 'bundle.trustDomain'],
      ['rootsPem is not text', () => ({ bundle: { trustDomain: ca.trustDomain, rootsPem: [1] } }), 'bundle.rootsPem'],
      ['rootsPem holds nothing', () => ({ bundle: { trustDomain: ca.trustDomain, rootsPem: '' } }), 'bundle.rootsPem']
    ]
    for (const [what, input, field] of invalid) {
      it(`throws InvalidOptionError naming "${field}" when ${what}`, () => {
        assert.throws(() => staticCredentials(input() as never),
          (err: unknown) => err instanceof InvalidOptionError && err.field === field)
      })
    }

    it('throws CertificateError ERR_CONNECT_CERT_KEY_MISMATCH for a key of another leaf', () => {
      assert.throws(() => staticCredentials({ identity: { certPem: leaf.certPem, keyPem: other.keyPem } }),
        (err: unknown) => err instanceof CertificateError && err.code === 'ERR_CONNECT_CERT_KEY_MISMATCH')
    })

    it('throws CertificateError ERR_CONNECT_CERT_PARSE for a garbled root', () => {
      assert.throws(() => staticCredentials({ bundle: { trustDomain: ca.trustDomain, rootsPem: ca.rootPem.replace(/\n[A-Za-z0-9+/]{10}/, '\n!!') } }),
        (err: unknown) => err instanceof CertificateError && err.code === 'ERR_CONNECT_CERT_PARSE')
    })
  })

  describe('#update', () => {
    it('swaps identity and bundle together, bumps the generation once and notifies', async () => {
      const s = track(staticCredentials({ identity: leaf, bundle: { trustDomain: ca.trustDomain, rootsPem: ca.rootPem } }))
      const before = s.credentials
      const next = await TestCA.create({ trustDomain: ca.trustDomain })
      const heard: Array<[Credentials, Credentials, CredentialsChange]> = []
      s.onChange((...args) => heard.push(args))
      const change = s.update({ identity: renewed, bundle: { trustDomain: ca.trustDomain, rootsPem: [ca.rootPem, next.rootPem] } })
      assert.deepEqual(change, { identityChanged: true, bundleChanged: true })
      assert.equal(heard.length, 1)
      const [after, previous, reported] = heard[0]!
      assert.equal(previous, before)
      assert.equal(after, s.credentials)
      assert.equal(reported, change)
      assert.equal(after.generation, before.generation + 1)
      assert.equal(after.identity?.serial, renewed.serial)
      assert.equal(after.bundle?.size, 2)
    })

    it('keeps what is left out', () => {
      const s = track(staticCredentials({ identity: leaf, bundle: { trustDomain: ca.trustDomain, rootsPem: ca.rootPem } }))
      const bundle = s.credentials.bundle
      assert.deepEqual(s.update({ identity: renewed }), { identityChanged: true, bundleChanged: false })
      assert.equal(s.credentials.bundle, bundle)
    })

    it('spends no generation and calls no listener when nothing changed', () => {
      const s = track(staticCredentials({ identity: leaf, bundle: { trustDomain: ca.trustDomain, rootsPem: ca.rootPem } }))
      const before = s.credentials
      let heard = 0
      s.onChange(() => { heard++ })
      assert.equal(s.update({ identity: leaf, bundle: { trustDomain: ca.trustDomain, rootsPem: ca.rootPem } }), undefined)
      assert.equal(s.credentials, before)
      assert.equal(heard, 0)
    })

    it('changes nothing when one of the two values is invalid', () => {
      const s = track(staticCredentials({ identity: leaf, bundle: { trustDomain: ca.trustDomain, rootsPem: ca.rootPem } }))
      const before = s.credentials
      assert.throws(() => s.update({ identity: renewed, bundle: { trustDomain: ca.trustDomain, rootsPem: 'garbage' } }), CertificateError)
      assert.equal(s.credentials, before)
    })

    it('resolves a pending ready() once both are set', async () => {
      const s = track(staticCredentials({ identity: leaf }))
      const waiting = s.ready()
      s.update({ bundle: { trustDomain: ca.trustDomain, rootsPem: ca.rootPem } })
      assert.equal((await waiting).generation, 2)
    })

    it('throws ERR_CONNECT_CLOSED after close()', async () => {
      const s = track(staticCredentials({ identity: leaf }))
      await s.close()
      assert.throws(() => s.update({ identity: renewed }), (err: unknown) => err instanceof ConnectError && err.code === 'ERR_CONNECT_CLOSED')
    })
  })

  describe('#ready', () => {
    it('rejects with ERR_CONNECT_ABORTED on abort, and ERR_CONNECT_CLOSED on close', async () => {
      const s = track(staticCredentials({ identity: leaf }))
      await assert.rejects(s.ready({ signal: AbortSignal.abort() }), (err: unknown) => err instanceof ConnectError && err.code === 'ERR_CONNECT_ABORTED')
      const waiting = s.ready()
      await s.close()
      await s.close()
      await assert.rejects(waiting, (err: unknown) => err instanceof ConnectError && err.code === 'ERR_CONNECT_CLOSED')
    })
  })

  describe('#status', () => {
    it('reports ERR_CONNECT_LEAF_EXPIRED when the leaf\'s notAfter passes', async () => {
      // Certificates keep whole seconds: this leaf lives 0.5 to 1.5 s.
      const soon = await ca.issueLeaf({ service: 'web', notAfter: new Date(Date.now() + 1500) })
      const s = track(staticCredentials({ identity: soon, bundle: { trustDomain: ca.trustDomain, rootsPem: ca.rootPem } }))
      assert.equal(s.status, 'ready')
      const err = await new Promise<ConnectError>((resolve) => s.onError(resolve))
      assert.equal(err.code, 'ERR_CONNECT_LEAF_EXPIRED')
      assert.equal(s.status, 'expired')
      assert.equal(s.leafExpired(), true)
      s.update({ identity: renewed })
      assert.equal(s.status, 'ready')
    })

    it('reports an identity loaded already expired on a later tick', async () => {
      const past = await ca.issueLeaf({ service: 'web', notBefore: new Date(Date.now() - 7_200_000), notAfter: new Date(Date.now() - 3_600_000) })
      const s = track(staticCredentials({ identity: past, bundle: { trustDomain: ca.trustDomain, rootsPem: ca.rootPem } }))
      const err = await new Promise<ConnectError>((resolve) => s.onError(resolve))
      assert.equal(err.code, 'ERR_CONNECT_LEAF_EXPIRED')
      assert.equal(s.lastError, err)
      assert.equal(s.status, 'expired')
    })
  })
})
