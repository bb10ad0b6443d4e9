/**
 * The Connect CA on the servers (spec §6): bootstrap on the leader, configuration and root
 * rotation, pruning of rotated-out roots, and leaf signing.
 *
 *   leader round ──► maintain(): bootstrap once ─► rotate when RotationPeriod passed ─► prune
 *   PUT config ────► setConfig(): same root? store config : new key+root, cross-sign, one apply
 *   agent CSR ─────► sign(): check CSR ─► serial from a reserved block ─► LeafSigner (sync)
 *
 * Every key, certificate and time is decided here, on the leader, before it is proposed; the FSM
 * only records (src/fsm/tables/connect-ca.ts). Bootstrap and rotation write the roots with a
 * compare-and-set on the roots table index, so two leaders racing cannot both install a root:
 * the loser's write is refused and it re-reads. The CA private key lives only in the provider
 * state row (replicated with the log and snapshots); replies never carry it.
 *
 * Serials: the leader reserves blocks of `serialBlockSize` serials with one log write
 * (caIncrementSerial Count) and hands leaf serials out of the block, so a leaf costs no log
 * write. A block dies with the leader that reserved it; serials are never reused, only skipped.
 *
 * Callers: LocalServerApi (src/rpc/server-api.ts) and the agent's leader round (src/agent).
 */
import type { Logger } from 'pino'
import { ControlPlaneError } from '../util/errors.js'
import type { CommandResult, CommandType, StateReader } from '../fsm/index.js'
import type { Command } from '../fsm/commands.js'
import type { CaConfigInput, CaRootInput, CaRootRow } from '../fsm/types.js'
import { normalizeCaConfig, parseCaConfig, sameRootInputs, type CaSettings, type StoredCaConfig } from '../ca/config.js'
import { parseSpiffeId, serviceUri, trustDomainFor } from '../ca/spiffe.js'
import { generatePrivateKeyPem, parsePrivateKeyPem } from '../ca/keys.js'
import { createRootCert, crossSign, parseCertPem, validateExternalCa } from '../ca/certs.js'
import { parseCsrPem } from '../ca/csr.js'
import { LeafSigner } from '../ca/leaf-signer.js'
import type { CaConfigReply, CaConfigUpdate, CaRootReply, CaRootsReply, IssuedCertReply } from './types.js'
import { connectDisabledMessage, type ConnectCaService } from './server-api.js'


export const caUninitializedMessage = 'CA is uninitialized and unable to sign certificates yet: provider is nil'
export const rootName = 'Consul CA Primary Cert'

/** Serials reserved per log write. */
export const serialBlockSize = 4096
/** How long a CSR may wait for the rate limit before it is refused (Consul: 500 ms). */
const rateLimitWaitMs = 500

export interface ConnectCaOptions {
  readonly enabled: boolean
  readonly datacenter: string
  /** `connect.ca_config` from the agent configuration (used at bootstrap only). */
  readonly agentCaConfig: Readonly<Record<string, unknown>>
  /** 1h normally, shorter in -dev (src/ca/config.ts). */
  readonly minimumLeafTtlMs: number
  readonly reader: StateReader
  readonly isLeader: () => boolean
  /** Proposes a command through Raft and resolves with the FSM's result. */
  readonly propose: <K extends CommandType>(command: Extract<Command, { type: K }>) => Promise<CommandResult<K>>
  readonly logger: Logger
  readonly now?: () => number
}

interface SignerEntry {
  readonly rootId: string
  readonly providerIndex: number
  readonly signer: LeafSigner
  readonly root: CaRootRow
  readonly settings: CaSettings
  readonly notAfterMs: number
}

export class ConnectCa implements ConnectCaService {
  private signerEntry: SignerEntry | null = null
  private serialNext = 0
  private serialEnd = -1
  private serialRefill: Promise<void> | null = null
  private maintaining: Promise<void> | null = null
  private lastMaintainError = ''
  private readonly limiter = new RateLimiter()

  constructor (private readonly options: ConnectCaOptions) {}

  private now (): number {
    return (this.options.now ?? Date.now)()
  }

  requireEnabled (): void {
    if (!this.options.enabled) throw new ControlPlaneError('ERR_REJECTED', connectDisabledMessage)
  }

  /** The cluster ID to record when none is yet (agent `connect.ca_config.cluster_id` fixes it). */
  configuredClusterId (): string | null {
    try {
      return normalizeCaConfig(this.options.agentCaConfig, { minimumLeafTtlMs: this.options.minimumLeafTtlMs }).clusterId
    } catch {
      return null
    }
  }

  // -------------------------------------------------------------------------------------------
  // Reads.

  rootsReply (): CaRootsReply {
    const reader = this.options.reader
    const roots = reader.caRoots()
    const config = reader.caConfig()
    const trustDomain = roots.ActiveRootID === '' || config === undefined ? '' : trustDomainFor(config.ClusterID)
    return {
      ActiveRootID: roots.ActiveRootID,
      TrustDomain: trustDomain,
      Roots: roots.Roots.map(rootReply)
    }
  }

  configReply (): CaConfigReply {
    const config = this.options.reader.caConfig()
    if (config === undefined) throw new ControlPlaneError('ERR_REJECTED', 'CA configuration not found: the CA is not bootstrapped yet')
    return {
      Provider: config.Provider,
      Config: config.Config,
      State: Object.keys(config.State).length === 0 ? null : config.State,
      ForceWithoutCrossSigning: config.ForceWithoutCrossSigning,
      CreateIndex: config.CreateIndex,
      ModifyIndex: config.ModifyIndex
    }
  }

  // -------------------------------------------------------------------------------------------
  // Leader work.

  /** Leader round: bootstrap once, rotate a generated root past RotationPeriod, prune old roots. */
  async maintain (): Promise<void> {
    if (!this.options.enabled || !this.options.isLeader()) return
    if (this.maintaining !== null) return await this.maintaining
    this.maintaining = (async () => {
      try {
        await this.bootstrap()
        await this.rotateIfDue()
        await this.prune()
        this.lastMaintainError = ''
      } catch (err) {
        const message = (err as Error).message
        // Log a failure once, not every round, until it changes.
        if (message !== this.lastMaintainError) this.options.logger.error({ err }, 'Failed to initialize Connect CA; retrying every leader round')
        this.lastMaintainError = message
      } finally {
        this.maintaining = null
      }
    })()
    return await this.maintaining
  }

  private async bootstrap (): Promise<void> {
    const reader = this.options.reader
    const roots = reader.caRoots()
    if (roots.ActiveRootID !== '' && reader.caConfig() !== undefined) return
    const clusterId = reader.clusterId()
    if (clusterId === undefined) return // the leader round records it first
    const normalized = normalizeCaConfig(this.options.agentCaConfig, { minimumLeafTtlMs: this.options.minimumLeafTtlMs })
    const settings = parseCaConfig(normalized.config, { minimumLeafTtlMs: this.options.minimumLeafTtlMs })
    const config: CaConfigInput = { ClusterID: clusterId, Provider: 'consul', Config: normalized.config, State: {}, ForceWithoutCrossSigning: false }
    const rootsIndex = reader.tableIndex('connect-ca-roots')
    const material = await this.makeRoot(settings, clusterId)
    await this.options.propose({ type: 'caSetProviderState', State: { ID: material.root.ID, PrivateKey: material.privateKeyPem, RootCert: material.root.RootCert, IntermediateCert: '' } })
    const stored = await this.options.propose({ type: 'caSetRoots', Roots: [material.root], Cas: rootsIndex, Config: config })
    if (stored) {
      this.options.logger.info({ rootId: material.root.ID, trustDomain: trustDomainFor(clusterId) }, 'initialized primary datacenter CA with provider "consul"')
    } else {
      // Another leader got there first; drop this attempt's key.
      await this.options.propose({ type: 'caDeleteProviderState', ID: material.root.ID })
    }
  }

  /** A key (generated or the operator's) and its root, as a root row ready to store. */
  private async makeRoot (settings: CaSettings, clusterId: string): Promise<{ privateKeyPem: string, root: CaRootInput }> {
    const trustDomain = trustDomainFor(clusterId)
    let privateKeyPem: string
    let rootPem: string
    if (settings.privateKey !== null && settings.rootCert !== null) {
      validateExternalCa({ privateKeyPem: settings.privateKey, rootCertPem: settings.rootCert, trustDomain })
      privateKeyPem = settings.privateKey
      rootPem = settings.rootCert
    } else {
      privateKeyPem = settings.privateKey ?? generatePrivateKeyPem({ type: settings.privateKeyType, bits: settings.privateKeyBits })
      if (settings.privateKey !== null) checkExternalKey(privateKeyPem)
      const serial = await this.options.propose({ type: 'caIncrementSerial' })
      rootPem = createRootCert({ privateKeyPem, clusterId, serial, notBefore: new Date(floorSecond(this.now())), ttlMs: settings.rootCertTtlMs })
    }
    const info = parseCertPem(rootPem, 'RootCert')
    const root: CaRootInput = {
      ID: info.id,
      Name: rootName,
      SerialNumber: Number(info.serialNumber <= BigInt(Number.MAX_SAFE_INTEGER) ? info.serialNumber : 0n),
      SigningKeyID: info.subjectKeyId,
      ExternalTrustDomain: clusterId,
      NotBefore: rfc3339(info.notBefore.getTime()),
      NotAfter: rfc3339(info.notAfter.getTime()),
      RootCert: withNewline(info.pem),
      IntermediateCerts: [],
      SigningCert: '',
      Active: true,
      PrivateKeyType: info.spec.type,
      PrivateKeyBits: info.spec.bits,
      RotatedOutAt: ''
    }
    return { privateKeyPem, root }
  }

  /** Applies PUT /v1/connect/ca/configuration on the leader (spec §6.6). */
  async setConfig (update: CaConfigUpdate): Promise<void> {
    this.requireEnabled()
    if (update.Provider !== '' && update.Provider !== 'consul') {
      throw new ControlPlaneError('ERR_INVALID_INPUT', `could not initialize provider: unknown CA provider ${JSON.stringify(update.Provider)}; weft has only the built-in "consul" provider`)
    }
    const reader = this.options.reader
    const current = reader.caConfig()
    const active = reader.caRoots().Roots.find(root => root.Active)
    if (current === undefined || active === undefined) throw new ControlPlaneError('ERR_REJECTED', 'the CA is not bootstrapped yet; wait for a leader with Connect enabled, then retry')
    if (update.State !== null && Object.keys(update.State).length > 0 && JSON.stringify(update.State) !== JSON.stringify(current.State)) {
      throw new ControlPlaneError('ERR_INVALID_INPUT', 'Provider State is read-only. It must be omitted or identical to the current value')
    }
    const options = { minimumLeafTtlMs: this.options.minimumLeafTtlMs }
    const next = normalizeCaConfig(update.Config, options).config
    if (JSON.stringify(sortKeys(next)) === JSON.stringify(sortKeys(current.Config as StoredCaConfig)) && update.ForceWithoutCrossSigning === current.ForceWithoutCrossSigning) return
    const nextSettings = parseCaConfig(next, options)
    const currentSettings = parseCaConfig(current.Config as StoredCaConfig, options)
    const config: CaConfigInput = { ...current, Config: next, ForceWithoutCrossSigning: update.ForceWithoutCrossSigning }
    if (sameRootInputs(nextSettings, currentSettings)) {
      const stored = await this.options.propose({ type: 'caSetConfig', Config: config, Cas: current.ModifyIndex })
      if (!stored) throw new ControlPlaneError('ERR_CONFLICT', 'the CA configuration changed while this update was applied; read it again and retry')
      return
    }
    await this.rotate(nextSettings, config, active)
  }

  /** Installs a new active root: the old key cross-signs it, the old root stays trusted. */
  private async rotate (settings: CaSettings, config: CaConfigInput, active: CaRootRow): Promise<void> {
    const reader = this.options.reader
    const rootsIndex = reader.tableIndex('connect-ca-roots')
    const oldState = reader.caProviderState(active.ID)
    if (oldState === undefined) throw new ControlPlaneError('ERR_REJECTED', `the active root ${active.ID} has no provider state; cannot cross-sign`)
    const material = await this.makeRoot(settings, config.ClusterID)
    if (material.root.ID === active.ID) {
      const stored = await this.options.propose({ type: 'caSetConfig', Config: config, Cas: reader.caConfig()?.ModifyIndex ?? 0 })
      if (!stored) throw new ControlPlaneError('ERR_CONFLICT', 'the CA configuration changed while this update was applied; read it again and retry')
      return
    }
    const now = this.now()
    const crossSerial = await this.options.propose({ type: 'caIncrementSerial' })
    const crossSigned = crossSign({
      certPem: material.root.RootCert,
      signerKeyPem: oldState.PrivateKey,
      signerCertPem: active.RootCert,
      serial: crossSerial,
      now: new Date(now)
    })
    const rotatedAt = rfc3339(now)
    const roots: CaRootInput[] = reader.caRoots().Roots.map(root => stripIndexes(root.ID === active.ID ? { ...root, Active: false, RotatedOutAt: rotatedAt } : root))
    roots.push({ ...material.root, IntermediateCerts: [withNewline(crossSigned)] })
    await this.options.propose({ type: 'caSetProviderState', State: { ID: material.root.ID, PrivateKey: material.privateKeyPem, RootCert: material.root.RootCert, IntermediateCert: '' } })
    const stored = await this.options.propose({ type: 'caSetRoots', Roots: roots, Cas: rootsIndex, Config: config })
    if (!stored) {
      await this.options.propose({ type: 'caDeleteProviderState', ID: material.root.ID })
      throw new ControlPlaneError('ERR_CONFLICT', 'the CA roots changed while this rotation was applied; read the configuration again and retry')
    }
    this.options.logger.info({ oldRootId: active.ID, newRootId: material.root.ID }, 'CA rotated to new root under provider "consul"')
  }

  /** A generated root older than RotationPeriod is replaced by a fresh one (operator keys are kept). */
  private async rotateIfDue (): Promise<void> {
    const reader = this.options.reader
    const config = reader.caConfig()
    const active = reader.caRoots().Roots.find(root => root.Active)
    if (config === undefined || active === undefined) return
    const settings = parseCaConfig(config.Config as StoredCaConfig, { minimumLeafTtlMs: this.options.minimumLeafTtlMs })
    if (settings.privateKey !== null) return
    if (this.now() - Date.parse(active.NotBefore) < settings.rotationPeriodMs) return
    this.options.logger.info({ rootId: active.ID, rotationPeriodMs: settings.rotationPeriodMs }, 'the active root is older than RotationPeriod; rotating')
    await this.rotate(settings, config, active)
  }

  /**
   * Drops rotated-out roots once no unexpired leaf can chain to them: a leaf lives at most
   * LeafCertTTL, and Consul waits twice that after the rotation for clock skew and late renewals.
   */
  private async prune (): Promise<void> {
    const reader = this.options.reader
    const config = reader.caConfig()
    const roots = reader.caRoots().Roots
    if (config === undefined || roots.length < 2) return
    const settings = parseCaConfig(config.Config as StoredCaConfig, { minimumLeafTtlMs: this.options.minimumLeafTtlMs })
    const now = this.now()
    const expired = roots.filter(root => !root.Active && root.RotatedOutAt !== '' && Date.parse(root.RotatedOutAt) + 2 * settings.leafCertTtlMs <= now)
    if (expired.length === 0) return
    const keep = roots.filter(root => !expired.includes(root)).map(stripIndexes)
    const stored = await this.options.propose({ type: 'caSetRoots', Roots: keep, Cas: reader.tableIndex('connect-ca-roots') })
    if (!stored) return
    for (const root of expired) await this.options.propose({ type: 'caDeleteProviderState', ID: root.ID })
    this.options.logger.info({ pruned: expired.map(root => root.ID) }, 'pruned CA roots no unexpired leaf depends on')
  }

  // -------------------------------------------------------------------------------------------
  // Signing (leader only; LocalServerApi forwards).

  async sign (csrPem: string, service: string): Promise<IssuedCertReply> {
    this.requireEnabled()
    const entry = this.currentSigner()
    await this.limiter.take(entry.settings.csrMaxPerSecond)
    const csr = parseCsrPem(csrPem)
    if (csr.uris.length !== 1) throw new ControlPlaneError('ERR_INVALID_INPUT', `CSR SAN contains an invalid number of URIs: ${csr.uris.length}`)
    if (csr.emails.length > 0) throw new ControlPlaneError('ERR_INVALID_INPUT', 'CSR SAN does not allow specifying email addresses')
    const uri = csr.uris[0]!
    const id = parseSpiffeId(uri)
    if (id.kind !== 'service') throw new ControlPlaneError('ERR_INVALID_INPUT', 'SPIFFE ID in CSR must be a service ID')
    const trustDomain = trustDomainFor(entry.root.ExternalTrustDomain)
    if (id.trustDomain !== trustDomain) throw new ControlPlaneError('ERR_INVALID_INPUT', `SPIFFE ID in CSR from a different trust domain: ${id.trustDomain}, we are ${trustDomain}`)
    if (id.datacenter !== this.options.datacenter) throw new ControlPlaneError('ERR_INVALID_INPUT', `SPIFFE ID in CSR from a different datacenter: ${id.datacenter}, we are ${this.options.datacenter}`)
    if (id.service !== service) throw new ControlPlaneError('ERR_INVALID_INPUT', `SPIFFE ID in CSR names service ${JSON.stringify(id.service)}, but the request is for ${JSON.stringify(service)}`)
    const now = this.now()
    if (entry.notAfterMs <= now) throw new ControlPlaneError('ERR_REJECTED', `root expired: certificate expired, expiration date: ${entry.root.NotAfter}`)
    const serial = await this.nextSerial()
    // Backdated for clock skew: a minute as in Consul, less for the short leaves -dev allows.
    const notBeforeMs = floorSecond(now - Math.min(60_000, entry.settings.leafCertTtlMs / 10))
    const notAfterMs = notBeforeMs + entry.settings.leafCertTtlMs
    const signed = entry.signer.sign({ publicKeySpki: csr.publicKeySpki, uri, serial, notBefore: new Date(notBeforeMs), notAfter: new Date(notAfterMs) })
    const index = this.options.reader.tableIndex('connect-ca-builtin-serial')
    return {
      SerialNumber: signed.serialHex,
      CertPEM: withNewline(signed.certPem) + entry.root.IntermediateCerts.map(withNewline).join(''),
      Service: service,
      ServiceURI: uri,
      ValidAfter: rfc3339(notBeforeMs),
      ValidBefore: rfc3339(notAfterMs),
      SigningKeyID: entry.signer.signingKeyId,
      CreateIndex: index,
      ModifyIndex: index
    }
  }

  /** The signer of the active root, rebuilt only when the root or its provider state changes. */
  private currentSigner (): SignerEntry {
    const reader = this.options.reader
    const root = reader.caRoots().Roots.find(candidate => candidate.Active)
    const config = reader.caConfig()
    if (root === undefined || config === undefined) throw new ControlPlaneError('ERR_REJECTED', caUninitializedMessage)
    const state = reader.caProviderState(root.ID)
    if (state === undefined) throw new ControlPlaneError('ERR_REJECTED', `${caUninitializedMessage} (no key for the active root ${root.ID})`)
    const cached = this.signerEntry
    if (cached !== null && cached.rootId === root.ID && cached.providerIndex === state.ModifyIndex && cached.root === root) return cached
    const settings = parseCaConfig(config.Config as StoredCaConfig, { minimumLeafTtlMs: this.options.minimumLeafTtlMs })
    const signer = new LeafSigner({ signingKeyPem: state.PrivateKey, signingCertPem: root.RootCert })
    this.signerEntry = { rootId: root.ID, providerIndex: state.ModifyIndex, signer, root, settings, notAfterMs: Date.parse(root.NotAfter) }
    return this.signerEntry
  }

  private async nextSerial (): Promise<number> {
    for (let attempt = 0; attempt < 3; attempt += 1) {
      if (this.serialNext <= this.serialEnd) {
        const serial = this.serialNext
        this.serialNext += 1
        return serial
      }
      this.serialRefill ??= (async () => {
        try {
          const last = await this.options.propose({ type: 'caIncrementSerial', Count: serialBlockSize })
          this.serialNext = last - serialBlockSize + 1
          this.serialEnd = last
        } finally {
          this.serialRefill = null
        }
      })()
      await this.serialRefill
    }
    throw new ControlPlaneError('ERR_OVERLOADED', 'Rate limit reached, try again later')
  }

  /** Forgets leader-only state (the serial block) when leadership is lost. */
  onLeadershipLost (): void {
    this.serialNext = 0
    this.serialEnd = -1
  }

  /** The service URI an agent puts in its CSR, once the CA is bootstrapped. */
  static serviceUriFor (trustDomain: string, datacenter: string, service: string): string {
    return serviceUri(trustDomain, datacenter, service)
  }
}

/** A token bucket holding one second of CSRs; a request waits up to 500 ms for a token. */
class RateLimiter {
  private tokens = 0
  private refilledAtMs = 0

  async take (perSecond: number): Promise<void> {
    if (perSecond <= 0) return
    const deadline = Date.now() + rateLimitWaitMs
    for (;;) {
      const now = Date.now()
      if (this.refilledAtMs === 0) { this.tokens = perSecond; this.refilledAtMs = now }
      this.tokens = Math.min(perSecond, this.tokens + (now - this.refilledAtMs) * perSecond / 1000)
      this.refilledAtMs = now
      if (this.tokens >= 1) { this.tokens -= 1; return }
      const waitMs = Math.ceil((1 - this.tokens) * 1000 / perSecond)
      if (now + waitMs > deadline) throw new ControlPlaneError('ERR_OVERLOADED', 'Rate limit reached, try again later')
      await new Promise(resolve => setTimeout(resolve, waitMs))
    }
  }
}

function rootReply (root: CaRootRow): CaRootReply {
  return {
    ID: root.ID,
    Name: root.Name,
    SerialNumber: root.SerialNumber,
    SigningKeyID: root.SigningKeyID,
    ExternalTrustDomain: root.ExternalTrustDomain,
    NotBefore: root.NotBefore,
    NotAfter: root.NotAfter,
    RootCert: root.RootCert,
    IntermediateCerts: root.IntermediateCerts.length === 0 ? null : root.IntermediateCerts,
    Active: root.Active,
    PrivateKeyType: root.PrivateKeyType,
    PrivateKeyBits: root.PrivateKeyBits,
    CreateIndex: root.CreateIndex,
    ModifyIndex: root.ModifyIndex
  }
}

function stripIndexes (root: CaRootRow): CaRootInput {
  const { CreateIndex: _created, ModifyIndex: _modified, ...input } = root
  return input
}

/** An operator's key without a root: parse it now so that a bad key is reported as such. */
function checkExternalKey (pem: string): void {
  parsePrivateKeyPem(pem, 'PrivateKey')
}

function sortKeys (record: StoredCaConfig): Array<[string, unknown]> {
  return Object.entries(record).sort(([a], [b]) => a < b ? -1 : a > b ? 1 : 0)
}

function floorSecond (ms: number): number {
  return Math.floor(ms / 1000) * 1000
}

/** RFC 3339 at second precision, as Go prints certificate times. */
export function rfc3339 (ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z')
}

function withNewline (pem: string): string {
  return pem.endsWith('\n') ? pem : pem + '\n'
}
