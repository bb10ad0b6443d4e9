/**
 * The contract between the HTTP API (src/api) and the servers (src/rpc). HTTP handlers parse and
 * validate a request, call exactly one method here, and shape the reply; they never touch the
 * state store or Raft. On a server the implementation runs locally (forwarding writes and
 * default/consistent reads to the leader); on a client agent it sends the call to a server.
 *
 * Shapes follow Consul's API (PascalCase) so handlers can serialize them directly, except that
 * byte values are Uint8Array (the HTTP layer base64-encodes them).
 *
 * Errors: methods reject with ControlPlaneError; the code decides the HTTP status
 * (src/api/errors.ts): ERR_INVALID_INPUT 400, ERR_NOT_FOUND 404, ERR_NO_LEADER 500
 * "No cluster leader", ERR_TIMEOUT 504, ERR_OVERLOADED 429, ERR_PERMISSION_DENIED 403.
 */

import type { IntentionMatchBy, IntentionReply, IntentionRequest, IntentionSelector } from './intentions.js'

export type Consistency = 'default' | 'consistent' | 'stale'

export interface QueryOptions {
  readonly consistency: Consistency
  /** Blocking query: wait until the result's index exceeds this (0 = do not block). */
  readonly minQueryIndex: number
  /** Longest time to block, already capped by the HTTP layer (default 5 min, max 10 min). */
  readonly maxQueryTimeMs: number
  /** The request's ACL token secret (X-Consul-Token, Bearer, ?token=), or null. */
  readonly token: string | null
}

export interface WriteOptions {
  readonly token: string | null
}

export interface QueryMeta {
  /** X-Consul-Index: the max modify index of the tables read, never 0. */
  readonly index: number
  readonly knownLeader: boolean
  readonly lastContactMs: number
  readonly effectiveConsistency: 'leader' | 'consistent' | 'stale'
}

export interface QueryResult<T> {
  readonly meta: QueryMeta
  readonly value: T
}

export interface DirEntry {
  readonly Key: string
  readonly Value: Uint8Array | null
  readonly Flags: number
  readonly LockIndex: number
  readonly CreateIndex: number
  readonly ModifyIndex: number
  readonly Session?: string
}

export interface KvPutOptions {
  readonly flags: number
  /** null: unconditional; 0: only if absent; N: only if ModifyIndex is N. */
  readonly cas: number | null
}

export interface KvDeleteOptions {
  readonly recurse: boolean
  readonly cas: number | null
}

export type TxnKvVerb =
  | 'set' | 'cas' | 'lock' | 'unlock' | 'get' | 'get-or-empty' | 'get-tree' | 'check-index'
  | 'check-session' | 'check-not-exists' | 'delete' | 'delete-tree' | 'delete-cas'

export interface TxnKvOp {
  readonly Verb: TxnKvVerb
  readonly Key: string
  readonly Value: Uint8Array | null
  readonly Flags: number
  readonly Index: number
  readonly Session: string
}

export interface TxnResult {
  readonly ok: boolean
  readonly results: ReadonlyArray<{ readonly KV: DirEntry }>
  readonly errors: ReadonlyArray<{ readonly OpIndex: number, readonly What: string }>
  readonly index: number
}

export interface RaftServer {
  readonly ID: string
  readonly Node: string
  readonly Address: string
  readonly Leader: boolean
  readonly ProtocolVersion: string
  readonly Voter: boolean
  readonly LastIndex: number
}

export interface RaftConfigurationReply {
  readonly Servers: readonly RaftServer[]
  readonly Index: number
}

/** What snapshotRestoreBegin answers: the upload's session ID and the snapshot bytes per chunk. */
export interface SnapshotRestoreBegun {
  readonly Session: string
  readonly ChunkBytes: number
}

/** What a restore's finish claims about the chunks sent before it; the FSM checks it against the staging. */
export interface SnapshotRestoreClaim {
  readonly Chunks: number
  readonly Bytes: number
  readonly Crc32c: number
}

/** Catalog shapes are passed through as Consul JSON objects; see spec §4 and §5. */
export type CatalogRegistration = Readonly<Record<string, unknown>>
export type CatalogDeregistration = Readonly<Record<string, unknown>>

// ---------------------------------------------------------------------------------------------
// Connect CA (#4): spec §6 and §7.2.

/** A trusted root as /v1/connect/ca/roots shows it; the CA key and SigningCert never appear. */
export interface CaRootReply {
  readonly ID: string
  readonly Name: string
  readonly SerialNumber: number
  readonly SigningKeyID: string
  readonly ExternalTrustDomain: string
  readonly NotBefore: string
  readonly NotAfter: string
  readonly RootCert: string
  readonly IntermediateCerts: readonly string[] | null
  readonly Active: boolean
  readonly PrivateKeyType: string
  readonly PrivateKeyBits: number
  readonly CreateIndex: number
  readonly ModifyIndex: number
}

export interface CaRootsReply {
  readonly ActiveRootID: string
  readonly TrustDomain: string
  readonly Roots: readonly CaRootReply[]
}

export interface CaConfigReply {
  readonly Provider: string
  readonly Config: Readonly<Record<string, unknown>>
  readonly State: Readonly<Record<string, string>> | null
  readonly ForceWithoutCrossSigning: boolean
  readonly CreateIndex: number
  readonly ModifyIndex: number
}

export interface CaConfigUpdate {
  readonly Provider: string
  readonly Config: Readonly<Record<string, unknown>>
  readonly State: Readonly<Record<string, string>> | null
  readonly ForceWithoutCrossSigning: boolean
}

/** A signed leaf as the server returns it; the agent adds PrivateKeyPEM (the key never leaves it). */
export interface IssuedCertReply {
  /** Colon-hex of the serial, as Consul shows it ("0a", "01:2c"). */
  readonly SerialNumber: string
  /** The leaf, then the active root's intermediates (cross-signed certificates after a rotation). */
  readonly CertPEM: string
  readonly Service: string
  readonly ServiceURI: string
  readonly ValidAfter: string
  readonly ValidBefore: string
  /** The key ID of the root that signed it: the agent re-issues when the active root's differs. */
  readonly SigningKeyID: string
  readonly CreateIndex: number
  readonly ModifyIndex: number
}

export interface ServerApi {
  kvGet (key: string, options: { recurse: boolean }, query: QueryOptions): Promise<QueryResult<readonly DirEntry[]>>
  kvKeys (prefix: string, separator: string | null, query: QueryOptions): Promise<QueryResult<readonly string[]>>
  kvPut (key: string, value: Uint8Array, options: KvPutOptions, write: WriteOptions): Promise<boolean>
  kvDelete (key: string, options: KvDeleteOptions, write: WriteOptions): Promise<boolean>
  /** Read-only transactions are served as reads (query); others are one Raft write. */
  txn (ops: readonly TxnKvOp[], query: QueryOptions): Promise<TxnResult>

  catalogRegister (registration: CatalogRegistration, write: WriteOptions): Promise<boolean>
  catalogDeregister (deregistration: CatalogDeregistration, write: WriteOptions): Promise<boolean>
  catalogServices (query: QueryOptions): Promise<QueryResult<Readonly<Record<string, readonly string[]>>>>
  catalogService (name: string, options: { tags: readonly string[] }, query: QueryOptions): Promise<QueryResult<readonly unknown[]>>
  catalogNodes (query: QueryOptions): Promise<QueryResult<readonly unknown[]>>
  catalogNode (name: string, query: QueryOptions): Promise<QueryResult<unknown | null>>
  healthService (name: string, options: { passing: boolean, tags: readonly string[] }, query: QueryOptions): Promise<QueryResult<readonly unknown[]>>

  statusLeader (): Promise<string>
  statusPeers (): Promise<readonly string[]>
  raftConfiguration (query: QueryOptions): Promise<RaftConfigurationReply>
  raftRemovePeer (target: { readonly id: string } | { readonly address: string }, write: WriteOptions): Promise<void>
  raftTransferLeader (id: string | null, write: WriteOptions): Promise<void>

  snapshotSave (query: QueryOptions): Promise<{ readonly index: number, readonly data: Uint8Array }>
  /**
   * Restores a user's snapshot from `data` as it arrives: pieces of any size, pulled one at a
   * time only when the previous chunk has applied, so the caller's stream sees backpressure and
   * the snapshot is never held whole (src/rpc/snapshot-restore.ts). Resolves once the restore
   * applied on the leader. Local only (see rpcLocalOnlyMethods): a stream cannot cross one RPC,
   * so a client agent drives the chunk methods below instead, and a server refuses it over RPC.
   */
  snapshotRestore (data: AsyncIterable<Uint8Array>, write: WriteOptions): Promise<void>
  /**
   * The chunk-level restore a client agent drives (RpcClient.snapshotRestore): begin, then
   * chunks with Seq 0, 1, 2, ... each awaited before the next, then one finish (or an abort
   * after a failure). The staging is replicated FSM state and each call resolves only once its
   * entry applied on the leader, so any server may take any call and order still holds; the
   * client keeps to one server unless it fails. Begin logs nothing: it decides the session ID
   * and the chunk size.
   */
  snapshotRestoreBegin (write: WriteOptions): Promise<SnapshotRestoreBegun>
  /** Stages one chunk (1..ChunkBytes bytes). Sending an applied chunk again is harmless; a refused one rejects with details.restoreRefused. */
  snapshotRestoreChunk (session: string, seq: number, data: Uint8Array, write: WriteOptions): Promise<void>
  /** Restores the staged chunks if they match `claim` (rejects "snapshot rejected: ..." otherwise). Not idempotent: never repeat it after an unknown outcome. */
  snapshotRestoreFinish (session: string, claim: SnapshotRestoreClaim, write: WriteOptions): Promise<void>
  /** Drops the session's staged chunks (nothing if another upload replaced them). Harmless to repeat. */
  snapshotRestoreAbort (session: string, write: WriteOptions): Promise<void>

  // Connect CA (#4)
  caRoots (query: QueryOptions): Promise<QueryResult<CaRootsReply>>
  caConfiguration (query: QueryOptions): Promise<QueryResult<CaConfigReply>>
  caSetConfiguration (update: CaConfigUpdate, write: WriteOptions): Promise<void>
  /** Signs a CSR for `service` on the leader (followers forward). */
  caSign (csrPem: string, service: string, write: WriteOptions): Promise<IssuedCertReply>

  // Intentions (#4): spec §8.2; shapes and validation in intentions.ts, logic in intention-endpoints.ts.
  // Names are service names in the default namespace (CE). Reads block on the intentions table.
  /** Every intention in evaluation order (precedence descending, then names). */
  intentionList (query: QueryOptions): Promise<QueryResult<readonly IntentionReply[]>>
  /** null when there is no intention with this ID. */
  intentionGet (id: string, query: QueryOptions): Promise<QueryResult<IntentionReply | null>>
  intentionGetExact (source: string, destination: string, query: QueryOptions): Promise<QueryResult<IntentionReply | null>>
  /** Legacy create: the leader assigns the ID; a second intention for a pair is ERR_REJECTED (Consul's 500). */
  intentionCreate (intention: IntentionRequest, write: WriteOptions): Promise<{ readonly ID: string }>
  /** Legacy full replace by ID (the pair may change); an unknown ID is ERR_REJECTED. */
  intentionUpdate (id: string, intention: IntentionRequest, write: WriteOptions): Promise<{ readonly ID: string }>
  /** Create or replace the pair's intention (names from the arguments, not the body). */
  intentionUpsertExact (source: string, destination: string, intention: IntentionRequest, write: WriteOptions): Promise<{ readonly ID: string }>
  /** By ID, an unknown ID is ERR_REJECTED; by pair, deleting nothing succeeds. Resolves true. */
  intentionDelete (selector: IntentionSelector, write: WriteOptions): Promise<boolean>
  /** Every name is a key of the result, its matches in evaluation order. */
  intentionMatch (by: IntentionMatchBy, names: readonly string[], query: QueryOptions): Promise<QueryResult<Readonly<Record<string, readonly IntentionReply[]>>>>
  /** May source connect to destination? No match: the answering server's ACL default decides. */
  intentionCheck (source: string, destination: string, query: QueryOptions): Promise<QueryResult<{ readonly Allowed: boolean }>>

  // Connect proxy (#6): the mesh-capable endpoints of a service (spec §4, §5): connect-proxy
  // instances whose Proxy.DestinationServiceName is `name`, plus Connect-native instances of it.
  /** /v1/catalog/connect/<name>: ServiceNode objects, sorted by node then service ID. */
  catalogConnect (name: string, options: { tags: readonly string[] }, query: QueryOptions): Promise<QueryResult<readonly unknown[]>>
  /** /v1/health/connect/<name>: {Node, Service, Checks} entries; `passing` drops any with a non-passing check. */
  healthConnect (name: string, options: { passing: boolean, tags: readonly string[] }, query: QueryOptions): Promise<QueryResult<readonly unknown[]>>
}

/**
 * Every ServerApi method, checked complete by the compiler: the RPC surface. A server runs a
 * forwarded call only if its method is listed here (never a private helper of the class), and
 * RpcClient generates one forwarding method per entry.
 */
const serverApiMethodSet: { readonly [K in keyof ServerApi]: true } = {
  kvGet: true, kvKeys: true, kvPut: true, kvDelete: true, txn: true,
  catalogRegister: true, catalogDeregister: true, catalogServices: true, catalogService: true, catalogNodes: true, catalogNode: true, healthService: true,
  statusLeader: true, statusPeers: true, raftConfiguration: true, raftRemovePeer: true, raftTransferLeader: true,
  snapshotSave: true, snapshotRestore: true,
  snapshotRestoreBegin: true, snapshotRestoreChunk: true, snapshotRestoreFinish: true, snapshotRestoreAbort: true,
  caRoots: true, caConfiguration: true, caSetConfiguration: true, caSign: true,
  intentionList: true, intentionGet: true, intentionGetExact: true, intentionCreate: true, intentionUpdate: true, intentionUpsertExact: true,
  intentionDelete: true, intentionMatch: true, intentionCheck: true,
  catalogConnect: true, healthConnect: true // Connect proxy (#6)
}

export const serverApiMethods = Object.keys(serverApiMethodSet) as ReadonlyArray<keyof ServerApi>

export function isServerApiMethod (name: unknown): name is keyof ServerApi {
  return typeof name === 'string' && Object.prototype.hasOwnProperty.call(serverApiMethodSet, name)
}

/**
 * ServerApi methods whose arguments cannot cross one RPC frame: a server runs them only for its
 * own HTTP API and refuses them over RPC; RpcClient implements them with other methods.
 */
export const rpcLocalOnlyMethods: ReadonlySet<keyof ServerApi> = new Set<keyof ServerApi>(['snapshotRestore'])
