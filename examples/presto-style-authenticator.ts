/**
 * A certificate-authenticator plugin for another server, in the shape of Presto/Trino's
 * `CertificateAuthenticator` SPI: the host server terminates TLS itself and hands each request's client
 * certificate chain to the plugin, which answers with a user name or throws to deny.
 *
 * The plugin is a few lines over `svc.certificateAuthenticator()`, and fixes what the 2020 Presto plugin got
 * wrong (see CONSUL-FACTS.md, "The Presto plugin, for the record"):
 * - decisions come from the locally cached intentions: no HTTP call to the agent per request;
 * - the chain is verified against the *current* CA roots of a live source: a CA rotation needs no restart
 *   and no certificate files (this example rotates the root while the host keeps running);
 * - identity is the certificate's single SPIFFE URI SAN, parsed strictly, never the subject CN;
 * - serials are Consul's colon-hex; every call is independent (no shared mutable state).
 *
 * The host here is a plain `node:https` server with its own certificate from the company's web PKI (a
 * separate CA: the mesh does not issue it). It asks for client certificates without verifying them
 * (`rejectUnauthorized: false`): the TLS handshake still proves the client holds the leaf's key, and the
 * plugin decides whether the chain is trusted and who it is. The mesh service `trino` is what the plugin
 * authenticates *for*: its intentions say who may call.
 *
 * Intentions of `trino`: `analytics` allowed, `batch` denied; `trino` runs with `defaultAllow: false`.
 *
 * Run it: `npx tsx examples/presto-style-authenticator.ts`. With CONSUL_HTTP_ADDR it uses that agent and
 * ROTATES ITS CA ROOT (built-in provider only): use a `consul agent -dev`.
 *
 * Published imports:
 *   import { ConnectService, ConnectError } from 'consul-connect-native'
 *   import type { CertificateAuthenticator, Principal } from 'consul-connect-native'
 *   import { TestCA } from 'consul-connect-native/testing'
 */
import { once } from 'node:events'
import { X509Certificate } from 'node:crypto'
import { request as httpsRequest, createServer as createHttpsServer } from 'node:https'
import type { Server as HttpsServer } from 'node:https'
import type { IncomingMessage } from 'node:http'
import type { PeerCertificate, TLSSocket } from 'node:tls'
import { pathToFileURL } from 'node:url'
import { ConnectError, ConnectService } from '../lib/index.js'
import type { Principal } from '../lib/index.js'
import { TestCA } from '../lib/testing/index.js'
import { openPlayground } from './support/playground.js'
import type { ExampleOptions } from './support/playground.js'
import { Teardown } from './support/teardown.js'

// ---------------------------------------------------------------------------------------------------------
// The host's SPI: what a server with pluggable authentication defines (Trino's is the Java equivalent).

/** Given the client's certificate chain (leaf first), the user name; throws to deny. Called per request. */
export interface CertificateAuthenticatorPlugin {
  readonly name: string
  authenticate (chain: readonly X509Certificate[]): string
}

// ---------------------------------------------------------------------------------------------------------
// The plugin, built on the library.

export interface ConsulConnectAuthenticatorOptions {
  /** How a verified, authorized principal becomes the host's user name. Default: its service name. */
  readonly userOf?: (principal: Principal) => string
}

/**
 * A plugin that authenticates mesh callers of `service`: the chain must verify against the current mesh
 * roots and carry a service SPIFFE ID that `service`'s intentions allow. Throws the library's errors
 * (ERR_CONNECT_NOT_AUTHORIZED with the deciding intention, ERR_CONNECT_CERT_* for a bad chain,
 * ERR_CONNECT_NOT_READY before the roots are loaded), whose messages the host can show as the reason.
 */
export function consulConnectAuthenticator (service: ConnectService, options: ConsulConnectAuthenticatorOptions = {}): CertificateAuthenticatorPlugin {
  // Created once; it reads the service's live roots and intentions on every call.
  const authenticate = service.certificateAuthenticator()
  const userOf = options.userOf ?? ((principal: Principal) => principal.service)
  return Object.freeze({
    name: 'consul-connect',
    authenticate: (chain: readonly X509Certificate[]): string => userOf(authenticate(chain))
  })
}

// ---------------------------------------------------------------------------------------------------------
// A tiny host: HTTPS with its own certificate, authenticating every request through the plugin.

interface HostTls { readonly key: string, readonly cert: string }

function createHost (tls: HostTls, plugin: CertificateAuthenticatorPlugin): HttpsServer {
  return createHttpsServer({ ...tls, requestCert: true, rejectUnauthorized: false }, (req, res) => {
    res.setHeader('content-type', 'text/plain; charset=utf-8')
    try {
      const user = plugin.authenticate(clientChain(req))
      res.end(`hello ${user}\n`)
    } catch (err) {
      // What Trino does on an authenticator's exception: 401, the reason in the body.
      res.statusCode = 401
      res.end(`${err instanceof ConnectError ? err.code : 'ERROR'}: ${(err as Error).message}\n`)
    }
  })
}

/** The chain the client sent, leaf first (what a servlet container puts in `javax.servlet.request.X509Certificate`). */
function clientChain (req: IncomingMessage): X509Certificate[] {
  const chain: X509Certificate[] = []
  const seen = new Set<string>()
  let cert: PeerCertificate | undefined = (req.socket as TLSSocket).getPeerCertificate(true)
  while (cert?.raw !== undefined && !seen.has(cert.fingerprint256)) {
    seen.add(cert.fingerprint256)
    chain.push(new X509Certificate(cert.raw))
    cert = (cert as { issuerCertificate?: PeerCertificate }).issuerCertificate
  }
  return chain
}

// ---------------------------------------------------------------------------------------------------------
// The example.

/** One request to the host and its answer. */
export interface HostAnswer {
  readonly caller: string
  readonly status: number
  readonly body: string
}

export interface PrestoStyleResult {
  /** `analytics`, before the rotation: 200 "hello analytics". */
  readonly allowed: HostAnswer
  /** `batch`: 401 with the deciding intention. */
  readonly denied: HostAnswer
  /** A chain from another CA, given as PEM: the error code. */
  readonly strangerCode: string | undefined
  /** `analytics` with its re-issued leaf after the root rotation, same host and plugin: 200. */
  readonly afterRotation: HostAnswer
  /** Whether `analytics`' leaf changed in the rotation. */
  readonly leafChanged: boolean
  /** After the old root was pruned (TestAgent only): the code for a chain from the old root. */
  readonly oldRootCodeAfterPrune: string | undefined
}

export async function main (options: ExampleOptions = {}): Promise<PrestoStyleResult> {
  const log = options.log ?? console.log
  const teardown = new Teardown()
  try {
    const mesh = teardown.closes(await openPlayground(options.agentAddress))
    log(`agent: ${mesh.kind} at ${mesh.address}`)
    await mesh.setIntentions('trino', [{ Name: 'analytics', Action: 'allow' }, { Name: 'batch', Action: 'deny' }])

    // The host's process runs as the mesh service `trino` (only to learn roots and intentions).
    const trino = teardown.closes(new ConnectService({ service: 'trino', agent: mesh.agent, intentions: { defaultAllow: false } }))
    const analytics = teardown.closes(new ConnectService({ service: 'analytics', agent: mesh.agent }))
    const batch = teardown.closes(new ConnectService({ service: 'batch', agent: mesh.agent }))
    const deadline = AbortSignal.timeout(10_000)
    await Promise.all([trino, analytics, batch].map((svc) => svc.ready({ signal: deadline })))

    // The host's own HTTPS certificate, from a CA that has nothing to do with the mesh.
    const webPki = await TestCA.create({ trustDomain: 'web-pki.example' })
    const hostCert = await webPki.issueLeaf({ uris: [], dnsNames: ['trino.internal'], commonName: 'trino.internal' })
    const plugin = consulConnectAuthenticator(trino)
    const port = await teardown.listen(createHost({ key: hostCert.keyPem, cert: hostCert.certPem }, plugin))
    log(`host (plugin "${plugin.name}") listens on https://127.0.0.1:${port}`)

    /** A client calling the host with its current mesh leaf as client certificate. */
    const call = async (client: ConnectService): Promise<HostAnswer> => {
      const identity = client.credentials.identity!
      const req = httpsRequest({
        host: '127.0.0.1',
        port,
        method: 'POST',
        path: '/v1/statement',
        servername: 'trino.internal',
        ca: webPki.rootPem,
        cert: identity.certPem,
        key: identity.keyPem,
        agent: false
      })
      req.end('SELECT 1')
      const [res] = await once(req, 'response') as [IncomingMessage]
      let body = ''
      for await (const chunk of res) body += String(chunk)
      const answer = { caller: client.service, status: res.statusCode ?? 0, body: body.trim() }
      log(`${answer.caller} → host: ${answer.status} ${answer.body}`)
      return answer
    }

    const allowed = await call(analytics)
    const denied = await call(batch)

    // The library's authenticator also takes PEM (a chain in one string), DER or X509Certificate.
    const authenticate = trino.certificateAuthenticator()
    const stranger = await (await TestCA.create()).issueLeaf({ service: 'analytics' })
    const strangerCode = codeOf(() => authenticate(stranger.certPem))
    log(`a chain from another CA claiming to be analytics → ${strangerCode}`)

    // Rotate the CA root. The host is not restarted and the plugin is the same object: it reads trino's
    // roots on every call, and they follow the agent.
    const oldChainPem = analytics.credentials.identity!.certPem
    const rotated = Promise.all([once(trino, 'roots'), once(analytics, 'leaf')])
    await mesh.rotateRoot()
    await rotated
    const leafChanged = analytics.credentials.identity!.certPem !== oldChainPem
    log(`CA root rotated: trino trusts ${trino.credentials.bundle?.roots.length} roots; analytics has a new leaf (${analytics.identity?.serial})`)
    const afterRotation = await call(analytics)

    // Consul prunes the old root after 2 × the leaf TTL; the TestAgent can do it now. From then on, a chain
    // from the old root is refused by the very same plugin.
    let oldRootCodeAfterPrune: string | undefined
    if (mesh.testAgent !== undefined) {
      const pruned = once(trino, 'roots')
      mesh.testAgent.pruneRoots()
      await pruned
      oldRootCodeAfterPrune = codeOf(() => authenticate(oldChainPem))
      log(`old root pruned: analytics' old chain → ${oldRootCodeAfterPrune}; its current one → ${codeOf(() => authenticate(analytics.credentials.identity!.certPem)) ?? 'allowed'}`)
    } else {
      log('(a real agent prunes the old root after 2 × the leaf TTL: that step is skipped)')
    }

    return { allowed, denied, strangerCode, afterRotation, leafChanged, oldRootCodeAfterPrune }
  } finally {
    await teardown.run()
  }
}

/** The error code `fn` throws, or undefined when it does not throw. */
function codeOf (fn: () => unknown): string | undefined {
  try {
    fn()
    return undefined
  } catch (err) {
    return (err as { code?: string }).code ?? 'ERROR'
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main({ agentAddress: process.env.CONSUL_HTTP_ADDR, log: console.log }).catch((err: unknown) => {
    console.error(err)
    process.exitCode = 1
  })
}
