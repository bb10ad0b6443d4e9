/**
 * Single-server membership changes (thesis §4.1): a new server joins as a learner (non-voter),
 * is promoted once caught up, and voters are removed one at a time. A configuration takes effect
 * as soon as it is appended, committed or not; only one change may be uncommitted, and none may
 * start before the leader's noop commits. A leader removed from the configuration steps down once
 * the removal commits (thesis §4.2.2).
 */
import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import type { ConfChange } from '../../../../src/raft/core/types.js'
import {
  Disk, ELECTION_TICKS, Network, acceptAppends, append, bytes, commandEntry, configEntry, configurationOf, drain,
  makeCommittedLeader, makeLeader, newCore, nodeIds, ofType, tickTimes
} from './helpers.js'

describe('configuration changes on the leader', () => {
  test('a new configuration takes effect when appended, before it commits, and the leader starts tracking the learner', () => {
    const core = makeCommittedLeader()
    const result = core.proposeConfChange({ type: 'addLearner', nodeId: 'n4', address: 'addr-n4' })
    assert.deepEqual(result, { ok: true, index: 3, term: 2 })
    assert.deepEqual(core.currentConfiguration.learners, ['n4'])
    assert.equal(core.currentConfiguration.addresses.n4, 'addr-n4')
    assert.equal(core.commitIndex, 2, 'not committed yet')
    assert.ok(core.status().progress.has('n4'))
    const out = drain(core)
    assert.equal(out.entries.at(-1)?.type, 'config')
  })

  test('a learner receives the log but does not count toward commitment; once promoted it does', () => {
    const core = makeCommittedLeader({ voters: nodeIds(3), learners: ['n4'] })
    core.propose(bytes('x'))
    const sent = drain(core)
    assert.equal(ofType(sent.messages, 'append', 'n4').length, 1, 'the learner gets the entry')
    acceptAppends(core, sent.messages, ['n4'])
    assert.equal(core.commitIndex, 2, 'leader + learner is not a quorum of voters')
    acceptAppends(core, sent.messages, ['n2'])
    assert.equal(core.commitIndex, 3)

    const promote = core.proposeConfChange({ type: 'promote', nodeId: 'n4' })
    assert.ok(promote.ok)
    assert.deepEqual(core.currentConfiguration.voters, ['n1', 'n2', 'n3', 'n4'])
    const promoted = drain(core)
    acceptAppends(core, promoted.messages, ['n2'])
    assert.equal(core.commitIndex, 3, 'now 3 of 4 voters are needed')
    acceptAppends(core, promoted.messages, ['n4'])
    assert.equal(core.commitIndex, 4)
  })

  test('only one membership change may be uncommitted at a time', () => {
    const core = makeCommittedLeader()
    assert.ok(core.proposeConfChange({ type: 'addLearner', nodeId: 'n4', address: 'addr-n4' }).ok)
    const second = core.proposeConfChange({ type: 'addLearner', nodeId: 'n5', address: 'addr-n5' })
    assert.equal(second.ok, false)
    assert.equal(!second.ok && second.reason, 'changeInProgress')
    acceptAppends(core, drain(core).messages, ['n2'])
    drain(core)
    assert.ok(core.proposeConfChange({ type: 'addLearner', nodeId: 'n5', address: 'addr-n5' }).ok)
  })

  test('no membership change may start before the new leader commits its noop', () => {
    const core = newCore()
    const elected = makeLeader(core)
    const early = core.proposeConfChange({ type: 'addLearner', nodeId: 'n4', address: 'addr-n4' })
    assert.equal(!early.ok && early.reason, 'changeInProgress')
    acceptAppends(core, elected.messages, ['n2'])
    drain(core)
    assert.ok(core.proposeConfChange({ type: 'addLearner', nodeId: 'n4', address: 'addr-n4' }).ok)
  })

  const invalid: Array<{ name: string, voters: string[], learners: string[], change: ConfChange }> = [
    { name: 'adding an existing voter as a learner', voters: nodeIds(3), learners: [], change: { type: 'addLearner', nodeId: 'n2', address: 'x' } },
    { name: 'adding a learner without an address', voters: nodeIds(3), learners: [], change: { type: 'addLearner', nodeId: 'n4', address: '' } },
    { name: 'promoting a voter', voters: nodeIds(3), learners: [], change: { type: 'promote', nodeId: 'n2' } },
    { name: 'promoting a non-member', voters: nodeIds(3), learners: [], change: { type: 'promote', nodeId: 'n9' } },
    { name: 'removing a non-member', voters: nodeIds(3), learners: [], change: { type: 'remove', nodeId: 'n9' } },
    { name: 'removing the last voter', voters: ['n1'], learners: ['n2'], change: { type: 'remove', nodeId: 'n1' } }
  ]
  for (const { name, voters, learners, change } of invalid) {
    test(`${name} is refused as invalid and appends nothing`, () => {
      const core = voters.length === 1 ? newCore({ voters, learners }) : makeCommittedLeader({ voters, learners })
      if (voters.length === 1) {
        makeLeader(core)
        assert.equal(core.commitIndex, 2)
      }
      const lastIndex = core.lastIndex
      const result = core.proposeConfChange(change)
      assert.equal(!result.ok && result.reason, 'invalid')
      assert.equal(core.lastIndex, lastIndex)
    })
  }

  test('proposeConfChange on a follower returns notLeader', () => {
    const core = newCore()
    assert.deepEqual(core.proposeConfChange({ type: 'remove', nodeId: 'n3' }), { ok: false, reason: 'notLeader', leaderHint: null })
  })

  test('removing a voter shrinks the quorum as soon as the removal is appended', () => {
    const core = makeCommittedLeader({ voters: nodeIds(4) })
    core.propose(bytes('x'))
    acceptAppends(core, drain(core).messages, ['n2'])
    assert.equal(core.commitIndex, 2, 'leader + n2 is not a quorum of four')
    assert.ok(core.proposeConfChange({ type: 'remove', nodeId: 'n4' }).ok)
    assert.ok(!core.status().progress.has('n4'), 'the leader stops tracking the removed node')
    drain(core)
    assert.equal(core.commitIndex, 3, 'leader + n2 is a quorum of the three remaining voters')
  })

  test('a leader that removes itself keeps leading without counting itself, then steps down once the removal commits', () => {
    const core = makeCommittedLeader()
    const removal = core.proposeConfChange({ type: 'remove', nodeId: 'n1' })
    assert.ok(removal.ok)
    assert.equal(core.role, 'leader')
    assert.deepEqual(core.currentConfiguration.voters, ['n2', 'n3'])
    assert.ok(core.propose(bytes('still serving')).ok)
    const sent = drain(core)
    acceptAppends(core, sent.messages, ['n2'])
    assert.equal(core.commitIndex, 2, 'n2 alone is not a quorum of {n2, n3}; the leader does not count')
    assert.equal(core.role, 'leader')
    acceptAppends(core, sent.messages, ['n3'])
    assert.ok(core.commitIndex >= removal.index)
    assert.equal(core.role, 'follower')
    const out = drain(core)
    assert.equal(out.softStates.at(-1)?.role, 'follower')
    tickTimes(core, 5 * ELECTION_TICKS)
    assert.equal(core.role, 'follower', 'a removed node never campaigns')
    assert.deepEqual(drain(core).messages, [])
  })
})

describe('configuration changes on followers', () => {
  test('a follower adopts a configuration entry when it appends it and reverts when the entry is truncated', () => {
    const core = newCore({ id: 'n2', term: 2 })
    const withLearner = configurationOf(nodeIds(3), ['n4'])
    core.step(append({ from: 'n1', to: 'n2', term: 2, prevLogIndex: 1, prevLogTerm: 1, entries: [configEntry(withLearner, 2, 2)], leaderCommit: 1 }))
    assert.deepEqual(core.currentConfiguration.learners, ['n4'])
    assert.equal(core.commitIndex, 1)
    drain(core)
    core.step(append({ from: 'n3', to: 'n2', term: 3, prevLogIndex: 1, prevLogTerm: 1, entries: [commandEntry(2, 3)] }))
    assert.deepEqual(core.currentConfiguration.learners, [])
    assert.deepEqual(core.currentConfiguration.voters, nodeIds(3))
  })

  test('a learner added to a running cluster catches up, is promoted, and the cluster survives removing an old voter', () => {
    const network = new Network({ voters: nodeIds(3) })
    const leader = network.elect('n1')
    network.propose('n1', 'before')
    network.addNode('n4', new Disk())
    assert.ok(leader.proposeConfChange({ type: 'addLearner', nodeId: 'n4', address: 'addr-n4' }).ok)
    network.stabilize()
    network.tick(2)
    const n4 = network.core('n4')
    assert.equal(n4.lastIndex, leader.lastIndex)
    assert.deepEqual(n4.currentConfiguration.learners, ['n4'])
    assert.deepEqual(network.appliedCommands('n4'), ['before'])

    assert.ok(leader.proposeConfChange({ type: 'promote', nodeId: 'n4' }).ok)
    network.tick(2)
    assert.ok(leader.proposeConfChange({ type: 'remove', nodeId: 'n3' }).ok)
    const term = leader.currentTerm
    network.tick(2)
    // The leader stops replicating to n3 the moment the removal is appended, so n3 may never
    // learn of it; it keeps trying to campaign, but pre-vote and the lease keep it harmless.
    assert.ok(!leader.status().progress.has('n3'))
    network.propose('n1', 'after')
    network.tick(5 * ELECTION_TICKS)
    assert.equal(leader.role, 'leader')
    assert.equal(leader.currentTerm, term, 'the removed node did not disrupt the cluster')
    for (const id of ['n1', 'n2', 'n4']) assert.deepEqual(network.appliedCommands(id), ['before', 'after'])
    assert.deepEqual(network.appliedCommands('n3'), ['before'])
  })
})
