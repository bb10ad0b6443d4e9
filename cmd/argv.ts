/**
 * Go-style argv → commander argv.
 *
 * Consul's commands parse flags with Go's `flag` package: `-name`, `-name=value`, `-name value`
 * (non-boolean flags only), `--name` as a synonym, booleans as `-name=false`, and parsing stops
 * at the first positional argument (or after `--`); everything from there on is positional, so
 * `weft kv put k -1` stores "-1". Commander wants `--name`, so for the selected command this
 * module rewrites every flag into `--name` / `--name=value`, drops booleans set to false, and
 * puts `--` before the first positional argument so commander never reads it as an option.
 *
 * It also reports Go's usage errors with Go's wording (`flag provided but not defined: -x`,
 * `flag needs an argument: -x`), which beats commander's `unknown option` for single-dash input.
 * Pure: no I/O; called by cli.ts before commander runs.
 */
import { usageError } from './errors.js'
import type { FlagSpec } from './flags.js'

const helpNames = new Set(['h', 'help'])
const trueWords = new Set(['1', 't', 'T', 'TRUE', 'true', 'True'])
const falseWords = new Set(['0', 'f', 'F', 'FALSE', 'false', 'False'])

/** Rewrites the arguments that follow a command's name; throws ERR_USAGE on bad flags. */
export function normalizeArgs (args: readonly string[], specs: readonly FlagSpec[]): string[] {
  const byName = new Map(specs.map(spec => [spec.name, spec]))
  let normalized: string[] = []
  for (let index = 0; index < args.length; index += 1) {
    const arg = args[index] as string
    if (arg === '--') return [...normalized, ...args.slice(index)]
    if (arg === '-' || !arg.startsWith('-')) return [...normalized, '--', ...args.slice(index)]

    const { name, value } = splitFlag(arg)
    if (helpNames.has(name)) {
      normalized.push('--help')
      continue
    }
    const spec = byName.get(name)
    if (spec === undefined) throw usageError(`flag provided but not defined: -${name}`)

    if (spec.kind === 'boolean') {
      if (value === undefined || trueWords.has(value)) {
        normalized.push(`--${name}`)
      } else if (falseWords.has(value)) {
        // Go semantics: the last occurrence wins, so a later `-x=false` cancels an earlier `-x`.
        normalized = normalized.filter(word => word !== `--${name}`)
      } else {
        throw usageError(`invalid boolean value "${value}" for -${name}: parse error`)
      }
      continue
    }

    if (value !== undefined) {
      normalized.push(`--${name}=${value}`)
      continue
    }
    const next = args[index + 1]
    if (next === undefined) throw usageError(`flag needs an argument: -${name}`)
    normalized.push(`--${name}=${next}`)
    index += 1
  }
  return normalized
}

function splitFlag (arg: string): { name: string, value: string | undefined } {
  const body = arg.startsWith('--') ? arg.slice(2) : arg.slice(1)
  if (body.length === 0 || body.startsWith('-') || body.startsWith('=')) {
    throw usageError(`bad flag syntax: ${arg}`)
  }
  const equals = body.indexOf('=')
  if (equals < 0) return { name: body, value: undefined }
  return { name: body.slice(0, equals), value: body.slice(equals + 1) }
}

/**
 * Finds the command named by the leading words of argv (`kv get ...` → ['kv', 'get']): the
 * longest path that matches. Returns undefined when no leaf command matches, so the caller can
 * let commander print the group's help or its unknown-command error.
 */
export function matchCommandPath<T extends { readonly path: readonly string[] }> (
  argv: readonly string[],
  commands: readonly T[]
): { command: T, rest: string[] } | undefined {
  let best: T | undefined
  for (const command of commands) {
    if (command.path.length > argv.length) continue
    if (!command.path.every((word, index) => argv[index] === word)) continue
    if (best === undefined || command.path.length > best.path.length) best = command
  }
  if (best === undefined) return undefined
  return { command: best, rest: argv.slice(best.path.length) }
}
