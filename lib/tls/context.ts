/**
 * TLS material built from a credentials snapshot: the options and `SecureContext`s that present this
 * service's leaf and trust the current roots.
 *
 * Contract:
 * - A snapshot is *ready* when it holds both an identity and a bundle. Nothing here ever builds a context
 *   from half a snapshot: without roots Node would fall back to its public root store, and without a leaf
 *   there is nothing to present.
 * - `ca` is always an explicit array (possibly empty): Node loads the Mozilla root store whenever `ca` is
 *   undefined, and a mesh must trust its own roots only.
 * - Derived values are cached per snapshot object in WeakMaps: snapshots are frozen and replaced as a whole
 *   on every change (see identity/source.ts), so one snapshot means one generation, and old entries go away
 *   with their snapshots.
 * - Server options carry fresh session ticket keys and a session id context derived from the snapshot's
 *   content, so a session issued under one generation is never resumed under another (OpenSSL does not
 *   re-verify a resumed peer; CONSUL-FACTS "Node.js TLS facts").
 */
import { createHash, randomBytes } from 'node:crypto'
import tls from 'node:tls'
import type { SecureContext, SecureContextOptions } from 'node:tls'
import { ConnectError } from '../errors.js'
import type { TrustBundle } from '../identity/bundle.js'
import type { Identity } from '../identity/identity.js'
import type { Credentials } from '../identity/source.js'

/** The lowest protocol version the mesh speaks (Consul's Go side negotiates TLS 1.2 or 1.3). */
export const MIN_TLS_VERSION = 'TLSv1.2'

/** A snapshot holding both halves. */
export interface ReadyCredentials extends Credentials {
  readonly identity: Identity
  readonly bundle: TrustBundle
}

/** The credential part of TLS options for one snapshot. */
export interface CredentialTlsOptions {
  /** Leaf followed by its intermediates: the whole chain is presented (Consul's `CertPEM`). */
  readonly cert: string
  readonly key: string
  /** Every trusted root, one PEM each. Never undefined (see the module comment). */
  readonly ca: string[]
  readonly minVersion: tls.SecureVersion
}

/**
 * Server settings that `setSecureContext` would otherwise reset: what a user configured on a server we
 * attach to (ciphers, curves, a stricter minimum version...). Credentials, ticket keys and the session id
 * context are never carried over.
 */
export interface CarriedServerSettings {
  readonly ciphers?: string
  readonly sigalgs?: string
  readonly ecdhCurve?: string
  readonly dhparam?: string | Buffer
  readonly honorCipherOrder?: boolean
  readonly secureOptions?: number
  readonly minVersion?: tls.SecureVersion
  readonly maxVersion?: tls.SecureVersion
  readonly sessionTimeout?: number
}

const optionsCache = new WeakMap<Credentials, CredentialTlsOptions>()
const contextCache = new WeakMap<Credentials, SecureContext>()
const sessionIdCache = new WeakMap<Credentials, string>()
const VERSIONS: readonly string[] = ['TLSv1', 'TLSv1.1', 'TLSv1.2', 'TLSv1.3']

/** True when the snapshot holds an identity and a bundle. */
export function isReady (credentials: Credentials | undefined): credentials is ReadyCredentials {
  return credentials?.identity !== undefined && credentials.bundle !== undefined
}

/**
 * Returns the snapshot when ready, else throws ConnectError ERR_CONNECT_NOT_READY naming what is missing.
 * `what` starts the message (`connecting to 10.0.0.5:21000`).
 */
export function requireReady (credentials: Credentials, what: string): ReadyCredentials {
  if (isReady(credentials)) return credentials
  const missing = [
    credentials?.identity === undefined ? 'no leaf certificate' : undefined,
    credentials?.bundle === undefined ? 'no CA roots' : undefined
  ].filter((part) => part !== undefined).join(' and ')
  throw new ConnectError('ERR_CONNECT_NOT_READY', `${what}: credentials not ready (${missing} yet)`)
}

/** `cert`, `key`, `ca` and `minVersion` of a ready snapshot; the same frozen object for the same snapshot. */
export function credentialOptions (credentials: ReadyCredentials): CredentialTlsOptions {
  let options = optionsCache.get(credentials)
  if (options === undefined) {
    options = Object.freeze({
      cert: credentials.identity.certPem,
      key: credentials.identity.keyPem,
      ca: [...credentials.bundle.pem],
      minVersion: MIN_TLS_VERSION
    })
    optionsCache.set(credentials, options)
  }
  return options
}

/**
 * One client `SecureContext` per snapshot, built on first use. Sharing it saves parsing the key and every
 * root on each connection; Node's client contexts keep no session cache of their own (sessions are only
 * resumed when a caller passes `session`), so sharing carries no state between connections.
 */
export function secureContextOf (credentials: ReadyCredentials): SecureContext {
  let context = contextCache.get(credentials)
  if (context === undefined) {
    context = tls.createSecureContext(credentialOptions(credentials))
    contextCache.set(credentials, context)
  }
  return context
}

/**
 * Options for `server.setSecureContext` under `credentials`:
 * - ready: the snapshot's cert, key and roots;
 * - not ready: no certificate and an empty trust list, so every handshake fails at once with a handshake
 *   alert (the server keeps running, the client learns quickly; the guard counts it as not ready);
 * - always: 48 fresh random ticket-key bytes (`setSecureContext` would otherwise keep keys a user passed at
 *   construction) and a session id context bound to the snapshot's content, so neither tickets nor
 *   session ids from another generation resume.
 */
export function serverContextOptions (credentials: Credentials, carried: CarriedServerSettings = {}): SecureContextOptions {
  const minVersion = higherVersion(carried.minVersion, MIN_TLS_VERSION)
  const fresh = { ...carried, minVersion, ticketKeys: randomBytes(48), sessionIdContext: sessionIdContextOf(credentials) }
  if (!isReady(credentials)) return { ...fresh, ca: [] }
  const { cert, key, ca } = credentialOptions(credentials)
  return { ...fresh, cert, key, ca }
}

/** The higher of two protocol versions (`undefined` counts as lowest). */
export function higherVersion (a: tls.SecureVersion | undefined, b: tls.SecureVersion): tls.SecureVersion {
  return a !== undefined && VERSIONS.indexOf(a) > VERSIONS.indexOf(b) ? a : b
}

/** 32 hex characters (OpenSSL's SSL_MAX_SID_CTX_LENGTH) naming the snapshot's content. */
function sessionIdContextOf (credentials: Credentials): string {
  let id = sessionIdCache.get(credentials)
  if (id === undefined) {
    // Content, not the generation number: two processes serving the same leaf and roots agree (so a shared
    // external session store keeps working), and any change of leaf or roots changes the context.
    const hash = createHash('sha256')
    hash.update(credentials.identity?.certPem ?? '-')
    for (const pem of credentials.bundle?.pem ?? []) hash.update('\0').update(pem)
    id = hash.digest('hex').slice(0, 32)
    sessionIdCache.set(credentials, id)
  }
  return id
}
