/**
 * Intentions through the FSM: the three upsert modes (legacy create, legacy update by ID,
 * upsert by pair), one intention per pair, delete by ID and by pair, precedence and evaluation
 * order, and match queries by destination and by source.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { intentionPrecedence } from '../../../src/fsm/tables/intentions.js'
import { FsmHarness, intention } from './helpers.js'

test('precedence follows §8.3 for exact and wildcard names', () => {
  const pair = (source: string, destination: string) => ({ SourceNS: 'default', SourceName: source, DestinationNS: 'default', DestinationName: destination })
  assert.equal(intentionPrecedence(pair('web', 'db')), 9)
  assert.equal(intentionPrecedence(pair('*', 'db')), 8)
  assert.equal(intentionPrecedence(pair('web', '*')), 6)
  assert.equal(intentionPrecedence(pair('*', '*')), 5)
})

test('create stores the intention with its precedence; a second intention for the pair is a duplicate', () => {
  const harness = new FsmHarness()
  assert.deepEqual(harness.apply({ type: 'intentionUpsert', Mode: 'create', Intention: intention({ ID: 'i1', Action: 'deny' }) }), { ok: true, ID: 'i1' })
  const row = harness.reader.intention('i1')
  assert.equal(row?.Precedence, 9)
  assert.equal(row?.CreateIndex, 1)
  assert.equal(harness.reader.tableIndex('connect-intentions'), 1)
  const duplicate = harness.apply({ type: 'intentionUpsert', Mode: 'create', Intention: intention({ ID: 'i2' }) })
  assert.deepEqual(duplicate, { ok: false, code: 'ERR_CONFLICT', message: 'duplicate intention found: DENY default/web => default/db (ID: i1, Precedence: 9)' })
  assert.equal(harness.reader.intention('i2'), undefined)
  assert.equal(harness.reader.tableIndex('connect-intentions'), 1)
})

test('update by ID replaces fields, may move the pair, keeps CreatedAt and CreateIndex', () => {
  const harness = new FsmHarness()
  harness.apply({ type: 'intentionUpsert', Mode: 'create', Intention: intention({ ID: 'i1', CreatedAt: 't0', UpdatedAt: 't0' }) })
  harness.apply({ type: 'intentionUpsert', Mode: 'create', Intention: intention({ ID: 'i2', SourceName: 'api' }) })
  const moved = harness.apply({ type: 'intentionUpsert', Mode: 'update', Intention: intention({ ID: 'i1', SourceName: '*', Action: 'deny', CreatedAt: 'ignored', UpdatedAt: 't1' }) })
  assert.deepEqual(moved, { ok: true, ID: 'i1' })
  const row = harness.reader.intention('i1')
  assert.deepEqual([row?.SourceName, row?.Action, row?.CreatedAt, row?.UpdatedAt, row?.Precedence, row?.CreateIndex, row?.ModifyIndex], ['*', 'deny', 't0', 't1', 8, 1, 3])
  assert.equal(harness.reader.intentionExact({ SourceNS: 'default', SourceName: 'web', DestinationNS: 'default', DestinationName: 'db' }), undefined)
  const clash = harness.apply({ type: 'intentionUpsert', Mode: 'update', Intention: intention({ ID: 'i1', SourceName: 'api' }) })
  assert.equal(clash.ok, false)
  const missing = harness.apply({ type: 'intentionUpsert', Mode: 'update', Intention: intention({ ID: 'nope', SourceName: 'x' }) })
  assert.deepEqual(missing, { ok: false, code: 'ERR_NOT_FOUND', message: "Cannot modify non-existent intention: 'nope'" })
})

test('upsert by pair keeps the existing ID, or creates with the given one', () => {
  const harness = new FsmHarness()
  assert.deepEqual(harness.apply({ type: 'intentionUpsert', Mode: 'upsert', Intention: intention({ ID: 'first' }) }), { ok: true, ID: 'first' })
  assert.deepEqual(harness.apply({ type: 'intentionUpsert', Mode: 'upsert', Intention: intention({ ID: 'second', Action: 'deny' }) }), { ok: true, ID: 'first' })
  assert.equal(harness.reader.intentions().length, 1)
  assert.equal(harness.reader.intention('first')?.Action, 'deny')
  assert.equal(harness.reader.intention('first')?.CreateIndex, 1)
})

test('delete by ID and by pair; deleting nothing moves no index', () => {
  const harness = new FsmHarness()
  harness.apply({ type: 'intentionUpsert', Mode: 'create', Intention: intention({ ID: 'i1' }) })
  harness.apply({ type: 'intentionUpsert', Mode: 'create', Intention: intention({ ID: 'i2', SourceName: 'api' }) })
  assert.equal(harness.apply({ type: 'intentionDelete', Target: { By: 'id', ID: 'i1' } }), true)
  assert.equal(harness.apply({ type: 'intentionDelete', Target: { By: 'id', ID: 'i1' } }), false)
  assert.equal(harness.reader.tableIndex('connect-intentions'), 3)
  assert.equal(harness.apply({ type: 'intentionDelete', Target: { By: 'pair', SourceNS: 'default', SourceName: 'api', DestinationNS: 'default', DestinationName: 'db' } }), true)
  assert.deepEqual(harness.reader.intentions(), [])
  assert.equal(harness.reader.tableIndex('connect-intentions'), 5)
  assert.deepEqual(harness.apply({ type: 'intentionUpsert', Mode: 'create', Intention: intention({ ID: 'i3' }) }), { ok: true, ID: 'i3' }, 'the pair is free again')
})

test('list and match come back in evaluation order', () => {
  const harness = new FsmHarness()
  const pairs: Array<[string, string, string]> = [['a', '*', '*'], ['b', 'web', '*'], ['c', '*', 'db'], ['d', 'web', 'db'], ['e', 'api', 'db'], ['f', 'web', 'cache']]
  for (const [id, source, destination] of pairs) {
    harness.apply({ type: 'intentionUpsert', Mode: 'create', Intention: intention({ ID: id, SourceName: source, DestinationName: destination }) })
  }
  const reader = harness.reader
  assert.deepEqual(reader.intentions().map(row => row.ID), ['e', 'f', 'd', 'c', 'b', 'a'])
  assert.deepEqual(reader.intentionMatch({ by: 'destination', namespace: 'default', name: 'db' }).map(row => row.ID), ['e', 'd', 'c', 'b', 'a'])
  assert.deepEqual(reader.intentionMatch({ by: 'source', namespace: 'default', name: 'web' }).map(row => row.ID), ['f', 'd', 'c', 'b', 'a'])
  assert.deepEqual(reader.intentionMatch({ by: 'destination', namespace: 'other', name: 'db' }), [])
})

test('an L7 intention keeps its permissions and has no action', () => {
  const harness = new FsmHarness()
  const permissions = [{ Action: 'allow', HTTP: { PathPrefix: '/v1', Methods: ['GET'] } }]
  harness.apply({ type: 'intentionUpsert', Mode: 'create', Intention: intention({ ID: 'l7', Action: '', Permissions: permissions }) })
  const row = harness.reader.intention('l7')
  assert.equal(row?.Action, '')
  assert.deepEqual(row?.Permissions, permissions)
})
