/**
 * Inbound authorization: may the holder of a client certificate for service S connect to the
 * service this proxy represents? The local agent decides (POST /v1/agent/connect/authorize,
 * spec §7.3, answered from its intention cache); answers are cached per source URI for at most
 * `cacheTtlMs` and dropped whenever the intentions change.
 *
 * Intentions apply to live connections (beyond Consul, issue #6 point 3): an IntentionWatch
 * (a blocking query on /v1/connect/intentions/match?by=destination&name=<service>) reports every
 * change; the proxy then re-asks the agent about each source that has open connections and closes
 * the ones now denied. Because the agent's own cache may learn of the change a moment after the
 * servers answer the watch, the re-check runs at once and again at `recheckDelaysMs` (all within
 * one second of the change).
 *
 * Fails closed: an authorize call that fails refuses the connection.
 *
 * Callers: listener.ts (decide), proxy.ts (watch, re-checks).
 */
import type { Logger } from 'pino'
import type { AgentPort } from './agent-client.js'
import { blockingQuery } from './certificates.js'
import { Watch } from './watch.js'

export interface AuthorizeDecision {
  readonly authorized: boolean
  readonly reason: string
}

export interface AuthorizerOptions {
  readonly agent: AgentPort
  /** The service this proxy represents (authorize's Target). */
  readonly target: string
  /** 0 asks the agent for every connection. */
  readonly cacheTtlMs: number
  readonly requestTimeoutMs?: number
  /** Cached sources at most; past it the cache is cleared (a bound, not an LRU). */
  readonly cacheEntriesMax?: number
  readonly now?: () => number
}

interface CacheEntry {
  readonly decision: AuthorizeDecision
  readonly expiresAt: number
  readonly epoch: number
}

const requestTimeoutMsDefault = 5_000
const cacheEntriesMaxDefault = 10_000

export class Authorizer {
  private readonly cache = new Map<string, CacheEntry>()
  /** Bumped by every intention change: answers fetched before it are not cached after it. */
  private epoch = 0

  constructor (private readonly options: AuthorizerOptions) {}

  /** The decision for a client certificate (cached per URI). */
  async decide (clientCertUri: string, clientCertSerial: string): Promise<AuthorizeDecision> {
    const now = (this.options.now ?? Date.now)()
    const cached = this.cache.get(clientCertUri)
    if (cached !== undefined && cached.expiresAt > now && cached.epoch === this.epoch) return cached.decision
    return await this.fetch(clientCertUri, clientCertSerial)
  }

  /** Forgets every cached answer (the intentions changed). */
  invalidate (): void {
    this.epoch += 1
    this.cache.clear()
  }

  /** Asks the agent now, bypassing the cache, and caches the answer. */
  async fetch (clientCertUri: string, clientCertSerial: string): Promise<AuthorizeDecision> {
    const epoch = this.epoch
    const answer = await this.options.agent.request<{ Authorized?: unknown, Reason?: unknown }>({
      method: 'POST',
      path: '/v1/agent/connect/authorize',
      body: { Target: this.options.target, ClientCertURI: clientCertUri, ClientCertSerial: clientCertSerial },
      timeoutMs: this.options.requestTimeoutMs ?? requestTimeoutMsDefault
    })
    const decision: AuthorizeDecision = {
      authorized: answer.value?.Authorized === true,
      reason: typeof answer.value?.Reason === 'string' ? answer.value.Reason : ''
    }
    if (this.options.cacheTtlMs > 0 && epoch === this.epoch) {
      if (this.cache.size >= (this.options.cacheEntriesMax ?? cacheEntriesMaxDefault)) this.cache.clear()
      this.cache.set(clientCertUri, { decision, expiresAt: (this.options.now ?? Date.now)() + this.options.cacheTtlMs, epoch })
    }
    return decision
  }
}

export interface IntentionWatchOptions {
  readonly agent: AgentPort
  readonly target: string
  readonly logger: Logger
  /** Called after every change of the intentions (not for the first load). */
  readonly onChange: () => void
  readonly waitMs?: number
}

const intentionWaitMsDefault = 60_000

/** Watches the intentions that match the proxy's service as a destination. */
export class IntentionWatch {
  private readonly watch: Watch<unknown>
  private loaded = false

  constructor (options: IntentionWatchOptions) {
    const waitMs = options.waitMs ?? intentionWaitMsDefault
    this.watch = new Watch<unknown>({
      what: `intentions for ${options.target}`,
      logger: options.logger,
      fetch: async (version, signal) => {
        const answer = await options.agent.request<unknown>({
          method: 'GET',
          path: '/v1/connect/intentions/match',
          query: { by: 'destination', name: options.target, ...blockingQuery(version, waitMs) },
          timeoutMs: waitMs + 15_000,
          signal
        })
        return { value: answer.value, version: String(answer.index) }
      },
      onValue: () => {
        if (this.loaded) options.onChange()
        this.loaded = true
      }
    })
  }

  start (): void { this.watch.start() }
  stop (): void { this.watch.stop() }
}
