/**
 * `weft keygen` (Consul's `keygen`, spec §13 and §15): prints a new gossip encryption key, the
 * standard base64 of 32 random bytes, and a newline; nothing else, so scripts can capture it
 * (`weft agent -encrypt "$(weft keygen)"`). The key comes from node:crypto's CSPRNG.
 */
import { defineCommand, exitSuccess, writeLine, type CommandInput, type RunContext } from '../command.js'
import { usageError } from '../errors.js'
import { generateGossipKey } from '../../src/gossip/keyring.js'

export type KeygenRequest = Record<string, never>

export function parseKeygen (input: CommandInput): KeygenRequest {
  if (input.args.length > 0) throw usageError(`Too many arguments (expected 0, got ${input.args.length})`)
  return {}
}

async function runKeygen (_request: KeygenRequest, context: RunContext): Promise<number> {
  writeLine(context.io, generateGossipKey())
  return exitSuccess
}

export const keygenCommand = defineCommand<KeygenRequest>({
  path: ['keygen'],
  summary: 'Generates a new encryption key',
  usage: '',
  help: [
    'Prints a new key for gossip encryption: 32 random bytes in standard base64.',
    'Give the same key to every agent with -encrypt or the encrypt setting, or',
    "install it on a running cluster with 'weft keyring -install'."
  ].join('\n'),
  flags: [],
  parse: parseKeygen,
  run: runKeygen
})
