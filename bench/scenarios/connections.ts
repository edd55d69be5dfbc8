/**
 * Scenario `connections`: new mutual-TLS connections per second that a server accepts, each a full handshake
 * (TLS 1.3, client certificate, no resumption) then one `GET /` with `Connection: close`. Three servers, all
 * with certificates from the same real `consul agent -dev`, all answering 200 `ok`:
 * - **native**: this library's `ConnectService.createServer` (leaf and roots watched, every connection
 *   decided against the cached intentions);
 * - **plain Node**: `https.createServer` with the same leaf and roots as static options, `requestCert` and
 *   `rejectUnauthorized`, and no authorization at all: the most Node can do per connection;
 * - **Go SDK**: bench/go-sdk (a small Go program on Consul's own `connect` package), whose TLS config verifies
 *   the client chain and then calls the agent's authorize endpoint for every connection, as the SDK does.
 *
 * The two Node servers share a child process (only one has traffic at a time); the Go server is its own
 * process; the client is this process, the same for all three: a leaf for `conn-web` from the agent. Two
 * interleaved comparisons (plain vs native, Go vs native) give paired per-round ratios. Server CPU per
 * connection is read from /proc for the server's process, and for the Go server the agent's CPU is shown
 * beside it, since every one of its connections costs the agent an authorize call.
 */
import { execFileSync, fork, spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { createInterface } from 'node:readline'
import tls from 'node:tls'
import { fileURLToPath } from 'node:url'
import { goSdkBin } from '../../scripts/go-sdk-bin.mjs'
import { DevAgent, consulBinary, consulVersion } from '../../test/integration/support/consul-agent.js'
import { barChart } from '../chart.js'
import { oneConnection } from '../tls-client.js'
import { compareInterleaved, comparisonTable, fmt, metricOf, percentile, roundsTable, runBounded } from '../harness.js'
import type { Comparison, Contender, Metric } from '../harness.js'
import type { BenchContext, Goal, Scenario, ScenarioResult } from '../scenario.js'

const HERE = dirname(fileURLToPath(import.meta.url))
const HOST = '127.0.0.1'
export const GOAL_PLAIN = 0.9
export const GOAL_GO = 1.5
const CLK_TCK = 100

const METRICS: readonly Metric[] = [
  { key: 'rate', label: 'new connections/s', unit: 'conn/s', better: 'higher', digits: 0 },
  { key: 'p50', label: 'connection p50', unit: 'ms', better: 'lower', digits: 1 },
  { key: 'p99', label: 'connection p99', unit: 'ms', better: 'lower', digits: 1 },
  { key: 'serverCpu', label: 'server CPU per connection', unit: 'ms', better: 'lower', digits: 2 },
  { key: 'agentCpu', label: 'agent CPU per connection', unit: 'ms', better: 'lower', digits: 2 }
]

/** CPU time (user + system) a process has used so far, ms, from /proc/<pid>/stat. */
function cpuMsOf (pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  // After the command name: state is field 3, utime 14 and stime 15 (1-based), so indexes 11 and 12 here.
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLK_TCK
}

interface Servers {
  readonly nodePid: number
  readonly goPid: number
  readonly nativePort: number
  readonly plainPort: number
  readonly goPort: number
}

/** Starts the Go SDK server and resolves with its pid and port once it prints its ready line. */
async function startGo (bin: string, agent: DevAgent, children: ChildProcess[]): Promise<{ pid: number, port: number }> {
  const child = spawn(bin, ['serve', '-service', 'conn-api-go', '-listen', `${HOST}:0`], {
    env: { ...process.env, CONSUL_HTTP_ADDR: agent.address, CONSUL_HTTP_TOKEN: '' },
    stdio: ['ignore', 'pipe', 'inherit']
  })
  children.push(child)
  const lines = createInterface({ input: child.stdout! })
  const timeout = AbortSignal.timeout(60_000)
  for await (const line of lines) {
    if (timeout.aborted) break
    const message = JSON.parse(line) as { event: string, addr?: string, readyMs?: number, message?: string }
    if (message.event === 'ready' && message.addr !== undefined) {
      return { pid: child.pid!, port: Number(message.addr.slice(message.addr.lastIndexOf(':') + 1)) }
    }
    if (message.event === 'error') throw new Error(`the Go SDK server failed: ${message.message}`)
  }
  throw new Error('the Go SDK server exited or sent no ready line within 60 s')
}

async function startNode (agent: DevAgent, children: ChildProcess[]): Promise<{ pid: number, native: number, plain: number }> {
  const child = fork(join(HERE, 'connections-server.ts'), [], {
    execArgv: ['--import', 'tsx'],
    env: { ...process.env, BENCH_AGENT_ADDR: agent.address, BENCH_SERVICE: 'conn-api' },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc']
  })
  children.push(child)
  const [message] = await Promise.race([
    once(child, 'message') as Promise<[{ type: string, native: number, plain: number, pid: number }]>,
    once(child, 'exit').then(() => { throw new Error('connections-server exited before listening') })
  ])
  return { pid: message.pid, native: message.native, plain: message.plain }
}

async function run (ctx: BenchContext): Promise<ScenarioResult> {
  const rounds = ctx.quick ? 3 : 10
  const count = ctx.quick ? 60 : 150
  const concurrency = 8
  ctx.log('building (or finding) the Go SDK server')
  const goBin = goSdkBin()
  const goVersion = execFileSync('go', ['version'], { encoding: 'utf8' }).trim()
  const agent = await DevAgent.start()
  const agentPid = agent.pid
  const children: ChildProcess[] = []
  const problems: string[] = []
  try {
    const leaf = await agent.api('GET', '/v1/agent/connect/ca/leaf/conn-web') as { CertPEM: string, PrivateKeyPEM: string }
    const roots = await agent.api('GET', '/v1/agent/connect/ca/roots') as { Roots: Array<{ RootCert: string }> }
    const context = tls.createSecureContext({ cert: leaf.CertPEM, key: leaf.PrivateKeyPEM, ca: roots.Roots.map((r) => r.RootCert), minVersion: 'TLSv1.2' })
    const [node, go] = await Promise.all([startNode(agent, children), startGo(goBin, agent, children)])
    const servers: Servers = { nodePid: node.pid, goPid: go.pid, nativePort: node.native, plainPort: node.plain, goPort: go.port }

    // Sanity: each server serves our client.
    for (const [name, port] of [['native', servers.nativePort], ['plain', servers.plainPort], ['Go SDK', servers.goPort]] as const) {
      await oneConnection(port, context, undefined, undefined).catch((err: Error) => { throw new Error(`${name} server refused the benchmark client: ${err.message}`) })
    }

    const contender = (name: string, port: number, pid: number): Contender => ({
      name,
      run: async () => {
        const cpu0 = cpuMsOf(pid)
        const agent0 = cpuMsOf(agentPid)
        const r = await runBounded({ count, concurrency, maxMs: 30_000 }, async (_i, signal) => { await oneConnection(port, context, undefined, signal) })
        const serverCpu = (cpuMsOf(pid) - cpu0) / Math.max(1, r.completed)
        const agentCpu = (cpuMsOf(agentPid) - agent0) / Math.max(1, r.completed)
        if (r.failed > 0) problems.push(`${name}: ${r.failed} of ${count} connections failed (${r.errors.slice(0, 2).join('; ')})`)
        return { rate: r.perSecond, p50: percentile(r.latenciesMs, 50), p99: percentile(r.latenciesMs, 99), serverCpu, agentCpu }
      }
    })
    const native = contender('native createServer', servers.nativePort, servers.nodePid)
    const plain = contender('plain Node HTTPS', servers.plainPort, servers.nodePid)
    const goSdk = contender('Go SDK', servers.goPort, servers.goPid)
    const options = { metrics: METRICS, rounds, budgetMs: ctx.quick ? 20_000 : 120_000, log: ctx.log }
    const vsPlain = await compareInterleaved('native vs plain Node', plain, native, options)
    const vsGo = await compareInterleaved('native vs Go SDK', goSdk, native, options)
    return report(ctx, vsPlain, vsGo, problems, goVersion, { count, concurrency })
  } finally {
    for (const child of children) child.kill('SIGTERM')
    await Promise.all(children.map(async (c) => { if (c.exitCode === null && c.signalCode === null) await once(c, 'exit') }))
    await agent.stop()
  }
}

function report (ctx: BenchContext, vsPlain: Comparison, vsGo: Comparison, problems: string[], goVersion: string, { count, concurrency }: { count: number, concurrency: number }): ScenarioResult {
  const plainRatio = metricOf(vsPlain, 'rate').ratio
  const goRatio = metricOf(vsGo, 'rate').ratio
  const cpuPlain = metricOf(vsPlain, 'serverCpu')
  const cpuGo = metricOf(vsGo, 'serverCpu')
  const agentGo = metricOf(vsGo, 'agentCpu')
  const goals: Goal[] = [
    {
      goal: `new connections/s ≥ ${GOAL_PLAIN * 100} % of the plain Node TLS ceiling`,
      measured: `${fmt(plainRatio.median * 100, 1)} % (per-round ratios ${fmt(plainRatio.min, 3)}–${fmt(plainRatio.max, 3)}, IQR ${fmt(plainRatio.p25, 3)}–${fmt(plainRatio.p75, 3)}); server CPU per connection ${fmt(cpuPlain.ratio.median, 3)}× plain`,
      status: plainRatio.median >= GOAL_PLAIN ? 'met' : 'not met'
    },
    {
      goal: `new connections/s ≥ ${GOAL_GO}× the Go SDK server`,
      measured: `${fmt(goRatio.median, 2)}× (per-round ${fmt(goRatio.min, 2)}–${fmt(goRatio.max, 2)}); server CPU per connection: native ${fmt(cpuGo.candidate.median, 2)} ms, Go ${fmt(cpuGo.baseline.median, 2)} ms + agent ${fmt(agentGo.baseline.median, 2)} ms`,
      status: goRatio.median >= GOAL_GO ? 'met' : 'not met'
    }
  ]
  const rate = (c: Comparison, side: 'baseline' | 'candidate'): number => metricOf(c, 'rate')[side].median
  const markdown = [
    'Each connection: TCP, a full TLS 1.3 handshake with the client certificate (no session resumption), one',
    '`GET /` with `Connection: close`, the whole response, closed. The client is this process and identical for all',
    'servers: a leaf for `conn-web` and the roots, both from the agent.',
    '',
    '- **native createServer**: `ConnectService.createServer` for `conn-api`: leaf and roots watched from the agent,',
    '  the peer checked (chain, exactly one SPIFFE URI SAN, validity) and every connection decided against the cached',
    '  intentions.',
    '- **plain Node HTTPS**: `https.createServer` with the same leaf and roots as static options, `requestCert` and',
    '  `rejectUnauthorized`, no authorization: the ceiling of what Node does per connection.',
    '- **Go SDK**: bench/go-sdk, an `http.Server` with `connect.Service.ServerTLSConfig()` from Consul\'s Go SDK',
    '  (module github.com/hashicorp/consul at the pinned version). Its TLS verification checks the chain and then',
    '  calls the agent\'s `/v1/agent/connect/authorize` for every new connection.',
    '',
    `${count} connections per server per round at concurrency ${concurrency}; rounds alternate the two sides of each`,
    'comparison (order flipped every round). Server CPU per connection is the server process\'s CPU time over the',
    'round (from /proc, 10 ms ticks, so about ±5 % over a round) divided by its connections; "agent CPU" is the Consul',
    'agent\'s over the same round. The client presents one leaf throughout, so the native server\'s peer cache (keyed',
    'by leaf fingerprint) always hits: the best case, and the usual one, since a leaf is reused until renewed. A new',
    'leaf costs its first connection one DER parse and SPIFFE ID parse, tens of microseconds.',
    '',
    barChart({
      title: 'New mTLS connections per second (median of rounds)',
      labels: ['plain Node HTTPS', 'native (vs plain)', 'Go SDK', 'native (vs Go)'],
      values: [rate(vsPlain, 'baseline'), rate(vsPlain, 'candidate'), rate(vsGo, 'baseline'), rate(vsGo, 'candidate')],
      yLabel: 'connections/s',
      digits: 0
    }),
    '',
    '**Native against plain Node HTTPS** (the Node ceiling):',
    '',
    comparisonTable(vsPlain),
    '',
    '**Native against the Go SDK server:**',
    '',
    comparisonTable(vsGo),
    '',
    '<details><summary>Every round</summary>',
    '',
    roundsTable(vsPlain, ['rate', 'serverCpu']),
    '',
    roundsTable(vsGo, ['rate', 'serverCpu', 'agentCpu']),
    '',
    '</details>'
  ].join('\n')
  ctx.log(`native/plain ${fmt(plainRatio.median, 3)}, native/Go ${fmt(goRatio.median, 3)}`)
  return { title: 'New mTLS connections per second', markdown, goals, problems, versions: { Go: goVersion.replace(/^go version /, '') } }
}

export const scenario: Scenario = { id: 'connections', title: 'New mTLS connections per second', estimate: '2–4 min', run }

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  const result = await run({ quick: process.argv.includes('--quick'), log: (l) => process.stderr.write(`[connections] ${l}\n`), consulBin: consulBinary(), consulVersion: consulVersion() })
  process.stdout.write(`${result.markdown}\n\n${JSON.stringify({ goals: result.goals, problems: result.problems }, null, 2)}\n`)
}
