/**
 * Between Consul's catalog JSON and the state store's rows (spec §4, §5).
 *
 * Writes: the HTTP edge (src/api/handlers/catalog-body.ts) hands on only the fields the client
 * sent; here Consul's defaults are applied once, so the FSM command gets every field it requires:
 * Service.ID from Service.Service, CheckID from Name, an empty Status is critical, Weights
 * {Passing: 1, Warning: 1}, the agent's datacenter. A deregistration names its target (node,
 * service or check) from which of ServiceID / CheckID is set.
 *
 * Reads: rows become Consul's shapes: ServiceNode for /v1/catalog/service, {Node, Service,
 * Checks} for /v1/health/service, NodeService for the services of /v1/catalog/node.
 *
 * Callers: server-api.ts.
 */
import type {
  CatalogDeregistration as FsmDeregistration, CatalogRegistration as FsmRegistration, CheckRow, NodeRow, ServiceHealth,
  ServiceInstance, ServiceRow
} from '../fsm/index.js'
import type { CatalogDeregistration, CatalogRegistration } from './types.js'

type Json = Record<string, unknown>

const defaultWeights = Object.freeze({ Passing: 1, Warning: 1 })

function text (value: unknown): string { return typeof value === 'string' ? value : '' }
function record (value: unknown): Json { return typeof value === 'object' && value !== null && !Array.isArray(value) ? value as Json : {} }

export function toFsmRegistration (body: CatalogRegistration, datacenter: string): FsmRegistration {
  const service = body.Service === undefined || body.Service === null ? null : toFsmService(record(body.Service))
  const checks = Array.isArray(body.Checks) ? body.Checks.map(check => toFsmCheck(record(check))) : []
  return {
    ID: text(body.ID),
    Node: text(body.Node),
    Address: text(body.Address),
    Datacenter: text(body.Datacenter) === '' ? datacenter : text(body.Datacenter),
    TaggedAddresses: record(body.TaggedAddresses) as Record<string, string>,
    NodeMeta: record(body.NodeMeta) as Record<string, string>,
    Service: service,
    Checks: checks,
    SkipNodeUpdate: body.SkipNodeUpdate === true
  }
}

function toFsmService (service: Json): NonNullable<FsmRegistration['Service']> {
  const weights = record(service.Weights)
  return {
    ID: text(service.ID) === '' ? text(service.Service) : text(service.ID),
    Service: text(service.Service),
    Kind: text(service.Kind),
    Tags: Array.isArray(service.Tags) ? service.Tags as string[] : [],
    Address: text(service.Address),
    TaggedAddresses: Object.fromEntries(Object.entries(record(service.TaggedAddresses)).map(([name, raw]) => {
      const address = record(raw)
      return [name, { Address: text(address.Address), Port: typeof address.Port === 'number' ? address.Port : 0 }]
    })),
    Meta: record(service.Meta) as Record<string, string>,
    Port: typeof service.Port === 'number' ? service.Port : 0,
    SocketPath: text(service.SocketPath),
    Weights: service.Weights === undefined
      ? defaultWeights
      : { Passing: typeof weights.Passing === 'number' ? weights.Passing : 0, Warning: typeof weights.Warning === 'number' ? weights.Warning : 0 },
    EnableTagOverride: service.EnableTagOverride === true,
    Proxy: record(service.Proxy) as never,
    Connect: record(service.Connect) as never
  }
}

function toFsmCheck (check: Json): FsmRegistration['Checks'][number] {
  const status = text(check.Status)
  return {
    CheckID: text(check.CheckID) === '' ? text(check.Name) : text(check.CheckID),
    Name: text(check.Name),
    Status: status === 'passing' || status === 'warning' ? status : 'critical',
    Notes: text(check.Notes),
    Output: text(check.Output),
    ServiceID: text(check.ServiceID),
    Type: text(check.Type),
    Interval: text(check.Interval),
    Timeout: text(check.Timeout),
    ExposedPort: typeof check.ExposedPort === 'number' ? check.ExposedPort : 0,
    Definition: record(check.Definition) as never
  }
}

export function toFsmDeregistration (body: CatalogDeregistration): FsmDeregistration {
  const node = text(body.Node)
  if (text(body.ServiceID) !== '') return { Node: node, Target: 'service', ServiceID: text(body.ServiceID) }
  if (text(body.CheckID) !== '') return { Node: node, Target: 'check', CheckID: text(body.CheckID) }
  return { Node: node, Target: 'node' }
}

/** Consul's Node object. */
export function nodeJson (node: NodeRow): Json {
  return {
    ID: node.ID, Node: node.Node, Address: node.Address, Datacenter: node.Datacenter,
    TaggedAddresses: node.TaggedAddresses, Meta: node.Meta, CreateIndex: node.CreateIndex, ModifyIndex: node.ModifyIndex
  }
}

/** Consul's NodeService (the `Service` of a health entry, the values of /catalog/node's Services). */
export function nodeServiceJson (service: ServiceRow): Json {
  return {
    ...(service.Kind !== '' ? { Kind: service.Kind } : {}),
    ID: service.ID,
    Service: service.Service,
    Tags: service.Tags,
    Address: service.Address,
    ...(Object.keys(service.TaggedAddresses).length > 0 ? { TaggedAddresses: service.TaggedAddresses } : {}),
    Meta: service.Meta,
    Port: service.Port,
    ...(service.SocketPath !== '' ? { SocketPath: service.SocketPath } : {}),
    Weights: service.Weights,
    EnableTagOverride: service.EnableTagOverride,
    Proxy: { MeshGateway: {}, Expose: {}, ...service.Proxy },
    Connect: service.Connect,
    CreateIndex: service.CreateIndex,
    ModifyIndex: service.ModifyIndex
  }
}

/** Consul's ServiceNode (an element of /v1/catalog/service/<name>). */
export function serviceNodeJson (instance: ServiceInstance): Json {
  const { node, service } = instance
  return {
    ID: node.ID,
    Node: node.Node,
    Address: node.Address,
    Datacenter: node.Datacenter,
    TaggedAddresses: node.TaggedAddresses,
    NodeMeta: node.Meta,
    ServiceKind: service.Kind,
    ServiceID: service.ID,
    ServiceName: service.Service,
    ServiceTags: service.Tags,
    ServiceAddress: service.Address,
    ...(Object.keys(service.TaggedAddresses).length > 0 ? { ServiceTaggedAddresses: service.TaggedAddresses } : {}),
    ServiceWeights: service.Weights,
    ServiceMeta: service.Meta,
    ServicePort: service.Port,
    ServiceSocketPath: service.SocketPath,
    ServiceEnableTagOverride: service.EnableTagOverride,
    ServiceProxy: { MeshGateway: {}, Expose: {}, ...service.Proxy },
    ServiceConnect: service.Connect,
    CreateIndex: service.CreateIndex,
    ModifyIndex: service.ModifyIndex
  }
}

/** Consul's HealthCheck. */
export function healthCheckJson (check: CheckRow): Json {
  return { ...check }
}

/** An element of /v1/health/service/<name>. */
export function serviceHealthJson (health: ServiceHealth): Json {
  return { Node: nodeJson(health.node), Service: nodeServiceJson(health.service), Checks: health.checks.map(healthCheckJson) }
}
