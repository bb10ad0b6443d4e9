/**
 * Cluster operations (spec §9.5, §10): /v1/status/leader|peers, /v1/operator/raft/configuration,
 * /v1/operator/raft/peer (DELETE ?id or ?address, with Consul's exact 400 texts),
 * /v1/operator/raft/transfer-leader (POST, optional ?id) and /v1/snapshot (GET saves a binary
 * snapshot with X-Consul-Index; PUT restores one from the raw body, streamed: the body goes to
 * the restore as it arrives and is never held whole).
 *
 * Callers: routes.ts.
 */
import { nonEmptyBody } from '../body.js'
import { invalidInput } from '../errors.js'
import { readOptions } from '../query.js'
import { bytesReply, emptyReply, indexHeader, jsonReply } from '../reply.js'
import type { ApiReply, ApiRequest, HandlerContext } from '../types.js'
import { describe, optionalNonEmptyParam } from '../validate.js'

export async function statusLeader (_request: ApiRequest, context: HandlerContext): Promise<ApiReply> {
  return jsonReply(await context.serverApi.statusLeader())
}

export async function statusPeers (_request: ApiRequest, context: HandlerContext): Promise<ApiReply> {
  return jsonReply(await context.serverApi.statusPeers())
}

export async function raftConfiguration (request: ApiRequest, context: HandlerContext): Promise<ApiReply> {
  return jsonReply(await context.serverApi.raftConfiguration(readOptions(request, context, { blocking: false })))
}

export async function raftRemovePeer (request: ApiRequest, context: HandlerContext): Promise<ApiReply> {
  const hasId = request.query.has('id')
  const hasAddress = request.query.has('address')
  if (!hasId && !hasAddress) throw invalidInput("Must specify either ?id with the server's ID or ?address with IP:port of peer to remove")
  if (hasId && hasAddress) throw invalidInput('Must specify only one of ?id or ?address')
  const target = hasId
    ? { id: requireValue(request, 'id', "a server ID (see /v1/operator/raft/configuration)") }
    : { address: requireValue(request, 'address', 'an IP:port') }
  await context.serverApi.raftRemovePeer(target, { token: request.token })
  return emptyReply()
}

function requireValue (request: ApiRequest, name: string, expected: string): string {
  const value = request.query.get(name) ?? ''
  if (value === '') throw invalidInput(`?${name} must be ${expected}, got ${describe(value)}`)
  return value
}

export async function raftTransferLeader (request: ApiRequest, context: HandlerContext): Promise<ApiReply> {
  const id = optionalNonEmptyParam(request.query, 'id', 'a server ID (see /v1/operator/raft/configuration)')
  await context.serverApi.raftTransferLeader(id, { token: request.token })
  return jsonReply({ Success: true })
}

export async function snapshotSave (request: ApiRequest, context: HandlerContext): Promise<ApiReply> {
  const snapshot = await context.serverApi.snapshotSave(readOptions(request, context, { blocking: false }))
  return bytesReply(snapshot.data, 'application/octet-stream', indexHeader(snapshot.index))
}

export async function snapshotRestore (request: ApiRequest, context: HandlerContext): Promise<ApiReply> {
  const body = request.bodyStream === null ? null : await nonEmptyBody(request.bodyStream)
  if (body === null) throw invalidInput('The snapshot body is empty: PUT /v1/snapshot expects a snapshot file as the body')
  await context.serverApi.snapshotRestore(body, { token: request.token })
  return emptyReply()
}
