/**
 * Snapshots: snapshot → restore gives the same readable state and the same bytes again; the
 * restorer accepts any chunking; streaming yields whole-record chunks; corrupt or tampered
 * snapshots are refused (ERR_INVALID_INPUT from the restorer, AssertionError from the FSM)
 * without touching the live state; listeners hear about a restore.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { Packr } from 'msgpackr'
import { Fsm } from '../../../src/fsm/fsm.js'
import { restoreFromRecords, snapshotRecords, SnapshotRestorer } from '../../../src/fsm/snapshot.js'
import { tableNames } from '../../../src/fsm/types.js'
import { AssertionError } from '../../../src/util/assert.js'
import { crc32c } from '../../../src/util/crc32.js'
import { SeededPrng } from '../../../src/util/prng.js'
import { applyRandomCommands, bytes, FsmHarness, readerView } from './helpers.js'

function richHarness (seed = 11): FsmHarness {
  const harness = new FsmHarness()
  applyRandomCommands(harness, { seed, count: 3000 })
  return harness
}

test('an empty store round-trips', () => {
  const fsm = new Fsm()
  const data = fsm.snapshot()
  const restored = new Fsm()
  restored.restore(data)
  assert.deepEqual(restored.snapshot(), data)
  assert.deepEqual(readerView(restored.reader), readerView(fsm.reader))
})

test('snapshot → restore gives identical state and identical bytes on re-snapshot', () => {
  const harness = richHarness()
  const data = harness.fsm.snapshot()
  const restored = new Fsm()
  restored.restore(data)
  assert.deepEqual(readerView(restored.reader), readerView(harness.reader))
  assert.deepEqual(restored.snapshot(), data)
  assert.ok(harness.reader.kvList('').length > 0, 'the random workload left KV rows')
  assert.ok(harness.reader.catalogNodes().length > 0, 'the random workload left nodes')
  assert.ok(harness.reader.intentions().length > 0, 'the random workload left intentions')
})

test('snapshotting twice without writes gives the same bytes', () => {
  const harness = richHarness(12)
  assert.deepEqual(harness.fsm.snapshot(), harness.fsm.snapshot())
})

test('same state, same bytes: rows loaded in any order snapshot in the canonical order', () => {
  const harness = richHarness(16)
  const data = harness.fsm.snapshot()
  const packr = new Packr({ useRecords: false })
  const records: Array<Record<string, unknown>> = []
  for (let offset = 0; offset < data.length;) {
    const length = Buffer.from(data.buffer, data.byteOffset + offset, 4).readUInt32BE(0)
    records.push(packr.unpack(data.subarray(offset + 4, offset + 4 + length)) as Record<string, unknown>)
    offset += 4 + length
  }
  // Reverse the rows within each section (CA roots must stay sorted; they are few anyway).
  const prefix = records.filter(record => record.kind === 'header' || record.kind === 'tableIndex')
  const rows = records.filter(record => record.kind === 'row')
  const sections = [...new Set(rows.map(record => record.section))]
  const shuffled = sections.flatMap(section => {
    const inSection = rows.filter(record => record.section === section)
    return section === 'connect-ca-roots' ? inSection : inSection.reverse()
  })
  let checksum = 0
  const frames = [...prefix, ...shuffled].map(record => {
    const body = packr.pack(record)
    const frame = Buffer.alloc(4 + body.length)
    frame.writeUInt32BE(body.length, 0)
    frame.set(body, 4)
    checksum = crc32c(frame, checksum)
    return frame
  })
  const end = packr.pack({ kind: 'end', records: frames.length, checksum })
  const endFrame = Buffer.alloc(4 + end.length)
  endFrame.writeUInt32BE(end.length, 0)
  endFrame.set(end, 4)
  const reordered = Buffer.concat([...frames, endFrame])
  assert.notDeepEqual(reordered, Buffer.from(data), 'the reordered snapshot differs in bytes')
  const restored = new Fsm()
  restored.restore(reordered)
  assert.deepEqual(restored.snapshot(), data)
  assert.deepEqual(readerView(restored.reader), readerView(harness.reader))
})

test('the restorer accepts arbitrary chunk boundaries', () => {
  const harness = richHarness(13)
  const data = harness.fsm.snapshot()
  const prng = new SeededPrng(99)
  for (let round = 0; round < 5; round += 1) {
    const restorer = new SnapshotRestorer()
    for (let offset = 0; offset < data.length;) {
      const length = 1 + prng.nextInt(round === 0 ? 3 : 5000)
      restorer.push(data.subarray(offset, offset + length))
      offset += length
    }
    const restored = new Fsm()
    restored.stateStore.replaceTables(restorer.finish().tables, harness.reader.appliedIndex())
    assert.deepEqual(restored.snapshot(), data)
  }
})

test('streaming yields several whole-record chunks whose concatenation is the snapshot', () => {
  const harness = new FsmHarness()
  for (let key = 0; key < 3000; key += 1) harness.apply({ type: 'kvSet', Key: `k/${key}`, Value: new Uint8Array(100).fill(key % 256), Flags: 0 })
  const chunks = [...snapshotRecords(harness.fsm.stateStore)]
  assert.ok(chunks.length > 3, `expected several chunks, got ${chunks.length}`)
  assert.deepEqual(Buffer.concat(chunks), Buffer.from(harness.fsm.snapshot()))
  const restored = restoreFromRecords(chunks)
  assert.equal(restored.appliedIndex, 3000)
  assert.equal(restored.tables.kv.size, 3000)
})

test('a streamed snapshot describes the moment it was started, even if writes follow', () => {
  const harness = richHarness(17)
  const expected = harness.fsm.snapshot()
  const iterator = snapshotRecords(harness.fsm.stateStore)
  const first = iterator.next()
  for (let key = 0; key < 50; key += 1) harness.apply({ type: 'kvSet', Key: `late/${key}`, Value: bytes('x'), Flags: 0 })
  harness.apply({ type: 'kvDelete', Key: '', Recurse: true })
  assert.ok(first.done !== true)
  const streamed = Buffer.concat([first.value, ...iterator])
  assert.deepEqual(streamed, Buffer.from(expected))
})

test('corrupt snapshots are refused and leave the live state untouched', () => {
  const harness = richHarness(14)
  const data = harness.fsm.snapshot()
  const target = new FsmHarness()
  target.apply({ type: 'kvSet', Key: 'live', Value: bytes('keep'), Flags: 0 })
  const before = target.fsm.snapshot()
  const prng = new SeededPrng(5)
  const corrupt: Array<[string, Uint8Array]> = [
    ['empty', new Uint8Array(0)],
    ['truncated inside a record', data.subarray(0, data.length - 3)],
    ['trailing garbage', Buffer.concat([data, new Uint8Array([0, 0, 0, 1, 0xc0])])],
    ['huge length prefix', new Uint8Array([0xff, 0xff, 0xff, 0xff])]
  ]
  for (let round = 0; round < 40; round += 1) {
    const flipped = data.slice()
    const offset = prng.nextInt(flipped.length)
    flipped[offset] = (flipped[offset] as number) ^ (1 + prng.nextInt(255))
    corrupt.push([`byte ${offset} flipped`, flipped])
    corrupt.push([`cut at ${offset}`, data.subarray(0, offset)])
  }
  for (const [what, bad] of corrupt) {
    assert.throws(() => restoreFromRecords([bad]), (err: { code?: string }) => err.code === 'ERR_INVALID_INPUT', what)
    assert.throws(() => target.fsm.restore(bad), AssertionError, what)
    assert.deepEqual(target.fsm.snapshot(), before, `${what}: live state unchanged`)
  }
})

test('well-formed but inconsistent snapshots are refused', () => {
  const packr = new Packr({ useRecords: false })
  const build = (records: object[]): Uint8Array => {
    const frames = records.map(record => {
      const body = packr.pack(record)
      const frame = Buffer.alloc(4 + body.length)
      frame.writeUInt32BE(body.length, 0)
      frame.set(body, 4)
      return frame
    })
    return Buffer.concat(frames)
  }
  const header = { kind: 'header', format: 'weft-fsm-snapshot', version: 1, appliedIndex: 10 }
  const indexes = tableNames.map(table => ({ kind: 'tableIndex', table, index: table === 'kvs' ? 5 : 0 }))
  const kvRow = { Key: 'k', Value: bytes('v'), Flags: 0, LockIndex: 0, CreateIndex: 1, ModifyIndex: 7 }
  const cases: Array<[string, object[], RegExp]> = [
    ['wrong version', [{ ...header, version: 2 }], /format version must be 1/],
    ['row above its table index', [header, ...indexes, { kind: 'row', section: 'kvs', row: kvRow }], /ModifyIndex 7, above the table index 5/],
    ['sections out of order', [header, ...indexes, { kind: 'row', section: 'kvs', row: { ...kvRow, ModifyIndex: 2 } }, { kind: 'row', section: 'nodes', row: {} }], /out of order/],
    ['service before its node', [header, ...indexes.map(record => ({ ...record, index: 5 })), { kind: 'row', section: 'services', row: { ID: 'w', Service: 'w', Node: 'ghost', Kind: '', Tags: [], Address: '', TaggedAddresses: {}, Meta: {}, Port: 1, SocketPath: '', Weights: { Passing: 1, Warning: 1 }, EnableTagOverride: false, Proxy: {}, Connect: {}, CreateIndex: 1, ModifyIndex: 1 } }], /unknown node "ghost"/],
    ['no end record', [header, ...indexes], /ends before its end record/],
    ['end record with a bad count', [header, ...indexes, { kind: 'end', records: 3, checksum: 0 }], /counts 3 records/]
  ]
  for (const [what, records, message] of cases) {
    assert.throws(() => restoreFromRecords([build(records)]), (err: { code?: string, message: string }) => {
      assert.equal(err.code, 'ERR_INVALID_INPUT', what)
      assert.match(err.message, message, what)
      return true
    })
  }
})

test('a restore tells listeners that every table changed', () => {
  const harness = richHarness(15)
  const data = harness.fsm.snapshot()
  const fsm = new Fsm()
  const changes: Array<{ tables: string[], index: number }> = []
  fsm.reader.onChange(change => changes.push({ tables: [...change.tables], index: change.index }))
  fsm.restore(data)
  assert.deepEqual(changes, [{ tables: [...tableNames], index: harness.reader.appliedIndex() }])
})
