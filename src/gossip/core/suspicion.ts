/**
 * Suspicion timing (Lifeguard, "Lifeguard: Local Health Awareness for More Accurate Failure
 * Detection", §IV-B "LHA-Suspicion"), pure arithmetic over the driver's milliseconds. Used by the
 * SWIM core (swim.ts) for every member it suspects.
 *
 * A suspicion starts at the maximum timeout and shrinks toward the minimum as independent
 * confirmations (suspect messages from distinct other members) arrive:
 *
 *   min = suspicionMult * max(1, log10(max(1, n))) * probeInterval
 *   max = suspicionMaxTimeoutMult * min
 *   timeout(c) = max(min, max - (max - min) * log(c + 1) / log(k + 1))
 *
 * where n is the number of live members, c the confirmations so far and k the confirmations
 * wanted (suspicionMult - 2, or 0 when fewer than k other members could confirm, in which case
 * the timeout is the minimum from the start). The member that raised the suspicion does not count
 * as a confirmation.
 */

export function suspicionMinTimeoutMs (suspicionMult: number, liveMembers: number, probeIntervalMs: number): number {
  const nodeScale = Math.max(1, Math.log10(Math.max(1, liveMembers)))
  return Math.floor(suspicionMult * nodeScale * probeIntervalMs)
}

/** Confirmations wanted before the timeout reaches its minimum. */
export function suspicionConfirmationsWanted (suspicionMult: number, liveMembers: number): number {
  const wanted = suspicionMult - 2
  return liveMembers - 2 < wanted ? 0 : Math.max(0, wanted)
}

/** The total timeout (from the start of the suspicion) after `confirmations` confirmations. */
export function suspicionTimeoutMs (confirmations: number, wanted: number, minMs: number, maxMs: number): number {
  if (wanted < 1) return minMs
  const fraction = Math.log(confirmations + 1) / Math.log(wanted + 1)
  const raw = Math.floor(maxMs - fraction * (maxMs - minMs))
  return Math.max(minMs, raw)
}

/** One member's suspicion: when it started, who confirmed it, and when it expires. */
export class Suspicion {
  private readonly confirmedBy = new Set<string>()
  private confirmations = 0
  deadlineMs: number
  /** When the timeout would end with all wanted confirmations. */
  readonly minDeadlineMs: number
  /** When the suspecting member last probed the suspect out of turn (see SwimCore.overdueSuspect). */
  lastDirectProbeMs: number | null = null
  /** Verification pings sent so far, and when the last went (see SwimCore.maybeVerifySuspects). */
  verificationsSent = 0
  lastVerificationMs: number | null = null

  constructor (
    readonly startedMs: number,
    readonly accuser: string,
    private readonly wanted: number,
    private readonly minMs: number,
    private readonly maxMs: number
  ) {
    this.confirmedBy.add(accuser)
    this.deadlineMs = startedMs + suspicionTimeoutMs(0, wanted, minMs, maxMs)
    this.minDeadlineMs = startedMs + minMs
  }

  get confirmationCount (): number {
    return this.confirmations
  }

  /**
   * Records a confirmation from `from`; true when it was new (and so worth re-gossiping).
   * Confirmations beyond the wanted count change nothing and return false.
   */
  confirm (from: string): boolean {
    if (this.confirmations >= this.wanted) return false
    if (this.confirmedBy.has(from)) return false
    this.confirmedBy.add(from)
    this.confirmations += 1
    this.deadlineMs = this.startedMs + suspicionTimeoutMs(this.confirmations, this.wanted, this.minMs, this.maxMs)
    return true
  }
}
