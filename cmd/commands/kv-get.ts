/**
 * `weft kv get [-recurse] [-keys] [-separator=/] [-detailed] [-base64] [KEY_OR_PREFIX]`
 * (Consul's `kv get`, spec §15.2 and §9.1): a value, a prefix listing as `key:value` lines, or
 * key names. A missing key is `Error! No key exists at: KEY` with exit 1; an empty prefix
 * listing prints nothing and exits 0, as Consul does.
 */
import { parseDirEntries, parseKeyList, type DirEntry } from '../api-types.js'
import { defineCommand, exitFailure, type CommandInput, exitSuccess, reportRequestFailure, writeErrorLine, writeLine, type RunContext } from '../command.js'
import { usageError } from '../errors.js'
import { alignLabels } from '../format.js'
import { flagBoolean, flagString, httpClientFlags, httpServerFlags, type FlagSpec } from '../flags.js'
import { encodeKeyPath } from '../http-client.js'

export type KvGetMode = 'value' | 'recurse' | 'keys'

export interface KvGetRequest {
  readonly key: string
  readonly mode: KvGetMode
  readonly separator: string
  readonly detailed: boolean
  readonly base64: boolean
  readonly stale: boolean
}

const flags: readonly FlagSpec[] = [
  { name: 'base64', kind: 'boolean', description: 'Base64 encode the value.' },
  { name: 'detailed', kind: 'boolean', description: 'Print the metadata of the key (ModifyIndex, Flags, ...) as well as its value.' },
  { name: 'keys', kind: 'boolean', description: 'List the keys that start with the given prefix, but not their values.' },
  { name: 'recurse', kind: 'boolean', description: 'Recursively print every key-value pair under the given prefix.' },
  {
    name: 'separator',
    kind: 'string',
    valueName: 'string',
    description: 'With -keys, list keys only up to the first separator after the prefix. (default: /)'
  },
  ...httpClientFlags,
  ...httpServerFlags
]

export function parseKvGet (input: CommandInput): KvGetRequest {
  const values = input.flags
  if (input.args.length > 1) throw usageError(`Too many arguments (expected 1, got ${input.args.length})`)
  const key = stripLeadingSlash(input.args[0] ?? '')
  const keys = flagBoolean(values, 'keys')
  const recurse = flagBoolean(values, 'recurse')
  if (key === '' && !keys && !recurse) throw usageError('Error! Missing KEY argument')
  return {
    key,
    mode: keys ? 'keys' : recurse ? 'recurse' : 'value',
    separator: flagString(values, 'separator') ?? '/',
    detailed: flagBoolean(values, 'detailed'),
    base64: flagBoolean(values, 'base64'),
    stale: flagBoolean(values, 'stale')
  }
}

/** Keys cannot start with `/`; Consul strips one for people who type `/foo`. */
export function stripLeadingSlash (key: string): string {
  return key.startsWith('/') ? key.slice(1) : key
}

async function runKvGet (request: KvGetRequest, context: RunContext): Promise<number> {
  const { io } = context
  try {
    const client = await context.agent()
    const query = { stale: request.stale ? true as const : undefined }
    const path = `/v1/kv/${encodeKeyPath(request.key)}`
    if (request.mode === 'keys') {
      const answer = await client.requestJson({
        method: 'GET', path, query: { ...query, keys: true, separator: request.separator === '' ? undefined : request.separator }, answerStatuses: [404]
      })
      const keys = answer.status === 404 ? [] : parseKeyList(answer.json, 'keys')
      for (const key of keys) writeLine(io, key)
      return exitSuccess
    }
    if (request.mode === 'recurse') {
      const answer = await client.requestJson({ method: 'GET', path, query: { ...query, recurse: true }, answerStatuses: [404] })
      const entries = answer.status === 404 ? [] : parseDirEntries(answer.json, 'entries')
      if (entries.length > 0) io.stdout(formatKvList(entries, request))
      return exitSuccess
    }
    const answer = await client.requestJson({ method: 'GET', path, query, answerStatuses: [404] })
    const entry = answer.status === 404 ? undefined : parseDirEntries(answer.json, 'entries')[0]
    if (entry === undefined) {
      writeErrorLine(io, `Error! No key exists at: ${request.key}`)
      return exitFailure
    }
    io.stdout(withNewline(request.detailed ? formatKvDetailed(entry, request) : formatKvValue(entry, request)))
    return exitSuccess
  } catch (err) {
    return reportRequestFailure(io, 'Error querying agent', err)
  }
}

/** A single value: the raw bytes, or their base64 with -base64. */
export function formatKvValue (entry: DirEntry, options: { base64: boolean }): Uint8Array {
  return options.base64 ? Buffer.from(Buffer.from(entry.value).toString('base64')) : entry.value
}

/** `-detailed` block: tabwriter-aligned `CreateIndex ... Value` lines, no final newline. */
export function formatKvDetailed (entry: DirEntry, options: { base64: boolean }): Uint8Array {
  return alignLabels([
    ['CreateIndex', String(entry.createIndex)],
    ['Flags', String(entry.flags)],
    ['Key', entry.key],
    ['LockIndex', String(entry.lockIndex)],
    ['ModifyIndex', String(entry.modifyIndex)],
    ['Session', entry.session ?? '-'],
    ['Value', options.base64 ? Buffer.from(entry.value).toString('base64') : entry.value]
  ])
}

/** `-recurse` output: `key:value` per line, or detailed blocks separated by blank lines. */
export function formatKvList (entries: readonly DirEntry[], options: { detailed: boolean, base64: boolean }): Uint8Array {
  const parts: Uint8Array[] = []
  entries.forEach((entry, index) => {
    if (options.detailed) {
      parts.push(withNewline(formatKvDetailed(entry, options)))
      if (index < entries.length - 1) parts.push(Buffer.from('\n'))
      return
    }
    parts.push(Buffer.from(`${entry.key}:`), formatKvValue(entry, options), Buffer.from('\n'))
  })
  return Buffer.concat(parts)
}

function withNewline (data: Uint8Array): Uint8Array {
  return Buffer.concat([data, Buffer.from('\n')])
}

export const kvGetCommand = defineCommand<KvGetRequest>({
  path: ['kv', 'get'],
  summary: 'Retrieves or lists data from the KV store',
  usage: '[options] [KEY_OR_PREFIX]',
  help: [
    'Retrieves the value from the key-value store at the given key name. If no',
    'key exists with that name, an error is returned. If a key exists with that',
    'name but has no data, nothing is returned.',
    '',
    '    $ weft kv get foo',
    '    $ weft kv get -detailed foo',
    '    $ weft kv get -recurse foo',
    '    $ weft kv get -keys foo'
  ].join('\n'),
  flags,
  parse: parseKvGet,
  run: runKvGet
})
