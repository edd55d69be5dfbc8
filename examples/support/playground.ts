/**
 * The operator's side of the examples: an agent to talk to, service instances registered in its catalog,
 * intentions written, and (for one example) a CA root rotation. None of this is the library's job: in a real
 * deployment these come from Consul's configuration (service definitions, `service-intentions` config
 * entries, the CA configuration). The examples call it so that each one can run on its own.
 *
 * - No address: a {@link TestAgent} (the library's `consul-connect-native/testing` subpath) starts on
 *   127.0.0.1. No Consul is needed, and the services are given `{ address, env: false }` so that `CONSUL_*`
 *   variables of your shell (a token, `CONSUL_HTTP_SSL`) do not leak into the talk with the test agent.
 * - An address (`CONSUL_HTTP_ADDR`): that agent is used through its HTTP API, with the rest of the `CONSUL_*`
 *   environment (token, TLS). Point it at a `consul agent -dev`: the examples register instances, replace the
 *   `service-intentions` entries of the services they use (deleted again on close; L7 permissions also
 *   need a `service-defaults` entry with protocol `http`, created when missing and deleted again) and one
 *   of them rotates the CA root (built-in provider only).
 */
import { generateKeyPairSync } from 'node:crypto'
import { z } from 'zod'
// Published: import { AgentClient, AgentError } from 'consul-connect-native'
//            import { TestAgent } from 'consul-connect-native/testing'
//            import type { ServiceIntentionSource } from 'consul-connect-native/testing'
import { AgentClient, AgentError } from '../../lib/index.js'
import type { AgentClientOptions } from '../../lib/index.js'
import { TestAgent } from '../../lib/testing/index.js'
import type { ServiceIntentionSource } from '../../lib/testing/index.js'

export type { ServiceIntentionSource }

/** What every example's `main()` accepts. */
export interface ExampleOptions {
  /** A Consul agent to use (`127.0.0.1:8500`, `http://…`, `unix:///…`). Default: start a TestAgent. */
  readonly agentAddress?: string | undefined
  /** Where the example writes what happens, one line at a time. Default `console.log`. */
  readonly log?: ((line: string) => void) | undefined
}

export interface Playground {
  /** Which kind of agent is behind `address`. */
  readonly kind: 'test-agent' | 'consul'
  /** The agent's address. */
  readonly address: string
  /** The `agent` option for `new ConnectService({ service, agent })`. */
  readonly agent: AgentClientOptions
  /** The TestAgent, when one was started (undefined against a real agent). */
  readonly testAgent: TestAgent | undefined
  /** Registers a Connect-native instance of `service` listening on 127.0.0.1:`port` (deregistered on close). */
  register (service: string, port: number): Promise<void>
  /**
   * Replaces every intention whose destination is `destination`, in Consul's `service-intentions` format:
   * `[{ Name: 'web', Action: 'allow' }, { Name: '*', Action: 'deny' }]`. Deleted again on close.
   */
  setIntentions (destination: string, sources: readonly ServiceIntentionSource[]): Promise<void>
  /** Rotates the CA root as a CA configuration change does: a new root, cross-signed, every leaf re-issued. */
  rotateRoot (): Promise<void>
  /** Deregisters, deletes the intentions written, and stops the TestAgent (or the client to the real agent). */
  close (): Promise<void>
}

/** Opens a playground on `agentAddress`, or on a new TestAgent when it is undefined. */
export async function openPlayground (agentAddress: string | undefined): Promise<Playground> {
  return agentAddress === undefined || agentAddress === ''
    ? await testAgentPlayground()
    : consulPlayground(agentAddress)
}

async function testAgentPlayground (): Promise<Playground> {
  const agent = await TestAgent.start()
  return {
    kind: 'test-agent',
    address: agent.address,
    agent: { address: agent.address, env: false },
    testAgent: agent,
    async register (service, port) { agent.registerService({ name: service, id: `${service}-${port}`, port }) },
    async setIntentions (destination, sources) {
      // As in Consul, L7 permissions need an HTTP-based protocol (service-defaults).
      if (sources.some((source) => (source.Permissions?.length ?? 0) > 0)) agent.setServiceDefaults(destination, { Protocol: 'http' })
      agent.setIntentions(destination, sources)
    },
    async rotateRoot () { await agent.rotateRoot() },
    async close () { await agent.close() }
  }
}

function consulPlayground (address: string): Playground {
  // Explicit address, everything else (token, TLS to the agent) from the CONSUL_* environment.
  const options: AgentClientOptions = { address }
  const client = new AgentClient(options)
  const any = z.unknown()
  const registered: string[] = []
  const intentions = new Set<string>()
  const serviceDefaults = new Set<string>()

  /** Makes `service`'s protocol `http` unless it is HTTP-based already; an entry created here is deleted on close. */
  const ensureHttpProtocol = async (service: string): Promise<void> => {
    let protocol: string | undefined
    try {
      const entry = await client.request({
        path: `/v1/config/service-defaults/${encodeURIComponent(service)}`,
        schema: z.looseObject({ Protocol: z.string().nullish() }),
        what: `reading service-defaults of ${service}`
      })
      protocol = entry.value.Protocol ?? 'tcp'
    } catch (err) {
      if (!(err instanceof AgentError && err.status === 404)) throw err
    }
    if (protocol === undefined) {
      await client.putConfigEntry({ Kind: 'service-defaults', Name: service, Protocol: 'http' })
      serviceDefaults.add(service)
    } else if (!['http', 'http2', 'grpc'].includes(protocol)) {
      throw new Error(`service-defaults of ${JSON.stringify(service)} set protocol ${JSON.stringify(protocol)}: L7 intentions need an HTTP-based protocol`)
    }
  }
  return {
    kind: 'consul',
    address,
    agent: options,
    testAgent: undefined,
    async register (service, port) {
      const id = `${service}-${port}`
      await client.request({
        method: 'PUT',
        path: '/v1/agent/service/register',
        body: { Name: service, ID: id, Address: '127.0.0.1', Port: port, Connect: { Native: true } },
        schema: any,
        what: `registering ${id}`
      })
      registered.push(id)
    },
    async setIntentions (destination, sources) {
      // Consul accepts L7 permissions only for a service whose protocol is HTTP-based (service-defaults).
      if (sources.some((source) => source.Permissions !== undefined && source.Permissions.length > 0)) {
        await ensureHttpProtocol(destination)
      }
      await client.putConfigEntry({ Kind: 'service-intentions', Name: destination, Sources: sources })
      intentions.add(destination)
    },
    async rotateRoot () {
      const current = await client.request({
        path: '/v1/connect/ca/configuration',
        schema: z.looseObject({ Provider: z.string(), Config: z.record(z.string(), z.unknown()).nullish() }),
        what: 'reading the CA configuration'
      })
      if (current.value.Provider !== 'consul') {
        throw new Error(`not rotating the CA of ${address}: its provider is ${JSON.stringify(current.value.Provider)}, not the built-in "consul" one`)
      }
      // A new root key is what makes the built-in provider generate a new, cross-signed root.
      const { privateKey } = generateKeyPairSync('ec', {
        namedCurve: 'P-256',
        privateKeyEncoding: { type: 'sec1', format: 'pem' },
        publicKeyEncoding: { type: 'spki', format: 'pem' }
      })
      const { RootCert: _root, ...config } = current.value.Config ?? {}
      await client.setCaConfiguration({ Provider: 'consul', Config: { ...config, PrivateKey: privateKey } })
    },
    async close () {
      const cleanup: Array<Promise<unknown>> = []
      for (const id of registered.splice(0)) {
        cleanup.push(client.request({ method: 'PUT', path: `/v1/agent/service/deregister/${encodeURIComponent(id)}`, schema: any, what: `deregistering ${id}` }))
      }
      for (const name of intentions) {
        cleanup.push(client.request({ method: 'DELETE', path: `/v1/config/service-intentions/${encodeURIComponent(name)}`, schema: any, what: `deleting intentions of ${name}` }))
      }
      intentions.clear()
      await Promise.allSettled(cleanup)
      // After the intentions that need them are gone (Consul refuses to drop HTTP under L7 intentions).
      await Promise.allSettled([...serviceDefaults].map((name) => client.request({
        method: 'DELETE', path: `/v1/config/service-defaults/${encodeURIComponent(name)}`, schema: any, what: `deleting service-defaults of ${name}`
      })))
      serviceDefaults.clear()
      await client.close()
    }
  }
}
