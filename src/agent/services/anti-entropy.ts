/**
 * Anti-entropy (spec §3.6): keeps the catalog's entry for this node equal to the agent's local
 * state, as Consul's agent/ae StateSyncer and local.State.SyncChanges/SyncFull do.
 *
 *   local change ──(debounce)──► partial sync: push what is out of sync, drop tombstones
 *   timer (interval, scaled)  ──► full sync: read the node from the catalog, mark differences
 *                                 (and catalog entries this agent does not have) out of sync,
 *                                 then a partial sync repairs them
 *
 * Timing: changes are pushed after `debounceMs` (default 20 ms, which coalesces a registration's
 * service, sidecar and checks into one pass). A full sync runs at start and then every
 * `intervalMs` (Consul: 1 min) scaled by cluster size as Consul's aeScale does (x1 up to 128
 * nodes, +1 per doubling beyond), plus a random stagger of up to one scaled interval, so agents
 * do not sync in step. A failed sync is retried after an exponential back-off (500 ms doubling
 * to 15 s, jittered); the first failure and every 10th are logged at warn, the recovery at info.
 * An error the servers will give again (bad input, conflict, refusal) is logged at error and the
 * item is left alone until it changes or the next full sync, so one bad entry cannot block the
 * rest.
 *
 * Output-only check changes are deferred by `checkUpdateIntervalMs` (Consul's
 * check_update_interval, 5 min): a status change is pushed at once, a new output at most once per
 * interval, and full syncs ignore output-only differences (as Consul does when the interval is
 * set), so a check whose output changes on every run does not write to Raft on every run.
 *
 * Never touched in the catalog: the `consul` service of server nodes and the `serfHealth`
 * check, which belong to the leader's reconciliation.
 *
 * Callers: local-services.ts (start/stop, requestFullSync, deferOutput); tests.
 */
import type { CatalogDeregistration, CatalogRegistration, ServerApi } from '../../rpc/types.js'
import { isControlPlaneError } from '../../util/errors.js'
import type { LocalState } from './local-state.js'
import {
  catalogCheckJson, catalogServiceJson, comparableCheck, comparableService, stableJson, type NodeInfo
} from './records.js'

type Json = Record<string, unknown>

/** What anti-entropy needs of the servers. */
export interface CatalogPort {
  register (registration: CatalogRegistration, token: string | null): Promise<void>
  deregister (deregistration: CatalogDeregistration, token: string | null): Promise<void>
  /** This node as the catalog has it, or null when the catalog has no such node. */
  nodeState (nodeName: string): Promise<RemoteNodeState | null>
}

export interface RemoteNodeState {
  readonly node: Json
  readonly services: readonly Json[]
  readonly checks: readonly Json[]
  /**
   * False when node-level checks could not be read: they are only visible through a service's
   * health entries, so a node without services shows none. Unknown catalog node checks are then
   * left alone (the agent's own removals are still pushed as tombstones).
   */
  readonly nodeChecksKnown: boolean
}

/** The catalog through the ServerApi: catalogNode for services, healthService per name for checks. */
export function serverApiCatalog (serverApi: ServerApi): CatalogPort {
  const query = (token: string | null) => ({ consistency: 'default' as const, minQueryIndex: 0, maxQueryTimeMs: 0, token })
  return {
    async register (registration, token) { await serverApi.catalogRegister(registration, { token }) },
    async deregister (deregistration, token) { await serverApi.catalogDeregister(deregistration, { token }) },
    async nodeState (nodeName) {
      const found = (await serverApi.catalogNode(nodeName, query(null))).value as { Node?: Json, Services?: Record<string, Json> } | null
      if (found === null || found === undefined || found.Node === undefined) return null
      const services = Object.values(found.Services ?? {})
      const checks = new Map<string, Json>()
      const names = [...new Set(services.map(service => String(service.Service)))]
      for (const name of names) {
        const entries = (await serverApi.healthService(name, { passing: false, tags: [] }, query(null))).value as Array<{ Node?: Json, Checks?: Json[] }>
        for (const entry of entries) {
          if (String(entry.Node?.Node ?? '').toLowerCase() !== nodeName.toLowerCase()) continue
          for (const check of entry.Checks ?? []) checks.set(String(check.CheckID), check)
        }
      }
      return { node: found.Node, services, checks: [...checks.values()], nodeChecksKnown: services.length > 0 }
    }
  }
}

export interface AntiEntropyLogger {
  debug (fields: Json, message: string): void
  info (fields: Json, message: string): void
  warn (fields: Json, message: string): void
  error (fields: Json, message: string): void
}

export interface AntiEntropyOptions {
  readonly state: LocalState
  readonly catalog: CatalogPort
  /** The node fields to register (ID, name, address, tagged addresses, meta). */
  readonly nodeInfo: () => NodeInfo
  /** Full-sync interval before scaling (Consul: 60 s). */
  readonly intervalMs: number
  /** Members in the cluster, for the interval's scaling. */
  readonly clusterSize: () => number
  /** check_update_interval; 0 pushes output changes at once. */
  readonly checkUpdateIntervalMs: number
  /** The agent token used when an entry has none. */
  readonly agentToken: string | null
  readonly logger: AntiEntropyLogger
  /** Jitter source in [0, 1). */
  readonly random: () => number
  readonly debounceMs?: number
  readonly retryInitialMs?: number
  readonly retryMaxMs?: number
}

const warnEveryFailures = 10
/** Catalog entries that are the leader's, never this agent's. */
const leaderOwnedServiceIds = new Set(['consul'])
const leaderOwnedCheckIds = new Set(['serfHealth'])

/** Consul's aeScale: the interval grows by one step per doubling of the cluster beyond 128 nodes. */
export function scaledIntervalMs (intervalMs: number, clusterSize: number): number {
  const threshold = 128
  if (clusterSize <= threshold) return intervalMs
  const multiplier = Math.ceil(Math.log2(clusterSize) - Math.log2(threshold)) + 1
  return intervalMs * multiplier
}

export class AntiEntropy {
  #timer: NodeJS.Timeout | null = null
  #timerAtMs = Number.POSITIVE_INFINITY
  #running = false
  #stopped = true
  #nextFullAtMs = 0
  #retryAtMs = 0
  #failures = 0
  readonly #deferred = new Map<string, number>()
  #unsubscribe: (() => void) | null = null
  /** Full syncs and partial passes completed, for tests and /v1/agent/self. */
  syncCount = 0

  constructor (private readonly options: AntiEntropyOptions) {}

  start (): void {
    this.#stopped = false
    this.#nextFullAtMs = Date.now()
    this.#unsubscribe = this.options.state.onChange(() => this.reschedule())
    this.reschedule()
  }

  stop (): void {
    this.#stopped = true
    this.#unsubscribe?.()
    this.#unsubscribe = null
    if (this.#timer !== null) clearTimeout(this.#timer)
    this.#timer = null
  }

  /** A full sync as soon as possible (e.g. a server joined, a leader was elected). */
  requestFullSync (): void {
    this.#nextFullAtMs = Date.now()
    this.#retryAtMs = 0
    this.reschedule()
  }

  /** An output-only change of `checkId`: push it within check_update_interval. */
  deferOutput (checkId: string): void {
    if (this.options.checkUpdateIntervalMs <= 0) {
      this.options.state.markCheckOutOfSync(checkId)
      this.reschedule()
      return
    }
    if (this.#deferred.has(checkId)) return
    this.#deferred.set(checkId, Date.now() + this.options.checkUpdateIntervalMs)
    this.reschedule()
  }

  get failures (): number { return this.#failures }

  // -------------------------------------------------------------------------------------------
  // Scheduling

  private hasWork (): boolean {
    const { state } = this.options
    if (!state.nodeInfoInSync || state.deletedServices.size > 0 || state.deletedChecks.size > 0) return true
    return state.services().some(entry => !entry.inSync) || state.checks().some(entry => !entry.inSync)
  }

  private reschedule (): void {
    if (this.#stopped || this.#running) return
    const now = Date.now()
    let atMs = this.#nextFullAtMs
    if (this.hasWork()) atMs = Math.min(atMs, now + (this.options.debounceMs ?? 20))
    for (const dueMs of this.#deferred.values()) atMs = Math.min(atMs, dueMs)
    if (this.#failures > 0) atMs = Math.max(atMs, this.#retryAtMs)
    if (this.#timer !== null && this.#timerAtMs <= atMs) return
    if (this.#timer !== null) clearTimeout(this.#timer)
    this.#timerAtMs = atMs
    this.#timer = setTimeout(() => { void this.runScheduled() }, Math.max(0, atMs - now))
    this.#timer.unref()
  }

  private async runScheduled (): Promise<void> {
    this.#timer = null
    this.#timerAtMs = Number.POSITIVE_INFINITY
    this.#running = true
    try {
      await this.runOnce()
    } finally {
      this.#running = false
      this.reschedule()
    }
  }

  private async runOnce (): Promise<void> {
    const now = Date.now()
    for (const [checkId, dueMs] of this.#deferred) {
      if (dueMs > now) continue
      this.#deferred.delete(checkId)
      this.options.state.markCheckOutOfSync(checkId)
    }
    if (this.#failures > 0 && now < this.#retryAtMs) return
    const isFull = now >= this.#nextFullAtMs
    if (!isFull && !this.hasWork()) return
    try {
      if (isFull) await this.syncFull()
      else await this.syncChanges()
      if (isFull) this.#nextFullAtMs = Date.now() + this.fullSyncDelayMs()
      if (this.#failures > 0) this.options.logger.info({ failures: this.#failures }, 'catalog sync recovered')
      this.#failures = 0
    } catch (err) {
      this.#failures += 1
      const delayMs = this.retryDelayMs()
      this.#retryAtMs = Date.now() + delayMs
      const level = this.#failures === 1 || this.#failures % warnEveryFailures === 0 ? 'warn' : 'debug'
      this.options.logger[level]({ err: (err as Error).message, code: (err as { code?: unknown }).code, attempt: this.#failures, retryInMs: delayMs, full: isFull }, 'catalog sync failed; retrying')
    }
  }

  private fullSyncDelayMs (): number {
    const scaled = scaledIntervalMs(this.options.intervalMs, this.options.clusterSize())
    return scaled + Math.floor(this.options.random() * scaled)
  }

  private retryDelayMs (): number {
    const initialMs = this.options.retryInitialMs ?? 500
    const maxMs = this.options.retryMaxMs ?? 15_000
    const baseMs = Math.min(maxMs, initialMs * 2 ** Math.min(this.#failures - 1, 20))
    return Math.floor(baseMs * (0.5 + this.options.random() * 0.5))
  }

  // -------------------------------------------------------------------------------------------
  // Syncing (public for tests: each runs one pass now)

  /** Reads this node from the catalog, marks every difference out of sync, then pushes. */
  async syncFull (): Promise<void> {
    await this.updateSyncState()
    await this.syncChanges()
    this.syncCount += 1
  }

  /** Consul's updateSyncState: compare the catalog with the local state. */
  async updateSyncState (): Promise<void> {
    const { state } = this.options
    const node = this.options.nodeInfo()
    const remote = await this.options.catalog.nodeState(node.Node)
    if (remote === null) {
      state.markAllOutOfSync()
      return
    }
    state.nodeInfoInSync = nodeMatches(remote.node, node)
    const remoteServices = new Map(remote.services.map(service => [String(service.ID), service]))
    for (const [id, remoteService] of remoteServices) {
      if (leaderOwnedServiceIds.has(id)) continue
      const local = state.service(id)
      if (local === undefined) {
        state.deletedServices.add(id)
        continue
      }
      const remoteTags = Array.isArray(remoteService.Tags) ? remoteService.Tags as string[] : []
      if (local.service.EnableTagOverride && stableJson(remoteTags) !== stableJson(local.service.Tags)) state.adoptTags(id, remoteTags)
      const current = state.service(id)
      if (current === undefined) continue
      if (comparableService(catalogServiceJson(current.service)) === comparableService(remoteService)) state.markServiceInSync(id, current.service)
      else state.markServiceOutOfSync(id)
    }
    for (const entry of state.services()) if (!remoteServices.has(entry.service.ID)) state.markServiceOutOfSync(entry.service.ID)
    this.compareChecks(remote)
  }

  private compareChecks (remote: RemoteNodeState): void {
    const { state } = this.options
    const withOutput = this.options.checkUpdateIntervalMs <= 0
    const remoteChecks = new Map(remote.checks.map(check => [String(check.CheckID), check]))
    for (const [id, remoteCheck] of remoteChecks) {
      if (leaderOwnedCheckIds.has(id) || leaderOwnedServiceIds.has(String(remoteCheck.ServiceID ?? ''))) continue
      const local = state.check(id)
      if (local === undefined) {
        state.deletedChecks.add(id)
        continue
      }
      if (comparableCheck(catalogCheckJson(local.check), { withOutput }) === comparableCheck(remoteCheck, { withOutput })) state.markCheckInSync(id, local.check)
      else state.markCheckOutOfSync(id)
    }
    for (const entry of state.checks()) {
      if (remoteChecks.has(entry.check.CheckID)) continue
      // A node check of a node without services cannot be seen: push it again (idempotent).
      state.markCheckOutOfSync(entry.check.CheckID)
    }
  }

  /** Consul's SyncChanges: node info, deletions, services with their checks, remaining checks. */
  async syncChanges (): Promise<void> {
    const { state, catalog } = this.options
    const node = this.options.nodeInfo()
    if (!state.nodeInfoInSync) {
      await catalog.register({ ...node }, this.options.agentToken)
      state.nodeInfoInSync = true
      this.options.logger.info({ node: node.Node }, 'synced node info')
    }
    for (const id of [...state.deletedServices]) {
      await this.push({ kind: 'service', id }, async () => await catalog.deregister({ Node: node.Node, ServiceID: id }, this.options.agentToken))
      state.deletedServices.delete(id)
      this.options.logger.info({ service: id }, 'deregistered service')
    }
    for (const id of [...state.deletedChecks]) {
      await this.push({ kind: 'check', id }, async () => await catalog.deregister({ Node: node.Node, CheckID: id }, this.options.agentToken))
      state.deletedChecks.delete(id)
      this.options.logger.info({ check: id }, 'deregistered check')
    }
    for (const entry of state.services()) {
      if (entry.inSync) continue
      const sent = entry.service
      const checks = state.serviceChecks(sent.ID).map(check => check.check)
      const registration = { ...node, SkipNodeUpdate: true, Service: catalogServiceJson(sent), Checks: checks.map(catalogCheckJson) }
      await this.push({ kind: 'service', id: sent.ID }, async () => await catalog.register(registration, this.token(entry.token)))
      state.markServiceInSync(sent.ID, sent)
      for (const check of checks) state.markCheckInSync(check.CheckID, check)
      this.options.logger.info({ service: sent.ID }, 'synced service')
    }
    for (const entry of state.checks()) {
      if (entry.inSync) continue
      const sent = entry.check
      const service = sent.ServiceID === '' ? undefined : state.service(sent.ServiceID)
      const registration = { ...node, SkipNodeUpdate: true, ...(service !== undefined ? { Service: catalogServiceJson(service.service) } : {}), Checks: [catalogCheckJson(sent)] }
      await this.push({ kind: 'check', id: sent.CheckID }, async () => await catalog.register(registration, this.token(entry.token)))
      state.markCheckInSync(sent.CheckID, sent)
      this.options.logger.debug({ check: sent.CheckID, status: sent.Status }, 'synced check')
    }
  }

  private token (entryToken: string): string | null {
    return entryToken !== '' ? entryToken : this.options.agentToken
  }

  /**
   * Runs one catalog write. Transient failures (no leader, transport, timeout) propagate and the
   * whole pass is retried; a refusal is logged and swallowed so the other entries still sync.
   */
  private async push (item: { readonly kind: 'service' | 'check', readonly id: string }, write: () => Promise<void>): Promise<void> {
    try {
      await write()
    } catch (err) {
      if (!isRefusal(err)) throw err
      this.options.logger.error({ err: (err as Error).message, code: (err as { code?: unknown }).code, [item.kind]: item.id }, 'the catalog refused a sync; leaving it until it changes')
    }
  }
}

function isRefusal (err: unknown): boolean {
  return isControlPlaneError(err, 'ERR_INVALID_INPUT') || isControlPlaneError(err, 'ERR_CONFLICT') ||
    isControlPlaneError(err, 'ERR_REJECTED') || isControlPlaneError(err, 'ERR_PERMISSION_DENIED') ||
    isControlPlaneError(err, 'ERR_TOO_LARGE')
}

function nodeMatches (remote: Json, local: NodeInfo): boolean {
  return remote.ID === local.ID &&
    remote.Address === local.Address &&
    stableJson(remote.TaggedAddresses ?? {}) === stableJson(local.TaggedAddresses) &&
    stableJson(remote.Meta ?? {}) === stableJson(local.NodeMeta)
}
