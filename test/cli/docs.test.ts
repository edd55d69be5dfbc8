/**
 * docs/cli.md documents every command, option, exit code, doctor check and JSON key the CLI has, and no option
 * the CLI lacks: the help text and the docs come from the same specs or are compared with them here.
 */
import assert from 'node:assert/strict'
import { readFile } from 'node:fs/promises'
import { COMMANDS } from '../../lib/cli/run.js'
import { AGENT_OPTIONS } from '../../lib/cli/args.js'

const CHECK_IDS = ['agent', 'leader', 'connect', 'trust-domain', 'token', 'leaf', 'chain', 'intentions', 'default-policy']

describe('docs/cli.md', () => {
  let text: string
  let sections: Map<string, string>

  before(async () => {
    text = await readFile(new URL('../../docs/cli.md', import.meta.url), 'utf8')
    sections = new Map()
    const parts = text.split(/^## /m).slice(1)
    for (const part of parts) sections.set(part.slice(0, part.indexOf('\n')).trim(), part)
  })

  it('has a section for every command, listing each of its own options', () => {
    for (const { spec } of COMMANDS) {
      const section = sections.get(`\`${spec.name}\``)
      assert.ok(section !== undefined, `no "## \`${spec.name}\`" section`)
      for (const option of spec.options) {
        if (AGENT_OPTIONS.includes(option)) continue
        assert.match(section, new RegExp(`\\| \`--${option.name}[ \`]`), `${spec.name}: --${option.name} is not in its option table`)
      }
    }
  })

  it('documents the agent options once, for every command', () => {
    const section = sections.get('Agent settings')!
    for (const option of AGENT_OPTIONS) assert.ok(section.includes(`\`--${option.name}`), `--${option.name} is not documented`)
  })

  it('documents no option the CLI lacks', () => {
    const known = new Set(COMMANDS.flatMap((c) => c.spec.options.map((o) => o.name)))
    const documented = [...text.matchAll(/^\| `--([a-z-]+)/gm)].map((m) => m[1]!)
    assert.deepEqual(documented.filter((name) => !known.has(name)), [])
  })

  it('documents every exit code of every command', () => {
    const codes = new Set(COMMANDS.flatMap((c) => c.spec.exitCodes.map(([code]) => code)))
    for (const code of codes) assert.match(sections.get('Exit codes')!, new RegExp(`^\\| \`${code}\` \\|`, 'm'))
  })

  it('lists every doctor check, in order, with its data keys', () => {
    const section = sections.get('`doctor`')!
    const rows = [...section.matchAll(/^ *\| `([a-z-]+)` \|/gm)].map((m) => m[1]!)
    const checks = rows.filter((id) => CHECK_IDS.includes(id))
    assert.deepEqual(checks.slice(0, CHECK_IDS.length), CHECK_IDS, 'the checks table')
    assert.deepEqual(checks.slice(CHECK_IDS.length), CHECK_IDS, 'the data keys table')
  })

  it('shows the JSON keys of each command', () => {
    const keys: Record<string, readonly string[]> = {
      doctor: ['command', 'ok', 'verdict', 'service', 'agent', 'checks', 'counts', 'addressSource', 'addressSetting', 'tokenSource'],
      authz: ['command', 'source', 'destination', 'request', 'agent', 'ok', 'allowed', 'decision', 'defaultPolicy', 'intentionCount', 'error',
        'layer', 'intention', 'sourceNamespace', 'sourcePartition', 'sourcePeer', 'destinationNamespace', 'action', 'permissions', 'permission', 'precedence', 'via', 'notes'],
      identity: ['command', 'ok', 'service', 'agent', 'identity', 'error', 'spiffeId', 'serial', 'validAfter', 'validBefore', 'expiresInMs', 'state',
        'issuer', 'subject', 'chainLength', 'trustDomain', 'datacenter', 'namespace', 'partition']
    }
    for (const [command, names] of Object.entries(keys)) {
      const section = sections.get(`\`${command}\``)!
      for (const name of names) assert.ok(section.includes(`"${name}"`), `${command} --json: "${name}" is not shown`)
    }
  })
})
