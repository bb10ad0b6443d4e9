/**
 * /v1/operator/keyring (Consul's gossip keyring API): GET lists the keys the members hold (with
 * how many hold each), POST installs a key, PUT makes an installed key the primary, DELETE
 * removes a key. The body of a change is `{"Key": "<base64>"}`. The agent sends the change to
 * every member over gossip and answers once every alive member shows it (src/agent/membership.ts).
 *
 * Callers: routes.ts.
 */
import { parseKeyringRequestBody, type KeyringOperation } from '../../gossip/keyring.js'
import { invalidInput } from '../errors.js'
import { emptyReply, jsonReply } from '../reply.js'
import type { ApiReply, ApiRequest, HandlerContext } from '../types.js'
import { boolParam, decodeJsonBody } from '../validate.js'

function checkRelayFactor (request: ApiRequest): void {
  const text = request.query.get('relay-factor')
  if (text === null || text === '') return
  const value = Number(text)
  if (!/^[0-9]+$/.test(text) || value > 5) throw invalidInput(`Invalid relay-factor: ${JSON.stringify(text)} (must be 0 to 5)`)
}

export async function keyringList (request: ApiRequest, context: HandlerContext): Promise<ApiReply> {
  checkRelayFactor(request)
  boolParam(request.query, 'local-only', "The 'local-only' query parameter must be a boolean value")
  return jsonReply(await context.agentApi.keyringList({ token: request.token }))
}

function change (op: KeyringOperation): (request: ApiRequest, context: HandlerContext) => Promise<ApiReply> {
  return async (request, context) => {
    checkRelayFactor(request)
    if (request.query.has('local-only')) throw invalidInput('local-only can only be set for list requests')
    const command = parseKeyringRequestBody(op, decodeJsonBody(request.body))
    await context.agentApi.keyringOperate(command, { token: request.token })
    return emptyReply()
  }
}

export const keyringInstall = change('install')
export const keyringUse = change('use')
export const keyringRemove = change('remove')
