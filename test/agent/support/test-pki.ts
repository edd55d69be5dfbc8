/**
 * A throwaway PKI for TLS tests of the agent client: a CA, a server certificate for localhost /
 * 127.0.0.1 / server.dc1.consul, a client certificate, and an unrelated CA; generated at test time with
 * the `openssl` CLI in a temp dir (nothing in the repository expires). EC P-256 throughout.
 */
import { execFile } from 'node:child_process'
import { readFile, writeFile } from 'node:fs/promises'
import { promisify } from 'node:util'
import { tempDir } from './temp-dir.js'

const run = promisify(execFile)

export interface TestPki {
  readonly caPem: string
  readonly serverCertPem: string
  readonly serverKeyPem: string
  readonly clientCertPem: string
  readonly clientKeyPem: string
  /** A second, unrelated CA: trusting only it must fail the handshake. */
  readonly otherCaPem: string
}

const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes']

async function generate (): Promise<TestPki> {
  const dir = await tempDir('ccn-pki-')
  try {
    const f = dir.file
    for (const name of ['ca', 'other']) {
      await run('openssl', ['req', '-x509', ...EC, '-keyout', f(`${name}.key`), '-out', f(`${name}.pem`), '-days', '2',
        '-subj', `/CN=consul-connect-native test ${name}`,
        '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'])
    }
    const leaves: Array<[string, string, string]> = [
      ['server', 'localhost', 'subjectAltName=DNS:localhost,DNS:server.dc1.consul,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n'],
      ['client', 'client', 'extendedKeyUsage=clientAuth\n']
    ]
    for (const [name, cn, ext] of leaves) {
      await writeFile(f(`${name}.ext`), `basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n${ext}`)
      await run('openssl', ['req', '-new', ...EC, '-keyout', f(`${name}.key`), '-out', f(`${name}.csr`), '-subj', `/CN=${cn}`])
      await run('openssl', ['x509', '-req', '-in', f(`${name}.csr`), '-CA', f('ca.pem'), '-CAkey', f('ca.key'),
        '-set_serial', name === 'server' ? '2' : '3', '-days', '2', '-extfile', f(`${name}.ext`), '-out', f(`${name}.pem`)])
    }
    const read = (name: string): Promise<string> => readFile(f(name), 'utf8')
    return Object.freeze({
      caPem: await read('ca.pem'),
      serverCertPem: await read('server.pem'),
      serverKeyPem: await read('server.key'),
      clientCertPem: await read('client.pem'),
      clientKeyPem: await read('client.key'),
      otherCaPem: await read('other.pem')
    })
  } finally {
    await dir.remove()
  }
}

let cached: Promise<TestPki> | undefined

/** Generates the PKI once per test run. */
export function testPki (): Promise<TestPki> {
  cached ??= generate()
  return cached
}
