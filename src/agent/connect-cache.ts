/**
 * The agent's Connect caches (spec §7.1, §7.2): the CA roots, kept fresh by a blocking query
 * against the servers, and one leaf certificate per service, made from a key pair generated on
 * this agent (the private key never leaves it; only the CSR goes to the servers).
 *
 *   RootsWatcher ──blocking caRoots──► servers          LeafCache.get(service)
 *        │ roots changed                                   │ miss, expired, or signed by an
 *        ▼                                                 ▼ inactive root: issue now
 *   each leaf re-issued after 0..rootChangeJitterMs    key + CSR ─caSign─► leader
 *   each leaf renewed at 45..55% of its lifetime       blocking get: wait for ModifyIndex > index
 *
 * Renewal at about half the lifetime (issue #4; Consul waits for 60..90%): a leaf then has as
 * long again for retries if the servers are unreachable when it is due.
 *
 * Leaf indexes: the agent numbers its own issuances, ModifyIndex = max(previous + 1, the
 * server's index), so a blocking query always sees a new leaf as a larger index.
 *
 * Callers: src/agent/http.ts (AgentApi), tests.
 */
import type { Logger } from 'pino'
import { ControlPlaneError } from '../util/errors.js'
import type { CachedResult, IssuedCert } from '../api/types.js'
import type { CaRootsReply, QueryOptions, ServerApi } from '../rpc/types.js'

export const noCaMessage = 'cluster has no CA bootstrapped yet'

/** Blocking waits on the servers; the HTTP layer caps the client's own wait separately. */
const rootsWatchWaitMs = 5 * 60_000
const retryDelayMaxMs = 5_000

/** Waiters woken when a value's index passes theirs, or at their deadline. */
class IndexWaiters {
  private readonly waiters = new Set<{ index: number, wake: () => void }>()

  async wait (currentIndex: () => number, index: number, waitMs: number): Promise<void> {
    if (currentIndex() > index || waitMs <= 0) return
    await new Promise<void>(resolve => {
      const waiter = { index, wake: () => { clearTimeout(timer); this.waiters.delete(waiter); resolve() } }
      const timer = setTimeout(waiter.wake, waitMs)
      this.waiters.add(waiter)
    })
  }

  notify (index: number): void {
    for (const waiter of [...this.waiters]) if (index > waiter.index) waiter.wake()
  }

  wakeAll (): void {
    for (const waiter of [...this.waiters]) waiter.wake()
  }
}

export interface RootsWatcherOptions {
  readonly serverApi: ServerApi
  readonly logger: Logger
}

/** Watches the CA roots with a long-lived blocking query; started on first use. */
export class RootsWatcher {
  private value: CaRootsReply | null = null
  private index = 0
  private running = false
  private stopped = false
  private readonly waiters = new IndexWaiters()
  private readonly listeners = new Set<(roots: CaRootsReply, previous: CaRootsReply | null) => void>()
  private lastError = ''

  constructor (private readonly options: RootsWatcherOptions) {}

  /** The current roots, fetching them now when the watch has nothing yet. */
  async current (token: string | null): Promise<{ roots: CaRootsReply, index: number, hit: boolean }> {
    this.start(token)
    if (this.value !== null) return { roots: this.value, index: this.index, hit: true }
    const result = await this.options.serverApi.caRoots({ consistency: 'default', minQueryIndex: 0, maxQueryTimeMs: 0, token })
    this.update(result.value, result.meta.index)
    return { roots: result.value, index: result.meta.index, hit: false }
  }

  async get (query: QueryOptions): Promise<CachedResult<CaRootsReply>> {
    const first = await this.current(query.token)
    if (query.minQueryIndex === 0 || first.index > query.minQueryIndex) return { value: first.roots, index: first.index, hit: first.hit }
    await this.waiters.wait(() => this.index, query.minQueryIndex, query.maxQueryTimeMs)
    return { value: this.value ?? first.roots, index: this.index, hit: true }
  }

  onChange (listener: (roots: CaRootsReply, previous: CaRootsReply | null) => void): () => void {
    this.listeners.add(listener)
    return () => this.listeners.delete(listener)
  }

  stop (): void {
    this.stopped = true
    this.waiters.wakeAll()
  }

  private start (token: string | null): void {
    if (this.running || this.stopped) return
    this.running = true
    void this.loop(token)
  }

  private update (roots: CaRootsReply, index: number): void {
    if (index < this.index) return
    const previous = this.value
    this.value = roots
    this.index = index
    this.waiters.notify(index)
    if (previous === null || previous.ActiveRootID !== roots.ActiveRootID || previous.Roots.length !== roots.Roots.length) {
      for (const listener of this.listeners) listener(roots, previous)
    }
  }

  private async loop (token: string | null): Promise<void> {
    let delayMs = 100
    while (!this.stopped) {
      try {
        const result = await this.options.serverApi.caRoots({ consistency: 'default', minQueryIndex: this.index, maxQueryTimeMs: rootsWatchWaitMs, token })
        this.update(result.value, result.meta.index)
        delayMs = 100
        this.lastError = ''
      } catch (err) {
        const message = (err as Error).message
        if (message !== this.lastError) this.options.logger.warn({ err: message, retryInMs: delayMs }, 'watching the CA roots failed; retrying')
        this.lastError = message
        await new Promise(resolve => setTimeout(resolve, delayMs))
        delayMs = Math.min(delayMs * 2, retryDelayMaxMs)
      }
    }
  }
}

export interface LeafKeyMaterial {
  readonly privateKeyPem: string
  readonly csrPem: string
}

export interface LeafCacheOptions {
  readonly serverApi: ServerApi
  readonly roots: RootsWatcher
  readonly datacenter: string
  readonly logger: Logger
  /** Makes a fresh P-256 key and a CSR for `uri` (src/ca/csr.ts). */
  readonly makeKeyAndCsr: (uri: string) => LeafKeyMaterial
  /** Builds the service's SPIFFE URI (src/ca/spiffe.ts). */
  readonly serviceUri: (trustDomain: string, datacenter: string, service: string) => string
  /** Spread of re-issues after a root change (Consul: 30 s). */
  readonly rootChangeJitterMs?: number
  readonly random?: () => number
  readonly now?: () => number
}

interface LeafEntry {
  cert: IssuedCert | null
  signingKeyId: string
  index: number
  validBeforeMs: number
  renewTimer: NodeJS.Timeout | null
  issuing: Promise<void> | null
  token: string | null
  readonly waiters: IndexWaiters
}

export class LeafCache {
  private readonly entries = new Map<string, LeafEntry>()
  private lastIndex = 0
  private unsubscribe: (() => void) | null = null
  private stopped = false

  constructor (private readonly options: LeafCacheOptions) {}

  private now (): number {
    return (this.options.now ?? Date.now)()
  }

  private random (): number {
    return (this.options.random ?? Math.random)()
  }

  async get (service: string, query: QueryOptions): Promise<CachedResult<IssuedCert>> {
    this.unsubscribe ??= this.options.roots.onChange((roots, previous) => this.onRootsChanged(roots, previous))
    let entry = this.entries.get(service)
    if (entry === undefined) {
      entry = { cert: null, signingKeyId: '', index: 0, validBeforeMs: 0, renewTimer: null, issuing: null, token: query.token, waiters: new IndexWaiters() }
      this.entries.set(service, entry)
    }
    entry.token = query.token
    const { roots } = await this.options.roots.current(query.token)
    if (roots.ActiveRootID === '') throw new ControlPlaneError('ERR_REJECTED', noCaMessage)
    const active = roots.Roots.find(root => root.Active)
    const usable = entry.cert !== null && entry.validBeforeMs > this.now() && active !== undefined && active.SigningKeyID === entry.signingKeyId
    if (!usable) {
      await this.issue(service, entry)
      return { value: entry.cert!, index: entry.index, hit: false }
    }
    if (query.minQueryIndex > 0 && entry.index <= query.minQueryIndex) {
      await entry.waiters.wait(() => entry.index, query.minQueryIndex, query.maxQueryTimeMs)
    }
    return { value: entry.cert!, index: entry.index, hit: true }
  }

  stop (): void {
    this.stopped = true
    this.unsubscribe?.()
    for (const entry of this.entries.values()) {
      if (entry.renewTimer !== null) clearTimeout(entry.renewTimer)
      entry.waiters.wakeAll()
    }
  }

  /** Issues a new leaf for `service`; concurrent callers share one issuance. */
  private async issue (service: string, entry: LeafEntry): Promise<void> {
    entry.issuing ??= (async () => {
      try {
        const { roots } = await this.options.roots.current(entry.token)
        if (roots.TrustDomain === '') throw new ControlPlaneError('ERR_REJECTED', noCaMessage)
        const uri = this.options.serviceUri(roots.TrustDomain, this.options.datacenter, service)
        const material = this.options.makeKeyAndCsr(uri)
        const reply = await this.options.serverApi.caSign(material.csrPem, service, { token: entry.token })
        const { SigningKeyID: signingKeyId, ...cert } = reply
        this.lastIndex = Math.max(this.lastIndex + 1, reply.ModifyIndex)
        entry.cert = { ...cert, PrivateKeyPEM: material.privateKeyPem, CreateIndex: this.lastIndex, ModifyIndex: this.lastIndex }
        entry.signingKeyId = signingKeyId
        entry.index = this.lastIndex
        entry.validBeforeMs = Date.parse(reply.ValidBefore)
        this.scheduleRenewal(service, entry, Date.parse(reply.ValidAfter))
        entry.waiters.notify(entry.index)
      } finally {
        entry.issuing = null
      }
    })()
    await entry.issuing
  }

  /** Renewal at a random point in 45..55% of the lifetime (at once when that is past). */
  private scheduleRenewal (service: string, entry: LeafEntry, validAfterMs: number): void {
    if (entry.renewTimer !== null) clearTimeout(entry.renewTimer)
    const lifetimeMs = entry.validBeforeMs - validAfterMs
    const renewAtMs = validAfterMs + lifetimeMs * (0.45 + 0.1 * this.random())
    this.renewLater(service, entry, Math.max(0, renewAtMs - this.now()))
  }

  private renewLater (service: string, entry: LeafEntry, delayMs: number): void {
    if (this.stopped) return
    if (entry.renewTimer !== null) clearTimeout(entry.renewTimer)
    // setTimeout holds at most 2^31-1 ms (~24.8 days); longer waits re-arm.
    const stepMs = Math.min(delayMs, 2 ** 31 - 1)
    entry.renewTimer = setTimeout(() => {
      entry.renewTimer = null
      if (stepMs < delayMs) { this.renewLater(service, entry, delayMs - stepMs); return }
      this.issue(service, entry).catch((err: Error) => {
        this.options.logger.warn({ service, err: err.message }, 'renewing the leaf certificate failed; retrying in 5s')
        this.renewLater(service, entry, retryDelayMaxMs)
      })
    }, stepMs)
    entry.renewTimer.unref()
  }

  /** A new active root: every cached leaf is re-issued after a random delay (spreads the CSRs). */
  private onRootsChanged (roots: CaRootsReply, previous: CaRootsReply | null): void {
    if (previous === null || previous.ActiveRootID === roots.ActiveRootID) return
    const jitterMs = this.options.rootChangeJitterMs ?? 30_000
    for (const [service, entry] of this.entries) {
      if (entry.cert === null) continue
      this.renewLater(service, entry, Math.floor(this.random() * jitterMs))
    }
  }
}
