/**
 * KV through the FSM: set/get, Consul's CAS rules, deletes (single, recursive, CAS), keys with a
 * separator, row and table indexes (deletes move the table index too), transactions (all or
 * nothing, per-op results and errors), and a few thousand random ops checked against a plain
 * Map reference model.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { SeededPrng } from '../../../src/util/prng.js'
import type { KvTxnOp } from '../../../src/fsm/types.js'
import { bytes, FsmHarness, randomKvTxnOp, text } from './helpers.js'

function put (harness: FsmHarness, key: string, value: string, extra: { Flags?: number, Cas?: number } = {}): boolean {
  return harness.apply({ type: 'kvSet', Key: key, Value: bytes(value), Flags: extra.Flags ?? 0, ...(extra.Cas === undefined ? {} : { Cas: extra.Cas }) })
}

test('set stores value and flags; CreateIndex stays and ModifyIndex moves on update', () => {
  const harness = new FsmHarness()
  assert.equal(put(harness, 'config/limit', '100', { Flags: 42 }), true)
  harness.skip(3)
  put(harness, 'config/limit', '200', { Flags: 7 })
  const row = harness.reader.kvGet('config/limit')
  assert.ok(row !== undefined)
  assert.equal(text(row.Value), '200')
  assert.equal(row.Flags, 7)
  assert.equal(row.CreateIndex, 1)
  assert.equal(row.ModifyIndex, 5)
  assert.equal(row.LockIndex, 0)
  assert.equal(row.Session, undefined)
  assert.equal(harness.reader.tableIndex('kvs'), 5)
  assert.ok(Object.isFrozen(row))
})

test('an empty value is stored as zero bytes', () => {
  const harness = new FsmHarness()
  put(harness, 'empty', '')
  assert.equal(harness.reader.kvGet('empty')?.Value.length, 0)
})

test('cas 0 creates only when the key is absent', () => {
  const harness = new FsmHarness()
  assert.equal(put(harness, 'k', 'first', { Cas: 0 }), true)
  assert.equal(put(harness, 'k', 'second', { Cas: 0 }), false)
  assert.equal(text(harness.reader.kvGet('k')?.Value), 'first')
  assert.equal(harness.reader.tableIndex('kvs'), 1, 'a failed CAS moves no index')
})

test('cas N writes only when ModifyIndex is N; a mismatch changes nothing', () => {
  const harness = new FsmHarness()
  put(harness, 'k', 'v1')
  assert.equal(put(harness, 'k', 'v2', { Cas: 7 }), false)
  assert.equal(put(harness, 'absent', 'x', { Cas: 1 }), false, 'cas > 0 on a missing key fails')
  assert.equal(harness.reader.kvGet('absent'), undefined)
  assert.equal(put(harness, 'k', 'v2', { Cas: 1 }), true)
  const row = harness.reader.kvGet('k')
  assert.equal(text(row?.Value), 'v2')
  assert.equal(row?.ModifyIndex, 4)
})

test('delete removes one key and moves the table index; deleting a missing key changes nothing', () => {
  const harness = new FsmHarness()
  put(harness, 'a', '1')
  put(harness, 'b', '2')
  assert.equal(harness.apply({ type: 'kvDelete', Key: 'a', Recurse: false }), true)
  assert.equal(harness.reader.kvGet('a'), undefined)
  assert.equal(harness.reader.tableIndex('kvs'), 3, 'the delete is visible to blocking queries')
  assert.equal(harness.apply({ type: 'kvDelete', Key: 'a', Recurse: false }), true)
  assert.equal(harness.reader.tableIndex('kvs'), 3)
})

test('delete with cas: a mismatch keeps the key, a match deletes, a missing key succeeds', () => {
  const harness = new FsmHarness()
  put(harness, 'k', 'v')
  assert.equal(harness.apply({ type: 'kvDelete', Key: 'k', Recurse: false, Cas: 9 }), false)
  assert.ok(harness.reader.kvGet('k') !== undefined)
  assert.equal(harness.apply({ type: 'kvDelete', Key: 'k', Recurse: false, Cas: 1 }), true)
  assert.equal(harness.reader.kvGet('k'), undefined)
  assert.equal(harness.apply({ type: 'kvDelete', Key: 'k', Recurse: false, Cas: 1 }), true)
})

test('recursive delete removes the prefix only; the empty prefix removes everything', () => {
  const harness = new FsmHarness()
  for (const key of ['app/a', 'app/b/c', 'apple', 'other']) put(harness, key, key)
  harness.apply({ type: 'kvDelete', Key: 'app/', Recurse: true })
  assert.deepEqual(harness.reader.kvList('').map(row => row.Key), ['apple', 'other'])
  harness.apply({ type: 'kvDelete', Key: '', Recurse: true })
  assert.deepEqual(harness.reader.kvList(''), [])
  assert.equal(harness.reader.tableIndex('kvs'), 6)
})

test('list returns the prefix in byte order (astral characters after U+FFFF-range BMP ones)', () => {
  const harness = new FsmHarness()
  for (const key of ['b', 'a/2', 'a/10', 'a/1', '😀', '\uffff', 'é']) put(harness, key, key)
  const keys = harness.reader.kvList('').map(row => row.Key)
  const byBytes = [...keys].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)))
  assert.deepEqual(keys, byBytes)
  assert.deepEqual(keys, ['a/1', 'a/10', 'a/2', 'b', 'é', '\uffff', '😀'])
  assert.deepEqual(harness.reader.kvList('a/').map(row => row.Key), ['a/1', 'a/10', 'a/2'])
  assert.deepEqual(harness.reader.kvList('zz'), [])
})

test('keys with a separator report folders once, cut after the first separator past the prefix', () => {
  const harness = new FsmHarness()
  for (const key of ['a/x/1', 'a/x/2', 'a/y/2', 'a/z', 'a/', 'b/q', 'abc']) put(harness, key, '')
  assert.deepEqual(harness.reader.kvKeys('a/', '/'), ['a/', 'a/x/', 'a/y/', 'a/z'])
  assert.deepEqual(harness.reader.kvKeys('', '/'), ['a/', 'abc', 'b/'])
  assert.deepEqual(harness.reader.kvKeys('a', '/'), ['a/', 'abc'])
  assert.deepEqual(harness.reader.kvKeys('a/', ''), ['a/', 'a/x/1', 'a/x/2', 'a/y/2', 'a/z'])
  assert.deepEqual(harness.reader.kvKeys('a/x', '/'), ['a/x/'])
  assert.deepEqual(harness.reader.kvKeys('nope', '/'), [])
})

test('keys with a multi-character separator', () => {
  const harness = new FsmHarness()
  for (const key of ['p::a::1', 'p::a::2', 'p::b', 'p:c']) put(harness, key, '')
  assert.deepEqual(harness.reader.kvKeys('p::', '::'), ['p::a::', 'p::b'])
  assert.deepEqual(harness.reader.kvKeys('', '::'), ['p::', 'p:c'])
})

test('set keeps LockIndex and Session of the existing row', () => {
  const harness = new FsmHarness()
  put(harness, 'k', 'v')
  put(harness, 'k', 'w')
  assert.equal(harness.reader.kvGet('k')?.LockIndex, 0)
})

test('txn commits every op with per-op results; values only for reads', () => {
  const harness = new FsmHarness()
  put(harness, 'existing', 'old')
  const ops: KvTxnOp[] = [
    { Verb: 'set', Key: 'feature/x', Value: bytes('on'), Flags: 3 },
    { Verb: 'cas', Key: 'feature/y', Value: bytes('off'), Flags: 0, Index: 0 },
    { Verb: 'get', Key: 'existing' },
    { Verb: 'check-index', Key: 'existing', Index: 1 },
    { Verb: 'get-tree', Key: 'feature/' },
    { Verb: 'get-or-empty', Key: 'missing' },
    { Verb: 'check-not-exists', Key: 'missing' },
    { Verb: 'delete', Key: 'existing' }
  ]
  const outcome = harness.apply({ type: 'kvTxn', Ops: ops })
  assert.ok(outcome.ok)
  assert.deepEqual(outcome.Results.map(row => [row.Key, text(row.Value) ?? null, row.ModifyIndex]), [
    ['feature/x', null, 2],
    ['feature/y', null, 2],
    ['existing', 'old', 1],
    ['existing', null, 1],
    ['feature/x', 'on', 2],
    ['feature/y', 'off', 2],
    ['missing', null, 0]
  ])
  assert.equal(harness.reader.kvGet('existing'), undefined)
  assert.equal(harness.reader.kvGet('feature/x')?.Flags, 3)
  assert.equal(harness.reader.tableIndex('kvs'), 2)
})

test('txn rolls back everything when any op fails, reporting every failing op', () => {
  const harness = new FsmHarness()
  put(harness, 'keep', 'v')
  let changes = 0
  harness.reader.onChange(() => { changes += 1 })
  const outcome = harness.apply({
    type: 'kvTxn',
    Ops: [
      { Verb: 'set', Key: 'new', Value: bytes('x'), Flags: 0 },
      { Verb: 'cas', Key: 'new', Value: bytes('y'), Flags: 0, Index: 0 },
      { Verb: 'delete-tree', Key: '' },
      { Verb: 'get', Key: 'keep' },
      { Verb: 'check-index', Key: 'gone', Index: 3 }
    ]
  })
  assert.ok(!outcome.ok)
  assert.deepEqual(outcome.Errors, [
    { OpIndex: 1, What: 'failed to set key "new", index is stale' },
    { OpIndex: 3, What: 'key "keep" doesn\'t exist' },
    { OpIndex: 4, What: 'failed to check index of key "gone", key does not exist' }
  ])
  assert.deepEqual(harness.reader.kvList('').map(row => [row.Key, text(row.Value)]), [['keep', 'v']])
  assert.equal(harness.reader.kvGet('keep')?.ModifyIndex, 1)
  assert.equal(harness.reader.tableIndex('kvs'), 1, 'a rolled back txn moves no index')
  assert.equal(changes, 0, 'a rolled back txn wakes no watcher')
  assert.equal(harness.reader.appliedIndex(), 2)
})

test('txn error texts for delete-cas and check-not-exists', () => {
  const harness = new FsmHarness()
  put(harness, 'k', 'v')
  const outcome = harness.apply({
    type: 'kvTxn',
    Ops: [{ Verb: 'delete-cas', Key: 'k', Index: 99 }, { Verb: 'check-not-exists', Key: 'k' }, { Verb: 'check-index', Key: 'k', Index: 2 }]
  })
  assert.ok(!outcome.ok)
  assert.deepEqual(outcome.Errors.map(error => error.What), [
    'failed to delete key "k", index is stale',
    'key "k" exists',
    'failed to check index of key "k", index is stale'
  ])
})

// ---------------------------------------------------------------------------------------------
// Reference model

interface ModelRow { value: string, flags: number, createIndex: number, modifyIndex: number }

class KvModel {
  rows = new Map<string, ModelRow>()
  tableIndex = 0

  set (index: number, key: string, value: string, flags: number): void {
    this.rows.set(key, { value, flags, createIndex: this.rows.get(key)?.createIndex ?? index, modifyIndex: index })
    this.tableIndex = index
  }

  casOk (key: string, cas: number): boolean {
    const row = this.rows.get(key)
    return row === undefined ? cas === 0 : row.modifyIndex === cas
  }

  delete (index: number, key: string): void {
    if (this.rows.delete(key)) this.tableIndex = index
  }

  deleteTree (index: number, prefix: string): void {
    for (const key of [...this.rows.keys()]) if (key.startsWith(prefix)) this.delete(index, key)
  }

  sortedKeys (prefix: string): string[] {
    return [...this.rows.keys()].filter(key => key.startsWith(prefix)).sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)))
  }

  keysWithSeparator (prefix: string, separator: string): string[] {
    const result: string[] = []
    for (const key of this.sortedKeys(prefix)) {
      const cut = key.indexOf(separator, prefix.length)
      const reported = cut === -1 ? key : key.slice(0, cut + separator.length)
      if (result[result.length - 1] !== reported) result.push(reported)
    }
    return result
  }

  /** Runs a txn on a copy; commits the copy only if every op succeeded. */
  txn (index: number, ops: readonly KvTxnOp[]): boolean {
    const saved = { rows: new Map(this.rows), tableIndex: this.tableIndex }
    let failed = false
    for (const op of ops) failed = !this.txnOp(index, op) || failed
    if (failed) {
      this.rows = saved.rows
      this.tableIndex = saved.tableIndex
    }
    return !failed
  }

  private txnOp (index: number, op: KvTxnOp): boolean {
    const row = this.rows.get(op.Key)
    switch (op.Verb) {
      case 'set': this.set(index, op.Key, text(op.Value) ?? '', op.Flags); return true
      case 'cas': if (!this.casOk(op.Key, op.Index)) return false; this.set(index, op.Key, text(op.Value) ?? '', op.Flags); return true
      case 'get': return row !== undefined
      case 'get-or-empty': case 'get-tree': return true
      case 'check-index': return row !== undefined && row.modifyIndex === op.Index
      case 'check-not-exists': return row === undefined
      case 'delete': this.delete(index, op.Key); return true
      case 'delete-tree': this.deleteTree(index, op.Key); return true
      case 'delete-cas': if (row !== undefined && row.modifyIndex !== op.Index) return false; this.delete(index, op.Key); return true
    }
  }
}

test('random KV ops agree with a reference model (seeded)', () => {
  const seed = 20240501
  const prng = new SeededPrng(seed)
  const harness = new FsmHarness()
  const model = new KvModel()
  const keys = ['a', 'a/', 'a/b', 'a/b/c', 'a/bc', 'a/c/d', 'ab', 'b/x', 'b/y/z', 'é', '😀/x', '\uffff']
  const pickKey = (): string => keys[prng.nextInt(keys.length)] as string
  for (let step = 0; step < 4000; step += 1) {
    const index = harness.index + 1 + prng.nextInt(2)
    harness.index = index - 1
    const key = pickKey()
    const cas = prng.nextInt(index + 1)
    const choice = prng.nextInt(7)
    const context = `seed ${seed}, step ${step}`
    if (choice <= 1) {
      const value = `v${step}`
      const useCas = choice === 1
      const expected = !useCas || model.casOk(key, cas)
      assert.equal(put(harness, key, value, { Flags: step % 5, ...(useCas ? { Cas: cas } : {}) }), expected, context)
      if (expected) model.set(index, key, value, step % 5)
    } else if (choice === 2) {
      harness.apply({ type: 'kvDelete', Key: key, Recurse: false })
      model.delete(index, key)
    } else if (choice === 3) {
      const row = model.rows.get(key)
      const expected = row === undefined || row.modifyIndex === cas
      assert.equal(harness.apply({ type: 'kvDelete', Key: key, Recurse: false, Cas: cas }), expected, context)
      if (expected) model.delete(index, key)
    } else if (choice === 4 && prng.nextInt(4) === 0) {
      const prefix = ['a/', 'a/b', 'b', 'z'][prng.nextInt(4)] as string
      harness.apply({ type: 'kvDelete', Key: prefix, Recurse: true })
      model.deleteTree(index, prefix)
    } else {
      const ops = Array.from({ length: 1 + prng.nextInt(3) }, () => randomKvTxnOp(prng, index))
      const outcome = harness.apply({ type: 'kvTxn', Ops: ops })
      assert.equal(outcome.ok, model.txn(index, ops), context)
    }
    checkAgainstModel(harness, model, context)
  }
})

function checkAgainstModel (harness: FsmHarness, model: KvModel, context: string): void {
  const reader = harness.reader
  assert.equal(reader.tableIndex('kvs'), model.tableIndex, `${context}: table index`)
  const actual = reader.kvList('').map(row => [row.Key, text(row.Value), row.Flags, row.CreateIndex, row.ModifyIndex])
  const expected = model.sortedKeys('').map(key => {
    const row = model.rows.get(key) as ModelRow
    return [key, row.value, row.flags, row.createIndex, row.modifyIndex]
  })
  assert.deepEqual(actual, expected, `${context}: rows`)
  for (const prefix of ['a/', 'a', 'b/']) {
    assert.deepEqual(reader.kvList(prefix).map(row => row.Key), model.sortedKeys(prefix), `${context}: list ${prefix}`)
    assert.deepEqual(reader.kvKeys(prefix, '/'), model.keysWithSeparator(prefix, '/'), `${context}: keys ${prefix} with separator`)
  }
}
