/**
 * Helpers for the CLI tests: run the CLI in-process with captured streams, and find a port nothing listens on.
 */
import { createServer } from 'node:net'
import { run } from '../../lib/cli/run.js'
import type { RunIo } from '../../lib/cli/run.js'

export interface CliResult {
  readonly code: number
  readonly stdout: string
  readonly stderr: string
}

/** Runs `argv` with `env` as the whole environment (nothing leaks in from the test process). */
export async function cli (argv: readonly string[], env: Record<string, string> = {}, io: Omit<RunIo, 'env' | 'stdout' | 'stderr'> = {}): Promise<CliResult> {
  let stdout = ''
  let stderr = ''
  const code = await run(argv, {
    ...io,
    env,
    stdout: { write: (chunk: string) => { stdout += chunk } },
    stderr: { write: (chunk: string) => { stderr += chunk } }
  })
  return { code, stdout, stderr }
}

/** Parses stdout as the one JSON document of a `--json` run. */
export function json<T = Record<string, unknown>> (result: CliResult): T {
  return JSON.parse(result.stdout) as T
}

/** A loopback port that was free a moment ago and has no listener now: connecting is refused. */
export async function closedPort (): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const address = server.address()
  await new Promise<void>((resolve) => server.close(() => resolve()))
  if (address === null || typeof address !== 'object') throw new Error('no port')
  return address.port
}

/** The shape of one doctor check in `--json` output. */
export interface CheckJson {
  id: string
  title: string
  status: 'ok' | 'warn' | 'fail' | 'skip'
  summary: string
  fix: string | null
  data: Record<string, unknown> | null
}

export interface DoctorJson {
  command: 'doctor'
  ok: boolean
  verdict: 'ok' | 'warn' | 'fail'
  service: string
  agent: { address: string, addressSource: string, addressSetting: string, tokenSource: string }
  checks: CheckJson[]
  counts: Record<'ok' | 'warn' | 'fail' | 'skip', number>
}

export function check (doc: DoctorJson, id: string): CheckJson {
  const found = doc.checks.find((c) => c.id === id)
  if (found === undefined) throw new Error(`no check ${id} in ${doc.checks.map((c) => c.id).join(', ')}`)
  return found
}
