/**
 * Seeded swarm runs of the SWIM core (test/sim/gossip-run.ts) in the `sim` suite: each seed
 * draws its loss, delays and fallback setting, boots a cluster, runs three simulated minutes with
 * pauses, then checks detection, leave and broadcast. Sizes are capped at 60 members to keep the
 * suite fast; longer and larger runs belong to `node dist/test/sim/gossip-cli.js`. Replay one seed
 * with GOSSIP_SIM_SEED=S; a failure prints the seed, the replay command and the trace tail.
 */
import { test } from 'node:test'
import { formatRun, replayCommand, runGossip, swarmOptions } from './gossip-run.js'

const seeds = process.env.GOSSIP_SIM_SEED !== undefined ? [Number(process.env.GOSSIP_SIM_SEED)] : [1, 2, 3, 11, 42]

for (const seed of seeds) {
  test(`gossip swarm seed ${seed}: no false failures, detection, leave and broadcast within budget`, () => {
    const drawn = swarmOptions(seed, 3)
    const options = { ...drawn, members: Math.min(drawn.members, 60) }
    const result = runGossip(options)
    if (!result.ok) {
      throw new Error(`${formatRun(result)}\nreplay with: ${replayCommand(options)}\n--- trace tail ---\n${result.traceTail.slice(-150).join('\n')}`)
    }
  })
}
