/**
 * `weft operator raft transfer-leader [-id=ID]` (spec §15.2 and §10): POST
 * /v1/operator/raft/transfer-leader[?id=]; prints `Success` when the answer is
 * `{"Success":true}`. Without -id the servers pick another voter.
 */
import { parseTransferLeader } from '../api-types.js'
import { defineCommand, exitFailure, exitSuccess, reportRequestFailure, writeErrorLine, writeLine, type CommandInput, type RunContext } from '../command.js'
import { usageError } from '../errors.js'
import { flagString, httpClientFlags, httpServerFlags, type FlagSpec } from '../flags.js'

export interface TransferLeaderRequest {
  readonly id: string | undefined
}

const flags: readonly FlagSpec[] = [
  { name: 'id', kind: 'string', valueName: 'id', description: 'The ID of the server to transfer leadership to.' },
  ...httpClientFlags,
  ...httpServerFlags
]

export function parseTransferLeaderArgs (input: CommandInput): TransferLeaderRequest {
  if (input.args.length > 0) throw usageError(`Too many arguments (expected 0, got ${input.args.length})`)
  const id = flagString(input.flags, 'id')
  return { id: id === '' ? undefined : id }
}

async function runTransferLeader (request: TransferLeaderRequest, context: RunContext): Promise<number> {
  const { io } = context
  let success: boolean
  try {
    const answer = await (await context.agent()).requestJson({
      method: 'POST',
      path: '/v1/operator/raft/transfer-leader',
      query: { id: request.id }
    })
    success = parseTransferLeader(answer.json, 'POST /v1/operator/raft/transfer-leader')
  } catch (err) {
    return reportRequestFailure(io, 'Error transferring leadership: Failed to transfer leadership', err)
  }
  if (!success) {
    writeErrorLine(io, 'Error transferring leadership: Failed to transfer leadership')
    return exitFailure
  }
  writeLine(io, 'Success')
  return exitSuccess
}

export const transferLeaderCommand = defineCommand<TransferLeaderRequest>({
  path: ['operator', 'raft', 'transfer-leader'],
  summary: 'Transfer raft leadership to another node',
  usage: '[options]',
  help: 'Transfer raft leadership to another server: the one named by -id, or one\nthe cluster picks.',
  flags,
  parse: parseTransferLeaderArgs,
  run: runTransferLeader
})
