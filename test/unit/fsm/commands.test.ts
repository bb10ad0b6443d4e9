/**
 * Command codec: every command type round-trips; encoding is canonical (map key order does
 * not matter); malformed input of any shape is refused with ERR_INVALID_INPUT on encode and
 * decode; and the FSM turns an undecodable committed entry into an AssertionError.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { Packr } from 'msgpackr'
import { commandFormatVersion, decodeCommand, encodeCommand, type Command, type CommandType } from '../../../src/fsm/commands.js'
import { Fsm } from '../../../src/fsm/fsm.js'
import { AssertionError } from '../../../src/util/assert.js'
import { SeededPrng } from '../../../src/util/prng.js'
import { aclPolicy, aclToken, bytes, caConfig, caRoot, check, intention, randomCommand, registration, service } from './helpers.js'

const everyCommand: Command[] = [
  { type: 'noop' },
  { type: 'kvSet', Key: 'a/b', Value: bytes('1'), Flags: 5 },
  { type: 'kvSet', Key: 'a/b', Value: bytes(''), Flags: 0, Cas: 0 },
  { type: 'kvDelete', Key: '', Recurse: true },
  { type: 'kvDelete', Key: 'k', Recurse: false, Cas: 3 },
  { type: 'kvTxn', Ops: [{ Verb: 'set', Key: 'k', Value: bytes('v'), Flags: 1 }, { Verb: 'delete-cas', Key: 'k', Index: 2 }, { Verb: 'get-tree', Key: '' }] },
  { type: 'catalogRegister', Registration: registration({ Service: service({ Proxy: { Upstreams: [{ DestinationName: 'db', LocalBindPort: 9191 }] } }), Checks: [check({ Definition: { HTTP: 'http://x', Header: { A: ['b'] } } })] }) },
  { type: 'catalogDeregister', Deregistration: { Node: 'alpha', Target: 'check', CheckID: 'c' } },
  { type: 'intentionUpsert', Mode: 'upsert', Intention: intention({ Meta: { b: '2', a: '1' } }) },
  { type: 'intentionDelete', Target: { By: 'pair', SourceNS: 'default', SourceName: 'web', DestinationNS: 'default', DestinationName: 'db' } },
  { type: 'caSetConfig', Config: caConfig(), Cas: 0 },
  { type: 'caSetRoots', Roots: [caRoot()], Cas: 4, Config: caConfig() },
  { type: 'caSetProviderState', State: { ID: 'p', PrivateKey: 'k', RootCert: 'r', IntermediateCert: '' } },
  { type: 'caDeleteProviderState', ID: 'p' },
  { type: 'caIncrementSerial' },
  { type: 'aclTokenSet', Token: aclToken({ PolicyIDs: ['p1'], ServiceIdentities: [{ ServiceName: 'web', Datacenters: ['dc1'] }], NodeIdentities: [{ NodeName: 'n', Datacenter: 'dc1' }] }) },
  { type: 'aclTokenDelete', AccessorID: 'a' },
  { type: 'aclPolicySet', Policy: aclPolicy() },
  { type: 'aclPolicyDelete', ID: 'p' },
  { type: 'setClusterMeta', Entries: [{ Key: 'cluster-id', Value: 'x' }], IfAbsent: true },
  { type: 'restoreChunk', Session: '6f1a2c9e-2b7d-4f0c-9d4a-1e5b7c3a9f10', Seq: 3, Data: Uint8Array.from([0, 1, 2, 255]) },
  { type: 'restoreFinish', Session: 's', Chunks: 4, Bytes: 4_000_000, Crc32c: 0xffff_ffff },
  { type: 'restoreAbort', Session: 's' }
]

test('every command type round-trips through encode and decode', () => {
  const covered = new Set<CommandType>()
  for (const command of everyCommand) {
    const decoded = decodeCommand(encodeCommand(command))
    assert.deepEqual(decoded, command, command.type)
    assert.deepEqual(encodeCommand(decoded), encodeCommand(command), `${command.type}: re-encoding gives the same bytes`)
    covered.add(command.type)
  }
  assert.equal(covered.size, 21, 'every command type is covered')
})

test('decoded byte fields are plain, owned Uint8Arrays', () => {
  const decoded = decodeCommand(encodeCommand({ type: 'kvSet', Key: 'k', Value: bytes('value'), Flags: 0 }))
  assert.ok(decoded.type === 'kvSet')
  assert.equal(decoded.Value.buffer.byteLength, 5, 'not a view into the entry buffer')
})

test('encoding is canonical: plain-data maps encode in sorted key order', () => {
  const a = encodeCommand({ type: 'intentionUpsert', Mode: 'create', Intention: intention({ Meta: { z: '1', a: '2' }, Permissions: [] }) })
  const b = encodeCommand({ type: 'intentionUpsert', Mode: 'create', Intention: { ...intention(), Meta: { a: '2', z: '1' } } })
  assert.deepEqual(a, b)
  const c = encodeCommand({ type: 'catalogRegister', Registration: registration({ Service: service({ Proxy: { y: 1, x: { b: 2, a: 1 } } }) }) })
  const d = encodeCommand({ type: 'catalogRegister', Registration: registration({ Service: service({ Proxy: { x: { a: 1, b: 2 }, y: 1 } }) }) })
  assert.deepEqual(c, d)
})

test('unknown fields are dropped and absent optional fields stay absent', () => {
  const command = { type: 'kvSet', Key: 'k', Value: bytes('v'), Flags: 0, Extra: 'ignored' } as unknown as Command
  const decoded = decodeCommand(encodeCommand(command))
  assert.deepEqual(Object.keys(decoded), ['type', 'Key', 'Value', 'Flags'])
})

test('encode refuses malformed commands with a message naming the field', () => {
  const cases: Array<[unknown, RegExp]> = [
    [{ type: 'nope' }, /command.type must be a known command type, got "nope"/],
    [{ type: 'kvSet', Key: '', Value: bytes('v'), Flags: 0 }, /kvSet.Key must be a non-empty string/],
    [{ type: 'kvSet', Key: 'k', Value: 'text', Flags: 0 }, /kvSet.Value must be binary data/],
    [{ type: 'kvSet', Key: 'k', Value: bytes('v'), Flags: -1 }, /kvSet.Flags must be a non-negative safe integer, got -1/],
    [{ type: 'kvSet', Key: 'k', Value: bytes('v'), Flags: 2 ** 53 }, /kvSet.Flags/],
    [{ type: 'kvDelete', Key: 'k', Recurse: true, Cas: 1 }, /kvDelete.Cas must be absent when Recurse is set/],
    [{ type: 'kvTxn', Ops: Array.from({ length: 129 }, () => ({ Verb: 'get', Key: 'k' })) }, /kvTxn.Ops must be an array of at most 128 items/],
    [{ type: 'kvTxn', Ops: [{ Verb: 'lock', Key: 'k' }] }, /kvTxn.Ops\[0\].Verb must be one of/],
    [{ type: 'catalogRegister', Registration: registration({ Checks: [check({ Status: 'ok' as 'passing' })] }) }, /Checks\[0\].Status must be one of "passing", "warning", "critical"/],
    [{ type: 'catalogRegister', Registration: registration({ Service: service({ Port: 70000 }) }) }, /Service.Port must be an integer in 0..65535/],
    [{ type: 'catalogRegister', Registration: registration({ Service: service({ Proxy: { f: () => 1 } as never }) }) }, /Proxy\["f"\] must be plain data/],
    [{ type: 'catalogRegister', Registration: registration({ Service: service({ Meta: { n: 1 } as never }) }) }, /Meta\["n"\] must be a string/],
    [{ type: 'intentionUpsert', Mode: 'create', Intention: intention({ Action: '' }) }, /Intention.Action must be "allow" or "deny" without Permissions/],
    [{ type: 'setClusterMeta', Entries: [{ Key: 'a', Value: '1' }, { Key: 'a', Value: '2' }], IfAbsent: false }, /distinct keys/],
    [{ type: 'caSetConfig', Config: caConfig({ Config: { ttl: Number.NaN } }) }, /must be a finite number/]
  ]
  for (const [command, message] of cases) {
    assert.throws(() => encodeCommand(command as Command), (err: { code?: string, message: string }) => {
      assert.equal(err.code, 'ERR_INVALID_INPUT')
      assert.match(err.message, message)
      return true
    })
  }
})

test('decode refuses garbage of every kind with ERR_INVALID_INPUT', () => {
  const packr = new Packr({ useRecords: false })
  const framed = (value: unknown): Uint8Array => {
    const body = packr.pack(value)
    const out = new Uint8Array(body.length + 1)
    out[0] = commandFormatVersion
    out.set(body, 1)
    return out
  }
  const deep: Record<string, unknown> = {}
  let cursor = deep
  for (let depth = 0; depth < 100; depth += 1) cursor = (cursor.x = {}) as Record<string, unknown>
  const garbage: Uint8Array[] = [
    new Uint8Array(0),
    new Uint8Array([commandFormatVersion]),
    new Uint8Array([9, 0x80]),
    new Uint8Array([commandFormatVersion, 0xc1]),
    new Uint8Array([commandFormatVersion, 0xdd, 0xff, 0xff, 0xff, 0xff]),
    framed(42),
    framed([1, 2]),
    framed({ type: 'kvSet', Key: 'k' }),
    framed({ type: 'kvSet', Key: 'k', Value: bytes('v'), Flags: 2n ** 60n }),
    framed({ type: 'caSetConfig', Config: { ...caConfig(), Config: deep } }),
    framed({ type: 'caSetConfig', Config: { ...caConfig(), Config: { when: new Date(0) } } })
  ]
  const prng = new SeededPrng(7)
  for (let round = 0; round < 300; round += 1) {
    const valid = encodeCommand(randomCommand(prng, 10))
    const damaged = valid.slice(0, 1 + prng.nextInt(valid.length - 1))
    if (damaged.length < valid.length) garbage.push(damaged)
  }
  for (const data of garbage) {
    assert.throws(() => decodeCommand(data), (err: { code?: string }) => err.code === 'ERR_INVALID_INPUT', `bytes ${Buffer.from(data).toString('hex').slice(0, 40)}`)
  }
})

test('the FSM stops (AssertionError) on an undecodable committed entry and changes nothing', () => {
  const fsm = new Fsm()
  const before = fsm.snapshot()
  assert.throws(() => fsm.apply({ index: 1, term: 1, type: 'command', data: new Uint8Array([commandFormatVersion, 0xc1]) }), (err: unknown) => {
    assert.ok(err instanceof AssertionError)
    assert.match(err.message, /committed entry 1 \(term 1\) is not a valid command/)
    return true
  })
  assert.deepEqual(fsm.snapshot(), before)
  assert.equal(fsm.reader.appliedIndex(), 0)
})

test('the FSM asserts on non-command entries and on indexes that do not increase', () => {
  const fsm = new Fsm()
  assert.throws(() => fsm.apply({ index: 1, term: 1, type: 'noop', data: new Uint8Array(0) }), AssertionError)
  fsm.apply({ index: 5, term: 1, type: 'command', data: encodeCommand({ type: 'noop' }) })
  assert.equal(fsm.reader.appliedIndex(), 5)
  assert.throws(() => fsm.apply({ index: 5, term: 1, type: 'command', data: encodeCommand({ type: 'noop' }) }), AssertionError)
  assert.throws(() => fsm.apply({ index: 3, term: 1, type: 'command', data: encodeCommand({ type: 'noop' }) }), AssertionError)
})
