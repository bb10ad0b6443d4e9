/**
 * The config-file key table (Consul's JSON names, §14.2) and the walk that turns one parsed
 * source (a file, or the built-in defaults) into flat entries: `ports.http = 8500` with where
 * it came from. Conversion and merging happen later, in the builder.
 *
 * Rules, as Consul:
 * - a key that is neither known nor a Consul key weft ignores is an error (`invalid config
 *   key` in Consul), with a "did you mean" hint;
 * - Consul keys weft does not use are accepted with a warning (or silently, when the setting
 *   means nothing for weft, like `disable_update_check`), so existing Consul configs load;
 * - legacy spellings (`ui`, `acl.tokens.master`, pre-1.4 `acl_*`) are accepted with a
 *   deprecation warning and merged into the modern key; within one source the modern key wins;
 * - lists (`retry_join`, `start_join`, `services`, `checks`) accumulate across sources, maps
 *   (`node_meta`, `connect.ca_config`, `http_config.response_headers`) overlay key by key, and
 *   everything else is replaced by later sources.
 *
 * Who calls it: src/config/build.ts (flattenSource, KEYS) and src/config/flags.ts (KEYS).
 */
import { problemAt, renderValue, type ConfigProblem, type Origin } from './problems.js'
import { RAFT_MULTIPLIER_MAX } from './schema.js'
import * as v from './values.js'

export type MergeRule = 'replace' | 'append' | 'appendSourced' | 'overlay'

export interface KeySpec {
  readonly convert: v.Converter
  readonly merge: MergeRule
  /** Never echo the value in messages. */
  readonly secret?: boolean
  /** Merge into this key instead (legacy spellings, `service` into `services`). */
  readonly target?: string
  /** Deprecated spelling: warn and name the replacement. */
  readonly deprecated?: boolean
  /** A legacy key that also sets another key (pre-1.4 `acl_datacenter` enabled ACLs). */
  readonly implies?: { readonly path: string, readonly value: unknown }
}

export interface RawEntry {
  /** The key the value merges into, e.g. `acl.tokens.initial_management`. */
  readonly path: string
  readonly value: unknown
  readonly origin: Origin
  readonly from: v.ValueFrom
  readonly spec: KeySpec
}

const KV_BYTES_MAX = 64 * 1024 * 1024

const replace = (convert: v.Converter, extra: Partial<KeySpec> = {}): KeySpec => ({ convert, merge: 'replace', ...extra })
const joinList = v.stringList(v.text(v.joinAddress), 'addresses')
const datacenter = v.text(v.datacenterName, (value) => value.toLowerCase())
const token = v.text(() => null)
const logLevel = v.oneOf(['trace', 'debug', 'info', 'warn', 'error'], {
  aliases: { err: 'error', warning: 'warn' },
  expected: 'one of "TRACE", "DEBUG", "INFO", "WARN", "ERR" (any case)'
})
const positiveDuration = v.duration({ minMs: Number.MIN_VALUE })
const disablablePort = v.port({ disable: true })
const rangePort = v.integer({ min: 0, max: 65_535 })

/** Objects whose members are keys in their own right (walked, not taken as one value). */
export const STRUCT_KEYS: ReadonlySet<string> = new Set([
  'ports', 'connect', 'acl', 'acl.tokens', 'limits', 'performance', 'ui_config', 'http_config'
])

export const KEYS: ReadonlyMap<string, KeySpec> = new Map<string, KeySpec>([
  ['server', replace(v.bool)],
  ['bootstrap', replace(v.bool)],
  ['bootstrap_expect', replace(v.integer({ min: 0 }))],
  ['datacenter', replace(datacenter)],
  ['primary_datacenter', replace(datacenter)],
  ['node_name', replace(v.text(v.nodeName))],
  ['node_id', replace(v.text(v.uuid, (value) => value.toLowerCase()))],
  ['node_meta', { convert: v.stringMap(v.nodeMetaPair), merge: 'overlay' }],
  ['data_dir', replace(v.anyString())],
  ['pid_file', replace(v.anyString())],
  ['bind_addr', replace(v.ipAddress({ any: true }))],
  ['advertise_addr', replace(v.ipAddress({ any: false }))],
  ['client_addr', replace(v.clientAddresses)],
  ['retry_join', { convert: joinList, merge: 'append' }],
  ['retry_interval', replace(positiveDuration)],
  ['retry_max', replace(v.integer({ min: 0 }))],
  ['start_join', { convert: joinList, merge: 'append' }],
  ['rejoin_after_leave', replace(v.bool)],
  ['leave_on_terminate', replace(v.bool)],
  ['skip_leave_on_interrupt', replace(v.bool)],
  ['log_level', replace(logLevel)],
  ['log_json', replace(v.bool)],
  ['encrypt', replace(v.text(v.gossipKey), { secret: true })],
  ['encrypt_verify_incoming', replace(v.bool)],
  ['encrypt_verify_outgoing', replace(v.bool)],
  ['disable_keyring_file', replace(v.bool)],
  ['default_query_time', replace(positiveDuration)],
  ['max_query_time', replace(positiveDuration)],
  ['raft_protocol', replace(v.integer({ min: 3, max: 3 }))],
  ['ui', replace(v.bool, { target: 'ui_config.enabled', deprecated: true })],
  ['ui_config.enabled', replace(v.bool)],
  ['ports.http', replace(disablablePort)],
  ['ports.https', replace(disablablePort)],
  ['ports.grpc', replace(disablablePort)],
  ['ports.dns', replace(disablablePort)],
  ['ports.server', replace(v.port({ disable: false }))],
  ['ports.serf_lan', replace(v.port({ disable: false }))],
  ['ports.serf_wan', replace(disablablePort)],
  ['ports.sidecar_min_port', replace(rangePort)],
  ['ports.sidecar_max_port', replace(rangePort)],
  ['ports.expose_min_port', replace(rangePort)],
  ['ports.expose_max_port', replace(rangePort)],
  ['ports.proxy_min_port', replace(rangePort)], // Agent services (#5/#6)
  ['ports.proxy_max_port', replace(rangePort)],
  ['check_update_interval', replace(v.duration({ minMs: 0 }))],
  ['anti_entropy_interval', replace(v.duration({ minMs: 100 }))],
  ['connect.enabled', replace(v.bool)],
  ['connect.ca_provider', replace(v.oneOf(['consul'], { expected: '"consul" (weft has only the built-in CA provider)' }))],
  ['connect.ca_config', { convert: v.object, merge: 'overlay' }],
  ['acl.enabled', replace(v.bool)],
  ['acl.default_policy', replace(v.oneOf(['allow', 'deny']))],
  ['acl.down_policy', replace(v.oneOf(['allow', 'deny', 'extend-cache', 'async-cache']))],
  ['acl.enable_token_persistence', replace(v.bool)],
  ['acl.enable_key_list_policy', replace(v.bool)],
  ['acl.token_ttl', replace(positiveDuration)],
  ['acl.policy_ttl', replace(positiveDuration)],
  ['acl.role_ttl', replace(positiveDuration)],
  ['acl.tokens.initial_management', replace(token, { secret: true })],
  ['acl.tokens.default', replace(token, { secret: true })],
  ['acl.tokens.agent', replace(token, { secret: true })],
  ['acl.tokens.agent_recovery', replace(token, { secret: true })],
  ['acl.tokens.replication', replace(token, { secret: true })],
  ['acl.tokens.master', replace(token, { secret: true, target: 'acl.tokens.initial_management', deprecated: true })],
  ['acl.tokens.agent_master', replace(token, { secret: true, target: 'acl.tokens.agent_recovery', deprecated: true })],
  ['acl_datacenter', replace(datacenter, { target: 'primary_datacenter', deprecated: true, implies: { path: 'acl.enabled', value: true } })],
  ['acl_default_policy', replace(v.oneOf(['allow', 'deny']), { target: 'acl.default_policy', deprecated: true })],
  ['acl_down_policy', replace(v.oneOf(['allow', 'deny', 'extend-cache', 'async-cache']), { target: 'acl.down_policy', deprecated: true })],
  ['acl_ttl', replace(positiveDuration, { target: 'acl.token_ttl', deprecated: true })],
  ['acl_master_token', replace(token, { secret: true, target: 'acl.tokens.initial_management', deprecated: true })],
  ['acl_token', replace(token, { secret: true, target: 'acl.tokens.default', deprecated: true })],
  ['acl_agent_token', replace(token, { secret: true, target: 'acl.tokens.agent', deprecated: true })],
  ['acl_agent_master_token', replace(token, { secret: true, target: 'acl.tokens.agent_recovery', deprecated: true })],
  ['limits.http_max_conns_per_client', replace(v.integer({ min: 0 }))],
  ['limits.kv_max_value_size', replace(v.integer({ min: 1, max: KV_BYTES_MAX }))],
  ['limits.txn_max_req_len', replace(v.integer({ min: 1, max: KV_BYTES_MAX }))],
  ['performance.raft_multiplier', replace(v.integer({ min: 1, max: RAFT_MULTIPLIER_MAX }))],
  ['http_config.response_headers', { convert: v.stringMap(v.headerName), merge: 'overlay' }],
  ['service', { convert: v.definitions('one'), merge: 'appendSourced', target: 'services' }],
  ['services', { convert: v.definitions('list'), merge: 'appendSourced' }],
  ['check', { convert: v.definitions('one'), merge: 'appendSourced', target: 'checks' }],
  ['checks', { convert: v.definitions('list'), merge: 'appendSourced' }]
])

/** Consul settings that mean nothing for weft: accepted without a word. */
const SILENT_KEYS: ReadonlySet<string> = new Set([
  'disable_update_check', 'disable_anonymous_signature', 'acl_enforce_version_8'
])

/** Consul settings weft accepts but does not act on (yet): accepted with a warning. */
const IGNORED_KEYS: ReadonlySet<string> = new Set([
  'advertise_addr_wan', 'advertise_addr_ipv4', 'advertise_addr_ipv6', 'advertise_addr_wan_ipv4',
  'advertise_addr_wan_ipv6', 'serf_lan', 'serf_wan', 'serf_lan_allowed_cidrs', 'serf_wan_allowed_cidrs',
  'addresses', 'translate_wan_addrs', 'tagged_addresses', 'retry_join_wan', 'retry_interval_wan',
  'retry_max_wan', 'start_join_wan', 'verify_incoming', 'verify_incoming_rpc', 'verify_incoming_https',
  'verify_outgoing', 'verify_server_hostname', 'ca_file', 'ca_path', 'cert_file', 'key_file', 'server_name',
  'tls_min_version', 'tls_cipher_suites', 'tls_prefer_server_cipher_suites', 'tls', 'auto_encrypt',
  'auto_config', 'log_file', 'log_rotate_bytes', 'log_rotate_duration', 'log_rotate_max_files',
  'enable_syslog', 'syslog_facility', 'enable_script_checks', 'enable_local_script_checks',
  'enable_debug', 'enable_central_service_config', 'domain', 'alt_domain', 'recursors', 'dns_config',
  'telemetry', 'discovery_max_stale', 'disable_remote_exec', 'disable_host_node_id', 'disable_coordinates',
  'autopilot', 'reconnect_timeout', 'reconnect_timeout_wan', 'advertise_reconnect_timeout', 'config_entries',
  'watches', 'peering', 'segment', 'segments', 'rpc', 'raft_snapshot_threshold', 'raft_snapshot_interval',
  'raft_trailing_logs', 'raft_boltdb', 'raft_logstore', 'session_ttl_min',
  'non_voting_server', 'read_replica', 'protocol', 'cache', 'audit', 'unix_sockets', 'use_streaming_backend',
  'xds', 'locality', 'enable_acl_replication', 'acl_replication_token', 'ui_dir', 'ui_content_path',
  'ports.grpc_tls',
  'connect.proxy', 'connect.proxy_defaults', 'connect.enable_mesh_gateway_wan_federation',
  'connect.enable_serverless_plugin', 'acl.token_replication', 'acl.enable_token_replication',
  'ui_config.dir', 'ui_config.content_path', 'ui_config.metrics_provider', 'ui_config.metrics_provider_files',
  'ui_config.metrics_provider_options_json', 'ui_config.metrics_proxy', 'ui_config.dashboard_url_templates',
  'http_config.use_cache', 'http_config.allow_write_http_from', 'http_config.block_endpoints',
  'http_config.max_header_bytes', 'limits.rpc_rate', 'limits.rpc_max_burst', 'limits.rpc_max_conns_per_client',
  'limits.rpc_handshake_timeout', 'limits.rpc_client_timeout', 'limits.https_handshake_timeout',
  'limits.request_limits', 'performance.leave_drain_time', 'performance.rpc_hold_timeout',
  'performance.grpc_keepalive_interval', 'performance.grpc_keepalive_timeout'
])

export interface FlattenResult {
  readonly entries: readonly RawEntry[]
  readonly errors: readonly ConfigProblem[]
  readonly warnings: readonly ConfigProblem[]
}

/**
 * Flattens one source into entries, in the order they merge: legacy spellings first, so the
 * modern key wins when a source has both. `originOf(key)` says where the source came from.
 */
export function flattenSource (data: Readonly<Record<string, unknown>>, originOf: (key: string) => Origin): FlattenResult {
  const legacy: RawEntry[] = []
  const modern: RawEntry[] = []
  const errors: ConfigProblem[] = []
  const warnings: ConfigProblem[] = []
  const visit = (object: Readonly<Record<string, unknown>>, prefix: string): void => {
    for (const [name, value] of Object.entries(object)) {
      const key = prefix === '' ? name : `${prefix}.${name}`
      const origin = originOf(key)
      const spec = KEYS.get(key)
      if (STRUCT_KEYS.has(key)) {
        if (v.isPlainObject(value)) visit(value, key)
        else errors.push(problemAt(origin, key, `must be an object, got ${renderValue(value, { secret: false })}`))
      } else if (spec !== undefined) {
        const target = spec.target ?? key
        if (spec.deprecated === true) warnings.push(problemAt(origin, key, `is deprecated; use ${target} instead`))
        const list = spec.target === undefined || spec.merge !== 'replace' ? modern : legacy
        list.push({ path: target, value, origin, from: 'file', spec })
        if (spec.implies !== undefined) legacy.push(impliedEntry(spec.implies, origin))
      } else if (IGNORED_KEYS.has(key)) {
        warnings.push(problemAt(origin, key, 'is a Consul setting weft does not use; it is ignored'))
      } else if (!SILENT_KEYS.has(key)) {
        errors.push(problemAt(origin, key, `is not a known config key${suggestKey(key)}`))
      }
    }
  }
  visit(data, '')
  return { entries: [...legacy, ...modern], errors, warnings }
}

function impliedEntry (implied: { path: string, value: unknown }, origin: Origin): RawEntry {
  const spec = KEYS.get(implied.path)
  if (spec === undefined) throw new Error(`implied key ${implied.path} is not in KEYS`)
  return { path: implied.path, value: implied.value, origin, from: 'file', spec }
}

function suggestKey (key: string): string {
  const candidates = [...KEYS.keys(), ...STRUCT_KEYS].filter((candidate) => KEYS.get(candidate)?.deprecated !== true)
  const nearest = nearestName(key, candidates)
  return nearest === null ? '' : ` (did you mean ${nearest}?)`
}

/** The candidate within edit distance 2 of `name` (the closest one), or null. */
export function nearestName (name: string, candidates: Iterable<string>): string | null {
  let best: string | null = null
  let bestDistance = 3
  for (const candidate of candidates) {
    const distance = editDistance(name, candidate)
    if (distance < bestDistance) {
      best = candidate
      bestDistance = distance
    }
  }
  return best
}

function editDistance (a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, index) => index)
  for (let i = 1; i <= a.length; i += 1) {
    const current = [i]
    for (let j = 1; j <= b.length; j += 1) {
      const substitution = (previous[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1)
      current.push(Math.min((previous[j] ?? 0) + 1, (current[j - 1] ?? 0) + 1, substitution))
    }
    previous = current
  }
  return previous[b.length] ?? 0
}
