/**
 * Wires the agent into the HTTP API: the AgentApi (self, members, join, leave, reload) answered
 * from the agent's own state, and the ServerApi (local on servers, RPC on clients).
 * Members are the gossip pool's (src/agent/membership.ts).
 */
import type { Logger } from 'pino'
import { createHttpApi } from '../api/server.js'
import type { AgentApi, AgentMember, AgentSelf } from '../api/types.js'
import type { Config } from '../config/schema.js'
import { ControlPlaneError } from '../util/errors.js'
import type { MemberInfo } from './membership.js'
import { intentionDefaultsFrom } from './intention-cache.js' // Intentions (#4)
import type { Agent, Member } from './agent.js'

/** Intentions (#4): how long authorize waits for the agent's first intention load. */
const authorizeLoadTimeoutMs = 5_000

const statusCodes: Record<Member['status'], number> = { alive: 1, left: 3, failed: 4 }

function toAgentMember (member: Member, config: Config): AgentMember {
  const info: MemberInfo = member.info
  const ip = /^tcp:\/\/(.+):(\d+)$/.exec(info.rpcEndpoint)
  const gossip = /^(.+):(\d+)$/.exec(info.gossipAddress)
  const tags: Record<string, string> = {
    role: info.role === 'server' ? 'consul' : 'node',
    dc: info.datacenter,
    id: info.nodeId,
    vsn: '2',
    vsn_min: '2',
    vsn_max: '3',
    build: `${info.version === '' ? '0.0.0' : info.version}:weft`,
    segment: ''
  }
  if (info.role === 'server') {
    tags.port = ip?.[2] ?? String(config.ports.server)
    tags.raft_vsn = '3'
    tags.expect = String(config.bootstrapExpect)
  }
  return {
    Name: info.name,
    Addr: gossip?.[1] ?? ip?.[1] ?? '',
    Port: Number(gossip?.[2] ?? config.ports.serfLan),
    Tags: tags,
    Status: statusCodes[member.status],
    ProtocolMin: 1,
    ProtocolMax: 5,
    ProtocolCur: 2,
    DelegateMin: 2,
    DelegateMax: 5,
    DelegateCur: 4
  }
}

export function createAgentApi (agent: Agent, config: Config): AgentApi {
  return {
    async self (): Promise<AgentSelf> {
      const member = agent.members().find(m => m.info.nodeId === agent.nodeId) ?? { info: agent.selfInfo(), status: 'alive' as const }
      const raft = agent.raft
      const status = raft?.started === true ? raft.status() : null
      return {
        Config: {
          Datacenter: config.datacenter,
          PrimaryDatacenter: config.primaryDatacenter,
          NodeName: config.nodeName,
          NodeID: agent.nodeId,
          Revision: 'weft',
          Server: config.server,
          Version: agent.settings.version,
          BuildDate: '2026-11-23T00:00:00Z'
        },
        DebugConfig: {},
        Coord: null,
        Member: toAgentMember(member, config),
        Stats: {
          agent: agentStats(agent), // Agent services (#5/#6)
          raft: status === null
            ? {}
            : { state: capitalize(status.role), term: String(status.term), commit_index: String(status.commitIndex), applied_index: String(status.appliedIndex), last_log_index: String(status.lastIndex), num_peers: String(Math.max(0, status.configuration.voters.length - 1)) }
        },
        Meta: {}
      }
    },
    async members (options): Promise<readonly AgentMember[]> {
      if (options.wan && !config.server) throw new ControlPlaneError('ERR_INVALID_INPUT', 'WAN members are only known to servers')
      return agent.members().map(member => toAgentMember(member, config))
    },
    async join (address): Promise<void> {
      await agent.join(address)
    },
    async leave (): Promise<void> {
      setImmediate(() => agent.onLeaveRequested?.())
    },
    async reload (): Promise<void> {
      // Agent services (#5/#6): re-reads the service and check definitions of the config files.
      await agent.localServices?.reload()
    },
    // Agent services (#5/#6)
    get services () {
      if (agent.localServices === null) throw new ControlPlaneError('ERR_STOPPED', 'the agent is not running: local services are not available')
      return agent.localServices
    },
    async keyringList () {
      if (agent.membership === null) throw new ControlPlaneError('ERR_STOPPED', 'the agent is not running')
      return [agent.membership.keyringList()]
    },
    async keyringOperate (command) {
      if (agent.membership === null) throw new ControlPlaneError('ERR_STOPPED', 'the agent is not running')
      await agent.membership.keyringOperate(command)
    },
    async connectCaRoots (query) {
      return await agent.connectCaches().roots.get(query)
    },
    async connectCaLeaf (service, query) {
      return await agent.connectCaches().leaves.get(service, query)
    },
    // Intentions (#4): from the agent's intention cache; this agent's ACL settings decide the default.
    async connectAuthorize (request) {
      const cache = agent.intentionCache
      if (cache === null) throw new ControlPlaneError('ERR_STOPPED', 'the agent is not running: intentions are not available')
      const decision = await cache.authorize(
        { source: request.sourceName, sourceNamespace: request.sourceNamespace, destination: request.target },
        intentionDefaultsFrom({ enabled: config.acl.enabled, defaultPolicy: config.acl.defaultPolicy }),
        { timeoutMs: authorizeLoadTimeoutMs })
      return { Authorized: decision.authorized, Reason: decision.reason }
    }
  }
}

/** Agent services (#5/#6): Stats.agent of /v1/agent/self (Consul's counters, as strings). */
function agentStats (agent: Agent): Record<string, string> {
  const counts = agent.localServices?.counts() ?? { services: 0, checks: 0, ttlChecks: 0 }
  return { check_monitors: '0', check_ttls: String(counts.ttlChecks), checks: String(counts.checks), services: String(counts.services) }
}

function capitalize (text: string): string {
  return text.length === 0 ? text : text[0]!.toUpperCase() + text.slice(1)
}

export async function startAgentHttp (options: { agent: Agent, config: Config, logger: Logger }): Promise<{ address: string, close: () => Promise<void> }> {
  const { agent, config, logger } = options
  const api = createHttpApi({
    serverApi: agent.serverApi!,
    agentApi: createAgentApi(agent, config),
    logger,
    pretty: config.dev,
    datacenter: config.datacenter,
    responseHeaders: config.httpConfig.responseHeaders,
    limits: { kvMaxValueSize: config.limits.kvMaxValueBytes, blockingWaitDefaultMs: config.defaultQueryTimeMs, blockingWaitMaxMs: config.maxQueryTimeMs }
  })
  const host = config.clientAddrs[0] ?? '127.0.0.1'
  const bound = await api.listen(host, config.ports.http)
  agent.httpAddress = `${bound.address}:${bound.port}`
  return { address: agent.httpAddress, close: async () => await api.close() }
}

export type { MemberInfo }
