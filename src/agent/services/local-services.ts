/**
 * The agent's local services and checks (spec §3): registration and deregistration (HTTP API,
 * config files, persisted API registrations), sidecar and managed-proxy expansion, check
 * runners, maintenance mode, hash-blocking reads, `weft reload`, and anti-entropy to the catalog.
 *
 *   HTTP (api/handlers/agent-services.ts) ─┐
 *   config files (start, reload) ──────────┼─► plan (validate, expand, allocate ports; no mutation)
 *   persisted API registrations (start) ───┘        │
 *                                                   ▼
 *                 apply: LocalState ──change──► AntiEntropy ──► ServerApi catalogRegister/Deregister
 *                          ▲    │
 *          CheckRunners ───┘    └─► ManagedProxySupervisor (connect.proxy children)
 *
 * A registration is planned completely before anything changes, so a rejected one (bad sidecar,
 * no port left) leaves the agent as it was. Reload compares each config definition with what it
 * registered before (stable JSON of the decoded definition): unchanged services and checks are
 * left alone (no re-registration, runners keep running, managed proxies keep their process),
 * changed ones are re-registered, removed ones go with their sidecars and managed proxies. A bad
 * definition is reported with its file and key; the others still load.
 *
 * Never registered here: the `consul` service and `serfHealth`, which the leader manages.
 *
 * Lifecycle: construct after the agent knows its node ID and has a ServerApi; start() loads the
 * persisted and configured definitions and starts anti-entropy; stop() stops everything this
 * component started (timers, runners, managed proxies) and flushes the persisted state.
 *
 * Callers: agent.ts (construct, start, stop, requestFullSync), http.ts (AgentApi.services,
 * reload), run.ts (SIGHUP → reload).
 */
import type { AgentCallOptions, AgentJson, AgentServiceHealth, AgentServicesApi, HashWait } from '../../api/types.js'
import {
  decodeCheckDefinition, decodeServiceDefinition, truncateOutput, upstreamBindAddress, type CheckDefinition, type CheckStatus,
  type CheckUpdate, type DefinitionOrigin, type ServiceDefinition
} from '../../api/service-definition.js'
import type { RawDefinition } from '../../config/schema.js'
import type { ServerApi } from '../../rpc/types.js'
import { ControlPlaneError } from '../../util/errors.js'
import { ManagedProxySupervisor, type ManagedProxySpec, type ManagedProxySupervisorOptions } from '../managed-proxy.js'
import { AntiEntropy, serverApiCatalog, type CatalogPort } from './anti-entropy.js'
import { CheckRunners } from './check-runners.js'
import { LocalState, type ServiceEntry, type ServiceRole } from './local-state.js'
import { Persistence, type PersistedState } from './persistence.js'
import { agentCheckJson, agentServiceJson, contentHash, stableJson, type CheckRecord, type NodeInfo, type ServiceRecord } from './records.js'
import {
  allocatePort, checkRecord, expandManagedProxy, expandSidecar, joinHostPort, managedProxyBindPort, managedProxyId,
  managedProxyPortError, serviceCheckRecords, serviceRecord, sidecarId, sidecarPortError, type ExpandedService, type PortRange
} from './sidecar.js'

export interface ConfigDefinitions {
  readonly services: readonly RawDefinition[]
  readonly checks: readonly RawDefinition[]
}

/** The slice of the agent configuration this component needs (built by run.ts from Config). */
export interface LocalServicesSettings {
  /** The definitions of the config files at start-up. */
  readonly definitions: ConfigDefinitions
  /** ports.sidecar_min_port / sidecar_max_port (0/0: explicit ports only). */
  readonly sidecarPorts: PortRange
  /** ports.proxy_min_port / proxy_max_port, for legacy managed proxies. */
  readonly proxyPorts: PortRange
  /** Full anti-entropy interval before scaling (Consul: 60 s). */
  readonly antiEntropyIntervalMs: number
  /** check_update_interval (Consul: 5 min). */
  readonly checkUpdateIntervalMs: number
  readonly nodeMeta: Readonly<Record<string, string>>
  /** acl.tokens.agent, used for syncs of entries without a token of their own. */
  readonly agentToken?: string
  /** Re-reads the config files (`weft reload`, SIGHUP); rejects with a message when they are invalid. */
  readonly loadDefinitions?: () => Promise<ConfigDefinitions>
  /** The environment managed proxies inherit (captured at start-up). */
  readonly environment?: Readonly<Record<string, string | undefined>>
}

export interface LocalServicesOptions {
  readonly settings: LocalServicesSettings
  readonly node: { readonly id: string, readonly name: string, readonly datacenter: string, readonly address: string, readonly version: string }
  readonly dataDir: string | null
  readonly serverApi: ServerApi
  /** Members of the cluster (scales the anti-entropy interval). */
  readonly clusterSize: () => number
  /** The agent's HTTP API `host:port` ('' until it listens), for managed proxies. */
  readonly httpAddress: () => string
  readonly logger: ServicesLogger
  /** The environment managed proxies inherit. */
  readonly env: Readonly<Record<string, string | undefined>>
  // Knobs for tests.
  readonly random?: () => number
  readonly catalog?: CatalogPort
  readonly reapIntervalMs?: number
  /** Consul's minimum effective DeregisterCriticalServiceAfter (1 min). */
  readonly deregisterCriticalMinimumMs?: number
  readonly supervisor?: Partial<ManagedProxySupervisorOptions>
  readonly antiEntropyDebounceMs?: number
}

export interface ServicesLogger {
  debug (fields: Record<string, unknown>, message: string): void
  info (fields: Record<string, unknown>, message: string): void
  warn (fields: Record<string, unknown>, message: string): void
  error (fields: Record<string, unknown>, message: string): void
}

/** Where a registration comes from and how it treats what was there before. */
interface RegistrationContext {
  readonly origin: DefinitionOrigin
  readonly source: string
  readonly replaceExistingChecks: boolean
  readonly token: string
}

interface PlannedService extends ExpandedService {
  readonly checkRecords: Array<{ record: CheckRecord, definition: CheckDefinition }>
}

interface Plan {
  readonly definition: ServiceDefinition
  readonly parent: PlannedService
  readonly sidecar: PlannedService | null
  readonly managed: (PlannedService & { readonly spec: ManagedProxySpec }) | null
}

const nodeMaintenanceCheckId = '_node_maintenance'
const serviceMaintenancePrefix = '_service_maintenance:'
const defaultServiceMaintenanceReason = 'Maintenance mode is enabled for this service, but no reason was provided. This is a default message.'
const defaultNodeMaintenanceReason = 'Maintenance mode is enabled for this node, but no reason was provided. This is a default message.'

/** The node fields anti-entropy registers; the leader's reconciliation should register the same (or skip the node update). */
export function nodeInfoFor (node: { readonly id: string, readonly name: string, readonly address: string, readonly version: string }, meta: Readonly<Record<string, string>>): NodeInfo {
  const isIpv6 = node.address.includes(':')
  const family = isIpv6 ? 'ipv6' : 'ipv4'
  return {
    ID: node.id,
    Node: node.name,
    Address: node.address,
    TaggedAddresses: { lan: node.address, [`lan_${family}`]: node.address, wan: node.address, [`wan_${family}`]: node.address },
    NodeMeta: { ...meta, 'consul-network-segment': '', 'consul-version': node.version }
  }
}

export class LocalServices implements AgentServicesApi {
  readonly state = new LocalState()
  readonly antiEntropy: AntiEntropy
  readonly runners: CheckRunners
  readonly supervisor: ManagedProxySupervisor
  readonly #persistence: Persistence
  readonly #apiServices = new Map<string, { definition: ServiceDefinition, token: string }>()
  readonly #apiChecks = new Map<string, { definition: CheckDefinition, token: string }>()
  /** Service ID → port given to a sidecar or managed proxy (persisted). */
  #ports: Record<string, number> = {}
  readonly #waiters = new Set<() => void>()
  #reaper: NodeJS.Timeout | null = null
  #started = false
  #stopped = false
  /** The config definitions last applied (reload without a loader re-applies them). */
  #definitions: ConfigDefinitions

  constructor (private readonly options: LocalServicesOptions) {
    const random = options.random ?? Math.random
    const log = options.logger
    this.#definitions = options.settings.definitions
    this.#persistence = new Persistence(options.dataDir, err => log.error({ err: err.message }, 'local services could not be persisted'))
    this.runners = new CheckRunners({
      state: this.state,
      random,
      nodeName: options.node.name,
      logger: log,
      report: (checkId, status, output) => this.recordResult(checkId, status, output)
    })
    this.antiEntropy = new AntiEntropy({
      state: this.state,
      catalog: options.catalog ?? serverApiCatalog(options.serverApi),
      nodeInfo: () => nodeInfoFor(options.node, options.settings.nodeMeta),
      intervalMs: options.settings.antiEntropyIntervalMs,
      clusterSize: options.clusterSize,
      checkUpdateIntervalMs: options.settings.checkUpdateIntervalMs,
      agentToken: options.settings.agentToken ?? null,
      logger: log,
      random,
      ...(options.antiEntropyDebounceMs !== undefined ? { debounceMs: options.antiEntropyDebounceMs } : {})
    })
    this.supervisor = new ManagedProxySupervisor({
      httpAddress: options.httpAddress,
      logDirectory: options.dataDir === null ? null : `${options.dataDir}/proxy/logs`,
      logger: log,
      env: options.env,
      ...options.supervisor
    })
  }

  // -------------------------------------------------------------------------------------------
  // Lifecycle

  /** Loads persisted API registrations and the config definitions, then starts anti-entropy. */
  async start (): Promise<void> {
    if (this.#started) return
    this.#started = true
    const persisted = await this.#persistence.load()
    this.#ports = { ...persisted.ports }
    const problems = this.applyConfig(this.#definitions)
    for (const problem of problems) this.options.logger.error({ problem }, 'a service or check definition was rejected')
    this.restorePersisted(persisted)
    this.antiEntropy.start()
    this.#reaper = setInterval(() => this.reapCritical(), this.options.reapIntervalMs ?? 30_000)
    this.#reaper.unref()
    this.options.logger.info({ services: this.state.services().length, checks: this.state.checks().length, rejected: problems.length }, 'local services loaded')
  }

  async stop (): Promise<void> {
    if (this.#stopped) return
    this.#stopped = true
    this.antiEntropy.stop()
    this.runners.stopAll()
    if (this.#reaper !== null) clearInterval(this.#reaper)
    for (const release of [...this.#waiters]) release()
    await this.supervisor.stopAll()
    await this.persist()
  }

  /**
   * Stops the managed proxy processes, leaving the services registered: the agent calls this
   * before closing its HTTP API, so proxies shut down while they can still reach it.
   */
  async stopManagedProxies (): Promise<void> {
    await this.supervisor.stopAll()
  }

  /** A full anti-entropy pass soon (a server joined, a leader was elected). */
  requestFullSync (): void {
    this.antiEntropy.requestFullSync()
  }

  /**
   * `weft reload` / SIGHUP: re-reads the config files and applies their definitions. Rejects with
   * ERR_REJECTED listing every definition that was refused (the others are applied) or, when the
   * files cannot be loaded at all, with the loader's message (nothing changes).
   */
  async reload (): Promise<void> {
    const loader = this.options.settings.loadDefinitions
    const definitions = loader === undefined ? this.#definitions : await loader()
    this.#definitions = definitions
    const problems = this.applyConfig(definitions)
    await this.persist()
    this.options.logger.info({ services: this.state.services().length, checks: this.state.checks().length, rejected: problems.length }, 'service definitions reloaded')
    if (problems.length > 0) {
      for (const problem of problems) this.options.logger.error({ problem }, 'a service or check definition was rejected')
      throw new ControlPlaneError('ERR_REJECTED', `Failed to reload configs: ${problems.length === 1 ? 'a definition was' : `${problems.length} definitions were`} rejected ` +
        `(the others were loaded):\n${problems.join('\n')}`)
    }
  }

  // -------------------------------------------------------------------------------------------
  // AgentServicesApi

  async registerService (definition: ServiceDefinition, options: { readonly replaceExistingChecks: boolean }, call: AgentCallOptions): Promise<void> {
    const token = definition.token !== '' ? definition.token : call.token ?? ''
    this.register(definition, { origin: 'api', source: '', replaceExistingChecks: options.replaceExistingChecks, token })
    this.#apiServices.set(definition.id, { definition, token })
    await this.persist()
  }

  async deregisterService (serviceId: string, _call: AgentCallOptions): Promise<void> {
    this.#apiServices.delete(serviceId)
    if (this.removeServiceTree(serviceId)) this.options.logger.info({ service: serviceId }, 'service deregistered')
    await this.persist()
  }

  async listServices (_call: AgentCallOptions): Promise<Readonly<Record<string, AgentJson>>> {
    const result: Record<string, AgentJson> = {}
    for (const entry of this.state.services()) result[entry.service.ID] = agentServiceJson(entry.service, this.options.node.datacenter)
    return result
  }

  async getService (serviceId: string, wait: HashWait, _call: AgentCallOptions): Promise<{ readonly service: AgentJson, readonly hash: string }> {
    return await this.hashBlocking(wait, () => {
      const entry = this.state.service(serviceId)
      if (entry === undefined) throw new ControlPlaneError('ERR_NOT_FOUND', `unknown service ID: ${serviceId}`)
      const json = agentServiceJson(entry.service, this.options.node.datacenter)
      const hash = contentHash(json)
      return { value: { ...json, ContentHash: hash }, hash }
    }).then(({ value, hash }) => ({ service: value, hash }))
  }

  async registerCheck (definition: CheckDefinition, call: AgentCallOptions): Promise<void> {
    const token = call.token ?? ''
    this.addTopLevelCheck(definition, { origin: 'api', source: '', definitionKey: '', token })
    this.#apiChecks.set(definition.checkId, { definition, token })
    await this.persist()
  }

  async deregisterCheck (checkId: string, _call: AgentCallOptions): Promise<void> {
    this.#apiChecks.delete(checkId)
    this.removeCheck(checkId)
    await this.persist()
  }

  async updateTtlCheck (checkId: string, update: CheckUpdate, _call: AgentCallOptions): Promise<void> {
    const entry = this.state.check(checkId)
    if (entry === undefined) {
      throw new ControlPlaneError('ERR_NOT_FOUND', `Unknown check ID ${JSON.stringify(checkId)}. Ensure that the check ID is passed, not the check name.`)
    }
    if (entry.definition?.type !== 'ttl') throw new ControlPlaneError('ERR_INVALID_INPUT', `CheckID ${JSON.stringify(checkId)} does not have associated TTL`)
    this.runners.touchTtl(checkId)
    this.recordResult(checkId, update.status, truncateOutput(update.output, entry.definition.outputBytesMax))
  }

  async listChecks (_call: AgentCallOptions): Promise<Readonly<Record<string, AgentJson>>> {
    const result: Record<string, AgentJson> = {}
    for (const entry of this.state.checks()) result[entry.check.CheckID] = agentCheckJson(entry.check, this.options.node.name)
    return result
  }

  async serviceMaintenance (serviceId: string, options: { readonly enable: boolean, readonly reason: string }, _call: AgentCallOptions): Promise<void> {
    const entry = this.state.service(serviceId)
    if (entry === undefined) throw new ControlPlaneError('ERR_NOT_FOUND', `No service registered with ID ${JSON.stringify(serviceId)}`)
    const checkId = `${serviceMaintenancePrefix}${serviceId}`
    if (!options.enable) {
      if (this.removeCheck(checkId)) this.options.logger.info({ service: serviceId }, 'service left maintenance mode')
      return
    }
    if (this.state.check(checkId) !== undefined) return
    this.setMaintenanceCheck({
      CheckID: checkId, Name: 'Service Maintenance Mode', Notes: options.reason === '' ? defaultServiceMaintenanceReason : options.reason,
      ServiceID: serviceId, ServiceName: entry.service.Service, ServiceTags: entry.service.Tags
    })
    this.options.logger.info({ service: serviceId }, 'service entered maintenance mode')
  }

  async nodeMaintenance (options: { readonly enable: boolean, readonly reason: string }, _call: AgentCallOptions): Promise<void> {
    if (!options.enable) {
      if (this.removeCheck(nodeMaintenanceCheckId)) this.options.logger.info({}, 'node left maintenance mode')
      return
    }
    if (this.state.check(nodeMaintenanceCheckId) !== undefined) return
    this.setMaintenanceCheck({
      CheckID: nodeMaintenanceCheckId, Name: 'Node Maintenance Mode', Notes: options.reason === '' ? defaultNodeMaintenanceReason : options.reason,
      ServiceID: '', ServiceName: '', ServiceTags: []
    })
    this.options.logger.info({}, 'node entered maintenance mode')
  }

  async serviceHealthById (serviceId: string, _call: AgentCallOptions): Promise<AgentServiceHealth | null> {
    const entry = this.state.service(serviceId)
    return entry === undefined ? null : this.serviceHealth(entry)
  }

  async serviceHealthByName (name: string, _call: AgentCallOptions): Promise<readonly AgentServiceHealth[]> {
    return this.state.services().filter(entry => entry.service.Service === name).map(entry => this.serviceHealth(entry))
  }

  async managedProxyConfig (proxyId: string, wait: HashWait, _call: AgentCallOptions): Promise<{ readonly config: AgentJson, readonly hash: string }> {
    return await this.hashBlocking(wait, () => {
      const entry = this.state.service(proxyId)
      if (entry === undefined || entry.role.kind !== 'managed-proxy') throw new ControlPlaneError('ERR_NOT_FOUND', `unknown proxy service ID: ${proxyId}`)
      const parent = this.state.service(entry.role.parentId)
      const definition = parent === undefined ? undefined : this.definitionOf(parent)?.managedProxy ?? undefined
      const proxy = entry.service.Proxy
      const config = {
        ...(definition?.config ?? {}),
        bind_address: typeof definition?.config.bind_address === 'string' ? definition.config.bind_address : '0.0.0.0',
        bind_port: entry.service.Port,
        local_service_address: joinHostPort(proxy?.LocalServiceAddress ?? '127.0.0.1', proxy?.LocalServicePort ?? 0),
        ...((proxy?.Upstreams.length ?? 0) > 0 ? { upstreams: proxy?.Upstreams } : {})
      }
      const json = {
        ProxyServiceID: proxyId,
        TargetServiceID: entry.role.parentId,
        TargetServiceName: parent?.service.Service ?? '',
        ExecMode: definition?.execMode ?? 'daemon',
        Command: definition === undefined || definition.command.length === 0 ? ['weft', 'connect', 'proxy'] : definition.command,
        Config: config
      }
      const hash = contentHash(json)
      return { value: { ...json, ContentHash: hash }, hash }
    }).then(({ value, hash }) => ({ config: value, hash }))
  }

  /** For /v1/agent/self Stats.agent. */
  counts (): { services: number, checks: number, ttlChecks: number } {
    const checks = this.state.checks()
    return { services: this.state.services().length, checks: checks.length, ttlChecks: checks.filter(entry => entry.definition?.type === 'ttl').length }
  }

  // -------------------------------------------------------------------------------------------
  // Registration

  /** Plans, then applies; throws (changing nothing) when the plan fails. */
  private register (definition: ServiceDefinition, context: RegistrationContext & { readonly definitionKey?: string }): void {
    const plan = this.plan(definition, context.token)
    this.apply(plan, { ...context, definitionKey: context.definitionKey ?? stableJson(definition) })
  }

  private plan (definition: ServiceDefinition, token: string): Plan {
    const parentService = serviceRecord(definition)
    const parent = this.planned({ service: parentService, checks: definition.checks, token })
    let sidecar: PlannedService | null = null
    if (definition.sidecarService !== null) {
      const id = sidecarId(parentService.ID)
      const given = definition.sidecarService.port
      const port = given > 0 ? given : this.allocate(id, this.options.settings.sidecarPorts, parentService)
      if (port === null) throw sidecarPortError(this.options.settings.sidecarPorts)
      sidecar = this.planned(expandSidecar(parentService, definition.sidecarService, { port, parentToken: token }))
    }
    let managed: Plan['managed'] = null
    if (definition.managedProxy !== null) {
      const id = managedProxyId(parentService.ID)
      const port = managedProxyBindPort(definition.managedProxy) ?? this.allocate(id, this.options.settings.proxyPorts, parentService)
      if (port === null) throw managedProxyPortError(this.options.settings.proxyPorts)
      const expanded = expandManagedProxy(parentService, definition.managedProxy, { port })
      managed = { ...this.planned({ ...expanded, token }), spec: this.managedSpec(expanded.service, definition) }
    }
    return { definition, parent, sidecar, managed }
  }

  private planned (expanded: ExpandedService): PlannedService {
    return { ...expanded, checkRecords: serviceCheckRecords(expanded.service, expanded.checks) }
  }

  /**
   * A port for `serviceId` from `range`. Ports recorded for other sidecars (persisted, or given
   * earlier in this run) are avoided while any other port is free, so a service restored after
   * the config files were applied at start-up gets its old port back.
   */
  private allocate (serviceId: string, range: PortRange, parent: ServiceRecord): number | null {
    const usedPorts = new Set<number>()
    for (const entry of this.state.services()) {
      if (entry.service.ID === serviceId || entry.service.ID === parent.ID) continue
      usedPorts.add(entry.service.Port)
    }
    usedPorts.add(parent.Port)
    const request = { serviceId, range, usedPorts, currentPort: this.state.service(serviceId)?.service.Port ?? null, previousPort: this.#ports[serviceId] ?? null }
    const reserved = new Set(usedPorts)
    for (const [id, port] of Object.entries(this.#ports)) if (id !== serviceId) reserved.add(port)
    return allocatePort({ ...request, usedPorts: reserved }) ?? allocatePort(request)
  }

  private managedSpec (proxy: ServiceRecord, definition: ServiceDefinition): ManagedProxySpec {
    const managed = definition.managedProxy
    const bindAddress = typeof managed?.config.bind_address === 'string' && managed.config.bind_address !== '' ? managed.config.bind_address : '0.0.0.0'
    return {
      proxyId: proxy.ID,
      targetServiceName: definition.name,
      command: managed?.command ?? [],
      listen: joinHostPort(bindAddress, proxy.Port),
      serviceAddress: joinHostPort(proxy.Proxy?.LocalServiceAddress ?? '127.0.0.1', proxy.Proxy?.LocalServicePort ?? definition.port),
      upstreams: (proxy.Proxy?.Upstreams ?? []).map(upstream => ({
        name: upstream.DestinationName,
        bindAddress: upstreamBindAddress(upstream).replace(/:\d+$/, '').replace(/^\[(.*)\]$/, '$1'),
        port: upstream.LocalBindPort ?? 0
      }))
    }
  }

  private apply (plan: Plan, context: RegistrationContext & { readonly definitionKey: string }): void {
    const parentId = plan.parent.service.ID
    for (const child of this.state.children(parentId)) {
      const kept = child.role.kind === 'sidecar' ? plan.sidecar !== null : plan.managed !== null
      if (!kept) this.removeServiceTree(child.service.ID)
    }
    this.applyService(plan.parent, { kind: 'service' }, context)
    if (plan.sidecar !== null) {
      this.applyService(plan.sidecar, { kind: 'sidecar', parentId }, { ...context, replaceExistingChecks: true, definitionKey: '' })
      this.#ports[plan.sidecar.service.ID] = plan.sidecar.service.Port
    }
    if (plan.managed !== null) {
      this.applyService(plan.managed, { kind: 'managed-proxy', parentId }, { ...context, replaceExistingChecks: true, definitionKey: '' })
      this.#ports[plan.managed.service.ID] = plan.managed.service.Port
      const spec = plan.managed.spec
      this.supervisor.ensure(spec).catch((err: Error) => this.options.logger.error({ proxy: spec.proxyId, err: err.message }, 'managed proxy could not be started'))
    }
    this.options.logger.info({ service: parentId, origin: context.origin, sidecar: plan.sidecar?.service.ID ?? null, managedProxy: plan.managed?.service.ID ?? null }, 'service registered')
  }

  private applyService (planned: PlannedService, role: ServiceRole, context: RegistrationContext & { readonly definitionKey: string }): void {
    const id = planned.service.ID
    const existingChecks = this.state.serviceChecks(id)
    this.state.setService({ service: planned.service, role, origin: context.origin, source: context.source, definitionKey: context.definitionKey, token: planned.token })
    const newIds = new Set(planned.checkRecords.map(check => check.record.CheckID))
    for (const existing of existingChecks) {
      const checkId = existing.check.CheckID
      if (newIds.has(checkId) || checkId.startsWith(serviceMaintenancePrefix)) continue
      if (context.replaceExistingChecks) this.removeCheck(checkId)
    }
    for (const { record, definition } of planned.checkRecords) {
      this.setRunningCheck(record, definition, { origin: context.origin, source: context.source, definitionKey: '', token: planned.token })
    }
  }

  private setRunningCheck (record: CheckRecord, definition: CheckDefinition, meta: { origin: DefinitionOrigin, source: string, definitionKey: string, token: string }): void {
    const existing = this.state.check(record.CheckID)
    const keepStatus = existing !== undefined && definition.status === '' && existing.check.Type === record.Type
    this.state.setCheck({ check: record, definition, ...meta }, { keepStatus, nowMs: Date.now() })
    this.runners.start(record.CheckID, definition)
  }

  private addTopLevelCheck (definition: CheckDefinition, meta: { origin: DefinitionOrigin, source: string, definitionKey: string, token: string }): void {
    let service: ServiceEntry | undefined
    if (definition.serviceId !== '') {
      service = this.state.service(definition.serviceId)
      if (service === undefined) throw new ControlPlaneError('ERR_NOT_FOUND', `ServiceID ${JSON.stringify(definition.serviceId)} does not exist`)
    }
    const record = checkRecord(definition, {
      serviceId: definition.serviceId, serviceName: service?.service.Service ?? '', serviceTags: service?.service.Tags ?? []
    })
    this.setRunningCheck(record, definition, meta)
  }

  private setMaintenanceCheck (fields: Pick<CheckRecord, 'CheckID' | 'Name' | 'Notes' | 'ServiceID' | 'ServiceName' | 'ServiceTags'>): void {
    const record: CheckRecord = { ...fields, Status: 'critical', Output: '', Type: 'maintenance', Interval: '', Timeout: '', Definition: {} }
    this.state.setCheck({ check: record, definition: null, origin: 'api', source: '', definitionKey: '', token: '' }, { keepStatus: false, nowMs: Date.now() })
  }

  /** Removes a service with its sidecar/managed proxy and all their checks; false when unknown. */
  private removeServiceTree (serviceId: string): boolean {
    const entry = this.state.service(serviceId)
    if (entry === undefined) return false
    for (const child of this.state.children(serviceId)) this.removeServiceTree(child.service.ID)
    for (const check of this.state.serviceChecks(serviceId)) this.runners.stop(check.check.CheckID)
    if (entry.role.kind === 'managed-proxy') {
      this.supervisor.remove(serviceId).catch((err: Error) => this.options.logger.error({ proxy: serviceId, err: err.message }, 'managed proxy could not be stopped'))
    }
    if (entry.role.kind !== 'service') delete this.#ports[serviceId]
    this.state.removeService(serviceId)
    return true
  }

  private removeCheck (checkId: string): boolean {
    this.runners.stop(checkId)
    return this.state.removeCheck(checkId)
  }

  /** A check result from a runner or a TTL update. */
  private recordResult (checkId: string, status: CheckStatus, output: string): void {
    const change = this.state.updateCheck(checkId, { status, output, nowMs: Date.now() })
    if (change === 'output') this.antiEntropy.deferOutput(checkId)
    if (change === 'status') this.options.logger.debug({ check: checkId, status }, 'check status changed')
  }

  // -------------------------------------------------------------------------------------------
  // Config definitions (start, reload) and persisted registrations

  /** Applies config-file definitions; returns one problem per rejected definition. */
  private applyConfig (definitions: ConfigDefinitions): string[] {
    const problems: string[] = []
    const rejectedIds = new Set<string>()
    const services = this.decodeConfigServices(definitions.services, { problems, rejectedIds })
    for (const entry of this.state.services()) {
      // A definition that no longer decodes keeps the registration it would replace: a typo in a
      // file does not take a running service out of the catalog.
      if (rejectedIds.has(entry.service.ID)) continue
      if (entry.role.kind === 'service' && entry.origin === 'config' && !services.has(entry.service.ID)) {
        this.removeServiceTree(entry.service.ID)
        this.options.logger.info({ service: entry.service.ID, source: entry.source }, 'service removed from the config files')
      }
    }
    for (const [id, item] of services) {
      const existing = this.state.service(id)
      if (existing !== undefined && existing.origin === 'config' && existing.role.kind === 'service' && existing.definitionKey === item.key) continue
      try {
        this.register(item.definition, { origin: 'config', source: item.source, replaceExistingChecks: true, token: item.definition.token, definitionKey: item.key })
        this.#apiServices.delete(id)
      } catch (err) {
        problems.push(`${item.label}: ${(err as Error).message}`)
      }
    }
    this.applyConfigChecks(definitions.checks, problems)
    return problems
  }

  private decodeConfigServices (
    raws: readonly RawDefinition[], report: { readonly problems: string[], readonly rejectedIds: Set<string> }
  ): Map<string, { definition: ServiceDefinition, key: string, source: string, label: string }> {
    const { problems } = report
    const result = new Map<string, { definition: ServiceDefinition, key: string, source: string, label: string }>()
    raws.forEach((raw, index) => {
      const label = definitionLabel(raws, index, 'service')
      try {
        const definition = decodeServiceDefinition(raw.definition, { origin: 'config' })
        const earlier = result.get(definition.id)
        if (earlier !== undefined) problems.push(`${label}: service ID ${JSON.stringify(definition.id)} is also defined by ${earlier.label}; the later definition is used`)
        result.set(definition.id, { definition, key: stableJson(definition), source: raw.source, label })
      } catch (err) {
        problems.push(`${label}: ${(err as Error).message}`)
        const id = definedId(raw.definition)
        if (id !== null) report.rejectedIds.add(id)
      }
    })
    return result
  }

  private applyConfigChecks (raws: readonly RawDefinition[], problems: string[]): void {
    const checks = new Map<string, { definition: CheckDefinition, key: string, source: string, label: string }>()
    raws.forEach((raw, index) => {
      const label = definitionLabel(raws, index, 'check')
      try {
        const definition = decodeCheckDefinition(raw.definition, { origin: 'config' })
        checks.set(definition.checkId, { definition, key: stableJson(definition), source: raw.source, label })
      } catch (err) {
        problems.push(`${label}: ${(err as Error).message}`)
      }
    })
    for (const entry of this.state.checks()) {
      if (entry.origin === 'config' && entry.definitionKey !== '' && !checks.has(entry.check.CheckID)) this.removeCheck(entry.check.CheckID)
    }
    for (const [id, item] of checks) {
      const existing = this.state.check(id)
      if (existing !== undefined && existing.origin === 'config' && existing.definitionKey === item.key) continue
      try {
        this.addTopLevelCheck(item.definition, { origin: 'config', source: item.source, definitionKey: item.key, token: '' })
        this.#apiChecks.delete(id)
      } catch (err) {
        problems.push(`${item.label}: ${(err as Error).message}`)
      }
    }
  }

  /** API registrations from before a restart; a config definition of the same ID wins. */
  private restorePersisted (persisted: PersistedState): void {
    for (const { definition, token } of persisted.services) {
      const existing = this.state.service(definition.id)
      if (existing !== undefined && existing.origin === 'config') continue
      try {
        this.register(definition, { origin: 'api', source: '', replaceExistingChecks: false, token })
        this.#apiServices.set(definition.id, { definition, token })
      } catch (err) {
        this.options.logger.error({ service: definition.id, err: (err as Error).message }, 'a persisted service registration could not be restored')
      }
    }
    for (const { definition, token } of persisted.checks) {
      if (this.state.check(definition.checkId)?.origin === 'config') continue
      try {
        this.addTopLevelCheck(definition, { origin: 'api', source: '', definitionKey: '', token })
        this.#apiChecks.set(definition.checkId, { definition, token })
      } catch (err) {
        this.options.logger.error({ check: definition.checkId, err: (err as Error).message }, 'a persisted check registration could not be restored')
      }
    }
  }

  private async persist (): Promise<void> {
    await this.#persistence.save({
      services: [...this.#apiServices.values()].filter(item => this.state.service(item.definition.id) !== undefined),
      checks: [...this.#apiChecks.values()].filter(item => this.state.check(item.definition.checkId) !== undefined),
      ports: { ...this.#ports }
    })
  }

  private definitionOf (entry: ServiceEntry): ServiceDefinition | null {
    if (entry.origin === 'api') return this.#apiServices.get(entry.service.ID)?.definition ?? null
    try {
      return JSON.parse(entry.definitionKey) as ServiceDefinition
    } catch {
      return null
    }
  }

  // -------------------------------------------------------------------------------------------
  // Health, reaping, blocking

  private serviceHealth (entry: ServiceEntry): AgentServiceHealth {
    const checks = this.state.checks().filter(check => check.check.ServiceID === entry.service.ID || check.check.ServiceID === '')
    let status = 'passing'
    for (const check of checks) {
      const id = check.check.CheckID
      if (id === nodeMaintenanceCheckId || id.startsWith(serviceMaintenancePrefix)) { status = 'maintenance'; break }
      if (check.check.Status === 'critical') status = 'critical'
      else if (check.check.Status === 'warning' && status === 'passing') status = 'warning'
    }
    return {
      AggregatedStatus: status,
      Service: agentServiceJson(entry.service, this.options.node.datacenter),
      Checks: checks.map(check => agentCheckJson(check.check, this.options.node.name))
    }
  }

  /** DeregisterCriticalServiceAfter: a service whose check stayed critical that long is deregistered. */
  reapCritical (nowMs = Date.now()): void {
    const minimumMs = this.options.deregisterCriticalMinimumMs ?? 60_000
    for (const entry of this.state.checks()) {
      const afterMs = entry.definition?.deregisterCriticalAfterMs ?? 0
      if (afterMs <= 0 || entry.criticalSinceMs === null) continue
      const serviceId = entry.check.ServiceID
      if (serviceId === '' || this.state.service(serviceId) === undefined) continue
      if (nowMs - entry.criticalSinceMs < Math.max(afterMs, minimumMs)) continue
      this.options.logger.warn({ service: serviceId, check: entry.check.CheckID, criticalForMs: nowMs - entry.criticalSinceMs }, 'deregistering a service whose check stayed critical (DeregisterCriticalServiceAfter)')
      this.#apiServices.delete(serviceId)
      this.removeServiceTree(serviceId)
    }
    void this.persist()
  }

  /** Answers at once unless `wait.hash` equals the current hash; then waits for a change or the deadline. */
  private async hashBlocking<T> (wait: HashWait, read: () => { value: T, hash: string }): Promise<{ value: T, hash: string }> {
    const first = read()
    if (wait.hash === null || wait.hash === '' || first.hash !== wait.hash || this.#stopped) return first
    return await new Promise((resolve, reject) => {
      const finish = (outcome: () => void): void => {
        clearTimeout(timer)
        unsubscribe()
        this.#waiters.delete(release)
        outcome()
      }
      const settle = (): void => {
        try {
          resolve(read())
        } catch (err) {
          reject(err)
        }
      }
      const release = (): void => finish(settle)
      const timer = setTimeout(release, wait.maxWaitMs)
      timer.unref()
      const unsubscribe = this.state.onChange(() => {
        let current: { value: T, hash: string }
        try {
          current = read()
        } catch (err) {
          finish(() => reject(err))
          return
        }
        if (current.hash !== wait.hash) finish(() => resolve(current))
      })
      this.#waiters.add(release)
    })
  }
}

/** `/path/web.json: service` when the file has one definition, else `services[i]` (its index in that file). */
function definitionLabel (raws: readonly RawDefinition[], index: number, kind: 'service' | 'check'): string {
  const raw = raws[index] as RawDefinition
  const sameFile = raws.map((item, position) => ({ item, position })).filter(({ item }) => item.source === raw.source)
  const name = typeof raw.definition.name === 'string' ? raw.definition.name : typeof raw.definition.Name === 'string' ? raw.definition.Name : null
  const key = sameFile.length === 1 ? kind : `${kind}s[${sameFile.findIndex(({ position }) => position === index)}]`
  return `${raw.source}: ${key}${name === null ? '' : ` (${JSON.stringify(name)})`}`
}

/** The service ID a raw definition names (`id`, else `name`, any case), or null. */
function definedId (definition: Readonly<Record<string, unknown>>): string | null {
  const value = (key: string): string | null => {
    const found = Object.entries(definition).find(([name]) => name.toLowerCase() === key)
    return typeof found?.[1] === 'string' && found[1] !== '' ? found[1] : null
  }
  return value('id') ?? value('name')
}
