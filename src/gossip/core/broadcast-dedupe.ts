/**
 * Remembers which user broadcasts this member has seen, so each is delivered exactly once even
 * though gossip and push/pull repeat it, and a replayed old one is not delivered again. Used by
 * the SWIM core (swim.ts).
 *
 * A broadcast is identified by (origin, epoch, seq): `epoch` is drawn at random when the origin
 * starts, `seq` counts up from 1 within an epoch. Per origin the last `epochsPerOrigin` epochs
 * are kept, each as a sliding window of `WINDOW` sequence numbers below the highest seen; a seq
 * below the window counts as seen (too old to deliver). At most `originsMax` origins are kept,
 * least recently used evicted first.
 *
 * Limit (documented, accepted): a broadcast from an epoch that was evicted, or from an origin that
 * was evicted, can be delivered again if replayed. Consumers (keyring commands) are idempotent.
 */

const WINDOW = 256

interface EpochWindow {
  readonly epoch: number
  highest: number
  /** Bit i set = seq (highest - i) seen, for i in 0..WINDOW-1. */
  readonly bits: Uint32Array
}

export class BroadcastDedupe {
  private readonly origins = new Map<string, EpochWindow[]>()

  constructor (private readonly originsMax: number, private readonly epochsPerOrigin = 4) {}

  /** Marks the id seen; true when it was not seen before (deliver it). */
  markSeen (origin: string, epoch: number, seq: number): boolean {
    const windows = this.touch(origin)
    let window = windows.find(candidate => candidate.epoch === epoch)
    if (window === undefined) {
      window = { epoch, highest: seq, bits: new Uint32Array(WINDOW / 32) }
      setBit(window.bits, 0)
      windows.push(window)
      if (windows.length > this.epochsPerOrigin) windows.shift()
      return true
    }
    if (seq > window.highest) {
      shiftWindow(window.bits, seq - window.highest)
      window.highest = seq
      setBit(window.bits, 0)
      return true
    }
    const age = window.highest - seq
    if (age >= WINDOW) return false
    if (getBit(window.bits, age)) return false
    setBit(window.bits, age)
    return true
  }

  hasSeen (origin: string, epoch: number, seq: number): boolean {
    const window = this.origins.get(origin)?.find(candidate => candidate.epoch === epoch)
    if (window === undefined) return false
    if (seq > window.highest) return false
    const age = window.highest - seq
    return age >= WINDOW || getBit(window.bits, age)
  }

  private touch (origin: string): EpochWindow[] {
    let windows = this.origins.get(origin)
    if (windows !== undefined) {
      this.origins.delete(origin)
      this.origins.set(origin, windows)
      return windows
    }
    windows = []
    this.origins.set(origin, windows)
    if (this.origins.size > this.originsMax) {
      const oldest = this.origins.keys().next().value
      if (oldest !== undefined) this.origins.delete(oldest)
    }
    return windows
  }
}

function getBit (bits: Uint32Array, index: number): boolean {
  return ((bits[index >>> 5]! >>> (index & 31)) & 1) === 1
}

function setBit (bits: Uint32Array, index: number): void {
  bits[index >>> 5] = bits[index >>> 5]! | (1 << (index & 31))
}

/** Ages every bit by `by` positions (bit i moves to i + by); bits past the window fall off. */
function shiftWindow (bits: Uint32Array, by: number): void {
  if (by >= WINDOW) {
    bits.fill(0)
    return
  }
  for (let index = WINDOW - 1; index >= 0; index -= 1) {
    const source = index - by
    const value = source >= 0 && getBit(bits, source)
    const word = index >>> 5
    const mask = 1 << (index & 31)
    bits[word] = value ? (bits[word]! | mask) : (bits[word]! & ~mask)
  }
}
