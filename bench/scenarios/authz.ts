/**
 * Scenario `authz`: the in-process intention decision against the agent's authorize call, both on the same
 * intentions in a real `consul agent -dev`, at 10, 1,000 and 100,000 intentions for one destination.
 *
 * For each size the intentions are written as one `service-intentions` config entry (one write whatever the
 * size: 100,000 sources take a few seconds), read back from `/v1/connect/intentions/match` into
 * `Intentions` exactly as a ConnectService does, and both sides are asked about the same 64 callers: exact
 * hits (allow and deny) and callers that fall to the `*` intention. Before timing, every one of those callers
 * is decided by both and the answers must agree.
 *
 * Rounds alternate the two sides: a round is B batches of 1,000 `decide` calls (a single call is too short to
 * time; the figure is time per call) and C sequential authorize calls over one keep-alive connection.
 */
import { fileURLToPath } from 'node:url'
import { AgentClient } from '../../lib/agent/client.js'
import { Intentions } from '../../lib/authz/intentions.js'
import type { IntentionInput } from '../../lib/authz/intentions.js'
import { parseSpiffeId } from '../../lib/spiffe-id.js'
import type { SpiffeId } from '../../lib/spiffe-id.js'
import { DevAgent, consulBinary, consulVersion } from '../../test/integration/support/consul-agent.js'
import { fmt, markdownTable, msSince, now, percentile, summarize } from '../harness.js'
import type { BenchContext, Goal, Scenario, ScenarioResult } from '../scenario.js'

const SIZES = [10, 1_000, 100_000] as const
const GOAL_SPEEDUP = 100
const BATCH = 1_000
const CALLERS = 64

interface SizeResult {
  readonly size: number
  readonly writeMs: number
  readonly readMs: number
  readonly decideNs: ReturnType<typeof summarize>
  readonly agentUs: ReturnType<typeof summarize>
  readonly agentP99Us: number
  /** Per-round ratios agent / decide. */
  readonly speedup: ReturnType<typeof summarize>
  readonly agreed: number
}

/** n intentions for one destination: exact names (a third deny) and a final `*` deny. */
function intentionSet (n: number): IntentionInput[] {
  const list: IntentionInput[] = []
  for (let k = 0; list.length < n - 1; k++) list.push({ SourceName: `svc-${k}`, Action: k % 3 === 0 ? 'deny' : 'allow' })
  list.push({ SourceName: '*', Action: 'deny' })
  return list
}

function decideBatchNs (ix: Intentions, ids: readonly SpiffeId[]): number {
  let allowed = 0
  const t0 = now()
  for (let i = 0; i < BATCH; i++) if (ix.decide({ source: ids[i % ids.length]! }).allowed) allowed++
  const ns = Number(now() - t0) / BATCH
  if (allowed < 0) throw new Error('unreachable') // keeps the loop's result alive
  return ns
}

async function measureSize (ctx: BenchContext, agent: DevAgent, client: AgentClient, td: string, size: number): Promise<SizeResult> {
  const rounds = ctx.quick ? 3 : 6
  const batches = ctx.quick ? 20 : 60
  const calls = ctx.quick ? 60 : 200
  const destination = `db-${size}`
  const set = intentionSet(size)
  let t0 = now()
  await agent.api('PUT', '/v1/config', { Kind: 'service-intentions', Name: destination, Sources: set.map((i) => ({ Name: i.SourceName, Action: i.Action })) })
  const writeMs = msSince(t0)
  t0 = now()
  const answer = await agent.api('GET', `/v1/connect/intentions/match?by=destination&name=${destination}`)
  const ix = Intentions.fromMatchAnswer(answer, destination, { defaultAllow: true })
  const readMs = msSince(t0)
  if (ix.size !== size) throw new Error(`authz: wrote ${size} intentions for ${destination}, the agent returned ${ix.size}`)
  ctx.log(`${size.toLocaleString('en')} intentions: written in ${fmt(writeMs, 0)} ms, read back in ${fmt(readMs, 0)} ms`)

  // Callers: every kind of outcome, spread over the set; a name past the set falls to `*`.
  const names = Array.from({ length: CALLERS }, (_, k) => (k % 8 === 7 ? `stranger-${k}` : `svc-${(k * 7919) % (size - 1)}`))
  const ids = names.map((name) => parseSpiffeId(`spiffe://${td}/ns/default/dc/dc1/svc/${name}`))
  let agreed = 0
  for (const id of ids) {
    const a = await client.authorize({ target: destination, clientCertUri: id.uri, clientCertSerial: '01' })
    const d = ix.decide({ source: id })
    if (a.Authorized !== d.allowed) throw new Error(`authz: agent and decide disagree for ${id.uri} → ${destination}: agent ${a.Authorized} (${a.Reason}), decide ${d.allowed}`)
    agreed++
  }

  const decideRounds: number[] = []
  const agentRounds: number[] = []
  const agentAll: number[] = []
  for (let round = 0; round < rounds; round++) {
    const runDecide = (): void => {
      const batchesNs: number[] = []
      for (let b = 0; b < batches; b++) batchesNs.push(decideBatchNs(ix, ids))
      decideRounds.push(summarize(batchesNs).median)
    }
    const runAgent = async (): Promise<void> => {
      const us: number[] = []
      for (let c = 0; c < calls; c++) {
        const id = ids[c % ids.length]!
        const t = now()
        await client.authorize({ target: destination, clientCertUri: id.uri, clientCertSerial: '01' })
        us.push(Number(now() - t) / 1000)
      }
      agentAll.push(...us)
      agentRounds.push(summarize(us).median)
    }
    if (round % 2 === 0) { runDecide(); await runAgent() } else { await runAgent(); runDecide() }
  }
  const speedup = summarize(agentRounds.map((us, i) => (us * 1000) / decideRounds[i]!))
  return { size, writeMs, readMs, decideNs: summarize(decideRounds), agentUs: summarize(agentRounds), agentP99Us: percentile(agentAll, 99), speedup, agreed }
}

async function run (ctx: BenchContext): Promise<ScenarioResult> {
  const agent = await DevAgent.start()
  const client = new AgentClient({ address: agent.address, env: false })
  const results: SizeResult[] = []
  try {
    const roots = await agent.api('GET', '/v1/agent/connect/ca/roots') as { TrustDomain: string }
    for (const size of SIZES) results.push(await measureSize(ctx, agent, client, roots.TrustDomain, size))
  } finally {
    await client.close()
    await agent.stop()
  }

  const int = (x: number): string => Math.round(x).toLocaleString('en')
  const table = markdownTable(
    ['intentions', 'decide, per call (median of rounds)', 'agent authorize, per call (median of rounds)', 'agent p99', 'speed-up agent / decide (median, min–max)', 'callers checked alike'],
    results.map((r) => [
      int(r.size), `${fmt(r.decideNs.median, 0)} ns`, `${fmt(r.agentUs.median, 0)} µs`, `${fmt(r.agentP99Us, 0)} µs`,
      `**${int(r.speedup.median)}×** (${int(r.speedup.min)}–${int(r.speedup.max)})`, `${r.agreed} of ${CALLERS}`
    ]),
    ['r', 'r', 'r', 'r', 'r', 'r'])
  const worst = results.reduce((m, r) => Math.min(m, r.speedup.min), Number.POSITIVE_INFINITY)
  const goal: Goal = {
    goal: `decision ≥ ${GOAL_SPEEDUP}× faster than the agent's authorize call`,
    measured: results.map((r) => `${int(r.speedup.median)}× at ${int(r.size)}`).join(', ') + ` intentions (slowest round ${int(worst)}×)`,
    status: worst >= GOAL_SPEEDUP ? 'met' : 'not met'
  }
  const markdown = [
    'The same intentions, in a real agent, decided two ways: `Intentions#decide` in process (what every',
    'connection and request of a ConnectService costs) and `POST /v1/agent/connect/authorize` over a kept-alive',
    'local HTTP connection (what a client of the agent pays, and what Consul\'s Go SDK does for every',
    'connection). For each size the intentions for one destination are written as a single',
    '`service-intentions` config entry and read back from `/v1/connect/intentions/match`, as the service does;',
    `${CALLERS} callers (exact allows, exact denies, and strangers that fall to \`*\`) are decided by both`,
    'before timing, and every answer agreed. Rounds alternate the two sides; a decide figure is the median of',
    `batches of ${BATCH.toLocaleString('en')} calls.`,
    '',
    table,
    '',
    `Writing the sets took ${results.map((r) => `${fmt(r.writeMs, 0)} ms`).join(', ')}; reading them back from the match endpoint ${results.map((r) => `${fmt(r.readMs, 0)} ms`).join(', ')}.`,
    'That read happens once per change of the destination\'s intentions, on the watch, never on a connection.'
  ].join('\n')
  return { title: 'Authorization: in-process decision vs the agent\'s authorize call', markdown, goals: [goal], problems: [] }
}

export const scenario: Scenario = { id: 'authz', title: 'Authorization decision vs the agent', estimate: '1–2 min', run }

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  const result = await run({ quick: process.argv.includes('--quick'), log: (l) => process.stderr.write(`[authz] ${l}\n`), consulBin: consulBinary(), consulVersion: consulVersion() })
  process.stdout.write(`${result.markdown}\n\n${JSON.stringify(result.goals, null, 2)}\n`)
}
