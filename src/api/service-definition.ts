/**
 * Service and check definitions (spec §3.1, §3.2, §3.4): the body of PUT
 * /v1/agent/service/register and /v1/agent/check/register, and each `service`/`services`/
 * `check`/`checks` entry of a config file, decoded and validated by one code path.
 *
 * Decoding is Consul's: keys match case-insensitively and in snake_case (`sidecar_service`,
 * `local_bind_port`, `deregister_critical_service_after`), null is absent, unknown keys are
 * dropped, durations are "10s" or integer nanoseconds. The result is a normalized definition
 * (IDs defaulted, check type detected, durations in milliseconds); what depends on the agent's
 * state (sidecar ports, default check IDs) is decided by src/agent/services.
 *
 * Errors are ERR_INVALID_INPUT with Consul's texts where Consul has one ("Missing service
 * name", "Invalid check: TTL must be > 0 for TTL checks", "Validation failed: 1 error
 * occurred:..."), otherwise a message naming the field, the value and what was expected.
 * Script checks are ERR_REJECTED (Consul's 500 naming enable_script_checks).
 *
 * `origin` changes three rules, as in Consul: a config-file sidecar_service may not name an ID
 * (HTTP silently overrides it), the managed `connect.proxy` form is accepted only from config
 * files, and the script-check text names the option that applies.
 *
 * Callers: api/handlers/agent-services.ts (HTTP), src/agent/services (config files, persisted
 * registrations).
 */
import { ControlPlaneError } from '../util/errors.js'
import { parseGoDurationNs } from '../util/go-duration.js'
import { invalidInput } from './errors.js'
import { proxySchema as sharedProxySchema, upstreamSchema as sharedUpstreamSchema } from './proxy-schema.js'
import { decodeObject, describe, field, type FieldKind, type ObjectSchema } from './validate.js'

export type CheckStatus = 'passing' | 'warning' | 'critical'
export const checkStatuses: readonly CheckStatus[] = ['passing', 'warning', 'critical']

export type ServiceKind = '' | 'connect-proxy' | 'mesh-gateway' | 'terminating-gateway' | 'ingress-gateway' | 'api-gateway'
const serviceKinds: readonly ServiceKind[] = ['', 'connect-proxy', 'mesh-gateway', 'terminating-gateway', 'ingress-gateway', 'api-gateway']

/** The check types weft runs. */
export type CheckType = 'ttl' | 'http' | 'tcp' | 'alias'

export type DefinitionOrigin = 'api' | 'config'

/** Consul's check_output_max_size default: outputs are cut to this many bytes. */
export const checkOutputBytesMaxDefault = 4096
/** Consul's default timeout of HTTP and TCP checks. */
export const checkTimeoutMsDefault = 10_000

export interface CheckDefinition {
  /** '' lets the agent pick Consul's default (`service:<id>[:n]`, or the name for top-level checks). */
  readonly checkId: string
  /** '' for a service check means "Service '<name>' check". */
  readonly name: string
  readonly notes: string
  /** The initial status; '' means critical. */
  readonly status: CheckStatus | ''
  /** Only for top-level registrations (PUT /v1/agent/check/register). */
  readonly serviceId: string
  readonly type: CheckType
  readonly ttlMs: number
  readonly intervalMs: number
  /** 0 means the default (10 s). */
  readonly timeoutMs: number
  readonly http: string
  readonly method: string
  readonly header: Readonly<Record<string, readonly string[]>>
  readonly body: string
  readonly disableRedirects: boolean
  readonly tlsServerName: string
  readonly tlsSkipVerify: boolean
  readonly tcp: string
  readonly aliasNode: string
  readonly aliasService: string
  readonly outputBytesMax: number
  readonly successBeforePassing: number
  readonly failuresBeforeWarning: number
  readonly failuresBeforeCritical: number
  /** 0 = never. */
  readonly deregisterCriticalAfterMs: number
}

/** An upstream as Consul's JSON shows it (omitempty fields absent). */
export interface UpstreamDefinition {
  readonly DestinationType: string
  readonly DestinationNamespace?: string
  readonly DestinationPartition?: string
  readonly DestinationPeer?: string
  readonly DestinationName: string
  readonly Datacenter?: string
  readonly LocalBindAddress?: string
  readonly LocalBindPort?: number
  readonly LocalBindSocketPath?: string
  readonly LocalBindSocketMode?: string
  readonly Config?: Readonly<Record<string, unknown>>
  readonly MeshGateway: Readonly<Record<string, unknown>>
  readonly CentrallyConfigured?: boolean
}

/** A connect-proxy's Proxy object (spec §3.4.3), in Consul's JSON field names. */
export interface ProxyDefinition {
  readonly DestinationServiceName: string
  readonly DestinationServiceID: string
  readonly LocalServiceAddress: string
  readonly LocalServicePort: number
  readonly LocalServiceSocketPath: string
  readonly Mode: string
  readonly TransparentProxy: Readonly<Record<string, unknown>> | null
  readonly Config: Readonly<Record<string, unknown>> | null
  readonly Upstreams: readonly UpstreamDefinition[]
  readonly MeshGateway: Readonly<Record<string, unknown>>
  readonly Expose: Readonly<Record<string, unknown>>
}

/** The legacy managed proxy (`connect.proxy`, spec §3.4.4). */
export interface ManagedProxyDefinition {
  readonly execMode: string
  /** Empty: the agent runs its own `weft connect proxy`. */
  readonly command: readonly string[]
  /** `config` as written (snake_case keys: bind_address, bind_port, local_service_address, ...). */
  readonly config: Readonly<Record<string, unknown>>
  /** `upstreams`, or 1.2's `config.upstreams`. */
  readonly upstreams: readonly UpstreamDefinition[]
}

export interface TaggedAddress {
  readonly Address: string
  readonly Port: number
}

export interface ServiceDefinition {
  /** Defaults to name; '' only in a sidecar_service, where the agent decides it. */
  readonly id: string
  /** '' only in a sidecar_service (defaults to `<parent>-sidecar-proxy`). */
  readonly name: string
  readonly kind: ServiceKind
  readonly tags: readonly string[]
  readonly address: string
  readonly taggedAddresses: Readonly<Record<string, TaggedAddress>>
  readonly meta: Readonly<Record<string, string>>
  /** 0: none (a sidecar_service gets one allocated). */
  readonly port: number
  readonly socketPath: string
  readonly weights: { readonly Passing: number, readonly Warning: number }
  readonly enableTagOverride: boolean
  /** Only for connect-proxy (and gateway) kinds, and in a sidecar_service. */
  readonly proxy: ProxyDefinition | null
  readonly connectNative: boolean
  readonly sidecarService: ServiceDefinition | null
  readonly managedProxy: ManagedProxyDefinition | null
  /** `Check` then `Checks`, in order, empty checks left out (Consul's CheckTypes()). */
  readonly checks: readonly CheckDefinition[]
  readonly token: string
}

export interface CheckUpdate {
  readonly status: CheckStatus
  readonly output: string
}

// ---------------------------------------------------------------------------------------------
// Schemas (canonical PascalCase names; snake_case and any case match, see validate.ts)

const anyInteger: FieldKind = { kind: 'integer', min: Number.MIN_SAFE_INTEGER, max: Number.MAX_SAFE_INTEGER }

// The shared Proxy schema, with the members this file checks itself (upstreams one by one, with
// their paths; MeshGateway) left opaque, and no AccessLogs.
const upstreamSchema: ObjectSchema = { ...sharedUpstreamSchema, MeshGateway: field.opaque }

const { AccessLogs: _accessLogs, ...sharedProxyFields } = sharedProxySchema
const proxySchema: ObjectSchema = { ...sharedProxyFields, Upstreams: field.array(field.opaque), MeshGateway: field.opaque }

const checkSchema: ObjectSchema = {
  ID: field.string,
  CheckID: field.string,
  Name: field.string,
  Notes: field.string,
  Status: field.string,
  ServiceID: field.string,
  Args: field.stringArray,
  ScriptArgs: field.stringArray,
  Script: field.string,
  Interval: field.duration,
  Timeout: field.duration,
  TTL: field.duration,
  HTTP: field.string,
  Method: field.string,
  Header: field.map(field.stringArray),
  Body: field.string,
  DisableRedirects: field.boolean,
  TLSServerName: field.string,
  TLSSkipVerify: field.boolean,
  TCP: field.string,
  TCPUseTLS: field.boolean,
  UDP: field.string,
  GRPC: field.string,
  GRPCUseTLS: field.boolean,
  H2PING: field.string,
  H2PingUseTLS: field.boolean,
  OSService: field.string,
  DockerContainerID: field.string,
  Shell: field.string,
  AliasNode: field.string,
  AliasService: field.string,
  OutputMaxSize: anyInteger,
  SuccessBeforePassing: field.unsigned,
  FailuresBeforeWarning: field.unsigned,
  FailuresBeforeCritical: field.unsigned,
  DeregisterCriticalServiceAfter: field.duration,
  Token: field.string
}

const serviceSchema: ObjectSchema = {
  ID: field.string,
  Name: field.string,
  Tags: field.stringArray,
  Address: field.string,
  TaggedAddresses: field.map(field.object({ Address: field.string, Port: field.port })),
  Meta: field.stringMap,
  Port: field.port,
  SocketPath: field.string,
  Kind: field.string,
  Proxy: field.object(proxySchema),
  ProxyDestination: field.string,
  Connect: field.object({ Native: field.boolean, SidecarService: field.opaque, Proxy: field.opaque }),
  Check: field.opaque,
  Checks: field.array(field.opaque),
  EnableTagOverride: field.boolean,
  Weights: field.object({ Passing: anyInteger, Warning: anyInteger }),
  Token: field.string,
  Namespace: field.string,
  Partition: field.string,
  Locality: field.opaque
}

const managedProxySchema: ObjectSchema = {
  ExecMode: field.string,
  Command: field.stringArray,
  Config: field.opaque,
  Upstreams: field.array(field.opaque)
}

const checkUpdateSchema: ObjectSchema = { Status: field.string, Output: field.string }

// ---------------------------------------------------------------------------------------------
// Services

const metaPairsMax = 64
const metaKeyLengthMax = 128
const metaValueLengthMax = 512
const metaKeyPattern = /^[a-zA-Z0-9_-]+$/

/**
 * A service registration (HTTP body or config definition), validated as Consul's
 * AgentRegisterService does, in its order.
 */
export function decodeServiceDefinition (raw: unknown, options: { readonly origin: DefinitionOrigin }): ServiceDefinition {
  const fields = decodeObject(raw, serviceSchema, '')
  const name = text(fields.Name)
  if (name === '') throw invalidInput('Missing service name')
  const service = buildService(fields, { origin: options.origin, nested: false })
  if (isAnyAddress(service.address)) throw invalidInput('Invalid service address')
  validateWeights(fields)
  validateMeta(service.meta)
  const problems = nodeServiceProblems(service)
  if (problems.length > 0) throw invalidInput(`Validation failed: ${multiError(problems)}`)
  return service
}

interface BuildContext {
  readonly origin: DefinitionOrigin
  /** true for a sidecar_service: name and ID may be empty, and nesting is refused. */
  readonly nested: boolean
}

function buildService (fields: Record<string, unknown>, context: BuildContext): ServiceDefinition {
  const name = text(fields.Name)
  const kind = text(fields.Kind)
  if (!(serviceKinds as readonly string[]).includes(kind)) {
    throw invalidInput(`Kind must be one of ${serviceKinds.map(k => JSON.stringify(k)).join(', ')}, got ${describe(kind)}`)
  }
  const connect = record(fields.Connect)
  const proxy = fields.Proxy === undefined && kind !== 'connect-proxy'
    ? null
    : decodeProxy(record(fields.Proxy), text(fields.ProxyDestination))
  return {
    id: text(fields.ID) === '' ? name : text(fields.ID),
    name,
    kind: kind as ServiceKind,
    tags: stringArray(fields.Tags),
    address: text(fields.Address),
    taggedAddresses: taggedAddresses(fields.TaggedAddresses),
    meta: record(fields.Meta) as Record<string, string>,
    port: typeof fields.Port === 'number' ? fields.Port : 0,
    socketPath: text(fields.SocketPath),
    weights: weights(fields.Weights),
    enableTagOverride: fields.EnableTagOverride === true,
    proxy,
    connectNative: connect.Native === true,
    sidecarService: connect.SidecarService === undefined || connect.SidecarService === null
      ? null
      : decodeSidecar(connect.SidecarService, context),
    managedProxy: connect.Proxy === undefined || connect.Proxy === null ? null : decodeManagedProxy(connect.Proxy, context),
    checks: serviceChecks(fields, context),
    token: text(fields.Token)
  }
}

function decodeSidecar (raw: unknown, context: BuildContext): ServiceDefinition {
  if (context.nested) throw invalidInput('Invalid SidecarService: sidecar_service can\'t have a nested sidecar_service')
  const fields = decodeObject(raw, serviceSchema, 'Connect.SidecarService')
  if (context.origin === 'config' && text(fields.ID) !== '') throw invalidInput('sidecar_service can\'t specify an ID')
  const nestedConnect = record(fields.Connect)
  if (nestedConnect.SidecarService !== undefined && nestedConnect.SidecarService !== null) {
    throw invalidInput('Invalid SidecarService: sidecar_service can\'t have a nested sidecar_service')
  }
  if (nestedConnect.Proxy !== undefined && nestedConnect.Proxy !== null) {
    throw invalidInput('Invalid SidecarService: sidecar_service can\'t have a managed proxy')
  }
  let sidecar: ServiceDefinition
  try {
    sidecar = buildService({ ...fields, ID: '', Proxy: fields.Proxy ?? {} }, { ...context, nested: true })
  } catch (err) {
    throw rewordCheckError(err, 'Invalid check in sidecar_service: ')
  }
  if (isAnyAddress(sidecar.address)) throw invalidInput('Invalid SidecarService: Invalid service address')
  if (fields.Weights !== undefined) validateWeights(fields)
  validateMeta(sidecar.meta)
  return sidecar
}

function decodeManagedProxy (raw: unknown, context: BuildContext): ManagedProxyDefinition {
  if (context.nested) throw invalidInput('Invalid SidecarService: sidecar_service can\'t have a managed proxy')
  if (context.origin === 'api') {
    throw invalidInput('Managed proxy registration via the API is disallowed: define connect.proxy in a service definition file in -config-dir')
  }
  const fields = decodeObject(raw, managedProxySchema, 'Connect.Proxy')
  const config = record(fields.Config)
  const configUpstreams = config.upstreams ?? config.Upstreams
  const rawUpstreams = Array.isArray(fields.Upstreams) ? fields.Upstreams : Array.isArray(configUpstreams) ? configUpstreams : []
  return {
    execMode: text(fields.ExecMode) === '' ? 'daemon' : text(fields.ExecMode),
    command: stringArray(fields.Command),
    config,
    upstreams: rawUpstreams.map((item, index) => decodeUpstream(item, `Connect.Proxy.Upstreams[${index}]`))
  }
}

function decodeProxy (fields: Record<string, unknown>, legacyDestination: string): ProxyDefinition {
  const raw = decodeObject(fields, proxySchema, 'Proxy')
  const destination = text(raw.DestinationServiceName)
  const upstreams = Array.isArray(raw.Upstreams) ? raw.Upstreams : []
  return {
    DestinationServiceName: destination === '' ? legacyDestination : destination,
    DestinationServiceID: text(raw.DestinationServiceID),
    LocalServiceAddress: text(raw.LocalServiceAddress),
    LocalServicePort: typeof raw.LocalServicePort === 'number' ? raw.LocalServicePort : 0,
    LocalServiceSocketPath: text(raw.LocalServiceSocketPath),
    Mode: text(raw.Mode),
    TransparentProxy: raw.TransparentProxy === undefined ? null : record(raw.TransparentProxy),
    Config: raw.Config === undefined ? null : record(raw.Config),
    Upstreams: upstreams.map((item, index) => decodeUpstream(item, `Proxy.Upstreams[${index}]`)),
    MeshGateway: record(raw.MeshGateway),
    Expose: record(raw.Expose)
  }
}

function decodeUpstream (raw: unknown, path: string): UpstreamDefinition {
  const fields = decodeObject(raw, upstreamSchema, path)
  const optional = <K extends keyof UpstreamDefinition>(key: K, present: boolean, value: UpstreamDefinition[K]): Partial<UpstreamDefinition> =>
    present ? { [key]: value } : {}
  return {
    DestinationType: text(fields.DestinationType) === '' ? 'service' : text(fields.DestinationType),
    ...optional('DestinationNamespace', text(fields.DestinationNamespace) !== '', text(fields.DestinationNamespace)),
    ...optional('DestinationPartition', text(fields.DestinationPartition) !== '', text(fields.DestinationPartition)),
    ...optional('DestinationPeer', text(fields.DestinationPeer) !== '', text(fields.DestinationPeer)),
    DestinationName: text(fields.DestinationName),
    ...optional('Datacenter', text(fields.Datacenter) !== '', text(fields.Datacenter)),
    ...optional('LocalBindAddress', text(fields.LocalBindAddress) !== '', text(fields.LocalBindAddress)),
    ...optional('LocalBindPort', typeof fields.LocalBindPort === 'number' && fields.LocalBindPort !== 0, fields.LocalBindPort as number),
    ...optional('LocalBindSocketPath', text(fields.LocalBindSocketPath) !== '', text(fields.LocalBindSocketPath)),
    ...optional('LocalBindSocketMode', text(fields.LocalBindSocketMode) !== '', text(fields.LocalBindSocketMode)),
    ...optional('Config', fields.Config !== undefined, record(fields.Config)),
    MeshGateway: record(fields.MeshGateway),
    ...optional('CentrallyConfigured', fields.CentrallyConfigured === true, true)
  }
}

/**
 * Consul's NodeService.Validate for what weft supports: connect-proxy requirements, upstream
 * validity and duplicates, Native on a proxy. Returns every problem (a multierror in Consul).
 */
export function nodeServiceProblems (service: ServiceDefinition): string[] {
  const problems: string[] = []
  if (service.kind !== 'connect-proxy') return problems
  const proxy = service.proxy
  const destination = proxy?.DestinationServiceName ?? ''
  if (destination.trim() === '') problems.push('Proxy.DestinationServiceName must be non-empty for Connect proxy services')
  if (destination === '*') problems.push('Proxy.DestinationServiceName must not be a wildcard for Connect proxy services')
  if (service.port === 0 && service.socketPath === '') problems.push('Port or SocketPath must be set for a Connect proxy')
  if (service.connectNative) problems.push('A Proxy cannot also be Connect Native, only typical services')
  if (proxy !== null && !['', 'direct', 'transparent'].includes(proxy.Mode)) {
    problems.push(`Proxy.Mode must be "", "direct" or "transparent", got ${describe(proxy.Mode)}`)
  }
  problems.push(...upstreamProblems(proxy?.Upstreams ?? []))
  return problems
}

function upstreamProblems (upstreams: readonly UpstreamDefinition[]): string[] {
  const problems: string[] = []
  const keys = new Set<string>()
  const bindAddresses = new Set<string>()
  for (const upstream of upstreams) {
    const problem = upstreamProblem(upstream)
    if (problem !== null) {
      problems.push(problem)
      continue
    }
    const key = `[type=${JSON.stringify(upstream.DestinationType)}, name=${JSON.stringify(upstream.DestinationName)}, ` +
      `datacenter=${JSON.stringify(upstream.Datacenter ?? '')}, peer=${JSON.stringify(upstream.DestinationPeer ?? '')}]`
    if (keys.has(key)) {
      problems.push(`upstreams cannot contain duplicates of ${key}`)
      continue
    }
    keys.add(key)
    const address = upstreamBindAddress(upstream)
    if (upstream.CentrallyConfigured !== true && bindAddresses.has(address)) {
      problems.push(`upstreams cannot contain duplicates by local bind address and port or unix path; ${JSON.stringify(address)} is specified twice`)
      continue
    }
    bindAddresses.add(address)
  }
  return problems
}

function upstreamProblem (upstream: UpstreamDefinition): string | null {
  if (!['service', 'prepared_query'].includes(upstream.DestinationType)) return `unknown upstream destination type: ${JSON.stringify(upstream.DestinationType)}`
  if (upstream.DestinationName === '') return 'upstream destination name cannot be empty'
  const centrally = upstream.CentrallyConfigured === true
  if (upstream.DestinationName === '*' && !centrally) return 'upstream destination name cannot be a wildcard'
  const hasPort = (upstream.LocalBindPort ?? 0) !== 0
  const hasSocket = (upstream.LocalBindSocketPath ?? '') !== ''
  if (!hasPort && !hasSocket && !centrally) return 'upstream local bind port or local socket path must be defined and nonzero'
  if (hasPort && hasSocket && !centrally) return 'only one of upstream local bind port or local socket path can be defined and nonzero'
  return null
}

/** `127.0.0.1:9191` (the address defaults to loopback), or the socket path. */
export function upstreamBindAddress (upstream: UpstreamDefinition): string {
  if ((upstream.LocalBindSocketPath ?? '') !== '') return upstream.LocalBindSocketPath ?? ''
  const address = (upstream.LocalBindAddress ?? '') === '' ? '127.0.0.1' : upstream.LocalBindAddress ?? ''
  return address.includes(':') ? `[${address}]:${upstream.LocalBindPort ?? 0}` : `${address}:${upstream.LocalBindPort ?? 0}`
}

function validateWeights (fields: Record<string, unknown>): void {
  if (fields.Weights === undefined) return
  const given = record(fields.Weights)
  const passing = typeof given.Passing === 'number' ? given.Passing : 0
  const warning = typeof given.Warning === 'number' ? given.Warning : 0
  if (passing < 1) throw invalidInput('Invalid Weights: Passing must be greater than 0')
  if (warning < 0) throw invalidInput('Invalid Weights: Warning must be greater or equal than 0')
}

function weights (value: unknown): { Passing: number, Warning: number } {
  if (value === undefined) return { Passing: 1, Warning: 1 }
  const given = record(value)
  return { Passing: typeof given.Passing === 'number' ? given.Passing : 0, Warning: typeof given.Warning === 'number' ? given.Warning : 0 }
}

/** Consul's ValidateServiceMetadata (the `consul-` prefix is reserved). */
function validateMeta (meta: Readonly<Record<string, string>>): void {
  const entries = Object.entries(meta)
  if (entries.length > metaPairsMax) throw invalidInput(`Invalid Service Meta: Node metadata cannot contain more than ${metaPairsMax} key/value pairs`)
  for (const [key, value] of entries) {
    const problem = metaPairProblem(key, value)
    if (problem !== null) throw invalidInput(`Invalid Service Meta: Couldn't load metadata pair ('${key}', '${value}'): ${problem}`)
  }
}

function metaPairProblem (key: string, value: string): string | null {
  if (key === '') return 'Key cannot be blank'
  if (!metaKeyPattern.test(key)) return 'Key contains invalid characters'
  if (key.length > metaKeyLengthMax) return `Key is too long (limit: ${metaKeyLengthMax} characters)`
  if (key.startsWith('consul-')) return 'Key prefix \'consul-\' is reserved for internal use'
  if (value.length > metaValueLengthMax) return `Value is too long (limit: ${metaValueLengthMax} characters)`
  return null
}

/** go-multierror's text: "1 error occurred:\n\t* X\n\n". */
export function multiError (problems: readonly string[]): string {
  const head = problems.length === 1 ? '1 error occurred:' : `${problems.length} errors occurred:`
  return `${head}\n${problems.map(problem => `\t* ${problem}`).join('\n')}\n\n`
}

// ---------------------------------------------------------------------------------------------
// Checks

function serviceChecks (fields: Record<string, unknown>, context: BuildContext): CheckDefinition[] {
  const raws: Array<{ raw: unknown, path: string }> = []
  if (fields.Check !== undefined) raws.push({ raw: fields.Check, path: 'Check' })
  const list = Array.isArray(fields.Checks) ? fields.Checks : []
  list.forEach((raw, index) => raws.push({ raw, path: `Checks[${index}]` }))
  const checks: CheckDefinition[] = []
  for (const { raw, path } of raws) {
    const checkFields = decodeObject(raw, checkSchema, path)
    // Consul skips an empty `Check` (a zero CheckType) but validates every entry of `Checks`.
    if (path === 'Check' && Object.keys(checkFields).length === 0) continue
    const check = decodeCheckFields(checkFields, context.origin, 'Invalid check: ')
    if (check.status !== '' && !(checkStatuses as readonly string[]).includes(check.status)) {
      throw invalidInput('Status for checks must \'passing\', \'warning\', \'critical\'')
    }
    checks.push(check)
  }
  return checks
}

/** PUT /v1/agent/check/register and config `check`/`checks` entries. */
export function decodeCheckDefinition (raw: unknown, options: { readonly origin: DefinitionOrigin }): CheckDefinition {
  const fields = decodeObject(raw, checkSchema, '')
  if (text(fields.Name) === '') throw invalidInput('Missing check name')
  const status = text(fields.Status)
  if (status !== '' && !(checkStatuses as readonly string[]).includes(status)) throw invalidInput('Bad check status')
  const check = decodeCheckFields(fields, options.origin, 'Invalid check: ')
  return { ...check, checkId: check.checkId === '' ? check.name : check.checkId }
}

function decodeCheckFields (fields: Record<string, unknown>, origin: DefinitionOrigin, prefix: string): CheckDefinition {
  const durations = {
    ttlMs: durationMs(fields.TTL),
    intervalMs: durationMs(fields.Interval),
    timeoutMs: durationMs(fields.Timeout),
    deregisterCriticalAfterMs: durationMs(fields.DeregisterCriticalServiceAfter)
  }
  const type = checkType(fields, durations, origin, prefix)
  const outputBytesMax = typeof fields.OutputMaxSize === 'number' ? fields.OutputMaxSize : 0
  if (outputBytesMax < 0) throw invalidInput(`${prefix}MaxOutputMaxSize must be positive`)
  return {
    checkId: text(fields.CheckID) === '' ? text(fields.ID) : text(fields.CheckID),
    name: text(fields.Name),
    notes: text(fields.Notes),
    status: text(fields.Status) as CheckStatus | '',
    serviceId: text(fields.ServiceID),
    type,
    ...durations,
    http: text(fields.HTTP),
    method: text(fields.Method),
    header: record(fields.Header) as Record<string, string[]>,
    body: text(fields.Body),
    disableRedirects: fields.DisableRedirects === true,
    tlsServerName: text(fields.TLSServerName),
    tlsSkipVerify: fields.TLSSkipVerify === true,
    tcp: text(fields.TCP),
    aliasNode: text(fields.AliasNode),
    aliasService: text(fields.AliasService),
    outputBytesMax: outputBytesMax === 0 ? checkOutputBytesMaxDefault : outputBytesMax,
    successBeforePassing: numberOr0(fields.SuccessBeforePassing),
    failuresBeforeWarning: numberOr0(fields.FailuresBeforeWarning),
    failuresBeforeCritical: numberOr0(fields.FailuresBeforeCritical)
  }
}

const unsupportedTypes = [
  { field: 'UDP', name: 'UDP' },
  { field: 'GRPC', name: 'gRPC' },
  { field: 'H2PING', name: 'H2PING' },
  { field: 'OSService', name: 'OS service' },
  { field: 'DockerContainerID', name: 'Docker' }
] as const

/** Consul's CheckType.Validate, then weft's supported subset (TTL, HTTP, TCP, alias). */
function checkType (
  fields: Record<string, unknown>, durations: { ttlMs: number, intervalMs: number }, origin: DefinitionOrigin, prefix: string
): CheckType {
  const isScript = stringArray(fields.Args).length > 0 || stringArray(fields.ScriptArgs).length > 0 || text(fields.Script) !== ''
  const isAlias = text(fields.AliasService) !== '' || text(fields.AliasNode) !== ''
  const isIntervalCheck = isScript || ['HTTP', 'TCP', 'UDP', 'GRPC', 'H2PING', 'OSService'].some(name => text(fields[name]) !== '')
  if (durations.intervalMs > 0 && durations.ttlMs > 0) throw invalidInput(`${prefix}Interval and TTL cannot both be specified`)
  if (isIntervalCheck && durations.intervalMs <= 0) throw invalidInput(`${prefix}Interval must be > 0 for Script, HTTP, H2PING, TCP or UDP checks`)
  if (isIntervalCheck && isAlias) throw invalidInput(`${prefix}Interval cannot be set for Alias checks`)
  if (isAlias && durations.ttlMs > 0) throw invalidInput(`${prefix}TTL must be not be set for Alias checks`)
  if (!isIntervalCheck && !isAlias && durations.ttlMs <= 0) throw invalidInput(`${prefix}TTL must be > 0 for TTL checks`)
  if (durations.ttlMs > 0) return 'ttl'
  if (text(fields.HTTP) !== '') return 'http'
  if (text(fields.TCP) !== '') return 'tcp'
  for (const unsupported of unsupportedTypes) {
    if (text(fields[unsupported.field]) !== '') {
      throw invalidInput(`${prefix}weft does not run ${unsupported.name} checks (supported: TTL, HTTP, TCP and alias checks)`)
    }
  }
  if (isAlias) return 'alias'
  throw new ControlPlaneError('ERR_REJECTED', origin === 'api'
    ? 'Scripts are disabled on this agent from remote calls; to enable, configure \'enable_script_checks\' to true (weft does not run script checks)'
    : 'Scripts are disabled on this agent; to enable, configure \'enable_script_checks\' or \'enable_local_script_checks\' to true (weft does not run script checks)')
}

/** PUT /v1/agent/check/update/<id>: `{"Status","Output"}`. */
export function decodeCheckUpdate (raw: unknown): CheckUpdate {
  const fields = decodeObject(raw, checkUpdateSchema, '')
  const status = text(fields.Status)
  if (!(checkStatuses as readonly string[]).includes(status)) throw invalidInput(`Invalid check status: '${status}'`)
  return { status: status as CheckStatus, output: text(fields.Output) }
}

/** Consul's cap on TTL outputs: the first `bytesMax` bytes and a note of what was cut. */
export function truncateOutput (output: string, bytesMax: number): string {
  const bytes = Buffer.from(output, 'utf8')
  if (bytes.length <= bytesMax) return output
  const kept = new TextDecoder('utf-8', { fatal: false }).decode(bytes.subarray(0, bytesMax)).replace(/\uFFFD$/, '')
  return `${kept} ... (captured ${bytesMax} of ${bytes.length} bytes)`
}

// ---------------------------------------------------------------------------------------------
// Small helpers

function rewordCheckError (err: unknown, prefix: string): unknown {
  if (err instanceof ControlPlaneError && err.code === 'ERR_INVALID_INPUT' && err.message.startsWith('Invalid check: ')) {
    return invalidInput(prefix + err.message.slice('Invalid check: '.length))
  }
  return err
}

function durationMs (value: unknown): number {
  if (typeof value !== 'string' || value === '') return 0
  const durationNs = parseGoDurationNs(value)
  return durationNs === null ? 0 : Math.ceil(durationNs / 1e6)
}

function text (value: unknown): string {
  return typeof value === 'string' ? value : ''
}

function numberOr0 (value: unknown): number {
  return typeof value === 'number' ? value : 0
}

function stringArray (value: unknown): string[] {
  return Array.isArray(value) ? value.filter((item): item is string => typeof item === 'string') : []
}

function record (value: unknown): Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? value as Record<string, unknown> : {}
}

function taggedAddresses (value: unknown): Record<string, TaggedAddress> {
  const result: Record<string, TaggedAddress> = {}
  for (const [name, raw] of Object.entries(record(value))) {
    const address = record(raw)
    result[name] = { Address: text(address.Address), Port: typeof address.Port === 'number' ? address.Port : 0 }
  }
  return result
}

function isAnyAddress (address: string): boolean {
  return address === '0.0.0.0' || address === '::' || address === '[::]'
}
