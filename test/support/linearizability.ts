/**
 * A linearizability checker for a single register with read, write and compare-and-set, in the
 * style of Wing & Gong with Lowe's memoization (the algorithm behind Knossos and Porcupine):
 * search for an order of the operations that respects real time (an operation that completed
 * before another was invoked comes first) and the register's sequential semantics.
 *
 * Operations whose outcome is unknown (timeouts, connection errors) may have taken effect at any
 * point after their invocation, or never: they are treated as completing at +infinity, and the
 * search may also leave them out.
 *
 * Used by the end-to-end tests that record histories from real clients against real servers.
 */

export type RegisterOp =
  | { readonly kind: 'read', readonly value: string | null }
  | { readonly kind: 'write', readonly value: string }
  | { readonly kind: 'cas', readonly expected: string | null, readonly value: string, readonly succeeded: boolean }

export interface HistoryEntry {
  readonly process: number
  readonly invokeMs: number
  /** Infinity when the outcome is unknown. */
  readonly completeMs: number
  readonly op: RegisterOp
  /** false: the client never learned the outcome; a write or cas may or may not have happened. */
  readonly known: boolean
}

export interface CheckResult {
  readonly linearizable: boolean
  /** Operations explored; a large history may hit the budget, reported as undecided. */
  readonly explored: number
  readonly decided: boolean
  readonly detail: string
}

function apply (state: string | null, entry: HistoryEntry): { ok: boolean, next: string | null } {
  const op = entry.op
  switch (op.kind) {
    case 'read':
      return { ok: !entry.known || op.value === state, next: state }
    case 'write':
      return { ok: true, next: op.value }
    case 'cas': {
      if (!entry.known) return state === op.expected ? { ok: true, next: op.value } : { ok: true, next: state }
      const matches = state === op.expected
      if (op.succeeded) return { ok: matches, next: matches ? op.value : state }
      return { ok: !matches, next: state }
    }
  }
}

/**
 * Checks a history of one register starting at `initial`. Reads with unknown outcome carry no
 * information and are dropped up front.
 */
export function checkRegisterHistory (history: readonly HistoryEntry[], initial: string | null, options: { budget?: number } = {}): CheckResult {
  // An operation with unknown outcome whose value nobody ever observed may as well never have
  // happened (a valid choice for it), so it is dropped; this keeps the search small when many
  // requests failed during crashes.
  const observed = new Set<string | null>()
  for (const entry of history) {
    if (!entry.known) continue
    if (entry.op.kind === 'read') observed.add(entry.op.value)
    if (entry.op.kind === 'cas') observed.add(entry.op.expected)
  }
  const entries = history.filter(entry => entry.known || (entry.op.kind !== 'read' && observed.has(entry.op.value)))
  const n = entries.length
  if (n === 0) return { linearizable: true, explored: 0, decided: true, detail: 'empty history' }
  if (n > 1024) return { linearizable: false, explored: 0, decided: false, detail: `history of ${n} operations is too long to check` }
  const budget = options.budget ?? 2_000_000
  const done = new Uint8Array(n)
  const seen = new Set<string>()
  let explored = 0
  let doneCount = 0
  let knownRemaining = entries.filter(entry => entry.known).length

  const key = (state: string | null): string => {
    let bits = ''
    for (let i = 0; i < n; i += 32) {
      let word = 0
      for (let j = i; j < Math.min(n, i + 32); j += 1) if (done[j] === 1) word |= 1 << (j - i)
      bits += (word >>> 0).toString(36) + ','
    }
    return `${bits}|${state ?? '\u0000'}`
  }

  // An op may be linearized next only if no other pending op completed before it was invoked.
  const minimalCompletion = (): number => {
    let min = Infinity
    for (let i = 0; i < n; i += 1) if (done[i] === 0 && entries[i]!.completeMs < min) min = entries[i]!.completeMs
    return min
  }

  const search = (state: string | null): boolean => {
    if (knownRemaining === 0) return true // unknown writes left over may simply never have happened
    if (explored >= budget) return false
    const memo = key(state)
    if (seen.has(memo)) return false
    seen.add(memo)
    const horizon = minimalCompletion()
    for (let i = 0; i < n; i += 1) {
      if (done[i] === 1) continue
      const entry = entries[i]!
      if (entry.invokeMs > horizon) continue
      explored += 1
      const result = apply(state, entry)
      if (!result.ok) continue
      done[i] = 1
      doneCount += 1
      if (entry.known) knownRemaining -= 1
      if (search(result.next)) return true
      done[i] = 0
      doneCount -= 1
      if (entry.known) knownRemaining += 1
    }
    return false
  }

  const linearizable = search(initial)
  const decided = linearizable || explored < budget
  return {
    linearizable,
    explored,
    decided,
    detail: linearizable ? `linearizable (${n} operations, ${explored} steps)` : decided ? `not linearizable: no valid order for ${n} operations` : `undecided after ${explored} steps`
  }
}
