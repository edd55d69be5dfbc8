import assert from 'node:assert/strict'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { COMMANDS, run, version } from '../../lib/cli/run.js'
import { TestAgent } from '../../lib/testing/index.js'
import { check, cli, json } from './support.js'
import type { DoctorJson } from './support.js'

describe('consul-connect-native (run)', () => {
  describe('--version and help', () => {
    it('prints the package version', async () => {
      const pkg = JSON.parse(await readFile(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }
      assert.equal(version(), pkg.version)
      assert.deepEqual(await cli(['--version']), { code: 0, stdout: `consul-connect-native ${pkg.version}\n`, stderr: '' })
    })

    it('prints the program help with every command on --help, -h and help', async () => {
      for (const argv of [['--help'], ['-h'], ['help']]) {
        const result = await cli(argv)
        assert.equal(result.code, 0)
        assert.equal(result.stderr, '')
        assert.match(result.stdout, /^consul-connect-native: /)
        for (const c of COMMANDS) assert.match(result.stdout, new RegExp(`\\n {2}${c.spec.name} +${c.spec.summary.slice(0, 20)}`))
        assert.match(result.stdout, /Exit codes:\n {2}0 {2}ok \/ allowed\n {2}1 {2}a problem was found \/ denied \/ the agent could not answer\n {2}2 {2}usage error\n/)
        assert.match(result.stdout, /CONSUL_HTTP_TOKEN_FILE/)
      }
    })

    it('prints a command\'s help, every option included, on `help <cmd>` and `<cmd> --help`', async () => {
      for (const c of COMMANDS) {
        const viaHelp = await cli(['help', c.spec.name])
        const viaFlag = await cli([c.spec.name, '--help'])
        assert.equal(viaHelp.code, 0)
        assert.deepEqual(viaFlag, viaHelp)
        assert.match(viaHelp.stdout, new RegExp(`^consul-connect-native ${c.spec.name}: `))
        for (const o of c.spec.options) assert.ok(viaHelp.stdout.includes(`--${o.name}`), `help ${c.spec.name} lacks --${o.name}`)
      }
    })

    it('answers --help before complaining about missing options', async () => {
      const result = await cli(['doctor', '-h'])
      assert.equal(result.code, 0)
      assert.match(result.stdout, /Usage:\n {2}consul-connect-native doctor --service <name> \[options\]/)
    })
  })

  describe('the environment', () => {
    it('is process.env when run() is given none', async () => {
      const agent = await TestAgent.start()
      try {
        let stdout = ''
        const code = await run(['identity', '--service', 'web', '--json', '--http-addr', agent.address], {
          stdout: { write: (chunk: string) => { stdout += chunk } },
          stderr: { write: () => true }
        })
        assert.equal(code, 0, stdout)
        assert.equal((JSON.parse(stdout) as { ok: boolean }).ok, true)
      } finally {
        await agent.close()
      }
    })
  })

  describe('usage errors exit 2', () => {
    // [what, argv, stderr]
    const cases: Array<[string, string[], RegExp]> = [
      ['no arguments', [], /^consul-connect-native: check and explain/],
      ['an unknown command', ['frobnicate'], /error: unknown command "frobnicate"; commands: doctor, authz, identity\nRun `consul-connect-native --help` for usage\./],
      ['an option before the command', ['--json', 'doctor'], /error: expected a command before "--json" \(options follow the command\)/],
      ['help for an unknown command', ['help', 'nope'], /error: unknown command "nope"/],
      ['arguments after --version', ['--version', 'x'], /error: --version takes no arguments/],
      ['an unknown option', ['doctor', '--service', 'web', '--frob'], /error: Unknown option '--frob'\nUsage: consul-connect-native doctor --service <name> \[options\]\nRun `consul-connect-native help doctor` for every option\./],
      ['a missing option value', ['doctor', '--service'], /error: Option '--service <value>' argument missing/],
      ['an option swallowing the next', ['doctor', '--service', '--json'], /error: Option '--service' argument is ambiguous\. Did you forget/],
      ['a stray argument', ['doctor', '--service', 'web', 'extra'], /error: Unexpected argument 'extra'/],
      ['a value for a boolean flag', ['doctor', '--service', 'web', '--json=yes'], /error: Option '--json' does not take an argument/],
      ['--token with --token-file', ['doctor', '--service', 'web', '--token', 'a', '--token-file', '/x'], /error: give --token or --token-file, not both/],
      ['a bad --timeout', ['doctor', '--service', 'web', '--timeout', '10'], /error: --timeout expects a duration such as 500ms, 10s or 1m, got "10"/],
      ['a bad --http-addr', ['doctor', '--service', 'web', '--http-addr', 'ftp://x:1'], /error: invalid --http-addr: /],
      ['a token with a line break', ['doctor', '--service', 'web', '--token', 'a\nb'], /error: invalid --token: must be printable ASCII/]
    ]
    for (const [what, argv, stderr] of cases) {
      it(`on ${what}`, async () => {
        const result = await cli(argv)
        assert.equal(result.code, 2, result.stdout + result.stderr)
        assert.equal(result.stdout, '')
        assert.match(result.stderr, stderr)
      })
    }

    it('on a malformed CONSUL_* variable, naming it', async () => {
      const addr = await cli(['doctor', '--service', 'web'], { CONSUL_HTTP_ADDR: 'ftp://x:1' })
      assert.equal(addr.code, 2)
      assert.match(addr.stderr, /error: invalid CONSUL_HTTP_ADDR: /)
      const ssl = await cli(['identity', '--service', 'web'], { CONSUL_HTTP_SSL: 'maybe' })
      assert.equal(ssl.code, 2)
      assert.match(ssl.stderr, /error: invalid CONSUL_HTTP_SSL: "maybe" is not a boolean/)
    })
  })

  describe('the token', () => {
    let agent: TestAgent
    let dir: string
    const SECRET = 'd9f1c1de-5ec2-4e7a-9d0c-0d1b2c3e4f50'

    before(async () => {
      agent = await TestAgent.start({ acl: { defaultPolicy: 'deny', tokens: { [SECRET]: { serviceWrite: ['web'], agentRead: true } } } })
      dir = await mkdtemp(join(tmpdir(), 'ccn-cli-'))
    })
    after(async () => {
      await agent.close()
      await rm(dir, { recursive: true, force: true })
    })

    it('is read from --token-file over the environment, and never printed', async () => {
      const file = join(dir, 'token')
      await writeFile(file, `${SECRET}\n`)
      const result = await cli(['doctor', '--service', 'web', '--json', '--token-file', file], { CONSUL_HTTP_ADDR: agent.address, CONSUL_HTTP_TOKEN: 'wrong' })
      assert.equal(result.code, 0, result.stdout)
      const doc = json<DoctorJson>(result)
      assert.equal(doc.agent.tokenSource, '--token-file')
      assert.equal(check(doc, 'token').status, 'ok')
      assert.ok(!result.stdout.includes(SECRET) && !result.stderr.includes(SECRET))
    })

    it('is read from CONSUL_HTTP_TOKEN_FILE', async () => {
      const file = join(dir, 'token-env')
      await writeFile(file, SECRET)
      const doc = json<DoctorJson>(await cli(['doctor', '--service', 'web', '--json'], { CONSUL_HTTP_ADDR: agent.address, CONSUL_HTTP_TOKEN_FILE: file }))
      assert.equal(doc.agent.tokenSource, 'CONSUL_HTTP_TOKEN_FILE')
      assert.equal(doc.verdict, 'warn', 'only the "no intentions, default deny" warning remains')
    })

    it('works from --token, with a warning about shell history, and is never printed', async () => {
      const result = await cli(['doctor', '--service', 'web', '--token', SECRET], { CONSUL_HTTP_ADDR: agent.address })
      assert.equal(result.code, 0, result.stdout)
      assert.equal(result.stderr, 'consul-connect-native: warning: --token puts the token in your shell history and the process list; prefer CONSUL_HTTP_TOKEN or --token-file\n')
      assert.match(result.stdout, /token from --token/)
      assert.ok(!result.stdout.includes(SECRET))
    })

    it('reports an unreadable token file as the first failed check, with the file fix', async () => {
      const doc = json<DoctorJson>(await cli(['doctor', '--service', 'web', '--json', '--token-file', join(dir, 'missing')], { CONSUL_HTTP_ADDR: agent.address }))
      const first = check(doc, 'agent')
      assert.equal(first.status, 'fail')
      assert.match(first.summary, /reading token file ".*missing" \(agent\.tokenFile\): ENOENT/)
      assert.match(first.fix!, /^check the file named above/)
      assert.equal(check(doc, 'leaf').summary, 'skipped: the agent could not be asked')
    })
  })
})
