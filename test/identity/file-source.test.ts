import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { rename, writeFile } from 'node:fs/promises'
import { ConnectError, InvalidOptionError } from '../../lib/errors.js'
import type { ErrorCode } from '../../lib/errors.js'
import { fileCredentials } from '../../lib/identity/file-source.js'
import type { FileCredentialsOptions, FileCredentialsSource } from '../../lib/identity/file-source.js'
import type { Credentials, CredentialsChange } from '../../lib/identity/source.js'
import { TestCA } from '../../lib/testing/test-ca.js'
import type { IssuedLeaf } from '../../lib/testing/test-ca.js'
import { tempDir } from '../agent/support/temp-dir.js'
import type { TempDir } from '../agent/support/temp-dir.js'

/** Writes `text` to a temporary name in the same directory, then renames it over `file`, as consul-template does. */
async function writeAtomic (file: string, text: string): Promise<void> {
  const tmp = `${file}.${randomBytes(4).toString('hex')}.tmp`
  await writeFile(tmp, text)
  await rename(tmp, file)
}

function errorWithCode (source: FileCredentialsSource, code: ErrorCode): Promise<ConnectError> {
  return new Promise((resolve) => {
    const off = source.onError((err) => {
      if (err.code !== code) return
      off()
      resolve(err)
    })
  })
}

function changeWhere (source: FileCredentialsSource, predicate: (next: Credentials) => boolean): Promise<CredentialsChange> {
  return new Promise((resolve) => {
    const off = source.onChange((next, _previous, change) => {
      if (!predicate(next)) return
      off()
      resolve(change)
    })
  })
}

describe('FileCredentialsSource', () => {
  let ca: TestCA
  let leaf: IssuedLeaf
  let renewed: IssuedLeaf
  let dir: TempDir
  let files: { certFile: string, keyFile: string, rootsFile: string }
  const sources: FileCredentialsSource[] = []

  function source (options: Partial<FileCredentialsOptions> = {}): FileCredentialsSource {
    const s = fileCredentials({ ...files, debounceMs: 20, ...options })
    sources.push(s)
    return s
  }

  async function writeAll (issued: IssuedLeaf = leaf): Promise<void> {
    await writeAtomic(files.keyFile, issued.keyPem)
    await writeAtomic(files.certFile, issued.certPem)
    await writeAtomic(files.rootsFile, ca.rootPem)
  }

  before(async () => {
    ca = await TestCA.create()
    leaf = await ca.issueLeaf({ service: 'web' })
    renewed = await ca.issueLeaf({ service: 'web' })
  })

  beforeEach(async () => {
    dir = await tempDir('ccn-files-')
    files = { certFile: dir.file('cert.pem'), keyFile: dir.file('key.pem'), rootsFile: dir.file('roots.pem') }
  })

  afterEach(async () => {
    await Promise.all(sources.splice(0).map((s) => s.close()))
    await dir.remove()
  })

  describe('constructor', () => {
    const cases: Array<[string, Record<string, unknown>, string]> = [
      ['an empty certFile', { certFile: '' }, 'certFile'],
      ['a missing keyFile', { keyFile: undefined }, 'keyFile'],
      ['an unknown option', { debounce: 5 }, 'debounce'],
      ['a negative debounceMs', { debounceMs: -1 }, 'debounceMs'],
      ['a trustDomain that is not one', { trustDomain: 'Bad Domain' }, 'trustDomain']
    ]
    for (const [what, options, field] of cases) {
      it(`throws InvalidOptionError naming "${field}" for ${what}`, () => {
        assert.throws(() => fileCredentials({ ...files, ...options } as FileCredentialsOptions),
          (err: unknown) => err instanceof InvalidOptionError && err.field === field)
      })
    }
  })

  describe('#ready', () => {
    it('loads the files, taking the trust domain from the leaf\'s SPIFFE ID', async () => {
      await writeAll()
      const s = source()
      const credentials = await s.ready()
      assert.equal(credentials.identity?.serial, leaf.serial)
      assert.equal(credentials.bundle?.trustDomain, ca.trustDomain)
      assert.deepEqual(credentials.bundle?.pem, [ca.rootPem])
      assert.equal(s.status, 'ready')
      assert.equal(s.files.certFile, files.certFile)
    })

    it('uses the trustDomain option when given', async () => {
      await writeAll()
      const s = source({ trustDomain: 'other.consul' })
      assert.equal((await s.ready()).bundle?.trustDomain, 'other.consul')
    })

    it('reports missing files and waits until they are written', async () => {
      const s = source()
      const waiting = s.ready()
      const err = await errorWithCode(s, 'ERR_CONNECT_CREDENTIALS_FILE')
      assert.match(err.message, /^reading (certFile|keyFile|rootsFile) .*: ENOENT$/)
      assert.equal(s.status, 'loading')
      await writeAll()
      assert.equal((await waiting).identity?.serial, leaf.serial)
    })

    it('reports a directory that cannot be watched', async () => {
      const missing = dir.file('no/such/dir/cert.pem')
      const s = source({ certFile: missing })
      const err = await errorWithCode(s, 'ERR_CONNECT_CREDENTIALS_FILE')
      assert.match(err.message, /^watching directory .*no\/such\/dir: ENOENT$/)
    })

    it('does not become ready with an expired leaf', async () => {
      const past = await ca.issueLeaf({ service: 'web', notBefore: new Date(Date.now() - 7_200_000), notAfter: new Date(Date.now() - 3_600_000) })
      await writeAll(past)
      const s = source()
      const err = await errorWithCode(s, 'ERR_CONNECT_CERT_EXPIRED')
      assert.match(err.message, /expired at/)
      assert.equal(s.credentials.identity, undefined)
      assert.equal(s.status, 'loading')
    })

    it('rejects with ERR_CONNECT_CLOSED when closed first', async () => {
      const s = source()
      const waiting = s.ready()
      await s.close()
      await assert.rejects(waiting, (err: unknown) => err instanceof ConnectError && err.code === 'ERR_CONNECT_CLOSED')
    })
  })

  describe('#onChange', () => {
    it('swaps in a certificate and key replaced by atomic rename', async () => {
      await writeAll()
      const s = source()
      const before = await s.ready()
      const changed = changeWhere(s, (next) => next.identity?.serial === renewed.serial)
      await writeAtomic(files.keyFile, renewed.keyPem)
      await writeAtomic(files.certFile, renewed.certPem)
      assert.deepEqual(await changed, { identityChanged: true, bundleChanged: false })
      assert.equal(s.credentials.generation, before.generation + 1)
      assert.equal(s.credentials.bundle, before.bundle)
    })

    it('swaps in new roots', async () => {
      await writeAll()
      const s = source()
      await s.ready()
      const next = await TestCA.create({ trustDomain: ca.trustDomain })
      const changed = changeWhere(s, (credentials) => credentials.bundle?.size === 2)
      await writeAtomic(files.rootsFile, ca.rootPem + next.rootPem)
      assert.deepEqual(await changed, { identityChanged: false, bundleChanged: true })
    })
  })

  describe('a certificate written before its key', () => {
    it('is not swapped in, nor reported, until the key arrives', async () => {
      await writeAll()
      // A long debounce: only the explicit reloads below read the files.
      const s = source({ debounceMs: 10_000 })
      const before = await s.ready()
      const errors: ConnectError[] = []
      s.onError((err) => errors.push(err))
      await writeAtomic(files.certFile, renewed.certPem)
      assert.equal(await s.reload(), undefined)
      assert.equal(s.credentials, before)
      await writeAtomic(files.keyFile, renewed.keyPem)
      assert.deepEqual(await s.reload(), { identityChanged: true, bundleChanged: false })
      assert.equal(s.credentials.identity?.serial, renewed.serial)
      assert.deepEqual(errors, [])
    })

    it('is reported as ERR_CONNECT_CERT_KEY_MISMATCH when the key never comes', async () => {
      await writeAll()
      const s = source()
      const before = await s.ready()
      const reported = errorWithCode(s, 'ERR_CONNECT_CERT_KEY_MISMATCH')
      await writeAtomic(files.certFile, renewed.certPem)
      const err = await reported
      assert.match(err.message, /does not match leaf/)
      assert.equal(s.credentials, before)
      assert.equal(s.status, 'ready')
    })
  })

  describe('#onError', () => {
    it('reports a garbage certificate and keeps the old credentials, then recovers', async () => {
      await writeAll()
      const s = source()
      const before = await s.ready()
      const reported = errorWithCode(s, 'ERR_CONNECT_CERT_PARSE')
      await writeAtomic(files.certFile, '-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n')
      const err = await reported
      assert.ok(err.message.includes(files.certFile))
      assert.equal(s.credentials, before)
      const recovered = changeWhere(s, (next) => next.identity?.serial === renewed.serial)
      await writeAtomic(files.keyFile, renewed.keyPem)
      await writeAtomic(files.certFile, renewed.certPem)
      assert.equal((await recovered).identityChanged, true)
    })

    it('reports a garbage roots file and keeps the bundle', async () => {
      await writeAll()
      const s = source()
      const before = await s.ready()
      const reported = errorWithCode(s, 'ERR_CONNECT_CERT_PARSE')
      await writeAtomic(files.rootsFile, 'garbage')
      assert.ok((await reported).message.includes(files.rootsFile))
      assert.equal(s.credentials, before)
    })
  })

  describe('#close', () => {
    it('stops reading: later changes are not picked up', async () => {
      await writeAll()
      const s = source()
      const before = await s.ready()
      await Promise.all([s.close(), s.close()])
      await writeAtomic(files.keyFile, renewed.keyPem)
      await writeAtomic(files.certFile, renewed.certPem)
      assert.equal(await s.reload(), undefined)
      assert.equal(s.credentials, before)
    })
  })
})
