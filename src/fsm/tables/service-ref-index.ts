/**
 * A secondary index from a name (lookup key) to service instances, each identified by
 * (node key, service key): services by name, and mesh-capable instances by the service they
 * serve. Lists come back sorted by node, then service, as Consul's catalog returns them.
 *
 * Invariant: no empty maps or sets are kept, so `has(name)` means "some instance exists".
 * Callers: tables/catalog.ts.
 */
import { compareKeys } from './sorted-keys.js'

export interface ServiceRef {
  readonly nodeKey: string
  readonly serviceKey: string
}

export class ServiceRefIndex {
  private readonly byName = new Map<string, Map<string, Set<string>>>()

  add (name: string, ref: ServiceRef): void {
    let nodes = this.byName.get(name)
    if (nodes === undefined) {
      nodes = new Map()
      this.byName.set(name, nodes)
    }
    let services = nodes.get(ref.nodeKey)
    if (services === undefined) {
      services = new Set()
      nodes.set(ref.nodeKey, services)
    }
    services.add(ref.serviceKey)
  }

  remove (name: string, ref: ServiceRef): void {
    const nodes = this.byName.get(name)
    const services = nodes?.get(ref.nodeKey)
    if (nodes === undefined || services === undefined) return
    services.delete(ref.serviceKey)
    if (services.size === 0) nodes.delete(ref.nodeKey)
    if (nodes.size === 0) this.byName.delete(name)
  }

  has (name: string): boolean {
    return this.byName.has(name)
  }

  list (name: string): ServiceRef[] {
    const nodes = this.byName.get(name)
    if (nodes === undefined) return []
    const refs: ServiceRef[] = []
    for (const nodeKey of [...nodes.keys()].sort(compareKeys)) {
      const services = [...(nodes.get(nodeKey) ?? [])].sort(compareKeys)
      for (const serviceKey of services) refs.push({ nodeKey, serviceKey })
    }
    return refs
  }

  names (): string[] {
    return [...this.byName.keys()].sort(compareKeys)
  }
}
