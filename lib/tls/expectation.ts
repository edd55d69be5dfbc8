/**
 * What a client expects of the server it dials, and the check of the server's certificate against it.
 *
 * The rule (what `connectTls` and `clientTlsOptions` enforce once OpenSSL has verified the chain against
 * the current roots):
 * 1. the server leaf carries exactly one URI SAN, a `spiffe://` URI, read from the DER (never from Node's
 *    escaped `subjectaltname` string) — else ERR_CONNECT_CERT_SAN;
 * 2. it parses strictly as a Consul SPIFFE ID — else ERR_CONNECT_SPIFFE_ID_INVALID / _UNSUPPORTED;
 * 3. it is a service ID (an agent's, server's or gateway's certificate is not a service) — else
 *    ERR_CONNECT_PEER_VERIFICATION;
 * 4. with an {@link ExpectedService}: `service`, `namespace` and `partition` equal the expected ones (ASCII
 *    case-insensitive, as Consul's Go client compares), omitted namespace/partition meaning `default`;
 *    the datacenter only when `datacenter` is given (a service is the same service in every datacenter, and
 *    a failover target may answer from another one); the trust domain is ignored, as Consul's Go SDK does,
 *    because chain verification already bounds it and ignoring it lets trust-domain migrations pass —
 *    else ERR_CONNECT_PEER_VERIFICATION naming expected and presented IDs;
 *    with a function: it returns `true` for the parsed ID (a throw or any other value refuses).
 */
import { ConnectError, InvalidOptionError, SpiffeIdError } from '../errors.js'
import { peerSpiffeUri } from '../identity/x509.js'
import { parseSpiffeId, sameService, serviceId } from '../spiffe-id.js'
import type { ServiceId, SpiffeId } from '../spiffe-id.js'

/** The service a client means to reach. */
export interface ExpectedService {
  readonly service: string
  /** Default `default`. */
  readonly namespace?: string
  /** Default `default`. */
  readonly partition?: string
  /** Checked only when given. */
  readonly datacenter?: string
}

/** The codes a SpiffeIdError carries. */
export type SpiffeIdCode = ConstructorParameters<typeof SpiffeIdError>[0]

/** An expected service, or a predicate over the server's parsed SPIFFE ID. */
export type ServerExpectation = ExpectedService | ((id: SpiffeId) => boolean)

/** A validated expectation, ready to check certificates with. */
export interface IdentityCheck {
  /** Names what is expected, for messages: `service "db" (namespace "default", partition "default")`. */
  readonly description: string
  /** Checks a server leaf (DER). Never throws. */
  verify (leafDer: Uint8Array): { readonly ok: true, readonly id: ServiceId } | { readonly ok: false, readonly error: ConnectError }
}

// Any valid trust domain: only the fields of the expected ID are compared (rule 4).
const PLACEHOLDER_TRUST_DOMAIN = 'expected.consul'
const PLACEHOLDER_DATACENTER = 'any'

/**
 * Validates an expectation once, so a bad one fails when options are built rather than on every handshake.
 * @throws InvalidOptionError naming `field` (or `field.service`...) when the expectation is malformed
 */
export function compileExpectation (expect: ServerExpectation, field = 'expect'): IdentityCheck {
  if (typeof expect === 'function') {
    return Object.freeze({
      description: `a server accepted by ${field}()`,
      verify: (der: Uint8Array) => verifyWith(der, 'accepted by the expect function', (id) => expect(id) === true)
    })
  }
  if (expect === null || typeof expect !== 'object') {
    throw new InvalidOptionError(field, 'must be { service, namespace?, partition?, datacenter? } or a function of the SPIFFE ID')
  }
  for (const key of ['service', 'namespace', 'partition', 'datacenter'] as const) {
    const value = expect[key]
    if (value === undefined && key !== 'service') continue
    if (typeof value !== 'string' || value === '') throw new InvalidOptionError(`${field}.${key}`, 'must be a non-empty string')
  }
  for (const key of Object.keys(expect)) {
    if (!['service', 'namespace', 'partition', 'datacenter'].includes(key)) throw new InvalidOptionError(`${field}.${key}`, 'is not a known option')
  }
  let expected: ServiceId
  try {
    expected = serviceId({
      trustDomain: PLACEHOLDER_TRUST_DOMAIN,
      service: expect.service,
      datacenter: expect.datacenter ?? PLACEHOLDER_DATACENTER,
      ...(expect.namespace === undefined ? {} : { namespace: expect.namespace }),
      ...(expect.partition === undefined ? {} : { partition: expect.partition })
    })
  } catch (err) {
    throw new InvalidOptionError(field, `does not name a service a SPIFFE ID can carry: ${(err as Error).message}`, { cause: err })
  }
  const datacenter = expect.datacenter !== undefined
  const description = `service ${JSON.stringify(expected.service)} (namespace ${JSON.stringify(expected.namespace)}, ` +
    `partition ${JSON.stringify(expected.partition)}${datacenter ? `, datacenter ${JSON.stringify(expected.datacenter)}` : ''})`
  return Object.freeze({
    description,
    verify: (der: Uint8Array) => verifyWith(der, description, (id) => sameService(expected, id, { datacenter }))
  })
}

function verifyWith (der: Uint8Array, description: string, accepts: (id: ServiceId) => boolean): ReturnType<IdentityCheck['verify']> {
  const expecting = `expected ${description}`
  let uri: string
  let id: SpiffeId
  try {
    uri = peerSpiffeUri(der)
    id = parseSpiffeId(uri)
  } catch (err) {
    // The codes of the underlying failure are more precise than a generic mismatch: keep them.
    const code = err instanceof ConnectError ? err.code : 'ERR_CONNECT_PEER_VERIFICATION'
    const error = err instanceof SpiffeIdError
      ? new SpiffeIdError(err.code as SpiffeIdCode, err.input, `server identity: ${expecting}, but ${err.message}`, { cause: err })
      : new ConnectError(code, `server identity: ${expecting}, but ${(err as Error).message}`, { cause: err })
    return { ok: false, error }
  }
  if (id.kind !== 'service') {
    return { ok: false, error: new ConnectError('ERR_CONNECT_PEER_VERIFICATION', `server identity: ${expecting}, but the server presented ${id.uri}, a ${id.kind} identity, not a service`) }
  }
  let accepted: boolean
  let cause: unknown
  try {
    accepted = accepts(id)
  } catch (err) {
    accepted = false
    cause = err
  }
  if (accepted) return { ok: true, id }
  const why = cause === undefined ? '' : ` (the expect function threw: ${(cause as Error)?.message ?? String(cause)})`
  return {
    ok: false,
    error: new ConnectError('ERR_CONNECT_PEER_VERIFICATION', `server identity: ${expecting}, but the server presented ${id.uri}${why}`, cause === undefined ? undefined : { cause })
  }
}
