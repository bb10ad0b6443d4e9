/**
 * `weft connect proxy` (Consul's `connect proxy`, spec §15.3, §7.4; issue #6): runs the
 * built-in L4 proxy for one service until SIGINT or SIGTERM.
 *
 *   -service NAME             the service to represent (flags mode)
 *   -upstream NAME:[HOST:]PORT  repeatable; an upstream listener (HOST defaults to 127.0.0.1)
 *   -listen [HOST]:PORT       the public (mTLS) listener; needs -service-addr
 *   -service-addr HOST:PORT   the local application behind the public listener
 *   -register [-register-id S]  register the proxy with the agent (needs -service and -listen)
 *   -sidecar-for ID | -proxy-id ID  take everything from the agent's sidecar registration
 *   -log-level LEVEL          trace, debug, info (default), warn, err
 *   -log-json                 accepted for compatibility: logs are always JSON lines
 *
 * Output: Consul's banner with weft's name, then one pino JSON line per event on stdout; the
 * line `{"event":"ready",...,"msg":"proxy ready"}` carries the bound addresses. Exit 0 after a
 * signal, 1 when the proxy could not start, 2 for usage errors.
 */
import { pino, type Logger } from 'pino'
import { AgentClient } from '../../src/proxy/agent-client.js'
import { configFromFlags } from '../../src/proxy/config.js'
import { Proxy, type ProxyAddresses } from '../../src/proxy/proxy.js'
import { ProxyRegistration } from '../../src/proxy/register.js'
import { readSidecarConfig, resolveSidecarProxyId, watchSidecarConfig } from '../../src/proxy/sidecar.js'
import type { ProxyConfig } from '../../src/proxy/types.js'
import { isControlPlaneError } from '../../src/util/errors.js'
import { defineCommand, exitFailure, exitSuccess, writeErrorLine, type CliIo, type CommandInput, type RunContext } from '../command.js'
import { usageError } from '../errors.js'
import { flagBoolean, flagString, flagStringList, httpClientFlags, type FlagSpec } from '../flags.js'

export type ProxyLogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error'

export type ConnectProxyRequest =
  | { readonly mode: 'flags', readonly config: ProxyConfig, readonly upstreamTexts: readonly string[], readonly listen: string | undefined, readonly serviceAddr: string | undefined, readonly register: boolean, readonly registerId: string, readonly logLevel: ProxyLogLevel }
  | { readonly mode: 'sidecar', readonly sidecarFor: string | undefined, readonly proxyId: string | undefined, readonly logLevel: ProxyLogLevel }

const flags: readonly FlagSpec[] = [
  { name: 'service', kind: 'string', valueName: 'name', description: 'Name of the service this proxy represents.' },
  { name: 'upstream', kind: 'stringList', valueName: 'name:addr', description: 'Upstream service to listen for, as NAME:PORT or NAME:HOST:PORT. May be given several times.' },
  { name: 'listen', kind: 'string', valueName: 'addr', description: 'Address to listen on for inbound mTLS connections, HOST:PORT (HOST defaults to 0.0.0.0).' },
  { name: 'service-addr', kind: 'string', valueName: 'addr', description: 'Address of the local service to proxy inbound connections to, HOST:PORT. Required with -listen.' },
  { name: 'register', kind: 'boolean', description: 'Register the proxy with the local agent (needs -service and -listen); deregistered on exit.' },
  { name: 'register-id', kind: 'string', valueName: 'suffix', description: 'Suffix of the ID the proxy registers under: <service>-proxy-<suffix>.' },
  { name: 'sidecar-for', kind: 'string', valueName: 'id', description: 'The ID of a local service whose sidecar registration configures this proxy.' },
  { name: 'proxy-id', kind: 'string', valueName: 'id', description: 'The ID of the local connect-proxy registration that configures this proxy.' },
  { name: 'log-level', kind: 'string', valueName: 'level', description: 'Log level: trace, debug, info, warn or err. (default: info)' },
  { name: 'log-json', kind: 'boolean', description: 'Accepted for compatibility: weft proxy logs are always JSON lines.' },
  ...httpClientFlags
]

export function parseLogLevel (text: string | undefined): ProxyLogLevel {
  const level = (text ?? 'info').toLowerCase()
  if (level === 'trace' || level === 'debug' || level === 'info' || level === 'warn') return level
  if (level === 'warning') return 'warn'
  if (level === 'err' || level === 'error') return 'error'
  throw usageError(`invalid value ${JSON.stringify(text)} for flag -log-level: expected trace, debug, info, warn or err`)
}

export function parseConnectProxy (input: CommandInput): ConnectProxyRequest {
  if (input.args.length > 0) throw usageError('Should have no non-flag arguments.')
  const logLevel = parseLogLevel(flagString(input.flags, 'log-level'))
  const service = flagString(input.flags, 'service')
  const sidecarFor = flagString(input.flags, 'sidecar-for')
  const proxyId = flagString(input.flags, 'proxy-id')
  const listen = flagString(input.flags, 'listen')
  const serviceAddr = flagString(input.flags, 'service-addr')
  const register = flagBoolean(input.flags, 'register')
  if (sidecarFor !== undefined || proxyId !== undefined) {
    if (service !== undefined) throw usageError('-service cannot be combined with -sidecar-for or -proxy-id: the registration names the service.')
    if (register) throw usageError('-register may only be specified with -service and -listen')
    return { mode: 'sidecar', sidecarFor, proxyId, logLevel }
  }
  if (service === undefined || service === '') throw usageError('-service or -proxy-id must be specified so that proxy can configure itself.')
  if (register && listen === undefined) throw usageError('-register may only be specified with -service and -listen')
  const upstreamTexts = flagStringList(input.flags, 'upstream')
  let config: ProxyConfig
  try {
    config = configFromFlags({ service, upstreams: upstreamTexts, listen, serviceAddr })
  } catch (err) {
    if (isControlPlaneError(err, 'ERR_INVALID_INPUT')) throw usageError(err.message)
    throw err
  }
  return { mode: 'flags', config, upstreamTexts, listen, serviceAddr, register, registerId: flagString(input.flags, 'register-id') ?? '', logLevel }
}

/** Consul's banner, with weft's name: label column right-aligned to "Configuration mode". */
export function formatBanner (request: ConnectProxyRequest, proxyId?: string): string {
  const rows: Array<[string, string]> = []
  if (request.mode === 'flags') {
    rows.push(['Configuration mode', 'Flags'], ['Service', request.config.service])
    request.upstreamTexts.forEach((text, index) => {
      const upstream = request.config.upstreams[index]
      if (upstream !== undefined) rows.push(['Upstream', `${upstream.destinationName} => ${text.slice(text.indexOf(':') + 1).includes(':') ? text.slice(text.indexOf(':') + 1) : `:${upstream.localBindPort}`}`])
    })
    rows.push(['Public listener', request.listen === undefined ? 'Disabled' : `${request.listen} => ${request.serviceAddr ?? ''}`])
  } else {
    rows.push(['Configuration mode', 'Agent API'])
    if (request.sidecarFor !== undefined) rows.push(['Sidecar for ID', request.sidecarFor])
    rows.push(['Proxy ID', proxyId ?? request.proxyId ?? ''])
  }
  const width = 'Configuration mode'.length + 4
  const lines = ['==> weft Connect proxy starting...', ...rows.map(([label, value]) => `${label.padStart(width)}: ${value}`), '', '==> Log data will now stream in as it occurs:', '']
  return lines.join('\n') + '\n'
}

function createLogger (io: CliIo, level: ProxyLogLevel): Logger {
  return pino({
    level,
    base: { component: 'proxy' },
    redact: { paths: ['token', '*.token', 'PrivateKeyPEM', '*.PrivateKeyPEM'], censor: '<hidden>' }
  }, { write: (line: string) => io.stdout(line) })
}

async function runConnectProxy (request: ConnectProxyRequest, context: RunContext): Promise<number> {
  const { io } = context
  const client = await context.agent()
  const agent = new AgentClient({ baseUrl: client.options.baseUrl, token: client.options.token })
  const logger = createLogger(io, request.logLevel)
  let proxy: Proxy
  let stopWatch = (): void => {}
  let registration: ProxyRegistration | null = null
  try {
    if (request.mode === 'flags') {
      io.stdout(formatBanner(request))
      proxy = new Proxy({ agent, config: request.config, logger })
      const addresses = await proxy.start()
      if (request.register && addresses.publicListener !== null) {
        registration = new ProxyRegistration({ agent, logger, service: request.config.service, registerId: request.registerId, address: addresses.publicListener.address, port: addresses.publicListener.port })
        await registration.register()
      }
      logReady(logger, request.config.service, addresses)
    } else {
      const proxyId = request.proxyId ?? await resolveSidecarProxyId(agent, request.sidecarFor ?? '')
      io.stdout(formatBanner(request, proxyId))
      const initial = await readSidecarConfig(agent, proxyId)
      const running = new Proxy({ agent, config: initial.config, logger })
      proxy = running
      const addresses = await running.start()
      const watch = watchSidecarConfig({
        agent, proxyId, logger, initialHash: initial.contentHash,
        onConfig: config => {
          running.reconfigure(config).catch((err: Error) => logger.error({ proxyId, err: err.message }, 'applying the changed sidecar registration failed'))
        }
      })
      stopWatch = () => watch.stop()
      logReady(logger, initial.config.service, addresses)
    }
  } catch (err) {
    agent.close()
    writeErrorLine(io, `==> ${isControlPlaneError(err) ? err.message : `Error starting the proxy: ${(err as Error).message}`}`)
    return exitFailure
  }
  const signal = await new Promise<string>(resolve => {
    process.once('SIGINT', () => resolve('SIGINT'))
    process.once('SIGTERM', () => resolve('SIGTERM'))
  })
  logger.info({ signal }, 'proxy stopping')
  stopWatch()
  await registration?.deregister()
  await proxy.stop()
  logger.info({ counters: proxy.counters }, 'proxy stopped')
  io.stdout('==> weft Connect proxy shutdown\n')
  return exitSuccess
}

function logReady (logger: Logger, service: string, addresses: ProxyAddresses): void {
  logger.info({
    event: 'ready',
    service,
    publicListener: addresses.publicListener === null ? null : `${addresses.publicListener.address}:${addresses.publicListener.port}`,
    upstreams: addresses.upstreams.map(upstream => ({ destination: upstream.destination, listen: `${upstream.address}:${upstream.port}` }))
  }, 'proxy ready')
}

export const connectProxyCommand = defineCommand<ConnectProxyRequest>({
  path: ['connect', 'proxy'],
  summary: 'Runs a Connect proxy',
  usage: '[options]',
  help: [
    'Runs the built-in Connect proxy for one service: inbound mTLS connections on',
    '-listen are authorized by intentions and passed to -service-addr; each',
    '-upstream opens a local port whose connections reach the named service over mTLS.',
    '',
    '    $ weft connect proxy -service web -upstream socat:9191',
    '    $ weft connect proxy -service socat -service-addr 127.0.0.1:8181 -listen :8443',
    '    $ weft connect proxy -sidecar-for web'
  ].join('\n'),
  flags,
  parse: parseConnectProxy,
  run: runConnectProxy
})

