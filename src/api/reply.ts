/**
 * Reply builders and the Consul response conventions handlers share: query-meta headers
 * (X-Consul-Index never 0, KnownLeader, LastContact, Effective-Consistency), DirEntry JSON with
 * base64 values, and JSON serialization (compact, or 4-space indent plus a newline when pretty,
 * as Consul's marshalJSON does).
 *
 * Callers: handlers/*.ts (builders), server.ts (serializeJson).
 */
import type { DirEntry, QueryMeta } from '../rpc/types.js'
import type { ApiReply, ReplyHeaders } from './types.js'

const noHeaders: ReplyHeaders = Object.freeze({})

export function jsonReply (value: unknown, headers: ReplyHeaders = noHeaders, status = 200): ApiReply {
  return { kind: 'json', status, value, headers }
}

/** 200 (or `status`) with no body and no content type: Consul's reply for handlers returning nil. */
export function emptyReply (headers: ReplyHeaders = noHeaders, status = 200): ApiReply {
  return { kind: 'empty', status, headers }
}

export function bytesReply (body: Uint8Array, contentType: string, headers: ReplyHeaders = noHeaders): ApiReply {
  return { kind: 'bytes', status: 200, body, contentType, headers }
}

/** X-Consul-Index alone (snapshot save), never 0: Consul rewrites 0 to 1 (spec §0.3). */
export function indexHeader (index: number): ReplyHeaders {
  return { 'X-Consul-Index': String(Math.max(1, index)) }
}

export function queryMetaHeaders (meta: QueryMeta): ReplyHeaders {
  return {
    ...indexHeader(meta.index),
    'X-Consul-KnownLeader': meta.knownLeader ? 'true' : 'false',
    'X-Consul-LastContact': String(Math.max(0, Math.round(meta.lastContactMs))),
    'X-Consul-Effective-Consistency': meta.effectiveConsistency
  }
}

export function encodeBase64 (value: Uint8Array): string {
  return Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('base64')
}

/** A DirEntry as Consul's JSON: Value base64, or null when empty; Session only while locked. */
export function encodeDirEntry (entry: DirEntry): Record<string, unknown> {
  return {
    LockIndex: entry.LockIndex,
    Key: entry.Key,
    Flags: entry.Flags,
    Value: entry.Value === null || entry.Value.length === 0 ? null : encodeBase64(entry.Value),
    ...(entry.Session === undefined || entry.Session === '' ? {} : { Session: entry.Session }),
    CreateIndex: entry.CreateIndex,
    ModifyIndex: entry.ModifyIndex
  }
}

export function serializeJson (value: unknown, pretty: boolean): string {
  // JSON.stringify(undefined) is undefined; Consul would write "null" for a nil interface.
  const text = pretty ? JSON.stringify(value, null, 4) : JSON.stringify(value)
  const body = text ?? 'null'
  return pretty ? `${body}\n` : body
}
