/**
 * The agent's local state: the services and checks registered on this agent, who registered
 * them, and whether the catalog has them (Consul's agent/local.State).
 *
 * Each service and check carries `inSync`: false means anti-entropy must (re)register it. A
 * removed entry leaves a tombstone (`deletedServices`/`deletedChecks`) until the catalog has
 * dropped it too. Removing a service removes its checks and its tombstone covers them (a
 * catalog service deregistration takes its checks along).
 *
 * Every mutation bumps `version` and calls the change listeners synchronously, after the state
 * is consistent; listeners (anti-entropy's trigger, alias checks, hash-blocking readers) may
 * read the state but must not assume which mutation happened. A listener that mutates the state
 * re-enters; it must only mutate when something actually changes, or it loops.
 *
 * Invariants (asserted): a check's ServiceID names a present service; a sidecar or managed
 * proxy names a present parent.
 *
 * Pure: no timers, no I/O. Callers: local-services.ts, anti-entropy.ts, check-runners.ts.
 */
import type { CheckDefinition, CheckStatus, DefinitionOrigin } from '../../api/service-definition.js'
import { assert } from '../../util/assert.js'
import type { CheckRecord, ServiceRecord } from './records.js'

/** How a service came to be here; decides what reload and deregistration may remove. */
export type ServiceRole =
  | { readonly kind: 'service' }
  /** The sidecar_service of `parentId`: goes when its parent goes or is re-registered without one. */
  | { readonly kind: 'sidecar', readonly parentId: string }
  /** The legacy managed proxy of `parentId` (connect.proxy). */
  | { readonly kind: 'managed-proxy', readonly parentId: string }

export interface ServiceEntry {
  readonly service: ServiceRecord
  readonly role: ServiceRole
  /** Where the definition came from: the HTTP API (persisted) or a config file (re-read on reload). */
  readonly origin: DefinitionOrigin
  /** Config file the definition came from; '' for the API. */
  readonly source: string
  /**
   * The definition as registered (stable JSON), for top-level services: a reload whose
   * definition has the same key leaves the service untouched.
   */
  readonly definitionKey: string
  readonly token: string
  inSync: boolean
}

export interface CheckEntry {
  check: CheckRecord
  /** null for maintenance checks (nothing runs them). */
  readonly definition: CheckDefinition | null
  readonly origin: DefinitionOrigin
  readonly source: string
  /** Key of a top-level check's definition (reload), '' for service checks. */
  readonly definitionKey: string
  readonly token: string
  inSync: boolean
  /** When the check last went critical (ms since epoch), null when it is not critical. */
  criticalSinceMs: number | null
}

export type CheckChange = 'none' | 'output' | 'status'

export type ChangeListener = () => void

export class LocalState {
  readonly #services = new Map<string, ServiceEntry>()
  readonly #checks = new Map<string, CheckEntry>()
  /** Service IDs to deregister from the catalog. */
  readonly deletedServices = new Set<string>()
  /** Check IDs to deregister from the catalog. */
  readonly deletedChecks = new Set<string>()
  readonly #listeners = new Set<ChangeListener>()
  nodeInfoInSync = false
  #version = 0

  /** Bumped by every mutation. */
  get version (): number { return this.#version }

  onChange (listener: ChangeListener): () => void {
    this.#listeners.add(listener)
    return () => { this.#listeners.delete(listener) }
  }

  // -------------------------------------------------------------------------------------------
  // Reads

  service (id: string): ServiceEntry | undefined {
    return this.#services.get(id)
  }

  check (id: string): CheckEntry | undefined {
    return this.#checks.get(id)
  }

  /** Services in ID order. */
  services (): ServiceEntry[] {
    return [...this.#services.keys()].sort().map(id => this.#services.get(id) as ServiceEntry)
  }

  /** Checks in CheckID order. */
  checks (): CheckEntry[] {
    return [...this.#checks.keys()].sort().map(id => this.#checks.get(id) as CheckEntry)
  }

  /** The checks of a service (not node checks), in CheckID order. */
  serviceChecks (serviceId: string): CheckEntry[] {
    return this.checks().filter(entry => entry.check.ServiceID === serviceId)
  }

  /** The sidecar or managed proxy registered on behalf of `parentId`, if any. */
  children (parentId: string): ServiceEntry[] {
    return this.services().filter(entry => entry.role.kind !== 'service' && entry.role.parentId === parentId)
  }

  // -------------------------------------------------------------------------------------------
  // Writes

  /** Adds or replaces a service (its checks are set separately). */
  setService (entry: Omit<ServiceEntry, 'inSync'>): void {
    if (entry.role.kind !== 'service') assert(this.#services.has(entry.role.parentId), `${entry.service.ID}: parent ${entry.role.parentId} must be registered first`)
    this.#services.set(entry.service.ID, { ...entry, inSync: false })
    this.deletedServices.delete(entry.service.ID)
    // Checks carry the service's name and tags.
    for (const check of this.serviceChecks(entry.service.ID)) {
      check.check = { ...check.check, ServiceName: entry.service.Service, ServiceTags: entry.service.Tags }
    }
    this.changed()
  }

  /** Removes a service and its checks; false when it was not registered. */
  removeService (id: string): boolean {
    if (!this.#services.has(id)) return false
    for (const check of this.serviceChecks(id)) {
      this.#checks.delete(check.check.CheckID)
      this.deletedChecks.delete(check.check.CheckID)
    }
    this.#services.delete(id)
    this.deletedServices.add(id)
    this.changed()
    return true
  }

  /** Adds or replaces a check; a replaced check keeps its status and output unless `keepStatus` is false. */
  setCheck (entry: Omit<CheckEntry, 'inSync' | 'criticalSinceMs'>, options: { readonly keepStatus: boolean, readonly nowMs: number }): void {
    const serviceId = entry.check.ServiceID
    if (serviceId !== '') assert(this.#services.has(serviceId), `check ${entry.check.CheckID}: service ${serviceId} must be registered first`)
    const existing = this.#checks.get(entry.check.CheckID)
    const check = options.keepStatus && existing !== undefined
      ? { ...entry.check, Status: existing.check.Status, Output: existing.check.Output }
      : entry.check
    const criticalSinceMs = check.Status !== 'critical' ? null : existing?.criticalSinceMs ?? options.nowMs
    this.#checks.set(check.CheckID, { ...entry, check, inSync: false, criticalSinceMs })
    this.deletedChecks.delete(check.CheckID)
    this.changed()
  }

  removeCheck (id: string): boolean {
    if (!this.#checks.has(id)) return false
    this.#checks.delete(id)
    this.deletedChecks.add(id)
    this.changed()
    return true
  }

  /**
   * Records a check result. A status change marks the check out of sync; an output-only change
   * leaves that to the caller (Consul defers those by check_update_interval).
   */
  updateCheck (id: string, result: { readonly status: CheckStatus, readonly output: string, readonly nowMs: number }): CheckChange {
    const entry = this.#checks.get(id)
    if (entry === undefined) return 'none'
    const { Status: status, Output: output } = entry.check
    if (status === result.status && output === result.output) return 'none'
    entry.check = { ...entry.check, Status: result.status, Output: result.output }
    const change: CheckChange = status === result.status ? 'output' : 'status'
    if (change === 'status') {
      entry.inSync = false
      entry.criticalSinceMs = result.status === 'critical' ? result.nowMs : null
    }
    this.changed()
    return change
  }

  /**
   * Anti-entropy: the catalog now has `sent`. Ignored when the service changed since it was sent
   * (a newer version is still to be pushed).
   */
  markServiceInSync (id: string, sent: ServiceRecord): void {
    const entry = this.#services.get(id)
    if (entry !== undefined && entry.service === sent) entry.inSync = true
  }

  /** As markServiceInSync, for a check. */
  markCheckInSync (id: string, sent: CheckRecord): void {
    const entry = this.#checks.get(id)
    if (entry !== undefined && entry.check === sent) entry.inSync = true
  }

  markCheckOutOfSync (id: string): void {
    const entry = this.#checks.get(id)
    if (entry !== undefined) entry.inSync = false
  }

  markServiceOutOfSync (id: string): void {
    const entry = this.#services.get(id)
    if (entry !== undefined) entry.inSync = false
  }

  /** EnableTagOverride: the catalog's tags win; adopt them without a local re-registration. */
  adoptTags (id: string, tags: readonly string[]): void {
    const entry = this.#services.get(id)
    if (entry === undefined) return
    this.#services.set(id, { ...entry, service: { ...entry.service, Tags: [...tags] } })
    for (const check of this.serviceChecks(id)) check.check = { ...check.check, ServiceTags: [...tags] }
    this.changed()
  }

  /** Everything is out of sync (a full sync found the catalog differs, or it must be assumed to). */
  markAllOutOfSync (): void {
    this.nodeInfoInSync = false
    for (const entry of this.#services.values()) entry.inSync = false
    for (const entry of this.#checks.values()) entry.inSync = false
  }

  private changed (): void {
    this.#version += 1
    for (const listener of [...this.#listeners]) listener()
  }
}
