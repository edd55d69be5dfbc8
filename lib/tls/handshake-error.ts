/**
 * Why a TLS handshake on a server failed before there was a peer to decide on (Node's `tlsClientError`),
 * reduced to a small closed set of reasons that metrics can label by.
 */

export type TlsErrorReason =
  /** The client did not speak TLS (plain HTTP, random bytes, a truncated or malformed record). */
  | 'not-tls'
  /** The handshake did not finish within the handshake timeout. */
  | 'handshake-timeout'
  /** The client closed or reset the connection during the handshake. */
  | 'reset'
  /** The client's ALPN list shares nothing with the server's. */
  | 'alpn'
  /** No protocol version in common (a client below TLS 1.2, say). */
  | 'version'
  /** The client sent a fatal alert: typically it refused our certificate (unknown CA, expired). */
  | 'peer-alert'
  /** Any other handshake failure (no shared cipher, no certificate to present while not ready...). */
  | 'handshake'

// OpenSSL reasons, as Node names them (`ERR_SSL_<REASON>`), that mean the bytes were not a TLS handshake.
const NOT_TLS = new Set([
  'ERR_SSL_HTTP_REQUEST', 'ERR_SSL_HTTPS_PROXY_REQUEST', 'ERR_SSL_WRONG_VERSION_NUMBER', 'ERR_SSL_UNKNOWN_PROTOCOL',
  'ERR_SSL_PACKET_LENGTH_TOO_LONG', 'ERR_SSL_RECORD_LENGTH_MISMATCH', 'ERR_SSL_UNEXPECTED_MESSAGE',
  'ERR_SSL_UNEXPECTED_RECORD', 'ERR_SSL_LENGTH_MISMATCH', 'ERR_SSL_BAD_PACKET_LENGTH', 'ERR_SSL_RECORD_LAYER_FAILURE',
  'ERR_SSL_BAD_PACKET', 'ERR_SSL_ENCRYPTED_LENGTH_TOO_LONG'
])
const VERSION = new Set([
  'ERR_SSL_UNSUPPORTED_PROTOCOL', 'ERR_SSL_NO_PROTOCOLS_AVAILABLE', 'ERR_SSL_VERSION_TOO_LOW', 'ERR_SSL_VERSION_TOO_HIGH',
  'ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION'
])
const RESET = new Set(['ECONNRESET', 'EPIPE', 'ECONNABORTED', 'ETIMEDOUT'])

/** The reason for a `tlsClientError`. Never throws. */
export function classifyTlsError (err: unknown): TlsErrorReason {
  const code = (err as { code?: unknown } | null | undefined)?.code
  if (typeof code !== 'string') return 'handshake'
  if (code === 'ERR_TLS_HANDSHAKE_TIMEOUT') return 'handshake-timeout'
  if (RESET.has(code)) return 'reset'
  if (NOT_TLS.has(code)) return 'not-tls'
  if (VERSION.has(code)) return 'version'
  if (code === 'ERR_SSL_NO_APPLICATION_PROTOCOL' || code === 'ERR_SSL_TLSV1_ALERT_NO_APPLICATION_PROTOCOL') return 'alpn'
  // `ERR_SSL_SSLV3_ALERT_*`, `ERR_SSL_TLSV1_ALERT_*`, `ERR_SSL_TLSV13_ALERT_*`: the client said why it stopped.
  if (/^ERR_SSL_(SSLV3|TLSV1|TLSV13)_ALERT_/.test(code)) return 'peer-alert'
  return 'handshake'
}
