/**
 * Seeded pseudo-random source. Everything that must replay (the Raft and gossip cores, the
 * simulator) draws randomness from one of these; forks give each component its own stream so
 * that adding draws in one place does not shift another's sequence.
 */
export interface Prng {
  /** A uniform integer with 0 <= n < bound. */
  nextInt (bound: number): number
  /** A uniform float in [0, 1). */
  nextFloat (): number
  /** An independent stream derived from this one. */
  fork (): Prng
}

/** xoshiro128** seeded through splitmix32: fast, small state, good statistical quality. */
export class SeededPrng implements Prng {
  private s0: number
  private s1: number
  private s2: number
  private s3: number

  constructor (seed: number) {
    let x = seed >>> 0
    const next = (): number => {
      x = (x + 0x9e3779b9) >>> 0
      let z = x
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0
      return (z ^ (z >>> 16)) >>> 0
    }
    this.s0 = next()
    this.s1 = next()
    this.s2 = next()
    this.s3 = next()
    if ((this.s0 | this.s1 | this.s2 | this.s3) === 0) this.s0 = 1
  }

  private nextUint32 (): number {
    const result = Math.imul(rotl(Math.imul(this.s1, 5) >>> 0, 7), 9) >>> 0
    const t = (this.s1 << 9) >>> 0
    this.s2 = (this.s2 ^ this.s0) >>> 0
    this.s3 = (this.s3 ^ this.s1) >>> 0
    this.s1 = (this.s1 ^ this.s2) >>> 0
    this.s0 = (this.s0 ^ this.s3) >>> 0
    this.s2 = (this.s2 ^ t) >>> 0
    this.s3 = rotl(this.s3, 11)
    return result
  }

  nextInt (bound: number): number {
    if (!(Number.isInteger(bound) && bound > 0)) throw new RangeError(`bound must be a positive integer, got ${bound}`)
    return Math.floor(this.nextFloat() * bound)
  }

  nextFloat (): number {
    return this.nextUint32() / 4294967296
  }

  fork (): Prng {
    return new SeededPrng(this.nextUint32() ^ 0x5bd1e995)
  }
}

function rotl (x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0
}
