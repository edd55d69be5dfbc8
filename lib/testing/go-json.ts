/**
 * JSON the way Consul's Go encoder writes it, for the TestAgent's answers: Go `time.Time` text and
 * unsigned 64-bit integers written exactly.
 */

/**
 * A `time.Time` as Go's `MarshalJSON` writes it (RFC 3339 with nanoseconds, trailing zeros of the
 * fraction dropped): `2025-01-02T03:04:05Z`, `2025-01-02T03:04:05.5Z`. Times are UTC, as Consul's
 * certificate-derived times are.
 */
export function goTime (date: Date): string {
  const iso = date.toISOString() // always `YYYY-MM-DDTHH:mm:ss.sssZ`
  const fraction = iso.slice(20, 23).replace(/0+$/, '')
  return `${iso.slice(0, 19)}${fraction === '' ? '' : `.${fraction}`}Z`
}

/**
 * A `uint64` field value. JSON has no integer type and `JSON.stringify` cannot write a BigInt, so values
 * wrapped here are written as bare digits by {@link stringifyGo} (a Go client reads them exactly; a
 * JavaScript `JSON.parse` rounds them above 2^53, as it would a real agent's answer).
 */
export class Uint64 {
  readonly value: bigint
  constructor (value: bigint) {
    if (value < 0n || value >= 1n << 64n) throw new RangeError(`not a uint64: ${value}`)
    this.value = value
  }

  /** The low 64 bits of a big-endian byte string, as Go's `big.Int.Uint64()` gives them. */
  static fromBytes (bytes: Uint8Array): Uint64 {
    let value = 0n
    for (const byte of bytes.subarray(Math.max(0, bytes.length - 8))) value = (value << 8n) | BigInt(byte)
    return new Uint64(value)
  }

  toJSON (): string {
    return `${MARK}${this.value}${MARK}`
  }
}

// A marker no real string in an answer contains (a private-use character), so replacing it is safe.
const MARK = '\uE000u64\uE000'
const MARKED = /"\uE000u64\uE000(\d+)\uE000u64\uE000"/g

/** `JSON.stringify` that writes {@link Uint64} values as bare integers. */
export function stringifyGo (value: unknown): string {
  const text = JSON.stringify(value)
  return text.includes('\uE000') ? text.replace(MARKED, '$1') : text
}
