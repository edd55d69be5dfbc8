/**
 * ALPN: which application protocols a server advertises and a client offers.
 *
 * A server must never advertise a protocol it cannot speak. Go's TLS servers refuse a client whose ALPN
 * list shares nothing with theirs (except a client offering only `http/1.1`), and Go clients refuse a
 * server that picks something they did not offer; an L4 server that advertised `h2` broke Go clients
 * (Consul issue 4466). Node's servers, too, answer a list with no overlap with a fatal
 * `no_application_protocol` alert. So:
 * - HTTPS (HTTP/1.1) servers: `http/1.1` only;
 * - HTTP/2 servers: `h2`, plus `http/1.1` when HTTP/1.1 fallback is on;
 * - raw TLS servers: nothing unless configured: without ALPN, any client list is accepted and no protocol
 *   is selected.
 */
import { z } from 'zod'

export const HTTP1_ALPN: readonly string[] = Object.freeze(['http/1.1'])
export const HTTP2_ALPN: readonly string[] = Object.freeze(['h2'])
export const HTTP2_WITH_HTTP1_ALPN: readonly string[] = Object.freeze(['h2', 'http/1.1'])

/** The protocols an HTTP/2 server advertises. */
export function http2Alpn (allowHTTP1: boolean): readonly string[] {
  return allowHTTP1 ? HTTP2_WITH_HTTP1_ALPN : HTTP2_ALPN
}

/**
 * A list of ALPN protocol IDs: non-empty, each 1–255 bytes of printable ASCII (RFC 7301 allows any bytes;
 * every registered ID is printable ASCII, and anything else is almost certainly a mistake), no duplicates.
 */
export const alpnSchema = z.array(
  z.string().regex(/^[\x21-\x7e]{1,255}$/, 'each protocol must be 1-255 printable ASCII characters')
).min(1, 'must list at least one protocol').refine((list) => new Set(list).size === list.length, 'must not repeat a protocol')
