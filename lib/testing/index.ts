/**
 * consul-connect-native/testing: helpers for tests without a Consul cluster. Every export is named here.
 *
 * - {@link TestCA}: an in-memory CA issuing Consul-shaped roots and leaves.
 * - {@link TestAgent}: a real HTTP server on 127.0.0.1 answering the agent endpoints the library uses,
 *   with controls (rotation, intentions, service protocols, instances), fault injection and a request log.
 */
export { TestCA, TestIntermediate } from './test-ca.js'
export type { TestCAOptions, IssueLeafOptions, IssuedLeaf, CreateIntermediateOptions, TestExtKeyUsage } from './test-ca.js'

export { TestAgent } from './test-agent.js'
export type { TestAgentOptions } from './test-agent-options.js'
export type { TestAgentAclOptions, TestAgentTokenPolicy } from './test-agent-acl.js'
export type { TestAgentServiceRegistration } from './test-agent-catalog.js'
export type { FaultSpec, FaultHandle } from './faults.js'
export type { RequestLogEntry } from './test-agent-http.js'
export type { RequestFilter, TestAgentCounters } from './test-agent-requests.js'
export type {
  ServiceIntentionSource, ServiceIntentionsEntry, ExactIntentionBody, IntentionPermission, IntentionHeaderPermission
} from './test-agent-intention-input.js'
export type { Intention } from './test-agent-intention-shapes.js'
export type { ServiceDefaultsEntry, ProxyDefaultsEntry } from './test-agent-defaults.js'
