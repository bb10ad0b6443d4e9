/**
 * The bodies of PUT /v1/catalog/register and /v1/catalog/deregister (spec §4), decoded the way
 * Consul decodes them: case-insensitive keys, snake_case aliases (`skip_node_update`,
 * `tagged_addresses`, `destination_service_name`, ...), null as absent, unknown keys dropped,
 * durations as "10s" or integer nanoseconds. The result uses canonical PascalCase keys and holds
 * only the fields the client sent, so the server applies Consul's defaults (Service.ID from
 * Service.Service, CheckID from Name, ...) in one place.
 *
 * Checks the edge can make with certainty are made here with 4xx answers (spec §18.5): Node and
 * Address present, service name present, check status valid. The singular `Check` is appended
 * to `Checks`, as Consul's endpoint does, so the server sees only `Checks`.
 *
 * Callers: handlers/catalog.ts.
 */
import type { CatalogDeregistration, CatalogRegistration } from '../../rpc/types.js'
import { invalidInput } from '../errors.js'
import { proxySchema } from '../proxy-schema.js'
import { decodeJsonBody, decodeObject, describe, field, type ObjectSchema } from '../validate.js'

const serviceSchema: ObjectSchema = {
  ID: field.string,
  Service: field.string,
  Kind: field.string,
  Tags: field.stringArray,
  Address: field.string,
  TaggedAddresses: field.map(field.object({ Address: field.string, Port: field.port })),
  Meta: field.stringMap,
  Port: field.port,
  SocketPath: field.string,
  Weights: field.object({ Passing: field.unsigned, Warning: field.unsigned }),
  EnableTagOverride: field.boolean,
  Proxy: field.object(proxySchema),
  Connect: field.object({ Native: field.boolean, SidecarService: field.opaque })
}

const checkDefinitionSchema: ObjectSchema = {
  HTTP: field.string,
  TLSServerName: field.string,
  TLSSkipVerify: field.boolean,
  Header: field.map(field.stringArray),
  Method: field.string,
  Body: field.string,
  TCP: field.string,
  UDP: field.string,
  GRPC: field.string,
  GRPCUseTLS: field.boolean,
  H2PING: field.string,
  OSService: field.string,
  Interval: field.duration,
  Timeout: field.duration,
  DeregisterCriticalServiceAfter: field.duration,
  TTL: field.duration,
  ScriptArgs: field.stringArray,
  AliasNode: field.string,
  AliasService: field.string
}

const checkSchema: ObjectSchema = {
  Node: field.string,
  CheckID: field.string,
  Name: field.string,
  Status: field.string,
  Notes: field.string,
  Output: field.string,
  ServiceID: field.string,
  ServiceName: field.string,
  ServiceTags: field.stringArray,
  Type: field.string,
  Interval: field.duration,
  Timeout: field.duration,
  ExposedPort: field.port,
  Definition: field.object(checkDefinitionSchema)
}

const registerSchema: ObjectSchema = {
  ID: field.string,
  Node: field.string,
  Address: field.string,
  Datacenter: field.string,
  TaggedAddresses: field.stringMap,
  NodeMeta: field.stringMap,
  Service: field.object(serviceSchema),
  Check: field.object(checkSchema),
  Checks: field.array(field.object(checkSchema)),
  SkipNodeUpdate: field.boolean
}

const deregisterSchema: ObjectSchema = {
  Node: field.string,
  Datacenter: field.string,
  ServiceID: field.string,
  CheckID: field.string
}

const checkStatuses = ['passing', 'warning', 'critical'] as const

export function decodeRegistration (body: Uint8Array): CatalogRegistration {
  const registration = decodeObject(decodeJsonBody(body), registerSchema, '')
  requireNode(registration)
  if (registration.SkipNodeUpdate !== true && (registration.Address ?? '') === '') {
    throw invalidInput('Must provide address if SkipNodeUpdate is not set')
  }
  const service = registration.Service as Record<string, unknown> | undefined
  if (service !== undefined && (service.Service ?? '') === '') throw invalidInput('Must provide service name (Service.Service)')
  const checks = [...(registration.Checks as Array<Record<string, unknown>> | undefined ?? [])]
  if (registration.Check !== undefined) checks.push(registration.Check as Record<string, unknown>)
  checks.forEach((check, index) => { checkStatus(check, `Checks[${index}].Status`) })
  const { Check: _single, Checks: _list, ...rest } = registration
  return checks.length === 0 ? rest : { ...rest, Checks: checks }
}

export function decodeDeregistration (body: Uint8Array): CatalogDeregistration {
  const deregistration = decodeObject(decodeJsonBody(body), deregisterSchema, '')
  requireNode(deregistration)
  return deregistration
}

function requireNode (body: Record<string, unknown>): void {
  if ((body.Node ?? '') === '') throw invalidInput('Must provide node')
}

/** Absent or "" lets the server apply Consul's default (critical). */
function checkStatus (check: Record<string, unknown>, path: string): void {
  const status = check.Status
  if (status === undefined || status === '') return
  if (!(checkStatuses as readonly unknown[]).includes(status)) {
    throw invalidInput(`${path} must be one of "passing", "warning", "critical", got ${describe(status)}`)
  }
}
