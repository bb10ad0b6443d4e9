/**
 * The agent's configuration: one typed, deep-frozen `Config`, plus the built-in and `-dev`
 * defaults written as Consul-style JSON sources (snake_case keys, like a config file).
 *
 * Invariants of a `Config` returned by buildConfig (src/config/build.ts):
 * - every field has a value (defaults applied); optional fields are absent only when unset
 *   (`nodeId`, `encrypt`, `pidFile`, ACL tokens);
 * - the object graph is deep-frozen, so components can keep references to their slice;
 * - all relations between fields were checked once (ports, bootstrap, server-only settings).
 *
 * Who uses it: `cmd/` builds it once at start-up (src/config/load.ts) and hands it to the
 * agent, which gives each component only its slice (`config.raft`, `config.acl`, ...).
 * Fields marked "not used by weft yet" are accepted for Consul compatibility and kept with
 * Consul's default so that later work can pick them up without touching the loader.
 */

/** Consul's level names, normalised to the pino level of the same meaning (ERR -> error). */
export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error'
export type AclPolicy = 'allow' | 'deny'
export type AclDownPolicy = 'allow' | 'deny' | 'extend-cache' | 'async-cache'

/**
 * Listener ports. -1 disables a listener (Consul's convention); 0 asks the OS for a free port
 * (a weft extension used by tests; Consul treats 0 as disabled). Sidecar and expose ranges
 * use 0 for both ends to mean "disabled".
 */
export interface PortsConfig {
  readonly http: number
  readonly https: number
  readonly grpc: number
  readonly dns: number
  readonly server: number
  readonly serfLan: number
  readonly serfWan: number
  readonly sidecarMinPort: number
  readonly sidecarMaxPort: number
  readonly exposeMinPort: number
  readonly exposeMaxPort: number
  /** Agent services (#5/#6): legacy managed proxies' port range (Consul 1.2-1.5), 0/0 disabled. */
  readonly proxyMinPort: number
  readonly proxyMaxPort: number
}

export interface ConnectConfig {
  readonly enabled: boolean
  /** Only the built-in provider exists in weft. */
  readonly caProvider: 'consul'
  /** `connect.ca_config` as written (snake_case keys, §6.2); validated by the CA code. */
  readonly caConfig: Readonly<Record<string, unknown>>
}

export interface AclTokensConfig {
  readonly initialManagement?: string
  readonly default?: string
  readonly agent?: string
  readonly agentRecovery?: string
  readonly replication?: string
}

export interface AclConfig {
  readonly enabled: boolean
  readonly defaultPolicy: AclPolicy
  readonly downPolicy: AclDownPolicy
  readonly enableTokenPersistence: boolean
  readonly enableKeyListPolicy: boolean
  readonly tokenTtlMs: number
  readonly policyTtlMs: number
  readonly roleTtlMs: number
  readonly tokens: AclTokensConfig
}

export interface LimitsConfig {
  readonly httpMaxConnsPerClient: number
  /** `limits.kv_max_value_size`: largest KV value in bytes (Consul: 512 KiB). */
  readonly kvMaxValueBytes: number
  /** `limits.txn_max_req_len`: largest /v1/txn request body in bytes (Consul: 512 KiB). */
  readonly txnMaxRequestBytes: number
}

export interface PerformanceConfig {
  /** 1 (fastest timers) .. 10; Consul's default is 5 and `-dev` uses 1. */
  readonly raftMultiplier: number
}

/**
 * Raft timers derived from `performance.raft_multiplier`. A tick is `10 ms * multiplier`, so
 * the default multiplier (5) gives the RaftNode defaults (50 ms ticks, 1 s election timeout,
 * 100 ms heartbeats) and `-dev` (1) gives 10 ms ticks and a 200 ms election timeout.
 */
export interface RaftTimingConfig {
  readonly tickMs: number
  readonly electionTicks: number
  readonly heartbeatTicks: number
}

export interface HttpConfig {
  /** `http_config.response_headers`: added to every HTTP API response. */
  readonly responseHeaders: Readonly<Record<string, string>>
}

/**
 * A service or check definition from a config file (`service`, `services`, `check`,
 * `checks`), kept raw: the agent validates it with the same code as the HTTP API, and reports
 * problems naming `source`.
 */
export interface RawDefinition {
  /** The config file it came from. */
  readonly source: string
  readonly definition: Readonly<Record<string, unknown>>
}

export interface Config {
  readonly nodeName: string
  /** A UUID; absent means "generate one and persist it in dataDir". */
  readonly nodeId?: string
  readonly nodeMeta: Readonly<Record<string, string>>
  /** Lowercase letters, digits, `-` and `_`; Consul lowercases what the user wrote. */
  readonly datacenter: string
  readonly primaryDatacenter: string
  /** null only with `-dev` and no `-data-dir`: state lives in memory and is lost on exit. */
  readonly dataDir: string | null
  readonly dev: boolean
  readonly server: boolean
  /** true when this server elects itself (`bootstrap`, `bootstrap_expect = 1`, or `-dev`). */
  readonly bootstrap: boolean
  /** Servers to wait for before the first election; 0 when not set (and when bootstrap). */
  readonly bootstrapExpect: number
  /** Cluster (server RPC, Serf) bind address; may be 0.0.0.0. */
  readonly bindAddr: string
  /** The address other nodes use to reach this one; never 0.0.0.0 or ::. */
  readonly advertiseAddr: string
  /** HTTP/DNS/gRPC bind addresses (`client_addr` is a space-separated list). */
  readonly clientAddrs: readonly string[]
  readonly ports: PortsConfig
  readonly retryJoin: readonly string[]
  readonly retryIntervalMs: number
  /** 0 = retry forever. */
  readonly retryMaxAttempts: number
  /** Legacy one-shot join (`start_join`, `-join`). */
  readonly startJoin: readonly string[]
  readonly rejoinAfterLeave: boolean
  /** SIGTERM leaves the cluster gracefully. Consul's default: false on servers, true on clients. */
  readonly leaveOnTerminate: boolean
  /** SIGINT does not leave. Consul's default: true on servers, false on clients. */
  readonly skipLeaveOnInterrupt: boolean
  readonly logLevel: LogLevel
  readonly logJson: boolean
  readonly uiEnabled: boolean
  readonly pidFile?: string
  /** Gossip key, standard base64 of 16, 24 or 32 bytes (§13). */
  readonly encrypt?: string
  readonly encryptVerifyIncoming: boolean
  readonly encryptVerifyOutgoing: boolean
  /** true in `-dev`: the keyring is not persisted under dataDir. */
  readonly disableKeyringFile: boolean
  /** Blocking queries: wait used when `?wait` is absent, and its cap. */
  readonly defaultQueryTimeMs: number
  readonly maxQueryTimeMs: number
  readonly connect: ConnectConfig
  readonly acl: AclConfig
  readonly limits: LimitsConfig
  readonly performance: PerformanceConfig
  readonly raft: RaftTimingConfig
  readonly httpConfig: HttpConfig
  readonly services: readonly RawDefinition[]
  readonly checks: readonly RawDefinition[]
  // Agent services (#5/#6)
  /** `check_update_interval`: a check whose output alone changed is synced at most this often. */
  readonly checkUpdateIntervalMs: number
  /**
   * `anti_entropy_interval` (a weft extension; Consul fixes it at 1 min): the base interval of
   * full anti-entropy syncs, scaled by cluster size. Tests shorten it.
   */
  readonly antiEntropyIntervalMs: number
}

/** Raft timing constants at multiplier 1 (see RaftTimingConfig). */
export const RAFT_TICK_MS_PER_MULTIPLIER = 10
export const RAFT_ELECTION_TICKS = 20
export const RAFT_HEARTBEAT_TICKS = 2
export const RAFT_MULTIPLIER_MAX = 10

/**
 * Built-in defaults, written as a config source (Consul's DefaultSource). `node_name` comes
 * from the hostname and `primary_datacenter`, `advertise_addr`, `leave_on_terminate` and
 * `skip_leave_on_interrupt` are derived from other settings, so they are not listed here.
 */
export const DEFAULT_SOURCE: Readonly<Record<string, unknown>> = {
  datacenter: 'dc1',
  server: false,
  bootstrap: false,
  bootstrap_expect: 0,
  bind_addr: '0.0.0.0',
  client_addr: '127.0.0.1',
  ports: {
    http: 8500,
    https: -1,
    grpc: -1,
    dns: 8600,
    server: 8300,
    serf_lan: 8301,
    serf_wan: 8302,
    sidecar_min_port: 21000,
    sidecar_max_port: 21255,
    expose_min_port: 21500,
    expose_max_port: 21755,
    proxy_min_port: 20000, // Agent services (#5/#6)
    proxy_max_port: 20255
  },
  retry_join: [],
  retry_interval: '30s',
  retry_max: 0,
  start_join: [],
  rejoin_after_leave: false,
  node_meta: {},
  log_level: 'INFO',
  log_json: false,
  ui_config: { enabled: false },
  encrypt_verify_incoming: true,
  encrypt_verify_outgoing: true,
  disable_keyring_file: false,
  default_query_time: '300s',
  max_query_time: '600s',
  connect: { enabled: true, ca_provider: 'consul', ca_config: {} },
  acl: {
    enabled: false,
    default_policy: 'allow',
    down_policy: 'extend-cache',
    enable_token_persistence: false,
    enable_key_list_policy: false,
    token_ttl: '30s',
    policy_ttl: '30s',
    role_ttl: '30s',
    tokens: {}
  },
  limits: { http_max_conns_per_client: 200, kv_max_value_size: 524_288, txn_max_req_len: 524_288 },
  performance: { raft_multiplier: 5 },
  http_config: { response_headers: {} },
  services: [],
  checks: [],
  check_update_interval: '5m', // Agent services (#5/#6)
  anti_entropy_interval: '60s'
}

/**
 * `-dev` defaults (Consul's DevSource), applied over DEFAULT_SOURCE and under files and
 * flags. A dev server also bootstraps itself and keeps its state in memory unless `-data-dir`
 * is given; those are derived in the builder rather than set here, so that `-dev -server=false`
 * or `-dev -data-dir DIR` behave as in Consul.
 */
export const DEV_SOURCE: Readonly<Record<string, unknown>> = {
  server: true,
  bind_addr: '127.0.0.1',
  client_addr: '127.0.0.1',
  log_level: 'DEBUG',
  ui_config: { enabled: true },
  connect: { enabled: true },
  disable_keyring_file: true,
  performance: { raft_multiplier: 1 },
  ports: { grpc: 8502 }
}
