/**
 * The thesis's defences against disruptive servers: pre-vote (§9.6), check-quorum (§6.2) and
 * leader stickiness, the "lease" during which a follower ignores vote requests (§4.2.3).
 */
import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import {
  ELECTION_TICKS, Network, PLAIN, drain, heartbeat, makeCommittedLeader, newCore, nodeIds, ofType, only, tickTimes,
  tickUntil, voteRequest
} from './helpers.js'

describe('pre-vote (thesis §9.6)', () => {
  test('a pre-candidate asks at term + 1 without changing its term or vote, and the requests leave at once', () => {
    const core = newCore()
    tickUntil(core, () => core.role !== 'follower', 2 * ELECTION_TICKS)
    assert.equal(core.role, 'preCandidate')
    assert.equal(core.currentTerm, 1)
    assert.equal(core.vote, null)
    const requests = ofType(core.takeUrgentMessages(), 'preVote')
    assert.deepEqual(requests.map(r => [r.to, r.term, r.lastLogIndex, r.lastLogTerm]).sort(), [['n2', 2, 1, 1], ['n3', 2, 1, 1]])
    const out = drain(core)
    assert.deepEqual(out.hardStates, [], 'nothing to persist')
  })

  test('a quorum of pre-votes makes it a candidate at term + 1', () => {
    const core = newCore()
    tickUntil(core, () => core.role === 'preCandidate', 2 * ELECTION_TICKS)
    core.step({ type: 'preVoteResponse', from: 'n2', to: 'n1', term: 2, granted: true })
    assert.equal(core.role, 'candidate')
    assert.equal(core.currentTerm, 2)
    assert.equal(core.vote, 'n1')
    assert.deepEqual(ofType(drain(core).messages, 'vote').map(v => [v.to, v.term]).sort(), [['n2', 2], ['n3', 2]])
  })

  test('rejected by a majority, a pre-candidate returns to follower in its old term', () => {
    const core = newCore()
    tickUntil(core, () => core.role === 'preCandidate', 2 * ELECTION_TICKS)
    core.step({ type: 'preVoteResponse', from: 'n2', to: 'n1', term: 1, granted: false })
    assert.equal(core.role, 'preCandidate')
    core.step({ type: 'preVoteResponse', from: 'n3', to: 'n1', term: 1, granted: false })
    assert.equal(core.role, 'follower')
    assert.equal(core.currentTerm, 1)
  })

  test('a pre-candidate that is rejected from a higher term adopts that term', () => {
    const core = newCore()
    tickUntil(core, () => core.role === 'preCandidate', 2 * ELECTION_TICKS)
    core.step({ type: 'preVoteResponse', from: 'n2', to: 'n1', term: 5, granted: false })
    assert.equal(core.role, 'follower')
    assert.equal(core.currentTerm, 5)
  })

  const grants: Array<{ term: number, lastLogIndex: number, lastLogTerm: number, granted: boolean }> = [
    { term: 3, lastLogIndex: 2, lastLogTerm: 2, granted: true },
    { term: 3, lastLogIndex: 1, lastLogTerm: 1, granted: false }, // log behind ours
    { term: 2, lastLogIndex: 5, lastLogTerm: 2, granted: false } // term not beyond ours
  ]
  for (const { term, lastLogIndex, lastLogTerm, granted } of grants) {
    test(`a node in term 2 with log [1, 2] ${granted ? 'grants' : 'refuses'} a pre-vote at term ${term} for (index ${lastLogIndex}, term ${lastLogTerm}) and keeps its own term and vote`, () => {
      const core = newCore({ id: 'n2', terms: [1, 2], term: 2 })
      core.step({ type: 'preVote', from: 'n3', to: 'n2', term, lastLogIndex, lastLogTerm })
      const answer = only(ofType(core.takeUrgentMessages(), 'preVoteResponse'), 'pre-vote response')
      assert.equal(answer.granted, granted)
      assert.equal(answer.term, granted ? term : 2)
      assert.equal(core.currentTerm, 2)
      assert.equal(core.vote, null)
      assert.deepEqual(drain(core).hardStates, [])
    })
  }

  test('a partitioned node keeps its term while it cannot win pre-votes, and does not disturb the leader when it returns', () => {
    const network = new Network({ voters: nodeIds(3) })
    const leader = network.elect('n1')
    const term = leader.currentTerm
    network.isolate('n3')
    network.tick(5 * ELECTION_TICKS)
    assert.equal(network.core('n3').currentTerm, term)
    assert.equal(network.disks.get('n3')?.hardState.term, term)
    network.heal()
    network.tick(2 * ELECTION_TICKS)
    assert.equal(leader.role, 'leader')
    assert.equal(leader.currentTerm, term)
    assert.equal(network.core('n3').leader, 'n1')
  })

  test('without pre-vote, the partitioned node inflates its term and its return deposes the leader', () => {
    const network = new Network({ voters: nodeIds(3), tunables: PLAIN })
    const leader = network.elect('n1')
    const term = leader.currentTerm
    network.isolate('n3')
    network.tick(5 * ELECTION_TICKS)
    const inflated = network.core('n3').currentTerm
    assert.ok(inflated > term + 2, `n3 reached term ${inflated}`)
    network.heal()
    network.tick(4 * ELECTION_TICKS)
    const leaders = network.leaders()
    assert.equal(leaders.length, 1)
    assert.ok(network.core(leaders[0]!).currentTerm >= inflated, 'the cluster had to move to the inflated term')
  })
})

describe('check-quorum (thesis §6.2)', () => {
  test('a leader that hears from no quorum steps down within two election timeouts, never before one', () => {
    const core = makeCommittedLeader()
    const term = core.currentTerm
    tickTimes(core, ELECTION_TICKS - 1)
    assert.equal(core.role, 'leader')
    tickTimes(core, ELECTION_TICKS + 1)
    assert.equal(core.role, 'follower')
    assert.equal(core.currentTerm, term, 'stepping down does not change the term')
    assert.equal(core.leader, null)
  })

  test('a leader that keeps hearing from a quorum stays leader', () => {
    const core = makeCommittedLeader()
    for (let tick = 0; tick < 5 * ELECTION_TICKS; tick += 1) {
      core.tick()
      for (const beat of ofType(drain(core).messages, 'heartbeat', 'n2')) {
        core.step({ type: 'heartbeatResponse', from: 'n2', to: 'n1', term: beat.term, readContext: beat.readContext })
      }
    }
    assert.equal(core.role, 'leader')
  })

  test('a leader in a minority partition steps down; the majority elects a new leader; on healing all follow it', () => {
    const network = new Network({ voters: nodeIds(5) })
    const old = network.elect('n1')
    for (const a of ['n1', 'n2']) for (const b of ['n3', 'n4', 'n5']) network.cutLink(a, b)
    network.tick(4 * ELECTION_TICKS)
    assert.notEqual(old.role, 'leader')
    assert.equal(old.currentTerm, 2, 'pre-vote keeps the minority side in its term')
    const leaders = network.leaders()
    assert.equal(leaders.length, 1)
    const leader = leaders[0]!
    assert.ok(['n3', 'n4', 'n5'].includes(leader))
    network.heal()
    network.tick(2)
    for (const id of nodeIds(5)) assert.equal(network.core(id).leader, leader, `${id} follows ${leader}`)
  })
})

describe('leader stickiness (thesis §4.2.3)', () => {
  function followerWithLeader (tunables = {}): ReturnType<typeof newCore> {
    const core = newCore({ id: 'n2', terms: [1, 2], term: 2, tunables })
    core.step(heartbeat('n1', 'n2', 2, 1))
    drain(core)
    assert.equal(core.leader, 'n1')
    return core
  }

  test('a follower that heard from its leader within an election timeout ignores higher-term (pre-)vote requests', () => {
    const core = followerWithLeader()
    tickTimes(core, ELECTION_TICKS - 1)
    core.step(voteRequest({ from: 'n3', to: 'n2', term: 3, lastLogIndex: 2, lastLogTerm: 2 }))
    core.step({ type: 'preVote', from: 'n3', to: 'n2', term: 3, lastLogIndex: 2, lastLogTerm: 2 })
    const out = drain(core)
    assert.deepEqual(out.messages, [], 'no answer at all')
    assert.equal(core.currentTerm, 2)
    assert.equal(core.vote, null)
    assert.equal(core.leader, 'n1')
  })

  test('once an election timeout passes without the leader, the same request is granted', () => {
    const core = followerWithLeader()
    tickTimes(core, ELECTION_TICKS)
    drain(core)
    core.step(voteRequest({ from: 'n3', to: 'n2', term: 3, lastLogIndex: 2, lastLogTerm: 2 }))
    const answer = only(ofType(drain(core).messages, 'voteResponse'), 'vote response')
    assert.equal(answer.granted, true)
    assert.equal(core.currentTerm, 3)
  })

  test('a vote request flagged as a leadership transfer is granted even within the lease', () => {
    const core = followerWithLeader()
    core.step(voteRequest({ from: 'n3', to: 'n2', term: 3, lastLogIndex: 2, lastLogTerm: 2, leadershipTransfer: true }))
    const answer = only(ofType(drain(core).messages, 'voteResponse'), 'vote response')
    assert.equal(answer.granted, true)
    assert.equal(core.vote, 'n3')
  })

  test('without check-quorum there is no lease: a higher-term vote request is granted at once', () => {
    const core = followerWithLeader({ checkQuorum: false })
    core.step(voteRequest({ from: 'n3', to: 'n2', term: 3, lastLogIndex: 2, lastLogTerm: 2 }))
    assert.equal(only(ofType(drain(core).messages, 'voteResponse'), 'vote response').granted, true)
  })

  test('a leader ignores a disruptive higher-term vote request and keeps its term', () => {
    const core = makeCommittedLeader()
    core.step(voteRequest({ from: 'n3', to: 'n1', term: 9, lastLogIndex: 9, lastLogTerm: 9 }))
    assert.equal(core.role, 'leader')
    assert.equal(core.currentTerm, 2)
  })

  test('a deposed leader learns the newer term from the answer to its stale heartbeat', () => {
    const follower = newCore({ id: 'n2', terms: [1, 2], term: 3 })
    const oldLeader = makeCommittedLeader()
    follower.step(heartbeat('n1', 'n2', oldLeader.currentTerm, 2))
    const answer = only(ofType(follower.takeUrgentMessages(), 'appendResponse'), 'append response')
    assert.deepEqual({ term: answer.term, success: answer.success }, { term: 3, success: false })
    oldLeader.step(answer)
    assert.equal(oldLeader.role, 'follower')
    assert.equal(oldLeader.currentTerm, 3)
  })
})
