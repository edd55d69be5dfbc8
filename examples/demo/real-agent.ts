/**
 * The real-agent environment: the demo's operator actions done through a Consul agent's HTTP API, as an
 * operator's tooling would do them.
 *
 * - instances: `PUT /v1/agent/service/register` with `Connect: { Native: true }` on 127.0.0.1, and
 *   `PUT /v1/agent/service/deregister/<id>` at the end;
 * - L4 intentions: `PUT /v1/connect/intentions/exact?source=&destination=` with `{ Action }`;
 * - L7 intentions: `PUT /v1/config` of a `service-defaults` entry (`Protocol: http`, which Consul requires
 *   before it accepts HTTP permissions) and of a `service-intentions` entry with `Permissions`;
 * - root rotation: `PUT /v1/connect/ca/configuration` with the current settings and a fresh EC P-256 key
 *   (built-in `consul` provider only).
 *
 * Before changing anything it checks that the agent is reachable, that its CA provider is the built-in one,
 * and that the service the demo plays the server of (db) has no instances, intentions or service defaults
 * yet: the demo deletes what it writes at the end, so it refuses to run where that would destroy someone's
 * configuration, or where its calls could reach a real db. The CA rotation cannot be undone (nor does it
 * need to be): the new root stays active.
 *
 * With ACLs on, the token (`CONSUL_HTTP_TOKEN`) needs this policy (tried with `default_policy = "deny"`):
 *
 *     service "web" { policy = "write" }
 *     service "db" { policy = "write" intentions = "write" }
 *     node_prefix "" { policy = "read" }
 *     operator = "write"
 *
 * With ACLs off (a `consul agent -dev`) no token is needed.
 */
import { generateKeyPairSync } from 'node:crypto'
import { z } from 'zod'
// Published: import { AgentClient, hasCode } from 'consul-connect-native'
import { AgentClient, hasCode } from '../../lib/index.js'
import type { AgentClientOptions } from '../../lib/index.js'
import type { Environment, IntentionPermission } from './environment.js'

const caConfigurationSchema = z.looseObject({
  Provider: z.string(),
  Config: z.record(z.string(), z.unknown()).nullish()
})
const anything = z.unknown()
const healthAnswerSchema = z.array(z.unknown())
const healthInstancesSchema = z.array(z.looseObject({ Service: z.looseObject({ ID: z.string() }) }))

/**
 * Connects to the agent described by `agent` (merged over the `CONSUL_*` environment unless `env: false`),
 * checks that the demo can take over `claimed` (the services whose instances, intentions and service
 * defaults it writes) without destroying anything, and returns the environment. Throws an Error saying what
 * is in the way.
 */
export async function realAgentEnvironment (agent: AgentClientOptions, claimed: readonly string[]): Promise<Environment> {
  const client = new AgentClient(agent)
  try {
    await preflight(client, claimed)
  } catch (err) {
    await client.close()
    throw err
  }
  // What to undo at the end, keyed so that a second write of the same thing is undone once. Intentions go
  // first (Consul refuses to drop an http protocol that L7 intentions rely on), instances last.
  const undo = new Map<string, { readonly rank: number, readonly action: () => Promise<string> }>()
  const remember = (key: string, rank: number, action: () => Promise<string>): void => {
    if (!undo.has(key)) undo.set(key, { rank, action })
  }
  const deleteEntry = (kind: 'service-intentions' | 'service-defaults', name: string): void => remember(`${kind}/${name}`, kind === 'service-intentions' ? 0 : 1, async () => {
    await client.request({ method: 'DELETE', path: `/v1/config/${kind}/${encodeURIComponent(name)}`, schema: anything, what: `deleting ${kind}/${name}` })
    return `deleted the config entry ${kind}/${name}`
  })
  const writeL4 = async (source: string, destination: string, action: 'allow' | 'deny'): Promise<void> => {
    deleteEntry('service-intentions', destination)
    await client.upsertIntentionExact({ source, destination, intention: { Action: action } })
  }

  return {
    kind: 'consul',
    description: `the Consul agent at ${client.address}`,
    agent,
    // A real agent re-issues leaves within about 30 s of a root change.
    patienceMs: 60_000,
    register: async (service: string, port: number) => {
      const id = `${service}-demo-${port}`
      await client.request({
        method: 'PUT',
        path: '/v1/agent/service/register',
        body: { Name: service, ID: id, Address: '127.0.0.1', Port: port, Connect: { Native: true } },
        schema: anything,
        what: `registering ${id}`
      })
      await waitForInstance(client, service, id, 30_000)
      remember(`instance/${id}`, 2, async () => {
        await client.request({ method: 'PUT', path: `/v1/agent/service/deregister/${encodeURIComponent(id)}`, schema: anything, what: `deregistering ${id}` })
        return `deregistered the instance ${id}`
      })
    },
    setIntentionAllow: async (source: string, destination: string) => { await writeL4(source, destination, 'allow') },
    setIntentionDeny: async (source: string, destination: string) => { await writeL4(source, destination, 'deny') },
    setL7: async (source: string, destination: string, permissions: readonly IntentionPermission[]) => {
      deleteEntry('service-defaults', destination)
      await client.putConfigEntry({ Kind: 'service-defaults', Name: destination, Protocol: 'http' })
      deleteEntry('service-intentions', destination)
      await client.putConfigEntry({ Kind: 'service-intentions', Name: destination, Sources: [{ Name: source, Permissions: permissions }] })
    },
    rotateRoot: async () => {
      const current = await readCaConfiguration(client)
      // Keep the operator's TTLs; a configured root certificate would not match the new key, so drop it.
      const { RootCert: _rootCert, PrivateKey: _privateKey, ...settings } = current.Config ?? {}
      const { privateKey } = generateKeyPairSync('ec', {
        namedCurve: 'P-256',
        privateKeyEncoding: { type: 'sec1', format: 'pem' },
        publicKeyEncoding: { type: 'spki', format: 'pem' }
      })
      await client.setCaConfiguration({
        Provider: 'consul',
        Config: { ...settings, PrivateKey: privateKey, PrivateKeyType: 'ec', PrivateKeyBits: 256 }
      })
    },
    close: async () => {
      const done: string[] = []
      for (const { action } of [...undo.values()].sort((a, b) => a.rank - b.rank)) {
        try {
          done.push(await action())
        } catch (err) {
          done.push(`FAILED to clean up: ${(err as Error).message}`)
        }
      }
      await client.close()
      return done
    }
  }
}

/**
 * Resolves once the instance `id` shows among the passing Connect instances of `service`, the answer clients
 * resolve from: the agent registers locally and syncs the catalog a moment later. Waits with blocking
 * queries (each returns when the answer changes), for at most `deadlineMs`.
 */
async function waitForInstance (client: AgentClient, service: string, id: string, deadlineMs: number): Promise<void> {
  const signal = AbortSignal.timeout(deadlineMs)
  let index: number | undefined
  for (;;) {
    const res = await client.request({
      path: `/v1/health/connect/${encodeURIComponent(service)}`,
      query: { passing: true, index, wait: index === undefined ? undefined : '5s' },
      schema: healthInstancesSchema,
      signal,
      what: `waiting for the instance ${id} in the catalog`
    })
    if (res.value.some((entry) => entry.Service.ID === id)) return
    // Consul's rule: an index that went backwards (or is below 1) starts the watch over.
    index = res.index !== undefined && res.index >= 1 && res.index >= (index ?? 0) ? res.index : undefined
  }
}

async function readCaConfiguration (client: AgentClient): Promise<z.infer<typeof caConfigurationSchema>> {
  const res = await client.request({ path: '/v1/connect/ca/configuration', schema: caConfigurationSchema, what: 'reading the CA configuration' })
  return res.value
}

/** Throws when the demo cannot run on this agent without harm; see the module comment. */
async function preflight (client: AgentClient, claimed: readonly string[]): Promise<void> {
  const ca = await readCaConfiguration(client)
  if (ca.Provider !== 'consul') {
    throw new Error(`the agent's CA provider is "${ca.Provider}": the demo rotates the root of the built-in "consul" provider only`)
  }
  const inTheWay: string[] = []
  for (const service of claimed) {
    const instances = await client.request({ path: `/v1/health/connect/${encodeURIComponent(service)}`, schema: healthAnswerSchema, what: `listing instances of ${service}` })
    if (instances.value.length > 0) inTheWay.push(`${instances.value.length} instance(s) of "${service}"`)
    for (const kind of ['service-intentions', 'service-defaults']) {
      if (await configEntryExists(client, kind, service)) inTheWay.push(`the config entry ${kind}/${service}`)
    }
  }
  if (inTheWay.length > 0) {
    throw new Error(`this agent already has ${inTheWay.join(', ')}. The demo writes and then deletes these; ` +
      'run it against an agent of its own (e.g. `consul agent -dev`) or remove them first')
  }
}

async function configEntryExists (client: AgentClient, kind: string, name: string): Promise<boolean> {
  try {
    await client.request({ path: `/v1/config/${kind}/${encodeURIComponent(name)}`, schema: anything, what: `reading ${kind}/${name}` })
    return true
  } catch (err) {
    if (hasCode(err, 'ERR_CONNECT_AGENT_NOT_FOUND')) return false
    throw err
  }
}
