/**
 * Environment: the operator's side of the demo, what Consul's own configuration would do in production
 * (service definitions, intentions, the CA configuration). The story's steps only talk to the mesh through
 * this interface, so the same steps run against the embedded TestAgent (embedded.ts) and against a real
 * Consul agent (real-agent.ts).
 */
import type { AgentClientOptions } from '../../lib/index.js'
// Published: import type { IntentionPermission } from 'consul-connect-native/testing'
import type { IntentionPermission } from '../../lib/testing/index.js'

export type { IntentionPermission }

export interface Environment {
  /** Which kind of agent this is. */
  readonly kind: 'embedded' | 'consul'
  /** One sentence naming the agent, for the narration: `an embedded TestAgent on 127.0.0.1:41234`. */
  readonly description: string
  /** The `agent` option of `new ConnectService({ service, agent })`. */
  readonly agent: AgentClientOptions
  /** Longest wait for something the agent does (a watch seeing a change, a re-issued leaf), ms. */
  readonly patienceMs: number
  /** Registers a Connect-native instance of `service` on 127.0.0.1:`port` (deregistered by `close`). */
  register (service: string, port: number): Promise<void>
  /** Writes the L4 intention `source → destination: allow` (replacing any intention between the two). */
  setIntentionAllow (source: string, destination: string): Promise<void>
  /** Writes the L4 intention `source → destination: deny` (replacing any intention between the two). */
  setIntentionDeny (source: string, destination: string): Promise<void>
  /**
   * Replaces the intentions of `destination` with one L7 intention from `source`: HTTP `permissions`, tried
   * in order, the first match deciding. Against Consul this first declares `destination`'s protocol `http`.
   */
  setL7 (source: string, destination: string, permissions: readonly IntentionPermission[]): Promise<void>
  /** Rotates the CA root: a new root becomes active, cross-signed by the old one, and every leaf is re-issued. */
  rotateRoot (): Promise<void>
  /**
   * Makes the agent issue a new leaf for `service` now. Only the embedded agent can: a real agent renews a leaf
   * by itself, at a random point between 60 % and 90 % of its lifetime.
   */
  readonly renewLeaf?: (service: string) => Promise<void>
  /** Undoes what the demo created (registrations, intentions, config entries); returns what it did, one line each. */
  close (): Promise<string[]>
}
