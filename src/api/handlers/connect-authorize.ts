/**
 * POST /v1/agent/connect/authorize (spec §7.3): may the holder of a client certificate connect
 * to `Target`? Answered by the local agent from its intention cache (AgentApi.connectAuthorize,
 * src/agent/intention-cache.ts), never by a server round trip.
 *
 * Body `{"Target":"db","ClientCertURI":"spiffe://.../ns/default/dc/dc1/svc/web","ClientCertSerial":"0a"}`
 * (+ optional `Namespace`); reply `{"Authorized":true,"Reason":"..."}`. Checks, in Consul's
 * order, each a 400 with Consul's text: `Target service must be specified`;
 * `ClientCertURI not a valid Connect identifier` (not a SPIFFE ID weft knows);
 * `ClientCertURI not a valid Service identifier` (an agent, server, gateway or CA identity).
 * The trust domain and the serial are not checked (§7.3 step 3). The token's service:write on
 * Target (step 2) is not checked yet: weft has no ACL enforcement (#4 leaves ACLs alone).
 *
 * Callers: routes.ts.
 */
import { parseSpiffeId } from '../../ca/spiffe.js'
import { invalidInput } from '../errors.js'
import { jsonReply } from '../reply.js'
import type { ApiReply, ApiRequest, HandlerContext } from '../types.js'
import { decodeJsonBody, decodeObject, describe, field, type ObjectSchema } from '../validate.js'

const authorizeSchema: ObjectSchema = {
  Target: field.string,
  ClientCertURI: field.string,
  ClientCertSerial: field.string,
  Namespace: field.string,
  Partition: field.string
}

export async function connectAuthorize (request: ApiRequest, context: HandlerContext): Promise<ApiReply> {
  const body = decodeObject(decodeJsonBody(request.body), authorizeSchema, '')
  const target = (body.Target as string | undefined) ?? ''
  if (target === '') throw invalidInput('Target service must be specified')
  for (const scope of ['Namespace', 'Partition'] as const) {
    const value = body[scope] as string | undefined
    if (value !== undefined && value !== '' && value !== 'default') {
      throw invalidInput(`"${scope}" is an Enterprise-only feature: ${scope} must be "default" or empty, got ${describe(value)}`)
    }
  }
  const uri = (body.ClientCertURI as string | undefined) ?? ''
  const source = parseClientService(uri)
  const reply = await context.agentApi.connectAuthorize({
    target,
    sourceNamespace: source.namespace,
    sourceName: source.service,
    clientCertUri: uri,
    clientCertSerial: (body.ClientCertSerial as string | undefined) ?? ''
  }, { token: request.token })
  return jsonReply({ Authorized: reply.Authorized, Reason: reply.Reason })
}

function parseClientService (uri: string): { namespace: string, service: string } {
  let parsed
  try {
    parsed = parseSpiffeId(uri)
  } catch (err) {
    throw invalidInput(`ClientCertURI not a valid Connect identifier: ${(err as Error).message}`)
  }
  if (parsed.kind !== 'service') throw invalidInput(`ClientCertURI not a valid Service identifier: ${describe(uri)} is a ${parsed.kind} identity`)
  return { namespace: parsed.namespace, service: parsed.service }
}
