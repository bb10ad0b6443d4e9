/**
 * The proxy's certificates: its service's leaf and the trust bundle, each watched with a
 * blocking query on the local agent (spec §7.4), combined into immutable TLS snapshots.
 *
 *   leaf watch  ─┐                       ┌─► public listener: server.setSecureContext(serverOptions)
 *                ├─► TlsSnapshot (gen N) ─┤
 *   roots watch ─┘                       └─► upstream dials: tls.connect({ secureContext: clientContext })
 *
 * A snapshot is never changed; a new leaf or new roots make a new one with the next
 * generation. Connections keep the context they were made with, so swapping certificates never
 * touches an established connection. Both listeners require TLS 1.3 and a peer certificate that
 * chains to the bundle (every root, active or not, plus their intermediates).
 *
 * Callers: proxy.ts.
 */
import { createSecureContext, type SecureContext, type SecureContextOptions } from 'node:tls'
import type { Logger } from 'pino'
import type { AgentPort } from './agent-client.js'
import { bundleFromRoots, sameRoots, type RootsAnswer, type TrustBundle } from './trust.js'
import { Watch } from './watch.js'

/** The agent's leaf answer (spec §7.2), the fields the proxy reads. */
export interface LeafAnswer {
  readonly SerialNumber: string
  readonly CertPEM: string
  readonly PrivateKeyPEM: string
  readonly Service: string
  readonly ServiceURI: string
  readonly ValidAfter: string
  readonly ValidBefore: string
  readonly ModifyIndex: number
}

export interface TlsSnapshot {
  /** 1 for the first snapshot, +1 for each change. */
  readonly generation: number
  readonly leaf: LeafAnswer
  readonly bundle: TrustBundle
  /** The datacenter in the leaf's SPIFFE ID: the proxy's own. */
  readonly datacenter: string
  readonly serverOptions: SecureContextOptions
  readonly clientContext: SecureContext
}

export interface SnapshotChange {
  readonly leafChanged: boolean
  readonly rootsChanged: boolean
}

export interface CertificatesOptions {
  readonly agent: AgentPort
  readonly service: string
  readonly logger: Logger
  readonly onChange: (snapshot: TlsSnapshot, change: SnapshotChange) => void
  /** ?wait of each blocking query. */
  readonly waitMs?: number
}

const waitMsDefault = 60_000
const requestSlackMs = 15_000

export const tlsMinVersion = 'TLSv1.3'

export class Certificates {
  private leaf: LeafAnswer | null = null
  private bundle: TrustBundle | null = null
  private snapshot: TlsSnapshot | null = null
  private readonly leafWatch: Watch<LeafAnswer>
  private readonly rootsWatch: Watch<RootsAnswer>

  constructor (private readonly options: CertificatesOptions) {
    const waitMs = options.waitMs ?? waitMsDefault
    const leafPath = `/v1/agent/connect/ca/leaf/${encodeURIComponent(options.service)}`
    this.leafWatch = new Watch<LeafAnswer>({
      what: `leaf ${options.service}`,
      logger: options.logger,
      fetch: async (version, signal) => {
        const answer = await options.agent.request<LeafAnswer>({ method: 'GET', path: leafPath, query: blockingQuery(version, waitMs), timeoutMs: waitMs + requestSlackMs, signal })
        return { value: answer.value, version: String(answer.index) }
      },
      onValue: leaf => this.acceptLeaf(leaf)
    })
    this.rootsWatch = new Watch<RootsAnswer>({
      what: 'roots',
      logger: options.logger,
      fetch: async (version, signal) => {
        const answer = await options.agent.request<RootsAnswer>({ method: 'GET', path: '/v1/agent/connect/ca/roots', query: blockingQuery(version, waitMs), timeoutMs: waitMs + requestSlackMs, signal })
        return { value: answer.value, version: String(answer.index) }
      },
      onValue: roots => this.acceptRoots(roots)
    })
  }

  start (): void {
    this.leafWatch.start()
    this.rootsWatch.start()
  }

  stop (): void {
    this.leafWatch.stop()
    this.rootsWatch.stop()
  }

  get current (): TlsSnapshot | null {
    return this.snapshot
  }

  /** The first snapshot, once both the leaf and the roots have loaded. */
  async ready (timeoutMs: number): Promise<TlsSnapshot> {
    await Promise.all([this.leafWatch.ready(timeoutMs), this.rootsWatch.ready(timeoutMs)])
    const snapshot = this.snapshot
    if (snapshot === null) throw new Error('certificates loaded but no TLS snapshot was built')
    return snapshot
  }

  private acceptLeaf (leaf: LeafAnswer): void {
    if (this.leaf !== null && this.leaf.CertPEM === leaf.CertPEM) return
    this.leaf = leaf
    this.options.logger.info({ service: leaf.Service, serial: leaf.SerialNumber, validBefore: leaf.ValidBefore }, 'leaf certificate loaded')
    this.rebuild({ leafChanged: true, rootsChanged: false })
  }

  private acceptRoots (roots: RootsAnswer): void {
    if (roots.Roots.length === 0) {
      this.options.logger.warn({ trustDomain: roots.TrustDomain }, 'the agent reports no CA roots yet; keeping the current trust bundle')
      return
    }
    const bundle = bundleFromRoots(roots)
    if (this.bundle !== null && sameRoots(this.bundle, bundle)) return
    this.bundle = bundle
    this.options.logger.info({ trustDomain: bundle.trustDomain, activeRootId: bundle.activeRootId, roots: bundle.rootIds.length }, 'trust bundle loaded')
    this.rebuild({ leafChanged: false, rootsChanged: true })
  }

  private rebuild (change: SnapshotChange): void {
    if (this.leaf === null || this.bundle === null) return
    const previous = this.snapshot
    this.snapshot = buildSnapshot({ leaf: this.leaf, bundle: this.bundle, generation: (previous?.generation ?? 0) + 1 })
    if (previous !== null) this.options.onChange(this.snapshot, change)
  }
}

export function buildSnapshot (o: { leaf: LeafAnswer, bundle: TrustBundle, generation: number }): TlsSnapshot {
  const serverOptions: SecureContextOptions = {
    key: o.leaf.PrivateKeyPEM,
    cert: o.leaf.CertPEM,
    ca: [...o.bundle.caPems],
    minVersion: tlsMinVersion
  }
  return {
    generation: o.generation,
    leaf: o.leaf,
    bundle: o.bundle,
    datacenter: datacenterOf(o.leaf.ServiceURI),
    serverOptions,
    clientContext: createSecureContext(serverOptions)
  }
}

/** `spiffe://td/ns/default/dc/dc1/svc/web` → `dc1` ('' when the URI has no dc segment). */
function datacenterOf (uri: string): string {
  const match = /\/dc\/([^/]+)\//.exec(uri)
  return match?.[1] ?? ''
}

export function blockingQuery (version: string, waitMs: number): Record<string, string | undefined> {
  return version === '' || version === '0' ? {} : { index: version, wait: `${Math.ceil(waitMs / 1000)}s` }
}
