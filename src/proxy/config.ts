/**
 * Builds a ProxyConfig, either from `weft connect proxy` flags or from the agent's registration
 * of a connect-proxy service (sidecar mode, spec §7.4). Pure: values in, frozen config or a
 * ControlPlaneError ERR_INVALID_INPUT naming the flag or field, the value and what was expected.
 *
 * Flags: `-service NAME`, `-upstream NAME:[HOST:]PORT` (repeatable; `NAME.service:PORT` is the
 * same as `NAME:PORT`; prepared queries, `NAME.query:PORT`, are not supported), `-listen
 * [HOST]:PORT` (HOST defaults to 0.0.0.0), `-service-addr HOST:PORT`.
 *
 * Registration (AgentService JSON): public listener on Proxy.Config.bind_address, else the
 * service Address, else 0.0.0.0, port Proxy.Config.bind_port, else the service Port; local
 * application at Proxy.Config.local_service_address, else LocalServiceAddress (127.0.0.1) :
 * LocalServicePort; upstreams from Proxy.Upstreams (LocalBindAddress defaults to 127.0.0.1,
 * Config.connect_timeout_ms to 10000); legacy `ProxyDestination` is accepted for
 * Proxy.DestinationServiceName.
 *
 * Callers: cmd/commands/connect-proxy.ts, proxy sidecar mode, tests.
 */
import { ControlPlaneError } from '../util/errors.js'
import {
  handshakeTimeoutMsDefault, localConnectTimeoutMsDefault, upstreamConnectTimeoutMsDefault,
  type ProxyConfig, type PublicListenerConfig, type UpstreamConfig
} from './types.js'

function invalid (message: string): ControlPlaneError {
  return new ControlPlaneError('ERR_INVALID_INPUT', message)
}

export interface HostPort {
  /** '' when the text gave no host (`:9191`). */
  readonly host: string
  readonly port: number
}

/** `HOST:PORT`, `:PORT` or `[v6]:PORT`; port 0..65535 (0: the system picks one). */
export function parseHostPort (text: string, what: string): HostPort {
  const match = /^(?:\[([^\]]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(text)
  const port = match === null ? NaN : Number(match[3])
  if (match === null || !Number.isInteger(port) || port > 65535) {
    throw invalid(`${what} must be HOST:PORT with a port in 0..65535, got ${JSON.stringify(text)}`)
  }
  return { host: match[1] ?? match[2] ?? '', port }
}

/** One `-upstream NAME:[HOST:]PORT` value. */
export function parseUpstreamFlag (text: string): UpstreamConfig {
  const colon = text.indexOf(':')
  if (colon <= 0) throw invalid(`-upstream must be NAME:PORT or NAME:HOST:PORT, got ${JSON.stringify(text)}`)
  let name = text.slice(0, colon)
  const address = parseHostPort(text.slice(colon + 1).includes(':') ? text.slice(colon + 1) : `:${text.slice(colon + 1)}`, `-upstream ${JSON.stringify(text)}: the address`)
  if (name.endsWith('.query')) throw invalid(`-upstream ${JSON.stringify(text)}: prepared-query upstreams (NAME.query) are not supported by weft`)
  if (name.endsWith('.service')) name = name.slice(0, -'.service'.length)
  checkServiceName(name, `-upstream ${JSON.stringify(text)}: the service name`)
  return {
    destinationName: name,
    datacenter: '',
    localBindAddress: address.host === '' ? '127.0.0.1' : address.host,
    localBindPort: address.port,
    connectTimeoutMs: upstreamConnectTimeoutMsDefault
  }
}

const serviceNamePattern = /^[A-Za-z0-9][A-Za-z0-9._-]*$/

function checkServiceName (name: string, what: string): void {
  if (!serviceNamePattern.test(name) || name.length > 256) {
    throw invalid(`${what} must be a service name (letters, digits, '-', '_', '.'), got ${JSON.stringify(name)}`)
  }
}

export interface ProxyFlags {
  readonly service: string
  readonly upstreams: readonly string[]
  /** `-listen`, or undefined for no public listener. */
  readonly listen: string | undefined
  readonly serviceAddr: string | undefined
}

export function configFromFlags (flags: ProxyFlags): ProxyConfig {
  checkServiceName(flags.service, '-service')
  let publicListener: PublicListenerConfig | null = null
  if (flags.listen !== undefined) {
    if (flags.serviceAddr === undefined) throw invalid('-service-addr must be specified with -listen so the proxy knows the backend service address.')
    const listen = parseHostPort(flags.listen, '-listen')
    const local = parseHostPort(flags.serviceAddr, '-service-addr')
    if (local.port === 0) throw invalid(`-service-addr must name a port in 1..65535, got ${JSON.stringify(flags.serviceAddr)}`)
    publicListener = {
      bindAddress: listen.host === '' ? '0.0.0.0' : listen.host,
      bindPort: listen.port,
      localServiceAddress: local.host === '' ? '127.0.0.1' : local.host,
      localServicePort: local.port,
      localConnectTimeoutMs: localConnectTimeoutMsDefault,
      handshakeTimeoutMs: handshakeTimeoutMsDefault
    }
  }
  const upstreams = flags.upstreams.map(parseUpstreamFlag)
  checkDistinctBinds(upstreams)
  return Object.freeze({ service: flags.service, publicListener, upstreams: Object.freeze(upstreams) })
}

function checkDistinctBinds (upstreams: readonly UpstreamConfig[]): void {
  const seen = new Set<string>()
  for (const upstream of upstreams) {
    if (upstream.localBindPort === 0) continue
    const key = `${upstream.localBindAddress}:${upstream.localBindPort}`
    if (seen.has(key)) throw invalid(`upstreams cannot contain duplicates: two upstreams bind ${key}`)
    seen.add(key)
  }
}

type Json = Record<string, unknown>

function record (value: unknown): Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? value as Json : {}
}

function text (value: unknown): string {
  return typeof value === 'string' ? value : ''
}

/** A number or a numeric string (Consul's weakly typed Proxy.Config), else `fallback`. */
function numberOr (value: unknown, fallback: number): number {
  const number = typeof value === 'string' && value.trim() !== '' ? Number(value) : value
  return typeof number === 'number' && Number.isFinite(number) ? number : fallback
}

/** The config of a sidecar from its AgentService JSON (GET /v1/agent/service/<proxy-id>). */
export function configFromAgentService (service: unknown): ProxyConfig {
  const json = record(service)
  const id = text(json.ID)
  if (json.Kind !== 'connect-proxy') throw invalid(`service ${JSON.stringify(id)} is not a connect-proxy (Kind ${JSON.stringify(json.Kind ?? '')})`)
  const proxy = record(json.Proxy)
  const proxyConfig = record(proxy.Config)
  const destination = text(proxy.DestinationServiceName) !== '' ? text(proxy.DestinationServiceName) : text(json.ProxyDestination)
  checkServiceName(destination, `service ${JSON.stringify(id)}: Proxy.DestinationServiceName`)
  const bindPort = numberOr(proxyConfig.bind_port, numberOr(json.Port, 0))
  if (!Number.isInteger(bindPort) || bindPort < 1 || bindPort > 65535) throw invalid(`service ${JSON.stringify(id)}: Port must be in 1..65535, got ${JSON.stringify(json.Port)}`)
  const local = localService(proxy, proxyConfig, id)
  const publicListener: PublicListenerConfig = {
    bindAddress: text(proxyConfig.bind_address) !== '' ? text(proxyConfig.bind_address) : text(json.Address) !== '' ? text(json.Address) : '0.0.0.0',
    bindPort,
    localServiceAddress: local.host,
    localServicePort: local.port,
    localConnectTimeoutMs: numberOr(proxyConfig.local_connect_timeout_ms, localConnectTimeoutMsDefault),
    handshakeTimeoutMs: numberOr(proxyConfig.handshake_timeout_ms, handshakeTimeoutMsDefault)
  }
  const upstreams = (Array.isArray(proxy.Upstreams) ? proxy.Upstreams : []).map((raw, index) => upstreamFromRegistration(record(raw), `service ${JSON.stringify(id)}: Proxy.Upstreams[${index}]`))
  checkDistinctBinds(upstreams)
  return Object.freeze({ service: destination, publicListener, upstreams: Object.freeze(upstreams) })
}

function localService (proxy: Json, proxyConfig: Json, id: string): HostPort {
  const configured = text(proxyConfig.local_service_address)
  if (configured !== '') {
    const parsed = parseHostPort(configured, `service ${JSON.stringify(id)}: Proxy.Config.local_service_address`)
    return { host: parsed.host === '' ? '127.0.0.1' : parsed.host, port: parsed.port }
  }
  const port = numberOr(proxy.LocalServicePort, 0)
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw invalid(`service ${JSON.stringify(id)}: Proxy.LocalServicePort must be in 1..65535, got ${JSON.stringify(proxy.LocalServicePort)}`)
  return { host: text(proxy.LocalServiceAddress) !== '' ? text(proxy.LocalServiceAddress) : '127.0.0.1', port }
}

function upstreamFromRegistration (upstream: Json, what: string): UpstreamConfig {
  const type = text(upstream.DestinationType)
  if (type !== '' && type !== 'service') throw invalid(`${what}: DestinationType ${JSON.stringify(type)} is not supported by weft (only "service")`)
  const name = text(upstream.DestinationName)
  checkServiceName(name, `${what}.DestinationName`)
  const port = numberOr(upstream.LocalBindPort, NaN)
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw invalid(`${what}.LocalBindPort must be in 1..65535, got ${JSON.stringify(upstream.LocalBindPort)}`)
  return {
    destinationName: name,
    datacenter: text(upstream.Datacenter),
    localBindAddress: text(upstream.LocalBindAddress) !== '' ? text(upstream.LocalBindAddress) : '127.0.0.1',
    localBindPort: port,
    connectTimeoutMs: numberOr(record(upstream.Config).connect_timeout_ms, upstreamConnectTimeoutMsDefault)
  }
}

/** A stable key of an upstream, to reconcile listeners when a registration changes. */
export function upstreamKey (upstream: UpstreamConfig): string {
  return `${upstream.destinationName}|${upstream.datacenter}|${upstream.localBindAddress}:${upstream.localBindPort}|${upstream.connectTimeoutMs}`
}

/** The sidecar registration's ID for `-sidecar-for ID`, from GET /v1/agent/services (Consul's lookup). */
export function findSidecarProxyId (services: unknown, targetId: string): string {
  const candidates = Object.values(record(services)).map(record).filter(service => {
    return service.Kind === 'connect-proxy' && text(record(service.Proxy).DestinationServiceID) === targetId
  }).map(service => text(service.ID)).sort()
  if (candidates.length === 0) throw invalid(`No sidecar proxy registered for ${targetId}`)
  if (candidates.length > 1) {
    throw invalid(`More than one sidecar proxy registered for ${targetId}.\n    Start proxy with -proxy-id and one of the following IDs: ${candidates.join(', ')}`)
  }
  return candidates[0] as string
}
