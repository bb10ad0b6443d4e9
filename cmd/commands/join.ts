/**
 * `weft join [-wan] ADDRESS...` (spec §15.2 and §2): PUT /v1/agent/join/ADDRESS for each
 * address, in order. Prints `Successfully joined cluster by contacting N nodes.`; each failed
 * address prints `Error joining address 'x': ...`, and if none succeeded,
 * `Failed to join any nodes.` with exit 1. If the local agent itself cannot be reached, the
 * remaining addresses are not tried.
 */
import { defineCommand, exitFailure, exitSuccess, reportRequestFailure, writeErrorLine, writeLine, type CommandInput, type RunContext } from '../command.js'
import { isCliError, usageError } from '../errors.js'
import { flagBoolean, httpClientFlags, type FlagSpec } from '../flags.js'
import { encodeKeyPath } from '../http-client.js'

export interface JoinRequest {
  readonly addresses: readonly string[]
  readonly wan: boolean
}

const flags: readonly FlagSpec[] = [
  { name: 'wan', kind: 'boolean', description: 'Joins a server to another server in the WAN pool.' },
  ...httpClientFlags
]

export function parseJoin (input: CommandInput): JoinRequest {
  if (input.args.length === 0) throw usageError('At least one address to join must be specified.')
  return { addresses: input.args, wan: flagBoolean(input.flags, 'wan') }
}

async function runJoin (request: JoinRequest, context: RunContext): Promise<number> {
  const { io } = context
  let joinedCount = 0
  for (const address of request.addresses) {
    try {
      await (await context.agent()).request({
        method: 'PUT',
        path: `/v1/agent/join/${encodeKeyPath(address)}`,
        query: { wan: request.wan ? '1' : undefined }
      })
      joinedCount += 1
    } catch (err) {
      if (!isCliError(err, 'ERR_UNEXPECTED_RESPONSE')) return reportRequestFailure(io, `Error joining address '${address}'`, err)
      writeErrorLine(io, `Error joining address '${address}': ${err.message}`)
    }
  }
  return reportJoins(joinedCount, context)
}

function reportJoins (joinedCount: number, context: RunContext): number {
  if (joinedCount === 0) {
    writeErrorLine(context.io, 'Failed to join any nodes.')
    return exitFailure
  }
  writeLine(context.io, formatJoined(joinedCount))
  return exitSuccess
}

export function formatJoined (joinedCount: number): string {
  return `Successfully joined cluster by contacting ${joinedCount} nodes.`
}

export const joinCommand = defineCommand<JoinRequest>({
  path: ['join'],
  summary: 'Tell weft agent to join cluster',
  usage: '[options] ADDRESS...',
  help: 'Tells a running weft agent (started with "weft agent") to join the cluster\nby specifying at least one existing member.',
  flags,
  parse: parseJoin,
  run: runJoin
})
