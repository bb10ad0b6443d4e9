/**
 * /v1/kv/<key> (spec §9.1): GET (plain, ?recurse, ?raw, ?keys with ?separator/?seperator),
 * PUT (?flags, ?cas) and DELETE (?recurse, ?cas).
 *
 * Consul's order of checks is kept (the shared query parse, then "Missing key name", then
 * "Conflicting flags", then the numbers), and so are its replies: a missing key is 404 with an
 * empty body but still carries X-Consul-Index, so a watcher sees deletes; a raw value is sent
 * with text/plain, nosniff and a sandbox CSP; writes answer `true`/`false`.
 *
 * Sessions (?acquire/?release) arrive with the session issue; until then they are refused
 * rather than ignored, since ignoring them would report a lock that was never taken.
 *
 * Callers: routes.ts.
 */
import type { QueryOptions } from '../../rpc/types.js'
import { invalidInput } from '../errors.js'
import { readOptions } from '../query.js'
import { emptyReply, encodeDirEntry, jsonReply, queryMetaHeaders } from '../reply.js'
import type { ApiReply, ApiRequest, HandlerContext } from '../types.js'
import { optionalUnsignedParam, type QueryParams } from '../validate.js'

export async function kvGet (request: ApiRequest, context: HandlerContext): Promise<ApiReply> {
  const query = readOptions(request, context, { blocking: true })
  if (request.query.has('keys')) return await kvKeys(request, query, context)
  const recurse = request.query.has('recurse')
  if (!recurse) requireKey(request.tail)
  const result = await context.serverApi.kvGet(request.tail, { recurse }, query)
  const headers = queryMetaHeaders(result.meta)
  const first = result.value[0]
  if (first === undefined) return emptyReply(headers, 404)
  if (request.query.has('raw') && !recurse) {
    return {
      kind: 'bytes',
      status: 200,
      body: first.Value ?? new Uint8Array(0),
      contentType: 'text/plain',
      headers: { ...headers, 'X-Content-Type-Options': 'nosniff', 'Content-Security-Policy': 'sandbox' }
    }
  }
  return jsonReply(result.value.map(encodeDirEntry), headers)
}

async function kvKeys (request: ApiRequest, query: QueryOptions, context: HandlerContext): Promise<ApiReply> {
  const result = await context.serverApi.kvKeys(request.tail, separator(request.query), query)
  const headers = queryMetaHeaders(result.meta)
  // No 404 for the root: an empty store lists as [].
  if (result.value.length === 0 && request.tail !== '') return emptyReply(headers, 404)
  return jsonReply(result.value, headers)
}

/** `?separator`, or the historic misspelling `?seperator`; the correct spelling wins. Empty means none. */
function separator (query: QueryParams): string | null {
  const value = query.get('separator') ?? query.get('seperator')
  return value === null || value === '' ? null : value
}

export async function kvPut (request: ApiRequest, context: HandlerContext): Promise<ApiReply> {
  readOptions(request, context, { blocking: false }) // Consul parses (and rejects) the read params on writes too
  requireKey(request.tail)
  rejectConflictingFlags(request.query, ['cas', 'acquire', 'release'])
  rejectSessionFlags(request.query)
  const flags = optionalUnsignedParam(request.query, 'flags') ?? 0
  const cas = optionalUnsignedParam(request.query, 'cas')
  const stored = await context.serverApi.kvPut(request.tail, request.body, { flags, cas }, { token: request.token })
  return jsonReply(cas === null ? true : stored)
}

export async function kvDelete (request: ApiRequest, context: HandlerContext): Promise<ApiReply> {
  readOptions(request, context, { blocking: false })
  rejectConflictingFlags(request.query, ['recurse', 'cas'])
  const recurse = request.query.has('recurse')
  if (!recurse) requireKey(request.tail)
  const cas = optionalUnsignedParam(request.query, 'cas')
  const deleted = await context.serverApi.kvDelete(request.tail, { recurse, cas }, { token: request.token })
  return jsonReply(cas === null ? true : deleted)
}

function requireKey (key: string): void {
  if (key === '') throw invalidInput('Missing key name')
}

/** Consul's conflictingFlags: the whole query, encoded, minus the token (never echoed). */
function rejectConflictingFlags (query: QueryParams, flags: readonly string[]): void {
  const present = flags.filter(flag => query.has(flag))
  if (present.length > 1) throw invalidInput(`Conflicting flags: ${query.encode(['token'])}\n`)
}

function rejectSessionFlags (query: QueryParams): void {
  for (const flag of ['acquire', 'release']) {
    // TODO(api): lock acquire/release once sessions exist (#3 follow-up, spec §9.3).
    if (query.has(flag)) throw invalidInput(`?${flag} is not supported by weft yet (sessions are not implemented), got ${JSON.stringify(query.get(flag))}`)
  }
}
