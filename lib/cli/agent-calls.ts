/**
 * The agent reads the CLI makes, each one plain (non-blocking) request validated by the library's schemas.
 * Failures are the client's AgentErrors; turning them into advice is fixes.ts's job.
 */
import { z } from 'zod'
import type { AgentClient, AgentResponse } from '../agent/client.js'
import { caRootsSchema, intentionsMatchSchema, leafCertSchema } from '../agent/schemas.js'
import type { CaRoots, IntentionsMatch, LeafCert } from '../agent/schemas.js'

/** `GET /v1/status/leader`: the leader's address, `""` when the servers know none. Needs no ACL. */
export async function fetchLeader (client: AgentClient): Promise<AgentResponse<string>> {
  return await client.request({ path: '/v1/status/leader', schema: z.string(), what: 'asking the agent for the leader' })
}

/** `GET /v1/agent/connect/ca/roots`. Needs no ACL. */
export async function fetchRoots (client: AgentClient): Promise<AgentResponse<CaRoots>> {
  return await client.request({ path: '/v1/agent/connect/ca/roots', schema: caRootsSchema, what: 'fetching CA roots' })
}

/** `GET /v1/agent/connect/ca/leaf/<service>`. Needs `service:write` on the service. */
export async function fetchLeaf (client: AgentClient, service: string): Promise<AgentResponse<LeafCert>> {
  return await client.request({
    path: `/v1/agent/connect/ca/leaf/${encodeURIComponent(service)}`,
    schema: leafCertSchema,
    what: `fetching leaf for ${JSON.stringify(service)}`
  })
}

/**
 * `GET /v1/connect/intentions/match?by=destination&name=<destination>`: the whole answer (the caller builds
 * `Intentions` from it). Needs `intentions:read` on the destination (implied by `service:read`).
 */
export async function fetchIntentions (client: AgentClient, destination: string): Promise<AgentResponse<IntentionsMatch>> {
  return await client.request({
    path: '/v1/connect/intentions/match',
    query: { by: 'destination', name: destination },
    schema: intentionsMatchSchema,
    what: `fetching intentions for ${JSON.stringify(destination)}`
  })
}
