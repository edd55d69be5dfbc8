/**
 * The demo (`npm run demo`, examples/demo/): the embedded story run in-process with its lines collected, a
 * story whose operator misbehaves (the failing steps are named), its layout helpers, and the command itself
 * in a child process (exit status, no colour when piped, the process ends on its own).
 */
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { createServer } from 'node:net'
import type { AddressInfo } from 'node:net'
import { fileURLToPath } from 'node:url'
import { embeddedEnvironment } from '../examples/demo/embedded.js'
import type { Environment } from '../examples/demo/environment.js'
import { main } from '../examples/demo/main.js'
import type { DemoResult } from '../examples/demo/main.js'
import { MAX_LINE, Narrator, wrap } from '../examples/demo/narrator.js'
import { runStory } from '../examples/demo/story.js'
import { renderTable } from '../examples/demo/table.js'

/** Whether `text` holds an ANSI escape sequence. */
const hasAnsi = (text: string): boolean => text.includes('\u001b[')
const root = fileURLToPath(new URL('..', import.meta.url))

describe('demo', () => {
  describe('main() with an embedded agent', () => {
    const lines: string[] = []
    let result: DemoResult
    let text: string

    before(async function () {
      this.timeout(20_000)
      result = await main({ log: (line) => lines.push(line) })
      // Narration wraps; phrases are matched on the text with its line breaks made spaces.
      text = lines.join('\n')
    })

    const flat = (): string => lines.map((line) => line.trim()).join(' ')

    it('completes with every step ok and exits 0 (result.ok)', () => {
      assert.equal(result.mode, 'embedded')
      assert.deepEqual(result.steps.map((s) => [s.number, s.ran, s.ok]), [1, 2, 3, 4, 5, 6].map((n) => [n, true, true]), text)
      assert.equal(result.ok, true, text)
      assert.ok(result.cleanup.includes('stopped the embedded TestAgent'))
    })

    it('explains Connect-native and intentions before the steps', () => {
      assert.match(flat(), /Connect-native means the process itself is a member of the mesh/)
      assert.match(flat(), /intentions: rules such as "web → db: allow"/)
      assert.match(text, /^Agent: an embedded TestAgent on 127\.0\.0\.1:\d+ \(no Consul needed\)\.$/m)
    })

    it('prints each SPIFFE ID and expiry (step 1)', () => {
      for (const svc of ['web', 'db']) {
        assert.match(text, new RegExp(`^  ${svc} SPIFFE ID: spiffe://[0-9a-f-]+\\.consul/ns/default/dc/dc1/svc/${svc}$`, 'm'))
        assert.match(text, new RegExp(`^  ${svc} leaf expires: \\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d UTC \\(in 72 h\\)$`, 'm'))
      }
    })

    it('shows the allowed call and the caller db saw (step 2)', () => {
      assert.match(text, /^ {2}web got: 200 "GET \/orders served to web"$/m)
      assert.match(text, /^ {2}db's handler saw: the caller web/m)
    })

    it('shows the refusal reason on both sides (step 3)', () => {
      assert.match(flat(), /db refused it: Matched L4 intention: default\/web => default\/db \(Precedence: 9, Action: DENY\) \[ERR_CONNECT_NOT_AUTHORIZED\]/)
      assert.match(text, /^ {2}web's fetch: failed: fetch failed \(.+\)$/m)
    })

    it('shows the L7 decisions and the 403 body (step 4)', () => {
      assert.match(text, /^ {2}GET \/orders: 200 /m)
      assert.match(text, /^ {2}POST \/admin: 403$/m)
      assert.match(flat(), /403 body: Matched L7 intention: default\/web => default\/db .*Permissions\[1\]: DENY/)
    })

    it('counts the requests across renewal and rotation, none failed, with old and new serials (step 5)', () => {
      const counted = /^ {2}requests: (\d+) made, 0 failed$/m.exec(text)
      assert.ok(counted !== null, text)
      assert.ok(Number(counted[1]) >= 40)
      assert.match(text, /^ {2}db leaf serial: [0-9a-f:]+\n {4}after renewal: [0-9a-f:]+\n {4}after rotation: [0-9a-f:]+$/m)
      assert.match(text, /^ {2}CA root serial: [0-9a-f:]+\n {4}new root: [0-9a-f:]+$/m)
    })

    it('shows live enforcement closing the open connection, with the reason and the delay (step 6)', () => {
      assert.match(text, /^ {2}db closed it: \d+ ms after the intention was written \(cause: reauthorize\)$/m)
      assert.match(text, /^ {2}reason: Matched L4 intention: default\/web => default\/db .*DENY/m)
    })

    it('ends with the summary table, every row ok', () => {
      const header = lines.findIndex((line) => /^step +\| expected +\| observed +\| ok$/.test(line))
      assert.ok(header > 0, text)
      for (const n of [1, 2, 3, 4, 5, 6]) {
        assert.ok(lines.slice(header).some((line) => line.startsWith(`${n} `) && line.endsWith('| yes')), `row ${n}`)
      }
      assert.equal(lines.at(-1), 'All 6 steps behaved as expected.')
    })

    it('keeps every line under 100 characters, without colour codes', () => {
      for (const line of lines) {
        assert.ok(line.length < MAX_LINE, `line of ${line.length}: ${line}`)
        assert.equal(hasAnsi(line), false, line)
      }
    })
  })

  describe('a story whose operator misbehaves', () => {
    it('goes on after a failed check, stops at an error, and names both failing steps', async function () {
      this.timeout(20_000)
      const env = await embeddedEnvironment()
      // Denies the wrong source: db's intentions change, but web stays allowed.
      const sabotaged: Environment = { ...env, patienceMs: 1_000, setIntentionDeny: (_source, destination) => env.setIntentionDeny('api', destination) }
      const lines: string[] = []
      const result = await runStory(sabotaged, new Narrator({ log: (line) => lines.push(line) }))
      assert.equal(result.ok, false)
      assert.deepEqual(result.steps.map((s) => s.ok), [true, true, false, true, true, false])
      assert.match(result.steps[2]!.observed, /not refused; but web's fetch was answered 200/)
      assert.match(result.steps[5]!.observed, /^error: timed out after 1 s waiting for db to close the denied connection/)
      assert.ok(lines.includes('FAILED: step 3 (deny intention)'), lines.join('\n'))
      assert.ok(lines.includes('FAILED: step 6 (live enforcement)'))
      assert.ok(result.cleanup.includes('stopped the embedded TestAgent'))
    })
  })

  describe('wrap', () => {
    const cases: Array<[string, string, number, string, string[]]> = [
      ['keeps short text on one line', 'a b c', 10, '', ['a b c']],
      ['breaks at spaces', 'aaa bbb ccc', 7, '', ['aaa bbb', 'ccc']],
      ['indents continuation lines within the width', 'aaa bbb ccc', 7, '  ', ['aaa bbb', '  ccc']],
      ['cuts a word longer than the width', 'abcdefghij', 4, '', ['abcd', 'efgh', 'ij']],
      ['keeps an arrow with its neighbours', 'xx web → db', 8, '', ['xx', 'web → db']],
      ['returns one empty line for empty text', '', 10, '', ['']]
    ]
    for (const [what, text, width, indent, expected] of cases) {
      it(what, () => assert.deepEqual(wrap(text, width, indent), expected))
    }
  })

  describe('renderTable', () => {
    it('wraps long cells inside their column and stays under the line limit', () => {
      const lines = renderTable([{ step: '1 x', expected: 'short', observed: 'word '.repeat(30).trim(), ok: 'yes' }])
      assert.match(lines[0]!, /^step +\| expected +\| observed +\| ok$/)
      assert.match(lines[1]!, /^-+-\+-+-\+-+-\+-+$/)
      assert.ok(lines.length > 3)
      for (const line of lines) assert.ok(line.length < MAX_LINE, line)
    })
  })

  describe('Narrator', () => {
    it('colours only when asked to', () => {
      const plain: string[] = []
      const coloured: string[] = []
      new Narrator({ log: (line) => plain.push(line) }).verdict(true, 'fine')
      new Narrator({ log: (line) => coloured.push(line), color: true }).verdict(true, 'fine')
      assert.deepEqual(plain, ['  ok: fine'])
      assert.equal(hasAnsi(coloured[0]!), true)
    })
  })

  describe('the command (tsx examples/demo/main.ts)', () => {
    function run (env: NodeJS.ProcessEnv): Promise<{ code: number, stdout: string, stderr: string }> {
      return new Promise((resolve) => {
        execFile(process.execPath, ['--import', 'tsx', 'examples/demo/main.ts'], { cwd: root, env, timeout: 30_000 }, (err, stdout, stderr) => {
          resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : -1, stdout, stderr })
        })
      })
    }
    const withoutConsul = (): NodeJS.ProcessEnv => Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith('CONSUL_')))

    it('exits 0 by itself, without colour when its output is not a terminal', async function () {
      this.timeout(40_000)
      const { code, stdout, stderr } = await run(withoutConsul())
      assert.equal(code, 0, `${stdout}\n${stderr}`)
      assert.match(stdout, /All 6 steps behaved as expected\.\n$/)
      assert.equal(hasAnsi(stdout), false)
    })

    it('exits 1 naming the setup when CONSUL_HTTP_ADDR points at no agent', async function () {
      this.timeout(40_000)
      const closed = createServer()
      await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve))
      const { port } = closed.address() as AddressInfo
      await new Promise((resolve) => closed.close(resolve))
      const { code, stdout } = await run({ ...withoutConsul(), CONSUL_HTTP_ADDR: `127.0.0.1:${port}` })
      assert.equal(code, 1, stdout)
      assert.match(stdout, /cannot run the demo against this agent: /)
      assert.match(stdout, /FAILED: setup\n$/)
    })
  })
})
