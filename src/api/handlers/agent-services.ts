/**
 * The agent's local services and checks over HTTP (spec §3): register/deregister services and
 * checks, the reads (/v1/agent/services, /v1/agent/service/<id> with hash blocking,
 * /v1/agent/checks, /v1/agent/health/service/{id,name}/...), TTL updates, maintenance mode, and
 * the legacy managed-proxy config (/v1/agent/connect/proxy/<id>).
 *
 * Handlers parse and validate (service-definition.ts holds the body rules and Consul's texts)
 * and make one AgentServicesApi call; writes answer 200 with an empty body.
 *
 * Callers: routes.ts.
 */
import { invalidInput } from '../errors.js'
import { parseBlocking } from '../query.js'
import { emptyReply, jsonReply } from '../reply.js'
import { decodeCheckDefinition, decodeCheckUpdate, decodeServiceDefinition, type CheckStatus } from '../service-definition.js'
import type { AgentServiceHealth, ApiReply, ApiRequest, HandlerContext, HashWait } from '../types.js'
import { boolParam, decodeJsonBody, parseGoBool } from '../validate.js'

export async function serviceRegister (request: ApiRequest, context: HandlerContext): Promise<ApiReply> {
  const replaceExistingChecks = boolParam(request.query, 'replace-existing-checks', 'Invalid value for ?replace-existing-checks')
  const definition = decodeServiceDefinition(decodeJsonBody(request.body), { origin: 'api' })
  await context.agentApi.services.registerService(definition, { replaceExistingChecks }, { token: request.token })
  return emptyReply()
}

export async function serviceDeregister (request: ApiRequest, context: HandlerContext): Promise<ApiReply> {
  await context.agentApi.services.deregisterService(requireTail(request, 'Missing service ID'), { token: request.token })
  return emptyReply()
}

export async function servicesList (request: ApiRequest, context: HandlerContext): Promise<ApiReply> {
  return jsonReply(await context.agentApi.services.listServices({ token: request.token }))
}

/** Hash blocking (spec §1.5): `?hash=<X-Consul-ContentHash>&wait=<dur>` waits for a different hash. */
export async function serviceGet (request: ApiRequest, context: HandlerContext): Promise<ApiReply> {
  const id = requireTail(request, 'Missing service ID')
  const answer = await context.agentApi.services.getService(id, hashWait(request, context), { token: request.token })
  return jsonReply(answer.service, { 'X-Consul-ContentHash': answer.hash })
}

export async function checkRegister (request: ApiRequest, context: HandlerContext): Promise<ApiReply> {
  const definition = decodeCheckDefinition(decodeJsonBody(request.body), { origin: 'api' })
  await context.agentApi.services.registerCheck(definition, { token: request.token })
  return emptyReply()
}

export async function checkDeregister (request: ApiRequest, context: HandlerContext): Promise<ApiReply> {
  await context.agentApi.services.deregisterCheck(requireTail(request, 'Missing check ID'), { token: request.token })
  return emptyReply()
}

export const checkPass = ttlShortcut('passing')
export const checkWarn = ttlShortcut('warning')
export const checkFail = ttlShortcut('critical')

/** PUT /v1/agent/check/pass|warn|fail/<id>[?note=]: the note becomes the output. */
function ttlShortcut (status: CheckStatus): (request: ApiRequest, context: HandlerContext) => Promise<ApiReply> {
  return async (request, context) => {
    const id = requireTail(request, 'Missing check ID')
    await context.agentApi.services.updateTtlCheck(id, { status, output: request.query.get('note') ?? '' }, { token: request.token })
    return emptyReply()
  }
}

export async function checkUpdate (request: ApiRequest, context: HandlerContext): Promise<ApiReply> {
  const id = requireTail(request, 'Missing check ID')
  const update = decodeCheckUpdate(decodeJsonBody(request.body))
  await context.agentApi.services.updateTtlCheck(id, update, { token: request.token })
  return emptyReply()
}

export async function checksList (request: ApiRequest, context: HandlerContext): Promise<ApiReply> {
  return jsonReply(await context.agentApi.services.listChecks({ token: request.token }))
}

export async function serviceMaintenance (request: ApiRequest, context: HandlerContext): Promise<ApiReply> {
  const id = requireTail(request, 'Missing service ID')
  const enable = enableParam(request)
  await context.agentApi.services.serviceMaintenance(id, { enable, reason: request.query.get('reason') ?? '' }, { token: request.token })
  return emptyReply()
}

export async function nodeMaintenance (request: ApiRequest, context: HandlerContext): Promise<ApiReply> {
  const enable = enableParam(request)
  await context.agentApi.services.nodeMaintenance({ enable, reason: request.query.get('reason') ?? '' }, { token: request.token })
  return emptyReply()
}

/** GET /v1/agent/health/service/id/<id>: 200 passing, 429 warning, 503 critical or maintenance. */
export async function serviceHealthById (request: ApiRequest, context: HandlerContext): Promise<ApiReply> {
  const id = requireTail(request, 'Missing serviceID')
  const health = await context.agentApi.services.serviceHealthById(id, { token: request.token })
  if (health === null) return healthReply(request, { status: 404, text: `ServiceId ${id} not found`, json: null })
  return healthReply(request, { status: healthStatusCode(health.AggregatedStatus), text: health.AggregatedStatus, json: health })
}

/** GET /v1/agent/health/service/name/<name>: the worst instance decides the status code. */
export async function serviceHealthByName (request: ApiRequest, context: HandlerContext): Promise<ApiReply> {
  const name = requireTail(request, 'Missing service Name')
  const instances = await context.agentApi.services.serviceHealthByName(name, { token: request.token })
  if (instances.length === 0) return healthReply(request, { status: 404, text: `ServiceName ${name} Not Found`, json: null })
  const worst = worstStatus(instances)
  return healthReply(request, { status: healthStatusCode(worst), text: worst, json: instances })
}

/** Legacy (Consul 1.2-1.5) GET /v1/agent/connect/proxy/<id>, hash blocking. */
export async function managedProxyConfig (request: ApiRequest, context: HandlerContext): Promise<ApiReply> {
  const id = requireTail(request, 'Missing proxy ID')
  const answer = await context.agentApi.services.managedProxyConfig(id, hashWait(request, context), { token: request.token })
  return jsonReply(answer.config, { 'X-Consul-ContentHash': answer.hash })
}

// ---------------------------------------------------------------------------------------------

function hashWait (request: ApiRequest, context: HandlerContext): HashWait {
  const hash = request.query.get('hash')
  const blocking = parseBlocking(request.query, context)
  return { hash: hash === null || hash === '' ? null : hash, maxWaitMs: blocking.maxQueryTimeMs }
}

/** Consul's `?enable=true|false` of the maintenance endpoints. */
function enableParam (request: ApiRequest): boolean {
  const text = request.query.get('enable')
  if (text === null || text === '') throw invalidInput('Missing value for enable')
  const enable = parseGoBool(text)
  if (enable === null) throw invalidInput(`Invalid value for enable: ${JSON.stringify(text)}`)
  return enable
}

const healthRank: Readonly<Record<string, number>> = { passing: 0, warning: 1, critical: 2, maintenance: 3 }

function worstStatus (instances: readonly AgentServiceHealth[]): string {
  let worst = 'passing'
  for (const instance of instances) if ((healthRank[instance.AggregatedStatus] ?? 0) > (healthRank[worst] ?? 0)) worst = instance.AggregatedStatus
  return worst
}

function healthStatusCode (status: string): number {
  switch (status) {
    case 'passing': return 200
    case 'warning': return 429
    default: return 503
  }
}

/** `?format=text` (or Accept: text/plain, which fastify's headers do not reach here) answers the status word. */
function healthReply (request: ApiRequest, answer: { status: number, text: string, json: unknown }): ApiReply {
  if (request.query.get('format') === 'text' || answer.json === null) return { kind: 'text', status: answer.status, body: answer.text, headers: {} }
  return jsonReply(answer.json, {}, answer.status)
}

function requireTail (request: ApiRequest, missingText: string): string {
  if (request.tail === '') throw invalidInput(missingText)
  return request.tail
}
