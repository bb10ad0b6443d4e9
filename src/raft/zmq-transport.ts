/**
 * RaftTransport over ZeroMQ (zeromq.js v6) with CURVE encryption, ZAP client authorization and
 * an authenticated sender identity on every inbound frame.
 *
 *   this node                                         peer P
 *   DEALER to P (curveServerKey = P's key) ──tcp──▶   ROUTER (curveServer, zapDomain)
 *     sends raft and request frames                     │  handshake: ZAP asks the process-wide
 *     receives response frames ◀── same connection ──── │  handler whether our key is authorized
 *   ROUTER (bound once, receives from every peer) ◀─── DEALER from P
 *
 * Who may connect: CURVE alone encrypts but accepts any client key. The ZAP handler (RFC 27,
 * `inproc://zeromq.zap.01`, one per process, see ZapHandler below) admits a client only if its
 * public key is authorized for the ROUTER's zapDomain: a peer's key (setPeer) or one passed to
 * `authorize`. Each transport uses its own domain, so several transports share one process;
 * nothing else in the process may bind that endpoint. libzmq never redials a connection whose
 * handshake was refused, so DEALERs redial those themselves (a peer may authorize us late).
 *
 * Who sent a frame: zeromq.js does not expose which CURVE key a ROUTER message arrived with,
 * and a routing id is chosen by the client, so neither proves the sender. Each DEALER therefore
 * connects with a routing id `<nonce>.<tag>.<senderId>` where tag = HMAC(pair key, sender,
 * recipient, nonce) and the pair key comes from the X25519 agreement of the two nodes' CURVE
 * keys: only the sender (or the recipient itself) can compute it, and the routing id travels
 * inside the CURVE handshake, so no third node can see or reuse it. The ROUTER verifies it once
 * per connection and then checks that every raft message's `from` is the verified sender.
 *
 * Flow control: zeromq.js allows one pending `send` per socket, so every socket that sends has
 * an Outbox: a bounded FIFO (messages and bytes) drained by one loop. A full outbox drops the
 * newest message and counts it (Raft retransmits); DEALERs use `immediate`, so while a peer is
 * down nothing piles up inside ZeroMQ beyond one blocked send. Per peer at most
 * queueMessagesMax + sendHighWaterMark frames exist at once.
 *
 * Network input never crashes the loops: oversized, unauthenticated, spoofed or undecodable
 * frames are dropped, counted and logged at most once per warnIntervalMs per reason.
 *
 * Used by the Raft shell (node.ts); the agent loads the key pair (curve-keys.ts).
 */
import { createHmac, hkdfSync, randomBytes, timingSafeEqual } from 'node:crypto'
import * as zmq from 'zeromq'
import type { Message, NodeId } from './core/types.js'
import type { PeerInfo, RaftTransport, RequestHandler, RequestOptions } from './transport.js'
import { checkNodeId, decodeFrame, encodeFrame, isKnownErrorCode, type Frame, type RemoteError } from './codec.js'
import { checkCurveKeyPair, curveSharedSecret, isCurveKey, z85Encode, type CurveKeyPair } from './curve-keys.js'
import { assert } from '../util/assert.js'
import { ControlPlaneError } from '../util/errors.js'

/** A pino-compatible logger: fields first, then a fixed message. */
export interface TransportLogger {
  debug (fields: Record<string, unknown>, message: string): void
  info (fields: Record<string, unknown>, message: string): void
  warn (fields: Record<string, unknown>, message: string): void
  error (fields: Record<string, unknown>, message: string): void
}

export interface ZmqTransportOptions {
  readonly localId: NodeId
  /** Where the ROUTER binds, e.g. `tcp://0.0.0.0:8300`; port 0 or `*` picks a free port. */
  readonly bindEndpoint: string
  /** This node's CURVE identity (see curve-keys.ts). */
  readonly keyPair: CurveKeyPair
  readonly logger: TransportLogger
  /** Client keys admitted besides the peers' own keys (setPeer admits those). Default none. */
  readonly authorizedKeys?: Iterable<string>
  /** Frames queued per peer before new ones are dropped. Default 1024. */
  readonly queueMessagesMax?: number
  /** Bytes queued per peer before new frames are dropped; at least messageBytesMax. Default 128 MiB. */
  readonly queueBytesMax?: number
  /** Largest encoded frame sent or accepted; ZeroMQ disconnects a peer that sends more. Default 64 MiB. */
  readonly messageBytesMax?: number
  /** Outstanding `request` calls; more reject with ERR_OVERLOADED. Default 1024. */
  readonly requestsPendingMax?: number
  /** Inbound requests being served at once; more are answered ERR_OVERLOADED. Default 1024. */
  readonly inboundRequestsMax?: number
  /** First reconnect delay after a peer connection fails. Default 100. */
  readonly reconnectIntervalMs?: number
  /** Reconnect delays double up to this. Default 2000. */
  readonly reconnectIntervalMaxMs?: number
  /** ZMTP heartbeats detect a silently dead connection; it is dropped after heartbeatTimeoutMs. Default 1000. */
  readonly heartbeatIntervalMs?: number
  /** Default 5000. */
  readonly heartbeatTimeoutMs?: number
  /** A send to a peer that is not connected fails after this long (a request: "not delivered"). Default 1000. */
  readonly sendTimeoutMs?: number
  /** Each kind of warning is logged at most once per this interval. Default 1000. */
  readonly warnIntervalMs?: number
  /** ZAP domain of this transport's ROUTER; must be unique in the process. Default random. */
  readonly zapDomain?: string
}

export const zmqTransportDefaults = Object.freeze({
  queueMessagesMax: 1024,
  queueBytesMax: 128 * 1024 * 1024,
  messageBytesMax: 64 * 1024 * 1024,
  requestsPendingMax: 1024,
  inboundRequestsMax: 1024,
  reconnectIntervalMs: 100,
  reconnectIntervalMaxMs: 2000,
  heartbeatIntervalMs: 1000,
  heartbeatTimeoutMs: 5000,
  sendTimeoutMs: 1000,
  warnIntervalMs: 1000
})

export interface PeerStats {
  readonly endpoint: string
  readonly queuedMessages: number
  readonly queuedBytes: number
  readonly droppedMessages: number
  readonly sentMessages: number
}

export interface ZmqTransportStats {
  readonly peers: Readonly<Record<NodeId, PeerStats>>
  /** Inbound frames dropped, by reason (oversized, unauthenticated, spoofed, malformed, ...). */
  readonly inboundDropped: Readonly<Record<string, number>>
  readonly inboundMessages: number
  /** Connection attempts the ZAP handler refused for this transport. */
  readonly zapDenied: number
  readonly handlerErrors: number
  readonly requestsPending: number
  readonly inboundRequests: number
}

type ResolvedOptions = Required<Omit<ZmqTransportOptions, 'authorizedKeys' | 'zapDomain'>> & { readonly zapDomain: string }

interface PendingRequest {
  readonly peer: PeerState
  readonly abandonOnDisconnect: boolean
  readonly timer: NodeJS.Timeout
  readonly resolve: (result: unknown) => void
  readonly reject: (err: ControlPlaneError) => void
}

interface PeerState {
  readonly id: NodeId
  readonly info: PeerInfo
  /** HKDF of the X25519 agreement between our key and the peer's; authenticates routing ids. */
  readonly pairKey: Uint8Array
  readonly socket: zmq.Dealer
  readonly outbox: Outbox
  /** Re-dialing after a refused handshake, which libzmq itself never retries. */
  readonly redial: { delayMs: number, timer: NodeJS.Timeout | undefined, closed: boolean }
}

type Phase = 'new' | 'starting' | 'running' | 'closed'

export class ZmqTransport implements RaftTransport {
  readonly localId: NodeId
  private readonly options: ResolvedOptions
  private readonly logger: TransportLogger
  private readonly warnings: RateLimitedWarnings
  private readonly explicitlyAuthorizedKeys = new Set<string>()
  private readonly peers = new Map<NodeId, PeerState>()
  /** Routing ids already verified, to the peer state they were verified against. */
  private readonly verifiedRoutingIds = new Map<string, PeerState>()
  private readonly pending = new Map<number, PendingRequest>()
  private readonly loops = new Set<Promise<void>>()
  private readonly inboundDropped = new Map<string, number>()
  private phase: Phase = 'new'
  private starting: Promise<void> | undefined
  private closing: Promise<void> | undefined
  private router: zmq.Router | undefined
  private routerOutbox: Outbox | undefined
  private boundEndpoint: string | undefined
  private onMessage: ((message: Message) => void) | undefined
  private onRequest: RequestHandler | undefined
  private nextRequestId = 1
  private inboundRequests = 0
  private inboundMessages = 0
  private zapDenied = 0
  private handlerErrors = 0
  private zapRegistered = false

  constructor (options: ZmqTransportOptions) {
    this.options = resolveOptions(options)
    this.localId = options.localId
    this.logger = options.logger
    this.warnings = new RateLimitedWarnings(options.logger, this.options.warnIntervalMs)
    for (const key of options.authorizedKeys ?? []) this.authorize(key)
  }

  /** Binds and starts receiving. May be retried after it rejects (e.g. the port is taken). */
  async start (onMessage: (message: Message) => void, onRequest: RequestHandler): Promise<void> {
    assert(this.phase === 'new', `transport start called in phase ${this.phase}`)
    if (this.closing !== undefined) throw new ControlPlaneError('ERR_STOPPED', 'transport is closed')
    this.phase = 'starting'
    this.starting = this.bindAndListen(onMessage, onRequest)
    await this.starting
  }

  private async bindAndListen (onMessage: (message: Message) => void, onRequest: RequestHandler): Promise<void> {
    this.onMessage = onMessage
    this.onRequest = onRequest
    // ZAP must answer before the ROUTER accepts anything: without a handler CURVE admits any key.
    await zapHandler.register(this.options.zapDomain, request => this.decideZap(request))
    this.zapRegistered = true
    const router = new zmq.Router({
      curveServer: true,
      curvePublicKey: this.options.keyPair.publicKey,
      curveSecretKey: this.options.keyPair.secretKey,
      zapDomain: this.options.zapDomain,
      linger: 0,
      maxMessageSize: this.options.messageBytesMax,
      sendHighWaterMark: this.options.queueMessagesMax,
      receiveHighWaterMark: this.options.queueMessagesMax,
      heartbeatInterval: this.options.heartbeatIntervalMs,
      heartbeatTimeout: this.options.heartbeatTimeoutMs,
      mandatory: false,
      // A peer that reconnects (after its heartbeat timed out a paused or partitioned node) comes
      // back with the same routing id. Without handover the ROUTER keeps routing replies to the
      // old, dead connection until it notices, which can take long enough to stall forwarded
      // requests for many seconds. Only the real peer can present its (HMAC-signed) id.
      handover: true
    })
    try {
      await router.bind(this.options.bindEndpoint)
    } catch (err) {
      router.close()
      this.zapRegistered = false
      await zapHandler.unregister(this.options.zapDomain)
      this.phase = 'new'
      throw new ControlPlaneError('ERR_TRANSPORT', `cannot bind Raft transport to ${this.options.bindEndpoint}: ${String((err as Error).message)}`, { cause: err, details: { endpoint: this.options.bindEndpoint } })
    }
    const endpoint = router.lastEndpoint
    assert(endpoint !== null && endpoint.startsWith('tcp://'), `ROUTER reports no tcp endpoint after bind: ${String(endpoint)}`)
    this.router = router
    this.boundEndpoint = endpoint
    this.routerOutbox = new Outbox(router, this.outboxLimits(), {
      isWanted: () => true,
      onSendError: err => this.warnings.warn('router-send', { err }, 'sending a response failed')
    })
    this.track(this.routerOutbox.done)
    this.track(this.receiveFromRouter(router))
    this.phase = 'running'
    this.logger.info({ endpoint, zapDomain: this.options.zapDomain }, 'raft transport listening')
  }

  endpoint (): string {
    assert(this.boundEndpoint !== undefined, 'transport endpoint read before start completed')
    return this.boundEndpoint
  }

  /** Admits a client public key at the ZAP handshake (peers' keys are admitted by setPeer). */
  authorize (publicKey: string): void {
    if (!isCurveKey(publicKey)) throw new ControlPlaneError('ERR_INVALID_INPUT', `authorized key must be a 40-character Z85 CURVE key, got ${JSON.stringify(publicKey)}`)
    this.explicitlyAuthorizedKeys.add(publicKey)
  }

  /** Withdraws a key given to `authorize`. Established connections stay until they drop. */
  revoke (publicKey: string): void {
    this.explicitlyAuthorizedKeys.delete(publicKey)
  }

  /** Replaces every key given to `authorize` (peers' keys stay admitted). */
  setAuthorizedKeys (publicKeys: Iterable<string>): void {
    const keys = [...publicKeys]
    for (const key of keys) {
      if (!isCurveKey(key)) throw new ControlPlaneError('ERR_INVALID_INPUT', `authorized key must be a 40-character Z85 CURVE key, got ${JSON.stringify(key)}`)
    }
    this.explicitlyAuthorizedKeys.clear()
    for (const key of keys) this.explicitlyAuthorizedKeys.add(key)
  }

  isAuthorized (publicKey: string): boolean {
    if (this.explicitlyAuthorizedKeys.has(publicKey)) return true
    for (const peer of this.peers.values()) {
      if (peer.info.publicKey === publicKey) return true
    }
    return false
  }

  /**
   * Adds or updates a peer and admits its key at our ZAP handler. A changed endpoint or key
   * replaces the connection: frames still queued for the old one are dropped and requests in
   * flight to it reject with ERR_TRANSPORT.
   */
  setPeer (id: NodeId, info: PeerInfo): void {
    if (this.closing !== undefined) throw new ControlPlaneError('ERR_STOPPED', 'transport is closed')
    checkPeer(this.localId, id, info)
    const existing = this.peers.get(id)
    if (existing !== undefined && existing.info.endpoint === info.endpoint && existing.info.publicKey === info.publicKey) return
    if (existing !== undefined) this.closePeer(existing, 'peer address changed')
    const pairKey = derivePairKey({ secretKey: this.options.keyPair.secretKey, peerPublicKey: info.publicKey })
    const peer = this.openPeer(id, { endpoint: info.endpoint, publicKey: info.publicKey }, pairKey)
    this.peers.set(id, peer)
    this.logger.info({ peerId: id, endpoint: info.endpoint }, 'raft peer set')
  }

  /** Forgets a peer: its queue is dropped, and frames it still sends us are dropped too. */
  removePeer (id: NodeId): void {
    const peer = this.peers.get(id)
    if (peer === undefined) return
    this.peers.delete(id)
    this.closePeer(peer, 'peer removed')
    this.logger.info({ peerId: id }, 'raft peer removed')
  }

  send (message: Message): void {
    assert(message.from === this.localId, `send of a message from ${message.from} on transport ${this.localId}`)
    if (this.closing !== undefined) return
    const peer = this.peers.get(message.to)
    if (peer === undefined) {
      this.warnings.warn('unknown-peer', { peerId: message.to, type: message.type }, 'dropping message to unknown peer')
      return
    }
    const frame = encodeFrame({ kind: 'raft', message })
    if (frame.length > this.options.messageBytesMax) {
      this.logger.error({ peerId: message.to, type: message.type, bytes: frame.length, messageBytesMax: this.options.messageBytesMax }, 'dropping message over messageBytesMax')
      return
    }
    this.enqueue(peer, { parts: frame, bytes: frame.length, requestId: undefined })
  }

  async request (to: NodeId, payload: unknown, options: RequestOptions): Promise<unknown> {
    assert(Number.isSafeInteger(options.timeoutMs) && options.timeoutMs > 0, `request timeoutMs must be a positive integer, got ${options.timeoutMs}`)
    if (this.closing !== undefined) throw new ControlPlaneError('ERR_STOPPED', 'transport is closed')
    const peer = this.peers.get(to)
    if (peer === undefined) throw new ControlPlaneError('ERR_TRANSPORT', `no known peer ${JSON.stringify(to)} to send a request to`, { details: { peerId: to } })
    if (this.pending.size >= this.options.requestsPendingMax) {
      throw new ControlPlaneError('ERR_OVERLOADED', `${this.pending.size} requests are already pending (requestsPendingMax)`, { details: { requestsPendingMax: this.options.requestsPendingMax } })
    }
    const id = this.nextRequestId
    this.nextRequestId += 1
    const frame = this.encodeRequest(id, payload)
    return await new Promise<unknown>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id)
        reject(new ControlPlaneError('ERR_TIMEOUT', `no answer from ${to} within ${options.timeoutMs} ms; the outcome is unknown`, { details: { peerId: to, timeoutMs: options.timeoutMs } }))
      }, options.timeoutMs)
      this.pending.set(id, { peer, abandonOnDisconnect: options.abandonOnDisconnect === true, timer, resolve, reject })
      if (!this.enqueue(peer, { parts: frame, bytes: frame.length, requestId: id })) {
        clearTimeout(timer)
        this.pending.delete(id)
        reject(new ControlPlaneError('ERR_OVERLOADED', `outbound queue to ${to} is full; the request was not sent`, { details: { peerId: to } }))
      }
    })
  }

  /**
   * Stops both loops, rejects pending requests with ERR_STOPPED and closes every socket. From
   * the call on, sends are ignored and requests reject; a start in progress finishes first.
   */
  async close (): Promise<void> {
    this.closing ??= this.shutDown()
    await this.closing
  }

  private async shutDown (): Promise<void> {
    await this.starting?.catch(() => undefined)
    this.phase = 'closed'
    // Stop accepting first; only then may the ZAP domain go away (unknown domains are refused).
    this.router?.close()
    this.routerOutbox?.stop()
    for (const [id, request] of this.pending) {
      clearTimeout(request.timer)
      request.reject(new ControlPlaneError('ERR_STOPPED', `transport closed before ${request.peer.id} answered; the outcome is unknown`, { details: { peerId: request.peer.id } }))
      this.pending.delete(id)
    }
    for (const peer of this.peers.values()) this.closePeer(peer, 'transport closed')
    this.peers.clear()
    this.verifiedRoutingIds.clear()
    if (this.zapRegistered) {
      this.zapRegistered = false
      await zapHandler.unregister(this.options.zapDomain)
    }
    await Promise.all([...this.loops])
    this.logger.info({}, 'raft transport closed')
  }

  stats (): ZmqTransportStats {
    const peers = [...this.peers.values()].map((peer): [NodeId, PeerStats] => [peer.id, {
      endpoint: peer.info.endpoint,
      queuedMessages: peer.outbox.queuedMessages,
      queuedBytes: peer.outbox.queuedBytes,
      droppedMessages: peer.outbox.droppedCount,
      sentMessages: peer.outbox.sentCount
    }])
    return {
      peers: Object.fromEntries(peers),
      inboundDropped: Object.fromEntries(this.inboundDropped),
      inboundMessages: this.inboundMessages,
      zapDenied: this.zapDenied,
      handlerErrors: this.handlerErrors,
      requestsPending: this.pending.size,
      inboundRequests: this.inboundRequests
    }
  }

  // -------------------------------------------------------------------------------------------
  // Outbound.

  private openPeer (id: NodeId, info: PeerInfo, pairKey: Uint8Array): PeerState {
    const socket = new zmq.Dealer({
      routingId: makeRoutingId({ senderId: this.localId, recipientId: id, pairKey, nonce: randomBytes(routingIdNonceBytes) }),
      curveServerKey: info.publicKey,
      curvePublicKey: this.options.keyPair.publicKey,
      curveSecretKey: this.options.keyPair.secretKey,
      linger: 0,
      immediate: true,
      sendHighWaterMark: this.options.queueMessagesMax,
      receiveHighWaterMark: this.options.queueMessagesMax,
      maxMessageSize: this.options.messageBytesMax,
      reconnectInterval: this.options.reconnectIntervalMs,
      reconnectMaxInterval: this.options.reconnectIntervalMaxMs,
      heartbeatInterval: this.options.heartbeatIntervalMs,
      heartbeatTimeout: this.options.heartbeatTimeoutMs,
      // A send that cannot reach a connected peer fails (EAGAIN) instead of waiting for the peer to
      // come back: a request is then known not to have been delivered, and the caller may retry
      // it elsewhere without risking a duplicate.
      sendTimeout: this.options.sendTimeoutMs
    })
    const outbox = new Outbox(socket, this.outboxLimits(), {
      // A request whose caller already gave up is not worth sending.
      isWanted: item => item.requestId === undefined || this.pending.has(item.requestId),
      onSendError: (err, item) => {
        if (item.requestId !== undefined) this.rejectUndelivered(item.requestId, id)
        else this.warnings.warn(`send-error:${id}`, { err, peerId: id }, 'sending to peer failed')
      }
    })
    const peer: PeerState = { id, info, pairKey, socket, outbox, redial: { delayMs: this.options.reconnectIntervalMs, timer: undefined, closed: false } }
    socket.events.on('handshake', () => { peer.redial.delayMs = this.options.reconnectIntervalMs })
    socket.events.on('handshake:error:auth', () => { this.scheduleRedial(peer, 'peer refused our CURVE key (not authorized there yet?)') })
    socket.events.on('handshake:error:protocol', () => { this.scheduleRedial(peer, 'handshake protocol error') })
    // The peer died or the link broke: its answers to requests in flight will not come (the
    // ROUTER that would send them is gone), so repeatable ones fail now and go elsewhere.
    socket.events.on('disconnect', () => { this.abandonRepeatable(peer) })
    socket.connect(info.endpoint)
    this.track(outbox.done)
    this.track(this.receiveResponses(peer))
    return peer
  }

  /**
   * libzmq retries failed connections by itself, but not a handshake the server refused (ZAP
   * said no, e.g. because the peer has not authorized our key yet) or found malformed: that
   * connection is abandoned for good. Dial again with the usual backoff, so a peer that
   * authorizes us later is reached without recreating the socket (and its queue).
   */
  private scheduleRedial (peer: PeerState, reason: string): void {
    if (peer.redial.closed || peer.redial.timer !== undefined) return
    const delayMs = peer.redial.delayMs
    peer.redial.delayMs = Math.min(delayMs * 2, this.options.reconnectIntervalMaxMs)
    this.warnings.warn(`redial:${peer.id}`, { peerId: peer.id, endpoint: peer.info.endpoint, reason, delayMs }, 'handshake with peer failed; dialing again')
    peer.redial.timer = setTimeout(() => {
      peer.redial.timer = undefined
      if (peer.redial.closed) return
      try {
        peer.socket.disconnect(peer.info.endpoint)
      } catch {
        // Already gone: libzmq dropped the endpoint with the failed session.
      }
      peer.socket.connect(peer.info.endpoint)
    }, delayMs)
  }

  private rejectUndelivered (requestId: number, peerId: NodeId): void {
    const pending = this.pending.get(requestId)
    if (pending === undefined) return
    this.pending.delete(requestId)
    clearTimeout(pending.timer)
    pending.reject(new ControlPlaneError('ERR_TRANSPORT', `could not reach ${peerId} within ${this.options.sendTimeoutMs} ms; the request was not sent`,
      { details: { peerId, notDelivered: true } }))
  }

  private abandonRepeatable (peer: PeerState): void {
    let abandoned = 0
    for (const [id, request] of this.pending) {
      if (request.peer !== peer || !request.abandonOnDisconnect) continue
      clearTimeout(request.timer)
      this.pending.delete(id)
      abandoned += 1
      request.reject(new ControlPlaneError('ERR_TRANSPORT', `connection to ${peer.id} lost before it answered; the outcome is unknown`, { details: { peerId: peer.id } }))
    }
    if (abandoned > 0) this.logger.info({ peerId: peer.id, abandoned }, 'connection to peer lost; abandoned its repeatable requests')
  }

  private closePeer (peer: PeerState, reason: string): void {
    peer.redial.closed = true
    clearTimeout(peer.redial.timer)
    peer.outbox.stop()
    peer.socket.close()
    for (const [id, request] of this.pending) {
      if (request.peer !== peer) continue
      clearTimeout(request.timer)
      this.pending.delete(id)
      request.reject(new ControlPlaneError('ERR_TRANSPORT', `request to ${peer.id} abandoned (${reason}); the outcome is unknown`, { details: { peerId: peer.id } }))
    }
  }

  private enqueue (peer: PeerState, item: OutboundItem): boolean {
    if (peer.outbox.offer(item)) return true
    this.warnings.warn(`queue-full:${peer.id}`, {
      peerId: peer.id,
      queuedMessages: peer.outbox.queuedMessages,
      queuedBytes: peer.outbox.queuedBytes,
      droppedMessages: peer.outbox.droppedCount
    }, 'outbound queue to peer is full; dropping message')
    return false
  }

  private encodeRequest (id: number, payload: unknown): Uint8Array {
    let frame: Uint8Array
    try {
      frame = encodeFrame({ kind: 'request', id, payload })
    } catch (err) {
      throw new ControlPlaneError('ERR_INVALID_INPUT', 'request payload cannot be encoded', { cause: err })
    }
    if (frame.length > this.options.messageBytesMax) {
      throw new ControlPlaneError('ERR_INVALID_INPUT', `request encodes to ${frame.length} bytes, over messageBytesMax ${this.options.messageBytesMax}`, { details: { bytes: frame.length } })
    }
    return frame
  }

  private outboxLimits (): OutboxLimits {
    return { messagesMax: this.options.queueMessagesMax, bytesMax: this.options.queueBytesMax }
  }

  /** Responses come back on the DEALER, whose CURVE server key already proves who answered. */
  private async receiveResponses (peer: PeerState): Promise<void> {
    try {
      for await (const parts of peer.socket) {
        const [frameBytes] = parts
        if (parts.length !== 1 || frameBytes === undefined) {
          this.dropInbound('malformed-envelope', { peerId: peer.id, parts: parts.length })
          continue
        }
        const decoded = decodeFrame(frameBytes)
        if (!decoded.ok || decoded.frame.kind !== 'response') {
          this.dropInbound('malformed', { peerId: peer.id, reason: decoded.ok ? `unexpected ${decoded.frame.kind} frame on a DEALER` : decoded.reason })
          continue
        }
        this.settleRequest(peer, decoded.frame)
      }
    } catch (err) {
      if (!peer.socket.closed) this.logger.error({ err, peerId: peer.id }, 'receiving responses from peer failed')
    }
  }

  private settleRequest (peer: PeerState, frame: Extract<Frame, { kind: 'response' }>): void {
    const request = this.pending.get(frame.id)
    if (request === undefined || request.peer !== peer) {
      this.logger.debug({ peerId: peer.id, requestId: frame.id }, 'ignoring response to an unknown or expired request')
      return
    }
    this.pending.delete(frame.id)
    clearTimeout(request.timer)
    if (frame.ok) {
      request.resolve(frame.result)
      return
    }
    request.reject(rebuildRemoteError(frame.error, peer.id))
  }

  // -------------------------------------------------------------------------------------------
  // Inbound.

  private async receiveFromRouter (router: zmq.Router): Promise<void> {
    try {
      for await (const parts of router) this.handleRouterMessage(parts)
    } catch (err) {
      if (!router.closed) this.logger.error({ err }, 'raft transport receive loop failed')
    }
  }

  private handleRouterMessage (parts: Buffer[]): void {
    const [routingId, frameBytes] = parts
    if (parts.length !== 2 || routingId === undefined || frameBytes === undefined) {
      this.dropInbound('malformed-envelope', { parts: parts.length })
      return
    }
    if (frameBytes.length > this.options.messageBytesMax) {
      this.dropInbound('oversized', { bytes: frameBytes.length })
      return
    }
    const sender = this.authenticateSender(routingId)
    if (sender === undefined) return
    const decoded = decodeFrame(frameBytes)
    if (!decoded.ok) {
      this.dropInbound('malformed', { peerId: sender.id, reason: decoded.reason })
      return
    }
    const frame = decoded.frame
    switch (frame.kind) {
      case 'raft':
        this.deliverMessage(sender, frame.message)
        return
      case 'request':
        void this.serveRequest(sender, routingId, frame.id, frame.payload)
        return
      case 'response':
        this.dropInbound('malformed', { peerId: sender.id, reason: 'response frame on the ROUTER' })
        return
    }
  }

  /** Maps a routing id to the peer that proved it (see the module header), or drops. */
  private authenticateSender (routingId: Buffer): PeerState | undefined {
    const text = routingId.toString('utf8')
    const cached = this.verifiedRoutingIds.get(text)
    if (cached !== undefined && this.peers.get(cached.id) === cached) return cached
    const parsed = parseRoutingId(text)
    if (parsed === undefined) {
      this.dropInbound('unauthenticated', { reason: 'routing id is not a sender ticket' })
      return undefined
    }
    const peer = this.peers.get(parsed.senderId)
    if (peer === undefined) {
      this.dropInbound('unknown-sender', { peerId: parsed.senderId })
      return undefined
    }
    const expected = routingIdTag({ senderId: parsed.senderId, recipientId: this.localId, pairKey: peer.pairKey, nonce: parsed.nonce })
    if (!timingSafeEqual(expected, parsed.tag)) {
      this.dropInbound('unauthenticated', { peerId: parsed.senderId, reason: 'routing id tag does not verify' })
      return undefined
    }
    if (this.verifiedRoutingIds.size >= verifiedRoutingIdsMax) this.verifiedRoutingIds.clear()
    this.verifiedRoutingIds.set(text, peer)
    return peer
  }

  private deliverMessage (sender: PeerState, message: Message): void {
    if (message.from !== sender.id) {
      this.dropInbound('spoofed', { peerId: sender.id, claimedFrom: message.from, type: message.type })
      return
    }
    if (message.to !== this.localId) {
      this.dropInbound('misaddressed', { peerId: sender.id, to: message.to, type: message.type })
      return
    }
    assert(this.onMessage !== undefined, 'message received before start')
    this.inboundMessages += 1
    try {
      this.onMessage(message)
    } catch (err) {
      this.handlerErrors += 1
      this.logger.error({ err, peerId: sender.id, type: message.type }, 'raft message handler threw')
    }
  }

  private async serveRequest (sender: PeerState, routingId: Buffer, id: number, payload: unknown): Promise<void> {
    let reply: Frame
    if (this.inboundRequests >= this.options.inboundRequestsMax) {
      reply = { kind: 'response', id, ok: false, error: { code: 'ERR_OVERLOADED', message: `${this.localId} is already serving ${this.inboundRequests} requests`, details: {} } }
    } else {
      this.inboundRequests += 1
      try {
        assert(this.onRequest !== undefined, 'request received before start')
        reply = { kind: 'response', id, ok: true, result: await this.onRequest(sender.id, payload) }
      } catch (err) {
        reply = { kind: 'response', id, ok: false, error: this.toRemoteError(err, sender.id) }
      } finally {
        this.inboundRequests -= 1
      }
    }
    const bytes = this.encodeResponse(reply, sender.id)
    if (this.routerOutbox === undefined || this.phase !== 'running') return
    if (!this.routerOutbox.offer({ parts: [routingId, bytes], bytes: bytes.length, requestId: undefined })) {
      this.warnings.warn('response-queue-full', { peerId: sender.id, requestId: id }, 'response queue is full; dropping response')
    }
  }

  private encodeResponse (reply: Frame, peerId: NodeId): Uint8Array {
    assert(reply.kind === 'response', 'encodeResponse takes response frames')
    let bytes: Uint8Array | undefined
    try {
      bytes = encodeFrame(reply)
    } catch (err) {
      this.logger.error({ err, peerId, requestId: reply.id }, 'request handler result cannot be encoded')
    }
    if (bytes !== undefined && bytes.length <= this.options.messageBytesMax) return bytes
    const message = bytes === undefined ? 'the response could not be encoded' : `the response is ${bytes.length} bytes, over messageBytesMax ${this.options.messageBytesMax}`
    return encodeFrame({ kind: 'response', id: reply.id, ok: false, error: { code: 'ERR_TRANSPORT', message, details: {} } })
  }

  /** Typed errors cross as they are; anything else is an internal failure, logged here only. */
  private toRemoteError (err: unknown, peerId: NodeId): RemoteError {
    const candidate = err as { code?: unknown, message?: unknown, details?: unknown } | null
    if (typeof candidate === 'object' && candidate !== null && typeof candidate.code === 'string' && candidate.code.startsWith('ERR_')) {
      const details = typeof candidate.details === 'object' && candidate.details !== null && !Array.isArray(candidate.details) ? { ...candidate.details } : {}
      return { code: candidate.code, message: String(candidate.message), details }
    }
    this.logger.error({ err, peerId }, 'request handler failed')
    return { code: 'ERR_TRANSPORT', message: `internal error on ${this.localId} while serving the request`, details: { internal: true } }
  }

  private decideZap (request: ZapRequest): boolean {
    const allowed = this.isAuthorized(request.publicKey)
    if (!allowed) {
      this.zapDenied += 1
      this.warnings.warn('zap-denied', { clientKey: request.publicKey, address: request.address }, 'refused connection from unauthorized CURVE key')
    }
    return allowed
  }

  private dropInbound (reason: string, fields: Record<string, unknown>): void {
    this.inboundDropped.set(reason, (this.inboundDropped.get(reason) ?? 0) + 1)
    this.warnings.warn(`inbound:${reason}`, { ...fields, reason }, 'dropping inbound frame')
  }

  private track (loop: Promise<void>): void {
    this.loops.add(loop)
    void loop.finally(() => this.loops.delete(loop))
  }
}

// ---------------------------------------------------------------------------------------------
// Option checks.

function resolveOptions (options: ZmqTransportOptions): ResolvedOptions {
  const resolved: ResolvedOptions = {
    localId: options.localId,
    bindEndpoint: options.bindEndpoint,
    keyPair: options.keyPair,
    logger: options.logger,
    queueMessagesMax: options.queueMessagesMax ?? zmqTransportDefaults.queueMessagesMax,
    queueBytesMax: options.queueBytesMax ?? zmqTransportDefaults.queueBytesMax,
    messageBytesMax: options.messageBytesMax ?? zmqTransportDefaults.messageBytesMax,
    requestsPendingMax: options.requestsPendingMax ?? zmqTransportDefaults.requestsPendingMax,
    inboundRequestsMax: options.inboundRequestsMax ?? zmqTransportDefaults.inboundRequestsMax,
    reconnectIntervalMs: options.reconnectIntervalMs ?? zmqTransportDefaults.reconnectIntervalMs,
    reconnectIntervalMaxMs: options.reconnectIntervalMaxMs ?? zmqTransportDefaults.reconnectIntervalMaxMs,
    heartbeatIntervalMs: options.heartbeatIntervalMs ?? zmqTransportDefaults.heartbeatIntervalMs,
    heartbeatTimeoutMs: options.heartbeatTimeoutMs ?? zmqTransportDefaults.heartbeatTimeoutMs,
    sendTimeoutMs: options.sendTimeoutMs ?? zmqTransportDefaults.sendTimeoutMs,
    warnIntervalMs: options.warnIntervalMs ?? zmqTransportDefaults.warnIntervalMs,
    zapDomain: options.zapDomain ?? `weft-raft-${randomBytes(8).toString('hex')}`
  }
  const problems = optionProblems(resolved)
  if (problems.length > 0) {
    throw new ControlPlaneError('ERR_INVALID_INPUT', `invalid ZmqTransport options: ${problems.join('; ')}`, { details: { problems } })
  }
  return Object.freeze(resolved)
}

function optionProblems (options: ResolvedOptions): string[] {
  const problems: string[] = []
  const localIdProblem = checkNodeId(options.localId, 'localId')
  if (localIdProblem !== undefined) problems.push(localIdProblem)
  if (typeof options.bindEndpoint !== 'string' || !options.bindEndpoint.startsWith('tcp://')) problems.push(`bindEndpoint must be a tcp:// endpoint, got ${JSON.stringify(options.bindEndpoint)}`)
  const keyProblem = checkCurveKeyPair(options.keyPair)
  if (keyProblem !== undefined) problems.push(`keyPair ${keyProblem}`)
  const positive: Array<[string, number]> = [
    ['queueMessagesMax', options.queueMessagesMax],
    ['queueBytesMax', options.queueBytesMax],
    ['messageBytesMax', options.messageBytesMax],
    ['requestsPendingMax', options.requestsPendingMax],
    ['inboundRequestsMax', options.inboundRequestsMax],
    ['reconnectIntervalMs', options.reconnectIntervalMs],
    ['reconnectIntervalMaxMs', options.reconnectIntervalMaxMs],
    ['heartbeatIntervalMs', options.heartbeatIntervalMs],
    ['heartbeatTimeoutMs', options.heartbeatTimeoutMs],
    ['warnIntervalMs', options.warnIntervalMs]
  ]
  for (const [name, value] of positive) {
    if (!Number.isSafeInteger(value) || value <= 0) problems.push(`${name} must be a positive integer, got ${String(value)}`)
  }
  // ZMQ_MAXMSGSIZE is an int64 but zeromq.js passes it through a 32-bit int on some paths.
  if (options.messageBytesMax > 2 ** 31 - 1) problems.push(`messageBytesMax must be below 2 GiB, got ${options.messageBytesMax}`)
  if (options.queueBytesMax < options.messageBytesMax) problems.push(`queueBytesMax (${options.queueBytesMax}) must be at least messageBytesMax (${options.messageBytesMax})`)
  if (options.reconnectIntervalMaxMs < options.reconnectIntervalMs) problems.push(`reconnectIntervalMaxMs (${options.reconnectIntervalMaxMs}) must be at least reconnectIntervalMs (${options.reconnectIntervalMs})`)
  if (options.heartbeatTimeoutMs <= options.heartbeatIntervalMs) problems.push(`heartbeatTimeoutMs (${options.heartbeatTimeoutMs}) must exceed heartbeatIntervalMs (${options.heartbeatIntervalMs})`)
  if (typeof options.zapDomain !== 'string' || options.zapDomain.length === 0 || options.zapDomain.length > 254) problems.push('zapDomain must be a string of 1..254 characters')
  return problems
}

function checkPeer (localId: NodeId, id: NodeId, info: PeerInfo): void {
  const problems: string[] = []
  const idProblem = checkNodeId(id, 'peer id')
  if (idProblem !== undefined) problems.push(idProblem)
  if (id === localId) problems.push(`peer id ${JSON.stringify(id)} is this node's own id`)
  if (typeof info.endpoint !== 'string' || !info.endpoint.startsWith('tcp://')) problems.push(`peer endpoint must be a tcp:// endpoint, got ${JSON.stringify(info.endpoint)}`)
  if (!isCurveKey(info.publicKey)) problems.push(`peer publicKey must be a 40-character Z85 CURVE key, got ${JSON.stringify(info.publicKey)}`)
  if (problems.length > 0) throw new ControlPlaneError('ERR_INVALID_INPUT', `invalid peer ${JSON.stringify(id)}: ${problems.join('; ')}`, { details: { peerId: id, problems } })
}

function rebuildRemoteError (error: RemoteError, peerId: NodeId): ControlPlaneError {
  if (isKnownErrorCode(error.code)) return new ControlPlaneError(error.code, error.message, { details: error.details })
  // A newer peer may know codes we do not; keep its code where a caller can still see it.
  return new ControlPlaneError('ERR_TRANSPORT', `${peerId} answered with unknown error ${error.code}: ${error.message}`, { details: { ...error.details, remoteCode: error.code } })
}

// ---------------------------------------------------------------------------------------------
// Sender tickets: routing ids that prove who connected (see the module header).

const routingIdNonceBytes = 12
const routingIdTagBytes = 16
const verifiedRoutingIdsMax = 4096
const base64UrlPattern = /^[A-Za-z0-9_-]+$/

function derivePairKey (options: { secretKey: string, peerPublicKey: string }): Uint8Array {
  const shared = curveSharedSecret(options)
  return new Uint8Array(hkdfSync('sha256', shared, 'weft raft transport', 'routing id v1', 32))
}

function routingIdTag (options: { senderId: NodeId, recipientId: NodeId, pairKey: Uint8Array, nonce: Uint8Array }): Buffer {
  const hmac = createHmac('sha256', options.pairKey)
  hmac.update(`${options.senderId}\u0000${options.recipientId}\u0000`, 'utf8')
  hmac.update(options.nonce)
  return hmac.digest().subarray(0, routingIdTagBytes)
}

function makeRoutingId (options: { senderId: NodeId, recipientId: NodeId, pairKey: Uint8Array, nonce: Uint8Array }): string {
  const routingId = `${Buffer.from(options.nonce).toString('base64url')}.${routingIdTag(options).toString('base64url')}.${options.senderId}`
  assert(Buffer.byteLength(routingId, 'utf8') <= 255, 'routing id exceeds 255 bytes')
  return routingId
}

function parseRoutingId (text: string): { nonce: Buffer, tag: Buffer, senderId: string } | undefined {
  const firstDot = text.indexOf('.')
  const secondDot = text.indexOf('.', firstDot + 1)
  if (firstDot <= 0 || secondDot <= firstDot + 1 || secondDot === text.length - 1) return undefined
  const nonceText = text.slice(0, firstDot)
  const tagText = text.slice(firstDot + 1, secondDot)
  if (!base64UrlPattern.test(nonceText) || !base64UrlPattern.test(tagText)) return undefined
  const nonce = Buffer.from(nonceText, 'base64url')
  const tag = Buffer.from(tagText, 'base64url')
  if (nonce.length !== routingIdNonceBytes || tag.length !== routingIdTagBytes) return undefined
  return { nonce, tag, senderId: text.slice(secondDot + 1) }
}

/**
 * The routing id a node with `senderSecretKey` presents to `recipientId`. Exported for tests
 * that play a misbehaving peer; the transport computes its own.
 */
export function senderRoutingId (options: { senderId: NodeId, recipientId: NodeId, senderSecretKey: string, recipientPublicKey: string }): string {
  const pairKey = derivePairKey({ secretKey: options.senderSecretKey, peerPublicKey: options.recipientPublicKey })
  return makeRoutingId({ senderId: options.senderId, recipientId: options.recipientId, pairKey, nonce: randomBytes(routingIdNonceBytes) })
}

// ---------------------------------------------------------------------------------------------
// Outboxes: one bounded queue and one send loop per sending socket.

interface OutboundItem {
  readonly parts: Uint8Array | Uint8Array[]
  readonly bytes: number
  /** Set for requests: skipped at send time once the request is no longer pending. */
  readonly requestId: number | undefined
}

interface OutboxLimits {
  readonly messagesMax: number
  readonly bytesMax: number
}

interface OutboxHooks {
  readonly isWanted: (item: OutboundItem) => boolean
  readonly onSendError: (err: unknown, item: OutboundItem) => void
}

class Outbox {
  readonly done: Promise<void>
  droppedCount = 0
  sentCount = 0
  queuedBytes = 0
  private readonly items: BoundedQueue<OutboundItem>
  private stopped = false
  private wake: (() => void) | undefined

  constructor (private readonly socket: zmq.Dealer | zmq.Router, private readonly limits: OutboxLimits, private readonly hooks: OutboxHooks) {
    this.items = new BoundedQueue(limits.messagesMax)
    this.done = this.run()
  }

  get queuedMessages (): number {
    return this.items.length
  }

  /** Queues an item, or counts it dropped and returns false when stopped or full. */
  offer (item: OutboundItem): boolean {
    if (this.stopped || this.queuedBytes + item.bytes > this.limits.bytesMax || !this.items.push(item)) {
      this.droppedCount += 1
      return false
    }
    this.queuedBytes += item.bytes
    this.wakeUp()
    return true
  }

  /** Drops everything queued and ends the loop once any blocked send returns (closing the socket ends it). */
  stop (): void {
    this.stopped = true
    this.items.clear()
    this.queuedBytes = 0
    this.wakeUp()
  }

  private wakeUp (): void {
    const wake = this.wake
    this.wake = undefined
    wake?.()
  }

  private async run (): Promise<void> {
    while (!this.stopped) {
      const item = this.items.shift()
      if (item === undefined) {
        await new Promise<void>(resolve => { this.wake = resolve })
        continue
      }
      this.queuedBytes -= item.bytes
      assert(this.queuedBytes >= 0, `outbox byte count went negative: ${this.queuedBytes}`)
      if (!this.hooks.isWanted(item)) continue
      try {
        await this.socket.send(item.parts)
        this.sentCount += 1
      } catch (err) {
        if (this.stopped || this.socket.closed) return
        this.hooks.onSendError(err, item)
      }
    }
  }
}

/** A FIFO with a fixed capacity; push fails instead of growing. */
class BoundedQueue<T> {
  private readonly slots: Array<T | undefined>
  private head = 0
  private count = 0

  constructor (readonly capacity: number) {
    assert(Number.isSafeInteger(capacity) && capacity > 0, `queue capacity must be a positive integer, got ${capacity}`)
    this.slots = new Array<T | undefined>(capacity).fill(undefined)
  }

  get length (): number {
    return this.count
  }

  push (item: T): boolean {
    if (this.count === this.capacity) return false
    this.slots[(this.head + this.count) % this.capacity] = item
    this.count += 1
    return true
  }

  shift (): T | undefined {
    if (this.count === 0) return undefined
    const item = this.slots[this.head]
    this.slots[this.head] = undefined
    this.head = (this.head + 1) % this.capacity
    this.count -= 1
    return item
  }

  clear (): void {
    this.slots.fill(undefined)
    this.head = 0
    this.count = 0
  }
}

/** Logs each kind of warning at most once per interval, with how many were suppressed. */
class RateLimitedWarnings {
  private readonly lastByKey = new Map<string, { atMs: number, suppressed: number }>()

  constructor (private readonly logger: TransportLogger, private readonly intervalMs: number) {}

  warn (key: string, fields: Record<string, unknown>, message: string): void {
    const nowMs = Date.now()
    const last = this.lastByKey.get(key)
    if (last !== undefined && nowMs - last.atMs < this.intervalMs) {
      last.suppressed += 1
      return
    }
    if (this.lastByKey.size >= rateLimitKeysMax) this.lastByKey.clear()
    this.logger.warn({ ...fields, suppressedCount: last?.suppressed ?? 0 }, message)
    this.lastByKey.set(key, { atMs: nowMs, suppressed: 0 })
  }
}

const rateLimitKeysMax = 1024

// ---------------------------------------------------------------------------------------------
// The process-wide ZAP handler.

interface ZapRequest {
  /** The client's CURVE public key, Z85. */
  readonly publicKey: string
  /** The client's IP address as libzmq reports it (no port). */
  readonly address: string
}

type ZapDecision = (request: ZapRequest) => boolean

const zapEndpoint = 'inproc://zeromq.zap.01'
const zapBindAttemptsMax = 200
const zapBindRetryMs = 10

/**
 * libzmq consults whatever socket is bound to `inproc://zeromq.zap.01` in the socket's
 * context (zeromq.js's global context here) when a CURVE handshake completes, and admits every
 * client when nothing is bound there. So: one handler per process, bound before any ROUTER of
 * ours binds and closed only after the last one closed, answering per zapDomain. Requests for
 * an unknown domain, another mechanism or malformed requests are refused. If the handler's
 * loop ever ends while domains are registered, it throws (an unhandled rejection, fatal by
 * project policy): continuing would silently admit every client.
 */
class ZapHandler {
  private readonly decisions = new Map<string, ZapDecision>()
  private socket: zmq.Reply | undefined
  private serving: Promise<void> | undefined
  private lock: Promise<void> = Promise.resolve()

  async register (domain: string, decide: ZapDecision): Promise<void> {
    await this.serialize(async () => {
      assert(!this.decisions.has(domain), `ZAP domain ${domain} is already registered in this process`)
      if (this.socket === undefined) await this.open()
      this.decisions.set(domain, decide)
    })
  }

  async unregister (domain: string): Promise<void> {
    await this.serialize(async () => {
      this.decisions.delete(domain)
      if (this.decisions.size === 0) await this.shut()
    })
  }

  private async serialize (action: () => Promise<void>): Promise<void> {
    const result = this.lock.then(action)
    this.lock = result.catch(() => undefined)
    await result
  }

  private async open (): Promise<void> {
    // A handler closed a moment ago holds the inproc name until libzmq reaps it (see shut).
    for (let attempt = 1; ; attempt += 1) {
      const socket = new zmq.Reply({ linger: 0 })
      try {
        await socket.bind(zapEndpoint)
        this.socket = socket
        this.serving = this.serve(socket)
        return
      } catch (err) {
        socket.close()
        if ((err as { code?: unknown }).code !== 'EADDRINUSE' || attempt >= zapBindAttemptsMax) {
          throw new ControlPlaneError('ERR_TRANSPORT', `cannot bind the ZAP handler at ${zapEndpoint}; is another ZAP handler running in this process?`, { cause: err })
        }
      }
      await new Promise(resolve => setTimeout(resolve, zapBindRetryMs))
    }
  }

  private async shut (): Promise<void> {
    const socket = this.socket
    if (socket === undefined) return
    this.socket = undefined
    // Not unbind-then-close: unbinding an inproc endpoint that ROUTER sessions still hold ZAP
    // pipes to trips a libzmq 4.3.5 assertion (pipe.cpp:355) and aborts the process. Close
    // alone frees the name once libzmq reaps the socket, which open() waits for.
    socket.close()
    await this.serving
    this.serving = undefined
  }

  private async serve (socket: zmq.Reply): Promise<void> {
    try {
      for await (const frames of socket) await socket.send(this.answer(frames))
    } catch (err) {
      if (this.socket === socket) throw new ControlPlaneError('ERR_TRANSPORT', 'ZAP handler failed while transports depend on it', { cause: err })
      return
    }
    assert(this.socket !== socket, 'ZAP handler stopped while transports depend on it')
  }

  /** RFC 27: version, request id, domain, address, identity, mechanism, credentials... */
  private answer (frames: Buffer[]): Array<string | Buffer> {
    const [version, requestId, domain, address, , mechanism, ...credentials] = frames
    const reply = (status: '200' | '400' | '500', text: string, userId: string): Array<string | Buffer> =>
      ['1.0', requestId ?? '', status, text, userId, Buffer.alloc(0)]
    if (version?.toString() !== '1.0' || requestId === undefined || domain === undefined || mechanism === undefined) return reply('500', 'malformed ZAP request', '')
    const decide = this.decisions.get(domain.toString())
    if (decide === undefined) return reply('400', 'unknown ZAP domain', '')
    const [clientKey] = credentials
    if (mechanism.toString() !== 'CURVE' || credentials.length !== 1 || clientKey === undefined || clientKey.length !== 32) return reply('400', 'CURVE client key required', '')
    const publicKey = z85Encode(clientKey)
    let allowed = false
    try {
      allowed = decide({ publicKey, address: address?.toString() ?? '' })
    } catch {
      return reply('500', 'authorization check failed', '')
    }
    return allowed ? reply('200', 'OK', publicKey) : reply('400', 'client key not authorized', '')
  }
}

const zapHandler = new ZapHandler()
