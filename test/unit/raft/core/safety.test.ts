/**
 * Safety (§5.4): a leader commits entries of earlier terms only by committing one of its own
 * (§5.4.2, Figure 8); a node missing committed entries cannot win (§5.4.1, leader completeness);
 * and under random partitions there is at most one leader per term, logs match and every node
 * applies the same entry at each index (the Network checks the last two on every round).
 */
import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { SeededPrng } from '../../../../src/util/prng.js'
import type { Message, NodeId } from '../../../../src/raft/core/types.js'
import {
  ELECTION_TICKS, Network, PLAIN, acceptAppends, drain, logTerms, makeLeader, newCore, nodeIds, tickUntil
} from './helpers.js'

describe('§5.4.2 committing entries from previous terms', () => {
  test('a leader does not commit an earlier-term entry by counting replicas, only together with one of its own', () => {
    // n1 holds [1, 2, 2] from term 2 (index 3 never committed) and wins term 3.
    const core = newCore({ terms: [1, 2, 2], term: 2, tunables: PLAIN })
    makeLeader(core)
    assert.equal(core.currentTerm, 3)
    assert.deepEqual(logTerms(core), [1, 2, 2, 3])
    core.step({ type: 'appendResponse', from: 'n2', to: 'n1', term: 3, success: true, matchIndex: 3, rejectHintIndex: 0, rejectHintTerm: 0 })
    assert.equal(core.commitIndex, 1, 'index 3 (term 2) is on a majority but must not commit by counting')
    core.step({ type: 'appendResponse', from: 'n2', to: 'n1', term: 3, success: true, matchIndex: 4, rejectHintIndex: 0, rejectHintTerm: 0 })
    assert.equal(core.commitIndex, 4)
    assert.deepEqual(drain(core).committed.map(e => [e.index, e.term]), [[2, 2], [3, 2], [4, 3]])
  })

  /**
   * Figure 8 with five nodes and one entry per append. Returns the network in state (c): n1 leads
   * term 4 and has put index 3 (term 2) on every follower but n5, while its own noop (index 4,
   * term 4) is kept from them; n5 holds index 3 from term 3.
   */
  function figure8 (): Network {
    const network = new Network({ voters: nodeIds(5), tunables: { ...PLAIN, appendEntriesMax: 1 } })
    // (a) n1 leads term 2 and replicates index 3 to n2 only.
    network.elect('n1')
    for (const id of ['n3', 'n4', 'n5']) network.cutLink('n1', id)
    network.propose('n1', 'from term 2')
    assert.equal(network.core('n1').commitIndex, 2)
    // (b) n1 crashes; n5 wins term 3 with n3 and n4 and appends index 3, which reaches nobody.
    network.isolate('n1')
    network.drop = (message: Message) => message.from === 'n5' && message.type === 'append'
    network.campaign('n5')
    assert.equal(network.core('n5').role, 'leader')
    assert.deepEqual(logTerms(network.core('n5')), [1, 2, 3])
    // (c) n5 crashes; n1 comes back, wins term 4, and spreads index 3 (term 2) but not its noop.
    network.isolate('n5')
    network.restart('n1')
    network.connect('n1', ['n2', 'n3', 'n4'])
    network.drop = (message: Message) => message.type === 'append' && message.entries.some(e => e.index >= 4) && network.core(message.to).lastIndex >= 3
    const n1 = network.core('n1')
    tickUntil(n1, () => n1.currentTerm === 4 && n1.role === 'candidate', 4 * ELECTION_TICKS)
    network.stabilize()
    assert.equal(n1.role, 'leader')
    network.tick(3, ['n1'])
    for (const id of ['n2', 'n3', 'n4']) assert.deepEqual(logTerms(network.core(id)), [1, 2, 2], `${id} holds index 3 of term 2`)
    return network
  }

  test('Figure 8 (c): index 3 of term 2 on a majority stays uncommitted while the term-4 noop is not', () => {
    const network = figure8()
    assert.equal(network.core('n1').commitIndex, 2)
    for (const id of nodeIds(5)) assert.ok(network.core(id).commitIndex <= 2, `${id} committed past 2`)
  })

  test('Figure 8 (d): so n5 may still win and overwrite it, and no node ever applied the overwritten entry', () => {
    const network = figure8()
    network.isolate('n1')
    network.connect('n5', ['n2', 'n3', 'n4'])
    network.drop = null
    const n5 = network.core('n5')
    for (let round = 0; round < 6 * ELECTION_TICKS && !(n5.role === 'leader' && n5.currentTerm >= 5); round += 1) network.tick(1, ['n5'])
    assert.equal(n5.role, 'leader')
    network.tick(3, ['n5'])
    for (const id of ['n2', 'n3', 'n4']) {
      assert.equal(network.core(id).termAt(3), 3, `${id} index 3 overwritten with n5's term-3 entry`)
      assert.deepEqual(network.appliedCommands(id), [], 'the term-2 command was never applied')
    }
  })

  test('Figure 8 (e): once the term-4 noop reaches a majority, it commits index 3 with it', () => {
    const network = figure8()
    network.drop = null
    network.tick(3, ['n1'])
    const n1 = network.core('n1')
    assert.equal(n1.commitIndex, 4)
    for (const id of ['n1', 'n2', 'n3', 'n4']) assert.deepEqual(network.appliedCommands(id), ['from term 2'])
    // n5 can no longer win: its log (last term 3) is behind a majority's (last term 4).
    network.isolate('n1')
    network.connect('n5', ['n2', 'n3', 'n4'])
    network.tick(6 * ELECTION_TICKS, ['n5'])
    assert.notEqual(network.core('n5').role, 'leader')
  })
})

describe('§5.4.1 leader completeness', () => {
  test('a node that misses a committed entry cannot be elected; one that holds it is, and the lagging node catches up', () => {
    const network = new Network({ voters: nodeIds(3), tunables: PLAIN })
    network.elect('n1')
    network.isolate('n3')
    network.propose('n1', 'committed')
    assert.equal(network.core('n1').commitIndex, 3)
    network.isolate('n1')
    network.connect('n3', ['n2'])
    const n3 = network.core('n3')
    for (let round = 0; round < 6 * ELECTION_TICKS; round += 1) {
      network.tick(1, ['n3'])
      assert.notEqual(n3.role, 'leader', 'n3 lacks committed index 3 and must not win')
    }
    assert.ok(n3.currentTerm > 2, 'n3 did campaign')
    let leader: NodeId | undefined
    for (let round = 0; round < 6 * ELECTION_TICKS && leader === undefined; round += 1) {
      network.tick(1, ['n2', 'n3'])
      leader = network.leaders().find(id => id !== 'n1')
    }
    assert.equal(leader, 'n2')
    network.tick(2, ['n2', 'n3'])
    assert.deepEqual(network.appliedCommands('n3'), ['committed'])
  })
})

describe('safety under random partitions', () => {
  for (const seed of [3, 5, 17, 26]) {
    test(`seed ${seed}: one leader per term, matching logs, identical applied commands`, () => {
      const prng = new SeededPrng(seed)
      const ids = nodeIds(5)
      const network = new Network({ voters: ids, seed })
      let proposals = 0
      for (let step = 0; step < 400; step += 1) {
        const choice = prng.nextInt(40)
        if (choice < 26) {
          network.tick(2)
        } else if (choice < 35) {
          const leader = network.leaders()[0]
          if (leader !== undefined && network.core(leader).propose(new TextEncoder().encode(`v${proposals}`)).ok) proposals += 1
          network.stabilize()
        } else if (choice < 38) {
          // Cut off the leader half of the time, otherwise anyone.
          const leader = network.leaders()[0]
          network.heal()
          network.isolate(leader !== undefined && prng.nextInt(2) === 0 ? leader : ids[prng.nextInt(ids.length)]!)
        } else {
          network.heal()
        }
      }
      // Liveness: heal, let a leader emerge, commit one more entry and let everyone apply it.
      network.heal()
      let leader: NodeId | undefined
      for (let round = 0; round < 10 * ELECTION_TICKS && leader === undefined; round += 1) {
        network.tick(1)
        leader = network.leaders()[0]
      }
      assert.ok(leader !== undefined, 'a leader emerges after healing')
      network.propose(leader, 'final')
      network.tick(3 * ELECTION_TICKS)
      const reference = network.appliedCommands(leader)
      assert.ok(reference.includes('final'))
      for (const id of ids) assert.deepEqual(network.appliedCommands(id), reference, `${id} applied a different sequence`)
      // Log matching: an entry with the same index and term implies identical logs up to it.
      for (const a of ids) {
        for (const b of ids) {
          const coreA = network.core(a)
          const coreB = network.core(b)
          const last = Math.min(coreA.lastIndex, coreB.lastIndex)
          for (let index = last; index >= 1; index -= 1) {
            if (coreA.termAt(index) !== coreB.termAt(index)) continue
            assert.deepEqual(logTerms(coreA).slice(0, index), logTerms(coreB).slice(0, index), `${a} and ${b} agree at ${index} but not before`)
            break
          }
        }
      }
      assert.ok(proposals > 10, `the run should exercise replication (${proposals} proposals)`)
      assert.ok(network.leaderHistory().size >= 3, `the run should exercise elections (${network.leaderHistory().size} terms led)`)
    })
  }
})
