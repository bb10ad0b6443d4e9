/**
 * An in-memory ServerApi for the HTTP layer's tests: a faithful, simple model of the contract in
 * src/rpc/types.ts, not of Raft. One index counter plays the Raft log (the first write gets 2,
 * as in Consul); each table keeps its highest index including deletes; blocking reads wait on
 * listeners until their table index passes minQueryIndex or maxQueryTimeMs runs out.
 *
 * Tests can inspect every call (`calls`), make the next call of a method fail (`failNext`) and
 * set the query meta the "server" reports (`knownLeader`, `lastContactMs`).
 *
 * Callers: test/unit/api/*.test.ts via api-harness.ts.
 */
import type {
  CatalogDeregistration, CatalogRegistration, DirEntry, KvDeleteOptions, KvPutOptions, QueryMeta, QueryOptions, QueryResult,
  RaftConfigurationReply, ServerApi, SnapshotRestoreBegun, SnapshotRestoreClaim, TxnKvOp, TxnResult, WriteOptions,
  CaConfigReply, CaConfigUpdate, CaRootsReply, IssuedCertReply
} from '../../src/rpc/types.js'
import { ControlPlaneError } from '../../src/util/errors.js'
import type { IntentionMatchBy, IntentionReply, IntentionRequest, IntentionSelector } from '../../src/rpc/intentions.js' // Intentions (#4)
import { MemoryIntentions } from './memory-intentions.js' // Intentions (#4)

type Table = 'kvs' | 'catalog'

interface StoredEntry {
  readonly Key: string
  readonly Value: Uint8Array
  readonly Flags: number
  readonly LockIndex: number
  readonly CreateIndex: number
  readonly ModifyIndex: number
}

interface ServiceRecord {
  readonly node: string
  readonly service: Record<string, unknown>
}

export interface RecordedCall {
  readonly method: keyof ServerApi
  readonly args: readonly unknown[]
}

export class MemoryServerApi implements ServerApi {
  readonly calls: RecordedCall[] = []
  knownLeader = true
  lastContactMs = 0
  leader = '127.0.0.1:8300'
  peers: readonly string[] = ['127.0.0.1:8300']
  readonly raftServers = [
    { ID: 'a1b2c3d4-0000-0000-0000-000000000001', Node: 'alpha', Address: '127.0.0.1:8300', Leader: true, ProtocolVersion: '3', Voter: true, LastIndex: 1 }
  ]

  #index = 1
  readonly #tableIndex = new Map<Table, number>([['kvs', 0], ['catalog', 0]])
  #kv = new Map<string, StoredEntry>()
  readonly #nodes = new Map<string, Record<string, unknown>>()
  readonly #services = new Map<string, ServiceRecord>()
  readonly #listeners = new Set<() => void>()
  readonly #failures = new Map<keyof ServerApi, Error>()
  #releasing = false

  /** The next call of `method` rejects with `error` (once). */
  failNext (method: keyof ServerApi, error: Error): void {
    this.#failures.set(method, error)
  }

  lastCall (method: keyof ServerApi): readonly unknown[] | undefined {
    return this.calls.filter(call => call.method === method).at(-1)?.args
  }

  /** Ends every blocked read now (test teardown: no 10-minute timer keeps the process alive). */
  releaseWaiters (): void {
    this.#releasing = true
    this.#notify()
    this.intentions.release() // Intentions (#4)
  }

  /** Waiters currently blocked: lets tests know a blocking query has reached the server. */
  get waiterCount (): number {
    return this.#listeners.size
  }

  // -------------------------------------------------------------------------------------------
  // KV

  async kvGet (key: string, options: { recurse: boolean }, query: QueryOptions): Promise<QueryResult<readonly DirEntry[]>> {
    this.#record('kvGet', [key, options, query])
    return await this.#read('kvs', query, () => {
      if (!options.recurse) {
        const entry = this.#kv.get(key)
        return entry === undefined ? [] : [entry]
      }
      return [...this.#kv.values()].filter(entry => entry.Key.startsWith(key)).sort(byKey)
    })
  }

  async kvKeys (prefix: string, separator: string | null, query: QueryOptions): Promise<QueryResult<readonly string[]>> {
    this.#record('kvKeys', [prefix, separator, query])
    return await this.#read('kvs', query, () => {
      const keys = new Set<string>()
      for (const key of [...this.#kv.keys()].sort()) {
        if (!key.startsWith(prefix)) continue
        const cut = separator === null ? -1 : key.indexOf(separator, prefix.length)
        keys.add(cut === -1 ? key : key.slice(0, cut + (separator ?? '').length))
      }
      return [...keys]
    })
  }

  async kvPut (key: string, value: Uint8Array, options: KvPutOptions, write: WriteOptions): Promise<boolean> {
    this.#record('kvPut', [key, value, options, write])
    const existing = this.#kv.get(key)
    if (options.cas !== null && (existing?.ModifyIndex ?? 0) !== options.cas) return false
    const index = this.#nextIndex('kvs')
    this.#kv.set(key, { Key: key, Value: value.slice(), Flags: options.flags, LockIndex: 0, CreateIndex: existing?.CreateIndex ?? index, ModifyIndex: index })
    this.#notify()
    return true
  }

  async kvDelete (key: string, options: KvDeleteOptions, write: WriteOptions): Promise<boolean> {
    this.#record('kvDelete', [key, options, write])
    if (options.cas !== null && this.#kv.get(key)?.ModifyIndex !== options.cas) return false
    for (const existing of [...this.#kv.keys()]) {
      if (options.recurse ? existing.startsWith(key) : existing === key) this.#kv.delete(existing)
    }
    this.#nextIndex('kvs') // deletes move the table index (tombstones), so watchers wake
    this.#notify()
    return true
  }

  async txn (ops: readonly TxnKvOp[], query: QueryOptions): Promise<TxnResult> {
    this.#record('txn', [ops, query])
    const working = new Map(this.#kv)
    const isWrite = ops.some(op => !['get', 'get-tree', 'check-index', 'check-not-exists', 'check-session', 'get-or-empty'].includes(op.Verb))
    const index = isWrite ? this.#index + 1 : this.#tableIndex.get('kvs') ?? 0
    const results: Array<{ KV: DirEntry }> = []
    const errors: Array<{ OpIndex: number, What: string }> = []
    ops.forEach((op, opIndex) => {
      const what = applyTxnOp(working, op, index, results)
      if (what !== null) errors.push({ OpIndex: opIndex, What: what })
    })
    if (errors.length > 0) return { ok: false, results: [], errors, index: 0 }
    if (isWrite) {
      this.#kv = working
      this.#nextIndex('kvs')
      this.#notify()
    }
    return { ok: true, results, errors: [], index }
  }

  // -------------------------------------------------------------------------------------------
  // Catalog and health

  async catalogRegister (registration: CatalogRegistration, write: WriteOptions): Promise<boolean> {
    this.#record('catalogRegister', [registration, write])
    const index = this.#nextIndex('catalog')
    const node = String(registration.Node)
    this.#nodes.set(node, { ID: registration.ID ?? '', Node: node, Address: registration.Address ?? '', Datacenter: 'dc1', TaggedAddresses: registration.TaggedAddresses ?? {}, Meta: registration.NodeMeta ?? {}, CreateIndex: index, ModifyIndex: index })
    const service = registration.Service as Record<string, unknown> | undefined
    if (service !== undefined) {
      const id = String(service.ID ?? service.Service)
      this.#services.set(`${node}/${id}`, { node, service: { ...service, ID: id, Tags: service.Tags ?? [], CreateIndex: index, ModifyIndex: index } })
    }
    this.#notify()
    return true
  }

  async catalogDeregister (deregistration: CatalogDeregistration, write: WriteOptions): Promise<boolean> {
    this.#record('catalogDeregister', [deregistration, write])
    const node = String(deregistration.Node)
    if (deregistration.ServiceID !== undefined) this.#services.delete(`${node}/${String(deregistration.ServiceID)}`)
    else {
      this.#nodes.delete(node)
      for (const [key, record] of this.#services) if (record.node === node) this.#services.delete(key)
    }
    this.#nextIndex('catalog')
    this.#notify()
    return true
  }

  async catalogServices (query: QueryOptions): Promise<QueryResult<Readonly<Record<string, readonly string[]>>>> {
    this.#record('catalogServices', [query])
    return await this.#read('catalog', query, () => {
      const services: Record<string, string[]> = {}
      for (const { service } of this.#services.values()) {
        const name = String(service.Service)
        services[name] = [...new Set([...(services[name] ?? []), ...(service.Tags as string[])])].sort()
      }
      return services
    })
  }

  async catalogService (name: string, options: { tags: readonly string[] }, query: QueryOptions): Promise<QueryResult<readonly unknown[]>> {
    this.#record('catalogService', [name, options, query])
    return await this.#read('catalog', query, () => this.#instances(name, options.tags).map(({ node, service }) => ({
      Node: node, Address: this.#nodes.get(node)?.Address, ServiceID: service.ID, ServiceName: service.Service, ServiceTags: service.Tags, ServicePort: service.Port ?? 0
    })))
  }

  async catalogNodes (query: QueryOptions): Promise<QueryResult<readonly unknown[]>> {
    this.#record('catalogNodes', [query])
    return await this.#read('catalog', query, () => [...this.#nodes.values()].sort((a, b) => String(a.Node).localeCompare(String(b.Node))))
  }

  async catalogNode (name: string, query: QueryOptions): Promise<QueryResult<unknown | null>> {
    this.#record('catalogNode', [name, query])
    return await this.#read('catalog', query, () => {
      const node = this.#nodes.get(name)
      if (node === undefined) return null
      const services: Record<string, unknown> = {}
      for (const record of this.#services.values()) if (record.node === name) services[String(record.service.ID)] = record.service
      return { Node: node, Services: services }
    })
  }

  async healthService (name: string, options: { passing: boolean, tags: readonly string[] }, query: QueryOptions): Promise<QueryResult<readonly unknown[]>> {
    this.#record('healthService', [name, options, query])
    return await this.#read('catalog', query, () => this.#instances(name, options.tags).map(({ node, service }) => ({
      Node: this.#nodes.get(node), Service: service, Checks: []
    })))
  }

  // -------------------------------------------------------------------------------------------
  // Status, operator, snapshots

  async statusLeader (): Promise<string> {
    this.#record('statusLeader', [])
    return this.leader
  }

  async statusPeers (): Promise<readonly string[]> {
    this.#record('statusPeers', [])
    return this.peers
  }

  async raftConfiguration (query: QueryOptions): Promise<RaftConfigurationReply> {
    this.#record('raftConfiguration', [query])
    return { Servers: this.raftServers, Index: this.#index }
  }

  async raftRemovePeer (target: { readonly id: string } | { readonly address: string }, write: WriteOptions): Promise<void> {
    this.#record('raftRemovePeer', [target, write])
    const found = 'id' in target
      ? this.raftServers.some(server => server.ID === target.id)
      : this.raftServers.some(server => server.Address === target.address)
    if (!found) {
      const [what, value] = 'id' in target ? ['id', target.id] : ['address', target.address]
      throw new ControlPlaneError('ERR_NOT_FOUND', `${what} ${JSON.stringify(value)} was not found in the Raft configuration`)
    }
  }

  async raftTransferLeader (id: string | null, write: WriteOptions): Promise<void> {
    this.#record('raftTransferLeader', [id, write])
  }

  async snapshotSave (query: QueryOptions): Promise<{ readonly index: number, readonly data: Uint8Array }> {
    this.#record('snapshotSave', [query])
    const rows = [...this.#kv.values()].map(entry => ({ ...entry, Value: Buffer.from(entry.Value).toString('base64') }))
    return { index: this.#index, data: new TextEncoder().encode(JSON.stringify({ weftTestSnapshot: 1, rows })) }
  }

  /** Records the whole body it read (not the stream), so tests can compare bytes. */
  async snapshotRestore (data: AsyncIterable<Uint8Array>, write: WriteOptions): Promise<void> {
    const pieces: Uint8Array[] = []
    for await (const piece of data) pieces.push(piece)
    const whole = new Uint8Array(Buffer.concat(pieces))
    this.#record('snapshotRestore', [whole, write])
    this.#restoreFrom(whole)
  }

  // The chunk-level restore: uploads kept per session, in Seq order, a resent chunk ignored.
  readonly #restoreUploads = new Map<string, Uint8Array[]>()
  #restoreSessions = 0

  async snapshotRestoreBegin (write: WriteOptions): Promise<SnapshotRestoreBegun> {
    this.#record('snapshotRestoreBegin', [write])
    this.#restoreSessions += 1
    const Session = `memory-restore-${this.#restoreSessions}`
    this.#restoreUploads.set(Session, [])
    return { Session, ChunkBytes: 64 * 1024 }
  }

  async snapshotRestoreChunk (session: string, seq: number, data: Uint8Array, write: WriteOptions): Promise<void> {
    this.#record('snapshotRestoreChunk', [session, seq, data, write])
    const chunks = this.#restoreUploads.get(session)
    if (chunks === undefined) throw new ControlPlaneError('ERR_CONFLICT', `snapshot restore session ${session} has no upload`, { details: { restoreRefused: true } })
    if (seq < chunks.length) return
    if (seq > chunks.length) throw new ControlPlaneError('ERR_CONFLICT', `chunk ${seq} is out of order: expected chunk ${chunks.length}`, { details: { restoreRefused: true } })
    chunks.push(data)
  }

  async snapshotRestoreFinish (session: string, claim: SnapshotRestoreClaim, write: WriteOptions): Promise<void> {
    this.#record('snapshotRestoreFinish', [session, claim, write])
    const chunks = this.#restoreUploads.get(session) ?? []
    this.#restoreUploads.delete(session)
    const whole = new Uint8Array(Buffer.concat(chunks))
    if (chunks.length !== claim.Chunks || whole.byteLength !== claim.Bytes) {
      throw new ControlPlaneError('ERR_INVALID_INPUT', `snapshot rejected: staged ${chunks.length} chunks (${whole.byteLength} bytes), claimed ${claim.Chunks} (${claim.Bytes} bytes)`, { details: { restoreRefused: true } })
    }
    this.#restoreFrom(whole)
  }

  async snapshotRestoreAbort (session: string, write: WriteOptions): Promise<void> {
    this.#record('snapshotRestoreAbort', [session, write])
    this.#restoreUploads.delete(session)
  }

  #restoreFrom (data: Uint8Array): void {
    let parsed: { weftTestSnapshot?: number, rows?: Array<StoredEntry & { Value: string }> }
    try {
      parsed = JSON.parse(new TextDecoder().decode(data)) as typeof parsed
    } catch {
      throw new ControlPlaneError('ERR_INVALID_INPUT', 'snapshot is not a weft snapshot')
    }
    if (parsed.weftTestSnapshot !== 1) throw new ControlPlaneError('ERR_INVALID_INPUT', 'snapshot is not a weft snapshot')
    this.#kv = new Map((parsed.rows ?? []).map(row => [row.Key, { ...row, Value: new Uint8Array(Buffer.from(row.Value, 'base64')) }]))
    this.#nextIndex('kvs')
    this.#notify()
  }

  // -------------------------------------------------------------------------------------------

  #record (method: keyof ServerApi, args: readonly unknown[]): void {
    this.calls.push({ method, args })
    const failure = this.#failures.get(method)
    if (failure !== undefined) {
      this.#failures.delete(method)
      throw failure
    }
  }

  #nextIndex (table: Table): number {
    this.#index += 1
    this.#tableIndex.set(table, this.#index)
    return this.#index
  }

  #notify (): void {
    for (const listener of [...this.#listeners]) listener()
  }

  #instances (name: string, tags: readonly string[]): ServiceRecord[] {
    return [...this.#services.values()]
      .filter(record => record.service.Service === name)
      .filter(record => tags.every(tag => (record.service.Tags as string[]).includes(tag)))
  }

  /** Blocking read: wait while the table index is <= minQueryIndex, up to maxQueryTimeMs. */
  async #read<T> (table: Table, query: QueryOptions, compute: () => T): Promise<QueryResult<T>> {
    if (query.minQueryIndex > 0) await this.#waitPast(table, query.minQueryIndex, query.maxQueryTimeMs)
    return { meta: this.#meta(table, query), value: compute() }
  }

  async #waitPast (table: Table, minQueryIndex: number, maxQueryTimeMs: number): Promise<void> {
    if ((this.#tableIndex.get(table) ?? 0) > minQueryIndex) return
    await new Promise<void>(resolve => {
      const done = (): void => {
        clearTimeout(timer)
        this.#listeners.delete(listener)
        resolve()
      }
      const listener = (): void => { if (this.#releasing || (this.#tableIndex.get(table) ?? 0) > minQueryIndex) done() }
      const timer = setTimeout(done, maxQueryTimeMs)
      this.#listeners.add(listener)
    })
  }

  #meta (table: Table, query: QueryOptions): QueryMeta {
    const effective = { default: 'leader', consistent: 'consistent', stale: 'stale' } as const
    return {
      index: this.#tableIndex.get(table) ?? 0,
      knownLeader: this.knownLeader,
      lastContactMs: this.lastContactMs,
      effectiveConsistency: effective[query.consistency]
    }
  }

  // Connect CA (#4): a settable model; the real CA is tested against real servers.
  caRootsValue: CaRootsReply = { ActiveRootID: '', TrustDomain: '', Roots: [] }
  caConfigValue: CaConfigReply | null = null
  caSignValue: IssuedCertReply | null = null

  async caRoots (query: QueryOptions): Promise<QueryResult<CaRootsReply>> {
    this.#record('caRoots', [query])
    return { meta: this.#caMeta(query), value: this.caRootsValue }
  }

  async caConfiguration (query: QueryOptions): Promise<QueryResult<CaConfigReply>> {
    this.#record('caConfiguration', [query])
    if (this.caConfigValue === null) throw new ControlPlaneError('ERR_REJECTED', 'CA configuration not found: the CA is not bootstrapped yet')
    return { meta: this.#caMeta(query), value: this.caConfigValue }
  }

  async caSetConfiguration (update: CaConfigUpdate, write: WriteOptions): Promise<void> {
    this.#record('caSetConfiguration', [update, write])
  }

  async caSign (csrPem: string, service: string, write: WriteOptions): Promise<IssuedCertReply> {
    this.#record('caSign', [csrPem, service, write])
    if (this.caSignValue === null) throw new ControlPlaneError('ERR_REJECTED', 'CA is uninitialized and unable to sign certificates yet: provider is nil')
    return this.caSignValue
  }

  #caMeta (query: QueryOptions): QueryMeta {
    return { index: Math.max(1, this.#index), knownLeader: this.knownLeader, lastContactMs: this.lastContactMs, effectiveConsistency: query.consistency === 'default' ? 'leader' : query.consistency }
  }

  // Intentions (#4): the real endpoint logic over a real FSM (memory-intentions.ts).
  readonly intentions = new MemoryIntentions({
    meta: (index, query) => ({ index, knownLeader: this.knownLeader, lastContactMs: this.lastContactMs, effectiveConsistency: query.consistency === 'default' ? 'leader' : query.consistency })
  })

  async intentionList (query: QueryOptions): Promise<QueryResult<readonly IntentionReply[]>> {
    this.#record('intentionList', [query])
    return await this.intentions.endpoints.list(query)
  }

  async intentionGet (id: string, query: QueryOptions): Promise<QueryResult<IntentionReply | null>> {
    this.#record('intentionGet', [id, query])
    return await this.intentions.endpoints.get(id, query)
  }

  async intentionGetExact (source: string, destination: string, query: QueryOptions): Promise<QueryResult<IntentionReply | null>> {
    this.#record('intentionGetExact', [source, destination, query])
    return await this.intentions.endpoints.getExact(source, destination, query)
  }

  async intentionCreate (intention: IntentionRequest, write: WriteOptions): Promise<{ readonly ID: string }> {
    this.#record('intentionCreate', [intention, write])
    return await this.intentions.endpoints.create(intention, write)
  }

  async intentionUpdate (id: string, intention: IntentionRequest, write: WriteOptions): Promise<{ readonly ID: string }> {
    this.#record('intentionUpdate', [id, intention, write])
    return await this.intentions.endpoints.update(id, intention, write)
  }

  async intentionUpsertExact (source: string, destination: string, intention: IntentionRequest, write: WriteOptions): Promise<{ readonly ID: string }> {
    this.#record('intentionUpsertExact', [source, destination, intention, write])
    return await this.intentions.endpoints.upsertExact(source, destination, intention, write)
  }

  async intentionDelete (selector: IntentionSelector, write: WriteOptions): Promise<boolean> {
    this.#record('intentionDelete', [selector, write])
    return await this.intentions.endpoints.delete(selector, write)
  }

  async intentionMatch (by: IntentionMatchBy, names: readonly string[], query: QueryOptions): Promise<QueryResult<Readonly<Record<string, readonly IntentionReply[]>>>> {
    this.#record('intentionMatch', [by, names, query])
    return await this.intentions.endpoints.match(by, names, query)
  }

  async intentionCheck (source: string, destination: string, query: QueryOptions): Promise<QueryResult<{ readonly Allowed: boolean }>> {
    this.#record('intentionCheck', [source, destination, query])
    return await this.intentions.endpoints.check(source, destination, query)
  }

  // -------------------------------------------------------------------------------------------
  // Connect proxy (#6): proxies whose destination is `name`, plus native instances of `name`.

  async catalogConnect (name: string, options: { tags: readonly string[] }, query: QueryOptions): Promise<QueryResult<readonly unknown[]>> {
    this.#record('catalogConnect', [name, options, query])
    return await this.#read('catalog', query, () => this.#connectInstances(name, options.tags).map(({ node, service }) => ({
      Node: node, Address: this.#nodes.get(node)?.Address, ServiceKind: service.Kind ?? '', ServiceID: service.ID, ServiceName: service.Service,
      ServiceTags: service.Tags, ServicePort: service.Port ?? 0, ServiceProxy: service.Proxy ?? {}
    })))
  }

  async healthConnect (name: string, options: { passing: boolean, tags: readonly string[] }, query: QueryOptions): Promise<QueryResult<readonly unknown[]>> {
    this.#record('healthConnect', [name, options, query])
    return await this.#read('catalog', query, () => this.#connectInstances(name, options.tags).map(({ node, service }) => ({
      Node: this.#nodes.get(node), Service: service, Checks: []
    })))
  }

  #connectInstances (name: string, tags: readonly string[]): ServiceRecord[] {
    return [...this.#services.values()].filter(({ service }) => {
      const proxy = (service.Proxy ?? {}) as Record<string, unknown>
      const connect = (service.Connect ?? {}) as Record<string, unknown>
      const isProxy = service.Kind === 'connect-proxy' && proxy.DestinationServiceName === name
      const isNative = service.Service === name && connect.Native === true
      return (isProxy || isNative) && tags.every(tag => (service.Tags as string[]).includes(tag))
    })
  }
}

function byKey (a: StoredEntry, b: StoredEntry): number {
  return a.Key < b.Key ? -1 : a.Key > b.Key ? 1 : 0
}

/** One txn op against the working copy; returns the error text, or null on success. */
function applyTxnOp (working: Map<string, StoredEntry>, op: TxnKvOp, index: number, results: Array<{ KV: DirEntry }>): string | null {
  const existing = working.get(op.Key)
  const set = (): void => {
    const entry = { Key: op.Key, Value: op.Value ?? new Uint8Array(0), Flags: op.Flags, LockIndex: 0, CreateIndex: existing?.CreateIndex ?? index, ModifyIndex: index }
    working.set(op.Key, entry)
    results.push({ KV: { ...entry, Value: null } })
  }
  switch (op.Verb) {
    case 'set': set(); return null
    case 'cas':
      if ((existing?.ModifyIndex ?? 0) !== op.Index) return `failed to set key "${op.Key}", index is stale`
      set(); return null
    case 'get':
      if (existing === undefined) return `key "${op.Key}" doesn't exist`
      results.push({ KV: existing }); return null
    case 'get-tree':
      for (const entry of [...working.values()].filter(entry => entry.Key.startsWith(op.Key)).sort(byKey)) results.push({ KV: entry })
      return null
    case 'check-index':
      return existing?.ModifyIndex === op.Index ? null : `current modify index ${existing?.ModifyIndex ?? 0} != ${op.Index}`
    case 'check-not-exists':
      return existing === undefined ? null : `key "${op.Key}" exists`
    case 'delete': working.delete(op.Key); return null
    case 'delete-tree':
      for (const key of [...working.keys()]) if (key.startsWith(op.Key)) working.delete(key)
      return null
    case 'delete-cas':
      if (existing?.ModifyIndex !== op.Index) return `failed to delete key "${op.Key}", index is stale`
      working.delete(op.Key); return null
    default:
      return `verb "${op.Verb}" is not supported by the test double`
  }
}
