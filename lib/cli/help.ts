/**
 * Help texts, generated from the command specs so that help, parser and docs/cli.md cannot drift apart (a
 * test compares the docs with the specs).
 */
import type { CommandSpec } from './args.js'
import { table } from './output.js'

export const PROGRAM = 'consul-connect-native'

/** Variables the agent settings are read from (the Consul CLI's), for the help's environment section. */
export const ENVIRONMENT: ReadonlyArray<readonly [string, string]> = [
  ['CONSUL_HTTP_ADDR', 'agent address (default 127.0.0.1:8500)'],
  ['CONSUL_HTTP_TOKEN', 'ACL token'],
  ['CONSUL_HTTP_TOKEN_FILE', 'file holding the ACL token (when CONSUL_HTTP_TOKEN is unset)'],
  ['CONSUL_HTTP_SSL', 'use https for a host:port address'],
  ['CONSUL_HTTP_SSL_VERIFY', 'verify the agent\'s certificate (default true)'],
  ['CONSUL_CACERT, CONSUL_CAPATH', 'CA file / directory for the agent\'s certificate'],
  ['CONSUL_CLIENT_CERT, CONSUL_CLIENT_KEY', 'client certificate and key, for agents with verify_incoming'],
  ['CONSUL_TLS_SERVER_NAME', 'name to verify the agent\'s certificate against'],
  ['CONSUL_NAMESPACE, CONSUL_PARTITION', 'namespace and admin partition (Enterprise only)']
]

/** The program's help: commands, global flags, exit codes, environment. */
export function programHelp (commands: readonly CommandSpec[]): string {
  return [
    `${PROGRAM}: check and explain a Node.js service's place in a Consul service mesh`,
    '',
    'Usage:',
    `  ${PROGRAM} <command> [options]`,
    `  ${PROGRAM} help <command>`,
    `  ${PROGRAM} --help | --version`,
    '',
    'Commands:',
    ...table(commands.map((c) => [c.name, c.summary]), '  '),
    '',
    'Every command takes --json (one JSON document with stable keys on stdout) and the agent options',
    '--http-addr, --token-file, --token and --timeout; see `help <command>`.',
    '',
    'Exit codes:',
    '  0  ok / allowed',
    '  1  a problem was found / denied / the agent could not answer',
    '  2  usage error',
    '',
    'Environment (flags override it):',
    ...table(ENVIRONMENT, '  '),
    ''
  ].join('\n')
}

/** One command's help. */
export function commandHelp (spec: CommandSpec): string {
  const options = spec.options.map((o): [string, string] => {
    const name = `${o.short === undefined ? '    ' : `-${o.short}, `}--${o.name}${o.value === undefined ? '' : ` ${o.value}`}`
    return [name, `${o.description}${o.multiple === true ? ' (repeatable)' : ''}`]
  })
  return [
    `${PROGRAM} ${spec.name}: ${spec.summary}`,
    '',
    'Usage:',
    `  ${PROGRAM} ${spec.usage}`,
    '',
    ...spec.description,
    '',
    'Options:',
    ...table(options, '  '),
    '',
    'Exit codes:',
    ...spec.exitCodes.map(([code, meaning]) => `  ${code}  ${meaning}`),
    '',
    'Examples:',
    ...spec.examples.map((e) => `  ${e}`),
    ''
  ].join('\n')
}
