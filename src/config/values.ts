/**
 * Value converters: one raw value (a JSON value from a file, or the string of a command-line
 * flag) in, a typed value or "what was expected" out. Pure leaves; the builder adds the key and
 * origin to turn a failure into a message (`<key> must be <expected>, got <value>`).
 *
 * File values are strictly typed as in Consul (no "3" for 3, no "true" for true); flag values
 * are strings parsed with Go's rules (strconv.Atoi, strconv.ParseBool, time.ParseDuration).
 *
 * Who calls it: the key table (src/config/keys.ts) and the flag table (src/config/flags.ts).
 */
import { isIP } from 'node:net'

export type ValueFrom = 'file' | 'flag'

export type Converted =
  | { readonly ok: true, readonly value: unknown }
  | { readonly ok: false, readonly expected: string, readonly detail?: string }

export type Converter = (raw: unknown, from: ValueFrom) => Converted

function ok (value: unknown): Converted {
  return { ok: true, value }
}

function fail (expected: string, detail?: string): Converted {
  return detail === undefined ? { ok: false, expected } : { ok: false, expected, detail }
}

const GO_TRUE = new Set(['1', 't', 'T', 'TRUE', 'true', 'True'])
const GO_FALSE = new Set(['0', 'f', 'F', 'FALSE', 'false', 'False'])

export const bool: Converter = (raw, from) => {
  if (from === 'file') return typeof raw === 'boolean' ? ok(raw) : fail('true or false')
  if (typeof raw === 'string' && GO_TRUE.has(raw)) return ok(true)
  if (typeof raw === 'string' && GO_FALSE.has(raw)) return ok(false)
  return fail('true or false')
}

/** Go's strconv.Atoi for flags; a JSON integer for files. */
function toInteger (raw: unknown, from: ValueFrom): number | null {
  if (from === 'flag') {
    if (typeof raw !== 'string' || !/^[+-]?\d+$/.test(raw)) return null
    const value = Number(raw)
    return Number.isSafeInteger(value) ? value : null
  }
  return typeof raw === 'number' && Number.isSafeInteger(raw) ? raw : null
}

export function integer (range: { min: number, max?: number }): Converter {
  const expected = range.max === undefined
    ? `an integer >= ${range.min}`
    : `an integer in ${range.min}..${range.max}`
  return (raw, from) => {
    const value = toInteger(raw, from)
    if (value === null || value < range.min) return fail(expected)
    if (range.max !== undefined && value > range.max) return fail(expected)
    return ok(value)
  }
}

/** A listener port: 1..65535, 0 for an OS-assigned port, and -1 to disable when allowed. */
export function port (options: { disable: boolean }): Converter {
  const expected = options.disable
    ? 'an integer in 1..65535, 0 for an OS-assigned port or -1 to disable'
    : 'an integer in 1..65535 or 0 for an OS-assigned port'
  return (raw, from) => {
    const value = toInteger(raw, from)
    if (value === null || value > 65_535) return fail(expected)
    if (value < 0 && !(options.disable && value === -1)) return fail(expected)
    return ok(value)
  }
}

const DURATION_UNITS_MS: Readonly<Record<string, number>> = {
  ns: 1e-6, us: 1e-3, µs: 1e-3, μs: 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000
}

/** Go's time.ParseDuration for non-negative values, in milliseconds; null when malformed. */
export function parseGoDurationMs (text: string): number | null {
  if (text === '0') return 0
  const part = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)/y
  let totalMs = 0
  let position = 0
  while (position < text.length) {
    part.lastIndex = position
    const match = part.exec(text)
    if (match === null) return null
    totalMs += Number(match[1]) * (DURATION_UNITS_MS[match[2] ?? ''] ?? Number.NaN)
    position = part.lastIndex
  }
  return position > 0 && Number.isFinite(totalMs) ? totalMs : null
}

export function duration (range: { minMs: number }): Converter {
  const expected = range.minMs > 0
    ? 'a positive duration such as "30s", "1m30s" or "500ms"'
    : 'a duration such as "30s", "1m30s" or "500ms"'
  return (raw) => {
    if (typeof raw !== 'string') return fail(expected)
    const valueMs = parseGoDurationMs(raw)
    if (valueMs === null || valueMs < range.minMs) return fail(expected)
    return ok(valueMs)
  }
}

/** A string checked by `check`, which returns null when fine or what was expected. */
export function text (check: (value: string) => { expected: string, detail?: string } | null, normalize?: (value: string) => string): Converter {
  return (raw) => {
    if (typeof raw !== 'string') return fail(check('')?.expected ?? 'a string')
    const value = normalize === undefined ? raw : normalize(raw)
    const failure = check(value)
    return failure === null ? ok(value) : fail(failure.expected, failure.detail)
  }
}

export function anyString (): Converter {
  return text((value) => value.length > 0 ? null : { expected: 'a non-empty string' })
}

/** One of `choices`, matched without regard to case; `aliases` map other spellings. */
export function oneOf (choices: readonly string[], options: { aliases?: Readonly<Record<string, string>>, expected?: string } = {}): Converter {
  const aliases = options.aliases ?? {}
  const expected = options.expected ?? `one of ${choices.map((choice) => JSON.stringify(choice)).join(', ')}`
  return (raw) => {
    if (typeof raw !== 'string') return fail(expected)
    const lower = raw.toLowerCase()
    const value = aliases[lower] ?? lower
    return choices.includes(value) ? ok(value) : fail(expected)
  }
}

/** A list of strings in a file; one string per occurrence of a repeatable flag. */
export function stringList (item: Converter, itemsExpected: string): Converter {
  return (raw, from) => {
    const items = from === 'flag' ? [raw] : raw
    if (!Array.isArray(items)) return fail(`a list of ${itemsExpected}`)
    const values: unknown[] = []
    for (const element of items) {
      const converted = item(element, from)
      if (!converted.ok && from === 'flag') return converted
      if (!converted.ok) return fail(`a list of ${itemsExpected}`, describeBadItem(element, converted))
      values.push(converted.value)
    }
    return ok(values)
  }
}

function describeBadItem (element: unknown, converted: { expected: string, detail?: string }): string {
  const shown = JSON.stringify(element) ?? String(element)
  return converted.detail === undefined ? `bad entry ${shown}` : `bad entry ${shown}: ${converted.detail}`
}

export function isPlainObject (value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

/** An object of string values (file), or one `key:value` per flag occurrence. */
export function stringMap (check: (key: string, value: string) => string | null): Converter {
  const expected = 'an object with string values'
  return (raw, from) => {
    const entries = from === 'flag' ? splitFlagPair(raw) : (isPlainObject(raw) ? Object.entries(raw) : null)
    if (entries === null) return fail(from === 'flag' ? 'key:value' : expected)
    const result: Record<string, string> = {}
    for (const [key, value] of entries) {
      if (typeof value !== 'string') return fail(expected, `${JSON.stringify(key)} is ${JSON.stringify(value)}`)
      const detail = check(key, value)
      if (detail !== null) return fail(expected, detail)
      result[key] = value
    }
    return ok(result)
  }
}

function splitFlagPair (raw: unknown): Array<[string, unknown]> | null {
  if (typeof raw !== 'string') return null
  const colon = raw.indexOf(':')
  return colon <= 0 ? null : [[raw.slice(0, colon), raw.slice(colon + 1)]]
}

/** An arbitrary JSON object, kept as written (e.g. `connect.ca_config`). */
export const object: Converter = (raw) => isPlainObject(raw) ? ok(raw) : fail('an object')

/** `service` (one object) or `services` (a list of objects): always a list out. */
export function definitions (shape: 'one' | 'list'): Converter {
  return (raw) => {
    if (shape === 'one') return isPlainObject(raw) ? ok([raw]) : fail('an object')
    if (!Array.isArray(raw) || !raw.every(isPlainObject)) return fail('a list of objects')
    return ok(raw)
  }
}

// ---- formats -------------------------------------------------------------------------------

const TEMPLATE_DETAIL = 'go-sockaddr templates are not supported; give an IP address'

export function ipAddress (options: { any: boolean }): Converter {
  const expected = options.any ? 'an IP address' : 'an IP address other than 0.0.0.0 or ::'
  return text((value) => {
    if (value.includes('{{')) return { expected, detail: TEMPLATE_DETAIL }
    if (isIP(value) === 0) return { expected }
    if (!options.any && isAnyAddress(value)) return { expected }
    return null
  })
}

export function isAnyAddress (address: string): boolean {
  return address === '0.0.0.0' || address === '::' || address === '[::]'
}

/** `client_addr`: one or more IP addresses separated by spaces. */
export const clientAddresses: Converter = (raw) => {
  const expected = 'one or more IP addresses separated by spaces'
  if (typeof raw !== 'string') return fail(expected)
  if (raw.includes('{{')) return fail(expected, TEMPLATE_DETAIL)
  const addresses = raw.split(/\s+/).filter((part) => part.length > 0)
  if (addresses.length === 0) return fail(expected)
  const bad = addresses.find((address) => isIP(address) === 0)
  return bad === undefined ? ok(addresses) : fail(expected, `${JSON.stringify(bad)} is not an IP address`)
}

/** A `retry_join` / `start_join` entry: host, host:port, IPv6, or [IPv6]:port. */
export function joinAddress (value: string): { expected: string, detail?: string } | null {
  const expected = 'an address such as "10.0.0.12", "10.0.0.12:8301", "server-2" or "[::1]:8301"'
  if (value.includes('provider=')) return { expected, detail: 'cloud auto-join is not supported; list the addresses' }
  if (isIP(value) !== 0) return null
  const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(value)
  if (bracketed !== null) return isIP(bracketed[1] ?? '') === 6 && isPortText(bracketed[2]) ? null : { expected }
  const hostPort = /^([A-Za-z0-9.-]+)(?::(\d+))?$/.exec(value)
  if (hostPort === null || !isHostName(hostPort[1] ?? '')) return { expected }
  return isPortText(hostPort[2]) ? null : { expected, detail: 'the port must be in 1..65535' }
}

function isPortText (text: string | undefined): boolean {
  if (text === undefined) return true
  const value = Number(text)
  return Number.isSafeInteger(value) && value >= 1 && value <= 65_535
}

function isHostName (host: string): boolean {
  return host.length <= 253 && host.split('.').every((label) => /^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/.test(label))
}

export function datacenterName (value: string): { expected: string } | null {
  return /^[a-z0-9_-]+$/.test(value) ? null : { expected: 'a name of lowercase letters, digits, "-" and "_"' }
}

export const NODE_NAME_CHARS_MAX = 128

/** Hard rule for node names; names that are not DNS labels only get a warning (as Consul). */
export function nodeName (value: string): { expected: string } | null {
  const valid = value.length <= NODE_NAME_CHARS_MAX && /^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(value)
  return valid ? null : { expected: `a name of letters, digits, ".", "-" and "_" (at most ${NODE_NAME_CHARS_MAX}), starting with a letter or digit` }
}

export function isDnsLabel (value: string): boolean {
  return value.length <= 63 && /^[A-Za-z0-9-]+$/.test(value)
}

export function uuid (value: string): { expected: string } | null {
  const valid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/.test(value)
  return valid ? null : { expected: 'a UUID such as "6f1a2c9e-2b7d-4f0c-9d4a-1e5b7c3a9f10"' }
}

/** Standard base64 (with padding) of 16, 24 or 32 bytes: AES-128/192/256 (§13). */
export function gossipKey (value: string): { expected: string, detail: string } | null {
  const expected = 'a base64-encoded key of 16, 24 or 32 bytes ("weft keygen" prints one)'
  if (value.length === 0 || value.length % 4 !== 0 || !/^[A-Za-z0-9+/]+={0,2}$/.test(value)) {
    return { expected, detail: 'not valid standard base64' }
  }
  const padding = value.endsWith('==') ? 2 : (value.endsWith('=') ? 1 : 0)
  const byteCount = (value.length / 4) * 3 - padding
  return [16, 24, 32].includes(byteCount) ? null : { expected, detail: `it decodes to ${byteCount} bytes` }
}

export function headerName (name: string, value: string): string | null {
  if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(name)) return `${JSON.stringify(name)} is not a valid header name`
  return /[\r\n\0]/.test(value) ? `the value of ${JSON.stringify(name)} contains a line break or NUL` : null
}

const NODE_META_KEY_CHARS_MAX = 128
const NODE_META_VALUE_CHARS_MAX = 512

export function nodeMetaPair (key: string, value: string): string | null {
  if (!/^[A-Za-z0-9_-]+$/.test(key) || key.length > NODE_META_KEY_CHARS_MAX) {
    return `key ${JSON.stringify(key)} must be letters, digits, "-" and "_" (at most ${NODE_META_KEY_CHARS_MAX})`
  }
  if (key.startsWith('consul-')) return `key ${JSON.stringify(key)} uses the reserved prefix "consul-"`
  return value.length > NODE_META_VALUE_CHARS_MAX ? `the value of ${JSON.stringify(key)} is longer than ${NODE_META_VALUE_CHARS_MAX} characters` : null
}
