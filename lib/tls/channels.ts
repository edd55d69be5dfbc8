/**
 * `node:diagnostics_channel` channels of the TLS layer, for tracers and metrics that subscribe without a
 * reference to the servers (the guards' events carry the same payloads).
 *
 * - `consul-connect-native:tls:decision` — `{ server, decision: ConnectionDecision }` for every accepted or
 *   refused connection (refusals while not ready included);
 * - `consul-connect-native:tls:error` — `{ server, info: TlsErrorInfo }` for every failed handshake;
 * - `consul-connect-native:tls:context` — `{ server, change: ContextChange }` after every context swap.
 *
 * Messages are published only when a channel has subscribers, so an idle channel costs one property read.
 */
import diagnosticsChannel from 'node:diagnostics_channel'
import type { Server as TlsServer } from 'node:tls'
import type { ConnectionDecision, ContextChange, TlsErrorInfo } from './guard-events.js'

export const decisionChannel = diagnosticsChannel.channel('consul-connect-native:tls:decision')
export const tlsErrorChannel = diagnosticsChannel.channel('consul-connect-native:tls:error')
export const contextChannel = diagnosticsChannel.channel('consul-connect-native:tls:context')

export interface DecisionMessage { readonly server: TlsServer, readonly decision: ConnectionDecision }
export interface TlsErrorMessage { readonly server: TlsServer, readonly info: TlsErrorInfo }
export interface ContextMessage { readonly server: TlsServer, readonly change: ContextChange }
