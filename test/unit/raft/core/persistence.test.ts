/**
 * Persistence ordering (Figure 2's "Persistent state ... updated on stable storage before
 * responding to RPCs", and thesis §10.2.1): a message that relies on state not yet durable (a
 * granted vote, a new term, an acknowledgement of entries) leaves only with the Ready that
 * persists that state, in ready.messages; everything else (heartbeats and their answers, the
 * leader's appends, rejections, pre-votes) may leave at once through takeUrgentMessages(). Also
 * batching (one Ready covers many proposals) and restarts from what was persisted.
 */
import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { RaftCore } from '../../../../src/raft/core/raft.js'
import {
  Disk, ELECTION_TICKS, Network, PLAIN, acceptAppends, append, bytes, commandEntry, configurationOf, coreOptions, drain,
  heartbeat, makeCommittedLeader, newCore, nodeIds, ofType, only, tickUntil, voteRequest
} from './helpers.js'

describe('what waits for persistence (Figure 2: persist before responding)', () => {
  test('a granted vote leaves only after the Ready that persists it', () => {
    const core = newCore({ tunables: PLAIN })
    core.step(voteRequest({ from: 'n2', to: 'n1', term: 2, lastLogIndex: 1, lastLogTerm: 1 }))
    assert.deepEqual(ofType(core.takeUrgentMessages(), 'voteResponse'), [])
    const ready = core.ready()
    assert.deepEqual(ready.hardState, { term: 2, votedFor: 'n2', commit: 1 })
    assert.deepEqual(ofType(ready.messagesBeforePersist, 'voteResponse'), [])
    assert.equal(only(ofType(ready.messages, 'voteResponse'), 'vote response').granted, true)
    core.advance(ready)
  })

  test('a candidate\'s vote requests wait for its new term and self-vote to be persisted', () => {
    const core = newCore({ tunables: PLAIN })
    tickUntil(core, () => core.role === 'candidate', 2 * ELECTION_TICKS)
    assert.deepEqual(ofType(core.takeUrgentMessages(), 'vote'), [])
    const ready = core.ready()
    assert.deepEqual(ready.hardState, { term: 2, votedFor: 'n1', commit: 1 })
    assert.deepEqual(ofType(ready.messagesBeforePersist, 'vote'), [])
    assert.equal(ofType(ready.messages, 'vote').length, 2)
    core.advance(ready)
  })

  test('an acknowledgement of new entries leaves only after the Ready that persists them', () => {
    const core = newCore({ id: 'n2', terms: [1, 2], term: 2 })
    core.step(append({ from: 'n1', to: 'n2', term: 2, prevLogIndex: 2, prevLogTerm: 2, entries: [commandEntry(3, 2)], leaderCommit: 2 }))
    assert.deepEqual(ofType(core.takeUrgentMessages(), 'appendResponse'), [])
    const ready = core.ready()
    assert.deepEqual(ready.entries.map(e => e.index), [3])
    assert.deepEqual(ofType(ready.messagesBeforePersist, 'appendResponse'), [])
    assert.equal(only(ofType(ready.messages, 'appendResponse'), 'append response').matchIndex, 3)
    core.advance(ready)
  })

  test('any answer in a term not yet persisted waits, even a heartbeat answer', () => {
    const core = newCore({ id: 'n2' })
    core.step(heartbeat('n1', 'n2', 5, 1))
    assert.deepEqual(core.takeUrgentMessages(), [])
    const ready = core.ready()
    assert.equal(ready.hardState?.term, 5)
    assert.equal(ofType(ready.messages, 'heartbeatResponse').length, 1)
    core.advance(ready)
  })

  test('entries that arrive while a Ready is being persisted are acknowledged only after the next Ready', () => {
    const core = newCore({ id: 'n2', terms: [1, 2], term: 2 })
    core.step(append({ from: 'n1', to: 'n2', term: 2, prevLogIndex: 2, prevLogTerm: 2, entries: [commandEntry(3, 2)] }))
    const first = core.ready()
    core.step(append({ from: 'n1', to: 'n2', term: 2, prevLogIndex: 3, prevLogTerm: 2, entries: [commandEntry(4, 2)] }))
    assert.deepEqual(ofType(core.takeUrgentMessages(), 'appendResponse'), [])
    core.advance(first)
    const second = core.ready()
    assert.deepEqual(second.entries.map(e => e.index), [4])
    assert.deepEqual(ofType(second.messages, 'appendResponse').map(r => r.matchIndex), [4])
    core.advance(second)
  })
})

describe('what leaves at once (thesis §10.2.1)', () => {
  test('a leader\'s heartbeats and a follower\'s heartbeat answers are urgent, even while a Ready is in flight', () => {
    const leader = makeCommittedLeader()
    leader.propose(bytes('x'))
    const inFlight = leader.ready()
    leader.tick()
    assert.deepEqual(ofType(leader.takeUrgentMessages(), 'heartbeat').map(h => h.to).sort(), ['n2', 'n3'])
    leader.advance(inFlight)

    const follower = newCore({ id: 'n2', terms: [1, 2], term: 2 })
    follower.step(heartbeat('n1', 'n2', 2, 2))
    assert.equal(ofType(follower.takeUrgentMessages(), 'heartbeatResponse').length, 1)
  })

  test('rejections, acks of entries already durable and pre-vote traffic are urgent', () => {
    const core = newCore({ id: 'n2', terms: [1, 2], term: 2 })
    core.step(append({ from: 'n1', to: 'n2', term: 2, prevLogIndex: 7, prevLogTerm: 2 }))
    core.step(append({ from: 'n1', to: 'n2', term: 2, prevLogIndex: 1, prevLogTerm: 1, entries: [commandEntry(2, 2)] }))
    assert.deepEqual(ofType(core.takeUrgentMessages(), 'appendResponse').map(r => [r.success, r.matchIndex]), [[false, 7], [true, 2]])
    const leaderless = newCore({ id: 'n2', terms: [1, 2], term: 2 })
    leaderless.step({ type: 'preVote', from: 'n3', to: 'n2', term: 3, lastLogIndex: 2, lastLogTerm: 2 })
    assert.equal(ofType(leaderless.takeUrgentMessages(), 'preVoteResponse').length, 1)
  })

  test('a leader\'s appends leave before it persists its entries, but its own copy counts toward commit only once durable', () => {
    const core = makeCommittedLeader()
    core.propose(bytes('x'))
    const appends = ofType(core.takeUrgentMessages(), 'append')
    assert.deepEqual(appends.map(a => a.to).sort(), ['n2', 'n3'])
    const ready = core.ready()
    assert.deepEqual(ready.entries.map(e => e.index), [3])
    acceptAppends(core, appends, ['n2'])
    assert.equal(core.commitIndex, 2, 'n2 plus a leader copy that is not yet durable is not a quorum')
    core.advance(ready)
    assert.equal(core.commitIndex, 3)
  })
})

describe('batching (thesis §10.2.2)', () => {
  test('one Ready carries many proposals: one write and one append per follower', () => {
    const core = makeCommittedLeader()
    for (let i = 0; i < 10; i += 1) core.propose(bytes(`p${i}`))
    const ready = core.ready()
    assert.deepEqual(ready.entries.map(e => e.index), [3, 4, 5, 6, 7, 8, 9, 10, 11, 12])
    for (const to of ['n2', 'n3']) {
      const appendTo = only(ofType(ready.messagesBeforePersist, 'append', to), `append to ${to}`)
      assert.equal(appendTo.entries.length, 10)
    }
    core.advance(ready)
  })

  test('ready() twice without advance(), or a stale Ready in advance(), is a programming error', () => {
    const core = makeCommittedLeader()
    core.propose(bytes('x'))
    const ready = core.ready()
    assert.throws(() => core.ready(), /advance/)
    assert.throws(() => core.hasReady(), /advance/)
    core.advance(ready)
    core.propose(bytes('y'))
    const next = core.ready()
    assert.throws(() => core.advance(ready), /not the one in flight/)
    core.advance(next)
  })

  test('a quiet core has no Ready', () => {
    const core = makeCommittedLeader()
    assert.equal(core.hasReady(), false)
    const follower = newCore({ id: 'n2' })
    assert.equal(follower.hasReady(), false)
  })
})

describe('restarts (Figure 2: currentTerm, votedFor and log are persistent)', () => {
  test('a restarted node keeps its vote: no second candidate in the same term', () => {
    const configuration = configurationOf(nodeIds(3))
    const disk = Disk.fromBootstrap(configuration)
    const first = new RaftCore(coreOptions('n1', disk.restored(), 1, PLAIN))
    drain(first, disk)
    first.step(voteRequest({ from: 'n2', to: 'n1', term: 2, lastLogIndex: 1, lastLogTerm: 1 }))
    drain(first, disk)
    assert.deepEqual(disk.hardState, { term: 2, votedFor: 'n2', commit: 1 })

    const restarted = new RaftCore(coreOptions('n1', disk.restored(), 2, PLAIN))
    drain(restarted, disk)
    assert.equal(restarted.currentTerm, 2)
    assert.equal(restarted.vote, 'n2')
    restarted.step(voteRequest({ from: 'n3', to: 'n1', term: 2, lastLogIndex: 1, lastLogTerm: 1 }))
    assert.equal(only(ofType(drain(restarted, disk).messages, 'voteResponse'), 'answer').granted, false)
    restarted.step(voteRequest({ from: 'n2', to: 'n1', term: 2, lastLogIndex: 1, lastLogTerm: 1 }))
    assert.equal(only(ofType(drain(restarted, disk).messages, 'voteResponse'), 'answer').granted, true)
  })

  test('a restarted node re-applies committed entries from its snapshot through its persisted commit index', () => {
    const core = newCore({ terms: [1, 2, 2, 2], term: 2, commit: 3, keepRestoreReady: true })
    assert.equal(core.role, 'follower')
    const out = drain(core)
    assert.deepEqual(out.committed.map(e => e.index), [1, 2, 3])
    assert.deepEqual(out.hardStates, [])
    assert.equal(core.hasReady(), false)
  })

  test('a restarted leader comes back as a follower with its term and log, and the cluster carries on', () => {
    const network = new Network({ voters: nodeIds(3) })
    const leader = network.elect('n1')
    network.propose('n1', 'x')
    const { currentTerm: term, lastIndex, commitIndex } = leader
    const restarted = network.restart('n1')
    assert.deepEqual([restarted.role, restarted.currentTerm, restarted.lastIndex, restarted.commitIndex], ['follower', term, lastIndex, commitIndex])
    network.stabilize()
    assert.deepEqual(network.appliedCommands('n1'), ['x'], 're-applied from the restored commit index')
    for (let round = 0; round < 6 * ELECTION_TICKS && network.leaders().length === 0; round += 1) network.tick(1)
    const next = network.leaders()
    assert.equal(next.length, 1)
    network.propose(next[0]!, 'y')
    network.tick(2)
    for (const id of nodeIds(3)) assert.deepEqual(network.appliedCommands(id), ['x', 'y'])
  })

  test('a restarted follower that lost nothing durable rejoins without a new election', () => {
    const network = new Network({ voters: nodeIds(3) })
    const leader = network.elect('n1')
    network.propose('n1', 'x')
    const term = leader.currentTerm
    network.restart('n2')
    network.tick(2)
    network.propose('n1', 'y')
    assert.equal(leader.currentTerm, term)
    assert.equal(leader.role, 'leader')
    assert.deepEqual(network.appliedCommands('n2'), ['x', 'y'])
  })
})
