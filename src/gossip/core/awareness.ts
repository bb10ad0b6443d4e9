/**
 * Local health (Lifeguard §IV-A, "Local Health Multiplier"), used by the SWIM core (swim.ts).
 *
 * A member that cannot get its own probes answered, or keeps having to refute suspicions about
 * itself, is more likely to be the slow one than everyone else is. Its score rises, and its probe
 * interval and probe timeout are multiplied by (score + 1), so a struggling member probes less
 * often and waits longer before accusing others. Successful probes lower the score again.
 *
 * Deltas applied by the core (as memberlist applies them): +1 for a refutation, -1 for a probe
 * answered by any path, and for a failed probe +1 per expected nack that never came (or +1 when no
 * nacks were expected because no other member could relay).
 */
export class Awareness {
  private score = 0

  /** @param maxMultiplier the largest multiplier; the score stays in 0..maxMultiplier-1. */
  constructor (private readonly maxMultiplier: number) {}

  get healthScore (): number {
    return this.score
  }

  get multiplier (): number {
    return this.score + 1
  }

  applyDelta (delta: number): void {
    this.score = Math.min(this.maxMultiplier - 1, Math.max(0, this.score + delta))
  }

  scaleMs (timeoutMs: number): number {
    return timeoutMs * (this.score + 1)
  }
}
