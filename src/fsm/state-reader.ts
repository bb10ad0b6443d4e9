/**
 * The read-only view of the replicated state that RPC endpoints use (they never write: only
 * the FSM does, through StateStore's write methods). Everything returned is immutable: rows are
 * frozen and replaced, never edited, so a reader may keep them as long as it likes.
 *
 * Blocking queries: read `tableIndex`/`maxTableIndex`/`serviceIndex`; if it is not above the
 * client's `?index`, register an `onChange` listener and re-run the query when a change
 * touches one of the query's tables (or when the wait expires). Listeners run synchronously
 * inside the FSM's apply, after the state changed, so they must be quick and must not throw.
 *
 * Indexes: each table's index is the highest Raft index that changed it, deletes included.
 * A query's X-Consul-Index is the max over the tables it reads (never report 0: use 1).
 */
import type { ServiceSummary } from './tables/catalog.js'
import type { IntentionMatchQuery } from './tables/intentions.js'
import type {
  AclPolicyRow, AclTokenRow, CaConfigRow, CaProviderStateRow, CaRootRow, CaRoots, CheckRow, CheckStatus,
  ClusterMetaRow, IntentionPair, IntentionRow, KvEntry, NodeRow, ServiceHealth, ServiceInstance, ServiceRow, TableName
} from './types.js'

export type { ServiceSummary } from './tables/catalog.js'
export type { IntentionMatchQuery } from './tables/intentions.js'

export interface StoreChange {
  /** The tables this apply changed (never empty). */
  readonly tables: ReadonlySet<TableName>
  /** The Raft index of the apply; every table in `tables` now has this index. */
  readonly index: number
}

export type ChangeListener = (change: StoreChange) => void

export interface StateReader {
  /** Raft index of the last command applied (0 before the first). */
  appliedIndex (): number
  tableIndex (table: TableName): number
  maxTableIndex (tables: readonly TableName[]): number
  /**
   * Calls `listener` after every apply that changed at least one table, and after a snapshot
   * restore (with every table). Returns the function that unregisters it.
   */
  onChange (listener: ChangeListener): () => void

  // KV ---------------------------------------------------------------------------------------
  kvGet (key: string): KvEntry | undefined
  /** Entries whose key starts with `prefix` ('' = all), sorted by key (UTF-8 byte order). */
  kvList (prefix: string): KvEntry[]
  /** `?keys[&separator=]`: keys under `prefix`, cut after the first separator past the prefix. */
  kvKeys (prefix: string, separator: string): string[]

  // Catalog and health -----------------------------------------------------------------------
  catalogNode (name: string): NodeRow | undefined
  catalogNodes (): NodeRow[]
  catalogNodeServices (nodeName: string): ServiceRow[]
  catalogNodeChecks (nodeName: string): CheckRow[]
  catalogService (nodeName: string, serviceId: string): ServiceRow | undefined
  catalogServiceSummaries (): ServiceSummary[]
  catalogServiceInstances (name: string): ServiceInstance[]
  catalogConnectInstances (name: string): ServiceInstance[]
  healthService (name: string, options: { connect: boolean }): ServiceHealth[]
  healthServiceChecks (name: string): CheckRow[]
  healthChecksInState (state: CheckStatus | 'any'): CheckRow[]
  /** X-Consul-Index for queries about one service name (instances, checks, proxies). */
  serviceIndex (name: string): number

  // Intentions -------------------------------------------------------------------------------
  intention (id: string): IntentionRow | undefined
  intentionExact (pair: IntentionPair): IntentionRow | undefined
  /** All intentions in evaluation order (precedence descending, then names). */
  intentions (): IntentionRow[]
  intentionMatch (query: IntentionMatchQuery): IntentionRow[]

  // Connect CA -------------------------------------------------------------------------------
  caConfig (): CaConfigRow | undefined
  caRoots (): CaRoots
  caActiveRoot (): CaRootRow | undefined
  caProviderState (id: string): CaProviderStateRow | undefined
  /** The last certificate serial handed out (0 before the first). */
  caLastSerial (): number

  // ACL --------------------------------------------------------------------------------------
  aclToken (accessorId: string): AclTokenRow | undefined
  aclTokenBySecret (secretId: string): AclTokenRow | undefined
  aclTokens (filter?: { policyId?: string }): AclTokenRow[]
  aclPolicy (id: string): AclPolicyRow | undefined
  aclPolicyByName (name: string): AclPolicyRow | undefined
  aclPolicies (): AclPolicyRow[]

  // Cluster metadata -------------------------------------------------------------------------
  clusterMeta (key: string): ClusterMetaRow | undefined
  clusterMetaList (): ClusterMetaRow[]
  /** The cluster ID once a leader stored one. */
  clusterId (): string | undefined
}
