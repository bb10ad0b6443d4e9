/**
 * `weft agent`: parse Consul-style flags and JSON config files into one validated Config, start
 * the Agent and its HTTP API, and run until a signal. Exit codes: 0 after a clean stop, 1 when
 * starting failed, 2 for a bad flag or configuration (with every problem listed).
 *
 * Signals: SIGTERM and SIGINT stop gracefully (a leading server hands leadership over first);
 * servers stay members (Consul's leave_on_terminate=false default for servers); client agents
 * leave. `weft leave` (PUT /v1/agent/leave) leaves the cluster, then exits.
 */
import { pino, type Logger } from 'pino'
import { loadAgentConfig, readHostFacts } from '../config/load.js'
import { formatProblems } from '../config/problems.js'
import type { Config } from '../config/schema.js'
import { Agent, type AgentSettings } from './agent.js'
import { startAgentHttp } from './http.js'
import { localServicesSettings } from './services/settings.js' // Agent services (#5/#6)

export const weftVersion = '0.1.0'

export async function runAgent (argv: readonly string[]): Promise<number> {
  const outcome = loadAgentConfig(argv, { env: process.env, host: readHostFacts() })
  if (outcome.kind === 'help') {
    process.stdout.write(outcome.usage + '\n')
    return 0
  }
  if (outcome.kind === 'invalid') {
    process.stderr.write(formatProblems(outcome.errors) + '\n')
    return outcome.exitCode
  }
  const built = outcome
  const config = built.config
  const logger = createLogger(config)
  for (const warning of built.warnings) logger.warn({ key: warning.key, source: warning.source, warning: warning.message }, 'configuration warning')
  // Agent services (#5/#6): reload re-reads the config files with the start-up arguments.
  const services = localServicesSettings(config, { argv, env: { ...process.env } })
  const agent = new Agent({ ...settingsFromConfig(config), services }, logger)
  let http: Awaited<ReturnType<typeof startAgentHttp>> | null = null
  printBanner(config)
  try {
    await agent.start()
    http = await startAgentHttp({ agent, config, logger })
  } catch (err) {
    logger.error({ err }, 'agent failed to start')
    process.stderr.write(`==> Error starting agent: ${(err as Error).message}\n`)
    await agent.stop({ leave: false }).catch(() => {})
    return 1
  }
  logger.info({ node: config.nodeName, nodeId: agent.nodeId, server: config.server, http: http.address, datacenter: config.datacenter }, 'agent ready')
  process.stdout.write('==> weft agent running!\n')
  return await new Promise<number>(resolve => {
    let stopping = false
    const stop = (reason: string, leave: boolean): void => {
      if (stopping) return
      stopping = true
      logger.info({ reason, leave }, 'agent stopping')
      void (async () => {
        await agent.localServices?.stopManagedProxies() // Agent services (#5/#6): while they can reach the API
        await http?.close().catch(() => {})
        await agent.stop({ leave }).catch((err: Error) => logger.error({ err }, 'error while stopping'))
        logger.info({}, 'agent stopped')
        resolve(0)
      })()
    }
    // Agent services (#5/#6): SIGHUP re-reads service and check definitions, as `weft reload` does.
    process.on('SIGHUP', () => {
      if (stopping) return
      logger.info({ signal: 'SIGHUP' }, 'reloading service definitions')
      agent.localServices?.reload().catch((err: Error) => logger.error({ err: err.message }, 'reload failed'))
    })
    process.once('SIGTERM', () => stop('SIGTERM', config.leaveOnTerminate))
    process.once('SIGINT', () => stop('SIGINT', !config.skipLeaveOnInterrupt))
    agent.onLeaveRequested = () => stop('leave requested', true)
  })
}

export function settingsFromConfig (config: Config): AgentSettings {
  return {
    nodeName: config.nodeName,
    datacenter: config.datacenter,
    dataDir: config.dataDir,
    server: config.server,
    bootstrap: config.bootstrap,
    bootstrapExpect: config.bootstrapExpect,
    bindAddr: config.bindAddr,
    advertiseAddr: config.advertiseAddr,
    serverPort: config.ports.server,
    serfLanPort: config.ports.serfLan,
    clientAddr: config.clientAddrs[0] ?? '127.0.0.1',
    httpPort: config.ports.http,
    retryJoin: [...config.retryJoin, ...config.startJoin],
    retryIntervalMs: config.retryIntervalMs,
    encrypt: config.encrypt ?? null,
    raftTickMs: config.raft.tickMs,
    raftElectionTicks: config.raft.electionTicks,
    raftHeartbeatTicks: config.raft.heartbeatTicks,
    version: weftVersion,
    connectEnabled: config.connect.enabled,
    caConfig: config.connect.caConfig,
    dev: config.dev,
    acl: { enabled: config.acl.enabled, defaultPolicy: config.acl.defaultPolicy } // Intentions (#4)
  }
}

function createLogger (config: Config): Logger {
  const level = config.logLevel === 'trace' ? 'trace' : config.logLevel
  return pino({
    level,
    base: { node: config.nodeName },
    redact: { paths: ['token', '*.token', 'encrypt', '*.encrypt', 'secretKey', '*.secretKey', 'PrivateKey', '*.PrivateKey'], censor: '<hidden>' }
  })
}

function printBanner (config: Config): void {
  const lines = [
    '==> Starting weft agent...',
    `           Version: 'v${weftVersion}'`,
    `         Node name: '${config.nodeName}'`,
    `        Datacenter: '${config.datacenter}' (Segment: '')`,
    `            Server: ${String(config.server)} (Bootstrap: ${String(config.bootstrap)})`,
    `       Client Addr: [${config.clientAddrs.join(' ')}] (HTTP: ${config.ports.http}, HTTPS: -1, gRPC: -1, DNS: ${config.ports.dns})`,
    `      Cluster Addr: ${config.advertiseAddr} (LAN: ${config.ports.serfLan}, Server: ${config.ports.server})`,
    `           Encrypt: Gossip: ${String(config.encrypt !== undefined)}, RPC: CURVE`,
    '',
    '==> Log data will now stream in as it occurs:',
    ''
  ]
  process.stdout.write(lines.join('\n') + '\n')
}
