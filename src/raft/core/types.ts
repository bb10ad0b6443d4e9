/**
 * Plain data exchanged between the pure Raft core and its shell. Nothing here does I/O.
 *
 * Terms and indexes are non-negative safe integers. An index is a 1-based log position; index 0
 * means "before the first entry" and term 0 goes with it.
 */

export type NodeId = string

export type EntryType = 'command' | 'noop' | 'config'

export interface Entry {
  readonly term: number
  readonly index: number
  readonly type: EntryType
  /**
   * For 'command': the state machine's opaque bytes. For 'config': an encoded Configuration
   * (see encodeConfiguration). For 'noop': empty.
   */
  readonly data: Uint8Array
}

/**
 * Cluster membership. Voters count for elections and commitment; learners (non-voters) receive
 * the log so they can catch up before being promoted. A node is in at most one of the two lists.
 */
export interface Configuration {
  readonly voters: readonly NodeId[]
  readonly learners: readonly NodeId[]
  /**
   * Where each member can be reached, opaque to the core (the shell's transport address, e.g.
   * `tcp://127.0.0.1:8300` plus the member's CURVE public key). Every voter and learner has one.
   */
  readonly addresses: Readonly<Record<NodeId, string>>
}

/** State that must be durable before any message that depends on it leaves the node. */
export interface HardState {
  readonly term: number
  readonly votedFor: NodeId | null
  readonly commit: number
}

export interface SnapshotMeta {
  readonly index: number
  readonly term: number
  readonly configuration: Configuration
}

export interface Snapshot {
  readonly meta: SnapshotMeta
  readonly data: Uint8Array
}

// ---------------------------------------------------------------------------------------------
// Messages. Every message carries the sender's current term (for pre-vote: the term it would
// campaign in) and is addressed to exactly one peer.

interface MessageBase {
  readonly from: NodeId
  readonly to: NodeId
  readonly term: number
}

export interface PreVoteRequest extends MessageBase {
  readonly type: 'preVote'
  readonly lastLogIndex: number
  readonly lastLogTerm: number
}

export interface PreVoteResponse extends MessageBase {
  readonly type: 'preVoteResponse'
  readonly granted: boolean
}

export interface VoteRequest extends MessageBase {
  readonly type: 'vote'
  readonly lastLogIndex: number
  readonly lastLogTerm: number
  /** Set when campaigning because the leader asked (TimeoutNow): bypasses leader stickiness. */
  readonly leadershipTransfer: boolean
}

export interface VoteResponse extends MessageBase {
  readonly type: 'voteResponse'
  readonly granted: boolean
}

export interface AppendRequest extends MessageBase {
  readonly type: 'append'
  readonly prevLogIndex: number
  readonly prevLogTerm: number
  readonly entries: readonly Entry[]
  readonly leaderCommit: number
}

export interface AppendResponse extends MessageBase {
  readonly type: 'appendResponse'
  readonly success: boolean
  /** On success: the highest index known to match the leader. */
  readonly matchIndex: number
  /** On rejection: the follower's hint for where the leader should retry (fast back-off). */
  readonly rejectHintIndex: number
  readonly rejectHintTerm: number
}

export interface HeartbeatRequest extends MessageBase {
  readonly type: 'heartbeat'
  /** min(leader commit, follower match): never beyond what the follower is known to hold. */
  readonly commit: number
  /** Non-zero when this heartbeat round also confirms leadership for a ReadIndex request. */
  readonly readContext: number
}

export interface HeartbeatResponse extends MessageBase {
  readonly type: 'heartbeatResponse'
  readonly readContext: number
}

export interface SnapshotRequest extends MessageBase {
  readonly type: 'snapshot'
  readonly meta: SnapshotMeta
  readonly offset: number
  readonly chunk: Uint8Array
  readonly totalBytes: number
  readonly done: boolean
}

export interface SnapshotResponse extends MessageBase {
  readonly type: 'snapshotResponse'
  readonly snapshotIndex: number
  /** Bytes received so far; equal to totalBytes with success once installed. */
  readonly nextOffset: number
  readonly success: boolean
}

/** Leadership transfer (thesis §3.10): the target campaigns at once. */
export interface TimeoutNowRequest extends MessageBase {
  readonly type: 'timeoutNow'
}

export type Message =
  | PreVoteRequest
  | PreVoteResponse
  | VoteRequest
  | VoteResponse
  | AppendRequest
  | AppendResponse
  | HeartbeatRequest
  | HeartbeatResponse
  | SnapshotRequest
  | SnapshotResponse
  | TimeoutNowRequest

export type MessageType = Message['type']

// ---------------------------------------------------------------------------------------------
// Inputs and outputs of the core.

export type Role = 'follower' | 'preCandidate' | 'candidate' | 'leader'

/** Soft state: not persisted, reported to the shell when it changes. */
export interface SoftState {
  readonly role: Role
  readonly leaderId: NodeId | null
  readonly term: number
}

/** A linearizable read whose leadership confirmation and apply wait are complete. */
export interface ReadState {
  readonly requestId: number
  /** Serve the read once the local state machine has applied at least this index. */
  readonly index: number
}

/** A ReadIndex request that cannot be served by this node. */
export interface ReadFailure {
  readonly requestId: number
  readonly reason: 'notLeader' | 'leadershipLost'
  readonly leaderHint: NodeId | null
}

/**
 * One batch of work for the shell. Duties, in order:
 * 1. send `messagesBeforePersist` (they depend on nothing in this batch);
 * 2. persist `snapshot` (if any), then `hardState` and `entries` durably, in one write;
 *    `entries` replaces every stored entry at index >= entries[0].index;
 * 3. send `messages`;
 * 4. restore the state machine from `snapshot` (if any), then apply `committedEntries` in order;
 * 5. call `advance(ready)`.
 */
export interface Ready {
  readonly softState: SoftState | null
  readonly hardState: HardState | null
  readonly snapshot: Snapshot | null
  readonly entries: readonly Entry[]
  readonly messagesBeforePersist: readonly Message[]
  readonly messages: readonly Message[]
  readonly committedEntries: readonly Entry[]
  readonly readStates: readonly ReadState[]
  readonly readFailures: readonly ReadFailure[]
}

export type ProposeResult =
  | { readonly ok: true, readonly index: number, readonly term: number }
  | { readonly ok: false, readonly reason: 'notLeader', readonly leaderHint: NodeId | null }
  | { readonly ok: false, readonly reason: 'overloaded' }
  | { readonly ok: false, readonly reason: 'transferring' }

export type ConfChange =
  | { readonly type: 'addLearner', readonly nodeId: NodeId, readonly address: string }
  | { readonly type: 'promote', readonly nodeId: NodeId }
  | { readonly type: 'remove', readonly nodeId: NodeId }

export type ConfChangeResult =
  | { readonly ok: true, readonly index: number, readonly term: number }
  | { readonly ok: false, readonly reason: 'notLeader', readonly leaderHint: NodeId | null }
  | { readonly ok: false, readonly reason: 'changeInProgress' | 'invalid', readonly detail: string }

export type TransferResult =
  | { readonly ok: true }
  | { readonly ok: false, readonly reason: 'notLeader' | 'unknownTarget' | 'isSelf' | 'notVoter', readonly detail: string }

/** What the core may log. Kept minimal so the core imports no logging library. */
export interface CoreLogger {
  debug (fields: Record<string, unknown>, message: string): void
  info (fields: Record<string, unknown>, message: string): void
  warn (fields: Record<string, unknown>, message: string): void
}

export const silentLogger: CoreLogger = {
  debug () {},
  info () {},
  warn () {}
}
