/**
 * `weft snapshot restore FILE` (spec §15.2 and §10): PUT /v1/snapshot with the file streamed as
 * the body (never read into memory) and its size as Content-Length (the agent refuses an
 * oversized file before reading it, then streams the body on to the restore); prints
 * `Restored snapshot`.
 */
import { createReadStream } from 'node:fs'
import { stat } from 'node:fs/promises'
import { Readable } from 'node:stream'
import { defineCommand, exitFailure, exitSuccess, reportRequestFailure, writeErrorLine, writeLine, type CommandInput, type RunContext } from '../command.js'
import { usageError } from '../errors.js'
import { httpClientFlags, httpServerFlags } from '../flags.js'
import { snapshotTimeoutMs } from './snapshot-save.js'

export interface SnapshotRestoreRequest {
  readonly file: string
}

export function parseSnapshotRestore (input: CommandInput): SnapshotRestoreRequest {
  if (input.args.length === 0) throw usageError('Missing FILE argument')
  if (input.args.length > 1) throw usageError(`Too many arguments (expected 1, got ${input.args.length})`)
  return { file: input.args[0] as string }
}

async function runSnapshotRestore (request: SnapshotRestoreRequest, context: RunContext): Promise<number> {
  const { io } = context
  let bodyBytes: number
  try {
    const info = await stat(request.file)
    if (!info.isFile()) throw new Error(`${request.file} is not a regular file`)
    bodyBytes = info.size
  } catch (err) {
    writeErrorLine(io, `Error opening snapshot file: ${(err as Error).message}`)
    return exitFailure
  }
  try {
    const body = Readable.toWeb(createReadStream(request.file)) as unknown as ReadableStream<Uint8Array>
    await (await context.agent()).request({ method: 'PUT', path: '/v1/snapshot', body, bodyBytes, timeoutMs: snapshotTimeoutMs })
  } catch (err) {
    return reportRequestFailure(io, 'Error restoring snapshot', err)
  }
  writeLine(io, 'Restored snapshot')
  return exitSuccess
}

export const snapshotRestoreCommand = defineCommand<SnapshotRestoreRequest>({
  path: ['snapshot', 'restore'],
  summary: 'Restores snapshot of weft server state',
  usage: '[options] FILE',
  help: [
    'Restores an atomic, point-in-time snapshot of the state of the weft servers,',
    'replacing their current state. Meant for disaster recovery, into a fresh',
    'cluster.',
    '',
    '    $ weft snapshot restore backup.snap'
  ].join('\n'),
  flags: [...httpClientFlags, ...httpServerFlags],
  parse: parseSnapshotRestore,
  run: runSnapshotRestore
})
