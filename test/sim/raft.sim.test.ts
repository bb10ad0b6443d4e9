/**
 * Deterministic simulation in `npm test`: fixed seeds 1..300 plus a few fresh random ones
 * (printed, so any failure can be replayed with `npm run sim -- --seed S`), and a check that a
 * seed replays to the identical trace.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { formatFailure, runSeed } from './run.js'

const SEEDS_FIXED = 300
const SEEDS_RANDOM = 10

test(`raft simulation: safety then liveness over ${SEEDS_FIXED} fixed seeds`, () => {
  const failures: string[] = []
  for (let seed = 1; seed <= SEEDS_FIXED; seed += 1) {
    const result = runSeed(seed)
    if (!result.ok) failures.push(formatFailure(result, 80))
  }
  assert.equal(failures.length, 0, failures.join('\n\n'))
})

test(`raft simulation: ${SEEDS_RANDOM} fresh random seeds`, (t) => {
  const base = 1_000_000 + Math.floor(Math.random() * 1_000_000_000)
  t.diagnostic(`random seeds ${base}..${base + SEEDS_RANDOM - 1}`)
  for (let seed = base; seed < base + SEEDS_RANDOM; seed += 1) {
    const result = runSeed(seed)
    assert.ok(result.ok, formatFailure(result, 80))
  }
})

test('raft simulation: a seed replays to the identical trace', () => {
  const first = runSeed(7)
  const second = runSeed(7)
  assert.ok(first.ok)
  assert.equal(second.traceDigest, first.traceDigest)
  assert.ok(first.acknowledged > 0, 'the seed acknowledged no proposal: the workload is not running')
})
