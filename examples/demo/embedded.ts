/**
 * The embedded environment: a TestAgent (the library's `consul-connect-native/testing` subpath) started in
 * this process, on 127.0.0.1 and a free port. It answers the agent endpoints the library uses, issues leaves
 * from an in-memory CA, and stores intentions; its control methods stand in for an operator.
 */
// Published: import { TestAgent } from 'consul-connect-native/testing'
import { TestAgent } from '../../lib/testing/index.js'
import type { Environment, IntentionPermission } from './environment.js'

export async function embeddedEnvironment (): Promise<Environment> {
  const agent = await TestAgent.start()
  return {
    kind: 'embedded',
    description: `an embedded TestAgent on ${agent.address} (no Consul needed)`,
    // env: false, so that CONSUL_* variables of the shell (a token, TLS settings) stay out of this talk.
    agent: { address: agent.address, env: false },
    patienceMs: 5_000,
    register: async (service: string, port: number) => {
      agent.registerService({ name: service, id: `${service}-${port}`, port })
    },
    setIntentionAllow: async (source: string, destination: string) => {
      agent.upsertIntention(source, destination, { Action: 'allow' })
    },
    setIntentionDeny: async (source: string, destination: string) => {
      agent.upsertIntention(source, destination, { Action: 'deny' })
    },
    setL7: async (source: string, destination: string, permissions: readonly IntentionPermission[]) => {
      agent.setServiceDefaults(destination, { Protocol: 'http' }) // as in Consul, L7 permissions need an HTTP protocol
      agent.setIntentions(destination, [{ Name: source, Permissions: permissions }])
    },
    rotateRoot: async () => {
      await agent.rotateRoot()
    },
    renewLeaf: async (service: string) => {
      await agent.renewLeaf(service)
    },
    close: async () => {
      await agent.close()
      return ['stopped the embedded TestAgent']
    }
  }
}
