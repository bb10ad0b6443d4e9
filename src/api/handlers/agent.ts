/**
 * Agent-local endpoints (spec §2): GET /v1/agent/self and /v1/agent/members, PUT
 * /v1/agent/join/<address>, /v1/agent/leave and /v1/agent/reload. They call AgentApi, never
 * the servers, and writes answer 200 with an empty body.
 *
 * A failed join (AgentApi rejects with ERR_TRANSPORT) answers Consul's multierror text, 500:
 * "1 error occurred:\n\t* Failed to join <address>: <reason>\n\n".
 *
 * Callers: routes.ts.
 */
import { isControlPlaneError } from '../../util/errors.js'
import { invalidInput } from '../errors.js'
import { emptyReply, jsonReply } from '../reply.js'
import type { ApiReply, ApiRequest, HandlerContext } from '../types.js'

export async function agentSelf (request: ApiRequest, context: HandlerContext): Promise<ApiReply> {
  return jsonReply(await context.agentApi.self({ token: request.token }))
}

export async function agentMembers (request: ApiRequest, context: HandlerContext): Promise<ApiReply> {
  const wan = request.query.has('wan')
  return jsonReply(await context.agentApi.members({ wan }, { token: request.token }))
}

export async function agentJoin (request: ApiRequest, context: HandlerContext): Promise<ApiReply> {
  const address = request.tail
  if (address === '') throw invalidInput('Missing address to join: use PUT /v1/agent/join/<address>')
  try {
    await context.agentApi.join(address, { wan: request.query.has('wan') }, { token: request.token })
  } catch (err) {
    if (!isControlPlaneError(err, 'ERR_TRANSPORT')) throw err
    const body = `1 error occurred:\n\t* Failed to join ${address}: ${err.message}\n\n`
    return { kind: 'text', status: 500, body, headers: {} }
  }
  return emptyReply()
}

export async function agentLeave (request: ApiRequest, context: HandlerContext): Promise<ApiReply> {
  await context.agentApi.leave({ token: request.token })
  return emptyReply()
}

export async function agentReload (request: ApiRequest, context: HandlerContext): Promise<ApiReply> {
  await context.agentApi.reload({ token: request.token })
  return emptyReply()
}
