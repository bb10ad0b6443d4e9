/**
 * `weft leave` (spec §15.2 and §2): PUT /v1/agent/leave, which makes the agent leave the cluster
 * gracefully (a leading server hands leadership over first) and shut down. Prints
 * `Graceful leave complete`.
 */
import { defineCommand, exitSuccess, reportRequestFailure, writeLine, type CommandInput, type RunContext } from '../command.js'
import { usageError } from '../errors.js'
import { goList } from '../format.js'
import { httpClientFlags } from '../flags.js'

export type LeaveRequest = Record<string, never>

export function parseLeave (input: CommandInput): LeaveRequest {
  if (input.args.length > 0) throw usageError(`Error found unexpected args: ${goList(input.args)}`)
  return {}
}

async function runLeave (_request: LeaveRequest, context: RunContext): Promise<number> {
  try {
    await (await context.agent()).request({ method: 'PUT', path: '/v1/agent/leave' })
  } catch (err) {
    return reportRequestFailure(context.io, 'Error leaving', err)
  }
  writeLine(context.io, 'Graceful leave complete')
  return exitSuccess
}

export const leaveCommand = defineCommand<LeaveRequest>({
  path: ['leave'],
  summary: 'Gracefully leaves the weft cluster and shuts down',
  usage: '[options]',
  help: 'Causes the agent to gracefully leave the weft cluster and shut down.',
  flags: httpClientFlags,
  parse: parseLeave,
  run: runLeave
})
