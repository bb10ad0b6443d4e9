/**
 * A sorted set of strings for ordered access to KV keys: prefix listing in O(log n + k) and
 * seeking past a whole "folder" in O(log n), which is what `?recurse` and
 * `?keys&separator=/` need.
 *
 * Order is UTF-8 byte order (Consul's radix tree orders keys by bytes), which is code point
 * order; JavaScript's `<` compares UTF-16 code units and differs for astral characters.
 *
 * Layout: a list of sorted chunks, each holding 1..chunkLengthMax keys, with every key in
 * chunk i less than every key in chunk i+1. Inserting or deleting moves at most one chunk's
 * worth of keys, unlike a single sorted array that moves O(n). Empty chunks are removed.
 *
 * Callers: tables/kv.ts.
 */
import { assert } from '../../util/assert.js'

const chunkLengthMax = 512

// UTF-16 code unit order differs from code point order only where the first difference pairs a
// surrogate (U+D800..U+DFFF) with a unit in U+E000..U+FFFF, so both strings hold a unit >= U+D800.
const highUnit = /[\ud800-\uffff]/

/** Compares strings by UTF-8 bytes (code points): negative, zero or positive. */
export function compareKeys (a: string, b: string): number {
  if (a === b) return 0
  if (!highUnit.test(a) || !highUnit.test(b)) return a < b ? -1 : 1
  return compareCodePoints(a, b)
}

function compareCodePoints (a: string, b: string): number {
  const length = Math.min(a.length, b.length)
  for (let offset = 0; offset < length; offset += 1) {
    const unitA = a.charCodeAt(offset)
    const unitB = b.charCodeAt(offset)
    if (unitA !== unitB) return codePointRank(unitA) - codePointRank(unitB)
  }
  return a.length - b.length
}

/** Maps a UTF-16 unit so that surrogates (astral code points) sort after U+E000..U+FFFF. */
function codePointRank (unit: number): number {
  if (unit < 0xd800) return unit
  if (unit <= 0xdfff) return unit + 0x2000
  return unit - 0x800
}

/** A position in the set: chunk number and offset within it. Invalidated by any write. */
export interface KeyPosition {
  readonly chunk: number
  readonly offset: number
}

export class SortedKeys {
  private chunks: string[][] = []
  private count = 0

  get size (): number {
    return this.count
  }

  has (key: string): boolean {
    const position = this.lowerBound(key)
    return this.at(position) === key
  }

  /** Adds `key`; returns false when it was already present. */
  insert (key: string): boolean {
    if (this.chunks.length === 0) {
      this.chunks.push([key])
      this.count = 1
      return true
    }
    const position = this.lowerBound(key)
    if (this.at(position) === key) return false
    // Past the end: append to the last chunk.
    const chunkNumber = Math.min(position.chunk, this.chunks.length - 1)
    const chunk = this.chunks[chunkNumber]
    assert(chunk !== undefined, 'sorted keys: chunk exists')
    const offset = position.chunk === chunkNumber ? position.offset : chunk.length
    chunk.splice(offset, 0, key)
    this.count += 1
    if (chunk.length > chunkLengthMax) this.split(chunkNumber)
    return true
  }

  /** Removes `key`; returns false when it was absent. */
  delete (key: string): boolean {
    const position = this.lowerBound(key)
    if (this.at(position) !== key) return false
    const chunk = this.chunks[position.chunk]
    assert(chunk !== undefined, 'sorted keys: chunk exists')
    chunk.splice(position.offset, 1)
    this.count -= 1
    if (chunk.length === 0) this.chunks.splice(position.chunk, 1)
    return true
  }

  /** The position of the first key >= `key` (the end position when there is none). */
  lowerBound (key: string): KeyPosition {
    return this.firstWhere(candidate => compareKeys(candidate, key) >= 0)
  }

  /**
   * The position of the first key after every key that starts with `prefix`: where a listing
   * resumes once it has reported the folder `prefix`.
   */
  afterPrefix (prefix: string): KeyPosition {
    return this.firstWhere(candidate => !candidate.startsWith(prefix) && compareKeys(candidate, prefix) > 0)
  }

  /** The key at `position`, or undefined at the end. */
  at (position: KeyPosition): string | undefined {
    return this.chunks[position.chunk]?.[position.offset]
  }

  next (position: KeyPosition): KeyPosition {
    const chunk = this.chunks[position.chunk]
    assert(chunk !== undefined, 'sorted keys: next() past the end')
    return position.offset + 1 < chunk.length ? { chunk: position.chunk, offset: position.offset + 1 } : { chunk: position.chunk + 1, offset: 0 }
  }

  /** Every key starting with `prefix`, in order. */
  withPrefix (prefix: string): string[] {
    const keys: string[] = []
    for (let position = this.lowerBound(prefix); ; position = this.next(position)) {
      const key = this.at(position)
      if (key === undefined || !key.startsWith(prefix)) return keys
      keys.push(key)
    }
  }

  /** Every key in order (snapshots). */
  * all (): Generator<string> {
    for (const chunk of this.chunks) yield * chunk
  }

  /**
   * Binary search for the first key where `predicate` holds; `predicate` must be monotone
   * (false for a leading run of keys, true for the rest).
   */
  private firstWhere (predicate: (key: string) => boolean): KeyPosition {
    let low = 0
    let high = this.chunks.length
    while (low < high) {
      const middle = (low + high) >>> 1
      const chunk = this.chunks[middle]
      assert(chunk !== undefined && chunk.length > 0, 'sorted keys: chunks are never empty')
      if (predicate(chunk[chunk.length - 1] as string)) high = middle
      else low = middle + 1
    }
    const chunk = this.chunks[low]
    if (chunk === undefined) return { chunk: this.chunks.length, offset: 0 }
    return { chunk: low, offset: firstInChunk(chunk, predicate) }
  }

  private split (chunkNumber: number): void {
    const chunk = this.chunks[chunkNumber]
    assert(chunk !== undefined, 'sorted keys: chunk to split exists')
    const upper = chunk.splice(chunk.length >>> 1)
    this.chunks.splice(chunkNumber + 1, 0, upper)
  }
}

function firstInChunk (chunk: readonly string[], predicate: (key: string) => boolean): number {
  let low = 0
  let high = chunk.length
  while (low < high) {
    const middle = (low + high) >>> 1
    if (predicate(chunk[middle] as string)) high = middle
    else low = middle + 1
  }
  return low
}
