/**
 * Narrator: how the demo talks. Plain lines, each shorter than {@link MAX_LINE} characters (long values are
 * wrapped, with the continuation indented), and ANSI colours only when asked to (the CLI asks when stdout
 * is a terminal and `NO_COLOR` is unset). Every line goes to one `log` function, so a test can collect them.
 */

/** No line the narrator writes is this long or longer (colour codes not counted). */
export const MAX_LINE = 100
/** Where lines are wrapped. */
const WIDTH = 96

type Style = 'bold' | 'dim' | 'green' | 'red' | 'cyan'
const CODES: Readonly<Record<Style, readonly [number, number]>> = {
  bold: [1, 22],
  dim: [2, 22],
  green: [32, 39],
  red: [31, 39],
  cyan: [36, 39]
}

export interface NarratorOptions {
  /** Receives every line, without a trailing newline. */
  readonly log: (line: string) => void
  /** Colour the output with ANSI codes. Default false. */
  readonly color?: boolean
}

export class Narrator {
  readonly #log: (line: string) => void
  readonly #color: boolean

  constructor (options: NarratorOptions) {
    this.#log = options.log
    this.#color = options.color === true
  }

  /** A section title, preceded by an empty line. */
  heading (text: string): void {
    this.#log('')
    for (const line of wrap(text, WIDTH, '')) this.#log(this.#paint(line, 'bold', 'cyan'))
  }

  /** Narration: plain sentences, wrapped. */
  say (text: string): void {
    for (const line of wrap(text, WIDTH, '')) this.#log(line)
  }

  /** A fact observed, as `  label: value`; a long value wraps under itself. */
  fact (label: string, value: string): void {
    const head = `  ${label}: `
    const lines = wrap(value, WIDTH - head.length, '')
    lines.forEach((line, i) => this.#log(i === 0 ? `${this.#paint(head, 'dim')}${line}` : `${' '.repeat(head.length)}${line}`))
  }

  /** The outcome of a step. */
  verdict (ok: boolean, text: string): void {
    const mark = ok ? 'ok:' : 'FAILED:'
    const lines = wrap(`${mark} ${text}`, WIDTH, '  ')
    lines.forEach((line, i) => this.#log(i === 0 ? `  ${this.#paint(line, ok ? 'green' : 'red')}` : `  ${line}`))
  }

  /** An item of a list, `- text`, wrapped under its text. */
  item (text: string): void {
    for (const line of wrap(`- ${text}`, WIDTH, '  ')) this.#log(line)
  }

  /** Lines that are already laid out (the summary table), written as they are. */
  raw (line: string, style?: 'bold' | 'green' | 'red'): void {
    this.#log(style === undefined ? line : this.#paint(line, style))
  }

  #paint (text: string, ...styles: Style[]): string {
    if (!this.#color) return text
    return styles.reduce((acc, style) => `\u001b[${CODES[style][0]}m${acc}\u001b[${CODES[style][1]}m`, text)
  }
}

/**
 * Splits `text` into lines of at most `width` characters at spaces, never around an arrow (`web → db` stays
 * on one line); a word longer than the width (a URL, a serial) is cut. Lines after the first start with
 * `indent`.
 */
export function wrap (text: string, width: number, indent: string): string[] {
  const lines: string[] = []
  let current = ''
  const room = (): number => width - (lines.length === 0 ? 0 : indent.length)
  const push = (): void => {
    lines.push(lines.length === 0 ? current : `${indent}${current}`)
    current = ''
  }
  for (const word of words(text, Math.min(width, width - indent.length))) {
    if (current !== '' && current.length + 1 + word.length <= room()) {
      current += ` ${word}`
      continue
    }
    if (current !== '') push()
    let rest = word
    while (rest.length > room()) {
      current = rest.slice(0, room())
      rest = rest.slice(room())
      push()
    }
    current = rest
  }
  if (current !== '' || lines.length === 0) push()
  return lines
}

/** The words of `text`; `a → b` counts as one word when it fits in `width`. */
function words (text: string, width: number): string[] {
  const out: string[] = []
  const parts = text.split(/\s+/).filter((w) => w !== '')
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i] ?? ''
    const next = parts[i + 1]
    const previous = out.at(-1)
    if (part === '→' && previous !== undefined && next !== undefined && previous.length + next.length + 3 <= width) {
      out[out.length - 1] = `${previous} → ${next}`
      i++
    } else {
      out.push(part)
    }
  }
  return out
}
