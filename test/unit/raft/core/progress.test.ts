/**
 * The leader's per-follower flow control (Progress: probe, replicate, snapshot) and the quorum
 * and single-server change rules in configuration.ts (thesis §4.1).
 */
import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { AssertionError } from '../../../../src/util/assert.js'
import { Progress } from '../../../../src/raft/core/progress.js'
import {
  applyConfChange, decodeConfiguration, encodeConfiguration, quorumMatchIndex, quorumSize
} from '../../../../src/raft/core/configuration.js'
import type { Configuration, Entry } from '../../../../src/raft/core/types.js'
import { commandEntry, configurationOf, nodeIds } from './helpers.js'

function entries (from: number, to: number, bytesEach = 1): Entry[] {
  const result: Entry[] = []
  for (let index = from; index <= to; index += 1) result.push(commandEntry(index, 1, 'x'.repeat(bytesEach)))
  return result
}

describe('Progress: per-follower flow control (thesis §10.2.2)', () => {
  test('probe: one append until answered; a successful answer moves to replicate at match + 1', () => {
    const pr = new Progress(5, 4, 1000)
    assert.equal(pr.state, 'probe')
    assert.equal(pr.canSend(), true)
    pr.sentAppend(entries(5, 7))
    assert.equal(pr.canSend(), false)
    assert.equal(pr.next, 5, 'a probe does not advance next')
    assert.equal(pr.maybeUpdate(7), true)
    assert.equal(pr.canSend(), true)
    pr.becomeReplicateIfProbing()
    assert.deepEqual([pr.state, pr.match, pr.next], ['replicate', 7, 8])
  })

  test('replicate: optimistic next, at most inflightMessagesMax appends in flight, acks free them in order', () => {
    const pr = new Progress(1, 3, 1000)
    pr.maybeUpdate(0)
    pr.becomeReplicateIfProbing()
    pr.sentAppend(entries(1, 2))
    pr.sentAppend(entries(3, 3))
    pr.sentAppend(entries(4, 5))
    assert.equal(pr.next, 6)
    assert.equal(pr.canSend(), false)
    pr.maybeUpdate(3)
    assert.equal(pr.canSend(), true, 'the acks through 3 freed two slots')
    pr.sentAppend(entries(6, 6))
    pr.sentAppend(entries(7, 7))
    assert.equal(pr.canSend(), false)
  })

  test('replicate: the byte window also limits sending', () => {
    const pr = new Progress(1, 100, 10)
    pr.becomeReplicateIfProbing()
    pr.sentAppend(entries(1, 1, 6))
    assert.equal(pr.canSend(), true)
    pr.sentAppend(entries(2, 2, 6))
    assert.equal(pr.canSend(), false, '12 bytes in flight reach the 10-byte window')
    pr.maybeUpdate(1)
    assert.equal(pr.canSend(), true)
  })

  test('freeOneInflightIfFull frees exactly one slot, and only when the window is full', () => {
    const pr = new Progress(1, 2, 1000)
    pr.becomeReplicateIfProbing()
    pr.sentAppend(entries(1, 1))
    pr.freeOneInflightIfFull()
    pr.sentAppend(entries(2, 2))
    assert.equal(pr.canSend(), false, 'the first call freed nothing: the window was not full')
    pr.freeOneInflightIfFull()
    assert.equal(pr.canSend(), true)
    pr.sentAppend(entries(3, 3))
    assert.equal(pr.canSend(), false)
  })

  test('empty appends (commit updates) take no slot', () => {
    const pr = new Progress(1, 1, 1000)
    pr.becomeReplicateIfProbing()
    pr.sentAppend([])
    assert.equal(pr.canSend(), true)
  })

  test('becomeProbe must move next beyond match; snapshot state sends no appends', () => {
    const pr = new Progress(1, 2, 1000)
    pr.maybeUpdate(4)
    assert.throws(() => pr.becomeProbe(4), AssertionError)
    pr.becomeProbe(5)
    assert.deepEqual([pr.state, pr.next, pr.probeSent], ['probe', 5, false])
    pr.becomeSnapshot(9)
    assert.deepEqual([pr.state, pr.snapshotIndex, pr.snapshotOffset, pr.canSend()], ['snapshot', 9, 0, false])
  })

  test('a stale answer does not move match backwards', () => {
    const pr = new Progress(1, 2, 1000)
    pr.maybeUpdate(6)
    assert.equal(pr.maybeUpdate(4), false)
    assert.equal(pr.match, 6)
  })
})

describe('quorums (§5.3 majority, §5.4 commitment)', () => {
  test('quorumSize is a strict majority', () => {
    assert.deepEqual([1, 2, 3, 4, 5, 6, 7].map(quorumSize), [1, 2, 2, 3, 3, 4, 4])
  })

  const matches: Array<[Record<string, number>, number]> = [
    [{ n1: 5 }, 5],
    [{ n1: 5, n2: 3, n3: 0 }, 3],
    [{ n1: 5, n2: 3, n3: 4 }, 4],
    [{ n1: 5, n2: 5, n3: 1, n4: 1 }, 1],
    [{ n1: 9, n2: 7, n3: 5, n4: 3, n5: 1 }, 5]
  ]
  for (const [byVoter, expected] of matches) {
    test(`quorumMatchIndex(${JSON.stringify(byVoter)}) is ${expected}`, () => {
      assert.equal(quorumMatchIndex(Object.keys(byVoter), id => byVoter[id]!), expected)
    })
  }
})

describe('single-server changes (thesis §4.1)', () => {
  const base = configurationOf(nodeIds(3))

  test('addLearner -> promote -> remove, each one step', () => {
    const added = applyConfChange(base, { type: 'addLearner', nodeId: 'n4', address: 'addr-n4' }) as Configuration
    assert.deepEqual([added.voters, added.learners, added.addresses.n4], [nodeIds(3), ['n4'], 'addr-n4'])
    const promoted = applyConfChange(added, { type: 'promote', nodeId: 'n4' }) as Configuration
    assert.deepEqual([promoted.voters, promoted.learners], [nodeIds(4), []])
    const removed = applyConfChange(promoted, { type: 'remove', nodeId: 'n1' }) as Configuration
    assert.deepEqual([removed.voters, removed.learners, 'n1' in removed.addresses], [['n2', 'n3', 'n4'], [], false])
    assert.deepEqual(base.voters, nodeIds(3), 'the input is not modified')
  })

  test('a configuration survives its encoding, whatever the address insertion order', () => {
    const a: Configuration = { voters: ['n1', 'n2'], learners: ['n3'], addresses: { n2: 'b', n1: 'a', n3: 'c' } }
    const b: Configuration = { voters: ['n1', 'n2'], learners: ['n3'], addresses: { n3: 'c', n1: 'a', n2: 'b' } }
    assert.deepEqual(encodeConfiguration(a), encodeConfiguration(b), 'deterministic bytes')
    assert.deepEqual(decodeConfiguration(encodeConfiguration(a)), { voters: ['n1', 'n2'], learners: ['n3'], addresses: { n1: 'a', n2: 'b', n3: 'c' } })
    assert.throws(() => decodeConfiguration(new TextEncoder().encode('{"voters":1}')), AssertionError)
  })
})
