/**
 * How Raft nodes reach each other. The shell owns one transport; the core never sees it.
 *
 * Contract (test/unit/raft/transport-conformance.ts runs against every implementation):
 * - `send` never blocks and never throws for an unreachable or slow peer: each peer has a bounded
 *   outbound queue and a message that does not fit is dropped (Raft retransmits). Messages to one
 *   peer leave in the order they were sent.
 * - Inbound messages are delivered to the handler given to `start`, one at a time.
 * - `request` is a request/response call to one peer (used to forward proposals and reads to the
 *   leader). It rejects with ERR_TIMEOUT at its deadline and ERR_TRANSPORT when the peer is not
 *   known; the remote handler's typed errors come back as ControlPlaneErrors with the same code.
 *   With `abandonOnDisconnect` (for calls that may be sent again, i.e. reads) it also rejects with
 *   ERR_TRANSPORT as soon as the connection to the peer is lost, instead of at its deadline: a
 *   blocking query to a server that was killed would otherwise hold its caller for its whole wait.
 * - A peer's address can change (`setPeer` again); the transport reconnects.
 */
import type { Message, NodeId } from './core/types.js'

export interface PeerInfo {
  /** `tcp://host:port` where the peer's transport listens. */
  readonly endpoint: string
  /** The peer's CURVE public key (Z85, 40 characters) for transports that encrypt. */
  readonly publicKey: string
}

export interface RequestOptions {
  readonly timeoutMs: number
  /** Reject at once when the connection to the peer drops (the answer may be lost); only for repeatable calls. */
  readonly abandonOnDisconnect?: boolean
}

export type RequestHandler = (from: NodeId, payload: unknown) => Promise<unknown>

export interface RaftTransport {
  readonly localId: NodeId
  /** Binds and begins delivering inbound traffic. Resolves once listening. */
  start (onMessage: (message: Message) => void, onRequest: RequestHandler): Promise<void>
  /** The endpoint actually bound (port 0 resolved). Valid after start. */
  endpoint (): string
  setPeer (id: NodeId, info: PeerInfo): void
  removePeer (id: NodeId): void
  send (message: Message): void
  request (to: NodeId, payload: unknown, options: RequestOptions): Promise<unknown>
  close (): Promise<void>
}
