/**
 * What the `weft intention ...` commands share (spec §8.4): the intention as the API returns it,
 * checked at the boundary (ERR_INVALID_RESPONSE naming the field, as api-types.ts does), and
 * Consul's text forms of it: `String()` (`web => db (allow)`, `web => db (2 permissions)`),
 * the `get` key/value layout and the RFC 850 time it prints.
 *
 * Pure; callers: commands/intention-*.ts and their tests.
 */
import { CliError } from './errors.js'
import { columnize } from './format.js'

export interface Intention {
  readonly id: string
  readonly description: string
  readonly sourceNs: string
  readonly sourceName: string
  readonly destinationNs: string
  readonly destinationName: string
  /** '' for L7 intentions. */
  readonly action: string
  readonly permissions: readonly unknown[]
  readonly meta: Readonly<Record<string, string>>
  readonly precedence: number
  /** RFC 3339 as the API sent it; '' when absent. */
  readonly createdAt: string
}

type Json = Record<string, unknown>

function invalid (where: string, expected: string, value: unknown): never {
  const shown = value === undefined ? 'nothing' : JSON.stringify(value)?.slice(0, 80) ?? String(value)
  throw new CliError('ERR_INVALID_RESPONSE', `unexpected answer from the agent: ${where} should be ${expected}, got ${shown}`)
}

function objectOf (value: unknown, where: string): Json {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) invalid(where, 'an object', value)
  return value as Json
}

function optionalString (item: Json, name: string, where: string): string {
  const value = item[name]
  if (value === undefined || value === null) return ''
  if (typeof value !== 'string') invalid(`${where}.${name}`, 'a string', value)
  return value
}

function requiredString (item: Json, name: string, where: string): string {
  const value = item[name]
  if (typeof value !== 'string') invalid(`${where}.${name}`, 'a string', value)
  return value
}

/** A 2xx body as JSON (for answers read with `request` because their errors are text). */
export function parseJsonBody (body: Uint8Array, where: string): unknown {
  try {
    return JSON.parse(new TextDecoder().decode(body)) as unknown
  } catch (err) {
    throw new CliError('ERR_INVALID_RESPONSE', `${where} returned invalid JSON: ${(err as Error).message}`, { cause: err })
  }
}

export function parseIntention (json: unknown, where: string): Intention {
  const item = objectOf(json, where)
  const permissions = item.Permissions ?? []
  if (!Array.isArray(permissions)) invalid(`${where}.Permissions`, 'an array', permissions)
  const rawMeta = item.Meta === null || item.Meta === undefined ? {} : objectOf(item.Meta, `${where}.Meta`)
  const meta: Record<string, string> = {}
  for (const [key, value] of Object.entries(rawMeta)) {
    if (typeof value !== 'string') invalid(`${where}.Meta[${JSON.stringify(key)}]`, 'a string', value)
    meta[key] = value
  }
  const precedence = item.Precedence
  if (typeof precedence !== 'number' || !Number.isSafeInteger(precedence)) invalid(`${where}.Precedence`, 'an integer', precedence)
  return {
    id: optionalString(item, 'ID', where),
    description: optionalString(item, 'Description', where),
    sourceNs: optionalString(item, 'SourceNS', where),
    sourceName: requiredString(item, 'SourceName', where),
    destinationNs: optionalString(item, 'DestinationNS', where),
    destinationName: requiredString(item, 'DestinationName', where),
    action: optionalString(item, 'Action', where),
    permissions,
    meta,
    precedence,
    createdAt: optionalString(item, 'CreatedAt', where)
  }
}

export function parseIntentionList (json: unknown, where: string): Intention[] {
  if (json === null) return []
  if (!Array.isArray(json)) invalid(where, 'an array', json)
  return json.map((item, index) => parseIntention(item, `${where}[${index}]`))
}

/** `name`, or `ns/name` outside the default namespace (Consul's SourceString). */
export function formatSide (namespace: string, name: string): string {
  return namespace === '' || namespace === 'default' ? name : `${namespace}/${name}`
}

/** Consul's Intention.String(): `web => db (allow)` or `web => db (1 permission)`. */
export function describeIntention (intention: Pick<Intention, 'sourceNs' | 'sourceName' | 'destinationNs' | 'destinationName' | 'action' | 'permissions'>): string {
  const count = intention.permissions.length
  const action = count > 0 ? `${count} ${count === 1 ? 'permission' : 'permissions'}` : intention.action
  return `${formatSide(intention.sourceNs, intention.sourceName)} => ${formatSide(intention.destinationNs, intention.destinationName)} (${action})`
}

const weekdays = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday']
const months = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec']

/**
 * Go's time.RFC850 in local time, `Wednesday, 01-May-24 10:05:00 UTC`. An absent or unreadable
 * time prints Go's zero time, as Consul does for intentions without timestamps.
 */
export function formatRfc850 (rfc3339: string, timeZone?: string): string {
  const epochMs = rfc3339 === '' ? Number.NaN : Date.parse(rfc3339)
  if (Number.isNaN(epochMs)) return 'Monday, 01-Jan-01 00:00:00 UTC'
  const parts = new Intl.DateTimeFormat('en-US', {
    timeZone, hourCycle: 'h23', year: '2-digit', month: 'numeric', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit', weekday: 'long', timeZoneName: 'short'
  }).formatToParts(new Date(epochMs))
  const part = (type: Intl.DateTimeFormatPartTypes): string => parts.find(p => p.type === type)?.value ?? ''
  const weekday = weekdays.includes(part('weekday')) ? part('weekday') : ''
  const month = months[Number(part('month')) - 1] ?? ''
  const zone = part('timeZoneName') === 'GMT' ? 'UTC' : part('timeZoneName')
  return `${weekday}, ${part('day')}-${month}-${part('year')} ${part('hour')}:${part('minute')}:${part('second')} ${zone}`
}

/** `weft intention get`'s layout: columnized `Label:  value` lines, then L7 permissions as indented JSON. */
export function formatIntentionDetails (intention: Intention, timeZone?: string): string {
  const rows: Array<[string, string]> = [
    ['Source:', formatSide(intention.sourceNs, intention.sourceName)],
    ['Destination:', formatSide(intention.destinationNs, intention.destinationName)]
  ]
  if (intention.action !== '') rows.push(['Action:', intention.action])
  if (intention.id !== '') rows.push(['ID:', intention.id])
  if (intention.description !== '') rows.push(['Description:', intention.description])
  for (const key of Object.keys(intention.meta).sort()) rows.push([`Meta[${key}]:`, intention.meta[key] ?? ''])
  rows.push(['Created At:', formatRfc850(intention.createdAt, timeZone)])
  const table = columnize(rows)
  if (intention.permissions.length === 0) return table
  return `${table}\nPermissions:\n${JSON.stringify(intention.permissions, null, 2)}`
}
