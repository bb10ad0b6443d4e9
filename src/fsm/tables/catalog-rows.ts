/**
 * Pure helpers of the catalog tables: lookup keys, row builders and "did anything change"
 * comparisons. Consul skips a node, service or check write whose content is unchanged (agents
 * re-register everything on every anti-entropy pass), so such a write must not move any index
 * or wake any watcher; the comparisons here decide that.
 *
 * Callers: tables/catalog.ts.
 */
import type { CatalogRegistration, CheckInput, CheckRow, NodeRow, ServiceInput, ServiceRow } from '../types.js'
import { plainEqual } from '../shape.js'

/**
 * Catalog lookups are case-insensitive (Consul's memdb indexes lowercase node names, service
 * IDs, service names and check IDs) while rows keep names as given.
 */
export function lookupKey (name: string): string {
  return name.toLowerCase()
}

export function nodeChanged (existing: NodeRow, registration: CatalogRegistration): boolean {
  return existing.ID !== registration.ID ||
    lookupKey(existing.Node) !== lookupKey(registration.Node) ||
    existing.Address !== registration.Address ||
    existing.Datacenter !== registration.Datacenter ||
    !plainEqual(existing.TaggedAddresses, registration.TaggedAddresses) ||
    !plainEqual(existing.Meta, registration.NodeMeta)
}

export function buildNode (index: number, registration: CatalogRegistration, existing: NodeRow | undefined): NodeRow {
  return Object.freeze({
    ID: registration.ID,
    Node: registration.Node,
    Address: registration.Address,
    Datacenter: registration.Datacenter,
    TaggedAddresses: registration.TaggedAddresses,
    Meta: registration.NodeMeta,
    CreateIndex: existing?.CreateIndex ?? index,
    ModifyIndex: index
  })
}

const serviceFields: ReadonlyArray<keyof ServiceInput> = [
  'ID', 'Service', 'Kind', 'Tags', 'Address', 'TaggedAddresses', 'Meta', 'Port', 'SocketPath', 'Weights',
  'EnableTagOverride', 'Proxy', 'Connect'
]

export function serviceUnchanged (existing: ServiceRow, input: ServiceInput, nodeName: string): boolean {
  return existing.Node === nodeName && serviceFields.every(field => plainEqual(existing[field], input[field]))
}

export function buildService (index: number, input: ServiceInput, context: { nodeName: string, existing: ServiceRow | undefined }): ServiceRow {
  return Object.freeze({
    ID: input.ID,
    Node: context.nodeName,
    Service: input.Service,
    Kind: input.Kind,
    Tags: input.Tags,
    Address: input.Address,
    TaggedAddresses: input.TaggedAddresses,
    Meta: input.Meta,
    Port: input.Port,
    SocketPath: input.SocketPath,
    Weights: input.Weights,
    EnableTagOverride: input.EnableTagOverride,
    Proxy: input.Proxy,
    Connect: input.Connect,
    CreateIndex: context.existing?.CreateIndex ?? index,
    ModifyIndex: index
  })
}

const checkFields: ReadonlyArray<keyof CheckRow> = [
  'CheckID', 'Node', 'Name', 'Status', 'Notes', 'Output', 'ServiceID', 'ServiceName', 'ServiceTags', 'Type',
  'Interval', 'Timeout', 'ExposedPort', 'Definition'
]

/** The check as it would be stored, without indexes; compared against the existing row. */
export interface CheckContent extends CheckInput {
  readonly Node: string
  readonly ServiceName: string
  readonly ServiceTags: readonly string[]
}

export function checkContent (input: CheckInput, context: { nodeName: string, service: ServiceRow | undefined }): CheckContent {
  return {
    ...input,
    Node: context.nodeName,
    ServiceName: context.service?.Service ?? '',
    ServiceTags: context.service?.Tags ?? []
  }
}

export function checkUnchanged (existing: CheckRow, content: CheckContent): boolean {
  return checkFields.every(field => plainEqual(existing[field], content[field as keyof CheckContent]))
}

export function buildCheck (index: number, content: CheckContent, existing: CheckRow | undefined): CheckRow {
  return Object.freeze({
    Node: content.Node,
    CheckID: content.CheckID,
    Name: content.Name,
    Status: content.Status,
    Notes: content.Notes,
    Output: content.Output,
    ServiceID: content.ServiceID,
    ServiceName: content.ServiceName,
    ServiceTags: content.ServiceTags,
    Type: content.Type,
    Interval: content.Interval,
    Timeout: content.Timeout,
    ExposedPort: content.ExposedPort,
    Definition: content.Definition,
    CreateIndex: existing?.CreateIndex ?? index,
    ModifyIndex: index
  })
}

/**
 * The service names whose queries a row shows up in: its own name, plus for a connect proxy
 * the destination it fronts (/v1/health/connect/<destination> lists it). Lookup keys.
 */
export function serviceNamesOf (row: ServiceRow): string[] {
  const names = [lookupKey(row.Service)]
  const destination = proxyDestination(row)
  if (destination !== undefined && lookupKey(destination) !== names[0]) names.push(lookupKey(destination))
  return names
}

/** The lookup key under which a mesh-capable row is listed for /v1/catalog/connect/<name>. */
export function connectName (row: ServiceRow): string | undefined {
  const destination = proxyDestination(row)
  if (destination !== undefined) return lookupKey(destination)
  return row.Connect.Native === true ? lookupKey(row.Service) : undefined
}

function proxyDestination (row: ServiceRow): string | undefined {
  if (row.Kind !== 'connect-proxy') return undefined
  const destination = row.Proxy.DestinationServiceName
  return typeof destination === 'string' && destination !== '' ? destination : undefined
}
