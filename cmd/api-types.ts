/**
 * The API answers the CLI reads (spec §2.2, §9.1, §10), checked at the boundary: a body that
 * does not have the promised shape fails with ERR_INVALID_RESPONSE naming the field, rather
 * than printing `undefined` in a table. Fields the CLI does not print are not checked.
 */
import { CliError } from './errors.js'

export interface DirEntry {
  readonly key: string
  readonly value: Uint8Array
  readonly flags: number
  readonly createIndex: number
  readonly modifyIndex: number
  readonly lockIndex: number
  readonly session: string | undefined
}

export interface AgentMember {
  readonly name: string
  readonly addr: string
  readonly port: number
  readonly tags: Readonly<Record<string, string>>
  readonly status: number
}

export interface RaftServer {
  readonly id: string
  readonly node: string
  readonly address: string
  readonly leader: boolean
  readonly voter: boolean
  readonly protocolVersion: string
  /** Absent when the server does not report it. */
  readonly lastIndex: number | undefined
}

type Json = Record<string, unknown>

export function parseDirEntries (json: unknown, what: string): DirEntry[] {
  return arrayOf(json, what).map((item, index) => parseDirEntry(objectOf(item, `${what}[${index}]`), `${what}[${index}]`))
}

function parseDirEntry (item: Json, where: string): DirEntry {
  const value = item.Value
  if (value !== null && value !== undefined && typeof value !== 'string') invalid(`${where}.Value`, 'a base64 string or null', value)
  const session = item.Session
  if (session !== undefined && session !== null && typeof session !== 'string') invalid(`${where}.Session`, 'a string', session)
  return {
    key: stringField(item, 'Key', where),
    value: typeof value === 'string' ? Buffer.from(value, 'base64') : new Uint8Array(0),
    flags: numberField(item, 'Flags', where),
    createIndex: numberField(item, 'CreateIndex', where),
    modifyIndex: numberField(item, 'ModifyIndex', where),
    lockIndex: numberField(item, 'LockIndex', where),
    session: typeof session === 'string' && session !== '' ? session : undefined
  }
}

export function parseKeyList (json: unknown, what: string): string[] {
  return arrayOf(json, what).map((item, index) => {
    if (typeof item !== 'string') invalid(`${what}[${index}]`, 'a string', item)
    return item
  })
}

export function parseBooleanBody (json: unknown, what: string): boolean {
  if (typeof json !== 'boolean') invalid(what, 'true or false', json)
  return json
}

export function parseMembers (json: unknown, what: string): AgentMember[] {
  return arrayOf(json, what).map((raw, index) => {
    const where = `${what}[${index}]`
    const item = objectOf(raw, where)
    const tags = item.Tags === null || item.Tags === undefined ? {} : objectOf(item.Tags, `${where}.Tags`)
    const stringTags: Record<string, string> = {}
    for (const [name, value] of Object.entries(tags)) stringTags[name] = typeof value === 'string' ? value : String(value)
    return {
      name: stringField(item, 'Name', where),
      addr: stringField(item, 'Addr', where),
      port: numberField(item, 'Port', where),
      tags: stringTags,
      status: numberField(item, 'Status', where)
    }
  })
}

export function parseRaftConfiguration (json: unknown, what: string): RaftServer[] {
  const body = objectOf(json, what)
  return arrayOf(body.Servers, `${what}.Servers`).map((raw, index) => {
    const where = `${what}.Servers[${index}]`
    const item = objectOf(raw, where)
    const lastIndex = item.LastIndex
    if (lastIndex !== undefined && (typeof lastIndex !== 'number' || !Number.isSafeInteger(lastIndex))) {
      invalid(`${where}.LastIndex`, 'an integer', lastIndex)
    }
    return {
      id: stringField(item, 'ID', where),
      node: stringField(item, 'Node', where),
      address: stringField(item, 'Address', where),
      leader: booleanField(item, 'Leader', where),
      voter: booleanField(item, 'Voter', where),
      protocolVersion: item.ProtocolVersion === undefined ? '' : stringField(item, 'ProtocolVersion', where),
      lastIndex
    }
  })
}

export function parseTransferLeader (json: unknown, what: string): boolean {
  return booleanField(objectOf(json, what), 'Success', what)
}

function arrayOf (value: unknown, where: string): unknown[] {
  if (!Array.isArray(value)) invalid(where, 'an array', value)
  return value
}

function objectOf (value: unknown, where: string): Json {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) invalid(where, 'an object', value)
  return value as Json
}

function stringField (item: Json, name: string, where: string): string {
  const value = item[name]
  if (typeof value !== 'string') invalid(`${where}.${name}`, 'a string', value)
  return value
}

function numberField (item: Json, name: string, where: string): number {
  const value = item[name]
  if (typeof value !== 'number' || !Number.isSafeInteger(value)) invalid(`${where}.${name}`, 'an integer', value)
  return value
}

function booleanField (item: Json, name: string, where: string): boolean {
  const value = item[name]
  if (typeof value !== 'boolean') invalid(`${where}.${name}`, 'a boolean', value)
  return value
}

function invalid (where: string, expected: string, value: unknown): never {
  const shown = value === undefined ? 'nothing' : JSON.stringify(value)?.slice(0, 80) ?? String(value)
  throw new CliError('ERR_INVALID_RESPONSE', `unexpected answer from the agent: ${where} should be ${expected}, got ${shown}`)
}
