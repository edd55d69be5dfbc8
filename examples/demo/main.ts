/**
 * `npm run demo`: two Connect-native services, web and db, in one process, told step by step.
 *
 * 1. each gets its leaf certificate (SPIFFE ID, expiry);
 * 2. web calls https://db.service.consul/orders over mutual TLS; db's handler sees the caller web;
 * 3. the intention web → db turns to deny: the next connection is refused, with the reason;
 * 4. an L7 intention lets GET /orders through and answers POST /admin with 403 and the reason;
 * 5. a leaf renewal and a CA root rotation while requests flow: no request fails;
 * 6. live enforcement: an open connection is closed when its intention turns to deny.
 *
 * With no Consul anywhere, it starts an embedded TestAgent in this process (embedded.ts). With
 * `CONSUL_HTTP_ADDR` set (and, with ACLs on, a token in `CONSUL_HTTP_TOKEN` with the rights listed in
 * real-agent.ts), it runs the same story against that agent through its HTTP API, and removes what it
 * created at the end. It exits 0 when every step behaved as expected, 1 otherwise, naming the failed steps.
 *
 * Run it: `npm run demo`, or `CONSUL_HTTP_ADDR=127.0.0.1:8500 npm run demo` next to a `consul agent -dev`.
 * In code: `const result = await main({ log: (line) => lines.push(line) })`.
 */
import { pathToFileURL } from 'node:url'
import type { AgentClientOptions } from '../../lib/index.js'
import { DB } from './cast.js'
import { embeddedEnvironment } from './embedded.js'
import type { Environment } from './environment.js'
import { Narrator } from './narrator.js'
import { realAgentEnvironment } from './real-agent.js'
import { runStory } from './story.js'
import type { StoryResult } from './story.js'
import { describeError } from './wait.js'

export interface DemoOptions {
  /**
   * Run against this Consul agent (options over the `CONSUL_*` environment, unless `env: false`).
   * Default: an embedded TestAgent.
   */
  readonly agent?: AgentClientOptions | undefined
  /** Receives every line of output. Default `console.log`. */
  readonly log?: ((line: string) => void) | undefined
  /** ANSI colours. Default false. */
  readonly color?: boolean | undefined
}

export interface DemoResult extends StoryResult {
  /** Which agent the story ran against. */
  readonly mode: 'embedded' | 'consul'
  /** Why the story could not start (the agent unreachable, or not safe to use); undefined when it ran. */
  readonly setupError?: string
}

export async function main (options: DemoOptions = {}): Promise<DemoResult> {
  const narrator = new Narrator({ log: options.log ?? console.log, color: options.color === true })
  const mode = options.agent === undefined ? 'embedded' : 'consul'
  let env: Environment
  try {
    env = options.agent === undefined ? await embeddedEnvironment() : await realAgentEnvironment(options.agent, [DB])
  } catch (err) {
    const setupError = describeError(err)
    narrator.heading('Setting up')
    narrator.verdict(false, `cannot run the demo ${mode === 'embedded' ? 'with an embedded agent' : 'against this agent'}: ${setupError}`)
    narrator.raw('FAILED: setup', 'red')
    return { mode, ok: false, steps: [], cleanup: [], setupError }
  }
  return { mode, ...await runStory(env, narrator) }
}

// `npm run demo` (tsx examples/demo/main.ts): CONSUL_HTTP_ADDR chooses a real agent, read with the rest of
// the CONSUL_* environment; otherwise the embedded TestAgent.
if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const useAgent = (process.env.CONSUL_HTTP_ADDR ?? '') !== ''
  const color = process.stdout.isTTY === true && (process.env.NO_COLOR ?? '') === ''
  main({ agent: useAgent ? {} : undefined, color }).then((result) => {
    process.exitCode = result.ok ? 0 : 1
  }, (err: unknown) => {
    console.error(err)
    process.exitCode = 1
  })
}
