/**
 * Merged settings: for every config key, its value after all sources were merged, and where
 * the winning value came from. Values were converted before merging, so the typed getters
 * only assert (a wrong type here is a bug in the key table, not bad input).
 *
 * Who calls it: src/config/build.ts, which fills it and then reads it to assemble a Config.
 */
import { assert } from '../util/assert.js'
import type { RawEntry } from './keys.js'
import { describeOrigin, type Origin } from './problems.js'
import type { RawDefinition } from './schema.js'
import { isPlainObject } from './values.js'

export interface Setting {
  readonly value: unknown
  readonly origin: Origin
}

export class Settings {
  private readonly values = new Map<string, Setting>()
  private readonly rejected = new Set<string>()

  /** Merges one converted entry according to its key's merge rule. */
  merge (entry: RawEntry, value: unknown): void {
    const previous = this.values.get(entry.path)?.value
    this.values.set(entry.path, { value: mergedValue(entry, previous, value), origin: entry.origin })
  }

  /** Records that a source gave `path` a value that did not convert (and was reported). */
  reject (path: string): void {
    this.rejected.add(path)
  }

  /** true when some source gave `path` a bad value: relation checks skip it (no follow-on noise). */
  wasRejected (path: string): boolean {
    return this.rejected.has(path)
  }

  has (path: string): boolean {
    return this.values.has(path)
  }

  origin (path: string): Origin {
    return this.get(path).origin
  }

  /** How a message names this key: `bootstrap_expect in /etc/weft/a.json`, `-server`, ... */
  describe (path: string): string {
    return describeOrigin(this.origin(path), path)
  }

  /** true when the winning value came from a file or a flag rather than a default. */
  isUserSet (path: string): boolean {
    const kind = this.values.get(path)?.origin.kind
    return kind === 'file' || kind === 'flag'
  }

  bool (path: string): boolean {
    const value = this.get(path).value
    assert(typeof value === 'boolean', `setting ${path} must be a boolean`)
    return value
  }

  number (path: string): number {
    const value = this.get(path).value
    assert(typeof value === 'number', `setting ${path} must be a number`)
    return value
  }

  string (path: string): string {
    const value = this.get(path).value
    assert(typeof value === 'string', `setting ${path} must be a string`)
    return value
  }

  optionalString (path: string): string | undefined {
    return this.has(path) ? this.string(path) : undefined
  }

  strings (path: string): string[] {
    const value = this.get(path).value
    assert(Array.isArray(value) && value.every((item) => typeof item === 'string'), `setting ${path} must be a string list`)
    return value
  }

  record (path: string): Record<string, unknown> {
    const value = this.get(path).value
    assert(isPlainObject(value), `setting ${path} must be an object`)
    return value
  }

  stringRecord (path: string): Record<string, string> {
    const value = this.record(path)
    assert(Object.values(value).every((item) => typeof item === 'string'), `setting ${path} must map to strings`)
    return value as Record<string, string>
  }

  definitions (path: string): RawDefinition[] {
    const value = this.get(path).value
    assert(Array.isArray(value), `setting ${path} must be a definition list`)
    return value as RawDefinition[]
  }

  private get (path: string): Setting {
    const setting = this.values.get(path)
    assert(setting !== undefined, `setting ${path} has no value (missing default?)`)
    return setting
  }
}

function mergedValue (entry: RawEntry, previous: unknown, value: unknown): unknown {
  switch (entry.spec.merge) {
    case 'replace':
      return value
    case 'append':
      return [...asList(previous), ...asList(value)]
    case 'appendSourced':
      return [...asList(previous), ...asList(value).map((definition) => sourced(entry.origin, definition))]
    case 'overlay':
      return { ...(isPlainObject(previous) ? previous : {}), ...(isPlainObject(value) ? value : {}) }
  }
}

function asList (value: unknown): unknown[] {
  return Array.isArray(value) ? value : []
}

function sourced (origin: Origin, definition: unknown): RawDefinition {
  assert(isPlainObject(definition), 'a definition must be an object')
  const source = origin.kind === 'file' ? origin.file : origin.kind
  return { source, definition }
}
