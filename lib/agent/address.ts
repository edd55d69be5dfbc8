/**
 * The agent's address, in the forms the Consul ecosystem accepts (`CONSUL_HTTP_ADDR`, `-http-addr`):
 *
 * | form | example | scheme |
 * |---|---|---|
 * | `host:port` | `127.0.0.1:8500`, `[::1]:8500`, `consul.local:8501` | `https` when TLS is enabled, else `http` |
 * | `host` | `consul.local` | as above; port 8500 (8501 with TLS), Consul's defaults |
 * | `http://host[:port]` | `http://10.0.0.5:8500` | `http`, unless TLS is enabled: never downgraded (as Consul's Go client) |
 * | `https://host[:port]` | `https://consul.local:8501` | `https` |
 * | `unix://path` | `unix:///run/consul/http.sock` | `http` over the socket (`https` when TLS is enabled) |
 *
 * Addresses carrying credentials, a path, a query or a fragment are refused: a token belongs in the
 * `X-Consul-Token` header only, and the agent API lives at `/v1` of the root.
 */

/** Where and how to reach the agent. */
export type AgentAddress =
  | { readonly kind: 'tcp', readonly secure: boolean, readonly origin: string, readonly display: string }
  | { readonly kind: 'unix', readonly secure: boolean, readonly origin: string, readonly socketPath: string, readonly display: string }

export const DEFAULT_AGENT_ADDRESS = '127.0.0.1:8500'

const DEFAULT_HTTP_PORT = '8500'
const DEFAULT_HTTPS_PORT = '8501'

/**
 * Parses `input`. `tlsEnabled` upgrades `host:port` and `http://` forms to https. Throws a RangeError with
 * a reason (callers turn it into an InvalidOptionError naming their field or environment variable).
 */
export function parseAgentAddress (input: string, tlsEnabled = false): AgentAddress {
  const text = input.trim()
  if (text === '') throw new RangeError('address is empty')

  if (text.toLowerCase().startsWith('unix://')) {
    const socketPath = text.slice('unix://'.length)
    if (socketPath === '') throw new RangeError(`"${text}" names no socket path`)
    // Over a socket the host is only the Host header; "localhost" is what Consul's Go client sends too.
    return Object.freeze({
      kind: 'unix',
      secure: tlsEnabled,
      origin: tlsEnabled ? 'https://localhost' : 'http://localhost',
      socketPath,
      display: `unix://${socketPath}`
    })
  }

  const schemeMatch = /^([a-z][a-z0-9+.-]*):\/\//i.exec(text)
  const scheme = schemeMatch?.[1]?.toLowerCase()
  if (scheme !== undefined && scheme !== 'http' && scheme !== 'https') {
    throw new RangeError(`"${text}" has scheme "${scheme}"; expected http, https or unix`)
  }
  const secure = scheme === 'https' || tlsEnabled
  const rest = schemeMatch === null ? text : text.slice(schemeMatch[0].length)
  const cut = rest.search(/[/?#]/)
  const authority = cut === -1 ? rest : rest.slice(0, cut)
  const tail = cut === -1 ? '' : rest.slice(cut)
  if (tail !== '' && tail !== '/') throw new RangeError(`"${text}" has a path, query or fragment; give only scheme, host and port`)
  if (authority.includes('@')) throw new RangeError('address must not carry credentials; use the token option')

  // Split host and port by hand: URL drops a port equal to the scheme's default, which would make
  // "host:80" indistinguishable from "host".
  const parts = /^(\[[^\]]*\]|[^:[\]]*)(?::(\d{1,5}))?$/.exec(authority)
  if (parts === null) {
    if (!authority.startsWith('[') && authority.split(':').length > 2) {
      throw new RangeError(`"${text}" looks like an IPv6 address without brackets; write [::1]:8500`)
    }
    throw new RangeError(`"${text}" is not host:port, http(s)://host:port or unix:///path`)
  }
  const host = parts[1] ?? ''
  if (host === '') throw new RangeError(`"${text}" names no host`)
  let hostname: string
  try {
    hostname = new URL(`http://${host}`).hostname
  } catch (err) {
    throw new RangeError(`"${text}" has an invalid host "${host}"`, { cause: err })
  }
  if (hostname === '') throw new RangeError(`"${text}" names no host`)

  let port = parts[2]
  if (port === undefined) {
    // Bare host: Consul's ports. A URL without port: the scheme's standard port, as any URL means.
    port = scheme === undefined ? (secure ? DEFAULT_HTTPS_PORT : DEFAULT_HTTP_PORT) : (secure ? '443' : '80')
  } else if (Number(port) < 1 || Number(port) > 65535) {
    throw new RangeError(`"${text}" has port ${port}, outside 1-65535`)
  }
  const origin = `${secure ? 'https' : 'http'}://${hostname}:${Number(port)}`
  return Object.freeze({ kind: 'tcp', secure, origin, display: origin })
}
