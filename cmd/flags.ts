/**
 * Flag declarations shared by the argv normalizer (argv.ts), the commander wiring (cli.ts) and
 * each command's parser. A command lists its FlagSpecs once; that list decides which
 * single-dash words are flags, which flags take a value, what help shows, and how raw strings
 * become typed values.
 *
 * Consul semantics kept here: a repeated flag keeps its last value; `uint` flags accept only
 * decimal digits (Go's strconv.ParseUint base 0 also takes 0x.., which nobody types).
 */
import { usageError } from './errors.js'

/** `stringList`: a repeatable string flag (`-meta a=1 -meta b=2`); every value is kept, in order. */
export type FlagKind = 'boolean' | 'string' | 'uint' | 'stringList'

export interface FlagSpec {
  /** The name without dashes, exactly as typed: `modify-index`. */
  readonly name: string
  readonly kind: FlagKind
  readonly description: string
  /** Shown in help as `-name=<valueName>`; only for string and uint flags. */
  readonly valueName?: string
}

/** Typed flag values keyed by flag name; a flag that was not given is absent. */
export type FlagValues = ReadonlyMap<string, string | boolean | number | readonly string[]>

/** Consul's HTTP client flags (every command that talks to an agent). */
export const httpClientFlags: readonly FlagSpec[] = [
  {
    name: 'http-addr',
    kind: 'string',
    valueName: 'address',
    description: 'The address and port of the weft HTTP agent: an IP address or DNS name with a port, optionally with ' +
      'http:// or https://. Also CONSUL_HTTP_ADDR / WEFT_HTTP_ADDR. (default: http://127.0.0.1:8500)'
  },
  {
    name: 'token',
    kind: 'string',
    valueName: 'value',
    description: 'ACL token to use in the request, sent as X-Consul-Token. Also CONSUL_HTTP_TOKEN / WEFT_HTTP_TOKEN.'
  },
  {
    name: 'token-file',
    kind: 'string',
    valueName: 'path',
    description: 'File containing the ACL token (whitespace trimmed). Also CONSUL_HTTP_TOKEN_FILE / WEFT_HTTP_TOKEN_FILE.'
  }
]

/** Consul's server flags (commands whose request is answered by the servers). */
export const httpServerFlags: readonly FlagSpec[] = [
  {
    name: 'datacenter',
    kind: 'string',
    valueName: 'name',
    description: "Name of the datacenter to query. If unspecified, the agent's datacenter is used."
  },
  {
    name: 'stale',
    kind: 'boolean',
    description: 'Permit any weft server (non-leader) to respond to this request; faster and works without a leader, ' +
      'but the answer may be out of date.'
  }
]

/** The largest integer a uint flag may carry: indexes stay below 2^53 (spec §0.2). */
const uintMax = Number.MAX_SAFE_INTEGER

/**
 * Converts the raw strings commander collected into typed values.
 * `raw(name)` returns what commander stored for that flag (string, true, or undefined).
 */
export function readFlagValues (specs: readonly FlagSpec[], raw: (name: string) => unknown): FlagValues {
  const values = new Map<string, string | boolean | number | readonly string[]>()
  for (const spec of specs) {
    const value = raw(spec.name)
    if (value === undefined) continue
    switch (spec.kind) {
      case 'boolean':
        values.set(spec.name, value === true)
        break
      case 'string':
        values.set(spec.name, String(value))
        break
      case 'uint':
        values.set(spec.name, parseUintFlag(spec.name, String(value)))
        break
      case 'stringList':
        values.set(spec.name, Array.isArray(value) ? value.map(String) : [String(value)])
        break
      default:
        assertNever(spec.kind)
    }
  }
  return values
}

export function parseUintFlag (name: string, text: string): number {
  if (!/^[0-9]+$/.test(text)) {
    throw usageError(`invalid value "${text}" for flag -${name}: expected an unsigned integer`)
  }
  const value = Number(text)
  if (!Number.isSafeInteger(value) || value > uintMax) {
    throw usageError(`invalid value "${text}" for flag -${name}: must be at most ${uintMax}`)
  }
  return value
}

export function flagString (values: FlagValues, name: string): string | undefined {
  const value = values.get(name)
  return typeof value === 'string' ? value : undefined
}

export function flagBoolean (values: FlagValues, name: string): boolean {
  return values.get(name) === true
}

/** Every value of a repeatable flag, in the order given ([] when absent). */
export function flagStringList (values: FlagValues, name: string): readonly string[] {
  const value = values.get(name)
  return Array.isArray(value) ? value : []
}

export function flagUint (values: FlagValues, name: string): number | undefined {
  const value = values.get(name)
  return typeof value === 'number' ? value : undefined
}

export function assertNever (value: never): never {
  throw new Error(`unexpected value: ${String(value)}`)
}
