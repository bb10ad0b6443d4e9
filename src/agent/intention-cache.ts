/**
 * The agent's copy of every intention, kept fresh by one long-lived blocking query, and the
 * authorization decision of POST /v1/agent/connect/authorize (spec §7.3) made from it. Every
 * agent, server or client, runs one, so authorize never waits on a server round trip and an
 * intention change reaches every agent as soon as its blocking query wakes (well under 1 s).
 *
 *   client agent: intentionList(?index=N, default consistency) over RPC → the leader answers
 *                 when the intentions table moves past N (or after waitMs with the same N)
 *   server:       the same query against its own replicated state (stale reads are this
 *                 server's applied state), answered locally, aborted at once on stop
 *
 * Loop invariants: one query in flight at a time; the cached list and its index only change
 * together; an index that goes backwards (a server restored from a snapshot) is taken as is,
 * as Consul's blocking-query clients reset. Errors are retried with exponential back-off
 * (initial 100 ms, doubling, capped at backoffMaxMs, with jitter) and logged with the attempt
 * number and delay (the first and every 10th failure at warn, the rest at debug); the recovery
 * is logged at info; the last good list keeps serving meanwhile (as Consul's agent cache does).
 *
 * Default decision (no intention matches): the agent's own ACL configuration decides
 * (`acl.enabled` false → allow; true → `acl.default_policy`), as in Consul, where the agent
 * answering authorize applies its configuration; the servers' /v1/connect/intentions/check uses
 * theirs (intention-endpoints.ts). Agents of one cluster are expected to share ACL settings.
 *
 * Callers: agent.ts (start/stop), http.ts (authorize), tests.
 */
import { assert } from '../util/assert.js'
import { ControlPlaneError, isControlPlaneError } from '../util/errors.js'
import type { StateReader } from '../fsm/index.js'
import {
  compareIntentionOrder, decideIntention, intentionReply,
  type IntentionDecision, type IntentionDefault, type IntentionQuestion, type IntentionReply
} from '../rpc/intentions.js'
import type { ServerApi } from '../rpc/types.js'

/** One blocking fetch: resolves once the intentions' index passes `minIndex`, or after about `waitMs`. */
export type IntentionFetch = (minIndex: number, waitMs: number, signal: AbortSignal) => Promise<IntentionSnapshot>

export interface IntentionSnapshot {
  /** X-Consul-Index of the intentions table (never 0). */
  readonly index: number
  /** Every intention, in evaluation order. */
  readonly intentions: readonly IntentionReply[]
}

export interface CacheLogger {
  debug (fields: Record<string, unknown>, message: string): void
  info (fields: Record<string, unknown>, message: string): void
  warn (fields: Record<string, unknown>, message: string): void
}

/** A failing watch logs its 1st failure and every 10th at warn, the others at debug. */
const warnEveryFailures = 10

export interface IntentionCacheOptions {
  readonly fetch: IntentionFetch
  readonly logger: CacheLogger
  /** Longest wait of one blocking query. Short enough that a query stuck on a dead server is replaced soon. */
  readonly waitMs?: number
  readonly backoffInitialMs?: number
  readonly backoffMaxMs?: number
  /** Jitter source in [0, 1). */
  readonly random?: () => number
}

export const intentionWaitMsDefault = 30_000
const backoffInitialMsDefault = 100
const backoffMaxMsDefault = 2_000

export class IntentionCache {
  private snapshot: IntentionSnapshot | null = null
  private readonly abort = new AbortController()
  private loop: Promise<void> | null = null
  private lastError: unknown = null
  private readonly loadWaiters = new Set<() => void>()

  constructor (private readonly options: IntentionCacheOptions) {}

  /** Starts the watch loop. Call once. */
  start (): void {
    assert(this.loop === null, 'IntentionCache.start called twice')
    this.loop = this.run()
  }

  /**
   * Stops the loop without waiting for it: the query in flight is aborted where the fetch
   * supports it (servers) and otherwise ends when the transport closes (clients).
   */
  stop (): void {
    this.abort.abort()
    this.wakeLoadWaiters()
  }

  /** Resolves once the loop has ended (tests). */
  async stopped (): Promise<void> {
    await this.loop
  }

  /** The index of the cached list (0 before the first load). */
  get index (): number {
    return this.snapshot?.index ?? 0
  }

  /**
   * The cached intentions, waiting up to `timeoutMs` for the first load. Fails with the last
   * fetch error (or ERR_TIMEOUT) when nothing was ever loaded.
   */
  async intentions (timeoutMs: number): Promise<readonly IntentionReply[]> {
    if (this.snapshot === null) await this.waitForLoad(timeoutMs)
    if (this.snapshot !== null) return this.snapshot.intentions
    if (isControlPlaneError(this.lastError)) throw this.lastError
    throw new ControlPlaneError('ERR_TIMEOUT', `intentions are not loaded yet: no answer from the servers within ${timeoutMs} ms`)
  }

  /** §7.3 steps 4-5 for a connection from `source` (its certificate's service) to `destination`. */
  async authorize (request: IntentionQuestion,
    defaults: IntentionDefault, options: { readonly timeoutMs: number }): Promise<IntentionDecision> {
    const intentions = await this.intentions(options.timeoutMs)
    return decideIntention(intentions, request, defaults)
  }

  private async run (): Promise<void> {
    const { signal } = this.abort
    let failures = 0
    while (!signal.aborted) {
      try {
        const next = await this.options.fetch(this.index, this.options.waitMs ?? intentionWaitMsDefault, signal)
        if (signal.aborted) return
        if (failures > 0) this.options.logger.info({ attempts: failures, index: next.index }, 'intention watch recovered')
        failures = 0
        this.accept(next)
      } catch (err) {
        if (signal.aborted) return
        failures += 1
        this.lastError = err
        const delayMs = this.backoffMs(failures)
        // A client agent starting before it knows a server fails a few times; one warning says so.
        const level = failures === 1 || failures % warnEveryFailures === 0 ? 'warn' : 'debug'
        this.options.logger[level]({ err: (err as Error).message, attempt: failures, retryInMs: delayMs, index: this.index }, 'intention watch failed; retrying')
        await abortableDelay(delayMs, signal)
      }
    }
  }

  private accept (next: IntentionSnapshot): void {
    assert(Number.isSafeInteger(next.index) && next.index >= 1, `intention index must be a positive integer, got ${next.index}`)
    if (this.snapshot !== null && next.index === this.snapshot.index) return
    this.snapshot = { index: next.index, intentions: [...next.intentions].sort(compareIntentionOrder) }
    this.lastError = null
    this.wakeLoadWaiters()
  }

  private backoffMs (failures: number): number {
    const initialMs = this.options.backoffInitialMs ?? backoffInitialMsDefault
    const maxMs = this.options.backoffMaxMs ?? backoffMaxMsDefault
    const baseMs = Math.min(maxMs, initialMs * 2 ** Math.min(failures - 1, 20))
    const random = this.options.random ?? Math.random
    return Math.round(baseMs / 2 + (baseMs / 2) * random())
  }

  private async waitForLoad (timeoutMs: number): Promise<void> {
    if (this.abort.signal.aborted) return
    await new Promise<void>(resolve => {
      const done = (): void => {
        clearTimeout(timer)
        this.loadWaiters.delete(done)
        resolve()
      }
      const timer = setTimeout(done, timeoutMs)
      this.loadWaiters.add(done)
    })
  }

  private wakeLoadWaiters (): void {
    for (const wake of [...this.loadWaiters]) wake()
  }
}

async function abortableDelay (delayMs: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return
  await new Promise<void>(resolve => {
    const done = (): void => {
      clearTimeout(timer)
      signal.removeEventListener('abort', done)
      resolve()
    }
    const timer = setTimeout(done, delayMs)
    signal.addEventListener('abort', done)
  })
}

/** The default decision from an agent's ACL settings (absent: ACLs disabled, so allow). */
export function intentionDefaultsFrom (acl: { readonly enabled: boolean, readonly defaultPolicy: 'allow' | 'deny' } | undefined): IntentionDefault {
  return { aclsEnabled: acl?.enabled ?? false, aclDefaultPolicy: acl?.defaultPolicy ?? 'allow' }
}

// ---------------------------------------------------------------------------------------------
// Fetches

/** Client agents: a blocking intentionList RPC, answered by the leader (default consistency). */
export function rpcIntentionFetch (serverApi: Pick<ServerApi, 'intentionList'>): IntentionFetch {
  return async (minIndex, waitMs) => {
    const result = await serverApi.intentionList({ consistency: 'default', minQueryIndex: minIndex, maxQueryTimeMs: waitMs, token: null })
    return { index: result.meta.index, intentions: result.value }
  }
}

/**
 * Servers: the same blocking query against this server's own applied state. Not through
 * LocalServerApi, so that stopping the agent ends the wait at once instead of leaving a timer
 * that keeps the process alive.
 */
export function localIntentionFetch (reader: StateReader): IntentionFetch {
  const read = (): IntentionSnapshot => ({
    index: Math.max(1, reader.tableIndex('connect-intentions')),
    intentions: reader.intentions().map(intentionReply)
  })
  return async (minIndex, waitMs, signal) => {
    // minIndex 0 never blocks (Consul's ?index=0), whatever the table's index.
    if (minIndex === 0 || reader.tableIndex('connect-intentions') > minIndex || signal.aborted) return read()
    await new Promise<void>(resolve => {
      const done = (): void => {
        clearTimeout(timer)
        unsubscribe()
        signal.removeEventListener('abort', done)
        resolve()
      }
      const timer = setTimeout(done, waitMs)
      const unsubscribe = reader.onChange(change => {
        if (change.tables.has('connect-intentions')) done()
      })
      signal.addEventListener('abort', done)
    })
    return read()
  }
}
