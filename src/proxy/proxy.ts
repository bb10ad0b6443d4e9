/**
 * The built-in L4 proxy (spec §7.4, issue #6): one process representing one service, with an
 * optional public listener (inbound mTLS, intentions) and any number of upstream listeners
 * (outbound mTLS to a destination's healthy mesh endpoints).
 *
 *   Certificates (leaf + roots watches) ──snapshot──► PublicListener.useSnapshot, SessionCache reset
 *                                       └─roots changed─► close connections whose root left the bundle
 *   IntentionWatch ──changed──► Authorizer.invalidate, re-check open sources now and after
 *                                recheckDelaysMs ──denied──► close their connections
 *   UpstreamListener ×N ── UpstreamResolver (health/connect watch) per destination
 *
 * Lifecycle: start() loads the certificates (bounded by readyTimeoutMs) before any listener
 * opens, so no connection is ever served without a leaf; reconfigure() reconciles listeners with
 * a changed sidecar registration; stop() closes listeners and connections and ends the watches.
 *
 * Callers: cmd/commands/connect-proxy.ts, tests, bench/proxy.bench.ts.
 */
import type { X509Certificate } from 'node:crypto'
import type { Logger } from 'pino'
import type { AgentPort } from './agent-client.js'
import { Authorizer, IntentionWatch } from './authorize.js'
import { Certificates, type SnapshotChange, type TlsSnapshot } from './certificates.js'
import { upstreamKey } from './config.js'
import { PublicListener } from './listener.js'
import { newCounters, type ProxyCounters } from './metrics.js'
import { chainsToBundle, type TrustBundle } from './trust.js'
import type { ProxyConfig, PublicListenerConfig, UpstreamConfig } from './types.js'
import { SessionCache, UpstreamListener, UpstreamResolver } from './upstream.js'

export interface ProxyOptions {
  readonly agent: AgentPort
  readonly config: ProxyConfig
  readonly logger: Logger
  /**
   * How long authorize answers are reused per source (0 = ask for every connection). Safe to
   * cache because every intention change drops the cache and re-checks open connections; the
   * default 1 s saves the agent round trip (about 1 ms of agent CPU per connection, bench:proxy).
   */
  readonly authorizeCacheTtlMs?: number
  /** Re-checks of open connections after an intention change, besides the immediate one. */
  readonly recheckDelaysMs?: readonly number[]
  /** How long start() waits for the first leaf and roots. */
  readonly readyTimeoutMs?: number
  /** ?wait of the proxy's blocking queries (tests shorten it). */
  readonly watchWaitMs?: number
}

export interface ListenerAddress {
  readonly address: string
  readonly port: number
}

export interface ProxyAddresses {
  readonly publicListener: ListenerAddress | null
  readonly upstreams: ReadonlyArray<ListenerAddress & { readonly destination: string }>
}

interface RunningUpstream {
  readonly config: UpstreamConfig
  readonly listener: UpstreamListener
  readonly address: ListenerAddress
}

const readyTimeoutMsDefault = 30_000
const recheckDelaysMsDefault = [250, 750] as const
export const authorizeCacheTtlMsDefault = 1_000

export class Proxy {
  readonly counters: ProxyCounters = newCounters()
  private readonly certificates: Certificates
  private readonly authorizer: Authorizer
  private readonly intentions: IntentionWatch
  private readonly sessions = new SessionCache()
  private publicListener: { listener: PublicListener, config: PublicListenerConfig, address: ListenerAddress } | null = null
  private readonly upstreams = new Map<string, RunningUpstream>()
  private readonly recheckTimers = new Set<NodeJS.Timeout>()
  private config: ProxyConfig
  private stopped = false

  constructor (private readonly options: ProxyOptions) {
    this.config = options.config
    const { agent, logger } = options
    const service = options.config.service
    this.certificates = new Certificates({
      agent, service, logger, ...(options.watchWaitMs !== undefined ? { waitMs: options.watchWaitMs } : {}),
      onChange: (snapshot, change) => this.onSnapshot(snapshot, change)
    })
    this.authorizer = new Authorizer({ agent, target: service, cacheTtlMs: options.authorizeCacheTtlMs ?? authorizeCacheTtlMsDefault })
    this.intentions = new IntentionWatch({
      agent, target: service, logger, ...(options.watchWaitMs !== undefined ? { waitMs: options.watchWaitMs } : {}),
      onChange: () => this.onIntentionsChanged()
    })
  }

  async start (): Promise<ProxyAddresses> {
    this.certificates.start()
    const snapshot = await this.certificates.ready(this.options.readyTimeoutMs ?? readyTimeoutMsDefault)
    if (this.config.publicListener !== null) await this.openPublicListener(this.config.publicListener, snapshot)
    for (const upstream of this.config.upstreams) await this.openUpstream(upstream)
    return this.addresses()
  }

  addresses (): ProxyAddresses {
    return {
      publicListener: this.publicListener?.address ?? null,
      upstreams: [...this.upstreams.values()].map(running => ({ destination: running.config.destinationName, ...running.address }))
    }
  }

  /** Applies a changed registration (sidecar mode): listeners are added, removed or moved. */
  async reconfigure (config: ProxyConfig): Promise<void> {
    if (config.service !== this.config.service) {
      this.options.logger.warn({ service: this.config.service, registered: config.service }, 'the registration now names another destination service; restart the proxy to represent it')
      return
    }
    this.config = config
    const snapshot = this.snapshot()
    await this.reconcilePublicListener(config.publicListener, snapshot)
    const wanted = new Map(config.upstreams.map(upstream => [upstreamKey(upstream), upstream]))
    for (const [key, running] of this.upstreams) {
      if (wanted.has(key)) continue
      this.upstreams.delete(key)
      await running.listener.close()
      this.options.logger.info({ destination: running.config.destinationName, port: running.address.port }, 'upstream listener closed')
    }
    for (const [key, upstream] of wanted) if (!this.upstreams.has(key)) await this.openUpstream(upstream)
  }

  async stop (): Promise<void> {
    this.stopped = true
    for (const timer of this.recheckTimers) clearTimeout(timer)
    this.recheckTimers.clear()
    this.intentions.stop()
    this.certificates.stop()
    await this.publicListener?.listener.close()
    for (const running of this.upstreams.values()) await running.listener.close()
    this.upstreams.clear()
    this.options.agent.close()
  }

  private snapshot (): TlsSnapshot {
    const snapshot = this.certificates.current
    if (snapshot === null) throw new Error('the proxy has no certificates yet (start() not finished)')
    return snapshot
  }

  private async reconcilePublicListener (config: PublicListenerConfig | null, snapshot: TlsSnapshot): Promise<void> {
    const running = this.publicListener
    if (running !== null && config !== null && running.config.bindAddress === config.bindAddress && running.config.bindPort === config.bindPort) {
      running.listener.setLocalService(config)
      this.publicListener = { ...running, config }
      return
    }
    if (running !== null) {
      this.publicListener = null
      await running.listener.close()
    }
    if (config !== null) await this.openPublicListener(config, snapshot)
  }

  private async openPublicListener (config: PublicListenerConfig, snapshot: TlsSnapshot): Promise<void> {
    const { logger } = this.options
    const listener = new PublicListener({ config, service: this.config.service, snapshot, authorizer: this.authorizer, counters: this.counters, logger })
    const address = await listener.listen()
    this.publicListener = { listener, config, address }
    this.intentions.start()
    logger.info({ service: this.config.service, listen: `${address.address}:${address.port}`, local: `${config.localServiceAddress}:${config.localServicePort}` }, 'public listener started')
  }

  private async openUpstream (config: UpstreamConfig): Promise<void> {
    const { agent, logger } = this.options
    const resolver = new UpstreamResolver({
      agent, destination: config.destinationName, datacenter: config.datacenter, logger, ...(this.options.watchWaitMs !== undefined ? { waitMs: this.options.watchWaitMs } : {})
    })
    resolver.start()
    const listener = new UpstreamListener({ config, service: this.config.service, snapshot: () => this.snapshot(), resolver, sessions: this.sessions, counters: this.counters, logger })
    let address: ListenerAddress
    try {
      address = await listener.listen()
    } catch (err) {
      resolver.stop()
      throw err
    }
    this.upstreams.set(upstreamKey(config), { config, listener, address })
    logger.info({ service: this.config.service, destination: config.destinationName, listen: `${address.address}:${address.port}` }, 'upstream listener started')
  }

  private onSnapshot (snapshot: TlsSnapshot, change: SnapshotChange): void {
    this.sessions.clear()
    this.publicListener?.listener.useSnapshot(snapshot)
    this.options.logger.info({ generation: snapshot.generation, ...change, serial: snapshot.leaf.SerialNumber }, 'TLS certificates swapped for new connections')
    if (change.rootsChanged) this.closeUntrusted(snapshot.bundle)
  }

  /** Closes connections whose peer certificate no longer chains to the bundle. */
  private closeUntrusted (bundle: TrustBundle): void {
    const verdicts = new Map<string, boolean>()
    const untrusted = (certificate: X509Certificate | undefined): boolean => {
      if (certificate === undefined) return false
      const key = certificate.fingerprint256
      let trusted = verdicts.get(key)
      if (trusted === undefined) {
        trusted = chainsToBundle(certificate, bundle)
        verdicts.set(key, trusted)
      }
      return !trusted
    }
    const reason = 'the root that issued the peer certificate left the trust bundle'
    let closed = this.publicListener?.listener.closeWhere(connection => untrusted(connection.peerCertificate), reason) ?? 0
    for (const running of this.upstreams.values()) closed += running.listener.closeWhere(connection => untrusted(connection.peerCertificate), reason)
    this.counters.closedByRootRemoval += closed
    if (closed > 0) this.options.logger.warn({ closed, roots: bundle.rootIds }, 'closed connections whose issuing root left the trust bundle')
  }

  private onIntentionsChanged (): void {
    if (this.stopped) return
    this.authorizer.invalidate()
    void this.recheckOpenConnections()
    for (const delayMs of this.options.recheckDelaysMs ?? recheckDelaysMsDefault) {
      const timer = setTimeout(() => {
        this.recheckTimers.delete(timer)
        void this.recheckOpenConnections()
      }, delayMs)
      this.recheckTimers.add(timer)
    }
  }

  /** Asks the agent again about every source with open connections; closes the denied ones. */
  private async recheckOpenConnections (): Promise<void> {
    const running = this.publicListener
    if (running === null || this.stopped) return
    const sources = new Map<string, string>()
    for (const connection of running.listener.connections) if (!connection.closing) sources.set(connection.sourceUri, connection.serial)
    await Promise.all([...sources].map(async ([uri, serial]) => {
      let decision
      try {
        decision = await this.authorizer.fetch(uri, serial)
      } catch (err) {
        this.options.logger.warn({ source: uri, err: (err as Error).message }, 're-authorizing open connections failed; they stay open until the next change')
        return
      }
      if (decision.authorized) return
      const closed = running.listener.closeWhere(connection => connection.sourceUri === uri, `intention now denies: ${decision.reason}`)
      this.counters.inboundClosedByIntention += closed
      if (closed > 0) this.options.logger.info({ source: uri, destination: this.config.service, closed, reason: decision.reason }, 'closed open connections denied by an intention change')
    }))
  }
}
