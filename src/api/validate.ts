/**
 * Input validation at the HTTP edge: query parameters and lenient JSON bodies.
 *
 * Query parameters follow Consul's conventions: most flags count by presence (`?recurse`,
 * `?recurse=true` and `?recurse=false` all mean recurse), numbers are Go uint64s, and booleans
 * that are values use Go's strconv.ParseBool. Bodies follow Go's encoding/json as Consul uses
 * it: object keys match case-insensitively, `null` means absent, unknown keys are ignored; on
 * top of that snake_case aliases match (`skip_node_update` == `SkipNodeUpdate`). Every failure
 * is an ERR_INVALID_INPUT whose message names the field, the value and what was expected:
 * `?cas must be an unsigned integer, got "abc"`, `Service.Port must be an integer in 0..65535,
 * got "80a"`. (Query schemas are hand-written rather than ajv: Consul's presence flags and its
 * exact texts, e.g. "Invalid index", do not fit JSON Schema's messages.)
 *
 * Callers: query.ts, handlers/*.ts.
 */
import { invalidInput } from './errors.js'
import { formatGoDuration, parseGoDurationNs } from '../util/go-duration.js'

// ---------------------------------------------------------------------------------------------
// Query parameters

/** The parsed query string: a name maps to one value or, when repeated, to all of them in order. */
export class QueryParams {
  readonly #values: ReadonlyMap<string, readonly string[]>

  constructor (parsed: unknown) {
    const values = new Map<string, readonly string[]>()
    if (typeof parsed === 'object' && parsed !== null) {
      for (const [name, value] of Object.entries(parsed)) {
        if (typeof value === 'string') values.set(name, [value])
        else if (Array.isArray(value)) values.set(name, value.filter((item): item is string => typeof item === 'string'))
      }
    }
    this.#values = values
  }

  has (name: string): boolean {
    return this.#values.has(name)
  }

  /** The first value (Go's url.Values.Get), or null when absent. */
  get (name: string): string | null {
    return this.#values.get(name)?.[0] ?? null
  }

  all (name: string): readonly string[] {
    return this.#values.get(name) ?? []
  }

  /**
   * Go's url.Values.Encode (keys sorted, QueryEscape'd), for Consul's "Conflicting flags: ..."
   * text. `omit` names parameters left out (the token must never be echoed or logged).
   */
  encode (omit: readonly string[]): string {
    const parts: string[] = []
    for (const name of [...this.#values.keys()].sort()) {
      if (omit.includes(name)) continue
      for (const value of this.all(name)) parts.push(`${goQueryEscape(name)}=${goQueryEscape(value)}`)
    }
    return parts.join('&')
  }
}

function goQueryEscape (text: string): string {
  return encodeURIComponent(text)
    .replace(/[!'()*]/g, char => `%${char.charCodeAt(0).toString(16).toUpperCase()}`)
    .replace(/%20/g, '+')
}

/** Render a received value for a message: strings quoted, long ones cut. */
export function describe (value: unknown): string {
  if (value === undefined) return 'nothing'
  if (typeof value === 'string') return JSON.stringify(value.length > 64 ? `${value.slice(0, 64)}...` : value)
  if (typeof value === 'number' || typeof value === 'boolean' || value === null) return String(value)
  if (Array.isArray(value)) return `an array of ${value.length}`
  return typeof value === 'object' ? 'an object' : typeof value
}

const uint64Pattern = /^[0-9]+$/

/** An unsigned integer the way Go's strconv.ParseUint(s, 10, 64) reads it, limited to 2^53 - 1. */
export function parseUnsigned (text: string): number | null {
  if (!uint64Pattern.test(text)) return null
  const value = Number(text)
  return Number.isSafeInteger(value) ? value : null
}

/** `?name=<uint>`: null when absent, else the value or a 400 naming it. */
export function optionalUnsignedParam (query: QueryParams, name: string): number | null {
  const text = query.get(name)
  if (text === null) return null
  const value = parseUnsigned(text)
  if (value === null) throw invalidInput(`?${name} must be an unsigned integer no greater than ${Number.MAX_SAFE_INTEGER}, got ${describe(text)}`)
  return value
}

/** Go's strconv.ParseBool. */
export function parseGoBool (text: string): boolean | null {
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(text)) return true
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(text)) return false
  return null
}

/** `?name` as Consul's getBoolQueryParam: absent false, present without value true, else ParseBool. */
export function boolParam (query: QueryParams, name: string, invalidText: string): boolean {
  const text = query.get(name)
  if (text === null) return false
  if (text === '') return true
  const value = parseGoBool(text)
  if (value === null) throw invalidInput(invalidText)
  return value
}

/** A non-empty `?name=<text>` when present. */
export function optionalNonEmptyParam (query: QueryParams, name: string, expected: string): string | null {
  const text = query.get(name)
  if (text === null) return null
  if (text === '') throw invalidInput(`?${name} must be ${expected}, got ""`)
  return text
}

// ---------------------------------------------------------------------------------------------
// JSON bodies

const decoder = new TextDecoder('utf-8')

/** Parse a JSON body; malformed JSON is a 400 with the parser's words, as Consul does. */
export function decodeJsonBody (body: Uint8Array): unknown {
  if (body.length === 0) throw invalidInput('Request decode failed: EOF (the body is empty, expected JSON)')
  try {
    return JSON.parse(decoder.decode(body))
  } catch (err) {
    throw invalidInput(`Request decode failed: ${(err as Error).message}`)
  }
}

export type FieldKind =
  | { readonly kind: 'string' }
  | { readonly kind: 'boolean' }
  | { readonly kind: 'integer', readonly min: number, readonly max: number }
  | { readonly kind: 'stringArray' }
  /** A map with user-chosen keys (kept as given) and string values. */
  | { readonly kind: 'stringMap' }
  /** A Go duration string or integer nanoseconds; normalized to a Go duration string. */
  | { readonly kind: 'duration' }
  | { readonly kind: 'object', readonly fields: ObjectSchema }
  | { readonly kind: 'array', readonly of: FieldKind }
  /** A map with user-chosen keys whose values follow `of`. */
  | { readonly kind: 'map', readonly of: FieldKind }
  /** Any JSON value, passed through unchanged (e.g. proxy Config). */
  | { readonly kind: 'opaque' }

/** Canonical (PascalCase) field name → kind. */
export type ObjectSchema = Readonly<Record<string, FieldKind>>

export const field = {
  string: { kind: 'string' },
  boolean: { kind: 'boolean' },
  stringArray: { kind: 'stringArray' },
  stringMap: { kind: 'stringMap' },
  duration: { kind: 'duration' },
  opaque: { kind: 'opaque' },
  port: { kind: 'integer', min: 0, max: 65535 },
  unsigned: { kind: 'integer', min: 0, max: Number.MAX_SAFE_INTEGER },
  object: (fields: ObjectSchema): FieldKind => ({ kind: 'object', fields }),
  array: (of: FieldKind): FieldKind => ({ kind: 'array', of }),
  map: (of: FieldKind): FieldKind => ({ kind: 'map', of })
} as const satisfies Record<string, FieldKind | ((argument: never) => FieldKind)>

/** Case- and underscore-insensitive key: "Skip_Node_Update" and "skipnodeupdate" match. */
function normalizeKey (key: string): string {
  return key.replace(/[_-]/g, '').toLowerCase()
}

const normalizedSchemas = new WeakMap<ObjectSchema, ReadonlyMap<string, string>>()

function canonicalNames (schema: ObjectSchema): ReadonlyMap<string, string> {
  let names = normalizedSchemas.get(schema)
  if (names === undefined) {
    names = new Map(Object.keys(schema).map(name => [normalizeKey(name), name]))
    normalizedSchemas.set(schema, names)
  }
  return names
}

function isPlainObject (value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

/**
 * Decode a lenient JSON object into canonical field names. Absent and null fields are left out,
 * unknown fields are dropped; a later duplicate (by case-insensitive name) wins, as in Go.
 */
export function decodeObject (value: unknown, schema: ObjectSchema, path: string): Record<string, unknown> {
  if (!isPlainObject(value)) throw invalidInput(`${path === '' ? 'the body' : path} must be a JSON object, got ${describe(value)}`)
  const names = canonicalNames(schema)
  const result: Record<string, unknown> = {}
  for (const [key, raw] of Object.entries(value)) {
    const name = names.get(normalizeKey(key))
    if (name === undefined || raw === null) continue
    const kind = schema[name]
    if (kind === undefined) continue
    result[name] = decodeField(raw, kind, path === '' ? name : `${path}.${name}`)
  }
  return result
}

function decodeField (value: unknown, kind: FieldKind, path: string): unknown {
  switch (kind.kind) {
    case 'string':
      if (typeof value !== 'string') throw invalidInput(`${path} must be a string, got ${describe(value)}`)
      return value
    case 'boolean':
      if (typeof value !== 'boolean') throw invalidInput(`${path} must be a boolean, got ${describe(value)}`)
      return value
    case 'integer':
      if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < kind.min || value > kind.max) {
        throw invalidInput(`${path} must be an integer in ${kind.min}..${kind.max}, got ${describe(value)}`)
      }
      return value
    case 'stringArray':
      return decodeArray(value, path, (item, itemPath) => decodeField(item, field.string, itemPath))
    case 'stringMap':
      return decodeMap(value, path, (item, itemPath) => decodeField(item, field.string, itemPath))
    case 'duration':
      return decodeDuration(value, path)
    case 'object':
      return decodeObject(value, kind.fields, path)
    case 'array':
      return decodeArray(value, path, (item, itemPath) => decodeField(item, kind.of, itemPath))
    case 'map':
      return decodeMap(value, path, (item, itemPath) => decodeField(item, kind.of, itemPath))
    case 'opaque':
      return value
  }
}

function decodeArray (value: unknown, path: string, decodeItem: (item: unknown, path: string) => unknown): unknown[] {
  if (!Array.isArray(value)) throw invalidInput(`${path} must be an array, got ${describe(value)}`)
  return value.map((item, index) => decodeItem(item, `${path}[${index}]`))
}

function decodeMap (value: unknown, path: string, decodeItem: (item: unknown, path: string) => unknown): Record<string, unknown> {
  if (!isPlainObject(value)) throw invalidInput(`${path} must be a JSON object, got ${describe(value)}`)
  const result: Record<string, unknown> = {}
  for (const [key, item] of Object.entries(value)) {
    if (key === '__proto__') throw invalidInput(`${path} keys must not be "__proto__"`)
    result[key] = decodeItem(item, `${path}[${JSON.stringify(key)}]`)
  }
  return result
}

/** Consul accepts "10s"-style strings or integer nanoseconds; we hand on the Go string form. */
function decodeDuration (value: unknown, path: string): string {
  const expected = 'a duration such as "10s" or integer nanoseconds'
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value) || value < 0) throw invalidInput(`${path} must be ${expected}, got ${describe(value)}`)
    return formatGoDuration(value)
  }
  if (typeof value !== 'string') throw invalidInput(`${path} must be ${expected}, got ${describe(value)}`)
  if (value === '') return ''
  const durationNs = parseGoDurationNs(value)
  if (durationNs === null || durationNs < 0) throw invalidInput(`${path} must be ${expected}, got ${describe(value)}`)
  return value
}
