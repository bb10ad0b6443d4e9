/**
 * `weft members [-detailed] [-status=REGEX] [-wan] [-segment=NAME] [-filter=EXPR]`
 * (Consul's `members`, spec §15.2 and §2.2): GET /v1/agent/members, filter by serf status name,
 * sort servers first then by name, and print Consul's modern table
 * (`Node Address Status Type Build Protocol DC Partition Segment`). When no member matches,
 * nothing is printed and the exit status is 2, as in Consul.
 */
import { parseMembers, type AgentMember } from '../api-types.js'
import { defineCommand, exitSuccess, exitUsage, reportRequestFailure, writeLine, type CommandInput, type RunContext } from '../command.js'
import { usageError } from '../errors.js'
import { columnize } from '../format.js'
import { flagBoolean, flagString, httpClientFlags, type FlagSpec } from '../flags.js'

export interface MembersRequest {
  readonly detailed: boolean
  readonly status: RegExp
  readonly wan: boolean
  readonly segment: string | undefined
  readonly filter: string | undefined
}

const flags: readonly FlagSpec[] = [
  { name: 'detailed', kind: 'boolean', description: 'Print every tag of each member instead of the summary columns.' },
  { name: 'filter', kind: 'string', valueName: 'expression', description: 'Filter expression applied by the agent.' },
  { name: 'segment', kind: 'string', valueName: 'name', description: '(Enterprise-only) Only members of the given segment.' },
  {
    name: 'status',
    kind: 'string',
    valueName: 'regex',
    description: 'Only members whose status (alive, leaving, left, failed) matches the regular expression. (default: .*)'
  },
  { name: 'wan', kind: 'boolean', description: 'On a server, list the members of the WAN pool.' },
  ...httpClientFlags
]

/** Serf's member status names, indexed by the API's numeric Status. */
const statusNames = ['none', 'alive', 'leaving', 'left', 'failed'] as const

export function parseMembersArgs (input: CommandInput): MembersRequest {
  if (input.args.length > 0) throw usageError(`Too many arguments (expected 0, got ${input.args.length})`)
  const pattern = flagString(input.flags, 'status') ?? '.*'
  let status: RegExp
  try {
    status = new RegExp(pattern)
  } catch (err) {
    throw usageError(`Failed to compile status regexp: ${(err as Error).message}`)
  }
  return {
    detailed: flagBoolean(input.flags, 'detailed'),
    status,
    wan: flagBoolean(input.flags, 'wan'),
    segment: flagString(input.flags, 'segment'),
    filter: flagString(input.flags, 'filter')
  }
}

async function runMembers (request: MembersRequest, context: RunContext): Promise<number> {
  const { io } = context
  let members: AgentMember[]
  try {
    const answer = await (await context.agent()).requestJson({
      method: 'GET',
      path: '/v1/agent/members',
      query: { wan: request.wan ? '1' : undefined, segment: request.segment, filter: request.filter }
    })
    members = parseMembers(answer.json, 'members')
  } catch (err) {
    return reportRequestFailure(io, 'Error retrieving members', err)
  }
  const shown = selectMembers(members, { status: request.status, allSegments: request.segment === undefined })
  if (shown.length === 0) return exitUsage
  writeLine(io, request.detailed ? formatMembersDetailed(shown) : formatMembers(shown))
  return exitSuccess
}

export function memberStatusName (status: number): string {
  return statusNames[status] ?? 'unknown'
}

/**
 * Fills the partition and segment tags the way Consul's CLI does before printing (CE: partition
 * `default`; servers `<all>` when listing all segments, others `<default>`), keeps members whose
 * status name matches, and sorts servers first, then by segment, partition and name.
 */
export function selectMembers (members: readonly AgentMember[], options: { status: RegExp, allSegments: boolean }): AgentMember[] {
  const decorated = members.map(member => {
    const tags = { ...member.tags }
    if ((tags.partition ?? '') === '') tags.partition = 'default'
    if (tags.partition === 'default') {
      if (options.allSegments && tags.role === 'consul') tags.segment = '<all>'
      else if ((tags.segment ?? '') === '') tags.segment = '<default>'
    } else {
      tags.segment = ''
    }
    return { ...member, tags }
  })
  return decorated
    .filter(member => options.status.test(memberStatusName(member.status)))
    .sort(compareMembers)
}

function compareMembers (left: AgentMember, right: AgentMember): number {
  const leftServer = left.tags.role === 'consul'
  const rightServer = right.tags.role === 'consul'
  if (leftServer !== rightServer) return leftServer ? -1 : 1
  const leftDefault = isDefaultPartition(left.tags.partition)
  const rightDefault = isDefaultPartition(right.tags.partition)
  if (leftDefault !== rightDefault) return leftDefault ? -1 : 1
  return compareText(left.tags.segment ?? '', right.tags.segment ?? '') ||
    compareText(left.tags.partition ?? '', right.tags.partition ?? '') ||
    compareText(left.name, right.name)
}

function isDefaultPartition (partition: string | undefined): boolean {
  return partition === undefined || partition === '' || partition === 'default'
}

/** Byte-order comparison, as Go's `<` on strings (localeCompare would reorder case). */
function compareText (left: string, right: string): number {
  if (left === right) return 0
  return left < right ? -1 : 1
}

/** Go's net.TCPAddr.String(): IPv6 addresses in brackets. */
export function memberAddress (member: AgentMember): string {
  return member.addr.includes(':') ? `[${member.addr}]:${member.port}` : `${member.addr}:${member.port}`
}

export function formatMembers (members: readonly AgentMember[]): string {
  const rows: string[][] = [['Node', 'Address', 'Status', 'Type', 'Build', 'Protocol', 'DC', 'Partition', 'Segment']]
  for (const member of members) {
    const { tags } = member
    const status = memberStatusName(member.status)
    const type = tags.role === 'consul' ? 'server' : tags.role === 'node' ? 'client' : undefined
    if (type === undefined) {
      rows.push([member.name, memberAddress(member), status, 'unknown', '', '', '', '', ''])
      continue
    }
    const build = (tags.build ?? '') === '' ? '< 0.3' : (tags.build as string).split(':')[0] as string
    rows.push([member.name, memberAddress(member), status, type, build, tags.vsn ?? '', tags.dc ?? '', tags.partition ?? '', tags.segment ?? ''])
  }
  return columnize(rows)
}

export function formatMembersDetailed (members: readonly AgentMember[]): string {
  const rows: string[][] = [['Node', 'Address', 'Status', 'Tags']]
  for (const member of members) {
    const tags = Object.keys(member.tags).sort(compareText).map(name => `${name}=${member.tags[name] ?? ''}`).join(',')
    rows.push([member.name, memberAddress(member), memberStatusName(member.status), tags])
  }
  return columnize(rows)
}

export const membersCommand = defineCommand<MembersRequest>({
  path: ['members'],
  summary: 'Lists the members of a weft cluster',
  usage: '[options]',
  help: 'Outputs the members of a running weft agent.',
  flags,
  parse: parseMembersArgs,
  run: runMembers
})
