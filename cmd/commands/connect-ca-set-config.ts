/**
 * `weft connect ca set-config -config-file F` (spec §6.1, §6.6): PUT the JSON file's
 * `{Provider, Config, ForceWithoutCrossSigning}` to /v1/connect/ca/configuration. A new
 * PrivateKey/RootCert (or key type) rotates the root; the old root stays trusted until no leaf
 * can depend on it. Prints `Configuration updated!` as Consul does.
 */
import { readFile } from 'node:fs/promises'
import { defineCommand, exitFailure, exitSuccess, reportRequestFailure, writeErrorLine, writeLine, type CommandInput, type RunContext } from '../command.js'
import { usageError } from '../errors.js'
import { flagString, httpClientFlags, httpServerFlags, type FlagSpec } from '../flags.js'

export interface SetConfigRequest {
  readonly configFile: string
}

const flags: readonly FlagSpec[] = [
  { name: 'config-file', kind: 'string', valueName: 'file', description: 'The JSON file with the new CA configuration ({"Provider": "consul", "Config": {...}}).' },
  ...httpClientFlags,
  ...httpServerFlags
]

export function parseSetConfigArgs (input: CommandInput): SetConfigRequest {
  if (input.args.length > 0) throw usageError(`Too many arguments (expected 0, got ${input.args.length})`)
  const configFile = flagString(input.flags, 'config-file') ?? ''
  if (configFile === '') throw usageError('-config-file must be set')
  return { configFile }
}

async function runSetConfig (request: SetConfigRequest, context: RunContext): Promise<number> {
  const { io } = context
  let text: string
  try {
    text = await readFile(request.configFile, 'utf8')
  } catch (err) {
    writeErrorLine(io, `Error reading config file: ${(err as Error).message}`)
    return exitFailure
  }
  try {
    JSON.parse(text)
  } catch (err) {
    writeErrorLine(io, `Error parsing config file ${request.configFile}: ${(err as Error).message} (expected JSON such as {"Provider": "consul", "Config": {"LeafCertTTL": "72h"}})`)
    return exitFailure
  }
  try {
    await (await context.agent()).request({ method: 'PUT', path: '/v1/connect/ca/configuration', body: new TextEncoder().encode(text) })
  } catch (err) {
    return reportRequestFailure(io, 'Error setting CA configuration', err)
  }
  writeLine(io, 'Configuration updated!')
  return exitSuccess
}

export const caSetConfigCommand = defineCommand<SetConfigRequest>({
  path: ['connect', 'ca', 'set-config'],
  summary: 'Modify the current Connect CA configuration',
  usage: '-config-file FILE [options]',
  help: 'Modifies the Connect CA configuration. A new PrivateKey and RootCert rotate the\nroot: the old key cross-signs the new root and old leaves stay valid.',
  flags,
  parse: parseSetConfigArgs,
  run: runSetConfig
})
