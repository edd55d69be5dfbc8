/**
 * In-process intention decisions vs the agent's authorize endpoint, measured in the same run against a real
 * `consul agent -dev` (the pinned build from scripts/consul-bin.mjs). Not a test; run it by hand:
 *
 *   npx tsx bench/authz-vs-agent.ts [--quick]
 *
 * For each size (10, 1,000 and 100,000 intentions when written to the agent would take minutes, so the agent gets
 * the 10 and 1,000 sets; the in-process engine is also measured at 10,000 and 100,000) it writes the intentions for
 * destination `db` through the API, reads them back from the match endpoint into `Intentions`, and measures:
 * - `Intentions#decide` per call (median over batches; a single call is too short to time),
 * - `POST /v1/agent/connect/authorize` per call over keep-alive HTTP (median and p99 of sequential calls),
 * and reports the ratio. Interleaved rounds (decide, call, decide, call...) so machine drift hits both.
 * Writes bench/results/authz.md.
 */
import { mkdirSync, writeFileSync } from 'node:fs'
import { cpus, loadavg } from 'node:os'
import { AgentClient } from '../lib/agent/client.js'
import { Intentions } from '../lib/authz/intentions.js'
import type { IntentionInput } from '../lib/authz/intentions.js'
import { parseSpiffeId } from '../lib/spiffe-id.js'
import type { SpiffeId } from '../lib/spiffe-id.js'
import { DevAgent, consulVersion } from '../test/integration/support/consul-agent.js'

const quick = process.argv.includes('--quick')
const AGENT_SIZES = quick ? [10] : [10, 1_000]
const LOCAL_ONLY_SIZES = quick ? [] : [10_000, 100_000]
const ROUNDS = quick ? 3 : 5
const CALLS_PER_ROUND = quick ? 50 : 200
const BATCH = 1_000
const BATCHES_PER_ROUND = quick ? 20 : 60

function intentionSet (n: number): IntentionInput[] {
  const list: IntentionInput[] = []
  for (let k = 0; list.length < n - 1; k++) list.push({ SourceName: `svc-${k}`, Action: k % 3 === 0 ? 'deny' : 'allow' })
  list.push({ SourceName: '*', Action: 'deny' })
  return list
}

function median (xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.floor(s.length / 2)] ?? NaN
}

function percentile (xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.floor(s.length * p))] ?? NaN
}

function decideBatchNs (ix: Intentions, ids: SpiffeId[]): number {
  let sink = 0
  const t0 = process.hrtime.bigint()
  for (let i = 0; i < BATCH; i++) if (ix.decide({ source: ids[i % ids.length]! }).allowed) sink++
  const ns = Number(process.hrtime.bigint() - t0) / BATCH
  if (sink < 0) console.log(sink)
  return ns
}

async function main (): Promise<void> {
  const lines: string[] = []
  const log = (line: string): void => { console.log(line); lines.push(line) }
  const agent = await DevAgent.start()
  const client = new AgentClient({ address: agent.address, env: false })
  try {
    const roots = await agent.api('GET', '/v1/agent/connect/ca/roots') as { TrustDomain: string }
    const td = roots.TrustDomain
    log('# Authorization: in-process decision vs the agent\'s authorize call')
    log('')
    log(`- machine: ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, load average at start ${loadavg().map((l) => l.toFixed(2)).join(' ')}`)
    log(`- Node ${process.version}, ${consulVersion()} (consul agent -dev on 127.0.0.1)`)
    log(`- date ${new Date().toISOString()}${quick ? ', --quick run' : ''}`)
    log(`- ${ROUNDS} interleaved rounds; decide: median of ${BATCHES_PER_ROUND} batches × ${BATCH} calls per round; agent: ${CALLS_PER_ROUND} sequential calls per round over keep-alive`)
    log('')
    log('| intentions | decide (median) | agent authorize (median) | agent p99 | ratio (agent / decide) |')
    log('|---:|---:|---:|---:|---:|')

    for (const n of AGENT_SIZES) {
      const destination = `db-${n}`
      const set = intentionSet(n)
      // Written as one service-intentions config entry: one write, whatever the size.
      await agent.api('PUT', '/v1/config', {
        Kind: 'service-intentions',
        Name: destination,
        Sources: set.map((i) => ({ Name: i.SourceName, Action: i.Action }))
      })
      const answer = await agent.api('GET', `/v1/connect/intentions/match?by=destination&name=${destination}`)
      const ix = Intentions.fromMatchAnswer(answer, destination, { defaultAllow: true })
      if (ix.size !== n) throw new Error(`expected ${n} intentions, the agent returned ${ix.size}`)
      const names = Array.from({ length: 64 }, (_, k) => `svc-${(k * 7919) % n}`)
      const ids = names.map((name) => parseSpiffeId(`spiffe://${td}/ns/default/dc/dc1/svc/${name}`))

      // Agreement check on the sample before timing: both must decide alike.
      for (const id of ids.slice(0, 16)) {
        const a = await client.authorize({ target: destination, clientCertUri: id.uri, clientCertSerial: '01' })
        if (a.Authorized !== ix.decide({ source: id }).allowed) throw new Error(`disagreement for ${id.uri}`)
      }

      const decideNs: number[] = []
      const agentUs: number[] = []
      for (let round = 0; round < ROUNDS; round++) {
        for (let b = 0; b < BATCHES_PER_ROUND; b++) decideNs.push(decideBatchNs(ix, ids))
        for (let c = 0; c < CALLS_PER_ROUND; c++) {
          const id = ids[c % ids.length]!
          const t0 = process.hrtime.bigint()
          await client.authorize({ target: destination, clientCertUri: id.uri, clientCertSerial: '01' })
          agentUs.push(Number(process.hrtime.bigint() - t0) / 1000)
        }
      }
      const d = median(decideNs)
      const a = median(agentUs)
      log(`| ${n.toLocaleString('en')} | ${d.toFixed(0)} ns | ${a.toFixed(0)} µs | ${percentile(agentUs, 0.99).toFixed(0)} µs | ${Math.round(a * 1000 / d).toLocaleString('en')}× |`)
    }
    for (const n of LOCAL_ONLY_SIZES) {
      const ix = new Intentions(intentionSet(n), { destination: 'db', defaultAllow: true })
      const ids = Array.from({ length: 64 }, (_, k) => parseSpiffeId(`spiffe://${td}/ns/default/dc/dc1/svc/svc-${(k * 7919) % n}`))
      const decideNs: number[] = []
      for (let round = 0; round < ROUNDS; round++) for (let b = 0; b < BATCHES_PER_ROUND; b++) decideNs.push(decideBatchNs(ix, ids))
      log(`| ${n.toLocaleString('en')} | ${median(decideNs).toFixed(0)} ns | (not written to the agent) | | |`)
    }
    log('')
    log('Goals (issue 4): median decision under 1 µs at 10,000 intentions; at least 100× faster than the agent call.')
    log(`Load average at end: ${loadavg().map((l) => l.toFixed(2)).join(' ')}`)
  } finally {
    await client.close()
    await agent.stop()
  }
  mkdirSync(new URL('./results/', import.meta.url), { recursive: true })
  writeFileSync(new URL('./results/authz.md', import.meta.url), lines.join('\n') + '\n')
}

await main()
