// Child process of bench/scenarios/ready.ts: the Node side of "time to ready", the counterpart of
// `connect-bench ready` (bench/go-sdk/main.go). Plain JavaScript on the compiled package (dist/), so that what
// the parent times from spawn to the ready line is what an application pays: Node's start, loading the
// package, the constructor and `ready()`.
//
//   node bench/scenarios/ready-child.mjs --service NAME --address HOST:PORT [--again NAME2] [--timeout-ms 60000]
//
// Prints one JSON line on stdout, then closes the service and exits:
//   {"event":"ready","readyMs":<constructor → ready() resolved>,"importMs":<loading dist/index.js>}
// With --again, then does the same for a second service in the same process (the cost without the process's
// first-use work) and prints {"event":"again","readyMs":...}.
// On failure: {"event":"error","message":"..."} and exit code 1.
import { existsSync } from 'node:fs'
import { parseArgs } from 'node:util'

const emit = (event) => process.stdout.write(`${JSON.stringify(event)}\n`)

async function main () {
  const { values } = parseArgs({
    options: {
      service: { type: 'string' },
      address: { type: 'string' },
      again: { type: 'string' },
      'timeout-ms': { type: 'string', default: '60000' }
    },
    strict: true
  })
  if (!values.service) throw new Error('--service is required')
  if (!values.address) throw new Error('--address is required')
  const timeoutMs = Number(values['timeout-ms'])
  if (!(timeoutMs > 0)) throw new Error('--timeout-ms must be a positive number')

  const dist = new URL('../../dist/index.js', import.meta.url)
  if (!existsSync(dist)) throw new Error(`${dist.pathname} is missing: run \`npm run build\` first`)
  const importStart = process.hrtime.bigint()
  const { ConnectService } = await import(dist.href)
  const importMs = Number(process.hrtime.bigint() - importStart) / 1e6

  emit({ event: 'ready', readyMs: await timeReady(ConnectService, values.service, values.address, timeoutMs), importMs })
  if (values.again) emit({ event: 'again', readyMs: await timeReady(ConnectService, values.again, values.address, timeoutMs) })
}

/** Constructor → ready() resolved, ms; the service is closed afterwards. */
async function timeReady (ConnectService, service, address, timeoutMs) {
  const start = process.hrtime.bigint()
  const svc = new ConnectService({ service, agent: { address } })
  try {
    await svc.ready({ signal: AbortSignal.timeout(timeoutMs) })
    return Number(process.hrtime.bigint() - start) / 1e6
  } finally {
    await svc.close()
  }
}

main().catch((err) => {
  emit({ event: 'error', message: err?.message ?? String(err) })
  process.exitCode = 1
})
