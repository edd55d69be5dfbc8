/**
 * The real entry point, as a process: lib/cli/main.ts run through tsx (the built dist/cli/main.js is the same
 * code compiled). Proves the shebang file wires argv, stdout and the exit code, and that nothing keeps the
 * process alive after a command.
 */
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { TestAgent } from '../../lib/testing/index.js'

const ROOT = fileURLToPath(new URL('../../', import.meta.url))

interface Exit { code: number | null, stdout: string, stderr: string }

function runMain (args: readonly string[], env: Record<string, string>): Promise<Exit> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'lib/cli/main.ts', ...args], {
      cwd: ROOT,
      // PATH only: no CONSUL_* of the machine running the tests.
      env: { PATH: process.env['PATH'] ?? '', ...env },
      stdio: ['ignore', 'pipe', 'pipe']
    })
    let stdout = ''
    let stderr = ''
    child.stdout.setEncoding('utf8').on('data', (d: string) => { stdout += d })
    child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d })
    child.once('error', reject)
    child.once('close', (code) => resolve({ code, stdout, stderr }))
  })
}

describe('lib/cli/main.ts (spawned)', function () {
  this.timeout(60_000)
  let agent: TestAgent

  before(async () => { agent = await TestAgent.start() })
  after(async () => { await agent.close() })

  it('runs doctor against an agent and exits 0 with the JSON report', async () => {
    const result = await runMain(['doctor', '--service', 'web', '--json'], { CONSUL_HTTP_ADDR: agent.address })
    assert.equal(result.code, 0, result.stderr)
    const doc = JSON.parse(result.stdout) as { verdict: string, checks: Array<{ status: string }> }
    assert.equal(doc.verdict, 'ok')
    assert.ok(doc.checks.every((c) => c.status === 'ok'))
  })

  it('exits 1 on a denied authz and 2 on a usage error', async () => {
    agent.setIntentions('db', [{ Name: 'web', Action: 'deny' }])
    const denied = await runMain(['authz', '--source', 'web', '--destination', 'db'], { CONSUL_HTTP_ADDR: agent.address })
    assert.equal(denied.code, 1, denied.stderr)
    assert.match(denied.stdout, /^denied: web → db\n/)
    const usage = await runMain(['authz', '--source', 'web'], {})
    assert.equal(usage.code, 2)
    assert.match(usage.stderr, /error: --destination is required/)
  })
})
