/**
 * `weft kv put [-cas -modify-index=N] [-flags=N] [-base64] [-acquire|-release -session=S] KEY [DATA|@file|-]`
 * (Consul's `kv put`, spec §15.2 and §9.1). DATA is literal text, `@path` for a file's bytes, or
 * `-` for standard input; omitted, it stores an empty value. Prints
 * `Success! Data written to: KEY`; a failed check-and-set prints
 * `Error! Did not write to KEY: CAS failed` and exits 1.
 *
 * One deliberate difference: Consul refuses `-cas -modify-index=0` because its flag parser cannot
 * tell 0 from "not given"; weft can, so an explicit 0 means "write only if the key does not
 * exist" (the API's `?cas=0`). Without -modify-index, -cas is still a usage error.
 */
import { readFile } from 'node:fs/promises'
import { defineCommand, exitFailure, exitSuccess, reportRequestFailure, writeErrorLine, writeLine, type CommandInput, type RunContext } from '../command.js'
import { parseBooleanBody } from '../api-types.js'
import { usageError } from '../errors.js'
import { flagBoolean, flagString, flagUint, httpClientFlags, httpServerFlags, type FlagSpec } from '../flags.js'
import { encodeKeyPath } from '../http-client.js'
import { stripLeadingSlash } from './kv-get.js'

export type KvData =
  | { readonly kind: 'literal', readonly text: string }
  | { readonly kind: 'file', readonly path: string }
  | { readonly kind: 'stdin' }

export type KvWrite =
  | { readonly kind: 'set' }
  | { readonly kind: 'cas', readonly modifyIndex: number }
  | { readonly kind: 'acquire', readonly session: string }
  | { readonly kind: 'release', readonly session: string }

export interface KvPutRequest {
  readonly key: string
  readonly data: KvData
  readonly base64: boolean
  readonly kvFlags: number | undefined
  readonly write: KvWrite
}

/** Client-side sanity bound on a value read from a file or stdin; the agent enforces its own limit. */
export const valueBytesMax = 64 * 1024 * 1024

const flags: readonly FlagSpec[] = [
  { name: 'acquire', kind: 'boolean', description: 'Obtain a lock on the key (creating it if needed); requires -session.' },
  { name: 'base64', kind: 'boolean', description: 'Treat the data as base 64 encoded.' },
  { name: 'cas', kind: 'boolean', description: 'Perform a Check-And-Set operation; requires -modify-index.' },
  { name: 'flags', kind: 'uint', valueName: 'uint', description: 'Unsigned integer to store with the key; weft does not read it. (default: 0)' },
  {
    name: 'modify-index',
    kind: 'uint',
    valueName: 'uint',
    description: 'The ModifyIndex the key must still have for -cas to write; 0 means the key must not exist.'
  },
  { name: 'release', kind: 'boolean', description: 'Release the lock on the key held by -session.' },
  { name: 'session', kind: 'string', valueName: 'id', description: 'The session for -acquire and -release.' },
  ...httpClientFlags,
  ...httpServerFlags
]

export function parseKvPut (input: CommandInput): KvPutRequest {
  const values = input.flags
  if (input.args.length === 0) throw usageError('Error! Missing KEY argument')
  if (input.args.length > 2) throw usageError(`Error! Too many arguments (expected 1 or 2, got ${input.args.length})`)
  const key = stripLeadingSlash(input.args[0] as string)
  if (key === '') throw usageError('Error! Missing KEY argument')
  return {
    key,
    data: parseDataArgument(input.args[1]),
    base64: flagBoolean(values, 'base64'),
    kvFlags: flagUint(values, 'flags'),
    write: parseWrite({
      cas: flagBoolean(values, 'cas'),
      acquire: flagBoolean(values, 'acquire'),
      release: flagBoolean(values, 'release'),
      modifyIndex: flagUint(values, 'modify-index'),
      session: flagString(values, 'session')
    })
  }
}

/** `@path` reads a file, a lone `-` reads stdin, anything else (including `-x`) is the data. */
export function parseDataArgument (argument: string | undefined): KvData {
  if (argument === undefined || argument === '') return { kind: 'literal', text: '' }
  if (argument.startsWith('@')) return { kind: 'file', path: argument.slice(1) }
  if (argument === '-') return { kind: 'stdin' }
  return { kind: 'literal', text: argument }
}

function parseWrite (options: { cas: boolean, acquire: boolean, release: boolean, modifyIndex: number | undefined, session: string | undefined }): KvWrite {
  const chosen = [options.cas, options.acquire, options.release].filter(Boolean).length
  if (chosen > 1) throw usageError('Error! Only one of -cas, -acquire and -release may be given')
  if ((options.acquire || options.release) && (options.session === undefined || options.session === '')) {
    throw usageError('Error! Missing -session (required with -acquire and -release)')
  }
  if (options.cas) {
    if (options.modifyIndex === undefined) throw usageError('Must specify -modify-index with -cas!')
    return { kind: 'cas', modifyIndex: options.modifyIndex }
  }
  if (options.modifyIndex !== undefined) throw usageError('Cannot specify -modify-index without -cas!')
  if (options.acquire) return { kind: 'acquire', session: options.session as string }
  if (options.release) return { kind: 'release', session: options.session as string }
  return { kind: 'set' }
}

/**
 * Go's base64.StdEncoding: standard alphabet, padding required, CR and LF ignored.
 * Returns the decoded bytes, or the offset of the first offending byte.
 */
export function decodeBase64Strict (text: string): { ok: true, bytes: Uint8Array } | { ok: false, offset: number } {
  const compact = text.replace(/[\r\n]/g, '')
  const invalidAt = compact.search(/[^A-Za-z0-9+/=]/)
  if (invalidAt >= 0) return { ok: false, offset: invalidAt }
  const paddingAt = compact.indexOf('=')
  const isShapeValid = compact.length % 4 === 0 && (paddingAt < 0 || /^={1,2}$/.test(compact.slice(paddingAt)))
  if (!isShapeValid) return { ok: false, offset: paddingAt >= 0 ? paddingAt : compact.length - (compact.length % 4) }
  return { ok: true, bytes: Buffer.from(compact, 'base64') }
}

async function runKvPut (request: KvPutRequest, context: RunContext): Promise<number> {
  const { io } = context
  let raw: Uint8Array
  try {
    raw = await readData(request.data, context)
  } catch (err) {
    const source = request.data.kind === 'stdin' ? 'stdin' : 'file'
    writeErrorLine(io, `Error! Failed to read ${source}: ${(err as Error).message}`)
    return exitFailure
  }
  let value = raw
  if (request.base64) {
    const decoded = decodeBase64Strict(new TextDecoder().decode(raw))
    if (!decoded.ok) {
      writeErrorLine(io, `Error! Cannot base 64 decode data: illegal base64 data at input byte ${decoded.offset}`)
      return exitFailure
    }
    value = decoded.bytes
  }

  const { write, key } = request
  let written: boolean
  try {
    const client = await context.agent()
    const answer = await client.requestJson({ method: 'PUT', path: `/v1/kv/${encodeKeyPath(key)}`, query: writeQuery(request), body: value })
    written = parseBooleanBody(answer.json, `PUT /v1/kv/${key}`)
  } catch (err) {
    const prefix = write.kind === 'cas' ? `Error! Did not write to ${key}` : 'Error! Failed writing data'
    return reportRequestFailure(io, prefix, err)
  }
  return reportWrite(request, written, context)
}

function writeQuery (request: KvPutRequest): Record<string, string | undefined> {
  const flags = request.kvFlags === undefined || request.kvFlags === 0 ? undefined : String(request.kvFlags)
  const { write } = request
  switch (write.kind) {
    case 'set': return { flags }
    case 'cas': return { flags, cas: String(write.modifyIndex) }
    case 'acquire': return { flags, acquire: write.session }
    case 'release': return { flags, release: write.session }
  }
}

function reportWrite (request: KvPutRequest, written: boolean, context: RunContext): number {
  const { io } = context
  const { key, write } = request
  switch (write.kind) {
    case 'set':
      writeLine(io, `Success! Data written to: ${key}`)
      return exitSuccess
    case 'cas':
      if (!written) {
        writeErrorLine(io, `Error! Did not write to ${key}: CAS failed`)
        return exitFailure
      }
      writeLine(io, `Success! Data written to: ${key}`)
      return exitSuccess
    case 'acquire':
      if (!written) {
        writeErrorLine(io, 'Error! Did not acquire lock')
        return exitFailure
      }
      writeLine(io, `Success! Lock acquired on: ${key}`)
      return exitSuccess
    case 'release':
      if (!written) {
        writeErrorLine(io, 'Error! Did not release lock')
        return exitFailure
      }
      writeLine(io, `Success! Lock released on: ${key}`)
      return exitSuccess
  }
}

async function readData (data: KvData, context: RunContext): Promise<Uint8Array> {
  switch (data.kind) {
    case 'literal':
      return Buffer.from(data.text, 'utf8')
    case 'stdin':
      return await context.io.readStdin(valueBytesMax)
    case 'file': {
      const bytes = await readFile(data.path)
      if (bytes.byteLength > valueBytesMax) throw new Error(`${data.path} is larger than ${valueBytesMax} bytes`)
      return bytes
    }
  }
}

export const kvPutCommand = defineCommand<KvPutRequest>({
  path: ['kv', 'put'],
  summary: 'Sets or updates data in the KV store',
  usage: '[options] KEY [DATA]',
  help: [
    'Writes the data to the given path in the key-value store. DATA may be',
    'literal text, @FILE to read a file, or - to read standard input; without',
    'DATA an empty value is stored.',
    '',
    '    $ weft kv put config/redis/maxconns 5',
    '    $ weft kv put config/program/license @license.lic',
    '    $ echo "abcd1234" | weft kv put config/program/license -',
    '    $ weft kv put -cas -modify-index=844 config/redis/maxconns 5'
  ].join('\n'),
  flags,
  parse: parseKvPut,
  run: runKvPut
})
