/**
 * `consul-connect-native authz --source <svc> --destination <svc> [request]`: would the mesh let this caller in?
 *
 * Decides exactly as a running service does: the destination's intentions from the agent's match endpoint,
 * the default decision learned from the agent (see default-decision.ts), an `Intentions` index, and
 * `decide({ source, request })`. Without a request (`--method`, `--path`, `--header`) it decides a
 * connection (L4; an L7 intention denies it, as the agent's authorize does); with one, an HTTP request (L7).
 * Prints the decision, its reason and the intention that decided (with the L7 permission, when one did).
 * Exit 0 allowed, 1 denied or not decidable (agent error), 2 usage error.
 */
import type { HttpRequestInfo } from '../authz/authorizer.js'
import { Intentions } from '../authz/intentions.js'
import type { ResolvedIntention, SourceService } from '../authz/intentions.js'
import { HttpPermission, firstMatchingPermission } from '../authz/l7.js'
import { parseSpiffeId } from '../spiffe-id.js'
import type { SpiffeId } from '../spiffe-id.js'
import { connectAgent, errorJson } from './agent.js'
import { fetchIntentions } from './agent-calls.js'
import { AGENT_OPTIONS, flag, listOption, parseCommandArgs, requiredOption, stringOption, UsageError } from './args.js'
import type { CommandSpec, ParsedValues } from './args.js'
import { EXIT_OK, EXIT_PROBLEM } from './command.js'
import type { CommandContext } from './command.js'
import { defaultJson, defaultText, fixedDefault, learnDefault } from './default-decision.js'
import type { LearnedDefault } from './default-decision.js'
import { agentFix } from './fixes.js'
import { intentionJson, intentionText } from './intention-view.js'
import type { DecidingPermission } from './intention-view.js'
import { plural, table } from './output.js'

export const authzSpec: CommandSpec = {
  name: 'authz',
  summary: 'decide whether a source service may connect to (or send a request to) a destination, and why',
  usage: 'authz --source <service|spiffe-id> --destination <service> [--method <m>] [--path <p>] [--header <name=value>]... [options]',
  description: [
    'Fetches the destination\'s intentions and the default policy from the agent and decides as a running',
    'service would. Without --method, --path or --header it decides a connection (L4); with any of them, an HTTP',
    'request (L7). Prints the decision, the reason and the intention that decided.'
  ],
  options: [
    { name: 'source', type: 'string', value: '<service|spiffe-id>', description: 'the caller: a service name, or a SPIFFE ID (spiffe://<td>/ns/<ns>/dc/<dc>/svc/<name>)' },
    { name: 'destination', type: 'string', value: '<service>', description: 'the service being called (the token needs intentions:read on it)' },
    { name: 'source-namespace', type: 'string', value: '<ns>', description: 'the caller\'s namespace (default "default"; Enterprise)' },
    { name: 'source-partition', type: 'string', value: '<partition>', description: 'the caller\'s admin partition (default "default"; Enterprise)' },
    { name: 'method', type: 'string', value: '<method>', description: 'HTTP method of the request to decide (default GET when --path or --header is given)' },
    { name: 'path', type: 'string', value: '<path>', description: 'HTTP path of the request to decide, starting with "/" (default "/"; a query string is ignored)' },
    { name: 'header', type: 'string', multiple: true, value: '<name=value>', description: 'a request header (a repeated name gives several values)' },
    { name: 'default-policy', type: 'string', value: 'allow|deny', description: 'use this default decision instead of learning it from the agent' },
    ...AGENT_OPTIONS
  ],
  exitCodes: [[0, 'allowed'], [1, 'denied, or no decision (the agent could not answer; the error and its fix are printed)'], [2, 'usage error']],
  examples: [
    'consul-connect-native authz --source web --destination db',
    'consul-connect-native authz --source web --destination api --method POST --path /admin --header x-role=ops --json'
  ]
}

interface SourceInput {
  readonly decide: SpiffeId | SourceService
  readonly json: { service: string | null, namespace: string | null, partition: string | null, spiffeId: string | null }
  readonly text: string
}

interface RequestJson { method: string, path: string, headers: Record<string, string | string[]> }

export async function authz (ctx: CommandContext): Promise<number> {
  const values = parseCommandArgs(authzSpec, ctx.argv)
  if (flag(values, 'help')) return ctx.help(authzSpec)
  const source = parseSource(values)
  const destination = requiredOption(values, 'destination', 'authz')
  const request = parseRequest(values)
  const fixed = parseDefaultPolicy(values)
  const json = flag(values, 'json')
  const agent = connectAgent(values, ctx.env, ctx.out, 'authz')
  const base = {
    command: 'authz',
    source: source.json,
    destination,
    request: request ?? null,
    agent: { address: agent.address }
  }

  let intentions: Intentions
  let learned: LearnedDefault
  try {
    let answer
    try {
      answer = await fetchIntentions(agent.client, destination)
    } catch (err) {
      return failed(ctx, base, json, err, agentFix(err, agent, { needs: `intentions:read on ${JSON.stringify(destination)} (service:read)` }))
    }
    learned = fixed ?? await learnDefault({ client: agent.client, destination, aclHeader: answer.meta.defaultAclPolicy })
    try {
      intentions = Intentions.fromMatchAnswer(answer.value, destination, { defaultAllow: learned.decision.defaultAllow, defaultReason: learned.decision.defaultReason })
    } catch (err) {
      return failed(ctx, base, json, err, 'fix or delete the intention named above (consul config read -kind service-intentions -name <destination>)')
    }
  } finally {
    await agent.client.close()
  }

  const decision = intentions.decide({ source: source.decide, request: request === undefined ? undefined : toRequestInfo(request) })
  const intention = decision.intention as ResolvedIntention | undefined
  const permission = intention !== undefined && request !== undefined ? decidingPermission(intention, toRequestInfo(request)) : undefined
  if (learned.via === 'none') {
    ctx.out.warn(`could not learn the default policy (${learned.notes.join(', ')}); deciding with deny, as the library does; pass --default-policy to choose`)
  }
  if (json) {
    ctx.out.json({
      ...base,
      ok: decision.allowed,
      allowed: decision.allowed,
      decision: {
        reason: decision.reason,
        layer: decision.layer,
        intention: intention === undefined ? null : intentionJson(intention, permission)
      },
      defaultPolicy: defaultJson(learned),
      intentionCount: intentions.size,
      error: null
    })
  } else {
    const what = request === undefined ? '' : ` (${request.method} ${request.path})`
    ctx.out.line(`${decision.allowed ? 'allowed' : 'denied'}: ${source.text} → ${destination}${what}`)
    const rows: Array<[string, string]> = [
      ['reason', decision.reason],
      ['intention', intention === undefined ? 'none matched: the default decided' : intentionText(intention, permission)],
      ['default', defaultText(learned)],
      ['checked', `${plural(intentions.size, 'intention')} for ${JSON.stringify(destination)} from ${agent.address}`]
    ]
    for (const line of table(rows, '  ')) ctx.out.line(line)
  }
  return decision.allowed ? EXIT_OK : EXIT_PROBLEM
}

function parseSource (values: ParsedValues): SourceInput {
  const text = requiredOption(values, 'source', 'authz')
  const namespace = stringOption(values, 'source-namespace', 'authz')
  const partition = stringOption(values, 'source-partition', 'authz')
  if (text.startsWith('spiffe://')) {
    if (namespace !== undefined || partition !== undefined) {
      throw new UsageError('--source-namespace and --source-partition cannot be combined with a SPIFFE ID source (the ID names them)', 'authz')
    }
    let id: SpiffeId
    try {
      id = parseSpiffeId(text)
    } catch (err) {
      throw new UsageError(`--source: ${(err as Error).message}`, 'authz')
    }
    if (id.kind !== 'service') throw new UsageError(`--source: ${JSON.stringify(text)} is a ${id.kind} identity; intentions authorize services only`, 'authz')
    return {
      decide: id,
      json: { service: id.service, namespace: id.namespace, partition: id.partition, spiffeId: id.uri },
      text: qualified(id.partition, id.namespace, id.service)
    }
  }
  if (/[/\s]/.test(text)) throw new UsageError(`--source must be a service name or a spiffe:// ID, got ${JSON.stringify(text)}`, 'authz')
  const ns = namespace ?? 'default'
  const ap = partition ?? 'default'
  return {
    decide: { service: text, namespace: ns, partition: ap },
    json: { service: text, namespace: ns, partition: ap, spiffeId: null },
    text: qualified(ap, ns, text)
  }
}

function parseRequest (values: ParsedValues): RequestJson | undefined {
  const method = stringOption(values, 'method', 'authz')
  const path = stringOption(values, 'path', 'authz')
  const headerArgs = listOption(values, 'header')
  if (method === undefined && path === undefined && headerArgs.length === 0) return undefined
  if (method !== undefined && !/^[A-Za-z]+$/.test(method)) throw new UsageError(`--method must be an HTTP method such as GET, got ${JSON.stringify(method)}`, 'authz')
  if (path !== undefined && !path.startsWith('/')) throw new UsageError(`--path must start with "/", got ${JSON.stringify(path)}`, 'authz')
  const headers: Record<string, string | string[]> = {}
  for (const arg of headerArgs) {
    const eq = arg.indexOf('=')
    const name = eq === -1 ? '' : arg.slice(0, eq).trim().toLowerCase()
    if (name === '' || !/^[!#$%&'*+.^_`|~0-9a-z-]+$/.test(name)) {
      throw new UsageError(`--header expects name=value with an HTTP header name, got ${JSON.stringify(arg)}`, 'authz')
    }
    const value = arg.slice(eq + 1)
    const previous = headers[name]
    headers[name] = previous === undefined ? value : [...(Array.isArray(previous) ? previous : [previous]), value]
  }
  return { method: (method ?? 'GET').toUpperCase(), path: path ?? '/', headers }
}

function parseDefaultPolicy (values: ParsedValues): LearnedDefault | undefined {
  const text = stringOption(values, 'default-policy', 'authz')
  if (text === undefined) return undefined
  if (text !== 'allow' && text !== 'deny') throw new UsageError(`--default-policy must be allow or deny, got ${JSON.stringify(text)}`, 'authz')
  return fixedDefault(text === 'allow')
}

function toRequestInfo (request: RequestJson): HttpRequestInfo {
  return { method: request.method, path: request.path, headers: request.headers }
}

/** Which L7 permission decided `request`, found as `Intentions.decide` finds it. */
function decidingPermission (intention: ResolvedIntention, request: HttpRequestInfo): DecidingPermission | undefined {
  const inputs = intention.Permissions
  if (inputs === undefined) return undefined
  const permissions = inputs.map((input, k) => new HttpPermission(input, k, 'authz'))
  const k = firstMatchingPermission(permissions, request)
  return k === -1 ? undefined : { index: k, action: permissions[k]!.action }
}

function qualified (partition: string, namespace: string, service: string): string {
  return `${partition === 'default' ? '' : `${partition}/`}${namespace === 'default' ? '' : `${namespace}/`}${service}`
}

function failed (ctx: CommandContext, base: Record<string, unknown>, json: boolean, err: unknown, fix: string): number {
  if (json) {
    ctx.out.json({ ...base, ok: false, allowed: null, decision: null, defaultPolicy: null, intentionCount: null, error: errorJson(err, fix) })
  } else {
    ctx.out.error(err instanceof Error ? err.message : String(err))
    ctx.out.stderr(`fix: ${fix}`)
  }
  return EXIT_PROBLEM
}
