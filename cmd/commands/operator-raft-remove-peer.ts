/**
 * `weft operator raft remove-peer -id=ID | -address=IP:port` (spec §15.2 and §10): DELETE
 * /v1/operator/raft/peer. Prints `Removed peer with address "10.0.0.12:8300"` or
 * `Removed peer with id "..."`.
 */
import { defineCommand, exitSuccess, reportRequestFailure, writeLine, type CommandInput, type RunContext } from '../command.js'
import { usageError } from '../errors.js'
import { goQuote } from '../format.js'
import { flagString, httpClientFlags, httpServerFlags, type FlagSpec } from '../flags.js'

export type RemovePeerRequest =
  | { readonly by: 'id', readonly id: string }
  | { readonly by: 'address', readonly address: string }

const flags: readonly FlagSpec[] = [
  { name: 'address', kind: 'string', valueName: 'ip:port', description: 'The address to remove from the Raft configuration.' },
  { name: 'id', kind: 'string', valueName: 'id', description: 'The ID to remove from the Raft configuration.' },
  ...httpClientFlags,
  ...httpServerFlags
]

export function parseRemovePeer (input: CommandInput): RemovePeerRequest {
  if (input.args.length > 0) throw usageError(`Too many arguments (expected 0, got ${input.args.length})`)
  const address = flagString(input.flags, 'address') ?? ''
  const id = flagString(input.flags, 'id') ?? ''
  if (address === '' && id === '') throw usageError('Error removing peer: an address or id is required for the peer to remove')
  if (address !== '' && id !== '') throw usageError('Error removing peer: cannot give both an address and id')
  return address !== '' ? { by: 'address', address } : { by: 'id', id }
}

async function runRemovePeer (request: RemovePeerRequest, context: RunContext): Promise<number> {
  const { io } = context
  const query = request.by === 'address' ? { address: request.address } : { id: request.id }
  try {
    await (await context.agent()).request({ method: 'DELETE', path: '/v1/operator/raft/peer', query })
  } catch (err) {
    return reportRequestFailure(io, 'Error removing peer', err)
  }
  writeLine(io, formatPeerRemoved(request))
  return exitSuccess
}

export function formatPeerRemoved (request: RemovePeerRequest): string {
  return request.by === 'address'
    ? `Removed peer with address ${goQuote(request.address)}`
    : `Removed peer with id ${goQuote(request.id)}`
}

export const removePeerCommand = defineCommand<RemovePeerRequest>({
  path: ['operator', 'raft', 'remove-peer'],
  summary: 'Remove a weft server from the Raft configuration',
  usage: '[options]',
  help: [
    'Remove the weft server with the given -id or -address from the Raft',
    'configuration.',
    '',
    'There are rare cases where a peer may be left behind in the Raft quorum even',
    'though the server is no longer present and known to the cluster. This',
    'command removes the failed server so that it no longer affects the quorum.'
  ].join('\n'),
  flags,
  parse: parseRemovePeer,
  run: runRemovePeer
})
