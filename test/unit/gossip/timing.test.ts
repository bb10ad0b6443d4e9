/**
 * The pure pieces of the SWIM core: Lifeguard's suspicion timeout (suspicion.ts) and local health
 * multiplier (awareness.ts), memberlist's retransmit limit and push/pull scaling (swim.ts), the
 * dissemination queue (broadcast-queue.ts), broadcast deduplication (broadcast-dedupe.ts) and
 * configuration validation (config.ts).
 */
import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { Awareness } from '../../../src/gossip/core/awareness.js'
import { BroadcastDedupe } from '../../../src/gossip/core/broadcast-dedupe.js'
import { BroadcastQueue } from '../../../src/gossip/core/broadcast-queue.js'
import { fastSwimConfig, lanSwimConfig, scaleSwimConfig, validateSwimConfig } from '../../../src/gossip/core/config.js'
import { Suspicion, suspicionConfirmationsWanted, suspicionMinTimeoutMs, suspicionTimeoutMs } from '../../../src/gossip/core/suspicion.js'
import { pushPullIntervalScaledMs, retransmitLimit } from '../../../src/gossip/core/swim.js'

describe('Lifeguard suspicion timeout', () => {
  test('minimum = mult * max(1, log10(n)) * probe interval', () => {
    assert.equal(suspicionMinTimeoutMs(4, 1, 1000), 4000)
    assert.equal(suspicionMinTimeoutMs(4, 10, 1000), 4000)
    assert.equal(suspicionMinTimeoutMs(4, 50, 1000), 6795)
    assert.equal(suspicionMinTimeoutMs(4, 100, 1000), 8000)
    assert.equal(suspicionMinTimeoutMs(4, 200, 1000), 9204)
  })

  test('k = mult - 2 confirmations, or 0 when too few members could confirm', () => {
    assert.equal(suspicionConfirmationsWanted(4, 50), 2)
    assert.equal(suspicionConfirmationsWanted(4, 4), 2)
    assert.equal(suspicionConfirmationsWanted(4, 3), 0)
  })

  test('the timeout falls from max to min as confirmations arrive, never below min', () => {
    const min = 6795
    const max = 6 * min
    assert.equal(suspicionTimeoutMs(0, 2, min, max), max)
    const one = suspicionTimeoutMs(1, 2, min, max)
    assert.ok(one < max && one > min, `one confirmation gives ${one}`)
    assert.equal(suspicionTimeoutMs(2, 2, min, max), min)
    assert.equal(suspicionTimeoutMs(5, 2, min, max), min)
    assert.equal(suspicionTimeoutMs(0, 0, min, max), min)
  })

  test('a Suspicion counts distinct confirmers other than the accuser, up to k', () => {
    const suspicion = new Suspicion(1000, 'a', 2, 100, 600)
    assert.equal(suspicion.deadlineMs, 1600)
    assert.equal(suspicion.confirm('a'), false, 'the accuser is not a confirmation')
    assert.equal(suspicion.confirm('b'), true)
    assert.equal(suspicion.confirm('b'), false, 'one confirmation per member')
    assert.equal(suspicion.confirm('c'), true)
    assert.equal(suspicion.deadlineMs, 1100)
    assert.equal(suspicion.confirm('d'), false, 'beyond k nothing changes')
  })
})

describe('Lifeguard local health', () => {
  test('scales timeouts by score + 1 and stays within 0..max-1', () => {
    const awareness = new Awareness(8)
    assert.equal(awareness.scaleMs(500), 500)
    awareness.applyDelta(3)
    assert.equal(awareness.scaleMs(500), 2000)
    awareness.applyDelta(100)
    assert.equal(awareness.healthScore, 7)
    awareness.applyDelta(-100)
    assert.equal(awareness.healthScore, 0)
  })
})

describe('memberlist scaling', () => {
  test('retransmit limit = mult * ceil(log10(n + 1))', () => {
    assert.equal(retransmitLimit(4, 1), 4)
    assert.equal(retransmitLimit(4, 9), 4)
    assert.equal(retransmitLimit(4, 50), 8)
    assert.equal(retransmitLimit(4, 100), 12)
    assert.equal(retransmitLimit(4, 200), 12)
  })

  test('push/pull interval grows with log2(n) above 32 members', () => {
    assert.equal(pushPullIntervalScaledMs(30_000, 32), 30_000)
    assert.equal(pushPullIntervalScaledMs(30_000, 50), 60_000)
    assert.equal(pushPullIntervalScaledMs(30_000, 200), 120_000)
  })
})

describe('dissemination queue', () => {
  const bytes = (n: number, fill: number): Uint8Array => new Uint8Array(n).fill(fill)

  test('fewest transmits first, newest first among equals; dropped at the retransmit limit', () => {
    const queue = new BroadcastQueue(16)
    queue.enqueue('a', bytes(10, 1))
    queue.enqueue('b', bytes(10, 2))
    assert.deepEqual(queue.take(1000, 2, 10, 2).map(item => item[0]), [2, 1])
    queue.enqueue('c', bytes(10, 3))
    assert.deepEqual(queue.take(1000, 2, 10, 2).map(item => item[0]), [3, 2, 1])
    assert.equal(queue.size, 1, 'a and b reached two transmits')
    assert.ok(queue.has('c'))
  })

  test('a newer item under the same key replaces the queued one', () => {
    const queue = new BroadcastQueue(16)
    queue.enqueue('m:n1', bytes(10, 1))
    queue.enqueue('m:n1', bytes(10, 9))
    assert.deepEqual(queue.take(1000, 2, 10, 5).map(item => item[0]), [9])
  })

  test('takes only what fits, skipping large items for smaller ones', () => {
    const queue = new BroadcastQueue(16)
    queue.enqueue('small-old', bytes(10, 1))
    queue.enqueue('big', bytes(100, 2))
    queue.enqueue('small-new', bytes(10, 3))
    assert.deepEqual(queue.take(60, 2, 10, 5).map(item => item[0]), [3, 1])
    assert.deepEqual(queue.take(1000, 2, 1, 5).map(item => item[0]), [2], 'countMax bounds the take')
  })

  test('a full queue drops its most transmitted, then oldest, items', () => {
    const queue = new BroadcastQueue(16)
    for (let i = 0; i < 20; i += 1) queue.enqueue(`k${i}`, bytes(1, i))
    assert.equal(queue.size, 16)
    assert.equal(queue.dropped, 4)
    assert.ok(!queue.has('k0') && queue.has('k19'))
  })
})

describe('broadcast dedupe', () => {
  test('each (origin, epoch, seq) is new exactly once, in any order', () => {
    const dedupe = new BroadcastDedupe(100)
    for (const seq of [5, 3, 4, 1, 2, 300]) assert.equal(dedupe.markSeen('a', 1, seq), true, `seq ${seq}`)
    for (const seq of [5, 3, 4, 1, 2, 300]) assert.equal(dedupe.markSeen('a', 1, seq), false, `seq ${seq} again`)
    assert.equal(dedupe.markSeen('a', 1, 30), false, 'below the 256-wide window counts as seen')
    assert.equal(dedupe.markSeen('a', 2, 5), true, 'a new epoch starts afresh')
    assert.equal(dedupe.markSeen('b', 1, 5), true)
  })

  test('origins are evicted least recently used first', () => {
    const dedupe = new BroadcastDedupe(2)
    dedupe.markSeen('a', 1, 1)
    dedupe.markSeen('b', 1, 1)
    dedupe.markSeen('a', 1, 2)
    dedupe.markSeen('c', 1, 1)
    assert.equal(dedupe.hasSeen('a', 1, 1), true)
    assert.equal(dedupe.hasSeen('b', 1, 1), false)
  })
})

describe('configuration', () => {
  test('the LAN and fast profiles and scaled copies are valid', () => {
    validateSwimConfig(lanSwimConfig)
    validateSwimConfig(fastSwimConfig)
    validateSwimConfig(scaleSwimConfig(lanSwimConfig, 10))
  })

  test('every problem is reported at once, naming field, value and range', () => {
    assert.throws(
      () => validateSwimConfig({ ...lanSwimConfig, probeIntervalMs: 0, gossipNodes: 1.5, tcpFallbackProbe: 'yes' as unknown as boolean }),
      (err: Error & { code?: string }) => {
        assert.equal(err.code, 'ERR_INVALID_INPUT')
        assert.match(err.message, /gossip\.probeIntervalMs must be an integer in 1\.\.3600000, got 0/)
        assert.match(err.message, /gossip\.gossipNodes must be an integer in 1\.\.64, got 1\.5/)
        assert.match(err.message, /gossip\.tcpFallbackProbe must be a boolean, got "yes"/)
        return true
      })
    assert.throws(() => validateSwimConfig({ ...lanSwimConfig, probeTimeoutMs: 1000 }), /probeTimeoutMs \(1000\) must be less than gossip\.probeIntervalMs \(1000\)/)
  })
})
