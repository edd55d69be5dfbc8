/**
 * File credentials: a {@link CredentialsSource} over PEM files written by another tool (consul-template,
 * Vault agent, a Kubernetes secret volume), re-read whenever they change, without a restart.
 *
 * Watching: `fs.watch` on the *directories* holding the files, not on the files, because these tools
 * replace a file by writing a temporary one and renaming it over the old name (and Kubernetes swaps a
 * `..data` symlink): a watch on the old file would follow the replaced inode and miss the change. Any event
 * in a watched directory schedules a re-read after `debounceMs` of quiet; reading three small files and
 * comparing their text is cheap, so events for unrelated files cost nothing but that. Watchers are not
 * persistent and timers are unref'd: the source never keeps the process alive.
 *
 * Swapping: a re-read replaces the identity only when certificate and key parse, belong together, and the
 * leaf has not expired; the bundle only when the roots parse (trust domain: the option, else the host of
 * the leaf's SPIFFE ID, so roots load once a leaf has). Anything else keeps the last good state.
 *
 * Reporting: tools write the certificate and the key as two files, one after the other, so a re-read can
 * see a new certificate with the old key (ERR_CONNECT_CERT_KEY_MISMATCH) or a file being written. A
 * failure is therefore reported through `onError` only when it persists: it is checked again `debounceMs`
 * after it was first seen, and reported if still there (and on every later re-read that still fails). A
 * file that cannot be read is ERR_CONNECT_CREDENTIALS_FILE; a directory that cannot be watched is reported
 * the same way and watched again every second until it can be. Until the first good pair and roots are
 * loaded, `ready()` keeps waiting.
 */
import { watch } from 'node:fs'
import type { FSWatcher } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { dirname, resolve } from 'node:path'
import { z } from 'zod'
import { parseOptions } from '../agent/validate.js'
import { CertificateError, ConnectError, InvalidOptionError } from '../errors.js'
import type { CertificateErrorCode } from '../errors.js'
import { TrustBundle } from './bundle.js'
import { Identity } from './identity.js'
import { PublishedSource } from './published-source.js'
import { CredentialsPublisher } from './source.js'
import type { CredentialsChange } from './source.js'

export interface FileCredentialsOptions {
  /** The leaf certificate PEM, optionally followed by its intermediates. */
  readonly certFile: string
  /** The leaf's private key PEM (SEC1 or PKCS#8, unencrypted). */
  readonly keyFile: string
  /** The trusted roots PEM (any number of CERTIFICATE blocks). */
  readonly rootsFile: string
  /** Trust domain of the roots. Default: the host of the leaf's SPIFFE ID. */
  readonly trustDomain?: string
  /** Quiet time after a change before the files are re-read, and before a failure is reported. Default 100 ms. */
  readonly debounceMs?: number
}

const DEFAULT_DEBOUNCE_MS = 100
const REWATCH_MS = 1000

const optionsSchema = z.strictObject({
  certFile: z.string().min(1, 'expected a file path'),
  keyFile: z.string().min(1, 'expected a file path'),
  rootsFile: z.string().min(1, 'expected a file path'),
  trustDomain: z.string().optional(),
  debounceMs: z.number().int().min(0).max(60_000).optional()
})

interface Loaded { cert: string, key: string, roots: string, trustDomain: string }

export class FileCredentialsSource extends PublishedSource {
  /** Absolute paths of the files read. */
  readonly files: { readonly certFile: string, readonly keyFile: string, readonly rootsFile: string }
  readonly #trustDomain: string | undefined
  readonly #debounceMs: number
  readonly #publisher = new CredentialsPublisher({ what: 'file credentials' })
  readonly #watchers = new Map<string, FSWatcher | undefined>()
  readonly #timers = new Set<NodeJS.Timeout>()
  #debounce: NodeJS.Timeout | undefined
  // Texts behind the current snapshot: a re-read parses only what differs from them.
  readonly #loaded: Partial<Loaded> = {}
  #failingSince: number | undefined
  #queue: Promise<unknown> = Promise.resolve()
  #closed = false

  protected override get publisher (): CredentialsPublisher { return this.#publisher }

  /**
   * Validates the options (InvalidOptionError naming the field), starts watching, and reads the files on
   * a later tick, so listeners attached right after construction hear every event.
   */
  constructor (options: FileCredentialsOptions) {
    super()
    if (typeof options !== 'object' || options === null) throw new InvalidOptionError('options', 'expected an object')
    const parsed = parseOptions(optionsSchema, options, '')
    if (parsed.trustDomain !== undefined) {
      try {
        TrustBundle.fromCertificates(parsed.trustDomain, []) // the bundle's own trust-domain rule
      } catch (err) {
        throw new InvalidOptionError('trustDomain', 'is not a trust domain (lower-case letters, digits, ".", "-", "_")', { cause: err })
      }
    }
    this.files = Object.freeze({ certFile: resolve(parsed.certFile), keyFile: resolve(parsed.keyFile), rootsFile: resolve(parsed.rootsFile) })
    this.#trustDomain = parsed.trustDomain
    this.#debounceMs = parsed.debounceMs ?? DEFAULT_DEBOUNCE_MS
    for (const file of Object.values(this.files)) this.#watchers.set(dirname(file), undefined)
    for (const dir of this.#watchers.keys()) this.#watch(dir)
    void this.reload()
  }

  /**
   * Re-reads the files now (as a change event does, without the debounce), for example on SIGHUP.
   * Resolves with what changed, or undefined when nothing did (failures follow the reporting rule
   * above). Never rejects. Re-reads run one at a time.
   */
  reload (): Promise<CredentialsChange | undefined> {
    const run = this.#queue.then(() => this.#load()).catch((err: unknown) => {
      // Not expected (every step catches its own failures), but a re-read must never break the queue.
      this.#publisher.report(err instanceof ConnectError ? err : fileError('re-reading the files', err))
      return undefined
    })
    this.#queue = run
    return run
  }

  /** Stops watching, cancels timers, rejects pending ready() calls. Idempotent. */
  async close (): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    for (const watcher of this.#watchers.values()) watcher?.close()
    this.#watchers.clear()
    clearTimeout(this.#debounce)
    for (const timer of this.#timers) clearTimeout(timer)
    this.#timers.clear()
    this.#publisher.close()
    await this.#queue
  }

  #watch (dir: string): void {
    if (this.#closed) return
    try {
      // Not persistent: watching files must never keep the process alive on its own.
      const watcher = watch(dir, { persistent: false }, () => this.#changed())
      watcher.on('error', (err) => {
        watcher.close()
        this.#publisher.report(fileError(`watching directory ${dir}`, err))
        this.#rewatch(dir)
      })
      this.#watchers.set(dir, watcher)
    } catch (err) {
      // Reported on a later tick: listeners attached after the constructor must hear it.
      this.#later(() => this.#publisher.report(fileError(`watching directory ${dir}`, err)), 0)
      this.#rewatch(dir)
    }
  }

  #rewatch (dir: string): void {
    this.#watchers.set(dir, undefined)
    this.#later(() => {
      this.#watch(dir)
      // Files may have appeared while nobody watched.
      if (this.#watchers.get(dir) !== undefined) this.#changed()
    }, Math.max(REWATCH_MS, this.#debounceMs))
  }

  #changed (): void {
    if (this.#closed) return
    clearTimeout(this.#debounce)
    this.#debounce = setTimeout(() => { void this.reload() }, this.#debounceMs)
    this.#debounce.unref()
  }

  #later (fn: () => void, ms: number): void {
    const timer = setTimeout(() => { this.#timers.delete(timer); if (!this.#closed) fn() }, ms)
    timer.unref()
    this.#timers.add(timer)
  }

  async #load (): Promise<CredentialsChange | undefined> {
    if (this.#closed) return undefined
    const { certFile, keyFile, rootsFile } = this.files
    const [cert, key, roots] = await Promise.all([readText(certFile), readText(keyFile), readText(rootsFile)])
    if (this.#closed) return undefined
    const problems: ConnectError[] = []
    const loaded = this.#loaded
    let identity: Identity | undefined
    if (typeof cert !== 'string') problems.push(fileError(`reading certFile ${certFile}`, cert.error))
    if (typeof key !== 'string') problems.push(fileError(`reading keyFile ${keyFile}`, key.error))
    if (typeof cert === 'string' && typeof key === 'string' && (cert !== loaded.cert || key !== loaded.key)) {
      try {
        identity = loadIdentity(cert, key, certFile, keyFile)
        Object.assign(loaded, { cert, key })
      } catch (err) {
        problems.push(err as ConnectError)
      }
    }
    let bundle: TrustBundle | undefined
    const current = identity ?? this.credentials.identity
    const trustDomain = this.#trustDomain ?? (current === undefined ? undefined : trustDomainOf(current))
    if (typeof roots !== 'string') problems.push(fileError(`reading rootsFile ${rootsFile}`, roots.error))
    else if (trustDomain !== undefined && (roots !== loaded.roots || trustDomain !== loaded.trustDomain)) {
      try {
        bundle = loadBundle(trustDomain, roots, rootsFile)
        Object.assign(loaded, { roots, trustDomain })
      } catch (err) {
        problems.push(err as ConnectError)
      }
    }
    const change = this.#publisher.publish({ ...(identity === undefined ? {} : { identity }), ...(bundle === undefined ? {} : { bundle }) })
    this.#settle(problems)
    return change
  }

  /** Applies the reporting rule: a failure is reported once it has lasted `debounceMs`. */
  #settle (problems: readonly ConnectError[]): void {
    if (problems.length === 0) {
      this.#failingSince = undefined
      return
    }
    const now = Date.now()
    this.#failingSince ??= now
    const waited = now - this.#failingSince
    if (waited >= this.#debounceMs) {
      for (const problem of problems) this.#publisher.report(problem)
    } else {
      // Maybe the other half of a pair is on its way: look again when the debounce has passed.
      this.#later(() => { void this.reload() }, this.#debounceMs - waited)
    }
  }
}

/** Same as `new FileCredentialsSource(options)`. */
export function fileCredentials (options: FileCredentialsOptions): FileCredentialsSource {
  return new FileCredentialsSource(options)
}

async function readText (file: string): Promise<string | { error: unknown }> {
  try {
    return await readFile(file, 'utf8')
  } catch (error) {
    return { error }
  }
}

function fileError (what: string, cause: unknown): ConnectError {
  const reason = (cause as NodeJS.ErrnoException | undefined)?.code ?? (cause instanceof Error ? cause.message : String(cause))
  return new ConnectError('ERR_CONNECT_CREDENTIALS_FILE', `${what}: ${reason}`, { cause })
}

/** @throws CertificateError with the code of Identity.fromPem, or ERR_CONNECT_CERT_EXPIRED */
function loadIdentity (certPem: string, keyPem: string, certFile: string, keyFile: string): Identity {
  let identity: Identity
  try {
    identity = Identity.fromPem({ certPem, keyPem })
  } catch (err) {
    const code = err instanceof CertificateError ? err.code as CertificateErrorCode : 'ERR_CONNECT_CERT_PARSE'
    throw new CertificateError(code, `loading ${certFile} and ${keyFile}: ${(err as Error).message}`, { cause: err })
  }
  // An expired leaf must not replace a live one, nor make the source look ready.
  if (identity.expiresIn() <= 0) {
    throw new CertificateError('ERR_CONNECT_CERT_EXPIRED', `loading ${certFile}: leaf ${identity.serial} (${identity.spiffeId}) expired at ${identity.validBefore.toISOString()}`)
  }
  return identity
}

/** @throws CertificateError ERR_CONNECT_CERT_PARSE (also for a file with no certificate) or ERR_CONNECT_NO_ROOTS */
function loadBundle (trustDomain: string, pem: string, rootsFile: string): TrustBundle {
  let bundle: TrustBundle
  try {
    bundle = TrustBundle.fromPem(trustDomain, pem)
  } catch (err) {
    if (err instanceof InvalidOptionError) {
      // Only a trust domain taken from the leaf can get here (the option is checked up front).
      throw new CertificateError('ERR_CONNECT_CERT_SAN', `loading ${rootsFile}: the leaf's SPIFFE ID host ${JSON.stringify(trustDomain)} is not a trust domain; set the trustDomain option`, { cause: err })
    }
    const code = err instanceof CertificateError ? err.code as CertificateErrorCode : 'ERR_CONNECT_CERT_PARSE'
    throw new CertificateError(code, `loading ${rootsFile}: ${(err as Error).message}`, { cause: err })
  }
  if (bundle.size === 0) throw new CertificateError('ERR_CONNECT_NO_ROOTS', `loading ${rootsFile}: the file holds no certificate`)
  return bundle
}

/** The host of a `spiffe://host/...` ID (Identity guarantees the scheme). */
function trustDomainOf (identity: Identity): string {
  return identity.spiffeId.slice('spiffe://'.length).split('/')[0] ?? ''
}
