/**
 * Reads what the agent connection needs from files: the ACL token and the TLS material (trusted CAs,
 * client certificate and key). This layer does not parse PEM; it only checks that a CA file holds at
 * least one `BEGIN CERTIFICATE` block, so that a wrong path fails with a clear message instead of an
 * opaque handshake error.
 *
 * Every failure is an AgentError with code ERR_CONNECT_AGENT_CONFIG naming the option or variable the
 * setting came from. File contents never appear in messages.
 */
import { readdir, readFile, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { AgentError } from '../errors.js'
import type { MaterialSource, ResolvedTls } from './options.js'

/** TLS material in the shape of Node's `tls.connect` options (strings of PEM). */
export interface TlsMaterial {
  readonly ca: readonly string[] | undefined
  readonly cert: string | undefined
  readonly key: string | undefined
}

const CERT_BLOCK = '-----BEGIN CERTIFICATE-----'
const HEADER_SAFE = /^[\x21-\x7e]*$/

/**
 * Resolves the token: inline text as given, a file's contents trimmed (as Consul's Go client does).
 * An empty token file means "no token". Returns undefined when there is no token.
 */
export async function loadToken (source: MaterialSource | undefined): Promise<string | undefined> {
  if (source === undefined) return undefined
  const value = source.kind === 'inline' ? source.text.reveal().trim() : (await readText(source, 'token file')).trim()
  if (!HEADER_SAFE.test(value)) {
    throw new AgentError('ERR_CONNECT_AGENT_CONFIG', `token from ${source.label} contains spaces, line breaks or non-ASCII characters`)
  }
  return value === '' ? undefined : value
}

/** Loads the CA list and the client certificate and key. */
export async function loadTlsMaterial (tls: ResolvedTls): Promise<TlsMaterial> {
  const ca: string[] = []
  for (const source of tls.ca) ca.push(...await loadCa(source))
  const cert = tls.cert === undefined ? undefined : await loadPem(tls.cert, 'client certificate')
  const key = tls.key === undefined ? undefined : await loadPem(tls.key, 'client key')
  return Object.freeze({ ca: ca.length === 0 ? undefined : Object.freeze(ca), cert, key })
}

async function loadCa (source: MaterialSource): Promise<string[]> {
  if (source.kind !== 'dir') {
    const pem = await loadPem(source, 'CA file')
    if (!pem.includes(CERT_BLOCK)) throw configError(`CA ${describe(source)} holds no PEM certificate`)
    return [pem]
  }
  // Like CONSUL_CAPATH in Go: every regular file in the directory; here only files holding a PEM
  // certificate, so a README or a stray key beside the CAs does not break the connection.
  let names: string[]
  try {
    names = (await readdir(source.path)).sort()
  } catch (err) {
    throw configError(`reading CA directory ${describe(source)}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, err)
  }
  const pems: string[] = []
  for (const name of names) {
    const path = join(source.path, name)
    const info = await stat(path).catch(() => undefined)
    if (info === undefined || !info.isFile()) continue
    const pem = await readText({ kind: 'file', path, label: source.label }, 'CA file')
    if (pem.includes(CERT_BLOCK)) pems.push(pem)
  }
  if (pems.length === 0) throw configError(`CA directory ${describe(source)} holds no PEM certificate`)
  return pems
}

async function loadPem (source: MaterialSource, what: string): Promise<string> {
  const pem = source.kind === 'inline' ? source.text.reveal() : await readText(source, what)
  if (pem.trim() === '') throw configError(`${what} ${describe(source)} is empty`)
  return pem
}

async function readText (source: MaterialSource, what: string): Promise<string> {
  if (source.kind === 'inline') return source.text.reveal()
  try {
    return await readFile(source.path, 'utf8')
  } catch (err) {
    const reason = (err as NodeJS.ErrnoException).code ?? (err as Error).message
    throw configError(`reading ${what} ${describe(source)}: ${reason}`, err)
  }
}

function describe (source: MaterialSource): string {
  return source.kind === 'inline' ? `from ${source.label}` : `"${source.path}" (${source.label})`
}

function configError (message: string, cause?: unknown): AgentError {
  return new AgentError('ERR_CONNECT_AGENT_CONFIG', message, cause === undefined ? undefined : { cause })
}
