/**
 * Micro-benchmark of Intentions#decide: time per decision at 10 / 1,000 / 10,000 / 100,000 intentions,
 * and the time to build each index. Not a test; run it by hand:
 *
 *   node --expose-gc --import tsx bench/authz-decision.ts
 *
 * Each figure is the median over many batches of calls, per call (a single call is too short to time).
 * The sources cycle through exact-name hits, namespace-wildcard hits, misses that fall to the default, and
 * L7 requests. With --expose-gc it also reports heap growth per decision (inputs built beforehand), which
 * should be about zero: decisions are shared frozen objects.
 */
import { cpus, loadavg } from 'node:os'
import type { HttpRequestInfo } from '../lib/authz/authorizer.js'
import { Intentions } from '../lib/authz/intentions.js'
import type { IntentionInput } from '../lib/authz/intentions.js'
import { parseSpiffeId } from '../lib/spiffe-id.js'
import type { SpiffeId } from '../lib/spiffe-id.js'

const SIZES = [10, 1_000, 10_000, 100_000]
const BATCH = 1_000
const BATCHES = 400

/** n intentions: exact names (some L7), namespace wildcards, and the two catch-alls. */
function intentionSet (n: number): IntentionInput[] {
  const list: IntentionInput[] = [{ SourceName: '*', Action: 'deny' }, { SourceNS: '*', SourceName: '*', Action: 'allow' }]
  for (let k = 0; list.length < n; k++) {
    if (k % 4 === 3) list.push({ SourceNS: `ns-${k}`, SourceName: '*', Action: k % 2 === 0 ? 'allow' : 'deny' })
    else if (k % 10 === 0) list.push({ SourceName: `svc-${k}`, Permissions: [{ Action: 'deny', HTTP: { PathPrefix: '/admin' } }, { Action: 'allow', HTTP: { PathRegex: '/api/v[0-9]+/.*', Methods: ['GET', 'POST'] } }] })
    else list.push({ SourceName: `svc-${k}`, Action: k % 3 === 0 ? 'deny' : 'allow' })
  }
  return list
}

function sources (n: number): SpiffeId[] {
  const td = 'bench.consul'
  const out: SpiffeId[] = []
  for (let k = 0; k < 64; k++) {
    const i = (k * 7919) % Math.max(1, n - 2)
    out.push(parseSpiffeId(`spiffe://${td}/ns/default/dc/dc1/svc/svc-${i}`)) // exact (or L7) hit
    out.push(parseSpiffeId(`spiffe://${td}/ns/ns-${i - (i % 4) + 3}/dc/dc1/svc/x`)) // namespace wildcard
    out.push(parseSpiffeId(`spiffe://${td}/ns/default/dc/dc1/svc/absent-${k}`)) // default/* catch-all
  }
  return out
}

const requests: HttpRequestInfo[] = [
  { method: 'GET', path: '/api/v2/users', headers: {} },
  { method: 'DELETE', path: '/admin/x', headers: {} },
  { method: 'PUT', path: '/other', headers: {} }
]

function median (values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[sorted.length >> 1]!
}

function measure (ix: Intentions, ids: SpiffeId[], withRequest: boolean): number {
  const perCall: number[] = []
  let sink = 0
  for (let b = 0; b < BATCHES; b++) {
    const start = process.hrtime.bigint()
    for (let k = 0; k < BATCH; k++) {
      const source = ids[(b * BATCH + k) % ids.length]!
      const d = withRequest ? ix.decide({ source, request: requests[k % requests.length] }) : ix.decide({ source })
      if (d.allowed) sink++
    }
    perCall.push(Number(process.hrtime.bigint() - start) / BATCH)
  }
  if (sink < 0) console.log(sink) // keep the loop observable
  return median(perCall)
}

function heapPerDecision (ix: Intentions, ids: SpiffeId[]): string {
  const gc = (globalThis as { gc?: () => void }).gc
  if (gc === undefined) return 'n/a (run with --expose-gc)'
  const calls = 1_000_000
  // Inputs built beforehand, so that only what decide itself allocates is counted.
  const inputs = ids.map((source) => ({ source }))
  gc()
  const before = process.memoryUsage().heapUsed
  for (let k = 0; k < calls; k++) ix.decide(inputs[k % inputs.length]!)
  const after = process.memoryUsage().heapUsed
  return `${Math.max(0, (after - before) / calls).toFixed(2)} B`
}

console.log(`node ${process.version}, ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, load average ${loadavg().map((l) => l.toFixed(2)).join(' ')}`)
console.log('intentions | build      | L4 decide (median) | L7 decide (median) | heap / L4 decision')
for (const n of SIZES) {
  const list = intentionSet(n)
  const t0 = process.hrtime.bigint()
  const ix = new Intentions(list, { defaultAllow: false, destination: 'db' })
  const buildMs = Number(process.hrtime.bigint() - t0) / 1e6
  const ids = sources(n)
  measure(ix, ids, false) // warm up (and create the lazily built decisions)
  const l4 = measure(ix, ids, false)
  measure(ix, ids, true)
  const l7 = measure(ix, ids, true)
  console.log(`${String(n).padStart(10)} | ${buildMs.toFixed(1).padStart(7)} ms | ${l4.toFixed(0).padStart(15)} ns | ${l7.toFixed(0).padStart(15)} ns | ${heapPerDecision(ix, ids)}`)
}
console.log(`load average after: ${loadavg().map((l) => l.toFixed(2)).join(' ')}`)
