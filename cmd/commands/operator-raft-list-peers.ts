/**
 * `weft operator raft list-peers [-stale]` (spec §15.2 and §10): GET
 * /v1/operator/raft/configuration and print the 1.15+ table
 * `Node ID Address State Voter RaftProtocol Commit Index Trails Leader By`.
 *
 * Commit Index is each server's `LastIndex` from the configuration answer; "Trails Leader By"
 * is `-` for the leader and `1 commit` / `N commits` for the others, as the spec words it.
 * (Consul reads these from /v1/operator/autopilot/health, which weft does not serve yet.)
 * A server without `LastIndex` shows `-` in both columns.
 */
import { parseRaftConfiguration, type RaftServer } from '../api-types.js'
import { defineCommand, exitSuccess, reportRequestFailure, writeLine, type CommandInput, type RunContext } from '../command.js'
import { usageError } from '../errors.js'
import { columnize } from '../format.js'
import { flagBoolean, httpClientFlags, httpServerFlags } from '../flags.js'

export interface ListPeersRequest {
  readonly stale: boolean
}

export function parseListPeers (input: CommandInput): ListPeersRequest {
  if (input.args.length > 0) throw usageError(`Too many arguments (expected 0, got ${input.args.length})`)
  return { stale: flagBoolean(input.flags, 'stale') }
}

async function runListPeers (request: ListPeersRequest, context: RunContext): Promise<number> {
  const { io } = context
  let servers: RaftServer[]
  try {
    const answer = await (await context.agent()).requestJson({
      method: 'GET',
      path: '/v1/operator/raft/configuration',
      query: { stale: request.stale ? true : undefined }
    })
    servers = parseRaftConfiguration(answer.json, 'configuration')
  } catch (err) {
    return reportRequestFailure(io, 'Error getting peers: Failed to retrieve raft configuration', err)
  }
  writeLine(io, formatRaftPeers(servers))
  return exitSuccess
}

export function formatRaftPeers (servers: readonly RaftServer[]): string {
  const leaderIndex = servers.find(server => server.leader)?.lastIndex
  const rows: string[][] = [['Node', 'ID', 'Address', 'State', 'Voter', 'RaftProtocol', 'Commit Index', 'Trails Leader By']]
  for (const server of servers) {
    rows.push([
      server.node,
      server.id,
      server.address,
      server.leader ? 'leader' : 'follower',
      String(server.voter),
      server.protocolVersion === '' ? '<=1' : server.protocolVersion,
      server.lastIndex === undefined ? '-' : String(server.lastIndex),
      trailsLeaderBy(server, leaderIndex)
    ])
  }
  return columnize(rows)
}

function trailsLeaderBy (server: RaftServer, leaderIndex: number | undefined): string {
  if (server.leader || server.lastIndex === undefined || leaderIndex === undefined) return '-'
  const behind = Math.max(0, leaderIndex - server.lastIndex)
  return behind === 1 ? '1 commit' : `${behind} commits`
}

export const listPeersCommand = defineCommand<ListPeersRequest>({
  path: ['operator', 'raft', 'list-peers'],
  summary: 'Display the current Raft peer configuration',
  usage: '[options]',
  help: 'Displays the current Raft peer configuration.',
  flags: [...httpClientFlags, ...httpServerFlags],
  parse: parseListPeers,
  run: runListPeers
})
