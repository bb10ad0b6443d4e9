/**
 * Log replication (§5.3): the leader appends and replicates, commits once a quorum holds an entry,
 * followers run the consistency check, drop conflicting suffixes and commit what the leader
 * committed. Also the thesis's replication engineering: fast back-off (§5.3 "optimization"),
 * flow control (probe/replicate, at most inflightMessagesMax appends in flight) and limits.
 */
import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import type { Entry, Message, NodeId } from '../../../../src/raft/core/types.js'
import {
  Disk, ELECTION_TICKS, Network, PLAIN, acceptAppend, acceptAppends, append, bytes, commandEntry, configurationOf, drain,
  logFromTerms, logTerms, makeCommittedLeader, makeLeader, newCore, nodeIds, ofType, only, readyOnce
} from './helpers.js'

function proposeAll (core: ReturnType<typeof newCore>, count: number, prefix = 'x'): number[] {
  const indexes: number[] = []
  for (let i = 0; i < count; i += 1) {
    const result = core.propose(bytes(`${prefix}${i}`))
    assert.ok(result.ok, JSON.stringify(result))
    indexes.push(result.index)
  }
  return indexes
}

describe('§5.3 the leader replicates and commits', () => {
  test('a proposal is appended to the leader log and sent to every follower after the previous entry', () => {
    const core = makeCommittedLeader()
    const result = core.propose(bytes('x'))
    assert.deepEqual(result, { ok: true, index: 3, term: 2 })
    const out = drain(core)
    assert.deepEqual(out.entries.map(e => [e.index, e.term, e.type]), [[3, 2, 'command']])
    const appends = ofType(out.messages, 'append')
    assert.deepEqual(appends.map(a => a.to).sort(), ['n2', 'n3'])
    for (const a of appends) {
      assert.deepEqual({ prevLogIndex: a.prevLogIndex, prevLogTerm: a.prevLogTerm, leaderCommit: a.leaderCommit, entries: a.entries.map(e => e.index) },
        { prevLogIndex: 2, prevLogTerm: 2, leaderCommit: 2, entries: [3] })
    }
    assert.equal(core.commitIndex, 2)
  })

  test('the leader commits once a majority stores the entry, applies it, and sends followers the new commit index', () => {
    const core = makeCommittedLeader()
    core.propose(bytes('x'))
    const sent = drain(core)
    acceptAppends(core, sent.messages, ['n2'])
    assert.equal(core.commitIndex, 3)
    const out = drain(core)
    assert.deepEqual(out.committed.map(e => e.index), [3])
    assert.equal(out.hardStates.at(-1)?.commit, 3)
    for (const to of ['n2', 'n3']) {
      assert.ok(ofType(out.messages, 'append', to).some(a => a.leaderCommit === 3), `${to} hears of commit 3`)
    }
  })

  const quorums: Array<{ size: number, acks: NodeId[], committed: boolean }> = [
    { size: 1, acks: [], committed: true },
    { size: 3, acks: [], committed: false },
    { size: 3, acks: ['n2'], committed: true },
    { size: 5, acks: ['n2'], committed: false },
    { size: 5, acks: ['n2', 'n3'], committed: true },
    { size: 5, acks: ['n2', 'n3', 'n4', 'n5'], committed: true }
  ]
  for (const { size, acks, committed } of quorums) {
    test(`in a ${size}-node cluster an entry acked by [${acks.join(', ')}] and the leader is ${committed ? '' : 'not '}committed`, () => {
      const core = makeCommittedLeader({ voters: nodeIds(size) })
      const { index } = core.propose(bytes('x')) as { index: number }
      const out = drain(core)
      acceptAppends(core, out.messages, acks)
      drain(core)
      assert.equal(core.commitIndex >= index, committed)
    })
  }

  test('committing an entry commits every entry before it', () => {
    const core = makeCommittedLeader()
    proposeAll(core, 3)
    drain(core)
    core.step({ type: 'appendResponse', from: 'n2', to: 'n1', term: 2, success: true, matchIndex: 5, rejectHintIndex: 0, rejectHintTerm: 0 })
    const out = drain(core)
    assert.equal(core.commitIndex, 5)
    assert.deepEqual(out.committed.map(e => e.index), [3, 4, 5])
  })

  test('heartbeats carry min(leader commit, follower match) so a follower never commits what it may not hold', () => {
    const core = newCore()
    const elected = makeLeader(core)
    acceptAppends(core, elected.messages, ['n2'])
    drain(core)
    assert.equal(core.commitIndex, 2)
    core.tick()
    const heartbeats = ofType(core.takeUrgentMessages(), 'heartbeat')
    assert.deepEqual(heartbeats.map(h => [h.to, h.commit]).sort(), [['n2', 2], ['n3', 0]])
  })

  test('a proposal to a follower fails with notLeader and names the leader', () => {
    const network = new Network({ voters: nodeIds(3) })
    network.elect('n1')
    assert.deepEqual(network.core('n2').propose(bytes('x')), { ok: false, reason: 'notLeader', leaderHint: 'n1' })
  })

  test('proposals beyond proposalsPendingMax uncommitted entries are refused as overloaded', () => {
    const core = makeCommittedLeader({ tunables: { proposalsPendingMax: 2 } })
    proposeAll(core, 2)
    assert.deepEqual(core.propose(bytes('too many')), { ok: false, reason: 'overloaded' })
    acceptAppends(core, drain(core).messages, ['n2'])
    drain(core)
    assert.ok(core.propose(bytes('room again')).ok)
  })
})

describe('§5.3 followers', () => {
  test('a follower appends new entries, commits min(leaderCommit, last new index) and applies in order', () => {
    const core = newCore({ id: 'n2', terms: [1, 2], term: 2 })
    core.step(append({ from: 'n1', to: 'n2', term: 2, prevLogIndex: 2, prevLogTerm: 2, entries: [commandEntry(3, 2), commandEntry(4, 2)], leaderCommit: 3 }))
    const out = drain(core)
    assert.deepEqual(out.entries.map(e => e.index), [3, 4])
    assert.deepEqual(out.committed.map(e => e.index), [2, 3])
    assert.equal(out.hardStates.at(-1)?.commit, 3)
    const answer = only(ofType(out.messages, 'appendResponse'), 'append response')
    assert.deepEqual({ success: answer.success, matchIndex: answer.matchIndex }, { success: true, matchIndex: 4 })

    core.step(append({ from: 'n1', to: 'n2', term: 2, prevLogIndex: 4, prevLogTerm: 2, leaderCommit: 10 }))
    assert.equal(core.commitIndex, 4, 'commit never passes the last entry the leader sent')
    assert.deepEqual(drain(core).committed.map(e => e.index), [4])
  })

  // Follower log terms [1, 1, 2, 2, 3] (indexes 1..5), term 3, commit 1.
  const checks: Array<{ prevLogIndex: number, prevLogTerm: number, success: boolean, hint?: [number, number] }> = [
    { prevLogIndex: 5, prevLogTerm: 3, success: true },
    { prevLogIndex: 6, prevLogTerm: 3, success: false, hint: [5, 3] }, // beyond our log: retry at our last entry
    { prevLogIndex: 4, prevLogTerm: 3, success: false, hint: [4, 2] }, // term mismatch: our entry there
    { prevLogIndex: 3, prevLogTerm: 1, success: false, hint: [2, 1] }, // skip our entries newer than the leader's term
    { prevLogIndex: 9, prevLogTerm: 1, success: false, hint: [2, 1] }
  ]
  for (const { prevLogIndex, prevLogTerm, success, hint } of checks) {
    test(`a follower with log [1, 1, 2, 2, 3] ${success ? 'accepts' : 'rejects'} an append after (index ${prevLogIndex}, term ${prevLogTerm})`, () => {
      const core = newCore({ id: 'n2', terms: [1, 1, 2, 2, 3], term: 3 })
      core.step(append({ from: 'n1', to: 'n2', term: 3, prevLogIndex, prevLogTerm }))
      const answer = only(ofType(drain(core).messages, 'appendResponse'), 'append response')
      assert.equal(answer.success, success)
      if (hint !== undefined) {
        assert.equal(answer.matchIndex, prevLogIndex, 'a rejection names the prevLogIndex it rejects')
        assert.deepEqual([answer.rejectHintIndex, answer.rejectHintTerm], hint)
      }
      assert.equal(core.lastIndex, 5)
    })
  }

  // Follower log terms [1, 2, 3], term 3, commit 1; appends come from a leader of term 4.
  const appendCases: Array<{ name: string, prevLogIndex: number, prevLogTerm: number, entries: Entry[], terms: number[] }> = [
    { name: 'new entries go after the match', prevLogIndex: 3, prevLogTerm: 3, entries: [commandEntry(4, 4)], terms: [1, 2, 3, 4] },
    { name: 'a conflicting suffix is replaced', prevLogIndex: 1, prevLogTerm: 1, entries: [commandEntry(2, 3), commandEntry(3, 4)], terms: [1, 3, 4] },
    { name: 'a conflict in the middle drops everything after it', prevLogIndex: 2, prevLogTerm: 2, entries: [commandEntry(3, 4)], terms: [1, 2, 4] },
    { name: 'matching entries do not truncate a longer log', prevLogIndex: 1, prevLogTerm: 1, entries: [commandEntry(2, 2)], terms: [1, 2, 3] },
    { name: 'an empty append changes nothing', prevLogIndex: 3, prevLogTerm: 3, entries: [], terms: [1, 2, 3] }
  ]
  for (const { name, prevLogIndex, prevLogTerm, entries, terms } of appendCases) {
    test(`follower append: ${name}`, () => {
      const core = newCore({ id: 'n2', terms: [1, 2, 3], term: 3 })
      core.step(append({ from: 'n1', to: 'n2', term: 4, prevLogIndex, prevLogTerm, entries }))
      const out = drain(core)
      assert.deepEqual(logTerms(core), terms)
      const answer = only(ofType(out.messages, 'appendResponse'), 'append response')
      assert.deepEqual({ success: answer.success, matchIndex: answer.matchIndex }, { success: true, matchIndex: prevLogIndex + entries.length })
    })
  }

  test('an append overlapping committed entries never rewrites them; the answer reports the commit index', () => {
    const core = newCore({ id: 'n2', terms: [1, 2, 2], term: 3, commit: 3 })
    core.step(append({ from: 'n1', to: 'n2', term: 3, prevLogIndex: 1, prevLogTerm: 1, entries: [commandEntry(2, 3), commandEntry(3, 3), commandEntry(4, 3)], leaderCommit: 4 }))
    const out = drain(core)
    assert.deepEqual(logTerms(core), [1, 2, 2])
    assert.equal(core.commitIndex, 3)
    const answer = only(ofType(out.messages, 'appendResponse'), 'append response')
    assert.deepEqual({ success: answer.success, matchIndex: answer.matchIndex }, { success: true, matchIndex: 3 })
  })

  test('a heartbeat commit beyond the follower log is ignored', () => {
    const core = newCore({ id: 'n2', terms: [1, 2], term: 2 })
    core.step({ type: 'heartbeat', from: 'n1', to: 'n2', term: 2, commit: 5, readContext: 0 })
    assert.equal(core.commitIndex, 1)
    core.step({ type: 'heartbeat', from: 'n1', to: 'n2', term: 2, commit: 2, readContext: 0 })
    assert.equal(core.commitIndex, 2)
  })
})

describe('§5.3 the leader brings every follower log into agreement (Figure 7)', () => {
  // The leader (n1) has [1, 1, 1, 4, 4, 5, 5, 6, 6, 6] in term 7 and will win term 8 with n3's vote
  // (n3 holds the same log). n2 holds one of the follower logs (a)-(f) of Figure 7.
  const leaderTerms = [1, 1, 1, 4, 4, 5, 5, 6, 6, 6]
  const followers: Record<string, number[]> = {
    a: [1, 1, 1, 4, 4, 5, 5, 6, 6],
    b: [1, 1, 1, 4],
    c: [1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 6],
    d: [1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 7, 7],
    e: [1, 1, 1, 4, 4, 4, 4],
    f: [1, 1, 1, 2, 2, 2, 3, 3, 3, 3, 3]
  }
  for (const [name, followerTerms] of Object.entries(followers)) {
    test(`follower log (${name}) ends up identical to the leader's`, () => {
      const configuration = configurationOf(nodeIds(3))
      const network = new Network({ voters: nodeIds(3), tunables: PLAIN })
      const diskWith = (terms: number[]): Disk => {
        const disk = new Disk()
        disk.entries = logFromTerms(configuration, terms)
        disk.hardState = { term: 7, votedFor: null, commit: 1 }
        return disk
      }
      network.addNode('n1', diskWith(leaderTerms))
      network.addNode('n2', diskWith(followerTerms))
      network.addNode('n3', diskWith(leaderTerms))
      const leader = network.elect('n1')
      assert.equal(leader.currentTerm, 8)
      network.tick(2)
      assert.deepEqual(logTerms(network.core('n2')), [...leaderTerms, 8])
      assert.equal(network.core('n2').commitIndex, leader.lastIndex)
    })
  }
})

describe('fast back-off (§5.3): the leader finds the match point in few round trips', () => {
  const configuration = configurationOf(nodeIds(3))
  const range = (count: number, term: number): number[] => Array.from({ length: count }, () => term)
  const cases: Record<string, { leader: number[], follower: number[] }> = {
    'the follower holds 50 entries of a term the leader never saw': { leader: [1, ...range(50, 3)], follower: [1, ...range(50, 2)] },
    'the follower misses 40 entries': { leader: [1, ...range(50, 3)], follower: [1, ...range(10, 3)] },
    'the follower has a long stale tail beyond the leader': { leader: [1, ...range(5, 3)], follower: [1, ...range(60, 2)] }
  }
  for (const [name, logs] of Object.entries(cases)) {
    test(`${name}: at most two rejections`, () => {
      const network = new Network({ voters: nodeIds(3), tunables: PLAIN })
      const diskWith = (terms: number[]): Disk => {
        const disk = new Disk()
        disk.entries = logFromTerms(configuration, terms)
        disk.hardState = { term: 3, votedFor: null, commit: 1 }
        return disk
      }
      network.addNode('n1', diskWith(logs.leader))
      network.addNode('n2', diskWith(logs.follower))
      network.addNode('n3', diskWith(logs.leader))
      const leader = network.elect('n1')
      network.tick(2)
      const rejections = network.delivered.filter(m => m.type === 'appendResponse' && m.from === 'n2' && !m.success)
      assert.ok(rejections.length <= 2, `${rejections.length} rejections`)
      assert.deepEqual(logTerms(network.core('n2')), logTerms(leader))
    })
  }
})

describe('flow control (pipelining, thesis §10.2.2) and limits', () => {
  test('a follower in probe state gets one append at a time; its answer (or a heartbeat answer) releases the next', () => {
    const core = newCore()
    const elected = makeLeader(core) // n2 and n3 are in probe; one probe each is outstanding
    assert.equal(ofType(elected.messages, 'append', 'n2').length, 1)
    proposeAll(core, 3)
    assert.deepEqual(ofType(drain(core).messages, 'append', 'n2'), [], 'no second append while the probe is unanswered')
    core.step({ type: 'heartbeatResponse', from: 'n2', to: 'n1', term: 2, readContext: 0 })
    const retry = only(ofType(drain(core).messages, 'append', 'n2'), 'append to n2')
    assert.deepEqual({ prevLogIndex: retry.prevLogIndex, entries: retry.entries.map(e => e.index) }, { prevLogIndex: 1, entries: [2, 3, 4, 5] })
    assert.equal(core.status().progress.get('n2')?.state, 'probe')
    core.step(acceptAppend(retry))
    assert.equal(core.status().progress.get('n2')?.state, 'replicate')
  })

  test('in replicate state at most inflightMessagesMax appends are outstanding; each ack opens a slot', () => {
    const core = makeCommittedLeader({ tunables: { inflightMessagesMax: 3, appendEntriesMax: 1 } })
    proposeAll(core, 6)
    const first = ofType(drain(core).messages, 'append', 'n2')
    assert.deepEqual(first.map(a => a.entries.map(e => e.index)), [[3], [4], [5]])
    core.step(acceptAppend(first[0]!))
    const next = ofType(drain(core).messages, 'append', 'n2')
    assert.deepEqual(next.filter(a => a.entries.length > 0).map(a => a.entries.map(e => e.index)), [[6]])
  })

  test('a heartbeat answer frees one slot of a full window, so lost appends cannot stall replication forever', () => {
    const core = makeCommittedLeader({ tunables: { inflightMessagesMax: 2, appendEntriesMax: 1 } })
    proposeAll(core, 4)
    assert.deepEqual(ofType(drain(core).messages, 'append', 'n2').map(a => a.entries[0]?.index), [3, 4])
    core.step({ type: 'heartbeatResponse', from: 'n2', to: 'n1', term: 2, readContext: 0 })
    assert.deepEqual(ofType(drain(core).messages, 'append', 'n2').map(a => a.entries[0]?.index), [5])
  })

  test('one append carries at most appendEntriesMax entries', () => {
    const core = makeCommittedLeader({ tunables: { appendEntriesMax: 2 } })
    proposeAll(core, 5)
    const appends = ofType(drain(core).messages, 'append', 'n2')
    assert.deepEqual(appends.map(a => a.entries.map(e => e.index)), [[3, 4], [5, 6], [7]])
  })

  test('one append carries at most appendBytesMax bytes, but always at least one entry', () => {
    const core = makeCommittedLeader({ tunables: { appendBytesMax: 8 } })
    for (const data of ['aaaa', 'bbbb', 'cccc', 'dddddddddddd', 'e']) core.propose(bytes(data))
    const appends = ofType(drain(core).messages, 'append', 'n2')
    assert.deepEqual(appends.map(a => a.entries.map(e => e.index)), [[3, 4], [5], [6], [7]])
  })

  test('committed entries reach the shell at most applyEntriesMax per Ready', () => {
    const core = newCore({ terms: [1, 2, 2, 2, 2, 2], term: 2, commit: 6, keepRestoreReady: true, tunables: { applyEntriesMax: 2 } })
    const batches: number[][] = []
    while (core.hasReady()) batches.push(readyOnce(core).committedEntries.map(e => e.index))
    assert.deepEqual(batches, [[1, 2], [3, 4], [5, 6]])
  })
})

describe('recovering lost appends (§5.3: the leader retries until followers store every entry)', () => {
  // Regression tests. In replicate state the leader moves next past what it sent; if those appends
  // are lost, the heartbeat answer of the lagging follower must trigger a send even though there
  // is nothing new (an empty append at next - 1, which the follower rejects, moving it to probe).
  // Before commit 9022b83 the leader sent nothing there, and the follower stayed behind until a
  // later proposal happened to provoke a rejection. etcd does the same empty append.
  test('an append lost on the way to both followers is retransmitted once heartbeats show they lag', () => {
    const network = new Network({ voters: nodeIds(3) })
    const leader = network.elect('n1')
    network.tick(2)
    network.drop = (message: Message) => message.type === 'append' && message.entries.some(e => e.index === 3)
    const index = network.propose('n1', 'x')
    network.drop = null
    network.tick(ELECTION_TICKS)
    assert.equal(leader.role, 'leader')
    assert.ok(leader.commitIndex >= index, `entry ${index} never committed (commit ${leader.commitIndex}); no retransmission after heartbeats`)
    assert.deepEqual(network.appliedCommands('n2'), ['x'])
  })

  test('a follower cut off while the cluster went idle catches up after the partition heals, with no new proposals', () => {
    const network = new Network({ voters: nodeIds(3) })
    const leader = network.elect('n1')
    network.tick(2)
    network.isolate('n3')
    for (const value of ['a', 'b', 'c']) network.propose('n1', value)
    assert.equal(leader.commitIndex, 5)
    network.heal()
    network.tick(ELECTION_TICKS)
    assert.equal(network.core('n3').lastIndex, 5, 'n3 never received the entries it missed')
    assert.deepEqual(network.appliedCommands('n3'), ['a', 'b', 'c'])
  })
})
