/**
 * The dissemination queue (SWIM §4.1 "infection-style dissemination"): encoded messages waiting
 * to be piggybacked on probes, acks and gossip packets. Used only by the SWIM core (swim.ts).
 *
 * Invariants:
 * - at most one item per key: a newer update about a member replaces the queued one, so stale
 *   news about a member is never sent after fresher news;
 * - an item is sent at most `retransmitLimit` times (counted per packet it rides in), then
 *   dropped;
 * - items that were sent the fewest times go first, newest first among equals, so fresh news
 *   spreads before old news is repeated;
 * - the queue holds at most `itemsMax` items; beyond that the most-sent (then oldest) are dropped.
 */
import { assert } from '../../util/assert.js'

interface Item {
  readonly key: string
  readonly bytes: Uint8Array
  readonly id: number
  transmits: number
}

export class BroadcastQueue {
  private items: Item[] = []
  private readonly byKey = new Map<string, Item>()
  private nextId = 1
  /** Items dropped because the queue was full. */
  dropped = 0

  constructor (private readonly itemsMax: number) {
    assert(Number.isSafeInteger(itemsMax) && itemsMax > 0, `itemsMax must be a positive integer, got ${itemsMax}`)
  }

  get size (): number {
    return this.items.length
  }

  has (key: string): boolean {
    return this.byKey.has(key)
  }

  /** Queues `bytes` under `key`, replacing any item with the same key. */
  enqueue (key: string, bytes: Uint8Array): void {
    const existing = this.byKey.get(key)
    if (existing !== undefined) this.remove(existing)
    const item: Item = { key, bytes, id: this.nextId, transmits: 0 }
    this.nextId += 1
    this.items.push(item)
    this.byKey.set(key, item)
    if (this.items.length > this.itemsMax) this.prune()
  }

  /**
   * Takes messages for one packet: as many as fit in `bytesAvailable` when each costs its length
   * plus `overheadBytes`, at most `countMax` of them. Each taken item counts one transmission and
   * leaves the queue once it reaches `retransmitLimit`.
   */
  take (bytesAvailable: number, overheadBytes: number, countMax: number, retransmitLimit: number): Uint8Array[] {
    if (this.items.length === 0 || countMax <= 0) return []
    this.items.sort(byFewestTransmitsThenNewest)
    const taken: Uint8Array[] = []
    let left = bytesAvailable
    const finished: Item[] = []
    for (const item of this.items) {
      if (taken.length >= countMax || left < overheadBytes + 1) break
      const cost = item.bytes.length + overheadBytes
      if (cost > left) continue
      left -= cost
      taken.push(item.bytes)
      item.transmits += 1
      if (item.transmits >= retransmitLimit) finished.push(item)
    }
    for (const item of finished) this.remove(item)
    return taken
  }

  private remove (item: Item): void {
    const index = this.items.indexOf(item)
    assert(index >= 0, `queued item ${item.key} missing from the list`)
    this.items.splice(index, 1)
    this.byKey.delete(item.key)
  }

  private prune (): void {
    this.items.sort(byFewestTransmitsThenNewest)
    const excess = this.items.length - this.itemsMax
    for (const item of this.items.splice(this.itemsMax, excess)) this.byKey.delete(item.key)
    this.dropped += excess
  }
}

function byFewestTransmitsThenNewest (a: Item, b: Item): number {
  return a.transmits - b.transmits || b.id - a.id
}
