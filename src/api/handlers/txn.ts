/**
 * PUT /v1/txn (spec §9.2): a JSON array of `{"KV": {...}}` operations applied all or nothing.
 *
 * The body is decoded leniently (case-insensitive keys), every op is checked here (verb, field
 * types, base64 Value, the value size limit) so the server receives well-formed TxnKvOps with
 * every field present; the op count is capped like Consul's (413 "Transaction contains too many
 * operations (N > max)"). A committed transaction answers 200 {"Results":[...],"Errors":null};
 * a rolled-back one 409 {"Results":null,"Errors":[...]}. Go's nil slices show as null, so a
 * transaction without result rows answers "Results":null.
 *
 * Node/Service/Check operations are refused with a 400 until the catalog txn exists.
 *
 * Callers: routes.ts.
 */
import type { TxnKvOp, TxnKvVerb, TxnResult } from '../../rpc/types.js'
import { invalidInput, tooLarge } from '../errors.js'
import { readOptions } from '../query.js'
import { encodeDirEntry, jsonReply } from '../reply.js'
import type { ApiReply, ApiRequest, HandlerContext } from '../types.js'
import { decodeJsonBody, decodeObject, describe, field, type ObjectSchema } from '../validate.js'

const txnKvVerbs: readonly TxnKvVerb[] = [
  'set', 'cas', 'lock', 'unlock', 'get', 'get-or-empty', 'get-tree', 'check-index',
  'check-session', 'check-not-exists', 'delete', 'delete-tree', 'delete-cas'
]

const opSchema: ObjectSchema = { KV: field.opaque, Node: field.opaque, Service: field.opaque, Check: field.opaque }

const kvOpSchema: ObjectSchema = {
  Verb: field.string,
  Key: field.string,
  Value: field.opaque,
  Flags: field.unsigned,
  Index: field.unsigned,
  Session: field.string
}

export async function txn (request: ApiRequest, context: HandlerContext): Promise<ApiReply> {
  const decoded = decodeJsonBody(request.body)
  if (!Array.isArray(decoded)) throw invalidInput(`Request decode failed: the body must be a JSON array of operations, got ${describe(decoded)}`)
  const { txnMaxOps, kvMaxValueSize } = context.limits
  if (decoded.length > txnMaxOps) throw tooLarge(`Transaction contains too many operations (${decoded.length} > ${txnMaxOps})`)
  const ops = decoded.map((raw, opIndex) => decodeOp(raw, `ops[${opIndex}]`, kvMaxValueSize))
  const result = await context.serverApi.txn(ops, readOptions(request, context, { blocking: false }))
  return txnReply(result)
}

function txnReply (result: TxnResult): ApiReply {
  if (!result.ok) {
    return jsonReply({ Results: null, Errors: result.errors.map(error => ({ OpIndex: error.OpIndex, What: error.What })) }, {}, 409)
  }
  const results = result.results.map(row => ({ KV: encodeDirEntry(row.KV) }))
  return jsonReply({ Results: results.length === 0 ? null : results, Errors: null })
}

function decodeOp (raw: unknown, path: string, kvMaxValueSize: number): TxnKvOp {
  const op = decodeObject(raw, opSchema, path)
  for (const kind of ['Node', 'Service', 'Check']) {
    if (op[kind] !== undefined) throw invalidInput(`${path}.${kind} is not supported by weft yet: only KV operations are`)
  }
  if (op.KV === undefined) throw invalidInput(`${path} must have a KV member, got ${describe(raw)}`)
  const kv = decodeObject(op.KV, kvOpSchema, `${path}.KV`)
  const verb = kv.Verb
  if (typeof verb !== 'string' || !(txnKvVerbs as readonly string[]).includes(verb)) {
    throw invalidInput(`${path}.KV.Verb must be one of ${txnKvVerbs.map(name => `"${name}"`).join(', ')}, got ${describe(verb)}`)
  }
  const key = typeof kv.Key === 'string' ? kv.Key : ''
  const value = decodeValue(kv.Value, `${path}.KV.Value`)
  if (value !== null && value.length > kvMaxValueSize) {
    throw tooLarge(`Value for key ${JSON.stringify(key)} is too large (${value.length} > ${kvMaxValueSize} bytes)`)
  }
  return {
    Verb: verb as TxnKvVerb,
    Key: key,
    Value: value,
    Flags: typeof kv.Flags === 'number' ? kv.Flags : 0,
    Index: typeof kv.Index === 'number' ? kv.Index : 0,
    Session: typeof kv.Session === 'string' ? kv.Session : ''
  }
}

/** Go's base64.StdEncoding (padded, standard alphabet; CR and LF are skipped). */
const base64Pattern = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/

function decodeValue (value: unknown, path: string): Uint8Array | null {
  if (value === undefined) return null
  const expected = 'a base64 string (standard alphabet, padded) or null'
  if (typeof value !== 'string') throw invalidInput(`${path} must be ${expected}, got ${describe(value)}`)
  const text = value.replace(/[\r\n]/g, '')
  if (!base64Pattern.test(text)) throw invalidInput(`${path} must be ${expected}, got ${describe(value)}`)
  const bytes = Buffer.from(text, 'base64')
  return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength)
}
