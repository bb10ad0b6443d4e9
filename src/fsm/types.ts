/**
 * Row and input types of the replicated state store, named after Consul's API fields so that
 * the HTTP layer maps them 1:1 (PascalCase keys, CreateIndex/ModifyIndex on every row).
 *
 * Invariants: rows are immutable once stored (an update stores a new object), every index is a
 * non-negative safe integer taken from the Raft log, and a row never holds an `undefined`
 * property (absent optional fields are left out), so snapshots encode rows byte-for-byte the
 * same on every replica.
 *
 * `XInput` types are what a command carries (decided by the leader, validated by commands.ts);
 * `XRow` types are what readers get back. Callers: commands.ts, tables/*.ts, state-reader.ts,
 * and the RPC/HTTP layers (read-only).
 */
import type { ErrorCode } from '../util/errors.js'
import type { PlainRecord } from './shape.js'

export type { PlainRecord, PlainValue } from './shape.js'

/** Every table, in the fixed order snapshots write them. Names follow Consul's memdb tables. */
export const tableNames = [
  'cluster-meta',
  'nodes',
  'services',
  'checks',
  'kvs',
  'connect-intentions',
  'connect-ca-config',
  'connect-ca-roots',
  'connect-ca-builtin',
  'connect-ca-builtin-serial',
  'acl-policies',
  'acl-tokens'
] as const

export type TableName = typeof tableNames[number]

/** Indexes every row carries: the Raft index that created it and the one that last changed it. */
export interface RowIndexes {
  readonly CreateIndex: number
  readonly ModifyIndex: number
}

/**
 * A write the state store refused because of the state it found (never a programmer error):
 * ERR_CONFLICT (duplicate intention pair, policy name or token secret, node ID held by another
 * node), ERR_NOT_FOUND (update of a missing intention) or ERR_INVALID_INPUT (a reference to
 * something that does not exist, e.g. a check's unknown service or a token's unknown policy).
 */
export interface WriteRejected {
  readonly ok: false
  readonly code: ErrorCode
  readonly message: string
}

export type WriteOutcome<T extends object = object> = ({ readonly ok: true } & T) | WriteRejected

// ---------------------------------------------------------------------------------------------
// KV

export interface KvEntry extends RowIndexes {
  readonly Key: string
  readonly Value: Uint8Array
  readonly Flags: number
  readonly LockIndex: number
  /** Present only while a session holds the key's lock. */
  readonly Session?: string
}

export type KvTxnOp =
  | { readonly Verb: 'set', readonly Key: string, readonly Value: Uint8Array, readonly Flags: number }
  | { readonly Verb: 'cas', readonly Key: string, readonly Value: Uint8Array, readonly Flags: number, readonly Index: number }
  | { readonly Verb: 'get' | 'get-or-empty' | 'get-tree' | 'check-not-exists' | 'delete' | 'delete-tree', readonly Key: string }
  | { readonly Verb: 'check-index' | 'delete-cas', readonly Key: string, readonly Index: number }

export type KvTxnVerb = KvTxnOp['Verb']

/** A txn result row: Value is null for every verb except get, get-or-empty and get-tree. */
export interface KvTxnResultEntry extends RowIndexes {
  readonly Key: string
  readonly Value: Uint8Array | null
  readonly Flags: number
  readonly LockIndex: number
  readonly Session?: string
}

export interface KvTxnError {
  /** Position of the failing op in the request (0-based). */
  readonly OpIndex: number
  readonly What: string
}

/** Consul's all-or-nothing outcome: every result on commit, every error on rollback. */
export type KvTxnOutcome =
  | { readonly ok: true, readonly Results: readonly KvTxnResultEntry[] }
  | { readonly ok: false, readonly Errors: readonly KvTxnError[] }

// ---------------------------------------------------------------------------------------------
// Catalog

export interface NodeRow extends RowIndexes {
  readonly ID: string
  readonly Node: string
  readonly Address: string
  readonly Datacenter: string
  readonly TaggedAddresses: Readonly<Record<string, string>>
  readonly Meta: Readonly<Record<string, string>>
}

export interface ServiceAddress {
  readonly Address: string
  readonly Port: number
}

export interface ServiceWeights {
  readonly Passing: number
  readonly Warning: number
}

export interface ServiceInput {
  readonly ID: string
  readonly Service: string
  /** '' for a typical service, else 'connect-proxy', 'mesh-gateway', ... */
  readonly Kind: string
  readonly Tags: readonly string[]
  readonly Address: string
  readonly TaggedAddresses: Readonly<Record<string, ServiceAddress>>
  readonly Meta: Readonly<Record<string, string>>
  readonly Port: number
  readonly SocketPath: string
  readonly Weights: ServiceWeights
  readonly EnableTagOverride: boolean
  /** Proxy configuration for connect-proxy and gateway kinds ({} otherwise). */
  readonly Proxy: PlainRecord
  /** Connect settings, e.g. { Native: true } ({} when none). */
  readonly Connect: PlainRecord
}

export interface ServiceRow extends ServiceInput, RowIndexes {
  readonly Node: string
}

export type CheckStatus = 'passing' | 'warning' | 'critical'
export const checkStatuses: readonly CheckStatus[] = ['passing', 'warning', 'critical']

export interface CheckInput {
  readonly CheckID: string
  readonly Name: string
  readonly Status: CheckStatus
  readonly Notes: string
  readonly Output: string
  /** '' for a node-level check. */
  readonly ServiceID: string
  readonly Type: string
  readonly Interval: string
  readonly Timeout: string
  readonly ExposedPort: number
  /** Informational copy of the check's definition; nobody runs catalog checks. */
  readonly Definition: PlainRecord
}

export interface CheckRow extends CheckInput, RowIndexes {
  readonly Node: string
  /** Copied from the service the check belongs to ('' and [] for node checks). */
  readonly ServiceName: string
  readonly ServiceTags: readonly string[]
}

/** Consul's register body after the API layer applied defaults (Service.ID, CheckID, Status). */
export interface CatalogRegistration {
  readonly ID: string
  readonly Node: string
  readonly Address: string
  readonly Datacenter: string
  readonly TaggedAddresses: Readonly<Record<string, string>>
  readonly NodeMeta: Readonly<Record<string, string>>
  readonly Service: ServiceInput | null
  /** The body's `Check` and `Checks` together, in request order. */
  readonly Checks: readonly CheckInput[]
  readonly SkipNodeUpdate: boolean
}

/** Deregister a whole node, one service (with its checks), or one check. */
export type CatalogDeregistration =
  | { readonly Node: string, readonly Target: 'node' }
  | { readonly Node: string, readonly Target: 'service', readonly ServiceID: string }
  | { readonly Node: string, readonly Target: 'check', readonly CheckID: string }

/** One instance of a service with its node; what /v1/catalog/service/:name is built from. */
export interface ServiceInstance {
  readonly node: NodeRow
  readonly service: ServiceRow
}

/** What /v1/health/service/:name is built from: the instance's checks plus its node's checks. */
export interface ServiceHealth extends ServiceInstance {
  readonly checks: readonly CheckRow[]
}

// ---------------------------------------------------------------------------------------------
// Intentions

export interface IntentionPair {
  readonly SourceNS: string
  readonly SourceName: string
  readonly DestinationNS: string
  readonly DestinationName: string
}

export interface IntentionInput extends IntentionPair {
  readonly ID: string
  readonly Description: string
  readonly SourceType: string
  /** '' exactly when Permissions is non-empty (L7 intentions have no top-level action). */
  readonly Action: 'allow' | 'deny' | ''
  readonly Permissions: readonly PlainRecord[]
  readonly Meta: Readonly<Record<string, string>>
  readonly CreatedAt: string
  readonly UpdatedAt: string
}

export interface IntentionRow extends IntentionInput, RowIndexes {
  /** Computed on write from the names (§8.3): 9, 8, 6 or 5 in CE. */
  readonly Precedence: number
}

/**
 * create: a new ID and a new pair (legacy POST); update: replace the intention with this ID
 * (legacy PUT /<id>, the pair may change); upsert: by pair, keeping an existing ID (PUT /exact).
 */
export type IntentionUpsertMode = 'create' | 'update' | 'upsert'

export type IntentionTarget =
  | { readonly By: 'id', readonly ID: string }
  | ({ readonly By: 'pair' } & IntentionPair)

// ---------------------------------------------------------------------------------------------
// Connect CA

export interface CaConfigInput {
  readonly ClusterID: string
  readonly Provider: string
  readonly Config: PlainRecord
  readonly State: Readonly<Record<string, string>>
  readonly ForceWithoutCrossSigning: boolean
}

export interface CaConfigRow extends CaConfigInput, RowIndexes {}

export interface CaRootInput {
  /** Colon-hex SHA-1 of the root certificate's DER. */
  readonly ID: string
  readonly Name: string
  readonly SerialNumber: number
  readonly SigningKeyID: string
  readonly ExternalTrustDomain: string
  /** RFC 3339, decided by the leader. */
  readonly NotBefore: string
  readonly NotAfter: string
  readonly RootCert: string
  /** Empty normally; cross-signed certificates after a rotation. The API shows [] as null. */
  readonly IntermediateCerts: readonly string[]
  /** The certificate that signs leaves when it differs from RootCert ('' otherwise). */
  readonly SigningCert: string
  readonly Active: boolean
  readonly PrivateKeyType: string
  readonly PrivateKeyBits: number
  /** RFC 3339 time the root stopped being active ('' while active or never rotated out). */
  readonly RotatedOutAt: string
}

export interface CaRootRow extends CaRootInput, RowIndexes {}

export interface CaRoots {
  /** '' until the CA is bootstrapped. */
  readonly ActiveRootID: string
  /** Sorted by ID, as Consul's id index returns them. */
  readonly Roots: readonly CaRootRow[]
}

/** The built-in provider's private state; the CA private key lives only here. */
export interface CaProviderStateInput {
  readonly ID: string
  readonly PrivateKey: string
  readonly RootCert: string
  readonly IntermediateCert: string
}

export interface CaProviderStateRow extends CaProviderStateInput, RowIndexes {}

// ---------------------------------------------------------------------------------------------
// ACL

export interface AclLink {
  readonly ID: string
  readonly Name: string
}

export interface AclServiceIdentity {
  readonly ServiceName: string
  readonly Datacenters: readonly string[]
}

export interface AclNodeIdentity {
  readonly NodeName: string
  readonly Datacenter: string
}

export interface AclTokenInput {
  readonly AccessorID: string
  readonly SecretID: string
  readonly Description: string
  /** Policy IDs; the store checks they exist and records their current names. */
  readonly PolicyIDs: readonly string[]
  readonly ServiceIdentities: readonly AclServiceIdentity[]
  readonly NodeIdentities: readonly AclNodeIdentity[]
  readonly Local: boolean
  /** RFC 3339, '' when the token never expires. */
  readonly ExpirationTime: string
  readonly CreateTime: string
  readonly Hash: Uint8Array
}

export interface AclTokenRow extends RowIndexes {
  readonly AccessorID: string
  readonly SecretID: string
  readonly Description: string
  readonly Policies: readonly AclLink[]
  readonly ServiceIdentities: readonly AclServiceIdentity[]
  readonly NodeIdentities: readonly AclNodeIdentity[]
  readonly Local: boolean
  readonly ExpirationTime: string
  readonly CreateTime: string
  readonly Hash: Uint8Array
}

export interface AclPolicyInput {
  readonly ID: string
  readonly Name: string
  readonly Description: string
  readonly Rules: string
  readonly Datacenters: readonly string[]
  readonly Hash: Uint8Array
}

export interface AclPolicyRow extends AclPolicyInput, RowIndexes {}

// ---------------------------------------------------------------------------------------------
// Cluster metadata (Consul's system-metadata table)

/** Key under which the cluster ID (the CA trust domain's first label) is stored. */
export const clusterIdKey = 'cluster-id'

export interface ClusterMetaEntry {
  readonly Key: string
  readonly Value: string
}

export interface ClusterMetaRow extends ClusterMetaEntry, RowIndexes {}
