/**
 * Child process of the `connections` scenario: two Node servers on the agent at BENCH_AGENT_ADDR, both
 * answering 200 `ok` to any request:
 * - `native`: `ConnectService.createServer` for service BENCH_SERVICE (leaf and roots watched from the agent,
 *   every connection decided by the intentions authorizer);
 * - `plain`: `https.createServer` with the same leaf and the agent's roots given once as static options,
 *   `requestCert` + `rejectUnauthorized` (so OpenSSL asks for and verifies the client chain), no
 *   authorization: the ceiling of what Node does per connection.
 * Reports `{ type: 'listening', native, plain, pid }` over IPC; `{ type: 'stop' }` closes everything.
 */
import https from 'node:https'
import type { AddressInfo } from 'node:net'
import { ConnectService } from '../../lib/service.js'

const address = process.env.BENCH_AGENT_ADDR
const service = process.env.BENCH_SERVICE
if (address === undefined || service === undefined || process.send === undefined) {
  throw new Error('connections-server: run by bench/scenarios/connections.ts (needs BENCH_AGENT_ADDR, BENCH_SERVICE and an IPC channel)')
}

const svc = new ConnectService({ service, agent: { address, env: false } })
await svc.ready({ signal: AbortSignal.timeout(60_000) })
// The plain server's static certificates: the same leaf, and the roots, read once from the agent.
const leaf = await (await fetch(`http://${address}/v1/agent/connect/ca/leaf/${service}`)).json() as { CertPEM: string, PrivateKeyPEM: string }
const rootsAnswer = await (await fetch(`http://${address}/v1/agent/connect/ca/roots`)).json() as { Roots: Array<{ RootCert: string }> }

let refused = 0
svc.on('refused', () => { refused++ })
const answer = (_req: unknown, res: { end: (body: string) => void }): void => { res.end('ok') }
const native = svc.createServer(answer)
const plain = https.createServer({
  cert: leaf.CertPEM,
  key: leaf.PrivateKeyPEM,
  ca: rootsAnswer.Roots.map((r) => r.RootCert),
  requestCert: true,
  rejectUnauthorized: true,
  minVersion: 'TLSv1.2',
  ALPNProtocols: ['http/1.1']
}, answer)

const listen = async (server: https.Server): Promise<number> => await new Promise((resolve) => {
  server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port))
})
const [nativePort, plainPort] = [await listen(native), await listen(plain)]
process.send({ type: 'listening', native: nativePort, plain: plainPort, pid: process.pid })

process.on('message', (message: { type?: string }) => {
  if (message.type === 'stats') process.send?.({ type: 'stats', refused })
  if (message.type === 'stop') {
    native.closeAllConnections()
    plain.closeAllConnections()
    native.close()
    plain.close()
    void svc.close().finally(() => process.exit(0))
  }
})
process.on('disconnect', () => process.exit(0))
