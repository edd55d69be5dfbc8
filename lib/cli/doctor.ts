/**
 * `consul-connect-native doctor --service <name>`: can this service join the mesh from here?
 *
 * Runs the checks a service's start-up depends on, in the order a person debugging would: the agent, its
 * servers' leader, Connect and the CA roots, the trust domain, the token's right to the leaf, the leaf, its
 * chain to the roots, the intentions and the default decision (doctor-checks.ts). Each check ends `ok`,
 * `warn`, `fail` or `skip` (could not run because an earlier one failed); a failure or warning carries the fix
 * in one sentence. Exit 0 when nothing failed (warnings allowed), 1 when something failed, 2 on a usage error.
 *
 * The checks read; they change nothing on the agent (the default-policy probe is an authorize call about a
 * made-up source). The token is never printed: only where it came from.
 */
import { connectAgent } from './agent.js'
import type { AgentConnection } from './agent.js'
import { fetchIntentions, fetchLeader, fetchLeaf, fetchRoots } from './agent-calls.js'
import { AGENT_OPTIONS, flag, parseCommandArgs, requiredOption } from './args.js'
import type { CommandSpec } from './args.js'
import type { CommandContext } from './command.js'
import { learnDefault } from './default-decision.js'
import {
  agentData, agentSummary, checkChain, checkConnect, checkDefault, checkIntentions, checkLeaf, checkTrustDomain,
  hasCodeOf, messageOf, ORDER, settle, TITLES
} from './doctor-checks.js'
import type { CheckId, CheckResult, CheckStatus } from './doctor-checks.js'
import { agentFix, LEADER_FIX } from './fixes.js'
import { plural } from './output.js'

export type { CheckId, CheckResult, CheckStatus } from './doctor-checks.js'

export const doctorSpec: CommandSpec = {
  name: 'doctor',
  summary: 'check that a service can join the mesh: agent, leader, CA, token, leaf, chain, intentions, default policy',
  usage: 'doctor --service <name> [options]',
  description: [
    'Runs every check a service\'s start-up depends on and prints each one as ok, warn, fail or skip, with the',
    'fix for anything that failed, then a verdict. Reads only; the token is never printed.'
  ],
  options: [
    { name: 'service', type: 'string', value: '<name>', description: 'the service to check (whose leaf the token must be able to fetch)' },
    ...AGENT_OPTIONS
  ],
  exitCodes: [[0, 'no check failed (warnings allowed)'], [1, 'at least one check failed'], [2, 'usage error']],
  examples: [
    'consul-connect-native doctor --service web',
    'CONSUL_HTTP_TOKEN_FILE=/etc/consul/web.token consul-connect-native doctor --service web --json'
  ]
}

export async function doctor (ctx: CommandContext): Promise<number> {
  const values = parseCommandArgs(doctorSpec, ctx.argv)
  if (flag(values, 'help')) return ctx.help(doctorSpec)
  const service = requiredOption(values, 'service', 'doctor')
  const agent = connectAgent(values, ctx.env, ctx.out, 'doctor')
  let checks: CheckResult[]
  try {
    checks = await runChecks(agent, service, ctx.now)
  } finally {
    await agent.client.close()
  }
  const counts = { ok: 0, warn: 0, fail: 0, skip: 0 }
  for (const check of checks) counts[check.status]++
  const verdict: 'ok' | 'warn' | 'fail' = counts.fail > 0 ? 'fail' : counts.warn > 0 ? 'warn' : 'ok'
  if (flag(values, 'json')) {
    ctx.out.json({
      command: 'doctor',
      ok: verdict !== 'fail',
      verdict,
      service,
      agent: { address: agent.address, addressSource: agent.addressSource, addressSetting: agent.addressSetting, tokenSource: agent.tokenSource },
      checks,
      counts
    })
  } else {
    printReport(ctx, agent, service, checks, verdict, counts)
  }
  return verdict === 'fail' ? 1 : 0
}

function printReport (ctx: CommandContext, agent: AgentConnection, service: string, checks: readonly CheckResult[], verdict: 'ok' | 'warn' | 'fail', counts: Record<CheckStatus, number>): void {
  const { out } = ctx
  const from = agent.addressSource === 'default' ? 'the default: CONSUL_HTTP_ADDR is unset' : `from ${agent.addressSource}`
  out.line(`doctor: service ${JSON.stringify(service)}, agent ${agent.address} (${from}), token ${agent.tokenSource === 'none' ? 'none' : `from ${agent.tokenSource}`}`)
  out.line()
  const width = Math.max(...checks.map((c) => c.title.length))
  const label: Record<CheckStatus, string> = { ok: 'ok  ', warn: 'warn', fail: 'FAIL', skip: 'skip' }
  for (const check of checks) {
    out.line(`  ${label[check.status]}  ${check.title.padEnd(width)}  ${check.summary}`)
    if (check.fix !== null) out.line(`  ${' '.repeat(4)}  ${' '.repeat(width)}  fix: ${check.fix}`)
  }
  out.line()
  const problems = `${plural(counts.fail, 'problem')}, ${plural(counts.warn, 'warning')}`
  if (verdict === 'fail') out.line(`verdict: FAIL: ${problems}; ${JSON.stringify(service)} cannot join the mesh until the failures above are fixed`)
  else if (verdict === 'warn') out.line(`verdict: OK with ${plural(counts.warn, 'warning')}: ${JSON.stringify(service)} can join the mesh`)
  else out.line(`verdict: OK: ${JSON.stringify(service)} can join the mesh`)
}

/** Runs every check; never rejects for an agent failure (that is a failed check). */
export async function runChecks (agent: AgentConnection, service: string, now: () => Date): Promise<CheckResult[]> {
  const { client } = agent
  const results = new Map<CheckId, CheckResult>()
  const set = (id: CheckId, status: CheckStatus, summary: string, fix: string | null = null, data: Record<string, unknown> | null = null): void => {
    results.set(id, Object.freeze({ id, title: TITLES[id], status, summary, fix, data }))
  }
  const ordered = (): CheckResult[] => ORDER.map((id) => results.get(id) ?? Object.freeze({ id, title: TITLES[id], status: 'skip' as const, summary: 'skipped', fix: null, data: null }))

  // 1. The agent answers at all (status/leader needs no ACL, so a token problem cannot hide here).
  let leader: string
  try {
    leader = (await fetchLeader(client)).value
  } catch (err) {
    set('agent', 'fail', messageOf(err), agentFix(err, agent), { address: agent.address })
    const why = hasCodeOf(err, 'ERR_CONNECT_AGENT_TIMEOUT')
      ? 'the agent did not answer'
      : hasCodeOf(err, 'ERR_CONNECT_AGENT_UNREACHABLE') ? 'the agent is unreachable' : 'the agent could not be asked'
    for (const id of ORDER) if (id !== 'agent') set(id, 'skip', `skipped: ${why}`)
    return ordered()
  }
  const self = await client.self().catch((err: unknown) => err instanceof Error ? err : new Error(String(err)))
  set('agent', 'ok', agentSummary(agent, self), null, agentData(agent, self))

  // 2. The servers have a leader (without one, every other read fails with "No cluster leader").
  if (leader !== '') set('leader', 'ok', `leader at ${leader}`, null, { leader })
  else set('leader', 'fail', 'the agent knows no leader: the Consul servers have not elected one', LEADER_FIX, { leader: null })

  // 3. The three reads a service starts with, side by side.
  const [roots, leaf, intentions] = await Promise.all([
    settle(fetchRoots(client)),
    settle(fetchLeaf(client, service)),
    settle(fetchIntentions(client, service))
  ])

  const at = now()
  const bundle = checkConnect(roots, agent, set)
  const identity = checkLeaf(leaf, service, agent, at, set)
  checkTrustDomain(roots, bundle, identity, set)
  checkChain(bundle, identity, at, set)

  const learned = await learnDefault({
    client,
    destination: service,
    self,
    aclHeader: intentions.ok ? intentions.value.meta.defaultAclPolicy : undefined
  })
  checkIntentions(intentions, service, learned, agent, set)
  checkDefault(learned, service, set)
  return ordered()
}
