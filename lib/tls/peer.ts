/**
 * The peer of an inbound TLS connection: checked once the handshake is done, then kept on the socket so
 * request handlers can ask who is calling.
 *
 * What {@link checkPeer} requires, in order (the first failure is the reason given):
 * 1. a client certificate — else ERR_CONNECT_PEER_VERIFICATION ("no client certificate");
 * 2. OpenSSL's verification of its chain against the roots of the context that ran the handshake
 *    (`socket.authorized`; `authorizationError` mapped by verify-error.ts) — else ERR_CONNECT_CERT_*;
 * 3. exactly one URI SAN, a `spiffe://` URI, read from the DER (Node's `subjectaltname` string is escaped
 *    and lossy) — else ERR_CONNECT_CERT_SAN;
 * 4. a strictly parsed Consul SPIFFE ID — else ERR_CONNECT_SPIFFE_ID_INVALID / _UNSUPPORTED;
 * 5. of kind `service`: an agent's, server's or gateway's certificate is not a caller — else
 *    ERR_CONNECT_PEER_VERIFICATION;
 * 6. the leaf inside its validity window *now*: a resumed session carries the verification made when it was
 *    first established, possibly before the leaf expired — else ERR_CONNECT_CERT_EXPIRED / _NOT_YET_VALID.
 *
 * Steps 3–5 are cached by SHA-256 fingerprint (a bounded map) together with the frozen {@link Peer} they
 * produce: the same few peer leaves come back on every connection, and parsing costs far more than the lookup.
 */
import type { TLSSocket } from 'node:tls'
import type { Peer } from '../authz/authorizer.js'
import { ConnectError } from '../errors.js'
import type { ErrorCode } from '../errors.js'
import { parseCertificate, spiffeUriOf } from '../identity/x509.js'
import { parseSpiffeId } from '../spiffe-id.js'
import type { SpiffeId } from '../spiffe-id.js'
import { certificateCodeOf, verifyErrorName } from './verify-error.js'

export type PeerCheck =
  | { readonly ok: true, readonly peer: Peer }
  | { readonly ok: false, readonly code: ErrorCode, readonly reason: string }

const kPeer = Symbol('consul-connect-native.tls.peer')
const CACHE_SIZE = 512
/** A cached identity: the frozen answer for an acceptable leaf with its certificate, or the refusal. */
type Identified =
  | { readonly ok: true, readonly peer: Peer, readonly serial: string, readonly notBeforeMs: number, readonly notAfterMs: number }
  | Extract<PeerCheck, { ok: false }>
const identities = new Map<string, Identified>()

/** Checks the peer of a server-side socket whose handshake completed (see the module comment). Never throws. */
export function checkPeer (socket: TLSSocket, now: number = Date.now()): PeerCheck {
  // getPeerCertificate() (not getPeerX509Certificate()): the latter duplicates the certificate natively and
  // re-decodes its key through OpenSSL 3's slow decoder, about 75 % of this whole check in bench/tls-server.ts.
  // Only `raw` (the exact DER, parsed by us) and `fingerprint256` (the cache key) are used from it.
  let peerCert: { raw?: Buffer, fingerprint256?: string } | undefined
  try {
    peerCert = socket.getPeerCertificate()
  } catch {
    peerCert = undefined
  }
  if (peerCert?.raw === undefined || peerCert.fingerprint256 === undefined) return refuse('ERR_CONNECT_PEER_VERIFICATION', 'no client certificate (mutual TLS requires one)')
  if (!socket.authorized) {
    const name = verifyErrorName(socket.authorizationError)
    return refuse(certificateCodeOf(name), `client certificate does not verify against the current roots: ${name}`)
  }
  const checked = identityOf(peerCert.raw, peerCert.fingerprint256)
  if (!checked.ok) return checked
  // Validity is judged per connection: the same cached leaf expires while it is being used. The times are
  // numbers kept at parse time, not the shared certificate's Date objects, which a handler could change.
  if (now < checked.notBeforeMs) {
    return refuse('ERR_CONNECT_CERT_NOT_YET_VALID', `client certificate ${checked.serial} is not valid before ${new Date(checked.notBeforeMs).toISOString()}`)
  }
  if (now > checked.notAfterMs) {
    return refuse('ERR_CONNECT_CERT_EXPIRED', `client certificate ${checked.serial} expired at ${new Date(checked.notAfterMs).toISOString()}`)
  }
  return checked // the cached frozen answer: no allocation for a returning peer
}

/**
 * The verified peer of an accepted connection, given its TLS socket, an `http.IncomingMessage`, an
 * `Http2ServerRequest`, an `Http2Stream` or an `Http2Session`; `undefined` for anything else, including
 * connections not accepted by a guarded server. Never throws.
 */
export function peerOf (target: unknown): Peer | undefined {
  if (typeof target !== 'object' || target === null) return undefined
  return read(target) ??
    read(property(target, 'socket')) ??
    read(property(property(property(target, 'stream'), 'session'), 'socket')) ??
    read(property(property(target, 'session'), 'socket'))
}

/** Records the verified peer on the socket (what {@link peerOf} reads). */
export function setPeer (socket: TLSSocket, peer: Peer): void {
  Object.defineProperty(socket, kPeer, { value: peer, configurable: true, enumerable: false, writable: false })
}

function refuse (code: ErrorCode, reason: string): Extract<PeerCheck, { ok: false }> {
  return Object.freeze({ ok: false, code, reason })
}

/**
 * Steps 3–5 for a leaf, cached by fingerprint: they depend on the DER alone, so a peer that comes back gets
 * the same frozen {@link Peer} (no parse, no allocation), and a malformed leaf is refused without parsing it
 * again. Validity and the chain are not cached: they depend on the time and on the roots.
 */
function identityOf (der: Buffer, fingerprint: string): Identified {
  const cached = identities.get(fingerprint)
  if (cached !== undefined) return cached
  let checked: Identified
  try {
    const certificate = parseCertificate(der)
    const id: SpiffeId = parseSpiffeId(spiffeUriOf(certificate))
    checked = id.kind === 'service'
      ? Object.freeze({
        ok: true,
        peer: Object.freeze({ id, certificate }),
        serial: certificate.serial,
        notBeforeMs: certificate.notBefore.getTime(),
        notAfterMs: certificate.notAfter.getTime()
      })
      : refuse('ERR_CONNECT_PEER_VERIFICATION', `client ${id.uri} is a ${id.kind} identity, not a service`)
  } catch (err) {
    const code = err instanceof ConnectError ? err.code : 'ERR_CONNECT_CERT_PARSE'
    checked = refuse(code, `client certificate: ${(err as Error)?.message ?? String(err)}`)
  }
  // Evict the oldest entry (Map iterates in insertion order): peers are few, a full map means churn.
  if (identities.size >= CACHE_SIZE) identities.delete(identities.keys().next().value!)
  identities.set(fingerprint, checked)
  return checked
}

// HTTP/2 hands out a Proxy for its socket; property reads (symbols included) reach the TLS socket. Getters
// of closed sessions throw, hence the guards.
function property (target: unknown, name: string): unknown {
  if (typeof target !== 'object' || target === null) return undefined
  try {
    return (target as Record<string, unknown>)[name]
  } catch {
    return undefined
  }
}

function read (target: unknown): Peer | undefined {
  if (typeof target !== 'object' || target === null) return undefined
  try {
    return (target as { [kPeer]?: Peer })[kPeer]
  } catch {
    return undefined
  }
}
