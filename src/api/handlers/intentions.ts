/**
 * /v1/connect/intentions* (spec §8.2): list (blocking), legacy create/read/update/delete by ID,
 * the 1.9+ /exact endpoints by source and destination, /match and /check.
 *
 * Statuses: bad input (a body or query parameter that can never be valid) is 400 with Consul's
 * text where it has one (spec §18.5; Consul answers several of these with 500); a refusal that
 * depends on the state (duplicate pair, unknown ID on update or delete) is the server's
 * ERR_REJECTED, Consul's 500 with its text; an unknown intention on read is 404
 * `Intention not found`. Names in query parameters may be `name`, `ns/name` or
 * `partition/ns/name` with the default namespace and partition (CE); peer names are refused.
 * `?filter` is refused by the shared query checks (query.ts) until the filter subset exists.
 *
 * Bodies are decoded leniently (case-insensitive keys, snake_case aliases, unknown keys such
 * as Precedence or CreatedAt ignored); the server validates the intention itself
 * (src/rpc/intentions.ts), so every path to the log is checked.
 *
 * Callers: routes.ts.
 */
import { invalidIntentionId, isUuid, type IntentionMatchBy, type IntentionRequest } from '../../rpc/intentions.js'
import { invalidInput } from '../errors.js'
import { readOptions } from '../query.js'
import { jsonReply, queryMetaHeaders } from '../reply.js'
import type { ApiReply, ApiRequest, HandlerContext } from '../types.js'
import { decodeJsonBody, decodeObject, describe, field, type ObjectSchema, type QueryParams } from '../validate.js'

const headerSchema: ObjectSchema = {
  Name: field.string,
  Present: field.boolean,
  Exact: field.string,
  Prefix: field.string,
  Suffix: field.string,
  Regex: field.string,
  Invert: field.boolean
}

const permissionSchema: ObjectSchema = {
  Action: field.string,
  HTTP: field.object({
    PathExact: field.string,
    PathPrefix: field.string,
    PathRegex: field.string,
    Methods: field.stringArray,
    Header: field.array(field.object(headerSchema))
  })
}

const intentionSchema: ObjectSchema = {
  ID: field.string,
  Description: field.string,
  SourceNS: field.string,
  SourceName: field.string,
  DestinationNS: field.string,
  DestinationName: field.string,
  SourceType: field.string,
  Action: field.string,
  Permissions: field.array(field.object(permissionSchema)),
  Meta: field.stringMap
}

interface DecodedIntention {
  readonly id: string
  readonly request: IntentionRequest
}

function decodeIntention (body: Uint8Array): DecodedIntention {
  const { ID, ...rest } = decodeObject(decodeJsonBody(body), intentionSchema, '')
  return { id: typeof ID === 'string' ? ID : '', request: rest as IntentionRequest }
}

// ---------------------------------------------------------------------------------------------
// Query parameters

/** A required query parameter, as Consul words its absence. */
function requiredParam (query: QueryParams, name: string): string {
  const value = query.get(name)
  if (value === null || value === '') throw invalidInput(`required query parameter '${name}' not set`)
  return value
}

/**
 * `name`, `default/name` or `default/default/name` → `name`. Other namespaces and partitions
 * are Enterprise features; peers are not supported.
 */
export function parseIntentionName (text: string, param: string): string {
  if (text.startsWith('peer:')) throw invalidInput(`?${param}: cluster peering is not supported by weft, got ${describe(text)}`)
  const parts = text.split('/')
  if (parts.length > 3) throw invalidInput(`input can contain at most one '/' (two with a partition): ?${param} got ${describe(text)}`)
  const name = parts[parts.length - 1] as string
  const scopes = parts.slice(0, -1)
  for (const scope of scopes) {
    if (scope !== '' && scope !== 'default') {
      throw invalidInput(`?${param}: namespaces and partitions are Enterprise-only features: they must be "default", got ${describe(text)}`)
    }
  }
  if (name === '') throw invalidInput(`required query parameter '${param}' not set`)
  return name
}

function nameParam (query: QueryParams, name: string): string {
  return parseIntentionName(requiredParam(query, name), name)
}

function parseMatchBy (query: QueryParams): IntentionMatchBy {
  const by = requiredParam(query, 'by')
  if (by !== 'source' && by !== 'destination') throw invalidInput(`'by' parameter must be one of 'source' or 'destination', got ${describe(by)}`)
  return by
}

// ---------------------------------------------------------------------------------------------
// Handlers

export async function intentionList (request: ApiRequest, context: HandlerContext): Promise<ApiReply> {
  const result = await context.serverApi.intentionList(readOptions(request, context, { blocking: true }))
  return jsonReply(result.value, queryMetaHeaders(result.meta))
}

/** Legacy POST: `{"ID": "<uuid>"}`. */
export async function intentionCreate (request: ApiRequest, context: HandlerContext): Promise<ApiReply> {
  const decoded = decodeIntention(request.body)
  if (decoded.id !== '') throw invalidInput(`ID must be empty when creating a new intention, got ${describe(decoded.id)}`)
  return jsonReply(await context.serverApi.intentionCreate(decoded.request, { token: request.token }))
}

export async function intentionGet (request: ApiRequest, context: HandlerContext): Promise<ApiReply> {
  const query = readOptions(request, context, { blocking: true })
  if (!isUuid(request.tail)) throw invalidIntentionId(request.tail)
  const result = await context.serverApi.intentionGet(request.tail, query)
  const headers = queryMetaHeaders(result.meta)
  if (result.value === null) return notFound(headers)
  return jsonReply(result.value, headers)
}

/** Legacy PUT /<id>: the body's ID is ignored, the path names the intention. `{"ID": "<uuid>"}`. */
export async function intentionUpdate (request: ApiRequest, context: HandlerContext): Promise<ApiReply> {
  const decoded = decodeIntention(request.body)
  return jsonReply(await context.serverApi.intentionUpdate(request.tail, decoded.request, { token: request.token }))
}

export async function intentionDelete (request: ApiRequest, context: HandlerContext): Promise<ApiReply> {
  return jsonReply(await context.serverApi.intentionDelete({ By: 'id', ID: request.tail }, { token: request.token }))
}

export async function intentionGetExact (request: ApiRequest, context: HandlerContext): Promise<ApiReply> {
  const query = readOptions(request, context, { blocking: true })
  const source = nameParam(request.query, 'source')
  const destination = nameParam(request.query, 'destination')
  const result = await context.serverApi.intentionGetExact(source, destination, query)
  const headers = queryMetaHeaders(result.meta)
  if (result.value === null) return notFound(headers)
  return jsonReply(result.value, headers)
}

/** PUT /exact: the names come from the query; the body's ID and name fields are ignored. `true`. */
export async function intentionUpsertExact (request: ApiRequest, context: HandlerContext): Promise<ApiReply> {
  const source = nameParam(request.query, 'source')
  const destination = nameParam(request.query, 'destination')
  const { request: fields } = decodeIntention(request.body)
  const { SourceNS: _sourceNs, SourceName: _source, DestinationNS: _destinationNs, DestinationName: _destination, ...rest } = fields
  await context.serverApi.intentionUpsertExact(source, destination, rest, { token: request.token })
  return jsonReply(true)
}

export async function intentionDeleteExact (request: ApiRequest, context: HandlerContext): Promise<ApiReply> {
  const source = nameParam(request.query, 'source')
  const destination = nameParam(request.query, 'destination')
  return jsonReply(await context.serverApi.intentionDelete({ By: 'pair', Source: source, Destination: destination }, { token: request.token }))
}

/** `{"<name>": [...]}` with every requested name as a key, each list in evaluation order. */
export async function intentionMatch (request: ApiRequest, context: HandlerContext): Promise<ApiReply> {
  const query = readOptions(request, context, { blocking: true })
  const by = parseMatchBy(request.query)
  const rawNames = request.query.all('name').filter(name => name !== '')
  if (rawNames.length === 0) throw invalidInput("required query parameter 'name' not set")
  const names = rawNames.map(name => parseIntentionName(name, 'name'))
  const result = await context.serverApi.intentionMatch(by, names, query)
  // Keys as the client wrote them (e.g. "default/web"), values from the parsed names.
  const value: Record<string, unknown> = {}
  rawNames.forEach((raw, index) => { value[raw] = result.value[names[index] as string] ?? [] })
  return jsonReply(value, queryMetaHeaders(result.meta))
}

/** `{"Allowed": true|false}`. */
export async function intentionCheck (request: ApiRequest, context: HandlerContext): Promise<ApiReply> {
  const query = readOptions(request, context, { blocking: false })
  const source = nameParam(request.query, 'source')
  const destination = nameParam(request.query, 'destination')
  const sourceType = request.query.get('source-type')
  if (sourceType !== null && sourceType !== '' && sourceType !== 'consul') {
    throw invalidInput(`SourceType must be set to 'consul': ?source-type got ${describe(sourceType)}`)
  }
  const result = await context.serverApi.intentionCheck(source, destination, query)
  return jsonReply(result.value, queryMetaHeaders(result.meta))
}

function notFound (headers: Readonly<Record<string, string>>): ApiReply {
  return { kind: 'text', status: 404, body: 'Intention not found', headers }
}
