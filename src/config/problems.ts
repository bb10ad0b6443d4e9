/**
 * Configuration problems and where a value came from.
 *
 * Every value the loader handles carries an `Origin`, so that a message can name the key the
 * way the user wrote it: `bootstrap_expect in /etc/weft/server.json`, `-bootstrap-expect`, or
 * `ports.grpc (set by -dev)`. Messages follow the house rule for bad input: the key, the value
 * received and what was expected. Secrets (gossip key, ACL tokens) are never echoed.
 *
 * Who calls it: the flag parser, the file loader and the builder create problems; the CLI
 * prints `formatProblems(errors)` and exits with code 2, and logs warnings.
 */

export type Origin =
  | { readonly kind: 'default' }
  | { readonly kind: 'dev' }
  | { readonly kind: 'host' }
  | { readonly kind: 'file', readonly file: string, readonly key: string }
  | { readonly kind: 'flag', readonly flag: string }

export interface ConfigProblem {
  /** The key as the user wrote it (`bootstrap_expect`, `acl.tokens.master`, `-http-port`). */
  readonly key: string
  /** A file path, or `command line`, `defaults`, `-dev defaults`, `hostname`. */
  readonly source: string
  /** One complete sentence, starting with where the value came from. */
  readonly message: string
}

export const DEFAULT_ORIGIN: Origin = { kind: 'default' }
export const DEV_ORIGIN: Origin = { kind: 'dev' }
export const HOST_ORIGIN: Origin = { kind: 'host' }

/** How a message refers to the value at `path` that came from `origin`. */
export function describeOrigin (origin: Origin, path: string): string {
  switch (origin.kind) {
    case 'default': return `${path} (default)`
    case 'dev': return `${path} (set by -dev)`
    case 'host': return `${path} (taken from the hostname; set node_name or pass -node)`
    case 'file': return `${origin.key} in ${origin.file}`
    case 'flag': return origin.flag
  }
}

function keyOf (origin: Origin, path: string): string {
  if (origin.kind === 'file') return origin.key
  if (origin.kind === 'flag') return origin.flag
  return path
}

function sourceOf (origin: Origin): string {
  switch (origin.kind) {
    case 'default': return 'defaults'
    case 'dev': return '-dev defaults'
    case 'host': return 'hostname'
    case 'file': return origin.file
    case 'flag': return 'command line'
  }
}

/** A problem whose message starts with the described key: `${key in file} ${rest}`. */
export function problemAt (origin: Origin, path: string, rest: string): ConfigProblem {
  return { key: keyOf(origin, path), source: sourceOf(origin), message: `${describeOrigin(origin, path)} ${rest}` }
}

/** A problem with a message that does not start with the key (relations, file errors). */
export function problem (origin: Origin, path: string, message: string): ConfigProblem {
  return { key: keyOf(origin, path), source: sourceOf(origin), message }
}

const RENDERED_CHARS_MAX = 80

/** A received value as it appears in a message: JSON, shortened; secrets by length only. */
export function renderValue (value: unknown, options: { secret: boolean }): string {
  if (options.secret) {
    return typeof value === 'string' ? `a value of ${value.length} characters` : `a ${jsonTypeName(value)}`
  }
  const text = value === undefined ? 'nothing' : JSON.stringify(value)
  return text.length <= RENDERED_CHARS_MAX ? text : `${text.slice(0, RENDERED_CHARS_MAX)}...`
}

export function jsonTypeName (value: unknown): string {
  if (value === null) return 'null'
  if (Array.isArray(value)) return 'array'
  return typeof value === 'object' ? 'object' : typeof value
}

/**
 * The text the CLI prints (to stderr) before exiting with code 2: a heading with the count,
 * then one problem per line, in the order found (files, then flags, then relations).
 */
export function formatProblems (problems: readonly ConfigProblem[]): string {
  const count = problems.length
  const heading = `==> Invalid agent configuration (${count} ${count === 1 ? 'problem' : 'problems'}):`
  return [heading, ...problems.map((item) => `    * ${item.message}`)].join('\n')
}
