/**
 * Certificate path validation against a set of trusted roots, synchronous so it can run on every TLS
 * connection.
 *
 * What is checked (RFC 5280 6.1, reduced to what a Consul mesh uses; no policies or revocation, which
 * Consul does not use). Name constraints are not enforced and unknown critical extensions are not
 * rejected (they are listed in `Certificate.unhandledCriticalExtensions`): older Consul versions put a
 * critical DNS name constraint equal to the trust domain on their roots, which a URI-only leaf never
 * meets, and rejecting it would break those clusters.
 * 1. The leaf itself, first (as Go's crypto/x509 does): inside its validity window at `now`, not a CA,
 *    keyUsage (when present) includes digitalSignature, extKeyUsage (when present) allows `usage`.
 * 2. A path from the leaf through an unordered pool of intermediates to a trusted root. Candidates for each
 *    issuer are matched by issuer name and ranked by key identifier; every candidate is tried (a
 *    cross-signed certificate has the same subject and key as a root but another issuer), depth-first,
 *    never revisiting a certificate (by fingerprint or by subject + key) and never longer than `maxDepth`.
 *    A pool certificate that is itself a trusted root ends the path.
 * 3. For every link: the issuer's signature verifies (OpenSSL), the issuer is a CA (basicConstraints cA,
 *    keyCertSign when keyUsage is present, pathLenConstraint not exceeded), the issuer is inside its
 *    validity window; intermediates with an extKeyUsage extension must allow `usage` too.
 *
 * Which error is reported when no path is valid (first match wins):
 * - ERR_CONNECT_NO_ROOTS when the root set is empty (our state, not the peer's fault);
 * - a defect of the leaf itself (step 1);
 * - a defect on a path that reached a trusted root and whose signatures all verify (expired
 *   intermediate, not a CA, path length, usage): the path is cryptographically real, so this is the
 *   actual reason;
 * - a defect on a path that reached a trusted root by name but has a signature that does not verify
 *   (ERR_CONNECT_CERT_BAD_SIGNATURE, or an earlier defect on that path);
 * - ERR_CONNECT_CERT_UNKNOWN_ISSUER.
 * Among equally ranked failures, the first found in search order (best-ranked candidates first) is kept.
 *
 * Successful signature checks are remembered (by the SHA-256 fingerprints of child and issuer) in a small
 * bounded cache, because the same peer chains come back on every connection.
 */
import { CertificateError } from '../errors.js'
import type { CertificateErrorCode } from '../errors.js'
import { TrustBundle } from './bundle.js'
import { issuerRank, verifySignature } from './x509.js'
import type { Certificate } from './x509.js'

export type ChainUsage = 'clientAuth' | 'serverAuth' | 'any'

export interface VerifyChainOptions {
  /** The time validity windows are checked at. Default: the current time. */
  now?: Date
  /** The extended key usage the leaf is used for; `'any'` checks none. Default `'any'`. */
  usage?: ChainUsage
  /** Most certificates in a path, leaf and root included. Default 8. */
  maxDepth?: number
}

export type ChainResult =
  | { readonly ok: true, readonly chain: readonly Certificate[] }
  | { readonly ok: false, readonly error: CertificateError }

const DEFAULT_MAX_DEPTH = 8
const SIGNATURE_CACHE_SIZE = 1024
const verifiedLinks = new Map<string, true>()

interface Failure {
  code: CertificateErrorCode
  message: string
  /** Ranking: 2 rooted with sound signatures, 1 rooted with a bad signature. */
  rank: 1 | 2
}

/**
 * Verifies `leaf` up to one of `roots`, using any of `intermediates` (in any order). Never throws for a
 * certificate defect: the result says what is wrong (see the module comment for the rule).
 */
export function verifyChain (
  leaf: Certificate,
  intermediates: readonly Certificate[],
  roots: TrustBundle | readonly Certificate[],
  options: VerifyChainOptions = {}
): ChainResult {
  const now = options.now ?? new Date()
  const usage = options.usage ?? 'any'
  const maxDepth = options.maxDepth ?? DEFAULT_MAX_DEPTH
  const bundle = roots instanceof TrustBundle ? roots : TrustBundle.fromCertificates('roots.local', roots)

  // Our own missing state comes first: it is not the peer's fault, and callers report it differently.
  if (bundle.size === 0) return fail('ERR_CONNECT_NO_ROOTS', `verifying certificate ${leaf.serial}: no trusted roots`)
  const leafDefect = checkLeaf(leaf, now, usage)
  if (leafDefect !== undefined) return fail(leafDefect.code, leafDefect.message)

  let best: Failure | undefined
  const record = (failure: Failure): void => {
    if (best === undefined || failure.rank > best.rank) best = failure
  }
  const path: Certificate[] = [leaf]

  // Depth-first search; `defect` is the first problem found on the current path, `sound` whether every
  // signature on it verified so far.
  const search = (defect: Defect | undefined, sound: boolean): readonly Certificate[] | undefined => {
    const child = path[path.length - 1]!
    if (path.length > 1 && bundle.has(child)) {
      if (defect === undefined) return [...path]
      record({ ...defect, rank: sound ? 2 : 1 })
      return undefined
    }
    // Adding one more certificate (a root or an intermediate) must keep the path within maxDepth.
    if (path.length + 1 > maxDepth) return undefined
    for (const root of bundle.issuersOf(child)) {
      const link = checkLink(child, root, path.length - 1, now, usage, false)
      const first = defect ?? link.defect
      if (first === undefined) return [...path, root]
      record({ ...first, rank: sound && link.sound ? 2 : 1 })
    }
    for (const candidate of candidatesFor(child, intermediates)) {
      if (path.some((seen) => sameCertificate(seen, candidate))) continue
      const link = checkLink(child, candidate, path.length - 1, now, usage, true)
      path.push(candidate)
      const found = search(defect ?? link.defect, sound && link.sound)
      path.pop()
      if (found !== undefined) return found
    }
    return undefined
  }

  const chain = search(undefined, true)
  if (chain !== undefined) return Object.freeze({ ok: true as const, chain: Object.freeze(chain) })
  if (best !== undefined) return fail(best.code, best.message)
  return fail('ERR_CONNECT_CERT_UNKNOWN_ISSUER',
    `verifying certificate ${leaf.serial}: no path to a trusted root: issuer "${leaf.issuer}" is not among the ${bundle.size} trusted root(s) or a known intermediate`)
}

/**
 * Like {@link verifyChain}, but returns the verified chain (leaf first, root last) or throws.
 * @throws CertificateError with the code of the failure
 */
export function assertChain (
  leaf: Certificate,
  intermediates: readonly Certificate[],
  roots: TrustBundle | readonly Certificate[],
  options?: VerifyChainOptions
): readonly Certificate[] {
  const result = verifyChain(leaf, intermediates, roots, options)
  if (!result.ok) throw result.error
  return result.chain
}

interface Defect { code: CertificateErrorCode, message: string }

function fail (code: CertificateErrorCode, message: string): ChainResult {
  return Object.freeze({ ok: false as const, error: new CertificateError(code, message) })
}

function checkLeaf (leaf: Certificate, now: Date, usage: ChainUsage): Defect | undefined {
  const what = `verifying certificate ${leaf.serial}`
  const window = checkValidity(leaf, now, what)
  if (window !== undefined) return window
  if (leaf.isCA) {
    return { code: 'ERR_CONNECT_CERT_WRONG_USAGE', message: `${what}: it is a CA certificate (basicConstraints cA), not a service leaf` }
  }
  if (leaf.keyUsage !== undefined && !leaf.keyUsage.includes('digitalSignature')) {
    return { code: 'ERR_CONNECT_CERT_WRONG_USAGE', message: `${what}: keyUsage lacks digitalSignature (has ${leaf.keyUsage.join(', ') || 'none'})` }
  }
  return checkExtKeyUsage(leaf, usage, what)
}

function checkExtKeyUsage (cert: Certificate, usage: ChainUsage, what: string): Defect | undefined {
  // No extension means no restriction (RFC 5280 4.2.1.12); anyExtendedKeyUsage allows everything.
  if (usage === 'any' || cert.extKeyUsage === undefined) return undefined
  if (cert.extKeyUsage.includes(usage) || cert.extKeyUsage.includes('anyExtendedKeyUsage')) return undefined
  return { code: 'ERR_CONNECT_CERT_WRONG_USAGE', message: `${what}: extKeyUsage lacks ${usage} (has ${cert.extKeyUsage.join(', ') || 'none'})` }
}

function checkValidity (cert: Certificate, now: Date, what: string): Defect | undefined {
  const t = now.getTime()
  if (t < cert.notBefore.getTime()) {
    return { code: 'ERR_CONNECT_CERT_NOT_YET_VALID', message: `${what}: not valid before ${cert.notBefore.toISOString()}` }
  }
  if (t > cert.notAfter.getTime()) {
    return { code: 'ERR_CONNECT_CERT_EXPIRED', message: `${what}: expired at ${cert.notAfter.toISOString()}` }
  }
  return undefined
}

/**
 * Checks that `issuer` issued `child`, where `below` intermediates sit between the leaf and `issuer`.
 * `sound` is the signature result alone; `defect` the first problem in order: signature, CA-ness,
 * path length, validity, usage.
 */
function checkLink (child: Certificate, issuer: Certificate, below: number, now: Date, usage: ChainUsage, intermediate: boolean): { defect: Defect | undefined, sound: boolean } {
  const role = intermediate ? 'intermediate' : 'root'
  const what = `verifying certificate ${child.serial}: ${role} ${issuer.serial} ("${issuer.subject}")`
  const sound = signatureVerifies(child, issuer)
  if (!sound) return { sound, defect: { code: 'ERR_CONNECT_CERT_BAD_SIGNATURE', message: `${what}: signature does not verify with its key` } }
  if (!issuer.isCA) return { sound, defect: { code: 'ERR_CONNECT_CERT_NOT_CA', message: `${what}: is not a CA (basicConstraints cA is false or absent)` } }
  if (issuer.keyUsage !== undefined && !issuer.keyUsage.includes('keyCertSign')) {
    return { sound, defect: { code: 'ERR_CONNECT_CERT_NOT_CA', message: `${what}: keyUsage lacks keyCertSign` } }
  }
  if (issuer.pathLen !== undefined && below > issuer.pathLen) {
    return { sound, defect: { code: 'ERR_CONNECT_CERT_NOT_CA', message: `${what}: pathLenConstraint ${issuer.pathLen} allows fewer than the ${below} CA certificate(s) below it` } }
  }
  const window = checkValidity(issuer, now, what)
  if (window !== undefined) return { sound, defect: window }
  // Trust anchors are not constrained by their own extKeyUsage; intermediates are (as in Go and OpenSSL).
  return { sound, defect: intermediate ? checkExtKeyUsage(issuer, usage, what) : undefined }
}

function candidatesFor (child: Certificate, pool: readonly Certificate[]): Certificate[] {
  const ranked: Array<[number, Certificate]> = []
  for (const cert of pool) {
    const rank = issuerRank(child, cert)
    if (rank >= 0) ranked.push([rank, cert])
  }
  // Stable sort: pool order among equals.
  return ranked.sort((a, b) => b[0] - a[0]).map(([, cert]) => cert)
}

/** Same DER, or same subject and key: a cross-signed twin is not a new step on the path. */
function sameCertificate (a: Certificate, b: Certificate): boolean {
  return a.fingerprint256 === b.fingerprint256 ||
    (a.rawSubject.equals(b.rawSubject) && a.rawSubjectPublicKeyInfo.equals(b.rawSubjectPublicKeyInfo))
}

function signatureVerifies (child: Certificate, issuer: Certificate): boolean {
  const key = `${child.fingerprint256}/${issuer.fingerprint256}`
  if (verifiedLinks.has(key)) return true
  if (!verifySignature(child, issuer)) return false
  if (verifiedLinks.size >= SIGNATURE_CACHE_SIZE) {
    // Evict the oldest entry (Map iterates in insertion order).
    verifiedLinks.delete(verifiedLinks.keys().next().value!)
  }
  verifiedLinks.set(key, true)
  return true
}
