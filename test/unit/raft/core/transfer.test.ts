/**
 * Leadership transfer (thesis §3.10): the leader brings the target's log up to date, then sends
 * it timeoutNow; the target campaigns at once, skipping pre-vote, with the leadershipTransfer flag
 * so that followers inside their lease still vote. While a transfer is pending the leader refuses
 * proposals; a transfer that does not finish within an election timeout is abandoned.
 */
import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import {
  ELECTION_TICKS, Network, acceptAppend, acceptAppends, bytes, drain, makeLeader, newCore, nodeIds, ofType, only
} from './helpers.js'

/** A leader whose noop n3 acknowledged but n2 never answered (n2's probe is outstanding). */
function leaderWithLaggingN2 (): ReturnType<typeof newCore> {
  const core = newCore({ voters: nodeIds(3), learners: ['n4'] })
  const elected = makeLeader(core)
  acceptAppends(core, elected.messages, ['n3', 'n4'])
  drain(core)
  assert.equal(core.commitIndex, 2)
  return core
}

describe('leadership transfer (thesis §3.10)', () => {
  test('to an up-to-date voter: timeoutNow leaves at once, and the target wins even inside the others\' lease', () => {
    const network = new Network({ voters: nodeIds(3) })
    const leader = network.elect('n1')
    network.tick(2)
    const term = leader.currentTerm
    assert.deepEqual(leader.transferLeadership('n2'), { ok: true })
    const urgent = leader.takeUrgentMessages()
    assert.deepEqual(ofType(urgent, 'timeoutNow').map(m => m.to), ['n2'])
    for (const message of urgent) network.core(message.to).step(message)
    network.stabilize()
    const n2 = network.core('n2')
    assert.equal(n2.role, 'leader')
    assert.equal(n2.currentTerm, term + 1)
    assert.equal(leader.role, 'follower')
    assert.equal(leader.leader, 'n2')
    const votes = network.delivered.filter(m => m.type === 'vote' && m.from === 'n2')
    assert.ok(votes.length > 0 && votes.every(v => v.type === 'vote' && v.leadershipTransfer), 'vote requests carry the transfer flag')
  })

  test('to a lagging voter: the leader first replicates, and sends timeoutNow only once the target matches its last index', () => {
    const core = leaderWithLaggingN2()
    core.propose(bytes('a'))
    core.propose(bytes('b'))
    acceptAppends(core, drain(core).messages, ['n3'])
    drain(core)
    assert.deepEqual(core.transferLeadership('n2'), { ok: true })
    assert.deepEqual(ofType(drain(core).messages, 'timeoutNow'), [], 'not before n2 catches up')
    core.step({ type: 'appendResponse', from: 'n2', to: 'n1', term: 2, success: true, matchIndex: 2, rejectHintIndex: 0, rejectHintTerm: 0 })
    const catchUp = drain(core)
    assert.deepEqual(ofType(catchUp.messages, 'timeoutNow'), [], 'n2 matches 2 of 4')
    const appendToN2 = only(ofType(catchUp.messages, 'append', 'n2').filter(a => a.entries.length > 0), 'catch-up append')
    assert.deepEqual(appendToN2.entries.map(e => e.index), [3, 4])
    core.step(acceptAppend(appendToN2))
    assert.deepEqual(ofType(drain(core).messages, 'timeoutNow').map(m => m.to), ['n2'])
  })

  test('proposals are refused while a transfer is pending', () => {
    const core = leaderWithLaggingN2()
    core.transferLeadership('n2')
    assert.deepEqual(core.propose(bytes('x')), { ok: false, reason: 'transferring' })
    assert.equal(core.status().leadTransferee, 'n2')
  })

  test('a transfer that does not finish within an election timeout is abandoned and proposals resume', () => {
    const core = leaderWithLaggingN2()
    core.transferLeadership('n2')
    for (let tick = 0; tick < ELECTION_TICKS; tick += 1) {
      core.tick()
      for (const beat of ofType(drain(core).messages, 'heartbeat', 'n3')) core.step({ type: 'heartbeatResponse', from: 'n3', to: 'n1', term: beat.term, readContext: 0 })
    }
    assert.equal(core.role, 'leader')
    assert.equal(core.status().leadTransferee, null)
    assert.ok(core.propose(bytes('x')).ok)
  })

  test('a transfer ends when the leader steps down', () => {
    const core = leaderWithLaggingN2()
    core.transferLeadership('n2')
    core.step({ type: 'heartbeat', from: 'n3', to: 'n1', term: 5, commit: 0, readContext: 0 })
    assert.equal(core.role, 'follower')
    assert.equal(core.status().leadTransferee, null)
  })

  test('invalid targets are refused', () => {
    const core = leaderWithLaggingN2()
    assert.equal((core.transferLeadership('n1') as { reason: string }).reason, 'isSelf')
    assert.equal((core.transferLeadership('n9') as { reason: string }).reason, 'unknownTarget')
    assert.equal((core.transferLeadership('n4') as { reason: string }).reason, 'notVoter')
    assert.equal(core.status().leadTransferee, null)
    const follower = newCore({ id: 'n2' })
    assert.equal((follower.transferLeadership('n3') as { reason: string }).reason, 'notLeader')
  })
})

describe('timeoutNow on the target', () => {
  test('a voter campaigns at once in term + 1 with the transfer flag, skipping pre-vote', () => {
    const core = newCore({ id: 'n2', terms: [1, 2], term: 2 })
    core.step({ type: 'heartbeat', from: 'n1', to: 'n2', term: 2, commit: 2, readContext: 0 })
    drain(core)
    core.step({ type: 'timeoutNow', from: 'n1', to: 'n2', term: 2 })
    assert.equal(core.role, 'candidate')
    assert.equal(core.currentTerm, 3)
    const votes = ofType(drain(core).messages, 'vote')
    assert.deepEqual(votes.map(v => [v.to, v.term, v.leadershipTransfer]).sort(), [['n1', 3, true], ['n3', 3, true]])
    assert.deepEqual(ofType(drain(core).messages, 'preVote'), [])
  })

  test('a learner ignores timeoutNow', () => {
    const core = newCore({ id: 'n4', voters: nodeIds(3), learners: ['n4'], terms: [1, 2], term: 2 })
    core.step({ type: 'timeoutNow', from: 'n1', to: 'n4', term: 2 })
    assert.equal(core.role, 'follower')
    assert.equal(core.currentTerm, 2)
  })

  test('a timeoutNow from an older term is ignored', () => {
    const core = newCore({ id: 'n2', terms: [1, 2], term: 3 })
    core.step({ type: 'timeoutNow', from: 'n1', to: 'n2', term: 2 })
    assert.equal(core.role, 'follower')
    assert.equal(core.currentTerm, 3)
  })

  test('after a completed transfer, the old leader accepts the new one and proposals there fail with its hint', () => {
    const network = new Network({ voters: nodeIds(3) })
    const old = network.elect('n1')
    network.tick(2)
    old.transferLeadership('n3')
    network.stabilize()
    assert.equal(network.core('n3').role, 'leader')
    network.tick(2)
    assert.deepEqual(old.propose(bytes('x')), { ok: false, reason: 'notLeader', leaderHint: 'n3' })
    const index = network.propose('n3', 'y')
    network.tick(1)
    assert.ok(old.commitIndex >= index)
  })
})
