/**
 * The replicated state store: every table of the control plane in memory, the read view RPC
 * code uses (StateReader), and the write methods only the FSM calls.
 *
 * Contract of the write methods: each takes the Raft index of the entry being applied and is
 * called exactly once per applied command, with indexes strictly increasing. Each is
 * deterministic (no clocks, randomness or I/O) and changes rows only through the tables, which
 * record CreateIndex/ModifyIndex and move table indexes. After each write the listeners
 * registered with onChange hear which tables moved.
 *
 * A write refused because of the state it found (a CAS mismatch, a duplicate intention) is an
 * ordinary result, not an exception. An exception from a write means a broken invariant, i.e.
 * a bug; the FSM lets it escape and the Raft shell stops the node rather than diverge.
 *
 * Callers: fsm.ts (writes), snapshot.ts (rebuild), RPC endpoints (reads, via StateReader).
 */
import { assert, AssertionError, assertSafeIndex } from '../util/assert.js'
import { restoreFromRecords, type RestoredState } from './snapshot.js'
import type { ChangeListener, IntentionMatchQuery, ServiceSummary, StateReader } from './state-reader.js'
import { runKvTxn } from './tables/kv-txn.js'
import type { KvWrite } from './tables/kv.js'
import type { RestoreChunkOutcome, RestoreFinishClaim } from './tables/restore-staging.js'
import { Tables } from './tables/tables.js'
import {
  clusterIdKey, tableNames,
  type AclPolicyInput, type AclPolicyRow, type AclTokenInput, type AclTokenRow, type CaConfigInput, type CaConfigRow,
  type CaProviderStateInput, type CaProviderStateRow, type CaRootInput, type CaRootRow, type CaRoots,
  type CatalogDeregistration, type CatalogRegistration, type CheckRow, type CheckStatus, type ClusterMetaEntry,
  type ClusterMetaRow, type IntentionInput, type IntentionPair, type IntentionRow, type IntentionTarget,
  type IntentionUpsertMode, type KvEntry, type KvTxnOp, type KvTxnOutcome, type NodeRow, type ServiceHealth,
  type ServiceInstance, type ServiceRow, type TableName, type WriteOutcome
} from './types.js'

export class StateStore implements StateReader {
  private tables = new Tables()
  private lastApplied = 0
  private readonly listeners = new Set<ChangeListener>()

  // -------------------------------------------------------------------------------------------
  // Indexes and change notification

  appliedIndex (): number {
    return this.lastApplied
  }

  tableIndex (table: TableName): number {
    return this.tables.indexes.get(table)
  }

  maxTableIndex (tables: readonly TableName[]): number {
    return tables.reduce((highest, table) => Math.max(highest, this.tableIndex(table)), 0)
  }

  onChange (listener: ChangeListener): () => void {
    this.listeners.add(listener)
    return () => { this.listeners.delete(listener) }
  }

  // -------------------------------------------------------------------------------------------
  // Reads

  kvGet (key: string): KvEntry | undefined { return this.tables.kv.get(key) }
  kvList (prefix: string): KvEntry[] { return this.tables.kv.list(prefix) }
  kvKeys (prefix: string, separator: string): string[] { return this.tables.kv.listKeys(prefix, separator) }

  catalogNode (name: string): NodeRow | undefined { return this.tables.catalog.node(name) }
  catalogNodes (): NodeRow[] { return this.tables.catalog.listNodes() }
  catalogNodeServices (nodeName: string): ServiceRow[] { return this.tables.catalog.nodeServices(nodeName) }
  catalogNodeChecks (nodeName: string): CheckRow[] { return this.tables.catalog.nodeChecks(nodeName) }
  catalogService (nodeName: string, serviceId: string): ServiceRow | undefined { return this.tables.catalog.service(nodeName, serviceId) }
  catalogServiceSummaries (): ServiceSummary[] { return this.tables.catalog.serviceSummaries() }
  catalogServiceInstances (name: string): ServiceInstance[] { return this.tables.catalog.serviceInstances(name) }
  catalogConnectInstances (name: string): ServiceInstance[] { return this.tables.catalog.connectInstances(name) }
  healthService (name: string, options: { connect: boolean }): ServiceHealth[] { return this.tables.catalog.serviceHealth(name, options) }
  healthServiceChecks (name: string): CheckRow[] { return this.tables.catalog.serviceChecks(name) }
  healthChecksInState (state: CheckStatus | 'any'): CheckRow[] { return this.tables.catalog.checksInState(state) }
  serviceIndex (name: string): number { return this.tables.catalog.serviceIndex(name) }

  intention (id: string): IntentionRow | undefined { return this.tables.intentions.get(id) }
  intentionExact (pair: IntentionPair): IntentionRow | undefined { return this.tables.intentions.getExact(pair) }
  intentions (): IntentionRow[] { return this.tables.intentions.list() }
  intentionMatch (query: IntentionMatchQuery): IntentionRow[] { return this.tables.intentions.match(query) }

  caConfig (): CaConfigRow | undefined { return this.tables.ca.getConfig() }
  caRoots (): CaRoots { return this.tables.ca.getRoots() }
  caActiveRoot (): CaRootRow | undefined { return this.tables.ca.activeRoot() }
  caProviderState (id: string): CaProviderStateRow | undefined { return this.tables.ca.providerState(id) }
  caLastSerial (): number { return this.tables.ca.lastSerial() }

  aclToken (accessorId: string): AclTokenRow | undefined { return this.tables.acl.token(accessorId) }
  aclTokenBySecret (secretId: string): AclTokenRow | undefined { return this.tables.acl.tokenBySecret(secretId) }
  aclTokens (filter: { policyId?: string } = {}): AclTokenRow[] { return this.tables.acl.listTokens(filter) }
  aclPolicy (id: string): AclPolicyRow | undefined { return this.tables.acl.policy(id) }
  aclPolicyByName (name: string): AclPolicyRow | undefined { return this.tables.acl.policyByName(name) }
  aclPolicies (): AclPolicyRow[] { return this.tables.acl.listPolicies() }

  clusterMeta (key: string): ClusterMetaRow | undefined { return this.tables.meta.get(key) }
  clusterMetaList (): ClusterMetaRow[] { return this.tables.meta.list() }
  clusterId (): string | undefined { return this.tables.meta.get(clusterIdKey)?.Value }

  // -------------------------------------------------------------------------------------------
  // Writes (the FSM only). `cas` undefined means unconditional.

  /** Returns false (and changes nothing) on a CAS mismatch. */
  kvSet (index: number, write: KvWrite, cas: number | undefined): boolean {
    return this.write(index, () => {
      if (cas !== undefined) return this.tables.kv.setCas(index, write, cas) !== null
      this.tables.kv.set(index, write)
      return true
    })
  }

  /**
   * Deletes one key (or, with `recurse`, every key under the prefix). With `cas`, deletes only
   * if the key's ModifyIndex matches; returns false on a mismatch (a missing key counts as a
   * match, as in Consul). Without `cas` it always returns true.
   */
  kvDelete (index: number, key: string, options: { recurse: boolean, cas: number | undefined }): boolean {
    assert(!(options.recurse && options.cas !== undefined), 'kvDelete: recurse and cas are exclusive')
    return this.write(index, () => {
      if (options.cas !== undefined) return this.tables.kv.deleteCas(index, key, options.cas)
      if (options.recurse) this.tables.kv.deleteTree(index, key)
      else this.tables.kv.delete(index, key)
      return true
    })
  }

  /** Runs every op; if any fails, undoes them all and reports every failure. */
  kvTxn (index: number, ops: readonly KvTxnOp[]): KvTxnOutcome {
    return this.write(index, () => {
      const mark = this.tables.indexes.mark()
      this.tables.kv.beginJournal()
      const run = runKvTxn(this.tables.kv, index, ops)
      if (run.errors.length === 0) {
        this.tables.kv.endJournal()
        return { ok: true, Results: run.results }
      }
      this.tables.kv.rollbackJournal()
      this.tables.indexes.rollbackTo(mark)
      return { ok: false, Errors: run.errors }
    })
  }

  catalogRegister (index: number, registration: CatalogRegistration): WriteOutcome {
    return this.write(index, () => this.tables.catalog.register(index, registration))
  }

  catalogDeregister (index: number, target: CatalogDeregistration): WriteOutcome {
    return this.write(index, () => {
      this.tables.catalog.deregister(index, target)
      return { ok: true }
    })
  }

  intentionUpsert (index: number, mode: IntentionUpsertMode, input: IntentionInput): WriteOutcome<{ ID: string }> {
    return this.write(index, () => this.tables.intentions.upsert(index, mode, input))
  }

  /** Returns whether an intention was deleted. */
  intentionDelete (index: number, target: IntentionTarget): boolean {
    return this.write(index, () => this.tables.intentions.delete(index, target))
  }

  caSetConfig (index: number, input: CaConfigInput, cas: number | undefined): boolean {
    return this.write(index, () => this.tables.ca.setConfig(index, input, cas))
  }

  caSetRoots (index: number, roots: readonly CaRootInput[], options: { cas: number | undefined, config: CaConfigInput | undefined }): boolean {
    return this.write(index, () => this.tables.ca.setRoots(index, roots, options))
  }

  caSetProviderState (index: number, input: CaProviderStateInput): void {
    this.write(index, () => this.tables.ca.setProviderState(index, input))
  }

  caDeleteProviderState (index: number, id: string): boolean {
    return this.write(index, () => this.tables.ca.deleteProviderState(index, id))
  }

  /** Returns the serial number allocated to the caller (1, 2, ...). */
  caIncrementSerial (index: number, count: number): number {
    return this.write(index, () => this.tables.ca.incrementSerial(index, count))
  }

  aclTokenSet (index: number, input: AclTokenInput): WriteOutcome {
    return this.write(index, () => this.tables.acl.setToken(index, input))
  }

  aclTokenDelete (index: number, accessorId: string): boolean {
    return this.write(index, () => this.tables.acl.deleteToken(index, accessorId))
  }

  aclPolicySet (index: number, input: AclPolicyInput): WriteOutcome {
    return this.write(index, () => this.tables.acl.setPolicy(index, input))
  }

  aclPolicyDelete (index: number, id: string): boolean {
    return this.write(index, () => this.tables.acl.deletePolicy(index, id))
  }

  clusterMetaSet (index: number, entries: readonly ClusterMetaEntry[], options: { ifAbsent: boolean }): boolean {
    return this.write(index, () => this.tables.meta.set(index, entries, options))
  }

  // -------------------------------------------------------------------------------------------
  // A user's snapshot restored through the log (PUT /v1/snapshot; tables/restore-staging.ts).

  /** Stages one chunk; ok: false (nothing changed) if it is out of order or its upload was replaced. */
  restoreChunk (index: number, chunk: { session: string, seq: number, data: Uint8Array }): RestoreChunkOutcome {
    return this.write(index, () => this.tables.restoreStaging.accept(chunk.session, chunk.seq, chunk.data))
  }

  /**
   * Restores the staged upload as the whole state at `index` (every row, table index and the
   * applied index take `index`; staging from the snapshot's source is dropped). All or nothing:
   * on ok: false the tables are the ones before, and the staging of `claim.Session` is cleared.
   */
  restoreFinish (index: number, claim: RestoreFinishClaim): WriteOutcome {
    return this.write(index, () => {
      const taken = this.tables.restoreStaging.takeForFinish(claim)
      if (!taken.ok) return taken
      let restored: RestoredState
      try {
        restored = restoreFromRecords(taken.chunks, { stampIndex: index })
      } catch (err) {
        // The restorer builds fresh tables and touches nothing live, so whatever it threw, the
        // state is unchanged. It is reported, not rethrown: the entry stays in the log, and a
        // throw would stop every replica again each time it replays the entry.
        const message = (err as Error).message
        return { ok: false, code: 'ERR_INVALID_INPUT', message: message.startsWith('invalid snapshot') ? message : `invalid snapshot: ${message}` }
      }
      this.replaceTables(restored.tables, restored.appliedIndex)
      return { ok: true }
    })
  }

  /** Drops the staged chunks if they belong to `session`; returns whether it did. */
  restoreAbort (index: number, session: string): boolean {
    return this.write(index, () => this.tables.restoreStaging.abort(session))
  }

  /** The staged upload's session and size (tests, logs). */
  restoreStagingStatus (): ReturnType<Tables['restoreStaging']['status']> {
    return this.tables.restoreStaging.status()
  }

  /** A command that changes no table (a barrier): only the applied index moves. */
  noop (index: number): void {
    this.write(index, () => undefined)
  }

  // -------------------------------------------------------------------------------------------
  // Snapshots (snapshot.ts only)

  /** The live tables, for writing a snapshot. Callers must not write through them. */
  tablesForSnapshot (): Tables {
    return this.tables
  }

  /**
   * Replaces the whole state with `tables`, which a snapshot restore built, and tells every
   * listener that every table changed.
   */
  replaceTables (tables: Tables, appliedIndex: number): void {
    assertSafeIndex(appliedIndex, 'restored applied index')
    this.tables = tables
    this.lastApplied = appliedIndex
    this.notify({ tables: new Set(tableNames), index: appliedIndex })
  }

  private write<T> (index: number, body: () => T): T {
    assertSafeIndex(index, 'apply index')
    assert(index > this.lastApplied, `apply index ${index} must exceed the last applied index ${this.lastApplied}`)
    const result = body()
    this.lastApplied = index
    const touched = this.tables.indexes.takeTouched()
    if (touched.size > 0) this.notify({ tables: touched, index })
    return result
  }

  private notify (change: { tables: ReadonlySet<TableName>, index: number }): void {
    let failure: unknown
    for (const listener of [...this.listeners]) {
      try {
        listener(change)
      } catch (err) {
        failure ??= err
      }
    }
    if (failure !== undefined) throw new AssertionError('a state change listener threw; listeners must not throw', { cause: failure })
  }
}
