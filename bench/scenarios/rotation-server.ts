/**
 * Child process of the `rotation` scenario: a ConnectService HTTPS server whose leaf and roots come from the
 * agent at BENCH_AGENT_ADDR (a real Consul agent or a TestAgent), reporting to its parent over IPC:
 * `{ type: 'listening', port, serial }` once it serves, `{ type: 'leaf', serial }` on every new leaf,
 * `{ type: 'roots', roots }` on every roots change, and `{ type: 'stats', ... }` when asked (`{ type: 'stats' }`).
 * `{ type: 'stop' }` closes everything and exits.
 */
import type { AddressInfo } from 'node:net'
import { ConnectService } from '../../lib/service.js'

const address = process.env.BENCH_AGENT_ADDR
const service = process.env.BENCH_SERVICE
if (address === undefined || service === undefined || process.send === undefined) {
  throw new Error('rotation-server: run by bench/scenarios/rotation.ts (needs BENCH_AGENT_ADDR, BENCH_SERVICE and an IPC channel)')
}
const send = (message: unknown): void => { process.send?.(message) }

const svc = new ConnectService({ service, agent: { address, env: false }, intentions: { defaultAllow: true } })
let refused = 0
let tlsErrors = 0
let connections = 0
let requests = 0
const refusals: string[] = []
svc.on('refused', (event) => {
  refused++
  if (refusals.length < 5) refusals.push(`${event.code} ${event.reason}`)
})
svc.on('tlsError', () => { tlsErrors++ })
svc.on('leaf', (identity) => send({ type: 'leaf', serial: identity.serial }))
svc.on('roots', (info) => send({ type: 'roots', roots: info.roots }))
svc.on('error', (err) => send({ type: 'watchError', code: err.code, message: err.message }))

await svc.ready({ signal: AbortSignal.timeout(60_000) })
const server = svc.createServer((_req, res) => {
  requests++
  res.end('ok')
})
// The raw connection the parent keeps open across every change idles between its two requests.
server.keepAliveTimeout = 600_000
server.on('secureConnection', () => { connections++ })
server.listen(0, '127.0.0.1', () => {
  send({ type: 'listening', port: (server.address() as AddressInfo).port, serial: svc.identity?.serial })
})

process.on('message', (message: { type?: string }) => {
  if (message.type === 'stats') send({ type: 'stats', refused, tlsErrors, connections, requests, refusals })
  if (message.type === 'stop') {
    server.closeAllConnections()
    server.close()
    void svc.close().finally(() => process.exit(0))
  }
})
process.on('disconnect', () => process.exit(0))
