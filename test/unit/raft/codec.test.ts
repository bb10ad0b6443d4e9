/**
 * Wire codec: every Message variant and frame kind round-trips exactly (byte fields come back
 * as plain Uint8Arrays), and malformed network input of any shape yields an error result
 * instead of throwing.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { Packr } from 'msgpackr'
import { decodeFrame, encodeFrame, validateMessage, type Frame } from '../../../src/raft/codec.js'
import type { Configuration, Message } from '../../../src/raft/core/types.js'
import { SeededPrng } from '../../../src/util/prng.js'

const configuration: Configuration = {
  voters: ['a', 'b', 'c'],
  learners: ['d'],
  addresses: { a: 'tcp://127.0.0.1:1', b: 'tcp://127.0.0.1:2', c: 'tcp://127.0.0.1:3', d: 'tcp://127.0.0.1:4' }
}

const base = { from: 'a', to: 'b', term: 7 }

const everyMessage: Message[] = [
  { ...base, type: 'preVote', lastLogIndex: 10, lastLogTerm: 6 },
  { ...base, type: 'preVoteResponse', granted: true },
  { ...base, type: 'vote', lastLogIndex: 10, lastLogTerm: 6, leadershipTransfer: false },
  { ...base, type: 'voteResponse', granted: false },
  {
    ...base,
    type: 'append',
    prevLogIndex: 4,
    prevLogTerm: 5,
    leaderCommit: 4,
    entries: [
      { term: 6, index: 5, type: 'command', data: Uint8Array.from([1, 2, 3]) },
      { term: 7, index: 6, type: 'noop', data: new Uint8Array(0) },
      { term: 7, index: 7, type: 'config', data: Uint8Array.from([9]) }
    ]
  },
  { ...base, type: 'append', prevLogIndex: 0, prevLogTerm: 0, leaderCommit: 0, entries: [] },
  { ...base, type: 'appendResponse', success: false, matchIndex: 0, rejectHintIndex: 3, rejectHintTerm: 2 },
  { ...base, type: 'heartbeat', commit: 3, readContext: 0 },
  { ...base, type: 'heartbeatResponse', readContext: 12 },
  { ...base, type: 'snapshot', meta: { index: 100, term: 6, configuration }, offset: 4, chunk: Uint8Array.from([5, 6]), totalBytes: 6, done: true },
  { ...base, type: 'snapshotResponse', snapshotIndex: 100, nextOffset: 6, success: true },
  { ...base, type: 'timeoutNow' }
]

function roundTrip (frame: Frame): Frame {
  const decoded = decodeFrame(encodeFrame(frame))
  assert.ok(decoded.ok, decoded.ok ? '' : decoded.reason)
  return decoded.frame
}

/** Encodes arbitrary data the way a hostile peer could, bypassing encodeFrame's types. */
const rawPackr = new Packr({ useRecords: false })
function decodeRaw (value: unknown): ReturnType<typeof decodeFrame> {
  return decodeFrame(rawPackr.pack(value))
}

test('every message variant round-trips exactly', () => {
  for (const message of everyMessage) {
    const frame = roundTrip({ kind: 'raft', message })
    assert.deepStrictEqual(frame, { kind: 'raft', message })
  }
})

test('byte fields come back as plain Uint8Arrays that own their memory', () => {
  const append = everyMessage[4]
  assert.ok(append !== undefined && append.type === 'append')
  const encoded = encodeFrame({ kind: 'raft', message: append })
  const decoded = decodeFrame(encoded)
  assert.ok(decoded.ok && decoded.frame.kind === 'raft' && decoded.frame.message.type === 'append')
  const data = decoded.frame.message.entries[0]?.data
  assert.ok(data !== undefined)
  assert.equal(Object.getPrototypeOf(data), Uint8Array.prototype)
  assert.equal(data.byteLength, data.buffer.byteLength, 'data must not be a view into the frame')
  encoded.fill(0)
  assert.deepStrictEqual([...data], [1, 2, 3])

  const snapshot = roundTrip({ kind: 'raft', message: everyMessage[9] as Message })
  assert.ok(snapshot.kind === 'raft' && snapshot.message.type === 'snapshot')
  assert.equal(Object.getPrototypeOf(snapshot.message.chunk), Uint8Array.prototype)
})

test('request and response frames round-trip', () => {
  const payload = { kind: 'propose', command: Uint8Array.from([1, 2]), nested: [1, 'two', null, true] }
  const request = roundTrip({ kind: 'request', id: 42, payload })
  assert.ok(request.kind === 'request')
  assert.equal(request.id, 42)
  assert.deepStrictEqual((request.payload as { nested: unknown }).nested, payload.nested)

  assert.deepStrictEqual(roundTrip({ kind: 'response', id: 1, ok: true, result: { index: 5 } }), { kind: 'response', id: 1, ok: true, result: { index: 5 } })
  const error = { code: 'ERR_NOT_LEADER', message: 'not the leader', details: { leaderHint: 'c' } }
  assert.deepStrictEqual(roundTrip({ kind: 'response', id: 2, ok: false, error }), { kind: 'response', id: 2, ok: false, error })
})

test('unknown fields are stripped from decoded messages', () => {
  // JSON.parse makes `__proto__` an own key, as a hostile encoder would send it.
  const message: unknown = { ...JSON.parse('{"__proto__": {"polluted": true}}'), ...base, type: 'timeoutNow', extra: 'x' }
  const decoded = decodeRaw({ version: 1, kind: 'raft', message })
  assert.ok(decoded.ok)
  assert.deepStrictEqual(decoded.frame, { kind: 'raft', message: { ...base, type: 'timeoutNow' } })
  assert.equal(({} as { polluted?: unknown }).polluted, undefined)
})

test('validateMessage names the offending field', () => {
  const cases: Array<[unknown, RegExp]> = [
    [null, /message must be a map/],
    [[1, 2], /message must be a map/],
    [{ ...base, type: 'nope' }, /message.type/],
    [{ ...base, type: 'timeoutNow', from: '' }, /message.from must be a non-empty string/],
    [{ ...base, type: 'timeoutNow', to: 5 }, /message.to/],
    [{ ...base, type: 'timeoutNow', from: 'x'.repeat(500) }, /message.from must be at most/],
    [{ ...base, type: 'timeoutNow', term: -1 }, /message.term must be a non-negative safe integer, got -1/],
    [{ ...base, type: 'timeoutNow', term: Number.NaN }, /message.term .* got NaN/],
    [{ ...base, type: 'timeoutNow', term: 1.5 }, /message.term/],
    [{ ...base, type: 'timeoutNow', term: 2 ** 60 }, /message.term/],
    [{ ...base, type: 'timeoutNow', term: '7' }, /message.term .* got "7"/],
    [{ ...base, type: 'timeoutNow', term: 7n }, /message.term .* got 7n/],
    [{ ...base, type: 'vote', lastLogIndex: 1, lastLogTerm: 1 }, /message.leadershipTransfer must be a boolean/],
    [{ ...base, type: 'preVote', lastLogIndex: -3, lastLogTerm: 1 }, /message.lastLogIndex/],
    [{ ...base, type: 'voteResponse', granted: 'yes' }, /message.granted must be a boolean/],
    [{ ...base, type: 'heartbeat', commit: 1 }, /message.readContext/],
    [{ ...base, type: 'appendResponse', success: true, matchIndex: 1, rejectHintIndex: 0 }, /message.rejectHintTerm/],
    [{ ...base, type: 'snapshotResponse', snapshotIndex: 1, nextOffset: Infinity, success: true }, /message.nextOffset/]
  ]
  for (const [value, pattern] of cases) {
    const result = validateMessage(value)
    assert.equal(typeof result, 'string', `expected a problem for ${String(pattern)}`)
    assert.match(result as string, pattern)
  }
})

test('append entries must be well formed and contiguous after prevLogIndex', () => {
  const append = (entries: unknown, overrides: Record<string, unknown> = {}): unknown =>
    ({ ...base, type: 'append', prevLogIndex: 4, prevLogTerm: 5, leaderCommit: 0, entries, ...overrides })
  const entry = (index: number, term: number, extra: Record<string, unknown> = {}): Record<string, unknown> =>
    ({ index, term, type: 'command', data: new Uint8Array(1), ...extra })
  const cases: Array<[unknown, RegExp]> = [
    [append('not an array'), /message.entries must be an array/],
    [append([null]), /entries\[0\] must be a map/],
    [append([entry(5, 6, { data: 'text' })]), /entries\[0\].data must be binary data/],
    [append([entry(5, 6, { data: [1, 2] })]), /entries\[0\].data must be binary data/],
    [append([entry(5, 6, { type: 'bogus' })]), /entries\[0\].type/],
    [append([entry(5, 6, { data: undefined })]), /entries\[0\].data/],
    [append([entry(6, 6)]), /entries\[0\].index must be 5, got 6/],
    [append([entry(5, 6), entry(7, 6)]), /entries\[1\].index must be 6, got 7/],
    [append([entry(5, 4)]), /entries\[0\].term 4 is lower/],
    [append([entry(5, 7), entry(6, 6)]), /entries\[1\].term 6 is lower/],
    [append([entry(5, 8)]), /exceeds message.term 7/],
    [append([entry(5, -1)]), /entries\[0\].term must be a non-negative/],
    [append([], { prevLogIndex: Number.NaN }), /message.prevLogIndex/],
    [append([], { leaderCommit: null }), /message.leaderCommit/]
  ]
  for (const [value, pattern] of cases) {
    const result = validateMessage(value)
    assert.equal(typeof result, 'string', `expected a problem for ${String(pattern)}`)
    assert.match(result as string, pattern)
  }
})

test('snapshot messages check meta, configuration and chunk bounds', () => {
  const snapshot = (overrides: Record<string, unknown>): unknown =>
    ({ ...base, type: 'snapshot', meta: { index: 10, term: 2, configuration }, offset: 0, chunk: new Uint8Array(4), totalBytes: 8, done: false, ...overrides })
  assert.equal(typeof validateMessage(snapshot({})), 'object')
  const cases: Array<[unknown, RegExp]> = [
    [snapshot({ meta: null }), /message.meta must be a map/],
    [snapshot({ meta: { index: 10, term: 2 } }), /configuration must be a map/],
    [snapshot({ meta: { index: 10, term: 2, configuration: { ...configuration, voters: 'a' } } }), /voters must be an array/],
    [snapshot({ meta: { index: 10, term: 2, configuration: { ...configuration, voters: ['a', 'a'] } } }), /lists "a" twice/],
    [snapshot({ meta: { index: 10, term: 2, configuration: { ...configuration, learners: ['a'] } } }), /both a voter and a learner/],
    [snapshot({ meta: { index: 10, term: 2, configuration: { ...configuration, addresses: { a: 'x' } } } }), /no entry for member "b"/],
    [snapshot({ meta: { index: 10, term: 2, configuration: { ...configuration, addresses: { ...configuration.addresses, a: 1 } } } }), /addresses\["a"\] must be a string/],
    [snapshot({ meta: { index: -10, term: 2, configuration } }), /message.meta.index/],
    [snapshot({ chunk: 'bytes' }), /message.chunk must be binary data/],
    [snapshot({ offset: 6 }), /exceeds message.totalBytes/],
    [snapshot({ done: true }), /message.done is set/],
    [snapshot({ done: 1 }), /message.done must be a boolean/]
  ]
  for (const [value, pattern] of cases) {
    const result = validateMessage(value)
    assert.equal(typeof result, 'string', `expected a problem for ${String(pattern)}`)
    assert.match(result as string, pattern)
  }
})

test('malformed frames are rejected with a reason', () => {
  const cases: Array<[unknown, RegExp]> = [
    ['just a string', /frame must be a map/],
    [{ kind: 'raft', message: everyMessage[0] }, /frame.version must be 1/],
    [{ version: 2, kind: 'raft', message: everyMessage[0] }, /frame.version must be 1/],
    [{ version: 1, kind: 'gossip' }, /frame.kind/],
    [{ version: 1, kind: 'raft' }, /frame.message: message must be a map/],
    [{ version: 1, kind: 'request', id: 0, payload: 1 }, /frame.id must be a positive safe integer/],
    [{ version: 1, kind: 'request', id: -1, payload: 1 }, /frame.id/],
    [{ version: 1, kind: 'request', payload: 1 }, /frame.id/],
    [{ version: 1, kind: 'response', id: 1 }, /frame.ok must be a boolean/],
    [{ version: 1, kind: 'response', id: 1, ok: false }, /frame.error must be a map/],
    [{ version: 1, kind: 'response', id: 1, ok: false, error: { code: 'BOOM', message: 'x' } }, /frame.error.code must be a string starting with ERR_/],
    [{ version: 1, kind: 'response', id: 1, ok: false, error: { code: 'ERR_X', message: 5 } }, /frame.error.message/],
    [{ version: 1, kind: 'response', id: 1, ok: false, error: { code: 'ERR_X', message: 'x', details: [1] } }, /frame.error.details must be a map/]
  ]
  for (const [value, pattern] of cases) {
    const result = decodeRaw(value)
    assert.ok(!result.ok, `expected rejection for ${String(pattern)}`)
    assert.match(result.reason, pattern)
  }
})

test('random and truncated bytes never throw', () => {
  const prng = new SeededPrng(1234)
  const valid = encodeFrame({ kind: 'raft', message: everyMessage[4] as Message })
  for (let round = 0; round < 5000; round += 1) {
    const length = prng.nextInt(64)
    const bytes = new Uint8Array(length)
    for (let position = 0; position < length; position += 1) bytes[position] = prng.nextInt(256)
    const result = decodeFrame(bytes)
    assert.equal(typeof result.ok, 'boolean')
    // Truncations and single-byte corruptions of a valid frame.
    const corrupted = Uint8Array.from(valid.subarray(0, prng.nextInt(valid.length + 1)))
    if (corrupted.length > 0) corrupted[prng.nextInt(corrupted.length)] = prng.nextInt(256)
    const corruptedResult = decodeFrame(corrupted)
    if (corruptedResult.ok) assert.ok(['raft', 'request', 'response'].includes(corruptedResult.frame.kind))
  }
  assert.equal(decodeFrame(new Uint8Array(0)).ok, false)
})

test('hostile structures are rejected without throwing', () => {
  // Deep nesting (0x91 = an array of one element, 200k levels): must not blow the stack.
  assert.equal(decodeFrame(new Uint8Array(200_000).fill(0x91)).ok, false)

  // A length prefix far beyond the buffer: array32 / bin32 / str32 claiming 4 GiB.
  for (const marker of [0xdd, 0xc6, 0xdb, 0xdf]) {
    assert.equal(decodeFrame(Uint8Array.from([marker, 0xff, 0xff, 0xff, 0xff, 0])).ok, false)
  }
  // Maps with non-string keys, prototype keys, and extension types.
  assert.equal(decodeRaw(new Map<unknown, unknown>([[1, 2]])).ok, false)
  assert.equal(decodeRaw({ version: 1, kind: 'raft', message: new Date(0) }).ok, false)
  assert.equal(decodeRaw({ version: 1, kind: 'raft', message: { ...base, type: 'timeoutNow', term: new Date(0) } }).ok, false)
  assert.equal(decodeFrame(Uint8Array.from([0xd4, 0x72, 0x00])).ok, false)
})
