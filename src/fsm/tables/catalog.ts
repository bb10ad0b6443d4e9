/**
 * The catalog: Consul's `nodes`, `services` and `checks` tables with their secondary indexes
 * (node by ID, services by name, mesh-capable instances by the service they serve) and the
 * per-service-name indexes that let a blocking query on one service sleep through writes to
 * others (Consul's "service.<name>" index entries).
 *
 * Invariants:
 * - Lookups are case-insensitive (keys are lowercased names); rows keep names as given, and a
 *   node keeps the spelling it was created with.
 * - Every service and check belongs to an existing node; a check with a ServiceID belongs to an
 *   existing service on the same node, and carries that service's current name and tags.
 * - A write that changes nothing moves no index (agents re-register on every sync).
 * - A change that affects what `/v1/health/service/<name>` or `/health/connect/<name>` returns
 *   moves that name's index to the write's Raft index; a name with no instance left drops its
 *   entry and falls back to the catalog tables' highest index, which is never lower.
 *
 * Callers: state-store.ts (writes from the FSM, reads), snapshot.ts.
 */
import { assert, assertNever } from '../../util/assert.js'
import type {
  CatalogDeregistration, CatalogRegistration, CheckInput, CheckRow, CheckStatus, NodeRow, ServiceHealth,
  ServiceInput, ServiceInstance, ServiceRow, WriteOutcome, WriteRejected
} from '../types.js'
import {
  buildCheck, buildNode, buildService, checkContent, checkUnchanged, connectName, lookupKey, nodeChanged,
  serviceNamesOf, serviceUnchanged
} from './catalog-rows.js'
import { ServiceRefIndex, type ServiceRef } from './service-ref-index.js'
import { compareKeys } from './sorted-keys.js'
import type { TableIndexes } from './table-indexes.js'

export interface ServiceSummary {
  readonly Name: string
  /** Union of the instances' tags, sorted, without duplicates. */
  readonly Tags: readonly string[]
}

export class CatalogTables {
  private readonly nodes = new Map<string, NodeRow>()
  private readonly nodeKeyById = new Map<string, string>()
  private readonly services = new Map<string, Map<string, ServiceRow>>()
  private readonly checks = new Map<string, Map<string, CheckRow>>()
  private readonly byName = new ServiceRefIndex()
  private readonly byConnect = new ServiceRefIndex()
  private readonly nameIndexes = new Map<string, number>()

  constructor (private readonly indexes: TableIndexes) {}

  // -------------------------------------------------------------------------------------------
  // Reads

  node (name: string): NodeRow | undefined {
    return this.nodes.get(lookupKey(name))
  }

  /** Every node, sorted by name. */
  listNodes (): NodeRow[] {
    return sortedKeys(this.nodes).map(key => this.mustNode(key))
  }

  /** The node's services sorted by ID ([] for an unknown node). */
  nodeServices (nodeName: string): ServiceRow[] {
    return sortedValues(this.services.get(lookupKey(nodeName)))
  }

  /** The node's checks (node-level and service checks) sorted by CheckID. */
  nodeChecks (nodeName: string): CheckRow[] {
    return sortedValues(this.checks.get(lookupKey(nodeName)))
  }

  service (nodeName: string, serviceId: string): ServiceRow | undefined {
    return this.services.get(lookupKey(nodeName))?.get(lookupKey(serviceId))
  }

  /** One entry per service name, sorted by name: what /v1/catalog/services returns. */
  serviceSummaries (): ServiceSummary[] {
    return this.byName.names().map(name => {
      const rows = this.byName.list(name).map(ref => this.mustService(ref))
      const tags = [...new Set(rows.flatMap(row => row.Tags))].sort(compareKeys)
      return { Name: (rows[0] as ServiceRow).Service, Tags: tags }
    })
  }

  /** Instances of `name` sorted by node then service ID. */
  serviceInstances (name: string): ServiceInstance[] {
    return this.byName.list(lookupKey(name)).map(ref => this.instance(ref))
  }

  /** Proxies whose destination is `name`, plus native instances of `name`. */
  connectInstances (name: string): ServiceInstance[] {
    return this.byConnect.list(lookupKey(name)).map(ref => this.instance(ref))
  }

  /** Instances with their own checks plus their node's node-level checks. */
  serviceHealth (name: string, options: { connect: boolean }): ServiceHealth[] {
    const instances = options.connect ? this.connectInstances(name) : this.serviceInstances(name)
    return instances.map(instance => ({ ...instance, checks: this.instanceChecks(instance.service) }))
  }

  /** The service checks (not node checks) of every instance of `name`. */
  serviceChecks (name: string): CheckRow[] {
    return this.byName.list(lookupKey(name)).flatMap(ref => {
      return this.nodeChecks(ref.nodeKey).filter(check => lookupKey(check.ServiceID) === ref.serviceKey)
    })
  }

  /** Every check in `state` ('any' = all), sorted by node then CheckID. */
  checksInState (state: CheckStatus | 'any'): CheckRow[] {
    return sortedKeys(this.checks).flatMap(nodeKey => this.nodeChecks(nodeKey).filter(check => state === 'any' || check.Status === state))
  }

  /** The X-Consul-Index of a query about service `name` (its instances, checks or proxies). */
  serviceIndex (name: string): number {
    return this.nameIndexes.get(lookupKey(name)) ?? this.catalogIndex()
  }

  private catalogIndex (): number {
    return Math.max(this.indexes.get('nodes'), this.indexes.get('services'), this.indexes.get('checks'))
  }

  // -------------------------------------------------------------------------------------------
  // Writes (from the FSM only)

  /** Consul's register: node, then service, then checks; all or nothing. */
  register (index: number, registration: CatalogRegistration): WriteOutcome {
    const nodeKey = lookupKey(registration.Node)
    const existingNode = this.nodes.get(nodeKey)
    const writesNode = existingNode === undefined || (!registration.SkipNodeUpdate && nodeChanged(existingNode, registration))
    const rejection = this.rejectRegistration(registration, { nodeKey, writesNode })
    if (rejection !== undefined) return rejection
    if (writesNode) this.putNode(index, nodeKey, buildNode(index, registration, existingNode))
    const nodeName = this.mustNode(nodeKey).Node
    if (registration.Service !== null) this.maybePutService(index, { nodeKey, nodeName }, registration.Service)
    for (const check of registration.Checks) this.maybePutCheck(index, { nodeKey, nodeName }, check)
    return { ok: true }
  }

  /** Removes a node (with its services and checks), a service (with its checks) or a check. */
  deregister (index: number, target: CatalogDeregistration): void {
    const nodeKey = lookupKey(target.Node)
    if (!this.nodes.has(nodeKey)) return
    switch (target.Target) {
      case 'node':
        this.deleteNode(index, nodeKey)
        return
      case 'service':
        this.deleteService(index, { nodeKey, serviceKey: lookupKey(target.ServiceID) })
        return
      case 'check':
        this.deleteCheck(index, nodeKey, lookupKey(target.CheckID))
        return
      default:
        assertNever(target, 'deregistration target')
    }
  }

  private rejectRegistration (registration: CatalogRegistration, context: { nodeKey: string, writesNode: boolean }): WriteRejected | undefined {
    const owner = registration.ID === '' ? undefined : this.nodeKeyById.get(registration.ID)
    if (context.writesNode && owner !== undefined && owner !== context.nodeKey) {
      const ownerName = this.mustNode(owner).Node
      return reject('ERR_CONFLICT', `node ID ${JSON.stringify(registration.ID)} for node ${JSON.stringify(registration.Node)} aliases existing node ${JSON.stringify(ownerName)}`)
    }
    for (const check of registration.Checks) {
      if (check.ServiceID === '' || this.registersService(registration, context.nodeKey, check.ServiceID)) continue
      return reject('ERR_INVALID_INPUT', `unknown service ID ${JSON.stringify(check.ServiceID)} for check ID ${JSON.stringify(check.CheckID)} on node ${JSON.stringify(registration.Node)}`)
    }
    return undefined
  }

  private registersService (registration: CatalogRegistration, nodeKey: string, serviceId: string): boolean {
    const serviceKey = lookupKey(serviceId)
    if (registration.Service !== null && lookupKey(registration.Service.ID) === serviceKey) return true
    return this.services.get(nodeKey)?.has(serviceKey) ?? false
  }

  private putNode (index: number, nodeKey: string, row: NodeRow): void {
    const previous = this.nodes.get(nodeKey)
    if (previous !== undefined && previous.ID !== '' && this.nodeKeyById.get(previous.ID) === nodeKey) this.nodeKeyById.delete(previous.ID)
    if (row.ID !== '') this.nodeKeyById.set(row.ID, nodeKey)
    this.nodes.set(nodeKey, row)
    this.indexes.bump('nodes', index)
    this.bumpNodeServiceNames(index, nodeKey)
  }

  private maybePutService (index: number, node: { nodeKey: string, nodeName: string }, input: ServiceInput): void {
    const ref = { nodeKey: node.nodeKey, serviceKey: lookupKey(input.ID) }
    const existing = this.services.get(ref.nodeKey)?.get(ref.serviceKey)
    if (existing !== undefined && serviceUnchanged(existing, input, node.nodeName)) return
    const row = buildService(index, input, { nodeName: node.nodeName, existing })
    if (existing !== undefined) {
      this.bumpServiceNames(index, existing)
      this.unindexService(ref, existing)
    }
    mapOf(this.services, ref.nodeKey).set(ref.serviceKey, row)
    this.indexService(ref, row)
    this.indexes.bump('services', index)
    this.bumpServiceNames(index, row)
    if (existing !== undefined) this.forgetUnusedNames(existing)
    this.refreshServiceChecks(index, ref, row)
  }

  /** Keeps ServiceName/ServiceTags of the service's checks equal to the service's. */
  private refreshServiceChecks (index: number, ref: ServiceRef, service: ServiceRow): void {
    for (const check of this.nodeChecks(ref.nodeKey)) {
      if (lookupKey(check.ServiceID) !== ref.serviceKey) continue
      const content = checkContent(check, { nodeName: check.Node, service })
      if (checkUnchanged(check, content)) continue
      mapOf(this.checks, ref.nodeKey).set(lookupKey(check.CheckID), buildCheck(index, content, check))
      this.indexes.bump('checks', index)
    }
  }

  private maybePutCheck (index: number, node: { nodeKey: string, nodeName: string }, input: CheckInput): void {
    const service = input.ServiceID === '' ? undefined : this.services.get(node.nodeKey)?.get(lookupKey(input.ServiceID))
    assert(input.ServiceID === '' || service !== undefined, `check ${input.CheckID} names service ${input.ServiceID}, which was checked to exist`)
    const content = checkContent(input, { nodeName: node.nodeName, service })
    const checkKey = lookupKey(input.CheckID)
    const existing = this.checks.get(node.nodeKey)?.get(checkKey)
    if (existing !== undefined && checkUnchanged(existing, content)) return
    const row = buildCheck(index, content, existing)
    if (existing !== undefined) this.bumpCheckNames(index, node.nodeKey, existing)
    mapOf(this.checks, node.nodeKey).set(checkKey, row)
    this.indexes.bump('checks', index)
    this.bumpCheckNames(index, node.nodeKey, row)
  }

  private deleteNode (index: number, nodeKey: string): void {
    for (const service of this.nodeServices(nodeKey)) this.deleteService(index, { nodeKey, serviceKey: lookupKey(service.ID) })
    for (const check of this.nodeChecks(nodeKey)) this.deleteCheck(index, nodeKey, lookupKey(check.CheckID))
    const row = this.mustNode(nodeKey)
    if (row.ID !== '' && this.nodeKeyById.get(row.ID) === nodeKey) this.nodeKeyById.delete(row.ID)
    this.nodes.delete(nodeKey)
    this.services.delete(nodeKey)
    this.checks.delete(nodeKey)
    this.indexes.bump('nodes', index)
  }

  private deleteService (index: number, ref: ServiceRef): void {
    const row = this.services.get(ref.nodeKey)?.get(ref.serviceKey)
    if (row === undefined) return
    for (const check of this.nodeChecks(ref.nodeKey)) {
      if (lookupKey(check.ServiceID) === ref.serviceKey) this.deleteCheck(index, ref.nodeKey, lookupKey(check.CheckID))
    }
    this.bumpServiceNames(index, row)
    this.unindexService(ref, row)
    this.services.get(ref.nodeKey)?.delete(ref.serviceKey)
    this.indexes.bump('services', index)
    this.forgetUnusedNames(row)
  }

  private deleteCheck (index: number, nodeKey: string, checkKey: string): void {
    const row = this.checks.get(nodeKey)?.get(checkKey)
    if (row === undefined) return
    this.bumpCheckNames(index, nodeKey, row)
    this.checks.get(nodeKey)?.delete(checkKey)
    this.indexes.bump('checks', index)
  }

  // -------------------------------------------------------------------------------------------
  // Secondary indexes

  private indexService (ref: ServiceRef, row: ServiceRow): void {
    this.byName.add(lookupKey(row.Service), ref)
    const connect = connectName(row)
    if (connect !== undefined) this.byConnect.add(connect, ref)
  }

  private unindexService (ref: ServiceRef, row: ServiceRow): void {
    this.byName.remove(lookupKey(row.Service), ref)
    const connect = connectName(row)
    if (connect !== undefined) this.byConnect.remove(connect, ref)
  }

  private bumpServiceNames (index: number, row: ServiceRow): void {
    for (const name of serviceNamesOf(row)) {
      const current = this.nameIndexes.get(name) ?? 0
      assert(index >= current, `service name index of ${name} would move back from ${current} to ${index}`)
      this.nameIndexes.set(name, index)
    }
  }

  /** A node-level change (the node row or a node check) affects every service on the node. */
  private bumpNodeServiceNames (index: number, nodeKey: string): void {
    for (const service of this.services.get(nodeKey)?.values() ?? []) this.bumpServiceNames(index, service)
  }

  private bumpCheckNames (index: number, nodeKey: string, check: CheckRow): void {
    if (check.ServiceID === '') {
      this.bumpNodeServiceNames(index, nodeKey)
      return
    }
    const service = this.services.get(nodeKey)?.get(lookupKey(check.ServiceID))
    if (service !== undefined) this.bumpServiceNames(index, service)
  }

  private forgetUnusedNames (row: ServiceRow): void {
    for (const name of serviceNamesOf(row)) {
      if (!this.byName.has(name) && !this.byConnect.has(name)) this.nameIndexes.delete(name)
    }
  }

  // -------------------------------------------------------------------------------------------
  // Snapshots

  * nodeRows (): Generator<NodeRow> {
    yield * this.listNodes()
  }

  * serviceRows (): Generator<ServiceRow> {
    for (const nodeKey of sortedKeys(this.services)) yield * this.nodeServices(nodeKey)
  }

  * checkRows (): Generator<CheckRow> {
    for (const nodeKey of sortedKeys(this.checks)) yield * this.nodeChecks(nodeKey)
  }

  * serviceNameIndexes (): Generator<[string, number]> {
    for (const name of sortedKeys(this.nameIndexes)) yield [name, this.nameIndexes.get(name) as number]
  }

  /** Loaders return a problem description instead of loading a row that breaks an invariant. */
  loadNode (row: NodeRow): string | undefined {
    const nodeKey = lookupKey(row.Node)
    if (this.nodes.has(nodeKey)) return `node ${JSON.stringify(row.Node)} appears twice`
    if (row.ID !== '' && this.nodeKeyById.has(row.ID)) return `node ID ${JSON.stringify(row.ID)} appears twice`
    this.nodes.set(nodeKey, row)
    if (row.ID !== '') this.nodeKeyById.set(row.ID, nodeKey)
    return undefined
  }

  loadService (row: ServiceRow): string | undefined {
    const ref = { nodeKey: lookupKey(row.Node), serviceKey: lookupKey(row.ID) }
    if (!this.nodes.has(ref.nodeKey)) return `service ${JSON.stringify(row.ID)} belongs to unknown node ${JSON.stringify(row.Node)}`
    if (this.services.get(ref.nodeKey)?.has(ref.serviceKey) === true) return `service ${JSON.stringify(row.ID)} on node ${JSON.stringify(row.Node)} appears twice`
    mapOf(this.services, ref.nodeKey).set(ref.serviceKey, row)
    this.indexService(ref, row)
    return undefined
  }

  loadCheck (row: CheckRow): string | undefined {
    const nodeKey = lookupKey(row.Node)
    if (!this.nodes.has(nodeKey)) return `check ${JSON.stringify(row.CheckID)} belongs to unknown node ${JSON.stringify(row.Node)}`
    if (row.ServiceID !== '' && this.services.get(nodeKey)?.has(lookupKey(row.ServiceID)) !== true) {
      return `check ${JSON.stringify(row.CheckID)} belongs to unknown service ${JSON.stringify(row.ServiceID)}`
    }
    if (this.checks.get(nodeKey)?.has(lookupKey(row.CheckID)) === true) return `check ${JSON.stringify(row.CheckID)} on node ${JSON.stringify(row.Node)} appears twice`
    mapOf(this.checks, nodeKey).set(lookupKey(row.CheckID), row)
    return undefined
  }

  loadServiceNameIndex (name: string, index: number): string | undefined {
    if (this.nameIndexes.has(name)) return `service name index ${JSON.stringify(name)} appears twice`
    this.nameIndexes.set(name, index)
    return undefined
  }

  // -------------------------------------------------------------------------------------------

  private instance (ref: ServiceRef): ServiceInstance {
    return { node: this.mustNode(ref.nodeKey), service: this.mustService(ref) }
  }

  private instanceChecks (service: ServiceRow): CheckRow[] {
    const serviceKey = lookupKey(service.ID)
    return this.nodeChecks(service.Node).filter(check => check.ServiceID === '' || lookupKey(check.ServiceID) === serviceKey)
  }

  private mustNode (nodeKey: string): NodeRow {
    const row = this.nodes.get(nodeKey)
    assert(row !== undefined, `catalog: node ${nodeKey} must exist`)
    return row
  }

  private mustService (ref: ServiceRef): ServiceRow {
    const row = this.services.get(ref.nodeKey)?.get(ref.serviceKey)
    assert(row !== undefined, `catalog: service ${ref.serviceKey} on node ${ref.nodeKey} must exist`)
    return row
  }
}

function reject (code: WriteRejected['code'], message: string): WriteRejected {
  return { ok: false, code, message }
}

function mapOf<V> (outer: Map<string, Map<string, V>>, key: string): Map<string, V> {
  let inner = outer.get(key)
  if (inner === undefined) {
    inner = new Map()
    outer.set(key, inner)
  }
  return inner
}

function sortedKeys (map: ReadonlyMap<string, unknown>): string[] {
  return [...map.keys()].sort(compareKeys)
}

function sortedValues<V> (map: ReadonlyMap<string, V> | undefined): V[] {
  if (map === undefined) return []
  return sortedKeys(map).map(key => map.get(key) as V)
}
