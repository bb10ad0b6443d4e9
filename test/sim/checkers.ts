/**
 * Safety invariants checked after every simulation step (Raft paper, Figure 3):
 * - election safety: at most one leader per term, across the whole history;
 * - log matching: two logs with an entry of the same index and term hold the same entry there
 *   and agree on everything before it;
 * - leader completeness: a new leader holds every entry committed before it;
 * - state machine safety: every node applies the same entry at the same index, and nodes at the
 *   same applied index have the same state hash (snapshots included);
 * - no acknowledged proposal is lost: an acknowledged value stays at its index.
 * A violation throws SafetyViolation with what was seen.
 */
import type { Entry, NodeId } from '../../src/raft/core/types.js'
import type { RaftCore } from '../../src/raft/core/raft.js'
import type { SimCluster } from './cluster.js'

export class SafetyViolation extends Error {
  override readonly name = 'SafetyViolation'
}

const decoder = new TextDecoder()

function fingerprint (entry: Entry): string {
  return `${entry.term}/${entry.type}/${decoder.decode(entry.data)}`
}

export class History {
  private leaders = new Map<number, NodeId>()
  private entriesByPosition = new Map<string, string>()
  private applied = new Map<number, { fingerprint: string, hash: string, node: NodeId }>()
  private acknowledged = new Map<number, string>()
  /** The configuration of the highest committed (applied) config entry. */
  private committedConfiguration: { index: number, members: Set<NodeId> } | null = null
  highestApplied = 0

  recordLeader (term: number, id: NodeId, core: RaftCore): void {
    const existing = this.leaders.get(term)
    if (existing !== undefined && existing !== id) throw new SafetyViolation(`election safety: ${existing} and ${id} both led term ${term}`)
    this.leaders.set(term, id)
    // Leader completeness: every entry any node applied (so committed) is in the new leader's log.
    const snapshotIndex = core.latestSnapshot()?.meta.index ?? 0
    if (core.lastIndex < this.highestApplied) {
      throw new SafetyViolation(`leader completeness: ${id} leads term ${term} with last index ${core.lastIndex} < committed ${this.highestApplied}`)
    }
    for (let index = snapshotIndex + 1; index <= this.highestApplied; index += 1) {
      const committed = this.applied.get(index)
      const entry = core.entryAt(index)
      if (committed !== undefined && (entry === undefined || fingerprint(entry) !== committed.fingerprint)) {
        throw new SafetyViolation(`leader completeness: ${id} (term ${term}) has ${entry === undefined ? 'nothing' : fingerprint(entry)} at ${index}, committed was ${committed.fingerprint}`)
      }
    }
  }

  recordEntry (node: NodeId, entry: Entry): void {
    const key = `${entry.index}:${entry.term}`
    const print = fingerprint(entry)
    const existing = this.entriesByPosition.get(key)
    if (existing !== undefined && existing !== print) throw new SafetyViolation(`log matching: ${node} stored ${print} at ${key}, another node stored ${existing}`)
    this.entriesByPosition.set(key, print)
  }

  recordApplied (node: NodeId, entry: Entry, hash: string): void {
    const print = fingerprint(entry)
    const existing = this.applied.get(entry.index)
    if (existing !== undefined) {
      if (existing.fingerprint !== print) throw new SafetyViolation(`state machine safety: ${node} applied ${print} at ${entry.index}, ${existing.node} applied ${existing.fingerprint}`)
      if (existing.hash !== hash) throw new SafetyViolation(`state hash: ${node} has ${hash} at ${entry.index}, ${existing.node} had ${existing.hash}`)
    } else {
      this.applied.set(entry.index, { fingerprint: print, hash, node })
    }
    if (entry.index > this.highestApplied) this.highestApplied = entry.index
    const ack = this.acknowledged.get(entry.index)
    if (ack !== undefined && entry.type === 'command' && decoder.decode(entry.data) !== ack) {
      throw new SafetyViolation(`acknowledged proposal lost: ${ack} was acknowledged at ${entry.index}, ${node} applied ${print}`)
    }
  }

  recordSnapshotRestore (node: NodeId, index: number, hash: string): void {
    const existing = this.applied.get(index)
    if (existing !== undefined && existing.hash !== hash) throw new SafetyViolation(`snapshot: ${node} restored hash ${hash} at ${index}, applied state there was ${existing.hash}`)
  }

  recordAcknowledged (index: number, value: string): void {
    const applied = this.applied.get(index)
    if (applied === undefined || !applied.fingerprint.endsWith(`/command/${value}`)) {
      throw new SafetyViolation(`acknowledged ${value} at ${index} but the applied entry there is ${applied?.fingerprint ?? 'missing'}`)
    }
    this.acknowledged.set(index, value)
  }

  acknowledgedCount (): number { return this.acknowledged.size }

  recordCommittedConfiguration (index: number, members: readonly NodeId[]): void {
    if (this.committedConfiguration !== null && this.committedConfiguration.index >= index) return
    this.committedConfiguration = { index, members: new Set(members) }
  }

  /** Not a member of the latest committed configuration (removed, or added by a lost entry). */
  isRemoved (id: NodeId): boolean {
    return this.committedConfiguration !== null && !this.committedConfiguration.members.has(id)
  }

  committedVoters (): NodeId[] | null {
    return this.committedConfiguration === null ? null : [...this.committedConfiguration.members]
  }

  /** Log matching across every pair of live logs; cheap enough to run after every step. */
  check (sim: SimCluster): void {
    if (sim.steps % 7 !== 0) return
    const logs: Array<{ id: NodeId, core: RaftCore }> = []
    for (const node of sim.nodes.values()) if (node.core !== null) logs.push({ id: node.id, core: node.core })
    for (let a = 0; a < logs.length; a += 1) {
      for (let b = a + 1; b < logs.length; b += 1) checkLogMatching(logs[a]!, logs[b]!)
    }
  }

  /** After convergence: every acknowledged value is applied where it was acknowledged. */
  checkAcknowledgedDurable (): void {
    for (const [index, value] of this.acknowledged) {
      const applied = this.applied.get(index)
      if (applied === undefined || !applied.fingerprint.endsWith(`/command/${value}`)) {
        throw new SafetyViolation(`acknowledged ${value} at ${index} is not what was applied: ${applied?.fingerprint ?? 'missing'}`)
      }
    }
  }
}

function checkLogMatching (left: { id: NodeId, core: RaftCore }, right: { id: NodeId, core: RaftCore }): void {
  const low = Math.max(firstIndex(left.core), firstIndex(right.core))
  const high = Math.min(left.core.lastIndex, right.core.lastIndex)
  let matchedAbove = false
  for (let index = high; index >= low; index -= 1) {
    const l = left.core.entryAt(index)!
    const r = right.core.entryAt(index)!
    if (l.term === r.term) {
      if (fingerprint(l) !== fingerprint(r)) throw new SafetyViolation(`log matching: ${left.id} and ${right.id} differ at ${index} in the same term ${l.term}`)
      matchedAbove = true
    } else if (matchedAbove) {
      throw new SafetyViolation(`log matching: ${left.id} and ${right.id} agree above ${index} but differ at ${index} (terms ${l.term} vs ${r.term})`)
    }
  }
}

function firstIndex (core: RaftCore): number {
  return (core.latestSnapshot()?.meta.index ?? 0) + 1
}
