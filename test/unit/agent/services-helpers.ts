/**
 * Agent services (#5/#6) test helpers: a catalog backed by the real FSM (so anti-entropy is
 * tested against the state store's own rules: unchanged writes move no index, a check needs its
 * service, deregistering a service takes its checks), with failure injection and a write count.
 */
import { Fsm, encodeCommand, type Command } from '../../../src/fsm/index.js'
import { nodeJson, nodeServiceJson, serviceHealthJson, toFsmDeregistration, toFsmRegistration } from '../../../src/rpc/catalog-shapes.js'
import type { CatalogDeregistration, CatalogRegistration, QueryResult, ServerApi } from '../../../src/rpc/types.js'
import { ControlPlaneError } from '../../../src/util/errors.js'

const meta = { index: 1, knownLeader: true, lastContactMs: 0, effectiveConsistency: 'leader' as const }

/** The catalog methods of ServerApi that anti-entropy uses, over a real FSM. */
export class FsmCatalog {
  readonly fsm = new Fsm()
  #index = 1
  /** Writes that reached the FSM (register and deregister). */
  writes = 0
  /** Each call of a catalog method shifts one entry: an Error fails that call. */
  readonly failures: Array<Error | null> = []
  /** Registrations of this service ID are refused (ERR_INVALID_INPUT), as a server refusing bad input. */
  refuseServiceId: string | null = null

  private apply (command: Command): void {
    this.#index += 1
    const outcome = this.fsm.apply({ index: this.#index, term: 1, type: 'command', data: encodeCommand(command) }) as { ok: boolean, code?: string, message?: string }
    if (!outcome.ok) throw new ControlPlaneError(outcome.code as never, outcome.message ?? '')
  }

  private maybeFail (): void {
    const failure = this.failures.shift()
    if (failure !== undefined && failure !== null) throw failure
  }

  /** The highest catalog table index: unchanged when a write changed nothing. */
  get catalogIndex (): number {
    const reader = this.fsm.reader
    return Math.max(...['nodes', 'services', 'checks'].map(table => reader.tableIndex(table as never)))
  }

  async catalogRegister (registration: CatalogRegistration): Promise<boolean> {
    this.maybeFail()
    const service = registration.Service as { ID?: string } | undefined
    if (this.refuseServiceId !== null && service?.ID === this.refuseServiceId) throw new ControlPlaneError('ERR_INVALID_INPUT', `refused ${this.refuseServiceId}`)
    this.apply({ type: 'catalogRegister', Registration: toFsmRegistration(registration, 'dc1') })
    this.writes += 1
    return true
  }

  async catalogDeregister (deregistration: CatalogDeregistration): Promise<boolean> {
    this.maybeFail()
    this.apply({ type: 'catalogDeregister', Deregistration: toFsmDeregistration(deregistration) })
    this.writes += 1
    return true
  }

  async catalogNode (name: string): Promise<QueryResult<unknown | null>> {
    this.maybeFail()
    const reader = this.fsm.reader
    const node = reader.catalogNode(name)
    if (node === undefined) return { meta, value: null }
    const services: Record<string, unknown> = {}
    for (const service of reader.catalogNodeServices(name)) services[service.ID] = nodeServiceJson(service)
    return { meta, value: { Node: nodeJson(node), Services: services } }
  }

  async healthService (name: string): Promise<QueryResult<readonly unknown[]>> {
    this.maybeFail()
    return { meta, value: this.fsm.reader.healthService(name, { connect: false }).map(serviceHealthJson) }
  }

  /** As a ServerApi (only the catalog methods exist). */
  asServerApi (): ServerApi {
    return this as unknown as ServerApi
  }

  serviceIds (node: string): string[] {
    return this.fsm.reader.catalogNodeServices(node).map(service => service.ID)
  }

  checks (node: string): Array<{ CheckID: string, Status: string, Output: string, ServiceID: string }> {
    return this.fsm.reader.catalogNodeChecks(node).map(check => ({ CheckID: check.CheckID, Status: check.Status, Output: check.Output, ServiceID: check.ServiceID }))
  }
}
