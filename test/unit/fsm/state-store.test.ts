/**
 * Change notification for blocking queries: listeners hear which tables an apply moved and at
 * which index, nothing for applies that change nothing, and stop hearing once unregistered. A
 * throwing listener is a bug and surfaces as an AssertionError after the others ran.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import type { StoreChange } from '../../../src/fsm/state-reader.js'
import { AssertionError } from '../../../src/util/assert.js'
import { bytes, check, FsmHarness, registration, service } from './helpers.js'

function record (harness: FsmHarness): Array<{ tables: string[], index: number }> {
  const seen: Array<{ tables: string[], index: number }> = []
  harness.reader.onChange((change: StoreChange) => seen.push({ tables: [...change.tables].sort(), index: change.index }))
  return seen
}

test('listeners hear the tables each apply moved, with its index', () => {
  const harness = new FsmHarness()
  const seen = record(harness)
  harness.apply({ type: 'kvSet', Key: 'k', Value: bytes('v'), Flags: 0 })
  harness.apply({ type: 'catalogRegister', Registration: registration({ Service: service(), Checks: [check({ ServiceID: 'web' })] }) })
  harness.apply({ type: 'noop' })
  harness.apply({ type: 'kvSet', Key: 'k', Value: bytes('w'), Flags: 0, Cas: 99 })
  harness.apply({ type: 'kvDelete', Key: 'k', Recurse: false })
  assert.deepEqual(seen, [
    { tables: ['kvs'], index: 1 },
    { tables: ['checks', 'nodes', 'services'], index: 2 },
    { tables: ['kvs'], index: 5 }
  ])
  assert.equal(harness.reader.appliedIndex(), 5)
})

test('an unregistered listener hears nothing more', () => {
  const harness = new FsmHarness()
  let count = 0
  const stop = harness.reader.onChange(() => { count += 1 })
  harness.apply({ type: 'kvSet', Key: 'a', Value: bytes('1'), Flags: 0 })
  stop()
  harness.apply({ type: 'kvSet', Key: 'b', Value: bytes('1'), Flags: 0 })
  assert.equal(count, 1)
})

test('a throwing listener is an AssertionError; the write and the other listeners still happened', () => {
  const harness = new FsmHarness()
  let other = 0
  harness.reader.onChange(() => { throw new Error('bug') })
  harness.reader.onChange(() => { other += 1 })
  assert.throws(() => harness.apply({ type: 'kvSet', Key: 'a', Value: bytes('1'), Flags: 0 }), AssertionError)
  assert.equal(other, 1)
  assert.equal(harness.reader.kvGet('a')?.ModifyIndex, 1)
})

test('maxTableIndex covers the tables a query reads', () => {
  const harness = new FsmHarness()
  harness.apply({ type: 'kvSet', Key: 'a', Value: bytes('1'), Flags: 0 })
  harness.apply({ type: 'catalogRegister', Registration: registration() })
  assert.equal(harness.reader.maxTableIndex(['nodes', 'services', 'checks']), 2)
  assert.equal(harness.reader.maxTableIndex(['kvs']), 1)
  assert.equal(harness.reader.maxTableIndex([]), 0)
})
