/**
 * The agent's view of the cluster, kept by SWIM gossip on the LAN port (src/gossip): who is a
 * member, in which state, and how to reach it. Each agent publishes itself in its gossip
 * metadata; every other agent reads that to admit its RPC key, find the servers, decide the
 * bootstrap, and (on the leader) keep the catalog's nodes and serfHealth checks in step.
 *
 *   GossipNode (UDP+TCP, keyring-sealed) ──events──► Membership ──'change'──► Agent
 *        ▲ meta: id role dc rpc ck boot ver kr                     members(): Member[]
 *        └── refreshMeta() when this agent's facts change (Raft started, keyring changed)
 *
 * Metadata keys (kept short: an alive message carries at most 512 bytes of it):
 *   id   node ID (UUID)             role  server | client        dc   datacenter
 *   rpc  tcp://host:port (ZeroMQ)   ck    CURVE public key (Z85)  boot 1 once the server has Raft state
 *   ver  weft version               http  HTTP address            kr   keyring fingerprints (primary first)
 * A member whose metadata does not parse is left out (and logged once): it cannot be reached.
 *
 * Keyring operations (`weft keyring`, /v1/operator/keyring) travel as gossip user broadcasts:
 * every member applies the command, saves its keyring file, then publishes its new
 * fingerprints; the operation is done when every alive member shows the expected state.
 *
 * Callers: src/agent/agent.ts, src/agent/http.ts.
 */
import { EventEmitter } from 'node:events'
import type { Logger } from 'pino'
import { ControlPlaneError, isControlPlaneError } from '../util/errors.js'
import { GossipNode, DEFAULT_GOSSIP_PORT } from '../gossip/node.js'
import type { Member as GossipMember, MemberEvent } from '../gossip/core/types.js'
import type { SwimConfig } from '../gossip/core/config.js'
import {
  Keyring, applyKeyringCommand, decodeKeyringCommand, encodeKeyringCommand, keyringTagValue, parseKeyringTag, summarizeKeyringOperation, summarizeKeyrings,
  type KeyringCommand, type KeyringResponse, type MemberKeyringState
} from '../gossip/keyring.js'
import { saveKeyring } from '../gossip/keyring-store.js'

export interface MemberInfo {
  readonly nodeId: string
  readonly name: string
  readonly datacenter: string
  readonly role: 'server' | 'client'
  /** `tcp://host:port` of the member's ZeroMQ RPC socket. */
  readonly rpcEndpoint: string
  /** The member's CURVE public key (Z85). */
  readonly publicKey: string
  /** Servers: whether this server has Raft state (bootstrapped or joined). */
  readonly bootstrapped: boolean
  readonly httpAddress: string
  readonly version: string
  /** The gossip address, `host:port`. */
  readonly gossipAddress: string
  readonly keyring: { readonly primaryFingerprint: string, readonly fingerprints: readonly string[] } | null
}

/** Serf's view: a suspect member still counts as alive until it is declared failed. */
export type MemberStatus = 'alive' | 'failed' | 'left'

export interface Member {
  readonly info: MemberInfo
  readonly status: MemberStatus
}

export interface MembershipOptions {
  readonly name: string
  readonly bindHost: string
  readonly port: number
  readonly advertiseHost: string
  readonly keyring: Keyring | null
  /** Where the keyring file lives (null: -dev, never saved). */
  readonly dataDir: string | null
  readonly datacenter: string
  readonly logger: Logger
  /** This agent's facts; read again by refreshMeta(). */
  readonly self: () => Omit<MemberInfo, 'gossipAddress' | 'keyring' | 'name' | 'datacenter'>
  readonly gossipConfig?: Partial<SwimConfig>
}

export interface MembershipEvents {
  /** Something about `member` changed (joined, updated, failed, left, reaped). */
  change: [{ readonly type: MemberEvent['type'], readonly member: Member | null, readonly name: string }]
}

const keyringOperationTimeoutMs = 15_000

export class Membership extends EventEmitter<MembershipEvents> {
  private readonly badMeta = new Set<string>()
  private lastMeta = ''

  private constructor (private readonly gossip: GossipNode, private readonly options: MembershipOptions) {
    super()
    gossip.on('event', event => this.onEvent(event))
    gossip.on('broadcast', delivery => { void this.onBroadcast(delivery.origin, delivery.payload) })
  }

  static async start (options: MembershipOptions): Promise<Membership> {
    const gossip = await GossipNode.start({
      name: options.name,
      bindHost: options.bindHost,
      port: options.port,
      advertise: `${options.advertiseHost}:${options.port}`,
      meta: {},
      keyring: options.keyring,
      logger: options.logger,
      ...(options.gossipConfig !== undefined ? { config: options.gossipConfig } : {})
    })
    const membership = new Membership(gossip, options)
    membership.refreshMeta()
    return membership
  }

  get address (): string {
    return this.gossip.address
  }

  /** Re-reads this agent's facts and gossips them when they changed. */
  refreshMeta (): void {
    const self = this.options.self()
    const meta: Record<string, string> = {
      id: self.nodeId,
      role: self.role,
      dc: this.options.datacenter,
      rpc: self.rpcEndpoint,
      ck: self.publicKey,
      boot: self.bootstrapped ? '1' : '0',
      ver: self.version
    }
    if (self.httpAddress !== '') meta.http = self.httpAddress
    if (this.options.keyring !== null) meta.kr = keyringTagValue(this.options.keyring)
    const text = JSON.stringify(meta)
    if (text === this.lastMeta) return
    this.lastMeta = text
    this.gossip.updateMeta(meta)
  }

  /** Every member with readable metadata, this agent included. */
  members (): Member[] {
    const members: Member[] = []
    for (const member of this.gossip.members()) {
      const info = this.parse(member)
      if (info === null) continue
      members.push({ info, status: statusOf(member) })
    }
    return members
  }

  member (name: string): Member | undefined {
    const member = this.gossip.member(name)
    if (member === undefined) return undefined
    const info = this.parse(member)
    return info === null ? undefined : { info, status: statusOf(member) }
  }

  /** Joins through `addresses` (host or host:port); rejects with ERR_TRANSPORT saying why each failed. */
  async join (addresses: readonly string[]): Promise<number> {
    return await this.gossip.join(addresses.map(address => address.includes(':') ? address : `${address}:${DEFAULT_GOSSIP_PORT}`))
  }

  async leave (timeoutMs: number): Promise<void> {
    await this.gossip.leave(timeoutMs).catch((err: Error) => this.options.logger.warn({ err }, 'leaving the gossip pool failed'))
  }

  async stop (): Promise<void> {
    await this.gossip.stop()
  }

  // -------------------------------------------------------------------------------------------
  // Keyring operations.

  private keyringStates (): MemberKeyringState[] {
    return this.members().filter(member => member.status === 'alive').map(member => ({
      name: member.info.name,
      fingerprints: member.info.keyring?.fingerprints ?? [],
      primaryFingerprint: member.info.keyring?.primaryFingerprint ?? null
    }))
  }

  private requireKeyring (): Keyring {
    if (this.options.keyring === null) {
      throw new ControlPlaneError('ERR_REJECTED', 'gossip encryption is not enabled on this agent: start every agent with -encrypt KEY (make one with weft keygen) to use the keyring')
    }
    return this.options.keyring
  }

  keyringList (): KeyringResponse {
    const keyring = this.requireKeyring()
    return summarizeKeyrings(this.keyringStates(), keyring.list().keys, { datacenter: this.options.datacenter })
  }

  /** Sends a keyring command to every member and waits until all alive members show its effect. */
  async keyringOperate (command: KeyringCommand): Promise<void> {
    const keyring = this.requireKeyring()
    // What this agent would refuse, every member would: say so at once (e.g. using a key not installed).
    const listed = keyring.list()
    applyKeyringCommand(new Keyring(listed.keys.map(key => Keyring.parseKey(key)), Keyring.parseKey(listed.primary)), command)
    this.gossip.broadcast(encodeKeyringCommand(command))
    const deadline = Date.now() + keyringOperationTimeoutMs
    for (;;) {
      const status = summarizeKeyringOperation(command, this.keyringStates(), { datacenter: this.options.datacenter, deadlinePassed: Date.now() >= deadline })
      if (status.state === 'done') return
      if (status.state === 'failed') throw new ControlPlaneError('ERR_REJECTED', status.message)
      await new Promise(resolve => setTimeout(resolve, 50))
    }
  }

  private async onBroadcast (origin: string, payload: Uint8Array): Promise<void> {
    let command: KeyringCommand
    try {
      command = decodeKeyringCommand(payload)
    } catch (err) {
      this.options.logger.warn({ origin, err: (err as Error).message }, 'ignored a gossip broadcast that is not a keyring command')
      return
    }
    const keyring = this.options.keyring
    if (keyring === null) return
    try {
      const { changed } = applyKeyringCommand(keyring, command)
      if (!changed) return
      // On disk before the new fingerprints are published: a confirmation means it survives a restart.
      if (this.options.dataDir !== null) await saveKeyring(this.options.dataDir, keyring)
      this.options.logger.info({ op: command.op, origin }, 'applied a gossip keyring change')
      this.refreshMeta()
    } catch (err) {
      const level = isControlPlaneError(err, 'ERR_REJECTED') ? 'warn' : 'error'
      this.options.logger[level]({ op: command.op, origin, err: (err as Error).message }, 'could not apply a gossip keyring change')
    }
  }

  // -------------------------------------------------------------------------------------------

  private onEvent (event: MemberEvent): void {
    if (event.type === 'reap') {
      this.emit('change', { type: event.type, member: null, name: event.member.name })
      return
    }
    const info = this.parse(event.member)
    this.emit('change', { type: event.type, member: info === null ? null : { info, status: statusOf(event.member) }, name: event.member.name })
  }

  private parse (member: GossipMember): MemberInfo | null {
    const meta = member.meta
    const role = meta.role
    const valid = typeof meta.id === 'string' && /^[0-9a-f-]{36}$/.test(meta.id) &&
      (role === 'server' || role === 'client') && typeof meta.dc === 'string' && typeof meta.rpc === 'string' &&
      /^tcp:\/\/.+:\d+$/.test(meta.rpc) && typeof meta.ck === 'string' && meta.ck.length === 40
    if (!valid) {
      // A member that just joined may not have gossiped its metadata yet; say so once.
      if (Object.keys(meta).length > 0 && !this.badMeta.has(member.name)) {
        this.badMeta.add(member.name)
        this.options.logger.warn({ member: member.name, address: member.address }, 'a gossip member has metadata weft cannot read; ignoring it (another version, or not a weft agent?)')
      }
      return null
    }
    return {
      nodeId: meta.id!,
      name: member.name,
      datacenter: meta.dc!,
      role: role as 'server' | 'client',
      rpcEndpoint: meta.rpc!,
      publicKey: meta.ck!,
      bootstrapped: meta.boot === '1',
      httpAddress: meta.http ?? '',
      version: meta.ver ?? '',
      gossipAddress: member.address,
      keyring: meta.kr === undefined ? null : parseKeyringTag(meta.kr) ?? null
    }
  }
}

function statusOf (member: GossipMember): MemberStatus {
  switch (member.status) {
    case 'alive': case 'suspect': return 'alive'
    case 'dead': return 'failed'
    case 'left': return 'left'
  }
}
