import assert from 'node:assert/strict'
import { ErrorCodes } from '../../lib/errors.js'
import { certificateCodeOf, isVerifyErrorCode, verifyErrorName } from '../../lib/tls/verify-error.js'

describe('OpenSSL verification results', () => {
  const table: Array<[string, string]> = [
    ['CERT_HAS_EXPIRED', 'ERR_CONNECT_CERT_EXPIRED'],
    ['CERT_NOT_YET_VALID', 'ERR_CONNECT_CERT_NOT_YET_VALID'],
    ['UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'ERR_CONNECT_CERT_UNKNOWN_ISSUER'],
    ['UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'ERR_CONNECT_CERT_UNKNOWN_ISSUER'],
    ['SELF_SIGNED_CERT_IN_CHAIN', 'ERR_CONNECT_CERT_UNKNOWN_ISSUER'],
    ['DEPTH_ZERO_SELF_SIGNED_CERT', 'ERR_CONNECT_CERT_UNKNOWN_ISSUER'],
    ['CERT_SIGNATURE_FAILURE', 'ERR_CONNECT_CERT_BAD_SIGNATURE'],
    ['INVALID_CA', 'ERR_CONNECT_CERT_NOT_CA'],
    ['PATH_LENGTH_EXCEEDED', 'ERR_CONNECT_CERT_NOT_CA'],
    ['INVALID_PURPOSE', 'ERR_CONNECT_CERT_WRONG_USAGE'],
    ['ERROR_IN_CERT_NOT_AFTER_FIELD', 'ERR_CONNECT_CERT_PARSE'],
    ['SOMETHING_NEW', 'ERR_CONNECT_CERT_UNKNOWN_ISSUER']
  ]

  for (const [openssl, code] of table) {
    it(`maps ${openssl} to ${code}`, () => {
      assert.equal(certificateCodeOf(openssl), code)
      assert.equal(certificateCodeOf(Object.assign(new Error('x'), { code: openssl })), code)
      assert.ok(code in ErrorCodes)
    })
  }

  it('tells verification results from other error codes', () => {
    assert.equal(isVerifyErrorCode('CERT_HAS_EXPIRED'), true)
    assert.equal(isVerifyErrorCode('ECONNRESET'), false)
    assert.equal(isVerifyErrorCode('ERR_SSL_WRONG_VERSION_NUMBER'), false)
    assert.equal(isVerifyErrorCode(undefined), false)
  })

  it('names a result from a string or an error, and says UNKNOWN otherwise', () => {
    assert.equal(verifyErrorName('INVALID_CA'), 'INVALID_CA')
    assert.equal(verifyErrorName({ code: 'INVALID_CA' }), 'INVALID_CA')
    assert.equal(verifyErrorName(null), 'UNKNOWN')
    assert.equal(verifyErrorName(''), 'UNKNOWN')
  })
})
