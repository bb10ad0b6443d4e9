/**
 * buildConfig: merges the sources, validates once, and returns a deep-frozen Config or every
 * problem found. Pure: no I/O, no process.env, no clock; host facts come in as input.
 *
 * Merge order (Consul's builder, §14.1), later wins for single values:
 *   built-in defaults < -dev defaults < list flags (-retry-join, -join)
 *   < config files in the order given < all other flags.
 * Lists (`retry_join`, `start_join`, `services`, `checks`) accumulate instead; list flags go
 * first, as in Consul. Maps (`node_meta`, `connect.ca_config`, ...) overlay key by key.
 * Derived defaults come last: node_name from the hostname, primary_datacenter from
 * datacenter, the advertise address from bind_addr, leave_on_terminate from server.
 *
 * Validation happens in three passes, each collecting every problem: keys (unknown keys,
 * wrong shapes), values (each converted by its key's converter, reported with the key as
 * the user wrote it), then relations between values (checked here, in one place).
 *
 * Who calls it: src/config/load.ts (loadAgentConfig) or `cmd/` directly.
 */
import { assert } from '../util/assert.js'
import type { ConfigFile } from './files.js'
import { FLAGS, ignoredFlagWarnings, type RawFlag, type RawFlags } from './flags.js'
import { flattenSource, KEYS, type RawEntry } from './keys.js'
import {
  DEFAULT_ORIGIN, DEV_ORIGIN, HOST_ORIGIN, problem, problemAt, renderValue,
  type ConfigProblem, type Origin
} from './problems.js'
import { devMinimumLeafTtlMs, normalizeCaConfig, standardMinimumLeafTtlMs } from '../ca/config.js'
import {
  DEFAULT_SOURCE, DEV_SOURCE, RAFT_ELECTION_TICKS, RAFT_HEARTBEAT_TICKS, RAFT_TICK_MS_PER_MULTIPLIER,
  type AclConfig, type AclTokensConfig, type Config, type PortsConfig
} from './schema.js'
import { Settings } from './settings.js'
import * as v from './values.js'

/** Facts about the machine that defaults depend on; the CLI reads them (readHostFacts). */
export interface HostFacts {
  /** Default node name (Consul uses os.Hostname()). */
  readonly hostname: string
  /** Private IPv4 addresses of up interfaces: the advertise address when binding 0.0.0.0. */
  readonly privateIpv4Addresses: readonly string[]
}

export interface BuildInput {
  readonly flags: RawFlags
  /** Parsed files in load order (loadConfigFiles). */
  readonly files: readonly ConfigFile[]
  readonly host: HostFacts
  /**
   * The process environment, passed once by the CLI. Consul's agent takes no settings from
   * the environment and neither does weft (CONSUL_HTTP_ADDR and friends are for client
   * commands), so it is not read; it is part of the signature so that nothing below the CLI
   * ever needs process.env.
   */
  readonly env?: Readonly<Record<string, string | undefined>>
}

export type BuildResult =
  | { readonly ok: true, readonly config: Config, readonly warnings: readonly ConfigProblem[] }
  | { readonly ok: false, readonly errors: readonly ConfigProblem[], readonly warnings: readonly ConfigProblem[] }

interface Report {
  readonly errors: ConfigProblem[]
  readonly warnings: ConfigProblem[]
}

/** Consul's limit on node_meta pairs. */
export const NODE_META_ENTRIES_MAX = 64

export function buildConfig (input: BuildInput): BuildResult {
  const report: Report = { errors: [], warnings: [...ignoredFlagWarnings(input.flags.flags)] }
  const dev = readDevFlag(input.flags.flags, report)
  const settings = new Settings()
  for (const entry of collectEntries(input, dev, report)) {
    const converted = entry.spec.convert(entry.value, entry.from)
    if (converted.ok) {
      settings.merge(entry, converted.value)
    } else {
      settings.reject(entry.path)
      report.errors.push(conversionProblem(entry, converted))
    }
  }
  // Relations only make sense between values that converted; a bad value was reported above.
  const config = assemble(settings, { dev, host: input.host }, report)
  if (report.errors.length > 0) return { ok: false, errors: report.errors, warnings: report.warnings }
  // Cloned first: raw definitions and maps may share objects with the caller's parsed files,
  // which must not be frozen (or changed later under the agent) as a side effect.
  return { ok: true, config: deepFreeze(structuredClone(config)), warnings: report.warnings }
}

function readDevFlag (flags: readonly RawFlag[], report: Report): boolean {
  let dev = false
  for (const flag of flags.filter((item) => FLAGS.get(item.name)?.handling.kind === 'dev')) {
    const converted = v.bool(flag.value, 'flag')
    if (converted.ok) dev = converted.value === true
    else report.errors.push(problemAt({ kind: 'flag', flag: flag.spelled }, 'dev', `must be true or false, got ${JSON.stringify(flag.value)}`))
  }
  return dev
}

function collectEntries (input: BuildInput, dev: boolean, report: Report): RawEntry[] {
  const flagEntries = input.flags.flags.flatMap(entryFromFlag)
  const isList = (entry: RawEntry): boolean => entry.spec.merge === 'append'
  const layers: RawEntry[][] = [
    flatten(DEFAULT_SOURCE, () => DEFAULT_ORIGIN, report),
    dev ? flatten(DEV_SOURCE, () => DEV_ORIGIN, report) : [],
    flagEntries.filter(isList),
    ...input.files.map((file) => flatten(file.data, (key) => ({ kind: 'file', file: file.path, key }), report)),
    flagEntries.filter((entry) => !isList(entry))
  ]
  return layers.flat()
}

function flatten (data: Readonly<Record<string, unknown>>, originOf: (key: string) => Origin, report: Report): RawEntry[] {
  const result = flattenSource(data, originOf)
  report.errors.push(...result.errors)
  report.warnings.push(...result.warnings)
  return [...result.entries]
}

function entryFromFlag (flag: RawFlag): RawEntry[] {
  const handling = FLAGS.get(flag.name)?.handling
  if (handling?.kind !== 'key') return []
  const spec = KEYS.get(handling.path)
  assert(spec !== undefined, `flag -${flag.name} maps to unknown key ${handling.path}`)
  return [{ path: handling.path, value: flag.value, origin: { kind: 'flag', flag: flag.spelled }, from: 'flag', spec }]
}

function conversionProblem (entry: RawEntry, failure: { expected: string, detail?: string }): ConfigProblem {
  const received = renderValue(entry.value, { secret: entry.spec.secret === true })
  const detail = failure.detail === undefined ? '' : ` (${failure.detail})`
  return problemAt(entry.origin, entry.path, `must be ${failure.expected}, got ${received}${detail}`)
}

// ---- assembly and relations -----------------------------------------------------------------

interface Context {
  readonly dev: boolean
  readonly host: HostFacts
}

function assemble (s: Settings, context: Context, report: Report): Config {
  const server = s.bool('server')
  const datacenter = s.string('datacenter')
  const bindAddr = s.string('bind_addr')
  const clientAddrs = s.strings('client_addr')
  checkDataDir(s, context.dev, report)
  checkServerOnlySettings(s, server, report)
  checkCaConfig(s, context.dev, report)
  checkNodeMeta(s, report)
  const multiplier = s.number('performance.raft_multiplier')
  return {
    nodeName: resolveNodeName(s, context.host, report),
    ...optional('nodeId', s.optionalString('node_id')),
    nodeMeta: s.stringRecord('node_meta'),
    datacenter,
    primaryDatacenter: s.optionalString('primary_datacenter') ?? datacenter,
    dataDir: s.optionalString('data_dir') ?? null,
    dev: context.dev,
    server,
    ...resolveBootstrap(s, context.dev, report),
    bindAddr,
    advertiseAddr: resolveAdvertiseAddr(s, context.host, report),
    clientAddrs,
    ports: resolvePorts(s, { bindAddr, clientAddrs }, report),
    retryJoin: s.strings('retry_join'),
    retryIntervalMs: s.number('retry_interval'),
    retryMaxAttempts: s.number('retry_max'),
    startJoin: s.strings('start_join'),
    rejoinAfterLeave: s.bool('rejoin_after_leave'),
    leaveOnTerminate: s.has('leave_on_terminate') ? s.bool('leave_on_terminate') : !server,
    skipLeaveOnInterrupt: s.has('skip_leave_on_interrupt') ? s.bool('skip_leave_on_interrupt') : server,
    logLevel: s.string('log_level') as Config['logLevel'],
    logJson: s.bool('log_json'),
    uiEnabled: s.bool('ui_config.enabled'),
    ...optional('pidFile', s.optionalString('pid_file')),
    ...optional('encrypt', s.optionalString('encrypt')),
    encryptVerifyIncoming: s.bool('encrypt_verify_incoming'),
    encryptVerifyOutgoing: s.bool('encrypt_verify_outgoing'),
    disableKeyringFile: s.bool('disable_keyring_file'),
    defaultQueryTimeMs: s.number('default_query_time'),
    maxQueryTimeMs: s.number('max_query_time'),
    connect: { enabled: s.bool('connect.enabled'), caProvider: 'consul', caConfig: s.record('connect.ca_config') },
    acl: resolveAcl(s),
    limits: {
      httpMaxConnsPerClient: s.number('limits.http_max_conns_per_client'),
      kvMaxValueBytes: s.number('limits.kv_max_value_size'),
      txnMaxRequestBytes: s.number('limits.txn_max_req_len')
    },
    performance: { raftMultiplier: multiplier },
    raft: { tickMs: RAFT_TICK_MS_PER_MULTIPLIER * multiplier, electionTicks: RAFT_ELECTION_TICKS, heartbeatTicks: RAFT_HEARTBEAT_TICKS },
    httpConfig: { responseHeaders: s.stringRecord('http_config.response_headers') },
    services: s.definitions('services'),
    checks: s.definitions('checks'),
    checkUpdateIntervalMs: s.number('check_update_interval'), // Agent services (#5/#6)
    antiEntropyIntervalMs: s.number('anti_entropy_interval')
  }
}

/** `{ key: value }`, or `{}` when value is undefined (for exactOptionalPropertyTypes). */
function optional<K extends string, T> (key: K, value: T | undefined): { [P in K]?: T } {
  return value === undefined ? {} : ({ [key]: value } as { [P in K]?: T })
}

function resolveAcl (s: Settings): AclConfig {
  const tokens: AclTokensConfig = {
    ...optional('initialManagement', nonEmpty(s.optionalString('acl.tokens.initial_management'))),
    ...optional('default', nonEmpty(s.optionalString('acl.tokens.default'))),
    ...optional('agent', nonEmpty(s.optionalString('acl.tokens.agent'))),
    ...optional('agentRecovery', nonEmpty(s.optionalString('acl.tokens.agent_recovery'))),
    ...optional('replication', nonEmpty(s.optionalString('acl.tokens.replication')))
  }
  return {
    enabled: s.bool('acl.enabled'),
    defaultPolicy: s.string('acl.default_policy') as AclConfig['defaultPolicy'],
    downPolicy: s.string('acl.down_policy') as AclConfig['downPolicy'],
    enableTokenPersistence: s.bool('acl.enable_token_persistence'),
    enableKeyListPolicy: s.bool('acl.enable_key_list_policy'),
    tokenTtlMs: s.number('acl.token_ttl'),
    policyTtlMs: s.number('acl.policy_ttl'),
    roleTtlMs: s.number('acl.role_ttl'),
    tokens
  }
}

/** An empty token means "not set" (Consul configs often carry `"default": ""`). */
function nonEmpty (value: string | undefined): string | undefined {
  return value === '' ? undefined : value
}

function resolveNodeName (s: Settings, host: HostFacts, report: Report): string {
  if (s.wasRejected('node_name')) return ''
  const fromUser = s.has('node_name')
  const name = fromUser ? s.string('node_name') : host.hostname
  const origin = fromUser ? s.origin('node_name') : HOST_ORIGIN
  if (!fromUser) {
    const failure = v.nodeName(name)
    if (failure !== null) {
      report.errors.push(problemAt(origin, 'node_name', `must be ${failure.expected}, got ${JSON.stringify(name)}`))
      return name
    }
  }
  if (!v.isDnsLabel(name)) {
    report.warnings.push(problemAt(origin, 'node_name', `is ${JSON.stringify(name)}, which is not a DNS label ` +
      '(letters, digits and "-", at most 63): the node will not be discoverable via DNS'))
  }
  return name
}

/**
 * Consul's rules: bootstrap and bootstrap_expect need server mode and exclude each other,
 * bootstrap_expect > 1 is refused in -dev, and bootstrap_expect = 1 means bootstrap. A -dev
 * server bootstraps itself.
 */
function resolveBootstrap (s: Settings, dev: boolean, report: Report): { bootstrap: boolean, bootstrapExpect: number } {
  const server = s.bool('server')
  const expect = s.number('bootstrap_expect')
  const bootstrap = s.bool('bootstrap')
  const needsServer = `, but ${s.describe('server')} is false: set "server": true in a config file or pass -server`
  if (!server && expect > 0) report.errors.push(relation(s, 'bootstrap_expect', `(${expect}) needs server mode${needsServer}`))
  if (!server && bootstrap) report.errors.push(relation(s, 'bootstrap', `(true) needs server mode${needsServer}`))
  if (!server) return { bootstrap: false, bootstrapExpect: 0 }
  if (dev && expect > 1) {
    report.errors.push(relation(s, 'bootstrap_expect', `(${expect}) is not allowed with -dev: a dev agent is a single server that elects itself`))
  } else if (bootstrap && expect > 1) {
    report.errors.push(relation(s, 'bootstrap', `(true) and ${s.describe('bootstrap_expect')} (${expect}) are mutually exclusive: ` +
      'use bootstrap_expect for a cluster of several servers, or bootstrap alone for a single server'))
  }
  warnAboutBootstrap(s, { expect, bootstrap, dev }, report)
  const selfElects = bootstrap || expect === 1 || (dev && expect === 0)
  return { bootstrap: selfElects, bootstrapExpect: selfElects ? 0 : expect }
}

function warnAboutBootstrap (s: Settings, state: { expect: number, bootstrap: boolean, dev: boolean }, report: Report): void {
  const describe = s.describe('bootstrap_expect')
  if (state.expect === 1) {
    report.warnings.push(relation(s, 'bootstrap_expect', '(1) is the same as "bootstrap": true: this server elects itself'))
  } else if (state.expect === 2) {
    report.warnings.push(problem(s.origin('bootstrap_expect'), 'bootstrap_expect', `${describe} (2): a cluster of 2 servers has no failure tolerance`))
  } else if (state.expect > 2 && state.expect % 2 === 0) {
    report.warnings.push(problem(s.origin('bootstrap_expect'), 'bootstrap_expect',
      `${describe} (${state.expect}) is even: an odd number of servers tolerates the same failures with fewer machines`))
  }
  if (state.bootstrap && state.expect === 0 && !state.dev) {
    report.warnings.push(relation(s, 'bootstrap', '(true): this server elects itself; do not enable it on more than one server'))
  }
}

/** A problem about `path` whose message starts with the key as the user wrote it. */
function relation (s: Settings, path: string, rest: string): ConfigProblem {
  return problemAt(s.origin(path), path, rest)
}

function checkDataDir (s: Settings, dev: boolean, report: Report): void {
  if (dev || s.has('data_dir') || s.wasRejected('data_dir')) return
  report.errors.push(problem(DEFAULT_ORIGIN, 'data_dir',
    'data_dir is required unless -dev is given: set "data_dir" in a config file or pass -data-dir DIR'))
}

/** `connect.ca_config` is checked at start-up with the CA's own rules (src/ca/config.ts), so a bad TTL stops the agent. */
function checkCaConfig (s: Settings, dev: boolean, report: Report): void {
  if (!s.isUserSet('connect.ca_config')) return
  try {
    normalizeCaConfig(s.record('connect.ca_config'), { minimumLeafTtlMs: dev ? devMinimumLeafTtlMs : standardMinimumLeafTtlMs })
  } catch (err) {
    report.errors.push(relation(s, 'connect.ca_config', `is not a valid CA configuration: ${(err as Error).message}`))
  }
}

const SERVER_ONLY_PATHS = ['connect.ca_provider', 'connect.ca_config', 'acl.tokens.initial_management']

/** Consul ignores these on clients; weft does too, but says so. */
function checkServerOnlySettings (s: Settings, server: boolean, report: Report): void {
  if (server) return
  for (const path of SERVER_ONLY_PATHS.filter((item) => s.isUserSet(item))) {
    report.warnings.push(relation(s, path, `has no effect on a client agent (${s.describe('server')} is false)`))
  }
}

function checkNodeMeta (s: Settings, report: Report): void {
  const count = Object.keys(s.stringRecord('node_meta')).length
  if (count <= NODE_META_ENTRIES_MAX) return
  report.errors.push(relation(s, 'node_meta', `has ${count} entries; at most ${NODE_META_ENTRIES_MAX} are allowed`))
}

/**
 * Consul's rule: binding 0.0.0.0 advertises the machine's only private IPv4 address, and it
 * is an error when there is none or more than one.
 */
function resolveAdvertiseAddr (s: Settings, host: HostFacts, report: Report): string {
  const bindAddr = s.string('bind_addr')
  const advertiseAddr = s.optionalString('advertise_addr')
  if (advertiseAddr !== undefined) return advertiseAddr
  if (!v.isAnyAddress(bindAddr) || s.wasRejected('advertise_addr') || s.wasRejected('bind_addr')) return bindAddr
  const fix = 'set advertise_addr (-advertise) or bind_addr (-bind) to the address other nodes should use'
  const candidates = host.privateIpv4Addresses
  const only = candidates[0]
  if (bindAddr === '0.0.0.0' && candidates.length === 1 && only !== undefined) return only
  const found = bindAddr !== '0.0.0.0'
    ? 'weft does not detect an IPv6 address to advertise'
    : candidates.length === 0
      ? 'no private IPv4 address was found to advertise'
      : `several private IPv4 addresses were found (${candidates.join(', ')})`
  report.errors.push(relation(s, 'bind_addr', `is ${bindAddr} and ${found}: ${fix}`))
  return bindAddr
}

// ---- ports ------------------------------------------------------------------------------------

const CLIENT_LISTENERS = ['ports.http', 'ports.https', 'ports.grpc', 'ports.dns']
const CLUSTER_LISTENERS = ['ports.server', 'ports.serf_lan', 'ports.serf_wan']

function resolvePorts (s: Settings, addresses: { bindAddr: string, clientAddrs: readonly string[] }, report: Report): PortsConfig {
  checkPortRange(s, 'sidecar', report)
  checkPortRange(s, 'expose', report)
  checkPortRange(s, 'proxy', report) // Agent services (#5/#6)
  const listeners = [
    ...CLIENT_LISTENERS.map((path) => ({ path, port: s.number(path), addresses: addresses.clientAddrs })),
    ...CLUSTER_LISTENERS.map((path) => ({ path, port: s.number(path), addresses: [addresses.bindAddr] }))
  ].filter((listener) => listener.port > 0)
  checkDistinctPorts(s, listeners, report)
  return {
    http: s.number('ports.http'),
    https: s.number('ports.https'),
    grpc: s.number('ports.grpc'),
    dns: s.number('ports.dns'),
    server: s.number('ports.server'),
    serfLan: s.number('ports.serf_lan'),
    serfWan: s.number('ports.serf_wan'),
    sidecarMinPort: s.number('ports.sidecar_min_port'),
    sidecarMaxPort: s.number('ports.sidecar_max_port'),
    exposeMinPort: s.number('ports.expose_min_port'),
    exposeMaxPort: s.number('ports.expose_max_port'),
    proxyMinPort: s.number('ports.proxy_min_port'), // Agent services (#5/#6)
    proxyMaxPort: s.number('ports.proxy_max_port')
  }
}

function checkPortRange (s: Settings, name: 'sidecar' | 'expose' | 'proxy', report: Report): void {
  const minPath = `ports.${name}_min_port`
  const maxPath = `ports.${name}_max_port`
  const min = s.number(minPath)
  const max = s.number(maxPath)
  const both = `${s.describe(minPath)} (${min}) and ${s.describe(maxPath)} (${max})`
  const blame = s.isUserSet(minPath) ? minPath : maxPath
  if ((min === 0) !== (max === 0)) {
    report.errors.push(problem(s.origin(blame), blame, `${both} must both be 0 (${name} port allocation off) or both be set`))
  } else if (min > max) {
    report.errors.push(problem(s.origin(blame), blame,
      `${s.describe(minPath)} (${min}) must be <= ${s.describe(maxPath)} (${max}); to turn ${name} port allocation off, set both to 0`))
  }
}

interface Listener {
  readonly path: string
  readonly port: number
  readonly addresses: readonly string[]
}

function checkDistinctPorts (s: Settings, listeners: readonly Listener[], report: Report): void {
  listeners.forEach((first, index) => {
    for (const second of listeners.slice(index + 1)) {
      if (first.port !== second.port) continue
      const shared = sharedAddress(first.addresses, second.addresses)
      if (shared === null) continue
      const blame = s.isUserSet(second.path) ? second.path : first.path
      report.errors.push(problem(s.origin(blame), blame, `${s.describe(first.path)} and ${s.describe(second.path)} ` +
        `are both ${first.port} on ${shared}: listeners on the same address need distinct ports`))
    }
  })
}

/** An address both lists listen on (a wildcard address overlaps every address), or null. */
function sharedAddress (first: readonly string[], second: readonly string[]): string | null {
  for (const a of first) {
    for (const b of second) {
      if (a === b || v.isAnyAddress(b)) return a
      if (v.isAnyAddress(a)) return b
    }
  }
  return null
}

// ---- freezing ---------------------------------------------------------------------------------

/** Freezes value and everything reachable from it; returns value. */
export function deepFreeze<T> (value: T): T {
  if (typeof value !== 'object' || value === null || Object.isFrozen(value)) return value
  for (const child of Object.values(value)) deepFreeze(child)
  return Object.freeze(value)
}
