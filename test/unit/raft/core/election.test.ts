/**
 * Leader election (§5.1 terms, §5.2 elections, §5.4.1 election restriction), in the shape of
 * etcd-io/raft's paper tests: build a core in a known state, step messages, check the Ready and
 * the role. Most tests turn pre-vote and check-quorum off (PLAIN) to check the paper's rules in
 * isolation; prevote-checkquorum.test.ts covers the thesis extensions.
 */
import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import type { NodeId } from '../../../../src/raft/core/types.js'
import {
  ELECTION_TICKS, Network, PLAIN, append, drain, heartbeat, makeCommittedLeader, makeLeader, newCore, nodeIds, ofType,
  only, tickTimes, tickUntil, voteRequest
} from './helpers.js'

describe('§5.1 terms', () => {
  const roles = {
    follower: () => newCore({ tunables: PLAIN }),
    candidate: () => {
      const core = newCore({ tunables: PLAIN })
      tickUntil(core, () => core.role === 'candidate', 2 * ELECTION_TICKS)
      drain(core)
      return core
    },
    leader: () => {
      const core = newCore({ tunables: PLAIN })
      makeLeader(core)
      return core
    }
  }
  for (const [role, build] of Object.entries(roles)) {
    test(`a ${role} that sees a higher term in an append becomes a follower in that term`, () => {
      const core = build()
      assert.equal(core.role, role)
      core.step(append({ from: 'n2', to: 'n1', term: 5, prevLogIndex: 1, prevLogTerm: 1 }))
      assert.equal(core.role, 'follower')
      assert.equal(core.currentTerm, 5)
      assert.equal(core.leader, 'n2')
      assert.equal(core.vote, null)
      const out = drain(core)
      assert.deepEqual(out.hardStates.at(-1), { term: 5, votedFor: null, commit: core.commitIndex })
      assert.deepEqual(out.softStates.at(-1), { role: 'follower', leaderId: 'n2', term: 5 })
    })
  }

  test('messages from a stale term are rejected: the sender learns the newer term, nothing else changes', () => {
    const core = newCore({ id: 'n1', terms: [1, 2], term: 3, tunables: PLAIN })
    core.step(append({ from: 'n2', to: 'n1', term: 2, prevLogIndex: 2, prevLogTerm: 2, entries: [{ index: 3, term: 2, type: 'command', data: new Uint8Array([1]) }] }))
    core.step(heartbeat('n2', 'n1', 2, 2))
    core.step(voteRequest({ from: 'n3', to: 'n1', term: 2, lastLogIndex: 9, lastLogTerm: 2 }))
    const urgent = core.takeUrgentMessages()
    const out = drain(core)
    assert.equal(core.lastIndex, 2, 'the stale append added nothing')
    assert.equal(core.currentTerm, 3)
    assert.equal(core.vote, null, 'no vote for a stale candidate')
    assert.deepEqual(ofType(out.messages, 'voteResponse'), [])
    const answers = ofType(urgent, 'appendResponse')
    assert.equal(answers.length, 2, 'one answer for the append and one for the heartbeat')
    for (const answer of answers) {
      assert.equal(answer.term, 3)
      assert.equal(answer.success, false)
    }
  })
})

describe('§5.2 leader election', () => {
  test('a follower that hears nothing for an election timeout becomes a candidate: term + 1, self-vote, vote requests to every voter', () => {
    const core = newCore({ tunables: PLAIN, voters: nodeIds(3) })
    const ticks = tickUntil(core, () => core.role !== 'follower', 2 * ELECTION_TICKS)
    assert.ok(ticks >= ELECTION_TICKS, `campaigned after ${ticks} ticks, before the election timeout`)
    assert.equal(core.role, 'candidate')
    assert.equal(core.currentTerm, 2)
    assert.equal(core.vote, 'n1')
    const out = drain(core)
    assert.deepEqual(out.hardStates.at(-1), { term: 2, votedFor: 'n1', commit: 1 })
    assert.deepEqual(out.softStates.at(-1), { role: 'candidate', leaderId: null, term: 2 })
    const votes = ofType(out.messages, 'vote')
    assert.deepEqual(votes.map(v => v.to).sort(), ['n2', 'n3'])
    for (const vote of votes) {
      assert.deepEqual({ term: vote.term, lastLogIndex: vote.lastLogIndex, lastLogTerm: vote.lastLogTerm, leadershipTransfer: vote.leadershipTransfer },
        { term: 2, lastLogIndex: 1, lastLogTerm: 1, leadershipTransfer: false })
    }
  })

  test('a candidate whose election times out (split vote) starts a new election in the next term', () => {
    const core = newCore({ tunables: PLAIN })
    tickUntil(core, () => core.role === 'candidate', 2 * ELECTION_TICKS)
    drain(core)
    core.step({ type: 'voteResponse', from: 'n2', to: 'n1', term: 2, granted: false })
    assert.equal(core.role, 'candidate', 'one rejection of three is not a loss')
    tickUntil(core, () => core.currentTerm === 3, 2 * ELECTION_TICKS)
    assert.equal(core.role, 'candidate')
    const out = drain(core)
    assert.deepEqual(ofType(out.messages, 'vote').map(v => [v.to, v.term]).sort(), [['n2', 3], ['n3', 3]])
  })

  const elections: Array<{ size: number, votes: Record<NodeId, boolean>, role: string }> = [
    { size: 1, votes: {}, role: 'leader' },
    { size: 3, votes: { n2: true }, role: 'leader' },
    { size: 3, votes: { n2: false }, role: 'candidate' },
    { size: 3, votes: { n2: false, n3: false }, role: 'follower' },
    { size: 5, votes: { n2: true, n3: true }, role: 'leader' },
    { size: 5, votes: { n2: true }, role: 'candidate' },
    { size: 5, votes: { n2: true, n3: false, n4: false }, role: 'candidate' },
    { size: 5, votes: { n2: false, n3: false, n4: false }, role: 'follower' }
  ]
  for (const { size, votes, role } of elections) {
    test(`a candidate in a ${size}-node cluster with votes ${JSON.stringify(votes)} ends up ${role}`, () => {
      const core = newCore({ tunables: PLAIN, voters: nodeIds(size) })
      tickUntil(core, () => core.role !== 'follower', 2 * ELECTION_TICKS)
      drain(core)
      for (const [from, granted] of Object.entries(votes)) core.step({ type: 'voteResponse', from, to: 'n1', term: 2, granted })
      assert.equal(core.role, role)
      assert.equal(core.currentTerm, 2)
    })
  }

  test('a follower votes for at most one candidate per term, and repeats its vote to the same candidate', () => {
    const core = newCore({ tunables: PLAIN })
    const ask = (from: NodeId): boolean => {
      core.step(voteRequest({ from, to: 'n1', term: 2, lastLogIndex: 1, lastLogTerm: 1 }))
      return only(ofType(drain(core).messages, 'voteResponse'), 'vote response').granted
    }
    assert.equal(ask('n2'), true)
    assert.equal(ask('n3'), false)
    assert.equal(ask('n2'), true)
    assert.equal(core.vote, 'n2')
  })

  test('a candidate steps down when the leader of its own term appends to it', () => {
    const core = newCore({ tunables: PLAIN })
    tickUntil(core, () => core.role === 'candidate', 2 * ELECTION_TICKS)
    drain(core)
    core.step(append({ from: 'n2', to: 'n1', term: 2, prevLogIndex: 1, prevLogTerm: 1 }))
    assert.equal(core.role, 'follower')
    assert.equal(core.currentTerm, 2)
    assert.equal(core.leader, 'n2')
    assert.equal(core.vote, 'n1', 'the self-vote of this term stays recorded')
  })

  test('election timeouts are randomized within [electionTicks, 2 * electionTicks)', () => {
    const seen = new Set<number>()
    for (let seed = 1; seed <= 60; seed += 1) {
      const core = newCore({ tunables: PLAIN, seed })
      const ticks = tickUntil(core, () => core.role !== 'follower', 2 * ELECTION_TICKS)
      assert.ok(ticks >= ELECTION_TICKS && ticks < 2 * ELECTION_TICKS, `seed ${seed}: ${ticks} ticks`)
      seen.add(ticks)
    }
    assert.ok(seen.size >= 6, `timeouts should spread, saw only ${[...seen].sort().join(', ')}`)
  })

  test('a leader never campaigns and sends a heartbeat to every peer every heartbeatTicks', () => {
    const core = makeCommittedLeader({ tunables: { ...PLAIN, heartbeatTicks: 3 } })
    const term = core.currentTerm
    for (let round = 0; round < 3 * ELECTION_TICKS; round += 1) {
      tickTimes(core, 2)
      assert.deepEqual(ofType(core.takeUrgentMessages(), 'heartbeat'), [], 'no heartbeat before heartbeatTicks')
      core.tick()
      const heartbeats = ofType(core.takeUrgentMessages(), 'heartbeat')
      assert.deepEqual(heartbeats.map(h => h.to).sort(), ['n2', 'n3'])
      drain(core)
    }
    assert.equal(core.role, 'leader')
    assert.equal(core.currentTerm, term)
  })

  test('a new leader appends a noop of its term and sends it to every peer (§5.4.2, §8)', () => {
    const core = newCore({ tunables: PLAIN })
    const elected = makeLeader(core)
    assert.deepEqual(elected.softStates.at(-1), { role: 'leader', leaderId: 'n1', term: 2 })
    const noop = only(elected.entries, 'new entry')
    assert.deepEqual({ index: noop.index, term: noop.term, type: noop.type, bytes: noop.data.byteLength }, { index: 2, term: 2, type: 'noop', bytes: 0 })
    const appends = ofType(elected.messages, 'append')
    assert.deepEqual(appends.map(a => a.to).sort(), ['n2', 'n3'])
    for (const a of appends) {
      assert.deepEqual({ prevLogIndex: a.prevLogIndex, prevLogTerm: a.prevLogTerm, leaderCommit: a.leaderCommit, entries: a.entries.map(e => e.index) },
        { prevLogIndex: 1, prevLogTerm: 1, leaderCommit: 1, entries: [2] })
    }
    assert.equal(core.commitIndex, 1, 'the noop is not committed until a quorum holds it')
  })

  test('a single-voter cluster elects itself at the first timeout and commits its noop once persisted', () => {
    const core = newCore({ voters: ['n1'] })
    tickUntil(core, () => core.role === 'leader', 2 * ELECTION_TICKS)
    assert.equal(core.commitIndex, 1, 'not committed before the noop is durable')
    const out = drain(core)
    assert.equal(core.commitIndex, 2)
    assert.deepEqual(out.committed.map(e => [e.index, e.type]), [[2, 'noop']])
    assert.deepEqual(out.messages, [])
  })

  test('a leader rejects a vote request for its own term', () => {
    const core = newCore({ tunables: PLAIN })
    makeLeader(core)
    core.step(voteRequest({ from: 'n3', to: 'n1', term: 2, lastLogIndex: 10, lastLogTerm: 2 }))
    const response = only(ofType(drain(core).messages, 'voteResponse'), 'vote response')
    assert.equal(response.granted, false)
    assert.equal(core.role, 'leader')
  })

  test('a learner never campaigns', () => {
    const core = newCore({ id: 'n4', voters: nodeIds(3), learners: ['n4'] })
    tickTimes(core, 5 * ELECTION_TICKS)
    assert.equal(core.role, 'follower')
    assert.equal(core.currentTerm, 1)
    assert.deepEqual(drain(core).messages, [])
  })

  test('in a network, the node that times out first wins and the others follow it', () => {
    const network = new Network({ voters: nodeIds(3) })
    const leader = network.elect('n1')
    for (const id of ['n2', 'n3']) {
      const core = network.core(id)
      assert.equal(core.role, 'follower')
      assert.equal(core.leader, 'n1')
      assert.equal(core.currentTerm, leader.currentTerm)
      assert.equal(core.commitIndex, 2, 'the noop commits everywhere')
    }
  })
})

describe('§5.4.1 election restriction', () => {
  // The voter's log is [1, 2, 2]: last index 3, last term 2.
  const cases: Array<{ lastLogIndex: number, lastLogTerm: number, granted: boolean }> = [
    { lastLogIndex: 3, lastLogTerm: 2, granted: true }, // same log
    { lastLogIndex: 4, lastLogTerm: 2, granted: true }, // same last term, longer
    { lastLogIndex: 2, lastLogTerm: 2, granted: false }, // same last term, shorter
    { lastLogIndex: 1, lastLogTerm: 1, granted: false }, // older last term
    { lastLogIndex: 5, lastLogTerm: 1, granted: false }, // longer but older last term
    { lastLogIndex: 2, lastLogTerm: 3, granted: true } // newer last term, shorter
  ]
  for (const { lastLogIndex, lastLogTerm, granted } of cases) {
    test(`a voter with log [1, 2, 2] ${granted ? 'grants' : 'rejects'} a candidate whose last entry is (index ${lastLogIndex}, term ${lastLogTerm})`, () => {
      const core = newCore({ terms: [1, 2, 2], tunables: PLAIN })
      core.step(voteRequest({ from: 'n2', to: 'n1', term: 3, lastLogIndex, lastLogTerm }))
      const response = only(ofType(drain(core).messages, 'voteResponse'), 'vote response')
      assert.equal(response.granted, granted)
      assert.equal(response.term, 3, 'the voter adopts the higher term either way')
      assert.equal(core.vote, granted ? 'n2' : null)
    })
  }
})
