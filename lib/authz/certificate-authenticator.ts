/**
 * "Given this peer certificate chain, who is it, and may it connect?" for authors of plugins for other servers,
 * in the shape of the Presto/Trino `CertificateAuthenticator` SPI: a function that takes the client's chain and
 * returns a principal, or throws to deny.
 *
 * It keeps that shape and fixes the original plugin's faults:
 * - decisions come from the locally cached intentions (no HTTP call per request to the agent's authorize);
 * - the chain is verified against the *current* roots of a live credentials source, so a CA rotation needs no
 *   restart;
 * - identity comes from the single SPIFFE URI SAN (never the subject CN), parsed strictly;
 * - the serial is reported in Consul's colon-hex;
 * - every call is independent: no shared mutable state between calls.
 *
 * The function is synchronous and does no I/O.
 */
import { X509Certificate } from 'node:crypto'
import { AuthorizationError, CertificateError, ConnectError } from '../errors.js'
import type { CredentialsSource } from '../identity/source.js'
import { verifyChain } from '../identity/verify.js'
import { parseCertificate, parseCertificates, spiffeUriOf } from '../identity/x509.js'
import type { Certificate } from '../identity/x509.js'
import { parseSpiffeId } from '../spiffe-id.js'
import type { ServiceId } from '../spiffe-id.js'
import { safeAuthorize } from './authorizer.js'
import type { Authorizer, Decision, HttpRequestInfo } from './authorizer.js'

/** Who the peer is. Frozen. */
export interface Principal {
  /** The SPIFFE ID URI of the peer's leaf (the name most servers use for the principal). */
  readonly name: string
  readonly spiffeId: string
  readonly service: string
  readonly namespace: string
  readonly partition: string
  readonly datacenter: string
  readonly trustDomain: string
  /** Leaf serial in Consul's colon-hex. */
  readonly serial: string
  readonly notAfter: Date
  /** The decision that allowed the peer. */
  readonly decision: Decision
}

/** A chain as servers hand it over: leaf first. PEM (one string with several blocks is fine), DER or X509Certificate. */
export type CertificateChainInput = string | Uint8Array | X509Certificate | Certificate | ReadonlyArray<string | Uint8Array | X509Certificate | Certificate>

export type CertificateAuthenticator = (chain: CertificateChainInput, request?: HttpRequestInfo) => Principal

export interface CertificateAuthenticatorOptions {
  readonly source: CredentialsSource
  readonly authorizer: Authorizer
}

/**
 * Builds the authenticator.
 * Throws (from the returned function): ConnectError ERR_CONNECT_NOT_READY before roots are loaded;
 * CertificateError (ERR_CONNECT_CERT_*) for a chain that does not parse or verify; SpiffeIdError for a malformed
 * SPIFFE ID; AuthorizationError (ERR_CONNECT_NOT_AUTHORIZED, `reason`) for a non-service identity or when
 * authorization denies.
 */
export function certificateAuthenticator (options: CertificateAuthenticatorOptions): CertificateAuthenticator {
  const { source, authorizer } = options
  return (input, request) => {
    const bundle = source.credentials.bundle
    if (bundle === undefined) throw new ConnectError('ERR_CONNECT_NOT_READY', 'authenticating a peer: no CA roots loaded yet')
    const chain = toCertificates(input)
    const leaf = chain[0]
    if (leaf === undefined) throw new CertificateError('ERR_CONNECT_CERT_PARSE', 'authenticating a peer: the chain is empty')
    const verified = verifyChain(leaf, chain.slice(1), bundle, { usage: 'clientAuth' })
    if (!verified.ok) throw verified.error
    const id = parseSpiffeId(spiffeUriOf(leaf))
    if (id.kind !== 'service') {
      throw new AuthorizationError(`${id.uri} is a ${id.kind} identity, not a service`)
    }
    const decision = safeAuthorize(authorizer, { id, certificate: leaf }, request)
    if (!decision.allowed) throw new AuthorizationError(decision.reason)
    return principal(id, leaf, decision)
  }
}

function principal (id: ServiceId, leaf: Certificate, decision: Decision): Principal {
  return Object.freeze({
    name: id.uri,
    spiffeId: id.uri,
    service: id.service,
    namespace: id.namespace,
    partition: id.partition,
    datacenter: id.datacenter,
    trustDomain: id.trustDomain,
    serial: leaf.serial,
    notAfter: leaf.notAfter,
    decision
  })
}

function toCertificates (input: CertificateChainInput): Certificate[] {
  if (typeof input === 'string') return parseCertificates(input)
  if (Array.isArray(input)) return (input as ReadonlyArray<string | Uint8Array | X509Certificate | Certificate>).flatMap((item) => toCertificates(item as CertificateChainInput))
  if (input instanceof X509Certificate || input instanceof Uint8Array) return [parseCertificate(input)]
  if (typeof input === 'object' && input !== null && 'der' in input) return [input as Certificate]
  throw new CertificateError('ERR_CONNECT_CERT_PARSE', 'authenticating a peer: expected PEM, DER, X509Certificate or an array of them')
}
