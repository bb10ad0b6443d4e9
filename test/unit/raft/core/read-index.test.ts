/**
 * ReadIndex (thesis §6.4): the leader records its commit index, confirms it still leads with a
 * heartbeat round that a quorum answers, then hands the shell a readState; the shell serves the
 * read once it has applied that index. A new leader waits for its noop to commit first (it does
 * not know the commit index before). A single-voter cluster answers at once. Reads pending when
 * the leader steps down come out as readFailures.
 */
import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import {
  Network, acceptAppends, bytes, drain, makeCommittedLeader, makeLeader, newCore, nodeIds, ofType, tickUntil, ELECTION_TICKS
} from './helpers.js'

describe('ReadIndex (thesis §6.4)', () => {
  test('a read completes only after a quorum answers a heartbeat carrying its context', () => {
    const core = makeCommittedLeader()
    assert.deepEqual(core.readIndex(7), { ok: true })
    const heartbeats = ofType(core.takeUrgentMessages(), 'heartbeat')
    assert.deepEqual(heartbeats.map(h => h.to).sort(), ['n2', 'n3'], 'heartbeats leave without waiting for a Ready')
    const context = heartbeats[0]!.readContext
    assert.ok(context > 0)
    assert.deepEqual(drain(core).readStates, [], 'no answer before confirmation')
    core.step({ type: 'heartbeatResponse', from: 'n2', to: 'n1', term: 2, readContext: context })
    assert.deepEqual(drain(core).readStates, [{ requestId: 7, index: 2 }])
    core.step({ type: 'heartbeatResponse', from: 'n3', to: 'n1', term: 2, readContext: context })
    assert.deepEqual(drain(core).readStates, [], 'answered once')
  })

  test('the read index is the commit index when the read was requested, not when it was confirmed', () => {
    const core = makeCommittedLeader()
    core.readIndex(1)
    const context = ofType(core.takeUrgentMessages(), 'heartbeat')[0]!.readContext
    core.propose(bytes('x'))
    acceptAppends(core, drain(core).messages, ['n2'])
    assert.equal(core.commitIndex, 3)
    core.step({ type: 'heartbeatResponse', from: 'n2', to: 'n1', term: 2, readContext: context })
    assert.deepEqual(drain(core).readStates, [{ requestId: 1, index: 2 }])
  })

  test('a read on a new leader waits for its noop to commit, then completes at the noop index', () => {
    const core = newCore()
    const elected = makeLeader(core)
    assert.deepEqual(core.readIndex(5), { ok: true })
    const before = drain(core)
    assert.ok(ofType(before.messages, 'heartbeat').every(h => h.readContext === 0), 'no read round before the noop commits')
    assert.deepEqual(before.readStates, [])
    acceptAppends(core, elected.messages, ['n2'])
    const confirmations = ofType(drain(core).messages, 'heartbeat').filter(h => h.readContext > 0)
    assert.deepEqual(confirmations.map(h => h.to).sort(), ['n2', 'n3'])
    core.step({ type: 'heartbeatResponse', from: 'n3', to: 'n1', term: 2, readContext: confirmations[0]!.readContext })
    assert.deepEqual(drain(core).readStates, [{ requestId: 5, index: 2 }])
  })

  test('a single-voter leader answers at once, without messages', () => {
    const core = newCore({ voters: ['n1'] })
    tickUntil(core, () => core.role === 'leader', 2 * ELECTION_TICKS)
    drain(core)
    core.readIndex(3)
    const out = drain(core)
    assert.deepEqual(out.readStates, [{ requestId: 3, index: 2 }])
    assert.deepEqual(out.messages, [])
  })

  test('an answer for a later context confirms every earlier read; a learner\'s answer does not count', () => {
    const core = makeCommittedLeader({ voters: nodeIds(3), learners: ['n4'] })
    core.readIndex(1)
    core.readIndex(2)
    const contexts = ofType(core.takeUrgentMessages(), 'heartbeat', 'n2').map(h => h.readContext)
    assert.equal(contexts.length, 2)
    const latest = Math.max(...contexts)
    core.step({ type: 'heartbeatResponse', from: 'n4', to: 'n1', term: 2, readContext: latest })
    assert.deepEqual(drain(core).readStates, [])
    core.step({ type: 'heartbeatResponse', from: 'n2', to: 'n1', term: 2, readContext: latest })
    assert.deepEqual(drain(core).readStates.map(r => r.requestId), [1, 2])
  })

  test('reads pending (or waiting for the noop) when the leader steps down fail with leadershipLost', () => {
    const core = newCore()
    const elected = makeLeader(core)
    core.readIndex(1) // waits for the noop
    acceptAppends(core, elected.messages, ['n2'])
    drain(core)
    core.readIndex(2) // waits for a heartbeat quorum
    const fresh = newCore()
    makeLeader(fresh)
    fresh.readIndex(3) // waits for the noop
    for (const leader of [core, fresh]) leader.step({ type: 'heartbeat', from: 'n3', to: 'n1', term: 9, commit: 0, readContext: 0 })
    assert.deepEqual(drain(core).readFailures.map(f => [f.requestId, f.reason]), [[1, 'leadershipLost'], [2, 'leadershipLost']])
    assert.deepEqual(drain(fresh).readFailures.map(f => [f.requestId, f.reason]), [[3, 'leadershipLost']])
  })

  test('a follower refuses a read with notLeader and names the leader', () => {
    const network = new Network({ voters: nodeIds(3) })
    network.elect('n1')
    assert.deepEqual(network.core('n2').readIndex(1), { ok: false, reason: 'notLeader', leaderHint: 'n1' })
  })

  test('through the network, a read issued after a committed write sees at least that write\'s index', () => {
    const network = new Network({ voters: nodeIds(3) })
    const leader = network.elect('n1')
    const index = network.propose('n1', 'w')
    leader.readIndex(42)
    network.stabilize()
    const states = network.readStates.get('n1') ?? []
    assert.equal(states.length, 1)
    assert.equal(states[0]!.requestId, 42)
    assert.ok(states[0]!.index >= index)
  })
})
