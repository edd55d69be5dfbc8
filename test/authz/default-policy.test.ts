import assert from 'node:assert/strict'
import type { AgentSelf, AuthorizeAnswer } from '../../lib/agent/schemas.js'
import { agentSelfSchema } from '../../lib/agent/schemas.js'
import { defaultDecisionFrom, defaultDecisionFromAuthorize, probeDefaultDecision } from '../../lib/authz/default-policy.js'
import type { DefaultDecision, DefaultPolicyInput } from '../../lib/authz/default-policy.js'
import { Intentions } from '../../lib/authz/intentions.js'
import { AgentError } from '../../lib/errors.js'

/** An agent self answer shaped like Consul 1.22.7's (only the fields that matter here). */
function self (debug: Record<string, unknown> | undefined): AgentSelf {
  return agentSelfSchema.parse({
    Config: { Datacenter: 'dc1', NodeName: 'n1' },
    ...(debug === undefined ? {} : { DebugConfig: debug })
  })
}
const acl = (policy: string, enabled: boolean, intentionPolicy = ''): AgentSelf =>
  self({ ACLsEnabled: enabled, ACLResolverSettings: { ACLDefaultPolicy: policy, ACLsEnabled: enabled }, DefaultIntentionPolicy: intentionPolicy })

describe('default-policy', () => {
  describe('#defaultDecisionFrom', () => {
    const table: Array<[string, DefaultPolicyInput, DefaultDecision]> = [
      ['ACLs off (-dev)', { self: acl('allow', false) }, { defaultAllow: true, defaultReason: 'Default behavior configured by ACLs', source: 'acl' }],
      ['ACLs on, default deny', { self: acl('deny', true) }, { defaultAllow: false, defaultReason: 'Default behavior configured by ACLs', source: 'acl' }],
      ['default_intention_policy deny over ACL allow', { self: acl('allow', false, 'deny') }, { defaultAllow: false, defaultReason: 'Default intention policy', source: 'default_intention_policy' }],
      ['default_intention_policy allow over ACL deny', { self: acl('deny', true, 'allow') }, { defaultAllow: true, defaultReason: 'Default intention policy', source: 'default_intention_policy' }],
      ['an unknown default_intention_policy (authorize denies)', { self: acl('allow', false, 'bogus') }, { defaultAllow: false, defaultReason: 'Default intention policy', source: 'default_intention_policy' }],
      ['an agent before 1.11 (top-level ACLDefaultPolicy)', { self: self({ ACLDefaultPolicy: 'deny' }) }, { defaultAllow: false, defaultReason: 'Default behavior configured by ACLs', source: 'acl' }],
      ['an explicit setting over self', { self: acl('deny', true), defaultIntentionPolicy: 'allow' }, { defaultAllow: true, defaultReason: 'Default intention policy', source: 'default_intention_policy' }],
      ['self over the header', { self: acl('deny', true), aclDefaultPolicyHeader: 'allow' }, { defaultAllow: false, defaultReason: 'Default behavior configured by ACLs', source: 'acl' }],
      ['the header alone', { aclDefaultPolicyHeader: 'allow' }, { defaultAllow: true, defaultReason: 'Default behavior configured by ACLs', source: 'acl-header' }],
      ['self without DebugConfig (no agent:read), with the header', { self: self(undefined), aclDefaultPolicyHeader: 'deny' }, { defaultAllow: false, defaultReason: 'Default behavior configured by ACLs', source: 'acl-header' }],
      ['nothing', {}, { defaultAllow: false, defaultReason: 'Default policy unknown: denied (fail closed)', source: 'unknown' }]
    ]
    for (const [what, input, expected] of table) {
      it(`decides ${what}`, () => {
        const d = defaultDecisionFrom(input)
        assert.deepEqual(d, expected)
        assert.ok(Object.isFrozen(d))
      })
    }

    it('spreads into the options of Intentions', () => {
      const ix = new Intentions([], { ...defaultDecisionFrom({ self: acl('allow', false, 'deny') }), destination: 'db' })
      assert.deepEqual(ix.decide({ source: { service: 'web' } }), { allowed: false, reason: 'Default intention policy', layer: 'L4' })
    })
  })

  describe('#defaultDecisionFromAuthorize', () => {
    const table: Array<[AuthorizeAnswer, DefaultDecision | undefined]> = [
      [{ Authorized: false, Reason: 'Default intention policy' }, { defaultAllow: false, defaultReason: 'Default intention policy', source: 'default_intention_policy' }],
      [{ Authorized: true, Reason: 'Default behavior configured by ACLs' }, { defaultAllow: true, defaultReason: 'Default behavior configured by ACLs', source: 'acl' }],
      [{ Authorized: false, Reason: 'Matched L4 intention: default/* => default/db (Precedence: 8, Action: DENY)' }, undefined]
    ]
    for (const [answer, expected] of table) {
      it(`reads ${JSON.stringify(answer.Reason)}`, () => {
        assert.deepEqual(defaultDecisionFromAuthorize(answer), expected)
      })
    }
  })

  describe('#probeDefaultDecision', () => {
    it('asks about a made-up source in a made-up namespace, and reads the answer', async () => {
      const calls: Array<{ target: string, clientCertUri: string }> = []
      const client = {
        authorize: async (args: { target: string, clientCertUri: string, clientCertSerial: string }) => {
          calls.push(args)
          return { Authorized: true, Reason: 'Default intention policy' }
        }
      }
      const d = await probeDefaultDecision(client, { target: 'db', trustDomain: 'abc.consul', datacenter: 'dc7' })
      assert.deepEqual(d, { defaultAllow: true, defaultReason: 'Default intention policy', source: 'default_intention_policy' })
      assert.equal(calls[0]!.target, 'db')
      assert.match(calls[0]!.clientCertUri, /^spiffe:\/\/abc\.consul\/ns\/ccn-probe-[0-9a-f]{16}\/dc\/dc7\/svc\/ccn-probe-[0-9a-f]{16}$/)
    })

    it('resolves undefined when an intention matched the probe', async () => {
      const client = { authorize: async () => ({ Authorized: true, Reason: 'Matched L4 intention: */* => default/db (Precedence: 7, Action: ALLOW)' }) }
      assert.equal(await probeDefaultDecision(client, { target: 'db' }), undefined)
    })

    it('rejects as the client does', async () => {
      const client = { authorize: async () => { throw new AgentError('ERR_CONNECT_AGENT_PERMISSION_DENIED', 'authorizing: agent answered 403: Permission denied') } }
      await assert.rejects(probeDefaultDecision(client, { target: 'db' }), (err: unknown) => err instanceof AgentError && err.code === 'ERR_CONNECT_AGENT_PERMISSION_DENIED')
    })
  })
})
