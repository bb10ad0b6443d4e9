/**
 * RaftLog: the in-memory log suffix since the last snapshot. Checks the §5.3/§5.4 primitives the
 * core builds on (up-to-date comparison, the consistency check with conflict removal, the fast
 * back-off search) and the bookkeeping for the shell (unstable entries, applying, compaction,
 * restore). Invariant violations throw AssertionError: the node stops rather than diverge.
 */
import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { AssertionError } from '../../../../src/util/assert.js'
import { RaftLog } from '../../../../src/raft/core/log.js'
import type { Entry, Snapshot } from '../../../../src/raft/core/types.js'
import { commandEntry, configurationOf, logFromTerms, nodeIds } from './helpers.js'

const configuration = configurationOf(nodeIds(3))

function logOf (terms: number[], committed = 1): RaftLog {
  return new RaftLog({ snapshot: null, entries: logFromTerms(configuration, terms), committed })
}

function termsOf (log: RaftLog): Array<number | undefined> {
  const terms: Array<number | undefined> = []
  for (let index = log.firstIndex(); index <= log.lastIndex(); index += 1) terms.push(log.term(index))
  return terms
}

function snapshotAt (index: number, term: number): Snapshot {
  return { meta: { index, term, configuration }, data: new Uint8Array([index]) }
}

describe('RaftLog (§5.3, §5.4, §7)', () => {
  test('construction checks contiguity and that commit is within the log', () => {
    assert.throws(() => new RaftLog({ snapshot: null, entries: [commandEntry(2, 1)], committed: 0 }), AssertionError)
    assert.throws(() => new RaftLog({ snapshot: null, entries: logFromTerms(configuration, [1, 1]), committed: 3 }), AssertionError)
    const log = logOf([1, 2, 2], 2)
    assert.deepEqual([log.firstIndex(), log.lastIndex(), log.lastTerm(), log.committed, log.applied, log.stableIndex], [1, 3, 2, 2, 0, 3])
    assert.equal(log.term(0), 0, 'index 0 has term 0')
    assert.equal(log.term(4), undefined)
  })

  const upToDate: Array<[number, number, boolean]> = [[3, 2, true], [9, 2, true], [2, 2, false], [9, 1, false], [1, 3, true]]
  for (const [lastIndex, lastTerm, expected] of upToDate) {
    test(`§5.4.1: (index ${lastIndex}, term ${lastTerm}) is ${expected ? '' : 'not '}at least as up to date as [1, 2, 2]`, () => {
      assert.equal(logOf([1, 2, 2]).isUpToDate(lastIndex, lastTerm), expected)
    })
  }

  test('maybeAppend: a failed consistency check changes nothing', () => {
    const log = logOf([1, 2, 2])
    assert.equal(log.maybeAppend(3, 3, [commandEntry(4, 3)]), null)
    assert.equal(log.maybeAppend(5, 2, []), null)
    assert.deepEqual(termsOf(log), [1, 2, 2])
  })

  test('maybeAppend: matching entries are kept, a conflict truncates from there, new entries follow', () => {
    const log = logOf([1, 2, 2, 2])
    assert.equal(log.maybeAppend(1, 1, [commandEntry(2, 2)]), 2, 'returns the last index the leader sent')
    assert.deepEqual(termsOf(log), [1, 2, 2, 2], 'no truncation on a matching prefix')
    assert.equal(log.maybeAppend(2, 2, [commandEntry(3, 2), commandEntry(4, 3), commandEntry(5, 3)]), 5)
    assert.deepEqual(termsOf(log), [1, 2, 2, 3, 3])
    assert.equal(log.stableIndex, 3, 'the replaced suffix is no longer stable')
    assert.deepEqual(log.unstableEntries().map(e => e.index), [4, 5])
  })

  test('a conflict at or below the commit index is an invariant violation, never a truncation', () => {
    const log = logOf([1, 2, 2], 3)
    assert.throws(() => log.maybeAppend(1, 1, [commandEntry(2, 3)]), AssertionError)
    assert.deepEqual(termsOf(log), [1, 2, 2])
  })

  const conflicts: Array<[number, number, number]> = [
    // [index, term, expected]: the largest index <= index whose term is <= term
    [6, 5, 6], [6, 3, 5], [6, 2, 3], [4, 2, 3], [6, 1, 1], [9, 4, 6], [6, 0, 0]
  ]
  for (const [index, term, expected] of conflicts) {
    test(`findConflictByTerm(${index}, ${term}) on [1, 2, 2, 3, 3, 4] is ${expected}`, () => {
      assert.equal(logOf([1, 2, 2, 3, 3, 4]).findConflictByTerm(index, term), expected)
    })
  }

  test('slice respects countMax and bytesMax but always returns at least one entry', () => {
    const entries: Entry[] = [logFromTerms(configuration, [1])[0]!, commandEntry(2, 1, 'aaaa'), commandEntry(3, 1, 'bbbb'), commandEntry(4, 1, 'cccccccccc')]
    const log = new RaftLog({ snapshot: null, entries, committed: 1 })
    assert.deepEqual(log.slice(2, 5, { bytesMax: 100, countMax: 2 }).map(e => e.index), [2, 3])
    assert.deepEqual(log.slice(2, 5, { bytesMax: 8, countMax: 10 }).map(e => e.index), [2, 3])
    assert.deepEqual(log.slice(4, 5, { bytesMax: 1, countMax: 10 }).map(e => e.index), [4])
    assert.deepEqual(log.slice(2, 3, { bytesMax: 100, countMax: 10 }).map(e => e.index), [2], 'high is exclusive')
  })

  test('stableTo marks persisted entries stable, but only those still in the log unchanged', () => {
    const log = logOf([1, 2])
    log.append(commandEntry(3, 2))
    log.append(commandEntry(4, 2))
    const handedOut = log.unstableEntries()
    assert.deepEqual(handedOut.map(e => e.index), [3, 4])
    log.maybeAppend(3, 2, [commandEntry(4, 3)]) // replaced while being persisted
    log.stableTo(handedOut)
    assert.equal(log.stableIndex, 3)
    assert.deepEqual(log.unstableEntries().map(e => [e.index, e.term]), [[4, 3]])
  })

  test('nextCommitted hands out committed entries in order, at most countMax at a time', () => {
    const log = logOf([1, 1, 1, 1, 1], 4)
    assert.deepEqual(log.nextCommitted(3).map(e => e.index), [1, 2, 3])
    log.appliedTo(3)
    assert.deepEqual(log.nextCommitted(3).map(e => e.index), [4])
    log.appliedTo(4)
    assert.deepEqual(log.nextCommitted(3), [])
    assert.throws(() => log.appliedTo(5), AssertionError)
  })

  test('commitTo only moves forward and never beyond the last index', () => {
    const log = logOf([1, 1, 1], 2)
    assert.equal(log.commitTo(1), false)
    assert.equal(log.commitTo(3), true)
    assert.throws(() => log.commitTo(4), AssertionError)
  })

  test('compact drops entries through the snapshot index, keeps the term there, and refuses unapplied indexes', () => {
    const log = logOf([1, 2, 2, 3], 4)
    log.appliedTo(3)
    assert.throws(() => log.compact(snapshotAt(4, 3)), AssertionError)
    assert.throws(() => log.compact(snapshotAt(3, 3)), AssertionError, 'the snapshot term must match the log')
    log.compact(snapshotAt(3, 2))
    assert.deepEqual([log.snapshotIndex(), log.snapshotTerm(), log.firstIndex(), log.lastIndex()], [3, 2, 4, 4])
    assert.equal(log.term(3), 2)
    assert.equal(log.term(2), undefined)
    assert.equal(log.entry(3), undefined)
    assert.throws(() => log.slice(3, 5, { bytesMax: 100, countMax: 10 }), AssertionError)
    assert.equal(log.findConflictByTerm(2, 1), 3, 'answers inside the compacted prefix become the snapshot index')
  })

  test('restore replaces the whole log with a snapshot, which stays unstable until persisted', () => {
    const log = logOf([1, 2, 2], 1)
    const snapshot = snapshotAt(10, 4)
    log.restore(snapshot)
    assert.deepEqual([log.snapshotIndex(), log.lastIndex(), log.lastTerm(), log.committed], [10, 10, 4, 10])
    assert.equal(log.unstableSnapshot, snapshot)
    assert.deepEqual(log.nextCommitted(10), [])
    log.snapshotPersisted(snapshot)
    assert.equal(log.unstableSnapshot, null)
    assert.deepEqual([log.stableIndex, log.applied], [10, 10])
    log.append(commandEntry(11, 4))
    assert.deepEqual(log.unstableEntries().map(e => e.index), [11])
    assert.throws(() => log.restore(snapshotAt(10, 4)), AssertionError, 'never at or below the commit index')
  })
})
