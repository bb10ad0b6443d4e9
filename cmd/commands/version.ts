/**
 * `weft version` (also `weft -version`, `--version`, `-v`): Consul's layout adapted to weft.
 * The protocol line is Consul's, because weft agents advertise the same versions in their
 * member tags (`vsn`, `vsn_min`, `vsn_max`).
 */
import { defineCommand, exitSuccess, writeLine, type CommandInput, type RunContext } from '../command.js'
import { usageError } from '../errors.js'

export type VersionRequest = Record<string, never>

export function parseVersion (input: CommandInput): VersionRequest {
  if (input.args.length > 0) throw usageError(`Too many arguments (expected 0, got ${input.args.length})`)
  return {}
}

export function formatVersion (version: string): string {
  return [
    `weft v${version}`,
    'Protocol 2 spoken by default, understands 2 to 3 (agent will automatically use protocol >2 when speaking to compatible agents)'
  ].join('\n')
}

async function runVersion (_request: VersionRequest, context: RunContext): Promise<number> {
  writeLine(context.io, formatVersion(context.version))
  return exitSuccess
}

export const versionCommand = defineCommand<VersionRequest>({
  path: ['version'],
  summary: 'Prints the weft version',
  usage: '',
  help: 'Prints the version of this weft binary.',
  flags: [],
  parse: parseVersion,
  run: runVersion
})
