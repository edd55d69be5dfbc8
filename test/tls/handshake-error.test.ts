import assert from 'node:assert/strict'
import { classifyTlsError } from '../../lib/tls/handshake-error.js'
import type { TlsErrorReason } from '../../lib/tls/handshake-error.js'

describe('classifyTlsError', () => {
  const table: Array<[unknown, TlsErrorReason]> = [
    [{ code: 'ERR_SSL_HTTP_REQUEST' }, 'not-tls'],
    [{ code: 'ERR_SSL_WRONG_VERSION_NUMBER' }, 'not-tls'],
    [{ code: 'ERR_SSL_UNEXPECTED_MESSAGE' }, 'not-tls'],
    [{ code: 'ERR_TLS_HANDSHAKE_TIMEOUT' }, 'handshake-timeout'],
    [{ code: 'ECONNRESET' }, 'reset'],
    [{ code: 'ERR_SSL_NO_APPLICATION_PROTOCOL' }, 'alpn'],
    [{ code: 'ERR_SSL_UNSUPPORTED_PROTOCOL' }, 'version'],
    [{ code: 'ERR_SSL_TLSV1_ALERT_UNKNOWN_CA' }, 'peer-alert'],
    [{ code: 'ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE' }, 'peer-alert'],
    [{ code: 'ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED' }, 'peer-alert'],
    [{ code: 'ERR_SSL_NO_SUITABLE_SIGNATURE_ALGORITHM' }, 'handshake'],
    [{ code: 42 }, 'handshake'],
    [new Error('no code'), 'handshake'],
    [null, 'handshake']
  ]
  for (const [err, reason] of table) {
    it(`classifies ${JSON.stringify(err) ?? String(err)} as ${reason}`, () => {
      assert.equal(classifyTlsError(err), reason)
    })
  }
})
