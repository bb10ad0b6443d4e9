/**
 * `weft kv delete [-recurse] [-cas -modify-index=N] KEY_OR_PREFIX` (Consul's `kv delete`,
 * spec §15.2 and §9.1). Prints `Success! Deleted key: KEY` or
 * `Success! Deleted keys with prefix: KEY`; deleting a key that does not exist succeeds.
 */
import { parseBooleanBody } from '../api-types.js'
import { defineCommand, exitFailure, exitSuccess, reportRequestFailure, writeErrorLine, writeLine, type CommandInput, type RunContext } from '../command.js'
import { usageError } from '../errors.js'
import { flagBoolean, flagUint, httpClientFlags, httpServerFlags, type FlagSpec } from '../flags.js'
import { encodeKeyPath } from '../http-client.js'
import { stripLeadingSlash } from './kv-get.js'

export type KvDelete =
  | { readonly kind: 'key' }
  | { readonly kind: 'prefix' }
  | { readonly kind: 'cas', readonly modifyIndex: number }

export interface KvDeleteRequest {
  readonly key: string
  readonly delete: KvDelete
}

const flags: readonly FlagSpec[] = [
  { name: 'cas', kind: 'boolean', description: 'Perform a Check-And-Set delete; requires -modify-index.' },
  { name: 'modify-index', kind: 'uint', valueName: 'uint', description: 'The ModifyIndex the key must still have for -cas to delete it.' },
  { name: 'recurse', kind: 'boolean', description: 'Delete every key that starts with the given prefix.' },
  ...httpClientFlags,
  ...httpServerFlags
]

export function parseKvDelete (input: CommandInput): KvDeleteRequest {
  if (input.args.length > 1) throw usageError(`Too many arguments (expected 1, got ${input.args.length})`)
  const key = stripLeadingSlash(input.args[0] ?? '')
  const recurse = flagBoolean(input.flags, 'recurse')
  const cas = flagBoolean(input.flags, 'cas')
  const modifyIndex = flagUint(input.flags, 'modify-index')
  if (key === '' && !recurse) throw usageError('Error! Missing KEY argument')
  if (cas && (modifyIndex === undefined || modifyIndex === 0)) {
    throw usageError('Cannot delete a key that does not exist. Provide a -modify-index greater than 0.')
  }
  if (modifyIndex !== undefined && !cas) throw usageError('Cannot specify -modify-index without -cas!')
  if (recurse && cas) throw usageError('Cannot specify both -cas and -recurse!')
  if (recurse) return { key, delete: { kind: 'prefix' } }
  if (cas) return { key, delete: { kind: 'cas', modifyIndex: modifyIndex as number } }
  return { key, delete: { kind: 'key' } }
}

async function runKvDelete (request: KvDeleteRequest, context: RunContext): Promise<number> {
  const { io } = context
  const { key } = request
  const path = `/v1/kv/${encodeKeyPath(key)}`
  switch (request.delete.kind) {
    case 'prefix':
      try {
        await (await context.agent()).request({ method: 'DELETE', path, query: { recurse: true } })
      } catch (err) {
        return reportRequestFailure(io, `Error! Did not delete prefix ${key}`, err)
      }
      writeLine(io, `Success! Deleted keys with prefix: ${key}`)
      return exitSuccess
    case 'cas': {
      let deleted: boolean
      try {
        const answer = await (await context.agent()).requestJson({ method: 'DELETE', path, query: { cas: String(request.delete.modifyIndex) } })
        deleted = parseBooleanBody(answer.json, `DELETE ${path}`)
      } catch (err) {
        return reportRequestFailure(io, `Error! Did not delete key ${key}`, err)
      }
      if (!deleted) {
        writeErrorLine(io, `Error! Did not delete key ${key}: CAS failed`)
        return exitFailure
      }
      writeLine(io, `Success! Deleted key: ${key}`)
      return exitSuccess
    }
    case 'key':
      try {
        await (await context.agent()).request({ method: 'DELETE', path })
      } catch (err) {
        return reportRequestFailure(io, `Error deleting key ${key}`, err)
      }
      writeLine(io, `Success! Deleted key: ${key}`)
      return exitSuccess
  }
}

export const kvDeleteCommand = defineCommand<KvDeleteRequest>({
  path: ['kv', 'delete'],
  summary: 'Removes data from the KV store',
  usage: '[options] KEY_OR_PREFIX',
  help: [
    'Removes the value from the key-value store at the given path. If no key',
    'exists at the path, no action is taken.',
    '',
    '    $ weft kv delete foo',
    '    $ weft kv delete -recurse foo'
  ].join('\n'),
  flags,
  parse: parseKvDelete,
  run: runKvDelete
})
