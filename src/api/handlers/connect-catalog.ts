/**
 * Mesh-capable endpoints of a service (spec §4, §5; issue #6):
 *   GET /v1/catalog/connect/<service>[?tag=]            ServiceNode objects
 *   GET /v1/health/connect/<service>[?passing][&tag=]   {Node, Service, Checks} entries
 * "Mesh-capable" means connect-proxy instances whose Proxy.DestinationServiceName is <service>,
 * plus instances of <service> registered with Connect.Native. Both are blocking queries with the
 * consistency modes of every catalog read; the replies carry the query-meta headers. This is
 * what a proxy's upstream resolves (src/proxy/upstream.ts).
 *
 * Callers: routes.ts.
 */
import { invalidInput } from '../errors.js'
import { readOptions } from '../query.js'
import { jsonReply, queryMetaHeaders } from '../reply.js'
import type { ApiReply, ApiRequest, HandlerContext } from '../types.js'
import { boolParam } from '../validate.js'

export async function catalogConnect (request: ApiRequest, context: HandlerContext): Promise<ApiReply> {
  const query = readOptions(request, context, { blocking: true })
  const name = serviceName(request)
  const result = await context.serverApi.catalogConnect(name, { tags: request.query.all('tag') }, query)
  return jsonReply(result.value, queryMetaHeaders(result.meta))
}

export async function healthConnect (request: ApiRequest, context: HandlerContext): Promise<ApiReply> {
  const query = readOptions(request, context, { blocking: true })
  const name = serviceName(request)
  const passing = boolParam(request.query, 'passing', 'Invalid value for ?passing')
  const result = await context.serverApi.healthConnect(name, { passing, tags: request.query.all('tag') }, query)
  return jsonReply(result.value, queryMetaHeaders(result.meta))
}

function serviceName (request: ApiRequest): string {
  if (request.tail === '') throw invalidInput('Missing service name')
  return request.tail
}
