/**
 * Turning a registration into the services the agent holds (spec §3.4): the parent service
 * record, its `connect.sidecar_service` with Consul's defaults, the legacy managed proxy
 * (`connect.proxy`), each one's checks (with Consul's default IDs and names), and port
 * allocation from the sidecar (21000-21255) and managed-proxy (20000-20255) ranges.
 *
 * Ports: an explicit port is used as given. Otherwise, as Consul: a sidecar already registered
 * with a port in the range keeps it; then (weft) the port this sidecar had before a restart,
 * if it is still free; then the lowest port in the range that no other local service uses.
 * Range 0/0 turns allocation off. Allocation is deterministic, so config-file sidecars get the
 * same ports on every start and reload even without the persisted record.
 *
 * Pure. Callers: local-services.ts.
 */
import {
  multiError, nodeServiceProblems, type CheckDefinition, type ManagedProxyDefinition, type ProxyDefinition, type ServiceDefinition
} from '../../api/service-definition.js'
import { invalidInput } from '../../api/errors.js'
import { ControlPlaneError } from '../../util/errors.js'
import { formatGoDuration } from '../../util/go-duration.js'
import type { CheckRecord, ServiceRecord } from './records.js'

type Mutable<T> = { -readonly [K in keyof T]: T[K] }

export interface PortRange {
  /** 0 with max 0: allocation off. */
  readonly min: number
  readonly max: number
}

export interface PortRequest {
  /** The ID of the service that needs a port. */
  readonly serviceId: string
  readonly range: PortRange
  /** Ports of every other local service. */
  readonly usedPorts: ReadonlySet<number>
  /** This service's current port, if it is registered already. */
  readonly currentPort: number | null
  /** The port it had before (persisted across restarts), if known. */
  readonly previousPort: number | null
}

/** The port for a service without one, or null when none is left (or allocation is off). */
export function allocatePort (request: PortRequest): number | null {
  const { range, usedPorts } = request
  if (range.min < 1 || range.max < 1 || range.max < range.min) return null
  const inRange = (port: number | null): port is number => port !== null && port >= range.min && port <= range.max
  if (inRange(request.currentPort)) return request.currentPort
  if (inRange(request.previousPort) && !usedPorts.has(request.previousPort)) return request.previousPort
  for (let port = range.min; port <= range.max; port += 1) if (!usedPorts.has(port)) return port
  return null
}

export function sidecarPortError (range: PortRange): ControlPlaneError {
  if (range.min < 1 || range.max < 1) {
    return new ControlPlaneError('ERR_REJECTED', 'no port provided for sidecar_service and auto-assignment disabled in config')
  }
  return new ControlPlaneError('ERR_REJECTED', `no port provided for sidecar_service and none left in the configured range [${range.min}, ${range.max}]`)
}

export function managedProxyPortError (range: PortRange): ControlPlaneError {
  return new ControlPlaneError('ERR_REJECTED', `no port provided for proxy bind_port and none left in the allocated range [${range.min}, ${range.max}]`)
}

/** The service record of a top-level definition. */
export function serviceRecord (definition: ServiceDefinition): ServiceRecord {
  return {
    ID: definition.id,
    Service: definition.name,
    Kind: definition.kind,
    Tags: definition.tags,
    Address: definition.address,
    TaggedAddresses: definition.taggedAddresses,
    Meta: definition.meta,
    Port: definition.port,
    SocketPath: definition.socketPath,
    Weights: definition.weights,
    EnableTagOverride: definition.enableTagOverride,
    Proxy: definition.kind === '' ? null : definition.proxy,
    ConnectNative: definition.connectNative
  }
}

export function sidecarId (parentId: string): string {
  return `${parentId}-sidecar-proxy`
}

export function managedProxyId (parentId: string): string {
  return `${parentId}-proxy`
}

export interface ExpandedService {
  readonly service: ServiceRecord
  readonly checks: readonly CheckDefinition[]
  readonly token: string
}

/**
 * Consul's sidecarServiceFromNodeService: the sidecar of `parent` with every default filled in.
 * `port` is the allocated port when the definition gives none. Throws ERR_INVALID_INPUT when the
 * result is not a valid connect-proxy.
 */
export function expandSidecar (parent: ServiceRecord, definition: ServiceDefinition, options: { readonly port: number, readonly parentToken: string }): ExpandedService {
  const proxy: Mutable<ProxyDefinition> = { ...(definition.proxy ?? emptyProxy()) }
  if (proxy.DestinationServiceName === '') proxy.DestinationServiceName = parent.Service
  if (proxy.DestinationServiceID === '') proxy.DestinationServiceID = parent.ID
  if (proxy.LocalServiceSocketPath === '' && (proxy.LocalServiceAddress === '' || proxy.LocalServicePort < 1)) {
    if (parent.SocketPath !== '') {
      proxy.LocalServiceSocketPath = parent.SocketPath
    } else {
      if (proxy.LocalServiceAddress === '') proxy.LocalServiceAddress = '127.0.0.1'
      if (proxy.LocalServicePort < 1) proxy.LocalServicePort = parent.Port
    }
  }
  const service: ServiceRecord = {
    ID: sidecarId(parent.ID),
    Service: definition.name === '' ? `${parent.Service}-sidecar-proxy` : definition.name,
    Kind: definition.kind === '' ? 'connect-proxy' : definition.kind,
    Tags: definition.tags.length > 0 ? definition.tags : parent.Tags,
    Address: definition.address === '' ? parent.Address : definition.address,
    TaggedAddresses: definition.taggedAddresses,
    Meta: Object.keys(definition.meta).length > 0 ? definition.meta : parent.Meta,
    Port: definition.port > 0 ? definition.port : options.port,
    SocketPath: definition.socketPath,
    Weights: definition.weights,
    EnableTagOverride: definition.enableTagOverride,
    Proxy: proxy,
    ConnectNative: definition.connectNative
  }
  const problems = nodeServiceProblems({ ...definition, kind: service.Kind, port: service.Port, proxy, connectNative: service.ConnectNative })
  if (problems.length > 0) throw invalidInput(`Invalid SidecarService: Validation failed: ${multiError(problems)}`)
  const checks = definition.checks.length > 0 ? definition.checks : sidecarDefaultChecks(parent.ID, service)
  return { service, checks, token: definition.token === '' ? options.parentToken : definition.token }
}

function sidecarDefaultChecks (parentId: string, sidecar: ServiceRecord): CheckDefinition[] {
  const address = sidecar.Address !== '' ? sidecar.Address : sidecar.Proxy?.LocalServiceAddress ?? ''
  return [
    { ...blankCheck(), name: 'Connect Sidecar Listening', type: 'tcp', tcp: joinHostPort(address, sidecar.Port), intervalMs: 10_000 },
    { ...blankCheck(), name: `Connect Sidecar Aliasing ${parentId}`, type: 'alias', aliasService: parentId }
  ]
}

/**
 * The legacy managed proxy of `parent` (Consul 1.2-1.5): service `<parent ID>-proxy`, listening
 * on `config.bind_port` (or an allocated port) and forwarding to `config.local_service_address`
 * (default 127.0.0.1:<parent port>), with a TCP check on its listener.
 */
export function expandManagedProxy (parent: ServiceRecord, definition: ManagedProxyDefinition, options: { readonly port: number }): ExpandedService {
  const config = definition.config
  const bindAddress = typeof config.bind_address === 'string' ? config.bind_address : ''
  const local = typeof config.local_service_address === 'string' ? splitAddress(config.local_service_address) : null
  const isAny = bindAddress === '' || bindAddress === '0.0.0.0' || bindAddress === '::'
  const proxy: ProxyDefinition = {
    ...emptyProxy(),
    DestinationServiceName: parent.Service,
    DestinationServiceID: parent.ID,
    LocalServiceAddress: local?.host ?? '127.0.0.1',
    LocalServicePort: local?.port ?? parent.Port,
    Config: config,
    Upstreams: definition.upstreams
  }
  const id = managedProxyId(parent.ID)
  const service: ServiceRecord = {
    ID: id,
    Service: id,
    Kind: 'connect-proxy',
    Tags: [],
    Address: isAny ? '' : bindAddress,
    TaggedAddresses: {},
    Meta: {},
    Port: options.port,
    SocketPath: '',
    Weights: { Passing: 1, Warning: 1 },
    EnableTagOverride: false,
    Proxy: proxy,
    ConnectNative: false
  }
  const checkAddress = isAny ? '127.0.0.1' : bindAddress
  const checks: CheckDefinition[] = [
    { ...blankCheck(), name: 'Connect Proxy Listening', type: 'tcp', tcp: joinHostPort(checkAddress, options.port), intervalMs: 10_000 }
  ]
  return { service, checks, token: '' }
}

/** `config.bind_port` of a managed proxy, or null (allocate). */
export function managedProxyBindPort (definition: ManagedProxyDefinition): number | null {
  const port = definition.config.bind_port
  return typeof port === 'number' && Number.isInteger(port) && port > 0 && port <= 65535 ? port : null
}

/**
 * The check records of a service's check definitions: Consul's default IDs (`service:<id>`, or
 * `service:<id>:<n>` when there are several) and names ("Service '<name>' check"), status
 * critical unless given.
 */
export function serviceCheckRecords (service: ServiceRecord, checks: readonly CheckDefinition[]): Array<{ record: CheckRecord, definition: CheckDefinition }> {
  return checks.map((definition, index) => {
    const checkId = definition.checkId !== ''
      ? definition.checkId
      : checks.length > 1 ? `service:${service.ID}:${index + 1}` : `service:${service.ID}`
    const named = { ...definition, checkId, name: definition.name === '' ? `Service '${service.Service}' check` : definition.name }
    return { record: checkRecord(named, { serviceId: service.ID, serviceName: service.Service, serviceTags: service.Tags }), definition: named }
  })
}

/** A check record from a (named, identified) definition. */
export function checkRecord (definition: CheckDefinition, service: { readonly serviceId: string, readonly serviceName: string, readonly serviceTags: readonly string[] }): CheckRecord {
  return {
    CheckID: definition.checkId,
    Name: definition.name,
    Status: definition.status === '' ? 'critical' : definition.status,
    Notes: definition.notes,
    Output: '',
    ServiceID: service.serviceId,
    ServiceName: service.serviceName,
    ServiceTags: service.serviceTags,
    Type: definition.type,
    Interval: definition.intervalMs > 0 ? formatGoDuration(definition.intervalMs * 1e6) : '',
    Timeout: definition.timeoutMs > 0 ? formatGoDuration(definition.timeoutMs * 1e6) : '',
    Definition: checkDefinitionJson(definition)
  }
}

/** Consul's HealthCheckDefinition (omitempty fields left out). */
function checkDefinitionJson (definition: CheckDefinition): Record<string, unknown> {
  const json: Record<string, unknown> = {}
  if (definition.http !== '') {
    json.HTTP = definition.http
    if (definition.method !== '') json.Method = definition.method
    if (Object.keys(definition.header).length > 0) json.Header = definition.header
    if (definition.tlsSkipVerify) json.TLSSkipVerify = true
  }
  if (definition.tcp !== '') json.TCP = definition.tcp
  if (definition.aliasService !== '') json.AliasService = definition.aliasService
  if (definition.aliasNode !== '') json.AliasNode = definition.aliasNode
  if (definition.intervalMs > 0) json.Interval = formatGoDuration(definition.intervalMs * 1e6)
  if (definition.timeoutMs > 0) json.Timeout = formatGoDuration(definition.timeoutMs * 1e6)
  if (definition.ttlMs > 0) json.TTL = formatGoDuration(definition.ttlMs * 1e6)
  if (definition.deregisterCriticalAfterMs > 0) json.DeregisterCriticalServiceAfter = formatGoDuration(definition.deregisterCriticalAfterMs * 1e6)
  return json
}

export function blankCheck (): CheckDefinition {
  return {
    checkId: '',
    name: '',
    notes: '',
    status: '',
    serviceId: '',
    type: 'ttl',
    ttlMs: 0,
    intervalMs: 0,
    timeoutMs: 0,
    http: '',
    method: '',
    header: {},
    body: '',
    disableRedirects: false,
    tlsServerName: '',
    tlsSkipVerify: false,
    tcp: '',
    aliasNode: '',
    aliasService: '',
    outputBytesMax: 4096,
    successBeforePassing: 0,
    failuresBeforeWarning: 0,
    failuresBeforeCritical: 0,
    deregisterCriticalAfterMs: 0
  }
}

function emptyProxy (): ProxyDefinition {
  return {
    DestinationServiceName: '',
    DestinationServiceID: '',
    LocalServiceAddress: '',
    LocalServicePort: 0,
    LocalServiceSocketPath: '',
    Mode: '',
    TransparentProxy: null,
    Config: null,
    Upstreams: [],
    MeshGateway: {},
    Expose: {}
  }
}

/** Go's net.JoinHostPort. */
export function joinHostPort (host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`
}

function splitAddress (address: string): { host: string, port: number } | null {
  const match = /^\[([^\]]+)\]:(\d+)$/.exec(address) ?? /^([^:]*):(\d+)$/.exec(address)
  if (match === null) return null
  return { host: match[1] === '' ? '127.0.0.1' : match[1] ?? '127.0.0.1', port: Number(match[2]) }
}
