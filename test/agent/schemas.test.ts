import assert from 'node:assert/strict'
import {
  aclDefaultPolicyOf, agentSelfSchema, authorizeAnswerSchema, caRootsSchema, healthConnectSchema,
  intentionCheckSchema, intentionsMatchSchema, leafCertSchema
} from '../../lib/agent/schemas.js'

const PEM = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n'

const roots = {
  ActiveRootID: 'aa:bb',
  TrustDomain: '11111111-2222-3333-4444-555555555555.consul',
  Roots: [{
    ID: 'aa:bb', Name: 'Consul CA Primary Cert', SerialNumber: 7, SigningKeyID: 'cc:dd', ExternalTrustDomain: '1111.consul',
    NotBefore: '2024-01-01T00:00:00Z', NotAfter: '2034-01-01T00:00:00Z', RootCert: PEM, IntermediateCerts: null,
    Active: true, PrivateKeyType: 'ec', PrivateKeyBits: 256, CreateIndex: 8, ModifyIndex: 8, SomethingNew: { x: 1 }
  }]
}

const leaf = {
  SerialNumber: '0a:1b', CertPEM: PEM, PrivateKeyPEM: '-----BEGIN EC PRIVATE KEY-----\nx\n-----END EC PRIVATE KEY-----\n',
  Service: 'web', ServiceURI: 'spiffe://1111.consul/ns/default/dc/dc1/svc/web',
  ValidAfter: '2024-01-01T00:00:00Z', ValidBefore: '2024-01-04T00:00:00Z', CreateIndex: 20, ModifyIndex: 20
}

const l4 = {
  ID: '', SourceNS: 'default', SourceName: 'api', DestinationNS: 'default', DestinationName: 'db',
  SourcePartition: 'default', DestinationPartition: 'default', SourceType: 'consul', Action: 'allow',
  Precedence: 9, Meta: null, CreateIndex: 30, ModifyIndex: 30
}
const l7 = {
  SourceName: '*', DestinationName: 'db', SourceType: 'consul', SourcePeer: 'other-cluster',
  Permissions: [
    { Action: 'allow', HTTP: { PathPrefix: '/v1/', Methods: ['GET', 'HEAD'], Header: [{ Name: 'x-env', Exact: 'prod', Invert: false }] } },
    { Action: 'deny', HTTP: { PathRegex: '^/admin' } }
  ],
  Precedence: 7, Meta: { team: 'data' }
}

describe('schemas', () => {
  describe('caRootsSchema', () => {
    it('accepts a roots answer, keeps unknown fields and normalises null lists', () => {
      const parsed = caRootsSchema.parse(roots)
      assert.deepEqual(parsed.Roots[0]!.IntermediateCerts, [])
      assert.deepEqual((parsed.Roots[0] as Record<string, unknown>)['SomethingNew'], { x: 1 })
      assert.deepEqual(caRootsSchema.parse({ ...roots, Roots: null }).Roots, [])
    })

    it('rejects an empty RootCert, naming the field', () => {
      const result = caRootsSchema.safeParse({ ...roots, Roots: [{ ...roots.Roots[0], RootCert: '' }] })
      assert.equal(result.success, false)
      assert.deepEqual(result.error?.issues[0]?.path, ['Roots', 0, 'RootCert'])
    })
  })

  describe('leafCertSchema', () => {
    it('accepts a leaf answer (Enterprise fields optional)', () => {
      assert.equal(leafCertSchema.parse(leaf).ServiceURI, leaf.ServiceURI)
      assert.equal(leafCertSchema.parse({ ...leaf, Namespace: 'ns1', Partition: 'ap1' }).Partition, 'ap1')
    })

    for (const field of ['CertPEM', 'PrivateKeyPEM', 'SerialNumber', 'ServiceURI']) {
      it(`rejects a leaf without ${field}`, () => {
        const broken: Record<string, unknown> = { ...leaf }
        delete broken[field]
        const result = leafCertSchema.safeParse(broken)
        assert.equal(result.success, false)
        assert.deepEqual(result.error?.issues[0]?.path, [field])
      })
    }
  })

  describe('intentionsMatchSchema', () => {
    it('accepts L4 and L7 intentions with peers, permissions and header matchers', () => {
      const parsed = intentionsMatchSchema.parse({ db: [l4, l7], other: null })
      assert.deepEqual(parsed['other'], [])
      const [first, second] = parsed['db']!
      assert.equal(first!.Action, 'allow')
      assert.deepEqual(first!.Meta, {})
      assert.deepEqual(first!.Permissions, [])
      assert.equal(second!.Action, undefined)
      assert.equal(second!.SourcePeer, 'other-cluster')
      assert.equal(second!.Permissions[0]!.HTTP!.Header[0]!.Exact, 'prod')
      assert.deepEqual(second!.Permissions[1]!.HTTP!.Methods, [])
      assert.deepEqual(second!.Meta, { team: 'data' })
    })

    it('reads an empty Action as absent', () => {
      assert.equal(intentionsMatchSchema.parse({ db: [{ ...l7, Action: '' }] })['db']![0]!.Action, undefined)
    })

    const broken: Array<[string, unknown, Array<string | number>]> = [
      ['an unknown Action', { ...l4, Action: 'maybe' }, ['db', 0, 'Action']],
      ['a missing Precedence', { ...l4, Precedence: undefined }, ['db', 0, 'Precedence']],
      ['a permission without Action', { ...l7, Permissions: [{ HTTP: {} }] }, ['db', 0, 'Permissions', 0, 'Action']],
      ['a header matcher without Name', { ...l7, Permissions: [{ Action: 'allow', HTTP: { Header: [{ Exact: 'x' }] } }] }, ['db', 0, 'Permissions', 0, 'HTTP', 'Header', 0, 'Name']]
    ]
    for (const [what, intention, path] of broken) {
      it(`rejects ${what}, naming the field`, () => {
        const result = intentionsMatchSchema.safeParse({ db: [intention] })
        assert.equal(result.success, false)
        assert.deepEqual(result.error?.issues[0]?.path, path)
      })
    }
  })

  describe('authorizeAnswerSchema and intentionCheckSchema', () => {
    it('accept the agent answers', () => {
      assert.deepEqual(authorizeAnswerSchema.parse({ Authorized: true, Reason: 'Matched L4 intention' }), { Authorized: true, Reason: 'Matched L4 intention' })
      assert.equal(authorizeAnswerSchema.parse({ Authorized: false }).Reason, '')
      assert.equal(intentionCheckSchema.parse({ Allowed: false }).Allowed, false)
      assert.equal(intentionCheckSchema.safeParse({ Allowed: 'yes' }).success, false)
    })
  })

  describe('healthConnectSchema', () => {
    const entry = {
      Node: { ID: 'n1', Node: 'node-1', Address: '10.0.0.1', Datacenter: 'dc1', TaggedAddresses: null, Meta: { a: 'b' } },
      Service: {
        ID: 'web-1', Service: 'web', Address: '', Port: 8443, Tags: null, Meta: null, Kind: '',
        TaggedAddresses: { lan_ipv4: { Address: '10.0.0.1', Port: 8443 } },
        Proxy: { DestinationServiceName: '', Mode: '' }, Connect: { Native: true }
      },
      Checks: [{ Node: 'node-1', CheckID: 'serfHealth', Name: 'Serf Health Status', Status: 'passing', ServiceID: '', ServiceName: '', Output: 'Agent alive' }]
    }

    it('accepts service entries and normalises empty collections', () => {
      const [parsed] = healthConnectSchema.parse([entry])
      assert.equal(parsed!.Service.Port, 8443)
      assert.deepEqual(parsed!.Service.Tags, [])
      assert.equal(parsed!.Service.Connect?.Native, true)
      assert.deepEqual(parsed!.Node.TaggedAddresses, {})
      assert.equal(parsed!.Checks[0]!.Status, 'passing')
      assert.deepEqual(healthConnectSchema.parse(null), [])
    })

    it('rejects an entry without a port', () => {
      const result = healthConnectSchema.safeParse([{ ...entry, Service: { ...entry.Service, Port: undefined } }])
      assert.deepEqual(result.error?.issues[0]?.path, [0, 'Service', 'Port'])
    })
  })

  describe('agentSelfSchema', () => {
    const self = { Config: { Datacenter: 'dc1', NodeName: 'node-1', Version: '1.19.2', Server: true }, Member: { Name: 'node-1', Addr: '127.0.0.1', Port: 8301, Tags: { role: 'consul' }, Status: 1 }, Meta: null, Coord: {}, xDS: {} }

    it('accepts a self answer without DebugConfig', () => {
      const parsed = agentSelfSchema.parse(self)
      assert.equal(parsed.Config.NodeName, 'node-1')
      assert.equal(aclDefaultPolicyOf(parsed), undefined)
    })

    it('reads the ACL default policy from either place Consul has put it', () => {
      assert.equal(aclDefaultPolicyOf(agentSelfSchema.parse({ ...self, DebugConfig: { ACLResolverSettings: { ACLDefaultPolicy: 'deny' } } })), 'deny')
      assert.equal(aclDefaultPolicyOf(agentSelfSchema.parse({ ...self, DebugConfig: { ACLDefaultPolicy: 'allow' } })), 'allow')
    })

    it('rejects an answer without Config.Datacenter', () => {
      assert.deepEqual(agentSelfSchema.safeParse({ Config: { NodeName: 'x' } }).error?.issues[0]?.path, ['Config', 'Datacenter'])
    })
  })
})
