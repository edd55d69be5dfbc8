/**
 * How the CLI shows an intention: `web → db` (namespaces, partitions and peers only when they are not the
 * defaults), its action or the L7 permission that decided, and its precedence; and the JSON form with
 * stable keys.
 */
import type { ResolvedIntention } from '../authz/intentions.js'

/** The L7 permission that decided a request: its position in `Permissions` and its action. */
export interface DecidingPermission {
  readonly index: number
  readonly action: 'allow' | 'deny'
}

export interface IntentionJson {
  id: string | null
  source: string
  sourceNamespace: string
  sourcePartition: string | null
  sourcePeer: string | null
  destination: string
  destinationNamespace: string
  /** `allow`/`deny` for an L4 intention, null for an L7 one. */
  action: 'allow' | 'deny' | null
  /** Number of L7 permissions (0 for an L4 intention). */
  permissions: number
  /** The permission that decided the request, when an L7 permission did. */
  permission: DecidingPermission | null
  precedence: number
}

export function intentionJson (intention: ResolvedIntention, permission: DecidingPermission | undefined): IntentionJson {
  return {
    id: intention.ID ?? null,
    source: intention.SourceName,
    sourceNamespace: intention.SourceNS,
    sourcePartition: intention.SourcePartition ?? null,
    sourcePeer: intention.SourcePeer ?? null,
    destination: intention.DestinationName,
    destinationNamespace: intention.DestinationNS,
    action: intention.Action ?? null,
    permissions: intention.Permissions?.length ?? 0,
    permission: permission ?? null,
    precedence: intention.Precedence
  }
}

/** `web → db, action deny, precedence 9` or `web → db, Permissions[1] (allow), precedence 9`. */
export function intentionText (intention: ResolvedIntention, permission: DecidingPermission | undefined): string {
  const what = permission !== undefined
    ? `Permissions[${permission.index}] (${permission.action})`
    : intention.Action !== undefined
      ? `action ${intention.Action}`
      : `L7 intention with ${intention.Permissions?.length ?? 0} permission(s)`
  return `${sourceName(intention)} → ${qualified(intention.DestinationNS, intention.DestinationName)}, ${what}, precedence ${intention.Precedence}`
}

function sourceName (i: ResolvedIntention): string {
  const prefix = i.SourcePeer !== undefined ? `peer:${i.SourcePeer}/` : i.SourcePartition !== undefined && i.SourcePartition !== 'default' ? `${i.SourcePartition}/` : ''
  return `${prefix}${qualified(i.SourceNS, i.SourceName)}`
}

function qualified (namespace: string, name: string): string {
  return namespace === 'default' ? name : `${namespace}/${name}`
}
