/**
 * `weft connect ca get-config` (spec §6.1): GET /v1/connect/ca/configuration and print it as
 * tab-indented JSON, as Consul's CLI does.
 */
import { defineCommand, exitSuccess, reportRequestFailure, writeLine, type CommandInput, type RunContext } from '../command.js'
import { usageError } from '../errors.js'
import { httpClientFlags, httpServerFlags, type FlagSpec } from '../flags.js'

const flags: readonly FlagSpec[] = [...httpClientFlags, ...httpServerFlags]

export function parseGetConfigArgs (input: CommandInput): null {
  if (input.args.length > 0) throw usageError(`Too many arguments (expected 0, got ${input.args.length})`)
  return null
}

async function runGetConfig (_request: null, context: RunContext): Promise<number> {
  let json: unknown
  try {
    json = (await (await context.agent()).requestJson({ method: 'GET', path: '/v1/connect/ca/configuration' })).json
  } catch (err) {
    return reportRequestFailure(context.io, 'Error request CA configuration', err)
  }
  writeLine(context.io, JSON.stringify(json, null, '\t'))
  return exitSuccess
}

export const caGetConfigCommand = defineCommand<null>({
  path: ['connect', 'ca', 'get-config'],
  summary: 'Display the current Connect Certificate Authority (CA) configuration',
  usage: '[options]',
  help: 'Displays the current Connect CA configuration: the provider, its settings (TTLs,\nkey type) and the Raft indexes of the last change.',
  flags,
  parse: parseGetConfigArgs,
  run: runGetConfig
})
