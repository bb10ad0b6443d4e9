/** The history checker must accept linearizable histories and reject the classic anomalies. */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { checkRegisterHistory, type HistoryEntry, type RegisterOp } from '../../support/linearizability.js'

function op (process: number, invokeMs: number, completeMs: number, operation: RegisterOp, known = true): HistoryEntry {
  return { process, invokeMs, completeMs: known ? completeMs : Infinity, op: operation, known }
}

test('sequential write then read is linearizable', () => {
  const history = [op(1, 0, 1, { kind: 'write', value: 'a' }), op(2, 2, 3, { kind: 'read', value: 'a' })]
  assert.ok(checkRegisterHistory(history, null).linearizable)
})

test('a stale read after a completed write is not linearizable', () => {
  const history = [op(1, 0, 1, { kind: 'write', value: 'a' }), op(1, 2, 3, { kind: 'write', value: 'b' }), op(2, 4, 5, { kind: 'read', value: 'a' })]
  const result = checkRegisterHistory(history, null)
  assert.equal(result.linearizable, false)
  assert.ok(result.decided)
})

test('concurrent operations may order either way', () => {
  const history = [op(1, 0, 10, { kind: 'write', value: 'a' }), op(2, 1, 9, { kind: 'read', value: 'a' }), op(3, 2, 8, { kind: 'read', value: null })]
  assert.ok(checkRegisterHistory(history, null).linearizable)
})

test('two successful cas from the same expected value cannot both win', () => {
  const history = [
    op(1, 0, 1, { kind: 'write', value: 'x' }),
    op(2, 2, 5, { kind: 'cas', expected: 'x', value: 'y', succeeded: true }),
    op(3, 2, 5, { kind: 'cas', expected: 'x', value: 'z', succeeded: true })
  ]
  assert.equal(checkRegisterHistory(history, null).linearizable, false)
})

test('a write with unknown outcome may or may not have happened', () => {
  const happened = [op(1, 0, 0, { kind: 'write', value: 'a' }, false), op(2, 5, 6, { kind: 'read', value: 'a' })]
  const notHappened = [op(1, 0, 0, { kind: 'write', value: 'a' }, false), op(2, 5, 6, { kind: 'read', value: null })]
  assert.ok(checkRegisterHistory(happened, null).linearizable)
  assert.ok(checkRegisterHistory(notHappened, null).linearizable)
})

test('a read cannot see a value that was never written', () => {
  assert.equal(checkRegisterHistory([op(1, 0, 1, { kind: 'read', value: 'ghost' })], null).linearizable, false)
})

test('a failed cas must have seen another value', () => {
  const history = [op(1, 0, 1, { kind: 'write', value: 'x' }), op(2, 2, 3, { kind: 'cas', expected: 'x', value: 'y', succeeded: false })]
  assert.equal(checkRegisterHistory(history, null).linearizable, false)
})
