/**
 * `consul-connect-native identity --service <name>`: the service's current leaf certificate, summarised.
 *
 * Fetches the leaf as the service would (`service:write` on it) and prints what identifies it: SPIFFE ID,
 * serial, validity and time left, issuer, chain length and trust domain. Never the private key, which the
 * agent sends along: it is parsed only to check that it matches the certificate. Exit 0 when the leaf was
 * fetched and is within its validity window, 1 otherwise (the reason and its fix are printed), 2 on a
 * usage error.
 */
import { Identity } from '../identity/identity.js'
import { parseSpiffeId } from '../spiffe-id.js'
import type { SpiffeId } from '../spiffe-id.js'
import { connectAgent, errorJson } from './agent.js'
import type { AgentConnection } from './agent.js'
import { fetchLeaf } from './agent-calls.js'
import { AGENT_OPTIONS, flag, parseCommandArgs, requiredOption } from './args.js'
import type { CommandSpec } from './args.js'
import { EXIT_OK, EXIT_PROBLEM } from './command.js'
import type { CommandContext } from './command.js'
import { agentFix } from './fixes.js'
import { formatTimeLeft, plural, table } from './output.js'

export const identitySpec: CommandSpec = {
  name: 'identity',
  summary: 'print a summary of a service\'s current leaf certificate (never its private key)',
  usage: 'identity --service <name> [options]',
  description: [
    'Fetches the service\'s leaf certificate from the agent and prints its SPIFFE ID, serial, validity, time',
    'left, issuer, chain length and trust domain. The private key is never printed.'
  ],
  options: [
    { name: 'service', type: 'string', value: '<name>', description: 'the service whose leaf to fetch (the token needs service:write on it)' },
    ...AGENT_OPTIONS
  ],
  exitCodes: [[0, 'the leaf was fetched and is valid now'], [1, 'the leaf could not be fetched or used, or is expired / not yet valid'], [2, 'usage error']],
  examples: ['consul-connect-native identity --service web', 'consul-connect-native identity --service web --json | jq -r .identity.spiffeId']
}

/** The JSON summary of a leaf. Keys are stable; see docs/cli.md. */
export interface IdentitySummary {
  spiffeId: string
  serial: string
  validAfter: string
  validBefore: string
  expiresInMs: number
  /** `valid`, `expired` or `not-yet-valid` at the time of the run. */
  state: 'valid' | 'expired' | 'not-yet-valid'
  issuer: string
  subject: string
  /** The leaf plus the intermediates the agent sent with it. */
  chainLength: number
  trustDomain: string | null
  datacenter: string | null
  namespace: string | null
  partition: string | null
  service: string | null
}

export async function identity (ctx: CommandContext): Promise<number> {
  const values = parseCommandArgs(identitySpec, ctx.argv)
  if (flag(values, 'help')) return ctx.help(identitySpec)
  const service = requiredOption(values, 'service', 'identity')
  const json = flag(values, 'json')
  const agent = connectAgent(values, ctx.env, ctx.out, 'identity')
  let summary: IdentitySummary
  try {
    const answer = (await fetchLeaf(agent.client, service)).value
    summary = summarise(Identity.fromPem({ certPem: answer.CertPEM, keyPem: answer.PrivateKeyPEM }), ctx.now())
  } catch (err) {
    return failed(ctx, agent, service, json, err)
  } finally {
    await agent.client.close()
  }
  const ok = summary.state === 'valid'
  if (json) {
    ctx.out.json({ command: 'identity', ok, service, agent: { address: agent.address }, identity: summary, error: null })
  } else {
    print(ctx, service, summary)
  }
  return ok ? EXIT_OK : EXIT_PROBLEM
}

/** The summary of a leaf at `now`. */
export function summarise (leaf: Identity, now: Date): IdentitySummary {
  let id: SpiffeId | undefined
  try {
    id = parseSpiffeId(leaf.spiffeId)
  } catch {
    id = undefined
  }
  const left = leaf.expiresIn(now)
  return {
    spiffeId: leaf.spiffeId,
    serial: leaf.serial,
    validAfter: leaf.validAfter.toISOString(),
    validBefore: leaf.validBefore.toISOString(),
    expiresInMs: left,
    state: left < 0 ? 'expired' : now.getTime() < leaf.validAfter.getTime() ? 'not-yet-valid' : 'valid',
    issuer: leaf.leaf.issuer,
    subject: leaf.leaf.subject,
    chainLength: 1 + leaf.intermediates.length,
    trustDomain: id?.trustDomain ?? null,
    datacenter: id !== undefined && 'datacenter' in id ? id.datacenter : null,
    namespace: id?.kind === 'service' ? id.namespace : null,
    partition: id !== undefined && 'partition' in id ? id.partition : null,
    service: id?.kind === 'service' ? id.service : null
  }
}

function print (ctx: CommandContext, service: string, s: IdentitySummary): void {
  const intermediates = s.chainLength - 1
  const rows: Array<[string, string]> = [
    ['service', service],
    ['SPIFFE ID', s.spiffeId],
    ['serial', s.serial],
    ['valid from', s.validAfter],
    ['valid until', s.validBefore],
    ['time left', s.state === 'not-yet-valid' ? `not valid yet (${formatTimeLeft(s.expiresInMs)})` : formatTimeLeft(s.expiresInMs)],
    ['issuer', s.issuer === '' ? '(empty name)' : s.issuer],
    ['chain', intermediates === 0 ? '1 certificate (the leaf; no intermediates)' : `${plural(s.chainLength, 'certificate')} (the leaf and ${plural(intermediates, 'intermediate')})`],
    ['trust domain', s.trustDomain ?? '(the SPIFFE ID is not a Consul one)']
  ]
  if (s.datacenter !== null) rows.push(['datacenter', s.datacenter])
  if (s.namespace !== null && s.namespace !== 'default') rows.push(['namespace', s.namespace])
  if (s.partition !== null && s.partition !== 'default') rows.push(['partition', s.partition])
  for (const line of table(rows)) ctx.out.line(line)
  if (s.state === 'expired') ctx.out.error('the leaf has expired: the agent is not renewing it; check that it reaches the Consul servers (`consul members`) and read its log')
  if (s.state === 'not-yet-valid') ctx.out.error('the leaf is not valid yet: synchronise the clocks of this host and the Consul servers')
}

function failed (ctx: CommandContext, agent: AgentConnection, service: string, json: boolean, err: unknown): number {
  const fix = agentFix(err, agent, { needs: `service:write on ${JSON.stringify(service)}` })
  if (json) {
    ctx.out.json({ command: 'identity', ok: false, service, agent: { address: agent.address }, identity: null, error: errorJson(err, fix) })
  } else {
    ctx.out.error(err instanceof Error ? err.message : String(err))
    ctx.out.stderr(`fix: ${fix}`)
  }
  return EXIT_PROBLEM
}
