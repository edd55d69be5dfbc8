/**
 * dialService: resolve a mesh target and open a mutual-TLS connection to one of its instances, verified to
 * be the service the resolver named (the server's SPIFFE ID, not its DNS name, is checked).
 *
 * Instances come from the resolver already shuffled; they are tried in that order, at most `maxAttempts`
 * of them, each with its own deadline (`attemptTimeoutMs`) inside the whole dial's (`timeoutMs`). An
 * instance that refuses, times out or fails the handshake is skipped for the next one.
 *
 * A peer that answers with the wrong identity (ERR_CONNECT_PEER_VERIFICATION) or a chain our roots do not
 * accept (ERR_CONNECT_CERT_*) is a security signal, not a transient fault. The next instance is still
 * tried, since one misconfigured or stale address (a port reused by another service) must not take a
 * whole service down, but the signal is never hidden: when every attempt fails, the error thrown carries
 * the most serious code seen, in this order: ERR_CONNECT_PEER_VERIFICATION, then ERR_CONNECT_CERT_* and
 * ERR_CONNECT_SPIFFE_ID_* (the peer's chain or SAN), then ERR_CONNECT_TIMEOUT when the dial's deadline
 * passed or every attempt timed out, else ERR_CONNECT_NO_INSTANCES ("every instance failed": refusals,
 * resets, other handshake errors). Its message lists every attempt; its `cause` is the failure that gave
 * the code (the most serious one).
 *
 * Failures that no other instance can fix stop the dial at once, unchanged: our own credentials missing
 * (ERR_CONNECT_NOT_READY, ERR_CONNECT_NO_ROOTS, ERR_CONNECT_LEAF_EXPIRED) and invalid options. Aborting
 * `signal` rejects with ERR_CONNECT_ABORTED; resolver errors (ERR_CONNECT_NO_INSTANCES, agent errors)
 * pass through. The caller owns the returned socket.
 */
import type { TLSSocket } from 'node:tls'
import { abortError, CertificateError, ConnectError, hasCode, InvalidOptionError } from '../errors.js'
import type { CertificateErrorCode, ErrorCode } from '../errors.js'
import type { CredentialsSource } from '../identity/source.js'
import { connectTls } from '../tls/client.js'
import type { ExpectedService } from '../tls/expectation.js'
import { checkTarget, describeInstance, describeTarget } from './resolver.js'
import type { Instance, Resolver, Target } from './resolver.js'

export interface DialOptions {
  readonly resolver: Resolver
  /** Our identity and trusted roots, read when each connection starts. */
  readonly source: CredentialsSource
  readonly signal?: AbortSignal
  /** Deadline of the whole dial, resolution included, ms. Default 10 000. */
  readonly timeoutMs?: number
  /** Deadline of one instance's connect and handshake, ms. Default 5 000 (capped by what is left of `timeoutMs`). */
  readonly attemptTimeoutMs?: number
  /** Most instances tried. Default 3. */
  readonly maxAttempts?: number
  /** ALPN protocols to offer (e.g. `['http/1.1']`). Default none. */
  readonly alpn?: readonly string[]
}

/** Codes that say our own state is unusable: another instance would fail the same way. */
const LOCAL_CODES: ReadonlySet<string> = new Set([
  'ERR_CONNECT_NOT_READY', 'ERR_CONNECT_NO_ROOTS', 'ERR_CONNECT_LEAF_EXPIRED', 'ERR_CONNECT_INVALID_OPTION', 'ERR_CONNECT_CLOSED'
])

/** Resolves `target` (a service name, or a Target) and connects to one instance; see the module comment. */
export async function dialService (target: Target | string, options: DialOptions): Promise<TLSSocket> {
  const t = typeof target === 'string' ? { service: target } : target
  checkTarget(t)
  const { resolver, source, signal } = options
  if (resolver === null || typeof resolver?.resolve !== 'function') throw new InvalidOptionError('resolver', 'expected an object with a resolve() method')
  if (source === null || typeof source !== 'object') throw new InvalidOptionError('source', 'expected a CredentialsSource')
  const timeoutMs = positive(options.timeoutMs, 10_000, 'timeoutMs')
  const attemptTimeoutMs = positive(options.attemptTimeoutMs, 5_000, 'attemptTimeoutMs')
  const maxAttempts = positive(options.maxAttempts, 3, 'maxAttempts')
  const what = `dialing ${describeTarget(t)}`
  if (signal?.aborted === true) throw abortError(what, signal)

  // One signal for everything below: the caller's abort or our deadline, told apart afterwards.
  const deadline = new AbortController()
  const timer = setTimeout(() => deadline.abort(new Error(`deadline of ${timeoutMs} ms passed`)), timeoutMs)
  timer.unref()
  const stop = signal === undefined ? deadline.signal : AbortSignal.any([signal, deadline.signal])
  const started = Date.now()
  const failures: Array<{ instance: Instance, error: unknown }> = []
  const stopped = (cause?: unknown): ConnectError => signal?.aborted === true
    ? abortError(what, signal)
    : summarize(what, failures, timeoutMs, cause)
  try {
    let instances: Instance[]
    try {
      instances = await resolver.resolve(t, { signal: stop })
    } catch (err) {
      if (stop.aborted) throw stopped(err)
      throw err
    }
    for (const instance of instances.slice(0, maxAttempts)) {
      if (stop.aborted) throw stopped()
      try {
        const socket = await connectTls({
          host: instance.host,
          port: instance.port,
          source,
          expect: expectedOf(instance),
          signal: stop,
          timeoutMs: Math.max(1, Math.min(attemptTimeoutMs, timeoutMs - (Date.now() - started))),
          ...(options.alpn === undefined ? {} : { alpn: [...options.alpn] })
        })
        return socket
      } catch (err) {
        if (stop.aborted) throw stopped(err)
        if (err instanceof ConnectError && LOCAL_CODES.has(err.code)) throw err
        failures.push({ instance, error: err })
      }
    }
    throw summarize(what, failures, undefined, undefined)
  } finally {
    clearTimeout(timer)
  }
}

/** The identity an instance must present: only the fields the resolver knows are pinned. */
export function expectedOf (instance: Instance): ExpectedService {
  const expected: { service: string, namespace?: string, partition?: string, datacenter?: string } = { service: instance.service }
  if (instance.namespace !== undefined) expected.namespace = instance.namespace
  if (instance.partition !== undefined) expected.partition = instance.partition
  if (instance.datacenter !== undefined) expected.datacenter = instance.datacenter
  return expected
}

/** How serious a failed attempt is: peer identity > peer chain or SAN > anything else. */
function rank (error: unknown): number {
  if (!(error instanceof ConnectError)) return 0
  if (error.code === 'ERR_CONNECT_PEER_VERIFICATION') return 3
  if (error.code.startsWith('ERR_CONNECT_CERT_') || error.code.startsWith('ERR_CONNECT_SPIFFE_ID_')) return 2
  return 1
}

/**
 * The error for a dial where every attempt failed, or whose deadline (`deadlineMs`, when given) passed:
 * see the module comment for the code.
 */
function summarize (what: string, failures: ReadonlyArray<{ instance: Instance, error: unknown }>, deadlineMs: number | undefined, lastCause: unknown): ConnectError {
  let worst: { instance: Instance, error: unknown } | undefined
  for (const failure of failures) if (worst === undefined || rank(failure.error) > rank(worst.error)) worst = failure
  const tried = failures.map(({ instance, error }) => `${describeInstance(instance)}: ${messageOf(error)}`).join('; ')
  const head = deadlineMs === undefined
    ? `${what}: ${failures.length === 1 ? 'the only instance tried failed' : `all ${failures.length} instances tried failed`}`
    : `${what}: the deadline of ${deadlineMs} ms passed${failures.length === 0 ? '' : ` after ${failures.length} failed attempt(s)`}`
  const message = tried === '' ? head : `${head}: ${tried}`
  const cause = worst?.error ?? lastCause
  let code: ErrorCode
  if (worst !== undefined && rank(worst.error) >= 2) code = (worst.error as ConnectError).code
  else if (deadlineMs !== undefined || (failures.length > 0 && failures.every((f) => hasCode(f.error, 'ERR_CONNECT_TIMEOUT')))) code = 'ERR_CONNECT_TIMEOUT'
  else code = 'ERR_CONNECT_NO_INSTANCES'
  if (code.startsWith('ERR_CONNECT_CERT_')) return new CertificateError(code as CertificateErrorCode, message, { cause })
  return new ConnectError(code, message, { cause })
}

function messageOf (error: unknown): string {
  return error instanceof Error ? error.message : String(error)
}

function positive (value: number | undefined, fallback: number, field: string): number {
  if (value === undefined) return fallback
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) throw new InvalidOptionError(field, 'expected a positive integer')
  return value
}
