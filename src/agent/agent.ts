/**
 * The agent: the composition root that wires one process together (STYLE §3). A server runs the
 * Raft node over the FSM, the RPC endpoints and the leader's background work; a client agent
 * forwards RPCs to a server. Both serve the HTTP API and the discovery port.
 *
 *   HTTP API (src/api) ──► ServerApi ──┬─ server: LocalServerApi ─► RaftNode ─► Fsm (state store)
 *                                      └─ client: RpcClient ──ZeroMQ CURVE──► a server's LocalServerApi
 *   discovery (LAN port): hello / join ──► admit RPC keys; the leader adds new servers as learners
 *
 * Clustering: a server with Raft state starts at once. A fresh server contacts its -retry-join
 * addresses: if any of them already belongs to a cluster it asks to join (the leader adds it as a
 * learner and promotes it once caught up); otherwise, once bootstrap_expect servers are known and
 * none has Raft state, the bootstrap_expect servers with the lowest node IDs each write the same
 * founding configuration, so exactly one cluster forms whatever the start order.
 */
import { randomUUID } from 'node:crypto'
import { mkdir, readFile, writeFile, rename } from 'node:fs/promises'
import { join } from 'node:path'
import type { Logger } from 'pino'
import { ControlPlaneError } from '../util/errors.js'
import { Fsm, encodeCommand } from '../fsm/index.js'
import { LevelStorage } from '../raft/level-storage.js'
import { MemoryStorage } from '../raft/memory-storage.js'
import { ZmqTransport } from '../raft/zmq-transport.js'
import { generateCurveKeyPair, loadOrCreateCurveKeyPair, type CurveKeyPair } from '../raft/curve-keys.js'
import { RaftNode, formatPeerAddress } from '../raft/node.js'
import type { Configuration, NodeId } from '../raft/core/types.js'
import type { RaftStorage } from '../raft/storage.js'
import { LocalServerApi, type RpcRequest } from '../rpc/server-api.js'
import { RpcClient } from '../rpc/rpc-client.js'
import type { ServerApi } from '../rpc/types.js'
import { LeafCache, RootsWatcher } from './connect-cache.js'
import { IntentionCache, intentionDefaultsFrom, localIntentionFetch, rpcIntentionFetch } from './intention-cache.js' // Intentions (#4)
import { ConnectCa } from '../rpc/connect-ca.js'
import { devMinimumLeafTtlMs, standardMinimumLeafTtlMs } from '../ca/config.js'
import { connectDisabledMessage } from '../rpc/server-api.js'
import { createCsrPem, generateLeafKey } from '../ca/csr.js'
import { serviceUri } from '../ca/spiffe.js'
import { LocalServices, type LocalServicesSettings } from './services/local-services.js' // Agent services (#5/#6)
import { discoveryExchange, startDiscoveryServer, type DiscoveryReply, type DiscoveryRequest, type MemberInfo } from './discovery.js'

/** The slice of the agent configuration this module needs (built from Config by run.ts). */
export interface AgentSettings {
  readonly nodeName: string
  readonly datacenter: string
  /** null: keep everything in memory (-dev). */
  readonly dataDir: string | null
  readonly server: boolean
  readonly bootstrap: boolean
  readonly bootstrapExpect: number
  readonly bindAddr: string
  readonly advertiseAddr: string
  readonly serverPort: number
  readonly serfLanPort: number
  readonly clientAddr: string
  readonly httpPort: number
  readonly retryJoin: readonly string[]
  readonly retryIntervalMs: number
  readonly encrypt: string | null
  /** Raft timing from performance.raft_multiplier (Config.raft). */
  readonly raftTickMs: number
  readonly raftElectionTicks: number
  readonly raftHeartbeatTicks: number
  readonly version: string
  /** `connect.enabled`: servers bootstrap and run the CA; agents serve the Connect endpoints. */
  readonly connectEnabled: boolean
  /** `connect.ca_config` as written (snake_case keys). */
  readonly caConfig: Readonly<Record<string, unknown>>
  /** -dev: allows leaf TTLs down to 10 s (src/ca/config.ts). */
  readonly dev: boolean
  /** Intentions (#4): `acl.enabled` / `acl.default_policy`, the default when no intention matches (absent: ACLs disabled). */
  readonly acl?: { readonly enabled: boolean, readonly defaultPolicy: 'allow' | 'deny' }
  /** Agent services (#5/#6): local services and checks; absent: none, and no anti-entropy. */
  readonly services?: LocalServicesSettings
}

export interface Member {
  readonly info: MemberInfo
  status: 'alive' | 'left' | 'failed'
  lastSeenMs: number
}

export class Agent {
  readonly settings: AgentSettings
  readonly logger: Logger
  nodeId = ''
  private keyPair: CurveKeyPair | null = null
  private transport: ZmqTransport | null = null
  raft: RaftNode | null = null
  fsm: Fsm | null = null
  serverApi: ServerApi | null = null
  private localApi: LocalServerApi | null = null
  connectCa: ConnectCa | null = null
  private storage: RaftStorage | null = null
  private discovery: { port: number, close: () => Promise<void> } | null = null
  readonly members = new Map<string, Member>()
  private timers: NodeJS.Timeout[] = []
  private stopping = false
  private raftStarting = false
  httpAddress = ''
  private connectCachesValue: { readonly roots: RootsWatcher, readonly leaves: LeafCache } | null = null
  /** Intentions (#4): the agent's copy of every intention (authorize). */
  intentionCache: IntentionCache | null = null
  /** Agent services (#5/#6): this agent's services and checks, kept in the catalog by anti-entropy. */
  localServices: LocalServices | null = null
  /** Set by run.ts: `weft leave` (PUT /v1/agent/leave) asks the process to leave and exit. */
  onLeaveRequested: (() => void) | null = null

  constructor (settings: AgentSettings, logger: Logger) {
    this.settings = settings
    this.logger = logger
  }

  /** Opens state, binds every socket, starts Raft (or the join / bootstrap procedure). */
  async start (): Promise<void> {
    const { settings } = this
    if (settings.dataDir !== null) await mkdir(settings.dataDir, { recursive: true, mode: 0o700 })
    this.nodeId = await this.loadNodeId()
    this.keyPair = settings.dataDir === null ? generateCurveKeyPair() : (await loadOrCreateCurveKeyPair(settings.dataDir)).keyPair
    const transportLogger = this.logger.child({ component: 'transport' })
    this.transport = new ZmqTransport({
      localId: this.nodeId,
      bindEndpoint: `tcp://${settings.bindAddr}:${settings.serverPort}`,
      keyPair: this.keyPair,
      logger: transportLogger
    })
    if (settings.server) await this.startServerParts()
    else await this.startClientParts()
    this.startIntentionCache() // Intentions (#4)
    if (settings.services !== undefined) {
      // Agent services (#5/#6)
      this.localServices = new LocalServices({
        settings: settings.services,
        node: { id: this.nodeId, name: settings.nodeName, datacenter: settings.datacenter, address: settings.advertiseAddr, version: settings.version },
        dataDir: settings.dataDir,
        serverApi: this.serverApi!,
        clusterSize: () => this.members.size,
        httpAddress: () => this.httpAddress,
        env: settings.services.environment ?? {},
        logger: this.logger.child({ component: 'local-services' })
      })
      await this.localServices.start()
    }
    this.discovery = await startDiscoveryServer({
      host: settings.bindAddr,
      port: settings.serfLanPort,
      key: settings.encrypt,
      logger: this.logger.child({ component: 'discovery' }),
      handle: async (request, remote) => await this.onDiscovery(request, remote)
    })
    this.members.set(this.nodeId, { info: this.selfInfo(), status: 'alive', lastSeenMs: Date.now() })
    this.every(this.joinIntervalMs(), () => this.joinRound())
    void this.joinRound()
  }

  // -------------------------------------------------------------------------------------------
  // Servers.

  private async startServerParts (): Promise<void> {
    const { settings } = this
    const raftLogger = this.logger.child({ component: 'raft' })
    this.fsm = new Fsm()
    this.storage = settings.dataDir === null
      ? new MemoryStorage()
      : await LevelStorage.open({ path: join(settings.dataDir, 'raft'), logger: raftLogger })
    const fsm = this.fsm
    this.raft = new RaftNode({
      id: this.nodeId,
      storage: this.storage,
      transport: this.transport!,
      // A user's snapshot restore (PUT /v1/snapshot) is ordinary FSM commands (restoreChunk...).
      stateMachine: fsm,
      logger: raftLogger,
      address: this.raftAddress(),
      // Timings scale with performance.raft_multiplier (1 in -dev and recommended in production,
      // 5 by default): election timeout 20-40 ticks of 10 ms x multiplier.
      tickMs: settings.raftTickMs,
      electionTicks: settings.raftElectionTicks,
      heartbeatTicks: settings.raftHeartbeatTicks,
      // Compaction snapshots the FSM synchronously (TODO(weft): off the write path, #3); rarely
      // enough that its pause stays an outlier.
      snapshotEveryEntries: 65_536,
      rpcHandler: async (_from, payload) => await this.localApi!.handle(payload as RpcRequest),
      onFatal: (err) => {
        this.logger.fatal({ err }, 'stopping the agent: the Raft node failed')
        process.exitCode = 70
        void this.stop({ leave: false })
      }
    })
    const raft = this.raft
    this.connectCa = new ConnectCa({
      enabled: settings.connectEnabled,
      datacenter: settings.datacenter,
      agentCaConfig: settings.caConfig,
      minimumLeafTtlMs: settings.dev ? devMinimumLeafTtlMs : standardMinimumLeafTtlMs,
      reader: fsm.reader,
      isLeader: () => raft.started && raft.isLeader,
      propose: async command => (await raft.propose(encodeCommand(command), { timeoutMs: 10_000 })).result as never,
      logger: this.logger.child({ component: 'connect-ca' })
    })
    this.localApi = new LocalServerApi({
      raft: this.raft,
      reader: fsm.reader,
      transport: this.transport!,
      // A user's snapshot leaves out a restore upload in progress (see src/fsm/snapshot.ts).
      snapshot: () => ({ index: fsm.reader.appliedIndex(), data: fsm.snapshot({ restoreStaging: false }) }),
      datacenter: settings.datacenter,
      connectCa: this.connectCa,
      intentionDefault: intentionDefaultsFrom(settings.acl) // Intentions (#4)
    })
    this.serverApi = this.localApi
    await this.raft.listen()
    const persisted = await this.storage.load()
    const hasState = persisted.snapshot !== null || persisted.entries.length > 0
    if (hasState) {
      await this.startRaft()
    } else if (settings.bootstrap || settings.bootstrapExpect === 1) {
      await this.startRaft(this.foundingConfiguration([this.selfInfo()]))
    }
    this.every(1_000, () => this.leaderRound())
  }

  private async startRaft (bootstrap?: Configuration, knownPeers?: Record<NodeId, string>): Promise<void> {
    if (this.raft === null || this.raft.started || this.raftStarting) return
    this.raftStarting = true
    try {
      await this.raft.start(bootstrap === undefined ? {} : { bootstrap })
      for (const [id, address] of Object.entries(knownPeers ?? {})) this.admit(id, address)
      this.logger.info({ nodeId: this.nodeId, bootstrap: bootstrap?.voters ?? null }, 'raft started')
    } finally {
      this.raftStarting = false
    }
  }

  private foundingConfiguration (servers: readonly MemberInfo[]): Configuration {
    const sorted = [...servers].sort((a, b) => a.nodeId < b.nodeId ? -1 : a.nodeId > b.nodeId ? 1 : 0)
    const addresses: Record<NodeId, string> = {}
    for (const server of sorted) addresses[server.nodeId] = formatPeerAddress({ endpoint: server.rpcEndpoint, publicKey: server.publicKey }, server.name)
    return { voters: sorted.map(s => s.nodeId), learners: [], addresses }
  }

  /** Leader-only background work: promote caught-up learners, record the cluster ID, run the CA. */
  private async leaderRound (): Promise<void> {
    const raft = this.raft
    if (raft === null || !raft.started) return
    if (!raft.isLeader) {
      this.connectCa?.onLeadershipLost()
      return
    }
    const status = raft.status()
    for (const learner of status.configuration.learners) {
      const match = status.progress.get(learner)?.match ?? 0
      if (match + 16 < status.commitIndex) continue
      this.logger.info({ nodeId: learner, match, commit: status.commitIndex }, 'promoting a caught-up server to voter')
      await raft.proposeConfChange({ type: 'promote', nodeId: learner }).catch((err: Error) =>
        this.logger.warn({ err, nodeId: learner }, 'promotion failed; retrying'))
      return
    }
    if (this.fsm!.reader.clusterId() === undefined) {
      const clusterId = this.connectCa?.configuredClusterId() ?? randomUUID()
      const command = encodeCommand({ type: 'setClusterMeta', Entries: [{ Key: 'cluster-id', Value: clusterId }], IfAbsent: true } as never)
      await raft.propose(command).catch((err: Error) => this.logger.warn({ err }, 'recording the cluster ID failed; retrying'))
    }
    await this.connectCa?.maintain()
  }

  /**
   * Intentions (#4): every agent keeps all intentions in a cache fed by one blocking query, for
   * /v1/agent/connect/authorize. Servers read their own replicated state; clients ask a server.
   */
  private startIntentionCache (): void {
    const fetch = this.fsm !== null ? localIntentionFetch(this.fsm.reader) : rpcIntentionFetch(this.serverApi!)
    this.intentionCache = new IntentionCache({ fetch, logger: this.logger.child({ component: 'intention-cache' }) })
    this.intentionCache.start()
  }

  /** The Connect caches (roots watch, leaves), made on first use (#4). */
  connectCaches (): { readonly roots: RootsWatcher, readonly leaves: LeafCache } {
    if (!this.settings.connectEnabled) throw new ControlPlaneError('ERR_REJECTED', connectDisabledMessage)
    if (this.connectCachesValue !== null) return this.connectCachesValue
    const logger = this.logger.child({ component: 'connect-cache' })
    const roots = new RootsWatcher({ serverApi: this.serverApi!, logger })
    const leaves = new LeafCache({
      serverApi: this.serverApi!,
      roots,
      datacenter: this.settings.datacenter,
      logger,
      makeKeyAndCsr: uri => {
        const key = generateLeafKey()
        return { privateKeyPem: key.privateKeyPem, csrPem: createCsrPem({ privateKey: key.privateKey, uri }) }
      },
      serviceUri: (trustDomain, datacenter, service) => serviceUri(trustDomain, datacenter, service)
    })
    this.connectCachesValue = { roots, leaves }
    return this.connectCachesValue
  }

  // -------------------------------------------------------------------------------------------
  // Clients.

  private async startClientParts (): Promise<void> {
    await this.transport!.start(() => {}, async () => {
      throw new ControlPlaneError('ERR_INVALID_INPUT', 'client agents serve no RPC')
    })
    this.serverApi = new RpcClient({
      transport: this.transport!,
      servers: () => [...this.members.values()].filter(m => m.info.role === 'server' && m.status === 'alive').map(m => m.info.nodeId),
      logger: this.logger.child({ component: 'rpc-client' })
    })
  }

  // -------------------------------------------------------------------------------------------
  // Discovery and joining.

  private selfInfo (): MemberInfo {
    return {
      nodeId: this.nodeId,
      name: this.settings.nodeName,
      datacenter: this.settings.datacenter,
      role: this.settings.server ? 'server' : 'client',
      rpcEndpoint: this.advertisedEndpoint(),
      publicKey: this.keyPair!.publicKey,
      bootstrapped: this.raft?.started ?? false,
      leaderId: this.raft?.started === true ? this.raft.leaderId : null,
      httpAddress: this.httpAddress
    }
  }

  private advertisedEndpoint (): string {
    const bound = this.transport!.endpoint()
    const port = /:(\d+)$/.exec(bound)?.[1] ?? String(this.settings.serverPort)
    return `tcp://${this.settings.advertiseAddr}:${port}`
  }

  private raftAddress (): string {
    return formatPeerAddress({ endpoint: `tcp://${this.settings.advertiseAddr}:${this.settings.serverPort}`, publicKey: this.keyPair!.publicKey }, this.settings.nodeName)
  }

  private async onDiscovery (request: DiscoveryRequest, remote: string): Promise<DiscoveryReply> {
    if (request.type === 'join') {
      const member = request.member
      if (member.datacenter !== this.settings.datacenter) {
        return { ok: false, error: `datacenter mismatch: ${member.name} is in ${member.datacenter}, this agent in ${this.settings.datacenter}` }
      }
      this.remember(member)
      this.admit(member.nodeId, formatPeerAddress({ endpoint: member.rpcEndpoint, publicKey: member.publicKey }, member.name))
      if (member.role === 'server') await this.maybeAddServer(member)
      this.logger.debug({ member: member.name, remote }, 'member joined')
    }
    return { ok: true, member: this.selfInfo() }
  }

  /** Lets a member's key through our transport (ZAP) and makes it reachable for replies. */
  private admit (id: NodeId, address: string): void {
    if (id === this.nodeId) return
    const [endpoint, publicKey] = address.split(' ')
    this.transport!.setPeer(id, { endpoint: endpoint!, publicKey: publicKey! })
  }

  private async maybeAddServer (member: MemberInfo): Promise<void> {
    const raft = this.raft
    if (raft === null || !raft.started || !raft.isLeader) return
    const configuration = raft.status().configuration
    if (configuration.voters.includes(member.nodeId) || configuration.learners.includes(member.nodeId)) return
    const address = formatPeerAddress({ endpoint: member.rpcEndpoint, publicKey: member.publicKey }, member.name)
    this.logger.info({ nodeId: member.nodeId, name: member.name }, 'adding a server to the cluster as a learner')
    await raft.proposeConfChange({ type: 'addLearner', nodeId: member.nodeId, address }).catch((err: Error) =>
      this.logger.warn({ err, name: member.name }, 'adding the server failed; it will ask again'))
  }

  private remember (info: MemberInfo): void {
    if (info.nodeId === this.nodeId) return
    const existing = this.members.get(info.nodeId)
    if (existing !== undefined) {
      (existing as { info: MemberInfo }).info = info
      existing.status = 'alive'
      existing.lastSeenMs = Date.now()
    } else {
      this.members.set(info.nodeId, { info, status: 'alive', lastSeenMs: Date.now() })
    }
  }

  private joinIntervalMs (): number {
    return Math.max(200, Math.min(this.settings.retryIntervalMs, 2_000))
  }

  /** Contacts every -retry-join address once; decides to bootstrap or join when ready. */
  private async joinRound (): Promise<void> {
    if (this.stopping) return
    const me = this.selfInfo()
    const reached: MemberInfo[] = []
    await Promise.all(this.settings.retryJoin.map(async address => {
      try {
        const info = await discoveryExchange(address, { type: 'join', member: me }, { key: this.settings.encrypt, timeoutMs: 2_000 })
        if (info.nodeId === this.nodeId) return
        reached.push(info)
        this.remember(info)
        if (info.role === 'server') this.admit(info.nodeId, formatPeerAddress({ endpoint: info.rpcEndpoint, publicKey: info.publicKey }, info.name))
      } catch (err) {
        this.logger.debug({ address, err: (err as Error).message }, 'join attempt failed; will retry')
      }
    }))
    if (this.settings.server) await this.maybeBootstrapOrJoin(reached)
  }

  private async maybeBootstrapOrJoin (reached: readonly MemberInfo[]): Promise<void> {
    const raft = this.raft
    if (raft === null || raft.started || this.raftStarting) return
    const servers = reached.filter(m => m.role === 'server' && m.datacenter === this.settings.datacenter)
    const existing = servers.filter(m => m.bootstrapped)
    if (existing.length > 0) {
      // A cluster exists: our join request (sent this round) makes its leader add us. Start empty
      // and wait for the leader's appends.
      const knownPeers: Record<NodeId, string> = {}
      for (const server of servers) knownPeers[server.nodeId] = formatPeerAddress({ endpoint: server.rpcEndpoint, publicKey: server.publicKey }, server.name)
      this.logger.info({ servers: existing.map(s => s.name) }, 'joining an existing cluster')
      await this.startRaft(undefined, knownPeers)
      return
    }
    const expect = this.settings.bootstrapExpect
    if (expect <= 1) return
    const candidates = [this.selfInfo(), ...servers]
    if (candidates.length < expect) {
      this.logger.info({ known: candidates.length, expect }, 'waiting for more servers before bootstrapping')
      return
    }
    const founders = [...candidates].sort((a, b) => a.nodeId < b.nodeId ? -1 : 1).slice(0, expect)
    if (!founders.some(f => f.nodeId === this.nodeId)) return // a founder will add us once it leads
    this.logger.info({ founders: founders.map(f => f.name) }, 'bootstrapping the cluster: bootstrap_expect servers are known')
    await this.startRaft(this.foundingConfiguration(founders))
  }

  /** `weft join ADDR` / PUT /v1/agent/join: contact one more agent now and remember it. */
  async join (address: string): Promise<void> {
    try {
      const info = await discoveryExchange(address, { type: 'join', member: this.selfInfo() }, { key: this.settings.encrypt, timeoutMs: 5_000 })
      this.remember(info)
      if (info.role === 'server') this.admit(info.nodeId, formatPeerAddress({ endpoint: info.rpcEndpoint, publicKey: info.publicKey }, info.name))
      if (this.settings.server) await this.maybeBootstrapOrJoin([info])
    } catch (err) {
      throw new ControlPlaneError('ERR_TRANSPORT', `${address}: ${(err as Error).message}`, { cause: err })
    }
  }

  // -------------------------------------------------------------------------------------------
  // Lifecycle.

  private every (intervalMs: number, run: () => Promise<void>): void {
    let running = false
    const timer = setInterval(() => {
      if (running || this.stopping) return
      running = true
      run().catch(err => this.logger.warn({ err }, 'background task failed')).finally(() => { running = false })
    }, intervalMs)
    timer.unref()
    this.timers.push(timer)
  }

  /** Stops the agent. Servers hand leadership over first; `leave` also removes a server from the cluster. */
  async stop (options: { leave: boolean }): Promise<void> {
    if (this.stopping) return
    this.stopping = true
    for (const timer of this.timers) clearInterval(timer)
    this.connectCachesValue?.roots.stop()
    this.connectCachesValue?.leaves.stop()
    this.intentionCache?.stop() // Intentions (#4)
    await this.localServices?.stop() // Agent services (#5/#6)
    const raft = this.raft
    if (this.localApi !== null && raft !== null && raft.started && raft.isLeader && raft.status().configuration.voters.length > 1) {
      // Hand leadership over while still serving, so writes in flight commit under the new leader.
      await raft.transferLeadership(null, { timeoutMs: 3_000 }).catch((err: Error) =>
        this.logger.warn({ err }, 'leadership transfer before stopping failed'))
    }
    await this.localApi?.drain(5_000)
    if (raft !== null && raft.started && options.leave) {
      await raft.proposeConfChange({ type: 'remove', nodeId: this.nodeId }, { timeoutMs: 5_000 }).catch((err: Error) =>
        this.logger.warn({ err }, 'leaving the Raft configuration failed'))
    }
    if (raft !== null) await raft.stop({ transfer: true })
    else await this.transport?.close()
    await this.discovery?.close()
  }

  private async loadNodeId (): Promise<string> {
    if (this.settings.dataDir === null) return randomUUID()
    const path = join(this.settings.dataDir, 'node-id')
    try {
      const id = (await readFile(path, 'utf8')).trim()
      if (/^[0-9a-f-]{36}$/.test(id)) return id
      throw new ControlPlaneError('ERR_CORRUPT_STORAGE', `${path} does not hold a node ID (a UUID); remove it to get a new one`)
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
      const id = randomUUID()
      await writeFile(`${path}.tmp`, id + '\n', { mode: 0o600 })
      await rename(`${path}.tmp`, path)
      return id
    }
  }
}
