/**
 * The summary table printed at the end of the demo: one row per step, `step | expected | observed | ok`.
 * Cells wrap inside their column, so the table stays narrower than the narrator's line limit whatever the
 * observations say.
 */
import { wrap } from './narrator.js'

/** One row. */
export interface TableRow {
  readonly step: string
  readonly expected: string
  readonly observed: string
  /** `yes`, `NO`, or `-` for a step that did not run. */
  readonly ok: string
}

const HEADER: TableRow = { step: 'step', expected: 'expected', observed: 'observed', ok: 'ok' }
/** Column widths, at most: 22 + 30 + 34 + 3, plus 3 separators of 3 characters: 98 characters in all. */
const MAX_WIDTHS = { step: 22, expected: 30, observed: 34, ok: 3 } as const
const COLUMNS = ['step', 'expected', 'observed', 'ok'] as const

/** Lays the rows out under a header and a rule; returns the lines, without trailing spaces. */
export function renderTable (rows: readonly TableRow[]): string[] {
  const widths = { step: 0, expected: 0, observed: 0, ok: 0 }
  for (const row of [HEADER, ...rows]) {
    for (const column of COLUMNS) {
      const longest = Math.max(...row[column].split(/\s+/).map((word) => word.length), row[column].length)
      widths[column] = Math.min(MAX_WIDTHS[column], Math.max(widths[column], longest))
    }
  }
  const lines: string[] = []
  const emit = (row: TableRow): void => {
    const cells = COLUMNS.map((column) => wrap(row[column], widths[column], ''))
    const height = Math.max(...cells.map((cell) => cell.length))
    for (let i = 0; i < height; i++) {
      const parts = COLUMNS.map((column, c) => (cells[c]?.[i] ?? '').padEnd(widths[column]))
      lines.push(parts.join(' | ').trimEnd())
    }
  }
  emit(HEADER)
  lines.push(COLUMNS.map((column) => '-'.repeat(widths[column])).join('-+-'))
  for (const row of rows) emit(row)
  return lines
}
