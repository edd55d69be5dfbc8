/**
 * Options of {@link TestAgent.start}, with their defaults and their validation (zod, strict: an unknown
 * option is an error, so a typo never goes unnoticed).
 */
import { z } from 'zod'
import { InvalidOptionError } from '../errors.js'
import type { TestAgentAclOptions } from './test-agent-acl.js'
import { PROTOCOLS } from './test-agent-defaults.js'
import { TestCA } from './test-ca.js'

/** How to start a TestAgent. Every field is optional. */
export interface TestAgentOptions {
  /** The initial CA. Default: a new {@link TestCA} (of `trustDomain` when given). */
  readonly ca?: TestCA
  /** Trust domain of the generated CA (`<uuid>.consul` by default). Must equal `ca.trustDomain` if both are given. */
  readonly trustDomain?: string
  /** Datacenter name. Default `dc1`. */
  readonly datacenter?: string
  /** The agent's node name. Default `test-agent`. */
  readonly nodeName?: string
  /** Enable ACLs with this default policy and these tokens. Default: ACLs off (everything allowed). */
  readonly acl?: TestAgentAclOptions
  /** Lifetime of issued leaves, in ms. Default 72 h, Consul's. Leaves renew at 80 % of it. */
  readonly leafTtlMs?: number
  /** Consul 1.18+'s `default_intention_policy`: decides when no intention matches, before ACLs. */
  readonly defaultIntentionPolicy?: 'allow' | 'deny'
  /**
   * The protocol of every service without a `service-defaults` entry, as the global `proxy-defaults` entry
   * `{ Config: { protocol } }` sets it (the agent starts with that entry). L7 intentions (with `Permissions`)
   * need an HTTP-like one: `http`, `http2` or `grpc`. Default: none, so `tcp`, as in Consul.
   */
  readonly protocol?: 'tcp' | 'http' | 'http2' | 'grpc'
  /** Port on 127.0.0.1. Default 0: a free port chosen by the system. */
  readonly port?: number
}

export const DEFAULT_DATACENTER = 'dc1'
export const DEFAULT_NODE_NAME = 'test-agent'
export const DEFAULT_LEAF_TTL_MS = 72 * 3_600_000

const name = z.string().regex(/^[A-Za-z0-9_.-]+$/, 'expected letters, digits, "_", "." or "-"')
const serviceList = z.union([z.literal('*'), z.array(z.string().min(1))])
const tokenSchema = z.strictObject({
  accessorId: z.string().min(1).optional(),
  management: z.boolean().optional(),
  serviceWrite: serviceList.optional(),
  serviceRead: serviceList.optional(),
  intentionsRead: z.boolean().optional(),
  intentionsWrite: z.boolean().optional(),
  operatorWrite: z.boolean().optional(),
  agentRead: z.boolean().optional()
})
const optionsSchema = z.strictObject({
  ca: z.custom<TestCA>((v) => v instanceof TestCA, 'expected a TestCA').optional(),
  trustDomain: z.string().regex(/^[a-z0-9._-]{1,255}$/, 'expected 1-255 of a-z, 0-9, ".", "_", "-"').optional(),
  datacenter: name.optional(),
  nodeName: name.optional(),
  acl: z.strictObject({
    defaultPolicy: z.enum(['allow', 'deny']),
    tokens: z.record(z.string().min(1), tokenSchema).optional()
  }).optional(),
  leafTtlMs: z.number().int().min(1000, 'expected at least 1000 (1 s)').optional(),
  defaultIntentionPolicy: z.enum(['allow', 'deny']).optional(),
  // Any case, as Consul compares protocols.
  protocol: z.string().refine((p) => (PROTOCOLS as readonly string[]).includes(p.toLowerCase()), `expected one of ${PROTOCOLS.join(', ')}`).optional(),
  port: z.number().int().min(0).max(65535).optional()
})

/** Throws {@link InvalidOptionError} naming the first invalid field (`acl.tokens.abc.serviceWrite`). */
export function validateTestAgentOptions (options: unknown): asserts options is TestAgentOptions {
  const result = optionsSchema.safeParse(options ?? {})
  if (!result.success) {
    const issue = result.error.issues[0]!
    const field = issue.path.map(String).join('.')
    throw new InvalidOptionError(field === '' ? 'options' : field, issue.message)
  }
  const o = options as TestAgentOptions | undefined
  if (o?.ca !== undefined && o.trustDomain !== undefined && o.ca.trustDomain !== o.trustDomain) {
    throw new InvalidOptionError('trustDomain', `differs from ca.trustDomain (${JSON.stringify(o.ca.trustDomain)})`)
  }
}
