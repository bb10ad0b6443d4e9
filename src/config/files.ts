/**
 * Reading config files: `-config-file` and `-config-dir` arguments, in command-line order,
 * into parsed JSON objects. This is the only part of src/config that does I/O.
 *
 * Rules (Consul's, §14.1): a directory contributes its `*.json` files (not subdirectories) in
 * lexical order of their names; a `-config-file` or `-config-dir` that names the other kind
 * is loaded anyway. `.hcl` files are an error naming the file (weft has no HCL parser yet).
 * Without `-config-format=json`, other extensions in a directory are skipped with a warning
 * (as Consul), and a file named explicitly with another extension is an error (Consul skips
 * it with a warning, which too easily goes unseen). Every problem is
 * collected, so one run reports every unreadable or malformed file.
 *
 * Who calls it: src/config/load.ts (loadAgentConfig) or `cmd/` directly, before buildConfig.
 */
import { readdirSync, readFileSync, statSync, type Stats } from 'node:fs'
import { join } from 'node:path'
import type { ConfigPathArg } from './flags.js'
import type { ConfigProblem } from './problems.js'
import { isPlainObject } from './values.js'

export interface ConfigFile {
  readonly path: string
  readonly data: Readonly<Record<string, unknown>>
}

export interface LoadFilesResult {
  readonly files: readonly ConfigFile[]
  readonly errors: readonly ConfigProblem[]
  readonly warnings: readonly ConfigProblem[]
}

/** Config files larger than this are refused rather than read into memory. */
export const CONFIG_FILE_BYTES_MAX = 16 * 1024 * 1024

interface Collector {
  readonly files: ConfigFile[]
  readonly errors: ConfigProblem[]
  readonly warnings: ConfigProblem[]
  readonly format: 'json' | null
}

export function loadConfigFiles (paths: readonly ConfigPathArg[], options: { format: 'json' | null } = { format: null }): LoadFilesResult {
  const collector: Collector = { files: [], errors: [], warnings: [], format: options.format }
  for (const arg of paths) loadPathArg(arg, collector)
  return { files: collector.files, errors: collector.errors, warnings: collector.warnings }
}

function loadPathArg (arg: ConfigPathArg, collector: Collector): void {
  const stat = statOrProblem(arg.path, arg, collector)
  if (stat === null) return
  if (!stat.isDirectory()) {
    loadFile(arg.path, arg, collector)
    return
  }
  let names: string[]
  try {
    names = readdirSync(arg.path).sort()
  } catch (err) {
    collector.errors.push(fileProblem(arg, arg.path, `cannot be read: ${errorText(err)}`))
    return
  }
  for (const name of names) {
    const path = join(arg.path, name)
    const entry = statOrProblem(path, arg, collector)
    if (entry !== null && !entry.isDirectory()) loadFile(path, arg, collector)
  }
}

function statOrProblem (path: string, arg: ConfigPathArg, collector: Collector): Stats | null {
  try {
    return statSync(path)
  } catch (err) {
    const what = (err as { code?: unknown }).code === 'ENOENT' ? 'does not exist' : `cannot be read: ${errorText(err)}`
    collector.errors.push(fileProblem(arg, path, what))
    return null
  }
}

function loadFile (path: string, arg: ConfigPathArg, collector: Collector): void {
  const format = collector.format ?? formatOf(path)
  if (format === 'hcl') {
    collector.errors.push(fileProblem(arg, path, 'is an HCL file, and weft does not read HCL yet: ' +
      'write the same settings as JSON (same key names, e.g. {"server": true, "bootstrap_expect": 3}) in a .json file'))
    return
  }
  if (format === null && path === arg.path) {
    collector.errors.push(fileProblem(arg, path, 'is not a .json file: rename it to end in .json, or pass -config-format=json'))
    return
  }
  if (format === null) {
    collector.warnings.push(fileProblem(arg, path, 'was skipped: files in a config directory must end in .json (or pass -config-format=json)'))
    return
  }
  const parsed = readJsonObject(path)
  if (typeof parsed === 'string') collector.errors.push(fileProblem(arg, path, parsed))
  else collector.files.push({ path, data: parsed })
}

function formatOf (path: string): 'json' | 'hcl' | null {
  if (path.endsWith('.json')) return 'json'
  if (path.endsWith('.hcl')) return 'hcl'
  return null
}

/** The parsed top-level object, or a description of what is wrong with the file. */
function readJsonObject (path: string): Record<string, unknown> | string {
  let text: string
  try {
    const byteCount = statSync(path).size
    if (byteCount > CONFIG_FILE_BYTES_MAX) return `is ${byteCount} bytes; config files are limited to ${CONFIG_FILE_BYTES_MAX} bytes`
    text = readFileSync(path, 'utf8').replace(/^\uFEFF/, '')
  } catch (err) {
    return `cannot be read: ${errorText(err)}`
  }
  let data: unknown
  try {
    data = JSON.parse(text)
  } catch (err) {
    return `is not valid JSON${jsonErrorPosition(text, err)}: ${errorText(err)}`
  }
  return isPlainObject(data) ? data : 'must contain a JSON object ({ ... }) at the top level'
}

/** " at line L, column C" from V8's "... at position N" message, when it has one. */
function jsonErrorPosition (text: string, err: unknown): string {
  const match = /at position (\d+)/.exec(errorText(err))
  if (match === null) return ''
  const offset = Number(match[1])
  const before = text.slice(0, offset)
  const line = before.split('\n').length
  const column = offset - before.lastIndexOf('\n')
  return ` at line ${line}, column ${column}`
}

function fileProblem (arg: ConfigPathArg, path: string, rest: string): ConfigProblem {
  const where = path === arg.path ? `${arg.flag} ${path}` : `${path} (from ${arg.flag} ${arg.path})`
  return { key: arg.flag, source: path, message: `${where} ${rest}` }
}

function errorText (err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}
