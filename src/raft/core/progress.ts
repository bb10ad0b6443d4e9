/**
 * The leader's view of one follower (thesis §10.2, and the flow-control states etcd-io/raft
 * documents in its design notes):
 * - probe: we do not know where the follower's log matches ours; send one append at a time and
 *   wait for the answer (or the next heartbeat answer) before sending again;
 * - replicate: the follower matches through `match`; stream appends optimistically, at most
 *   inflightMessagesMax messages and inflightBytesMax bytes outstanding;
 * - snapshot: the follower needs entries we compacted; stream the snapshot chunk by chunk.
 */
import { assert } from '../../util/assert.js'
import type { Entry } from './types.js'

export type ProgressState = 'probe' | 'replicate' | 'snapshot'

export class Progress {
  match = 0
  next: number
  state: ProgressState = 'probe'
  probeSent = false
  /** Set by any message from the follower; cleared by each check-quorum round. */
  recentActive = true
  snapshotIndex = 0
  snapshotOffset = 0
  private inflight: Array<{ index: number, bytes: number }> = []
  private inflightBytes = 0

  constructor (next: number, private readonly inflightMessagesMax: number, private readonly inflightBytesMax: number) {
    assert(next >= 1, `next index must be at least 1, got ${next}`)
    this.next = next
  }

  /** Records a successful answer; returns whether it told us something new. */
  maybeUpdate (matchIndex: number): boolean {
    let updated = false
    if (matchIndex > this.match) {
      this.match = matchIndex
      this.probeSent = false
      updated = true
    }
    if (this.next < matchIndex + 1) this.next = matchIndex + 1
    this.freeThrough(matchIndex)
    return updated
  }

  becomeProbe (next: number): void {
    assert(next > this.match, `probe next ${next} must be beyond match ${this.match}`)
    this.state = 'probe'
    this.next = next
    this.probeSent = false
    this.clearInflight()
  }

  becomeReplicateIfProbing (): void {
    if (this.state !== 'probe') return
    this.state = 'replicate'
    this.next = this.match + 1
    this.clearInflight()
  }

  becomeSnapshot (snapshotIndex: number): void {
    this.state = 'snapshot'
    this.snapshotIndex = snapshotIndex
    this.snapshotOffset = 0
    this.clearInflight()
  }

  canSend (): boolean {
    switch (this.state) {
      case 'probe': return !this.probeSent
      case 'replicate': return this.inflight.length < this.inflightMessagesMax && this.inflightBytes < this.inflightBytesMax
      case 'snapshot': return false
    }
  }

  sentAppend (entries: readonly Entry[]): void {
    if (this.state === 'probe') {
      this.probeSent = true
      return
    }
    const last = entries[entries.length - 1]
    if (this.state !== 'replicate' || last === undefined) return
    let bytes = 0
    for (const entry of entries) bytes += entry.data.byteLength
    this.next = last.index + 1
    this.inflight.push({ index: last.index, bytes })
    this.inflightBytes += bytes
  }

  /** Appends may be lost; a heartbeat answer frees a slot so replication cannot stall forever. */
  freeOneInflightIfFull (): void {
    if (this.state !== 'replicate' || this.canSend()) return
    const first = this.inflight.shift()
    if (first !== undefined) this.inflightBytes -= first.bytes
  }

  private freeThrough (index: number): void {
    while (this.inflight.length > 0 && this.inflight[0]!.index <= index) {
      this.inflightBytes -= this.inflight.shift()!.bytes
    }
  }

  private clearInflight (): void {
    this.inflight = []
    this.inflightBytes = 0
  }
}
