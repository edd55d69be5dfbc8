/**
 * OpenSSL's certificate verification results, as Node reports them (`socket.authorizationError` on a
 * server, the `code` of a client's handshake error), mapped onto this library's certificate codes.
 *
 * The names are OpenSSL's `X509_V_ERR_*` without the prefix (Node's `X509ErrorCode`). Anything not listed
 * means "no trusted path" and maps to ERR_CONNECT_CERT_UNKNOWN_ISSUER, with OpenSSL's name kept in the
 * message: refusing is right whatever the detail, and the detail stays visible.
 */
import type { CertificateErrorCode } from '../errors.js'

const CODES: Readonly<Record<string, CertificateErrorCode>> = {
  CERT_HAS_EXPIRED: 'ERR_CONNECT_CERT_EXPIRED',
  CERT_NOT_YET_VALID: 'ERR_CONNECT_CERT_NOT_YET_VALID',
  UNABLE_TO_GET_ISSUER_CERT: 'ERR_CONNECT_CERT_UNKNOWN_ISSUER',
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: 'ERR_CONNECT_CERT_UNKNOWN_ISSUER',
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: 'ERR_CONNECT_CERT_UNKNOWN_ISSUER',
  DEPTH_ZERO_SELF_SIGNED_CERT: 'ERR_CONNECT_CERT_UNKNOWN_ISSUER',
  SELF_SIGNED_CERT_IN_CHAIN: 'ERR_CONNECT_CERT_UNKNOWN_ISSUER',
  CERT_UNTRUSTED: 'ERR_CONNECT_CERT_UNKNOWN_ISSUER',
  CERT_SIGNATURE_FAILURE: 'ERR_CONNECT_CERT_BAD_SIGNATURE',
  UNABLE_TO_DECRYPT_CERT_SIGNATURE: 'ERR_CONNECT_CERT_BAD_SIGNATURE',
  UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY: 'ERR_CONNECT_CERT_BAD_SIGNATURE',
  INVALID_CA: 'ERR_CONNECT_CERT_NOT_CA',
  PATH_LENGTH_EXCEEDED: 'ERR_CONNECT_CERT_NOT_CA',
  CERT_CHAIN_TOO_LONG: 'ERR_CONNECT_CERT_NOT_CA',
  KEYUSAGE_NO_CERTSIGN: 'ERR_CONNECT_CERT_NOT_CA',
  INVALID_PURPOSE: 'ERR_CONNECT_CERT_WRONG_USAGE',
  CERT_REJECTED: 'ERR_CONNECT_CERT_WRONG_USAGE',
  ERROR_IN_CERT_NOT_BEFORE_FIELD: 'ERR_CONNECT_CERT_PARSE',
  ERROR_IN_CERT_NOT_AFTER_FIELD: 'ERR_CONNECT_CERT_PARSE'
}

/** True when `code` is one of OpenSSL's verification results (as opposed to a socket or protocol error). */
export function isVerifyErrorCode (code: unknown): code is string {
  return typeof code === 'string' && Object.hasOwn(CODES, code)
}

/**
 * The certificate code for an OpenSSL verification result. Accepts what Node hands out: a code string
 * (`'CERT_HAS_EXPIRED'`), or an Error carrying one in `code` (the typings of `authorizationError` say
 * Error, the runtime value is a string).
 */
export function certificateCodeOf (result: unknown): CertificateErrorCode {
  const code = verifyErrorName(result)
  return CODES[code] ?? 'ERR_CONNECT_CERT_UNKNOWN_ISSUER'
}

/** OpenSSL's name for a verification result, for messages; `'UNKNOWN'` when there is none. */
export function verifyErrorName (result: unknown): string {
  if (typeof result === 'string' && result !== '') return result
  const code = (result as { code?: unknown } | null | undefined)?.code
  return typeof code === 'string' && code !== '' ? code : 'UNKNOWN'
}
