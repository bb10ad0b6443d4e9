/**
 * Runs one seed: a safety phase with faults, then a healed liveness phase that must converge
 * within a step budget. Shared by the test file and the `npm run sim` command line.
 */
import { SimCluster } from './cluster.js'

export interface SeedResult {
  readonly seed: number
  readonly ok: boolean
  readonly error: Error | null
  readonly steps: number
  readonly acknowledged: number
  readonly traceDigest: string
  readonly traceTail: readonly string[]
}

export const SAFETY_STEPS = 6000
export const LIVENESS_STEPS_MAX = 20000

export function runSeed (seed: number, options: { safetySteps?: number } = {}): SeedResult {
  const sim = new SimCluster({ seed, nodeCount: seed % 2 === 0 ? 3 : 5 })
  const finish = (error: Error | null): SeedResult => ({
    seed, ok: error === null, error, steps: sim.steps, acknowledged: sim.history.acknowledgedCount(), traceDigest: sim.traceDigest(), traceTail: sim.trace
  })
  try {
    const safetySteps = options.safetySteps ?? SAFETY_STEPS
    for (let i = 0; i < safetySteps; i += 1) sim.step()
    sim.heal()
    const budget = { stepsMax: LIVENESS_STEPS_MAX }
    if (!sim.runUntil(() => sim.propose(), budget)) throw new Error(`liveness: no leader accepted a proposal within ${LIVENESS_STEPS_MAX} steps after healing\n${sim.describe()}`)
    if (!sim.runUntil(() => sim.converged(), budget)) throw new Error(`liveness: the cluster did not converge within ${LIVENESS_STEPS_MAX} steps after healing\n${sim.describe()}`)
    sim.history.checkAcknowledgedDurable()
    return finish(null)
  } catch (err) {
    return finish(err as Error)
  }
}

export function formatFailure (result: SeedResult, traceLines = 300): string {
  return [
    `simulation failed for seed ${result.seed} after ${result.steps} steps: ${result.error?.message ?? ''}`,
    `replay with: npm run sim -- --seed ${result.seed}`,
    '--- trace tail ---',
    ...result.traceTail.slice(-traceLines)
  ].join('\n')
}
