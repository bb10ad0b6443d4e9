/**
 * `weft snapshot save [-stale] FILE` (spec §15.2 and §10): GET /v1/snapshot, streamed to
 * `FILE.unverified` (mode 0600, never buffered in memory), checked, then renamed to FILE.
 * Prints `Saved and verified snapshot to index N`, N being the answer's X-Consul-Index.
 *
 * "Verified" here means: the agent answered 200 and the file is not empty. weft's snapshot
 * format is its own (spec §18.6), and its header and checksum are checked by the servers on
 * restore; the CLI does not parse it.
 */
import { createWriteStream } from 'node:fs'
import { rename, rm, stat } from 'node:fs/promises'
import { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import type { ReadableStream as NodeReadableStream } from 'node:stream/web'
import { defineCommand, exitFailure, exitSuccess, reportRequestFailure, writeErrorLine, writeLine, type CommandInput, type RunContext } from '../command.js'
import { usageError } from '../errors.js'
import { flagBoolean, httpClientFlags, httpServerFlags } from '../flags.js'

export interface SnapshotSaveRequest {
  readonly file: string
  readonly stale: boolean
}

/** A snapshot of a large store takes a while to stream; this bounds the whole transfer. */
export const snapshotTimeoutMs = 10 * 60 * 1000

export function parseSnapshotSave (input: CommandInput): SnapshotSaveRequest {
  if (input.args.length === 0) throw usageError('Missing FILE argument')
  if (input.args.length > 1) throw usageError(`Too many arguments (expected 1, got ${input.args.length})`)
  return { file: input.args[0] as string, stale: flagBoolean(input.flags, 'stale') }
}

async function runSnapshotSave (request: SnapshotSaveRequest, context: RunContext): Promise<number> {
  const { io } = context
  const unverified = `${request.file}.unverified`
  let index: string
  try {
    const stream = await (await context.agent()).openStream({
      method: 'GET',
      path: '/v1/snapshot',
      query: { stale: request.stale ? true : undefined },
      timeoutMs: snapshotTimeoutMs
    })
    if (stream.status !== 200) {
      await stream.body.cancel()
      writeErrorLine(io, `Error saving snapshot: unexpected status ${stream.status}, expected 200`)
      return exitFailure
    }
    index = parseIndexHeader(stream.headers.get('X-Consul-Index'))
    try {
      await pipeline(Readable.fromWeb(stream.body as NodeReadableStream<Uint8Array>), createWriteStream(unverified, { mode: 0o600 }))
    } catch (err) {
      await rm(unverified, { force: true })
      writeErrorLine(io, `Error writing unverified snapshot file: ${(err as Error).message}`)
      return exitFailure
    }
  } catch (err) {
    return reportRequestFailure(io, 'Error saving snapshot', err)
  }
  return await verifyAndRename({ unverified, file: request.file, index }, context)
}

async function verifyAndRename (files: { unverified: string, file: string, index: string }, context: RunContext): Promise<number> {
  const { io } = context
  try {
    const { size } = await stat(files.unverified)
    if (size === 0) throw new Error('the agent sent an empty snapshot')
  } catch (err) {
    await rm(files.unverified, { force: true })
    writeErrorLine(io, `Error verifying snapshot file: ${(err as Error).message}`)
    return exitFailure
  }
  try {
    await rename(files.unverified, files.file)
  } catch (err) {
    await rm(files.unverified, { force: true })
    writeErrorLine(io, `Error renaming ${JSON.stringify(files.unverified)} to ${JSON.stringify(files.file)}: ${(err as Error).message}`)
    return exitFailure
  }
  writeLine(io, `Saved and verified snapshot to index ${files.index}`)
  return exitSuccess
}

/** The decimal X-Consul-Index, or `0` when the agent did not send a usable one. */
export function parseIndexHeader (value: string | null): string {
  return value !== null && /^[0-9]+$/.test(value) ? value : '0'
}

export const snapshotSaveCommand = defineCommand<SnapshotSaveRequest>({
  path: ['snapshot', 'save'],
  summary: 'Saves snapshot of weft server state',
  usage: '[options] FILE',
  help: [
    'Retrieves an atomic, point-in-time snapshot of the state of the weft',
    'servers, which includes key/value entries, the service catalog, intentions,',
    'the Connect CA and ACLs.',
    '',
    '    $ weft snapshot save backup.snap',
    '',
    'To take a possibly stale snapshot from any server (works without a leader):',
    '',
    '    $ weft snapshot save -stale backup.snap'
  ].join('\n'),
  flags: [...httpClientFlags, ...httpServerFlags],
  parse: parseSnapshotSave,
  run: runSnapshotSave
})
