/**
 * Types of the HTTP API layer: the agent-local contract (`AgentApi`), the options of
 * `createHttpApi`, and the framework-free request/reply shapes handlers work with.
 *
 * Handlers (src/api/handlers/*.ts) are functions of an `ApiRequest` and a `HandlerContext` that
 * return an `ApiReply`. They never see fastify: server.ts turns fastify's request into an
 * ApiRequest (decoded wildcard tail, query, raw body bytes, resolved token) and an ApiReply into
 * bytes on the wire (JSON with optional pretty printing, headers, status). This keeps every
 * Consul convention that is not endpoint-specific in one place (server.ts) and handlers small.
 *
 * Callers: server.ts, routes.ts, handlers/*.ts; src/agent implements AgentApi.
 */
import type { Logger } from 'pino'
import type { KeyringCommand, KeyringResponse } from '../gossip/keyring.js'
import type { CaRootsReply, IssuedCertReply, QueryOptions, ServerApi, WriteOptions } from '../rpc/types.js'
import type { QueryParams } from './validate.js'
import type { CheckDefinition, CheckUpdate, ServiceDefinition } from './service-definition.js' // Agent services (#5/#6)

// ---------------------------------------------------------------------------------------------
// Agent-local endpoints

/** A Serf-style member as /v1/agent/members and /v1/agent/self show it (spec §2.2). */
export interface AgentMember {
  readonly Name: string
  readonly Addr: string
  readonly Port: number
  readonly Tags: Readonly<Record<string, string>>
  /** 0 none, 1 alive, 2 leaving, 3 left, 4 failed. */
  readonly Status: number
  readonly ProtocolMin: number
  readonly ProtocolMax: number
  readonly ProtocolCur: number
  readonly DelegateMin: number
  readonly DelegateMax: number
  readonly DelegateCur: number
}

/**
 * /v1/agent/self (spec §2.1). `Config` keys are a stable contract (node-consul reads Server,
 * Datacenter, NodeName; Member.Name and Member.Addr). `Stats` values are all strings.
 */
export interface AgentSelf {
  readonly Config: {
    readonly Datacenter: string
    readonly PrimaryDatacenter: string
    readonly NodeName: string
    readonly NodeID: string
    readonly Revision: string
    readonly Server: boolean
    readonly Version: string
    readonly BuildDate: string
  }
  readonly DebugConfig: Readonly<Record<string, unknown>>
  readonly Coord: unknown
  readonly Member: AgentMember
  readonly Stats: Readonly<Record<string, Readonly<Record<string, string>>>>
  readonly Meta: Readonly<Record<string, string>>
}

/** Every agent call carries the request's token so that ACLs can plug in later. */
export type AgentCallOptions = WriteOptions

/**
 * What the local agent answers without Raft. Methods reject with ControlPlaneError (the code
 * decides the status, src/api/errors.ts). A failed join should reject with code ERR_TRANSPORT:
 * its message becomes the reason in Consul's "Failed to join" text (500).
 */
export interface AgentApi {
  self (call: AgentCallOptions): Promise<AgentSelf>
  /** LAN members, or the WAN pool when `wan` (servers only; others may reject ERR_INVALID_INPUT). */
  members (options: { readonly wan: boolean }, call: AgentCallOptions): Promise<readonly AgentMember[]>
  /** `address` is host or host:port exactly as given in the URL. */
  join (address: string, options: { readonly wan: boolean }, call: AgentCallOptions): Promise<void>
  /** Graceful leave. Resolves once the leave is under way; the HTTP reply is sent before shutdown. */
  leave (call: AgentCallOptions): Promise<void>
  /** Re-reads configuration files. */
  reload (call: AgentCallOptions): Promise<void>

  // Keyring (#5): /v1/operator/keyring, through the gossip pool (src/agent/membership.ts).
  /** One pool (LAN) summary in Consul's shape. */
  keyringList (call: AgentCallOptions): Promise<readonly KeyringResponse[]>
  /** Sends the change to every member and resolves once every alive member shows it. */
  keyringOperate (command: KeyringCommand, call: AgentCallOptions): Promise<void>

  // Connect (#4): answered from the agent's caches (spec §7.1, §7.2).
  /** GET /v1/agent/connect/ca/roots, blocking aware. */
  connectCaRoots (query: QueryOptions): Promise<CachedResult<CaRootsReply>>
  /** GET /v1/agent/connect/ca/leaf/<service>, blocking aware (`minQueryIndex` is the leaf's ModifyIndex). */
  connectCaLeaf (service: string, query: QueryOptions): Promise<CachedResult<IssuedCert>>

  // Intentions (#4): spec §7.3, answered from the agent's intention cache.
  /** POST /v1/agent/connect/authorize, after the handler validated the body and parsed the URI. */
  connectAuthorize (request: ConnectAuthorizeRequest, call: AgentCallOptions): Promise<ConnectAuthorizeReply>

  // Agent services (#5/#6): this agent's services and checks (spec §3), src/agent/services.
  readonly services: AgentServicesApi
}

// Agent services (#5/#6) ----------------------------------------------------------------------

/** A JSON object as Consul shows it (AgentService, HealthCheck, ...). */
export type AgentJson = Readonly<Record<string, unknown>>

/** How long a hash-blocking read may wait (spec §1.5): `hash` null never blocks. */
export interface HashWait {
  readonly hash: string | null
  readonly maxWaitMs: number
}

/** The aggregated health of one local service instance (GET /v1/agent/health/service/...). */
export interface AgentServiceHealth {
  /** passing, warning, critical or maintenance. */
  readonly AggregatedStatus: string
  readonly Service: AgentJson
  readonly Checks: readonly AgentJson[]
}

/**
 * The agent's local services and checks (spec §3). Definitions arrive validated
 * (service-definition.ts); the agent adds what depends on its state (sidecar ports, default
 * check IDs). Errors: ERR_NOT_FOUND for unknown IDs (404, Consul's texts), ERR_INVALID_INPUT for
 * bad requests, ERR_REJECTED for Consul's 500s (no sidecar port left, script checks).
 */
export interface AgentServicesApi {
  registerService (definition: ServiceDefinition, options: { readonly replaceExistingChecks: boolean }, call: AgentCallOptions): Promise<void>
  /** Also removes its checks and its sidecar; an unknown ID is a no-op. */
  deregisterService (serviceId: string, call: AgentCallOptions): Promise<void>
  /** ID → AgentService. */
  listServices (call: AgentCallOptions): Promise<Readonly<Record<string, AgentJson>>>
  /** AgentService with ContentHash; blocks while the hash equals `wait.hash`. */
  getService (serviceId: string, wait: HashWait, call: AgentCallOptions): Promise<{ readonly service: AgentJson, readonly hash: string }>
  registerCheck (definition: CheckDefinition, call: AgentCallOptions): Promise<void>
  /** An unknown ID is a no-op. */
  deregisterCheck (checkId: string, call: AgentCallOptions): Promise<void>
  /** A TTL check's status (pass/warn/fail/update). */
  updateTtlCheck (checkId: string, update: CheckUpdate, call: AgentCallOptions): Promise<void>
  /** CheckID → HealthCheck. */
  listChecks (call: AgentCallOptions): Promise<Readonly<Record<string, AgentJson>>>
  serviceMaintenance (serviceId: string, options: { readonly enable: boolean, readonly reason: string }, call: AgentCallOptions): Promise<void>
  nodeMaintenance (options: { readonly enable: boolean, readonly reason: string }, call: AgentCallOptions): Promise<void>
  /** By ID (null when unknown) or by service name ([] when none). */
  serviceHealthById (serviceId: string, call: AgentCallOptions): Promise<AgentServiceHealth | null>
  serviceHealthByName (name: string, call: AgentCallOptions): Promise<readonly AgentServiceHealth[]>
  /** Legacy GET /v1/agent/connect/proxy/<id> (managed proxies), hash-blocking. */
  managedProxyConfig (proxyId: string, wait: HashWait, call: AgentCallOptions): Promise<{ readonly config: AgentJson, readonly hash: string }>
}

/** Intentions (#4): an authorize request; the source comes from the client certificate's SPIFFE ID. */
export interface ConnectAuthorizeRequest {
  readonly target: string
  readonly sourceNamespace: string
  readonly sourceName: string
  readonly clientCertUri: string
  readonly clientCertSerial: string
}

export interface ConnectAuthorizeReply {
  readonly Authorized: boolean
  readonly Reason: string
}

/** An answer from an agent cache: X-Consul-Index is `index`, X-Cache is HIT or MISS. */
export interface CachedResult<T> {
  readonly value: T
  readonly index: number
  readonly hit: boolean
}

/** A leaf as the agent returns it (spec §7.2): the server's reply plus the key made on this agent. */
export type IssuedCert = Omit<IssuedCertReply, 'SigningKeyID'> & { readonly PrivateKeyPEM: string }

// ---------------------------------------------------------------------------------------------
// Options

export interface HttpLimits {
  /** Largest KV value (PUT /v1/kv body, txn op Value). Consul's limits.kv_max_value_size. */
  readonly kvMaxValueSize: number
  /** Largest body of every other endpoint (JSON bodies, /v1/txn). */
  readonly bodyBytesMax: number
  /** Largest PUT /v1/snapshot body; streamed (body.ts StreamedBody), so this bounds the upload, not memory. */
  readonly snapshotBytesMax: number
  /** Most operations in one /v1/txn. */
  readonly txnMaxOps: number
  /** Blocking-query wait when ?index is given without ?wait. */
  readonly blockingWaitDefaultMs: number
  /** Cap on ?wait. */
  readonly blockingWaitMaxMs: number
}

export const defaultHttpLimits: HttpLimits = Object.freeze({
  kvMaxValueSize: 512 * 1024,
  bodyBytesMax: 4 * 1024 * 1024,
  snapshotBytesMax: 1024 * 1024 * 1024,
  txnMaxOps: 128,
  blockingWaitDefaultMs: 5 * 60 * 1000,
  blockingWaitMaxMs: 10 * 60 * 1000
})

/** What the authorization hook learns about a request before any handler runs. */
export interface AuthorizeRequest {
  readonly method: string
  /** The route pattern, e.g. "/v1/kv/" (prefix routes end in "/"). */
  readonly route: string
  /** The token the request carried (spec §1.3 order), or null. Never log it. */
  readonly token: string | null
}

/**
 * Runs once per routed request, before the body is read. Returns the token handlers pass on
 * (e.g. the agent's default token when the request carried none), or rejects with a
 * ControlPlaneError (ERR_PERMISSION_DENIED → 403). The default returns `request.token`.
 */
export type AuthorizeHook = (request: AuthorizeRequest) => Promise<string | null>

export interface HttpApiOptions {
  readonly serverApi: ServerApi
  readonly agentApi: AgentApi
  /** Root or component logger; the API logs through a child `{ component: 'http' }`. */
  readonly logger: Logger
  /** Missing fields take `defaultHttpLimits`. */
  readonly limits?: Partial<HttpLimits>
  /** Pretty-print every JSON reply (dev mode); `?pretty` does it per request. */
  readonly pretty: boolean
  readonly authorize?: AuthorizeHook
  /** The agent's datacenter: `?dc=<other>` answers 500 "No path to datacenter". Unchecked when absent. */
  readonly datacenter?: string
  /** http_config.response_headers: added to every response. */
  readonly responseHeaders?: Readonly<Record<string, string>>
  /** Source of blocking-query jitter in [0, 1); defaults to Math.random (the HTTP edge may be random). */
  readonly random?: () => number
}

// ---------------------------------------------------------------------------------------------
// Handler shapes

export type HttpMethod = 'GET' | 'PUT' | 'POST' | 'DELETE'

export interface ApiRequest {
  readonly method: HttpMethod
  /** For prefix routes, the decoded remainder after the prefix ("" when none). */
  readonly tail: string
  readonly query: QueryParams
  /** The raw body; empty when the request had none, and for routes whose body is streamed. */
  readonly body: Uint8Array
  /**
   * For routes whose body is streamed (BodyKind 'snapshot', see body.ts): the body as it
   * arrives, to be iterated once; null when the request announced no body. May yield nothing
   * (a chunked upload of zero bytes). Iteration throws the route's 413 past its limit.
   */
  readonly bodyStream: AsyncIterable<Uint8Array> | null
  /** The token after the authorize hook. */
  readonly token: string | null
}

export interface HandlerContext {
  readonly serverApi: ServerApi
  readonly agentApi: AgentApi
  readonly limits: HttpLimits
  readonly random: () => number
  readonly log: Logger
}

export type ReplyHeaders = Readonly<Record<string, string>>

/** What a handler answers; server.ts serializes it. */
export type ApiReply =
  | { readonly kind: 'json', readonly status: number, readonly value: unknown, readonly headers: ReplyHeaders }
  | { readonly kind: 'empty', readonly status: number, readonly headers: ReplyHeaders }
  | { readonly kind: 'bytes', readonly status: number, readonly body: Uint8Array, readonly contentType: string, readonly headers: ReplyHeaders }
  | { readonly kind: 'text', readonly status: number, readonly body: string, readonly headers: ReplyHeaders }

export type Handler = (request: ApiRequest, context: HandlerContext) => Promise<ApiReply>

/** Which limit and message govern a route's body, and whether it is streamed rather than buffered (see body.ts). */
export type BodyKind = 'kv' | 'txn' | 'snapshot' | 'json' | 'none'
