/**
 * The agent's records of its local services and checks (Consul's NodeService and HealthCheck as
 * the agent holds them), and every JSON shape built from them:
 *   - AgentService for GET /v1/agent/services and /v1/agent/service/<id> (spec §3.3),
 *   - HealthCheck for GET /v1/agent/checks (spec §3.2),
 *   - the catalog registration anti-entropy sends (spec §4), and the comparable form of a
 *     catalog row that a full sync compares against.
 *
 * Pure: no I/O, no clock. Callers: local-state.ts, local-services.ts, anti-entropy.ts.
 */
import { createHash } from 'node:crypto'
import type { CheckStatus, ProxyDefinition, ServiceKind, TaggedAddress, UpstreamDefinition } from '../../api/service-definition.js'

/** A service registered on this agent, after sidecar expansion and defaults. */
export interface ServiceRecord {
  readonly ID: string
  readonly Service: string
  readonly Kind: ServiceKind
  readonly Tags: readonly string[]
  readonly Address: string
  readonly TaggedAddresses: Readonly<Record<string, TaggedAddress>>
  readonly Meta: Readonly<Record<string, string>>
  readonly Port: number
  readonly SocketPath: string
  readonly Weights: { readonly Passing: number, readonly Warning: number }
  readonly EnableTagOverride: boolean
  /** Only for connect-proxy (and gateway) kinds. */
  readonly Proxy: ProxyDefinition | null
  readonly ConnectNative: boolean
}

/** A check registered on this agent; Status and Output change as the check runs. */
export interface CheckRecord {
  readonly CheckID: string
  readonly Name: string
  readonly Status: CheckStatus
  readonly Notes: string
  readonly Output: string
  readonly ServiceID: string
  readonly ServiceName: string
  readonly ServiceTags: readonly string[]
  /** ttl, http, tcp, alias, or maintenance. */
  readonly Type: string
  /** Go duration strings, '' when not applicable. */
  readonly Interval: string
  readonly Timeout: string
  readonly Definition: Readonly<Record<string, unknown>>
}

type Json = Record<string, unknown>

/** Consul's Proxy JSON: omitempty fields left out, MeshGateway and Expose always present. */
export function proxyJson (proxy: ProxyDefinition): Json {
  return {
    DestinationServiceName: proxy.DestinationServiceName,
    ...(proxy.DestinationServiceID !== '' ? { DestinationServiceID: proxy.DestinationServiceID } : {}),
    ...(proxy.LocalServiceAddress !== '' ? { LocalServiceAddress: proxy.LocalServiceAddress } : {}),
    ...(proxy.LocalServicePort !== 0 ? { LocalServicePort: proxy.LocalServicePort } : {}),
    ...(proxy.LocalServiceSocketPath !== '' ? { LocalServiceSocketPath: proxy.LocalServiceSocketPath } : {}),
    Mode: proxy.Mode,
    ...(proxy.TransparentProxy !== null ? { TransparentProxy: proxy.TransparentProxy } : {}),
    ...(proxy.Config !== null ? { Config: proxy.Config } : {}),
    ...(proxy.Upstreams.length > 0 ? { Upstreams: proxy.Upstreams.map(upstreamJson) } : {}),
    MeshGateway: proxy.MeshGateway,
    Expose: proxy.Expose
  }
}

function upstreamJson (upstream: UpstreamDefinition): Json {
  return { ...upstream }
}

/** AgentService (spec §3.3): Tags forced to [], Meta to {}; Proxy only on proxies; Connect only when native. */
export function agentServiceJson (service: ServiceRecord, datacenter: string): Json {
  return {
    ...(service.Kind !== '' ? { Kind: service.Kind } : {}),
    ID: service.ID,
    Service: service.Service,
    Tags: [...service.Tags],
    Meta: { ...service.Meta },
    Port: service.Port,
    Address: service.Address,
    ...(service.SocketPath !== '' ? { SocketPath: service.SocketPath } : {}),
    ...(Object.keys(service.TaggedAddresses).length > 0 ? { TaggedAddresses: service.TaggedAddresses } : {}),
    Weights: service.Weights,
    EnableTagOverride: service.EnableTagOverride,
    ...(service.Proxy !== null ? { Proxy: proxyJson(service.Proxy) } : {}),
    ...(service.ConnectNative ? { Connect: { Native: true } } : {}),
    Datacenter: datacenter
  }
}

/** X-Consul-ContentHash of a service: 16 hex digits that change whenever its JSON does. */
export function contentHash (value: unknown): string {
  return createHash('sha256').update(stableJson(value)).digest('hex').slice(0, 16)
}

/** JSON with object keys sorted, so equal values give equal text. */
export function stableJson (value: unknown): string {
  return JSON.stringify(sortKeys(value))
}

function sortKeys (value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys)
  if (typeof value !== 'object' || value === null) return value
  const sorted: Json = {}
  for (const key of Object.keys(value).sort()) sorted[key] = sortKeys((value as Json)[key])
  return sorted
}

/** HealthCheck as /v1/agent/checks shows it (ServiceTags forced to []). */
export function agentCheckJson (check: CheckRecord, nodeName: string): Json {
  return {
    Node: nodeName,
    CheckID: check.CheckID,
    Name: check.Name,
    Status: check.Status,
    Notes: check.Notes,
    Output: check.Output,
    ServiceID: check.ServiceID,
    ServiceName: check.ServiceName,
    ServiceTags: [...check.ServiceTags],
    Type: check.Type,
    ...(check.Interval !== '' ? { Interval: check.Interval } : {}),
    ...(check.Timeout !== '' ? { Timeout: check.Timeout } : {}),
    ExposedPort: 0,
    Definition: check.Definition,
    CreateIndex: 0,
    ModifyIndex: 0
  }
}

// ---------------------------------------------------------------------------------------------
// Catalog forms (anti-entropy)

/** The node fields anti-entropy registers (Consul's "node info"). */
export interface NodeInfo {
  readonly ID: string
  readonly Node: string
  readonly Address: string
  readonly TaggedAddresses: Readonly<Record<string, string>>
  readonly NodeMeta: Readonly<Record<string, string>>
}

/** The Service of a catalog registration: what the state store keeps. */
export function catalogServiceJson (service: ServiceRecord): Json {
  return {
    ID: service.ID,
    Service: service.Service,
    Kind: service.Kind,
    Tags: [...service.Tags],
    Address: service.Address,
    TaggedAddresses: service.TaggedAddresses,
    Meta: service.Meta,
    Port: service.Port,
    SocketPath: service.SocketPath,
    Weights: service.Weights,
    EnableTagOverride: service.EnableTagOverride,
    Proxy: service.Proxy === null ? {} : proxyJson(service.Proxy),
    Connect: service.ConnectNative ? { Native: true } : {}
  }
}

/** A check of a catalog registration. */
export function catalogCheckJson (check: CheckRecord): Json {
  return {
    CheckID: check.CheckID,
    Name: check.Name,
    Status: check.Status,
    Notes: check.Notes,
    Output: check.Output,
    ServiceID: check.ServiceID,
    Type: check.Type,
    Interval: check.Interval,
    Timeout: check.Timeout,
    ExposedPort: 0,
    Definition: check.Definition
  }
}

const comparedServiceFields = [
  'ID', 'Service', 'Kind', 'Tags', 'Address', 'TaggedAddresses', 'Meta', 'Port', 'SocketPath', 'Weights', 'EnableTagOverride', 'Proxy', 'Connect'
] as const

/**
 * A service as a full sync compares it, from either side: the catalog JSON (NodeService, which
 * omits empty Kind/TaggedAddresses/SocketPath and adds MeshGateway/Expose to Proxy) or
 * catalogServiceJson. Equal texts mean the catalog holds what the agent has.
 */
export function comparableService (json: Readonly<Json>): string {
  const proxy = record(json.Proxy)
  const isProxyEmpty = Object.keys(proxy).every(key => (key === 'MeshGateway' || key === 'Expose') && Object.keys(record(proxy[key])).length === 0)
  const normalized: Json = {
    ...pick(json, comparedServiceFields),
    Kind: typeof json.Kind === 'string' ? json.Kind : '',
    Tags: Array.isArray(json.Tags) ? json.Tags : [],
    TaggedAddresses: record(json.TaggedAddresses),
    Meta: record(json.Meta),
    SocketPath: typeof json.SocketPath === 'string' ? json.SocketPath : '',
    Proxy: isProxyEmpty ? {} : { MeshGateway: {}, Expose: {}, ...proxy },
    Connect: record(json.Connect)
  }
  return stableJson(normalized)
}

const comparedCheckFields = ['CheckID', 'Name', 'Status', 'Notes', 'ServiceID', 'Type', 'Interval', 'Timeout', 'Definition'] as const

/** A check as a full sync compares it; Output only when `withOutput` (see anti-entropy.ts). */
export function comparableCheck (json: Readonly<Json>, options: { readonly withOutput: boolean }): string {
  const normalized: Json = pick(json, comparedCheckFields)
  for (const name of ['Notes', 'ServiceID', 'Type', 'Interval', 'Timeout'] as const) if (normalized[name] === undefined) normalized[name] = ''
  normalized.Definition = record(json.Definition)
  if (options.withOutput) normalized.Output = typeof json.Output === 'string' ? json.Output : ''
  return stableJson(normalized)
}

function pick (json: Readonly<Json>, names: readonly string[]): Json {
  const result: Json = {}
  for (const name of names) if (json[name] !== undefined) result[name] = json[name]
  return result
}

function record (value: unknown): Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? value as Json : {}
}
