/**
 * /v1/catalog/* (spec §4) and /v1/health/service/<name> (spec §5): register/deregister writes
 * answer the server's boolean; reads are blocking queries whose replies carry the query-meta
 * headers. Result shapes are the server's (Consul JSON), passed through unchanged.
 *
 * Callers: routes.ts.
 */
import { invalidInput } from '../errors.js'
import { readOptions } from '../query.js'
import { jsonReply, queryMetaHeaders } from '../reply.js'
import type { ApiReply, ApiRequest, HandlerContext } from '../types.js'
import { boolParam } from '../validate.js'
import { decodeDeregistration, decodeRegistration } from './catalog-body.js'

export async function catalogRegister (request: ApiRequest, context: HandlerContext): Promise<ApiReply> {
  const registration = decodeRegistration(request.body)
  return jsonReply(await context.serverApi.catalogRegister(registration, { token: request.token }))
}

export async function catalogDeregister (request: ApiRequest, context: HandlerContext): Promise<ApiReply> {
  const deregistration = decodeDeregistration(request.body)
  return jsonReply(await context.serverApi.catalogDeregister(deregistration, { token: request.token }))
}

export async function catalogServices (request: ApiRequest, context: HandlerContext): Promise<ApiReply> {
  const result = await context.serverApi.catalogServices(readOptions(request, context, { blocking: true }))
  return jsonReply(result.value, queryMetaHeaders(result.meta))
}

export async function catalogNodes (request: ApiRequest, context: HandlerContext): Promise<ApiReply> {
  const result = await context.serverApi.catalogNodes(readOptions(request, context, { blocking: true }))
  return jsonReply(result.value, queryMetaHeaders(result.meta))
}

export async function catalogService (request: ApiRequest, context: HandlerContext): Promise<ApiReply> {
  const query = readOptions(request, context, { blocking: true })
  const name = requireTail(request, 'Missing service name')
  const result = await context.serverApi.catalogService(name, { tags: request.query.all('tag') }, query)
  return jsonReply(result.value, queryMetaHeaders(result.meta))
}

/** An unknown node is 200 with `null`, as in Consul. */
export async function catalogNode (request: ApiRequest, context: HandlerContext): Promise<ApiReply> {
  const query = readOptions(request, context, { blocking: true })
  const name = requireTail(request, 'Missing node name')
  const result = await context.serverApi.catalogNode(name, query)
  return jsonReply(result.value ?? null, queryMetaHeaders(result.meta))
}

export async function healthService (request: ApiRequest, context: HandlerContext): Promise<ApiReply> {
  const query = readOptions(request, context, { blocking: true })
  const name = requireTail(request, 'Missing service name')
  const passing = boolParam(request.query, 'passing', 'Invalid value for ?passing')
  const result = await context.serverApi.healthService(name, { passing, tags: request.query.all('tag') }, query)
  return jsonReply(result.value, queryMetaHeaders(result.meta))
}

function requireTail (request: ApiRequest, missingText: string): string {
  if (request.tail === '') throw invalidInput(missingText)
  return request.tail
}
