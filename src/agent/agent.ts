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
import { Membership, type Member, type MemberInfo } from './membership.js'
import { loadOrCreateKeyring } from '../gossip/keyring-store.js'
import type { Keyring } from '../gossip/keyring.js'

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

export type { Member, MemberInfo }

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
  /** Gossip membership (#5): who is in the cluster and how to reach them. */
  membership: Membership | null = null
  keyring: Keyring | null = null
  /** Whether a -retry-join (or weft join) reached the cluster; until then joinRound keeps trying. */
  private joined = false
  private joinDelayMs = 0
  private nextJoinAtMs = 0
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
    this.keyring = (await loadOrCreateKeyring({
      dataDir: settings.dataDir ?? '',
      ...(settings.encrypt !== null ? { encryptKey: settings.encrypt } : {}),
      keyringFileDisabled: settings.dataDir === null,
      logger: this.logger.child({ component: 'keyring' })
    })).keyring
    if (settings.server) await this.startServerParts()
    else await this.startClientParts()
    this.membership = await Membership.start({
      name: settings.nodeName,
      bindHost: settings.bindAddr,
      port: settings.serfLanPort,
      advertiseHost: settings.advertiseAddr,
      keyring: this.keyring,
      dataDir: settings.dataDir,
      datacenter: settings.datacenter,
      logger: this.logger.child({ component: 'gossip' }),
      self: () => this.selfInfo()
    })
    this.membership.on('change', change => { void this.onMemberChange(change.type, change.member) })
    this.startIntentionCache() // Intentions (#4)
    if (settings.services !== undefined) {
      // Agent services (#5/#6)
      this.localServices = new LocalServices({
        settings: settings.services,
        node: { id: this.nodeId, name: settings.nodeName, datacenter: settings.datacenter, address: settings.advertiseAddr, version: settings.version },
        dataDir: settings.dataDir,
        serverApi: this.serverApi!,
        clusterSize: () => this.members().length,
        httpAddress: () => this.httpAddress,
        env: settings.services.environment ?? {},
        logger: this.logger.child({ component: 'local-services' })
      })
      await this.localServices.start()
    }
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
      this.membership?.refreshMeta() // boot=1: other servers now join rather than bootstrap
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
    await this.reconcileCatalog().catch((err: Error) => this.logger.warn({ err: err.message }, 'reconciling members into the catalog failed; retrying next round'))
  }

  /**
   * Leader: every gossip member is a catalog node with a `serfHealth` check, passing while it is
   * alive and critical once it failed (so its services drop out of ?passing health answers); a
   * member that left, or was reaped, is deregistered with its services. Node fields are written
   * only when the catalog has no such node yet: anti-entropy on the member owns them after that.
   */
  private async reconcileCatalog (): Promise<void> {
    const reader = this.fsm!.reader
    const api = this.localApi!
    const write = { token: null }
    const members = this.members().filter(member => member.info.datacenter === this.settings.datacenter)
    const names = new Set(members.map(member => member.info.name))
    for (const { info, status } of members) {
      const node = reader.catalogNode(info.name)
      if (status === 'left') {
        if (node !== undefined) {
          this.logger.info({ node: info.name }, 'deregistering a member that left')
          await api.catalogDeregister({ Node: info.name }, write)
        }
        continue
      }
      const wanted = status === 'alive' ? 'passing' : 'critical'
      const current = reader.catalogNodeChecks(info.name).find(check => check.CheckID === 'serfHealth')
      if (node !== undefined && current?.Status === wanted) continue
      const host = info.gossipAddress.replace(/:\d+$/, '')
      await api.catalogRegister({
        ID: info.nodeId,
        Node: info.name,
        Address: node?.Address ?? host,
        SkipNodeUpdate: node !== undefined,
        ...(node === undefined ? { TaggedAddresses: { lan: host, lan_ipv4: host, wan: host, wan_ipv4: host }, NodeMeta: { 'consul-network-segment': '', 'consul-version': info.version } } : {}),
        Checks: [{
          CheckID: 'serfHealth',
          Name: 'Serf Health Status',
          Status: wanted,
          Output: wanted === 'passing' ? 'Agent alive and reachable' : 'Agent not live or unreachable'
        }]
      }, write)
    }
    for (const node of reader.catalogNodes()) {
      if (names.has(node.Node)) continue
      if (!reader.catalogNodeChecks(node.Node).some(check => check.CheckID === 'serfHealth')) continue
      this.logger.info({ node: node.Node }, 'deregistering a node that is no longer a member')
      await api.catalogDeregister({ Node: node.Node }, write)
    }
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
      servers: () => this.members().filter(m => m.info.role === 'server' && m.status === 'alive' && m.info.datacenter === this.settings.datacenter).map(m => m.info.nodeId),
      logger: this.logger.child({ component: 'rpc-client' })
    })
  }

  // -------------------------------------------------------------------------------------------
  // Membership (gossip) and joining.

  /** Every gossip member with readable metadata, this agent included. */
  members (): Member[] {
    return this.membership?.members() ?? []
  }

  selfInfo (): MemberInfo {
    return {
      nodeId: this.nodeId,
      name: this.settings.nodeName,
      datacenter: this.settings.datacenter,
      role: this.settings.server ? 'server' : 'client',
      rpcEndpoint: this.advertisedEndpoint(),
      publicKey: this.keyPair!.publicKey,
      bootstrapped: this.raft?.started ?? false,
      httpAddress: this.httpAddress,
      version: this.settings.version,
      gossipAddress: this.membership?.address ?? `${this.settings.advertiseAddr}:${this.settings.serfLanPort}`,
      keyring: null
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

  /**
   * A member appeared, changed or went: admit its RPC key (servers accept RPCs only from
   * members; clients reach only members' servers); on the leader, add a new server as a learner
   * and remove a server that left. The catalog follows in the leader round.
   */
  private async onMemberChange (type: string, member: Member | null): Promise<void> {
    if (member === null || member.info.nodeId === this.nodeId) return
    const info = member.info
    if (info.datacenter !== this.settings.datacenter) return
    if (member.status === 'alive') {
      this.admit(info.nodeId, formatPeerAddress({ endpoint: info.rpcEndpoint, publicKey: info.publicKey }, info.name))
      if (info.role === 'server') await this.maybeAddServer(info)
      if (!this.joined) this.joined = true
      this.localServices?.requestFullSync()
    } else if (member.status === 'left' && info.role === 'server') {
      await this.maybeRemoveServer(info, type)
    }
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
      this.logger.warn({ err, name: member.name }, 'adding the server failed; the leader round retries'))
  }

  /** A server that left the gossip pool gracefully leaves the Raft configuration too (as Consul's leader does). */
  private async maybeRemoveServer (member: MemberInfo, reason: string): Promise<void> {
    const raft = this.raft
    if (raft === null || !raft.started || !raft.isLeader) return
    const configuration = raft.status().configuration
    if (!configuration.voters.includes(member.nodeId) && !configuration.learners.includes(member.nodeId)) return
    this.logger.info({ nodeId: member.nodeId, name: member.name, reason }, 'removing a server that left the cluster from the Raft configuration')
    await raft.proposeConfChange({ type: 'remove', nodeId: member.nodeId }).catch((err: Error) =>
      this.logger.warn({ err, name: member.name }, 'removing the server failed; the leader round retries'))
  }

  private joinIntervalMs (): number {
    return Math.max(200, Math.min(this.settings.retryIntervalMs, 2_000))
  }

  /**
   * Until the gossip pool is joined, tries the -retry-join addresses with back-off (doubling up
   * to retry_interval); servers then decide to bootstrap or to wait for the leader to add them.
   */
  private async joinRound (): Promise<void> {
    if (this.stopping || this.membership === null) return
    const others = this.members().filter(member => member.info.nodeId !== this.nodeId && member.status === 'alive')
    if (others.length > 0) this.joined = true
    if (!this.joined && this.settings.retryJoin.length > 0 && Date.now() >= this.nextJoinAtMs) {
      try {
        await this.membership.join(this.settings.retryJoin)
        this.joined = true
        this.joinDelayMs = 0
      } catch (err) {
        this.joinDelayMs = Math.min(Math.max(this.joinDelayMs * 2, 500), this.settings.retryIntervalMs)
        this.nextJoinAtMs = Date.now() + this.joinDelayMs
        this.logger.warn({ addresses: this.settings.retryJoin, retryInMs: this.joinDelayMs, err: (err as Error).message }, 'join failed; retrying')
      }
    }
    if (this.settings.server) await this.maybeBootstrapOrJoin()
  }

  private async maybeBootstrapOrJoin (): Promise<void> {
    const raft = this.raft
    if (raft === null || raft.started || this.raftStarting) return
    const servers = this.members()
      .filter(m => m.status === 'alive' && m.info.role === 'server' && m.info.datacenter === this.settings.datacenter && m.info.nodeId !== this.nodeId)
      .map(m => m.info)
    const existing = servers.filter(m => m.bootstrapped)
    if (existing.length > 0) {
      // A cluster exists: its leader adds us as a learner when it sees us in gossip. Start empty
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
      this.logger.debug({ known: candidates.length, expect }, 'waiting for more servers before bootstrapping')
      return
    }
    const founders = [...candidates].sort((a, b) => a.nodeId < b.nodeId ? -1 : 1).slice(0, expect)
    if (!founders.some(f => f.nodeId === this.nodeId)) return // a founder will add us once it leads
    this.logger.info({ founders: founders.map(f => f.name) }, 'bootstrapping the cluster: bootstrap_expect servers are known')
    await this.startRaft(this.foundingConfiguration(founders))
  }

  /** `weft join ADDR` / PUT /v1/agent/join: join the gossip pool through one more address now. */
  async join (address: string): Promise<void> {
    if (this.membership === null) throw new ControlPlaneError('ERR_STOPPED', 'the agent is not running')
    try {
      await this.membership.join([address])
      this.joined = true
    } catch (err) {
      throw new ControlPlaneError('ERR_TRANSPORT', (err as Error).message, { cause: err })
    }
    if (this.settings.server) await this.maybeBootstrapOrJoin()
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
    if (options.leave) await this.membership?.leave(3_000)
    await this.membership?.stop()
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
