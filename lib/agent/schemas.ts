/**
 * zod schemas of every agent answer this library reads, and the types derived from them.
 *
 * Objects are loose (unknown fields pass through): Consul adds fields between releases and Enterprise
 * adds `Namespace`/`Partition`. Fields the library relies on are required; the rest are optional.
 * Lists Consul may encode as `null` (a nil Go slice) or omit are normalised to `[]`, maps to `{}`.
 * PEM strings are checked only as non-empty strings here: parsing them is lib/identity's job.
 */
import { z } from 'zod'

/** A list that Consul may send as `null` or omit; always an array after parsing. */
function list<T extends z.ZodType> (item: T) {
  return z.array(item).nullish().transform((value): Array<z.output<T>> => value ?? [])
}

/** A string map that Consul may send as `null` or omit; always an object after parsing. */
const stringMap = z.record(z.string(), z.string()).nullish().transform((value): Record<string, string> => value ?? {})

const pem = z.string().min(1, 'expected a non-empty PEM string')

// ---------------------------------------------------------------- CA roots: GET /v1/agent/connect/ca/roots

export const caRootSchema = z.looseObject({
  ID: z.string().min(1),
  Name: z.string().optional(),
  SerialNumber: z.number().optional(),
  SigningKeyID: z.string().optional(),
  ExternalTrustDomain: z.string().optional(),
  NotBefore: z.string().optional(),
  NotAfter: z.string().optional(),
  /** May hold more than one PEM block. */
  RootCert: pem,
  IntermediateCerts: list(pem),
  Active: z.boolean(),
  PrivateKeyType: z.string().optional(),
  PrivateKeyBits: z.number().optional(),
  CreateIndex: z.number().optional(),
  ModifyIndex: z.number().optional()
})
export type CaRoot = z.infer<typeof caRootSchema>

export const caRootsSchema = z.looseObject({
  ActiveRootID: z.string(),
  TrustDomain: z.string(),
  Roots: list(caRootSchema)
})
export type CaRoots = z.infer<typeof caRootsSchema>

// ------------------------------------------------------ leaf: GET /v1/agent/connect/ca/leaf/<service>

export const leafCertSchema = z.looseObject({
  SerialNumber: z.string().min(1),
  /** The leaf followed by any intermediates. */
  CertPEM: pem,
  /** SEC1 `EC PRIVATE KEY`, P-256. */
  PrivateKeyPEM: pem,
  Service: z.string(),
  ServiceURI: z.string().min(1),
  ValidAfter: z.string(),
  ValidBefore: z.string(),
  Kind: z.string().optional(),
  Namespace: z.string().optional(),
  Partition: z.string().optional(),
  CreateIndex: z.number().optional(),
  ModifyIndex: z.number().optional()
})
export type LeafCert = z.infer<typeof leafCertSchema>

// ------------------------------------------ intentions: GET /v1/connect/intentions/match?by=destination

export const intentionHeaderMatchSchema = z.looseObject({
  Name: z.string().min(1),
  Present: z.boolean().optional(),
  Exact: z.string().optional(),
  Prefix: z.string().optional(),
  Suffix: z.string().optional(),
  Contains: z.string().optional(),
  Regex: z.string().optional(),
  IgnoreCase: z.boolean().optional(),
  Invert: z.boolean().optional()
})
export type IntentionHeaderMatch = z.infer<typeof intentionHeaderMatchSchema>

export const intentionHttpMatchSchema = z.looseObject({
  PathExact: z.string().optional(),
  PathPrefix: z.string().optional(),
  PathRegex: z.string().optional(),
  Header: list(intentionHeaderMatchSchema),
  Methods: list(z.string())
})
export type IntentionHttpMatch = z.infer<typeof intentionHttpMatchSchema>

export const intentionPermissionSchema = z.looseObject({
  Action: z.enum(['allow', 'deny']),
  HTTP: intentionHttpMatchSchema.nullish().transform((value) => value ?? undefined)
})
export type IntentionPermission = z.infer<typeof intentionPermissionSchema>

export const intentionSchema = z.looseObject({
  ID: z.string().optional(),
  Description: z.string().optional(),
  SourceName: z.string().min(1),
  SourceNS: z.string().optional(),
  SourcePartition: z.string().optional(),
  SourcePeer: z.string().optional(),
  SourceSamenessGroup: z.string().optional(),
  SourceType: z.string().optional(),
  DestinationName: z.string().min(1),
  DestinationNS: z.string().optional(),
  DestinationPartition: z.string().optional(),
  /** Absent (or `""`) on L7 intentions, which carry `Permissions` instead. */
  Action: z.union([z.enum(['allow', 'deny']), z.literal('')]).optional()
    .transform((value) => value === '' ? undefined : value),
  Permissions: list(intentionPermissionSchema),
  Precedence: z.number().int(),
  Meta: stringMap,
  CreatedAt: z.string().optional(),
  UpdatedAt: z.string().optional(),
  CreateIndex: z.number().optional(),
  ModifyIndex: z.number().optional()
})
export type Intention = z.infer<typeof intentionSchema>

/** Destination name → its intentions, already in evaluation (precedence) order. */
export const intentionsMatchSchema = z.record(z.string(), list(intentionSchema))
export type IntentionsMatch = z.infer<typeof intentionsMatchSchema>

// -------------------------------------------------------- authorize: POST /v1/agent/connect/authorize

export const authorizeAnswerSchema = z.looseObject({
  Authorized: z.boolean(),
  Reason: z.string().default('')
})
export type AuthorizeAnswer = z.infer<typeof authorizeAnswerSchema>

// ------------------------------------------------------- intention check: GET /v1/connect/intentions/check

export const intentionCheckSchema = z.looseObject({ Allowed: z.boolean() })
export type IntentionCheckAnswer = z.infer<typeof intentionCheckSchema>

// ----------------------------------------------------------------- health: GET /v1/health/connect/<svc>

export const healthCheckSchema = z.looseObject({
  Node: z.string(),
  CheckID: z.string(),
  Name: z.string(),
  Status: z.string(),
  ServiceID: z.string().optional(),
  ServiceName: z.string().optional(),
  Output: z.string().optional()
})
export type HealthCheck = z.infer<typeof healthCheckSchema>

const taggedAddressSchema = z.looseObject({ Address: z.string(), Port: z.number() })

export const healthServiceEntrySchema = z.looseObject({
  Node: z.looseObject({
    ID: z.string().optional(),
    Node: z.string(),
    Address: z.string(),
    Datacenter: z.string().optional(),
    TaggedAddresses: stringMap,
    Meta: stringMap
  }),
  Service: z.looseObject({
    ID: z.string(),
    Service: z.string(),
    Kind: z.string().optional(),
    /** Empty when the service uses its node's address. */
    Address: z.string(),
    Port: z.number().int(),
    Tags: list(z.string()),
    Meta: stringMap,
    TaggedAddresses: z.record(z.string(), taggedAddressSchema).nullish()
      .transform((value): Record<string, z.infer<typeof taggedAddressSchema>> => value ?? {}),
    Proxy: z.looseObject({
      DestinationServiceName: z.string().optional(),
      DestinationServiceID: z.string().optional(),
      LocalServiceAddress: z.string().optional(),
      LocalServicePort: z.number().optional(),
      Mode: z.string().optional()
    }).nullish().transform((value) => value ?? undefined),
    Connect: z.looseObject({ Native: z.boolean().optional() }).nullish().transform((value) => value ?? undefined),
    Namespace: z.string().optional(),
    Partition: z.string().optional(),
    PeerName: z.string().optional()
  }),
  Checks: list(healthCheckSchema)
})
export type HealthServiceEntry = z.infer<typeof healthServiceEntrySchema>

export const healthConnectSchema = list(healthServiceEntrySchema)
export type HealthConnectAnswer = z.infer<typeof healthConnectSchema>

// ------------------------------------------------------------------------ agent: GET /v1/agent/self

export const agentSelfSchema = z.looseObject({
  Config: z.looseObject({
    Datacenter: z.string(),
    NodeName: z.string(),
    NodeID: z.string().optional(),
    PrimaryDatacenter: z.string().optional(),
    Revision: z.string().optional(),
    Server: z.boolean().optional(),
    Version: z.string().optional()
  }),
  // DebugConfig is the agent's sanitized runtime config. The ACL default policy moved from the top
  // level into ACLResolverSettings in Consul 1.11; both are read.
  DebugConfig: z.looseObject({
    ACLDefaultPolicy: z.string().optional(),
    ACLResolverSettings: z.looseObject({ ACLDefaultPolicy: z.string().optional() }).nullish(),
    ACLsEnabled: z.boolean().optional()
  }).nullish().transform((value) => value ?? undefined),
  Member: z.looseObject({
    Name: z.string(),
    Addr: z.string(),
    Port: z.number(),
    Tags: stringMap,
    Status: z.number().optional()
  }).nullish().transform((value) => value ?? undefined),
  Meta: stringMap
})
export type AgentSelf = z.infer<typeof agentSelfSchema>

/** The ACL default policy from an agent self answer, when the agent disclosed it. */
export function aclDefaultPolicyOf (self: AgentSelf): 'allow' | 'deny' | undefined {
  const policy = self.DebugConfig?.ACLResolverSettings?.ACLDefaultPolicy ?? self.DebugConfig?.ACLDefaultPolicy
  return policy === 'allow' || policy === 'deny' ? policy : undefined
}

// ------------------------------------------------------------------ writes: PUT /v1/config, intentions

/** `true` when the write was applied (`PUT /v1/config` answers `false` when a CAS check failed). */
export const writeResultSchema = z.boolean()

/** For answers whose body is empty or ignored (`PUT /v1/connect/ca/configuration`). */
export const ignoredAnswerSchema = z.unknown()

// Request bodies of the write calls: plain types, since the agent validates what it is sent.

/** Body of `PUT /v1/connect/intentions/exact`; source and destination come from the query. */
export interface IntentionWrite {
  readonly Action?: 'allow' | 'deny'
  readonly Description?: string
  readonly Meta?: Readonly<Record<string, string>>
  /** L7 permissions (then leave `Action` out). */
  readonly Permissions?: readonly unknown[]
  readonly SourceType?: string
  readonly [field: string]: unknown
}

/** A config entry for `PUT /v1/config`, e.g. `{ Kind: 'service-intentions', Name: 'db', Sources: [...] }`. */
export interface ConfigEntryWrite {
  readonly Kind: string
  readonly Name: string
  readonly [field: string]: unknown
}

/** Body of `PUT /v1/connect/ca/configuration`. A new root key (e.g. a new `PrivateKey`) rotates the root. */
export interface CaConfigurationWrite {
  readonly Provider: string
  readonly Config?: Readonly<Record<string, unknown>>
  readonly ForceWithoutCrossSigning?: boolean
  readonly [field: string]: unknown
}
