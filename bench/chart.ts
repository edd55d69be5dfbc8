/**
 * Charts for docs/benchmarks.md as Mermaid `xychart-beta` blocks, which GitHub and most Markdown viewers
 * render as pictures and which stay readable as text where they do not.
 */

export interface BarChartOptions {
  readonly title: string
  /** One label per bar. */
  readonly labels: readonly string[]
  readonly values: readonly number[]
  /** Axis label with the unit, e.g. `new connections/s`. */
  readonly yLabel: string
  /** Decimals kept in the chart data. Default 1. */
  readonly digits?: number
}

const quote = (s: string): string => `"${s.replace(/"/g, "'")}"`

/** A bar chart; bars with a non-finite value are drawn at 0 (the table beside the chart says `n/a`). */
export function barChart (o: BarChartOptions): string {
  if (o.labels.length !== o.values.length) throw new Error(`barChart ${o.title}: ${o.labels.length} labels for ${o.values.length} values`)
  const digits = o.digits ?? 1
  const values = o.values.map((v) => (Number.isFinite(v) ? Number(v.toFixed(digits)) : 0))
  const top = Math.max(0, ...values)
  return [
    '```mermaid',
    'xychart-beta',
    `  title ${quote(o.title)}`,
    `  x-axis [${o.labels.map(quote).join(', ')}]`,
    `  y-axis ${quote(o.yLabel)} 0 --> ${niceCeiling(top)}`,
    `  bar [${values.join(', ')}]`,
    '```'
  ].join('\n')
}

export interface LineChartOptions {
  readonly title: string
  /** Labels of the x axis (e.g. seconds since start). */
  readonly xLabels: readonly string[]
  readonly values: readonly number[]
  readonly yLabel: string
  readonly digits?: number
}

/** A line chart of one series (e.g. p99 latency per second through a rotation). */
export function lineChart (o: LineChartOptions): string {
  if (o.xLabels.length !== o.values.length) throw new Error(`lineChart ${o.title}: ${o.xLabels.length} labels for ${o.values.length} values`)
  const digits = o.digits ?? 1
  const values = o.values.map((v) => (Number.isFinite(v) ? Number(v.toFixed(digits)) : 0))
  return [
    '```mermaid',
    'xychart-beta',
    `  title ${quote(o.title)}`,
    `  x-axis [${o.xLabels.map(quote).join(', ')}]`,
    `  y-axis ${quote(o.yLabel)} 0 --> ${niceCeiling(Math.max(0, ...values))}`,
    `  line [${values.join(', ')}]`,
    '```'
  ].join('\n')
}

/** The smallest of 1, 2, 2.5, 5 × 10^k that is ≥ `x` (an axis top a reader can take in); 1 for 0. */
export function niceCeiling (x: number): number {
  if (!(x > 0)) return 1
  const magnitude = 10 ** Math.floor(Math.log10(x))
  for (const step of [1, 2, 2.5, 5, 10]) if (step * magnitude >= x) return Number((step * magnitude).toPrecision(12))
  return 10 * magnitude
}
