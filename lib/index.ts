/**
 * consul-connect-native: the public API. Every export is named here explicitly.
 */
export { ConnectError, InvalidOptionError, SpiffeIdError, CertificateError, AgentError, AuthorizationError, ErrorCodes, hasCode } from './errors.js'
export type { ErrorCode, CertificateErrorCode, AgentErrorCode, AgentErrorOptions, ConnectErrorOptions } from './errors.js'
