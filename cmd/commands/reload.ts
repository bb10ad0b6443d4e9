/**
 * `weft reload` (spec §14.1, §15.2): PUT /v1/agent/reload, which makes the agent re-read its
 * config files and apply their service and check definitions. Prints
 * `Configuration reload triggered`; a rejected definition or an unloadable file is reported as
 * `Error reloading: ...` with exit 1 (the agent applied the definitions it could).
 */
import { defineCommand, exitSuccess, reportRequestFailure, writeLine, type CommandInput, type RunContext } from '../command.js'
import { usageError } from '../errors.js'
import { goList } from '../format.js'
import { httpClientFlags } from '../flags.js'

export type ReloadRequest = Record<string, never>

export function parseReload (input: CommandInput): ReloadRequest {
  if (input.args.length > 0) throw usageError(`Error found unexpected args: ${goList(input.args)}`)
  return {}
}

async function runReload (_request: ReloadRequest, context: RunContext): Promise<number> {
  try {
    await (await context.agent()).request({ method: 'PUT', path: '/v1/agent/reload' })
  } catch (err) {
    return reportRequestFailure(context.io, 'Error reloading', err)
  }
  writeLine(context.io, 'Configuration reload triggered')
  return exitSuccess
}

export const reloadCommand = defineCommand<ReloadRequest>({
  path: ['reload'],
  summary: 'Triggers the agent to reload configuration files',
  usage: '[options]',
  help: 'Causes the agent to reload its configuration files: service and check definitions are\n' +
    're-read; added services are registered, removed ones deregistered, unchanged ones left alone.',
  flags: httpClientFlags,
  parse: parseReload,
  run: runReload
})
