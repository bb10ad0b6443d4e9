/**
 * `weft agent` command-line flags with Consul's syntax (Go's `flag` package, §14.3):
 * `-name value` or `-name=value`; booleans `-name` or `-name=false` (never `-name false`);
 * `--name` works too; flags end at the first non-flag argument or at `--`.
 *
 * parseAgentArgs only checks syntax (known flag, value present) and keeps every value as the
 * string the user typed; the builder converts and validates the values, so that every bad
 * value is reported at once, named as typed (`-bootstrap-expect`).
 *
 * Who calls it: `cmd/` (the `weft agent` command) passes the arguments after `agent`, prints
 * a FlagError's message and exits 2, or prints agentUsage() for `-h`/`-help`.
 */
import type { ConfigProblem } from './problems.js'
import { nearestName } from './keys.js'

export type FlagHandling =
  | { readonly kind: 'key', readonly path: string }
  | { readonly kind: 'dev' }
  | { readonly kind: 'configPath', readonly pathKind: 'file' | 'dir' }
  | { readonly kind: 'configFormat' }
  | { readonly kind: 'ignored' }
  | { readonly kind: 'unsupported', readonly message: string }

export interface FlagSpec {
  readonly name: string
  readonly isBool: boolean
  readonly handling: FlagHandling
  /** One line for agentUsage(); empty for ignored Consul flags. */
  readonly help: string
}

/** One flag as given; boolean flags without `=value` have the value "true". */
export interface RawFlag {
  readonly name: string
  /** As typed, without the value: `-http-port` or `--http-port`. */
  readonly spelled: string
  readonly value: string
}

export interface ConfigPathArg {
  readonly kind: 'file' | 'dir'
  readonly path: string
  readonly flag: string
}

export interface RawFlags {
  readonly kind: 'flags'
  /** Every flag, in command-line order (repeatable flags appear once per use). */
  readonly flags: readonly RawFlag[]
  /** `-config-file` and `-config-dir` values, in command-line order (the order they load). */
  readonly configPaths: readonly ConfigPathArg[]
  /** `-config-format=json`: read every file as JSON whatever its extension. */
  readonly configFormat: 'json' | null
}

export interface FlagError {
  readonly kind: 'error'
  readonly code: 'ERR_INVALID_INPUT'
  /** The offending flag as typed, or null for a stray argument. */
  readonly flag: string | null
  readonly message: string
}

export interface HelpRequest { readonly kind: 'help' }

const key = (name: string, path: string, help: string, isBool = false): FlagSpec =>
  ({ name, isBool, handling: { kind: 'key', path }, help })
const ignored = (name: string, isBool = false): FlagSpec => ({ name, isBool, handling: { kind: 'ignored' }, help: '' })

const HCL_MESSAGE = '-hcl is not supported: weft reads JSON config only; put the settings in a .json file and pass -config-file FILE'

const FLAG_LIST: readonly FlagSpec[] = [
  key('advertise', 'advertise_addr', 'Address other nodes use to reach this one (default: the bind address)'),
  key('bind', 'bind_addr', 'Cluster bind address for server RPC and gossip (default 0.0.0.0)'),
  key('bootstrap', 'bootstrap', 'Single server that elects itself; do not combine with -bootstrap-expect', true),
  key('bootstrap-expect', 'bootstrap_expect', 'Number of servers to wait for before the first election'),
  key('client', 'client_addr', 'Addresses for HTTP, DNS and gRPC, space-separated (default 127.0.0.1)'),
  { name: 'config-dir', isBool: false, handling: { kind: 'configPath', pathKind: 'dir' }, help: 'Directory of .json config files, read in lexical order (repeatable)' },
  { name: 'config-file', isBool: false, handling: { kind: 'configPath', pathKind: 'file' }, help: 'JSON config file (repeatable; later files win)' },
  { name: 'config-format', isBool: false, handling: { kind: 'configFormat' }, help: 'Read every config file as this format; only "json" is supported' },
  key('data-dir', 'data_dir', 'Directory for persistent state (required unless -dev)'),
  key('datacenter', 'datacenter', 'Datacenter name (default dc1)'),
  key('default-query-time', 'default_query_time', 'Blocking query wait when ?wait is absent (default 300s)'),
  { name: 'dev', isBool: true, handling: { kind: 'dev' }, help: 'Single in-memory server with Connect and the UI on 127.0.0.1' },
  key('disable-keyring-file', 'disable_keyring_file', 'Do not persist the gossip keyring', true),
  key('dns-port', 'ports.dns', 'DNS port (default 8600, -1 disables)'),
  key('encrypt', 'encrypt', 'Gossip encryption key: base64 of 16, 24 or 32 bytes'),
  key('grpc-port', 'ports.grpc', 'gRPC port (default -1, 8502 with -dev)'),
  { name: 'hcl', isBool: false, handling: { kind: 'unsupported', message: HCL_MESSAGE }, help: '' },
  key('http-port', 'ports.http', 'HTTP API port (default 8500, -1 disables)'),
  key('https-port', 'ports.https', 'HTTPS API port (default -1)'),
  key('join', 'start_join', 'Address to join once at start (legacy; repeatable)'),
  key('log-json', 'log_json', 'Log JSON lines', true),
  key('log-level', 'log_level', 'trace, debug, info, warn or err (default info)'),
  key('max-query-time', 'max_query_time', 'Longest blocking query wait (default 600s)'),
  key('node', 'node_name', 'Node name (default: the hostname)'),
  key('node-id', 'node_id', 'Node ID, a UUID (default: generated and kept in the data dir)'),
  key('node-meta', 'node_meta', 'Node metadata as key:value (repeatable)'),
  key('pid-file', 'pid_file', 'Write the process ID to this file'),
  key('raft-protocol', 'raft_protocol', 'Raft protocol version; only 3'),
  key('rejoin', 'rejoin_after_leave', 'Rejoin the cluster after a graceful leave', true),
  key('retry-interval', 'retry_interval', 'Time between join attempts (default 30s)'),
  key('retry-join', 'retry_join', 'Address to join, retried until it works (repeatable)'),
  key('retry-max', 'retry_max', 'Join attempts before giving up (default 0 = forever)'),
  key('serf-lan-port', 'ports.serf_lan', 'LAN gossip port (default 8301)'),
  key('serf-wan-port', 'ports.serf_wan', 'WAN gossip port (default 8302, -1 disables)'),
  key('server', 'server', 'Run as a server (Raft voter)', true),
  key('server-port', 'ports.server', 'Server RPC port (default 8300)'),
  key('ui', 'ui_config.enabled', 'Serve the web UI', true),
  ignored('advertise-wan'), ignored('alt-domain'), ignored('auto-reload-config', true),
  ignored('check_output_max_size'), ignored('disable-host-node-id', true), ignored('domain'),
  ignored('enable-local-script-checks', true), ignored('enable-script-checks', true), ignored('grpc-tls-port'),
  ignored('join-wan'), ignored('log-file'), ignored('log-rotate-bytes'), ignored('log-rotate-duration'),
  ignored('log-rotate-max-files'), ignored('primary-gateway'), ignored('protocol'), ignored('recursor'),
  ignored('retry-interval-wan'), ignored('retry-join-wan'), ignored('retry-max-wan'),
  ignored('serf-lan-allowed-cidrs'), ignored('serf-lan-bind'), ignored('serf-wan-allowed-cidrs'),
  ignored('serf-wan-bind'), ignored('syslog', true), ignored('ui-content-path'), ignored('ui-dir')
]

export const FLAGS: ReadonlyMap<string, FlagSpec> = new Map(FLAG_LIST.map((spec) => [spec.name, spec]))

interface ParseState {
  readonly flags: RawFlag[]
  readonly configPaths: ConfigPathArg[]
  configFormat: 'json' | null
}

/**
 * Parses `weft agent` arguments (without the leading `agent`). Returns the flags as typed, a
 * FlagError for a syntax problem (unknown flag, missing value, stray argument, -hcl), or a
 * HelpRequest for -h/-help.
 */
export function parseAgentArgs (argv: readonly string[]): RawFlags | FlagError | HelpRequest {
  const state: ParseState = { flags: [], configPaths: [], configFormat: null }
  let index = 0
  while (index < argv.length) {
    const arg = argv[index] ?? ''
    if (arg === '--') return strayArguments(argv.slice(index + 1), state, argv[index - 1])
    if (!arg.startsWith('-') || arg === '-') return strayArguments(argv.slice(index), state, argv[index - 1])
    const step = parseOne(arg, argv[index + 1], state)
    if (step.kind !== 'consumed') return step
    index += step.count
  }
  return { kind: 'flags', flags: state.flags, configPaths: state.configPaths, configFormat: state.configFormat }
}

type Step = { readonly kind: 'consumed', readonly count: number } | FlagError | HelpRequest

function parseOne (arg: string, next: string | undefined, state: ParseState): Step {
  const dashes = arg.startsWith('--') ? 2 : 1
  const body = arg.slice(dashes)
  if (body.startsWith('-') || body.startsWith('=')) return flagError(arg, `bad flag syntax: ${arg}`)
  const equals = body.indexOf('=')
  const name = equals === -1 ? body : body.slice(0, equals)
  const spelled = `${'-'.repeat(dashes)}${name}`
  if (name === 'h' || name === 'help') return { kind: 'help' }
  const spec = FLAGS.get(name)
  if (spec === undefined) return flagError(spelled, `flag provided but not defined: ${spelled}${suggestFlag(name)}`)
  if (spec.handling.kind === 'unsupported') return flagError(spelled, spec.handling.message)
  let value: string
  let count = 1
  if (equals !== -1) value = body.slice(equals + 1)
  else if (spec.isBool) value = 'true'
  else if (next === undefined) return flagError(spelled, `flag needs an argument: ${spelled}`)
  else { value = next; count = 2 }
  const problem = record(spec, { name, spelled, value }, state)
  return problem ?? { kind: 'consumed', count }
}

function record (spec: FlagSpec, flag: RawFlag, state: ParseState): FlagError | null {
  const handling = spec.handling
  if (handling.kind === 'configPath') {
    state.configPaths.push({ kind: handling.pathKind, path: flag.value, flag: flag.spelled })
  } else if (handling.kind === 'configFormat') {
    if (flag.value === 'hcl') return flagError(flag.spelled, `${flag.spelled}=hcl is not supported: weft reads JSON config only`)
    if (flag.value !== 'json') return flagError(flag.spelled, `${flag.spelled} must be "json", got ${JSON.stringify(flag.value)}`)
    state.configFormat = 'json'
  } else {
    state.flags.push(flag)
  }
  return null
}

function strayArguments (rest: readonly string[], state: ParseState, previous: string | undefined): RawFlags | FlagError {
  const first = rest[0]
  if (first === undefined) {
    return { kind: 'flags', flags: state.flags, configPaths: state.configPaths, configFormat: state.configFormat }
  }
  const lastFlag = state.flags.at(-1)
  const wasBool = lastFlag !== undefined && previous === lastFlag.spelled && FLAGS.get(lastFlag.name)?.isBool === true
  const hint = wasBool && /^(true|false)$/i.test(first)
    ? ` (boolean flags take their value with "=": ${lastFlag.spelled}=${first.toLowerCase()})`
    : ''
  return {
    kind: 'error',
    code: 'ERR_INVALID_INPUT',
    flag: null,
    message: `unexpected argument ${JSON.stringify(first)}: weft agent takes only flags${hint}`
  }
}

function flagError (flag: string, message: string): FlagError {
  return { kind: 'error', code: 'ERR_INVALID_INPUT', flag, message }
}

function suggestFlag (name: string): string {
  const candidates = [...FLAGS.values()].filter((spec) => spec.help !== '').map((spec) => spec.name)
  const nearest = nearestName(name, candidates)
  return nearest === null ? '' : ` (did you mean -${nearest}?)`
}

/** The flag list for `weft agent -help`. */
export function agentUsage (): string {
  const lines = ['Usage: weft agent [options]', '', 'Starts the weft agent. Options (Consul syntax: -name value or -name=value):', '']
  for (const spec of [...FLAGS.values()].filter((item) => item.help !== '')) {
    const valueHint = spec.isBool ? '' : ' <value>'
    lines.push(`  -${spec.name}${valueHint}`, `      ${spec.help}`)
  }
  lines.push('', 'Other Consul agent flags are accepted and ignored with a warning; -hcl is not supported.')
  return lines.join('\n')
}

/** Warnings for Consul flags weft accepts but ignores (named as typed). */
export function ignoredFlagWarnings (flags: readonly RawFlag[]): ConfigProblem[] {
  return flags
    .filter((flag) => FLAGS.get(flag.name)?.handling.kind === 'ignored')
    .map((flag) => ({ key: flag.spelled, source: 'command line', message: `${flag.spelled} is a Consul flag weft does not use; it is ignored` }))
}
