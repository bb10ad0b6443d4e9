/**
 * Shape checks for data that crosses into the FSM: decoded commands and snapshot records.
 *
 * Each `expectX(value, path)` returns a fresh, owned copy of `value` typed as X, or throws an
 * InvalidCommand error (a ControlPlaneError with code ERR_INVALID_INPUT) whose message names
 * the path, what was expected and what arrived: `kvSet.Key must be a string, got 5`.
 *
 * Plain data (`PlainValue`) is the opaque JSON-like data a row may carry without the FSM
 * interpreting it (a check's Definition, a proxy's config, CA provider config). It is copied
 * canonically: object keys sorted, byte arrays copied out of the decode buffer, objects and
 * arrays frozen. Canonical copies make equal states encode to equal snapshot bytes no matter
 * which key order a client used.
 *
 * Callers: commands.ts (decode and encode validation) and snapshot.ts (row validation).
 */
import { ControlPlaneError } from '../util/errors.js'

export type PlainValue = null | boolean | number | string | Uint8Array | readonly PlainValue[] | PlainRecord
export interface PlainRecord { readonly [key: string]: PlainValue }

/** Deepest nesting accepted in plain data; deeper input is hostile or a bug. */
export const plainDepthMax = 32

export type Raw = Record<string, unknown>

export function invalid (path: string, expected: string, received: unknown): ControlPlaneError {
  return new ControlPlaneError('ERR_INVALID_INPUT', `${path} must be ${expected}, got ${describe(received)}`, { details: { path } })
}

export function describe (value: unknown): string {
  if (value === undefined) return 'undefined'
  if (value instanceof Uint8Array) return `${value.length} bytes of binary data`
  if (typeof value === 'bigint') return `${value}n`
  if (typeof value === 'number' || typeof value === 'boolean' || value === null) return String(value)
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}...` : value)
  if (Array.isArray(value)) return `an array of ${value.length}`
  return typeof value === 'object' ? 'a map' : typeof value
}

export function isRecord (value: unknown): value is Raw {
  if (typeof value !== 'object' || value === null || Array.isArray(value) || value instanceof Uint8Array) return false
  const prototype: unknown = Object.getPrototypeOf(value)
  return prototype === Object.prototype || prototype === null
}

export function expectRecord (value: unknown, path: string): Raw {
  if (!isRecord(value)) throw invalid(path, 'a map', value)
  return value
}

export function expectString (value: unknown, path: string): string {
  if (typeof value !== 'string') throw invalid(path, 'a string', value)
  return value
}

export function expectNonEmptyString (value: unknown, path: string): string {
  if (typeof value !== 'string' || value.length === 0) throw invalid(path, 'a non-empty string', value)
  return value
}

export function expectBoolean (value: unknown, path: string): boolean {
  if (typeof value !== 'boolean') throw invalid(path, 'a boolean', value)
  return value
}

/** A non-negative safe integer: Raft indexes, CAS indexes, flags, counters. */
export function expectIndex (value: unknown, path: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) throw invalid(path, 'a non-negative safe integer', value)
  return value
}

export function expectInteger (value: unknown, path: string, range: { min: number, max: number }): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < range.min || value > range.max) {
    throw invalid(path, `an integer in ${range.min}..${range.max}`, value)
  }
  return value
}

export function expectOneOf<T extends string> (value: unknown, path: string, allowed: readonly T[]): T {
  if (typeof value !== 'string' || !(allowed as readonly string[]).includes(value)) {
    throw invalid(path, `one of ${allowed.map(item => JSON.stringify(item)).join(', ')}`, value)
  }
  return value as T
}

/** An owned copy (never a Buffer view into a decode buffer that would pin the whole buffer). */
export function expectBytes (value: unknown, path: string): Uint8Array {
  if (!(value instanceof Uint8Array)) throw invalid(path, 'binary data', value)
  const copy = new Uint8Array(value.length)
  copy.set(value)
  return copy
}

export function expectArray<T> (value: unknown, path: string, item: (value: unknown, path: string) => T, lengthMax = Number.MAX_SAFE_INTEGER): readonly T[] {
  if (!Array.isArray(value)) throw invalid(path, 'an array', value)
  if (value.length > lengthMax) throw invalid(path, `an array of at most ${lengthMax} items`, value)
  return Object.freeze(value.map((element, position) => item(element, `${path}[${position}]`)))
}

export function expectStringArray (value: unknown, path: string): readonly string[] {
  return expectArray(value, path, expectString)
}

/** A map of string to string, copied with sorted keys and frozen. */
export function expectStringMap (value: unknown, path: string): Readonly<Record<string, string>> {
  const raw = expectRecord(value, path)
  const result: Record<string, string> = {}
  for (const key of Object.keys(raw).sort()) {
    rejectPrototypeKey(key, path)
    result[key] = expectString(raw[key], `${path}[${JSON.stringify(key)}]`)
  }
  return Object.freeze(result)
}

export function expectPlainRecord (value: unknown, path: string): PlainRecord {
  const raw = expectRecord(value, path)
  return copyPlainRecord(raw, path, 0)
}

export function expectPlainArray (value: unknown, path: string): readonly PlainValue[] {
  if (!Array.isArray(value)) throw invalid(path, 'an array', value)
  return copyPlain(value, path, 0) as readonly PlainValue[]
}

/** Absent (undefined) stays absent; anything else must pass `check`. */
export function optional<T> (value: unknown, path: string, check: (value: unknown, path: string) => T): T | undefined {
  return value === undefined ? undefined : check(value, path)
}

function copyPlain (value: unknown, path: string, depth: number): PlainValue {
  if (depth > plainDepthMax) throw invalid(path, `plain data nested at most ${plainDepthMax} deep`, value)
  if (value === null || typeof value === 'boolean' || typeof value === 'string') return value
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw invalid(path, 'a finite number', value)
    return value
  }
  if (value instanceof Uint8Array) return expectBytes(value, path)
  if (Array.isArray(value)) return Object.freeze(value.map((element, position) => copyPlain(element, `${path}[${position}]`, depth + 1)))
  if (isRecord(value)) return copyPlainRecord(value, path, depth)
  throw invalid(path, 'plain data (null, boolean, number, string, bytes, array or map)', value)
}

function copyPlainRecord (raw: Raw, path: string, depth: number): PlainRecord {
  const result: Record<string, PlainValue> = {}
  for (const key of Object.keys(raw).sort()) {
    rejectPrototypeKey(key, path)
    result[key] = copyPlain(raw[key], `${path}[${JSON.stringify(key)}]`, depth + 1)
  }
  return Object.freeze(result)
}

function rejectPrototypeKey (key: string, path: string): void {
  if (key === '__proto__') throw invalid(`${path} key`, 'anything but "__proto__"', key)
}

/** Structural equality of plain data (key order does not matter; bytes compare by content). */
export function plainEqual (a: unknown, b: unknown): boolean {
  if (a === b) return true
  if (a instanceof Uint8Array || b instanceof Uint8Array) return bytesEqual(a, b)
  if (Array.isArray(a) || Array.isArray(b)) return arraysEqual(a, b)
  if (isRecord(a) && isRecord(b)) return recordsEqual(a, b)
  return false
}

function bytesEqual (a: unknown, b: unknown): boolean {
  if (!(a instanceof Uint8Array) || !(b instanceof Uint8Array) || a.length !== b.length) return false
  for (let offset = 0; offset < a.length; offset += 1) {
    if (a[offset] !== b[offset]) return false
  }
  return true
}

function arraysEqual (a: unknown, b: unknown): boolean {
  if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) return false
  return a.every((element, position) => plainEqual(element, b[position]))
}

function recordsEqual (a: Raw, b: Raw): boolean {
  const keys = Object.keys(a)
  if (keys.length !== Object.keys(b).length) return false
  return keys.every(key => Object.hasOwn(b, key) && plainEqual(a[key], b[key]))
}

/**
 * A copy of `value` with every map's keys sorted and undefined-valued keys dropped, for
 * encoding: two rows with equal content then encode to equal bytes whatever order their
 * fields were assigned in.
 */
export function canonical (value: unknown): unknown {
  if (value === null || typeof value !== 'object' || value instanceof Uint8Array) return value
  if (Array.isArray(value)) return value.map(canonical)
  const raw = value as Raw
  const result: Raw = {}
  for (const key of Object.keys(raw).sort()) {
    const field = raw[key]
    if (field !== undefined) result[key] = canonical(field)
  }
  return result
}
