/**
 * The gossip wire format (src/gossip/core/codec.ts): every message round-trips, compounds keep
 * order, and every kind of bad input (truncated, oversized, bad magic, unknown version, unknown
 * kind, trailing bytes, invalid UTF-8, bad addresses, nested compounds, lying counts) is
 * rejected with a DecodeError of the right reason. A seeded mutation fuzz checks that decoding
 * never throws anything but DecodeError.
 */
import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import {
  DecodeError, MAGIC, PROTOCOL_VERSION, decodePacket, encodeMessage, encodeMeta, encodePacket, isValidAddress, type Message
} from '../../../src/gossip/core/codec.js'
import { SeededPrng } from '../../../src/util/prng.js'

const limits = { bytesMax: 1400, metaBytesMax: 512, userPayloadBytesMax: 1024, membersMax: 1000 }
const streamLimits = { ...limits, bytesMax: 1 << 20 }

const samples: Message[] = [
  { kind: 'ping', seq: 7, target: 'n2', sourceName: 'n1', sourceAddress: '10.0.0.1:8301' },
  { kind: 'pingReq', seq: 0xffffffff, target: 'n3', targetAddress: '10.0.0.3:8301', wantNack: true, sourceName: 'n1', sourceAddress: '10.0.0.1:8301' },
  { kind: 'ack', seq: 1 },
  { kind: 'nack', seq: 2 },
  { kind: 'alive', incarnation: 3, name: 'nöde-1', address: 'host.example:8301', meta: { role: 'server', dc: 'dc1', rpc: '10.0.0.1:8300', empty: '' } },
  { kind: 'suspect', incarnation: 4, name: 'n2', from: 'n1' },
  { kind: 'dead', incarnation: 5, name: 'n2', from: 'n2' },
  { kind: 'user', origin: 'n1', epoch: 99, seq: 3, payload: new Uint8Array([1, 2, 3]) },
  {
    kind: 'pushPull',
    join: true,
    reply: false,
    sender: 'n1',
    members: [
      { name: 'n1', address: '10.0.0.1:8301', incarnation: 1, status: 'alive', meta: { role: 'client' } },
      { name: 'n2', address: '10.0.0.2:8301', incarnation: 9, status: 'left', meta: {} }
    ],
    broadcasts: [{ kind: 'user', origin: 'n2', epoch: 1, seq: 1, payload: new Uint8Array([9]) }],
    seen: [{ origin: 'n3', epoch: 2, seq: 5 }]
  }
]

function rejects (bytes: Uint8Array, reason: string, bytesMax = limits.bytesMax): void {
  assert.throws(() => decodePacket(bytes, { ...limits, bytesMax }), (err: unknown) => {
    assert.ok(err instanceof DecodeError, `expected DecodeError, got ${String(err)}`)
    assert.equal(err.reason, reason, err.message)
    return true
  })
}

describe('gossip codec', () => {
  for (const message of samples) {
    test(`${message.kind} round-trips`, () => {
      const packet = encodePacket([encodeMessage(message, 512)])
      assert.equal(packet[0], MAGIC)
      assert.equal(packet[1], PROTOCOL_VERSION)
      assert.deepEqual(decodePacket(packet, streamLimits), [message])
    })
  }

  test('a compound keeps its parts in order', () => {
    const parts = samples.slice(0, 8).map(message => encodeMessage(message, 512))
    assert.deepEqual(decodePacket(encodePacket(parts), limits), samples.slice(0, 8))
  })

  test('every strict prefix of a packet is rejected as truncated or malformed', () => {
    for (const message of samples) {
      const packet = encodePacket([encodeMessage(message, 512), encodeMessage({ kind: 'ack', seq: 1 }, 512)])
      for (let length = 0; length < packet.length; length += 1) {
        assert.throws(() => decodePacket(packet.subarray(0, length), streamLimits), (err: unknown) => {
          assert.ok(err instanceof DecodeError)
          assert.ok(err.reason === 'truncated' || err.reason === 'malformed', `${message.kind} prefix ${length}: ${err.reason}`)
          return true
        })
      }
    }
  })

  test('oversized packets, bad magic, unknown versions and kinds, trailing bytes are rejected', () => {
    const ping = encodePacket([encodeMessage(samples[0]!, 512)])
    rejects(ping, 'oversized', ping.length - 1)
    rejects(Uint8Array.from([0x58, ...ping.subarray(1)]), 'malformed')
    rejects(Uint8Array.from([MAGIC, 2, ...ping.subarray(2)]), 'unknownVersion')
    rejects(Uint8Array.from([MAGIC, PROTOCOL_VERSION, 42, 0, 0, 0, 1]), 'malformed')
    rejects(Uint8Array.from([...ping, 0]), 'malformed')
  })

  test('nested and one-part compounds are rejected', () => {
    const ack = encodeMessage({ kind: 'ack', seq: 1 }, 512)
    const inner = encodePacket([ack, ack]).subarray(2)
    rejects(Uint8Array.from([MAGIC, PROTOCOL_VERSION, 15, 2, 0, inner.length, ...inner, 0, ack.length, ...ack]), 'malformed')
    rejects(Uint8Array.from([MAGIC, PROTOCOL_VERSION, 15, 1, 0, ack.length, ...ack]), 'malformed')
  })

  test('invalid UTF-8, empty names and bad addresses are rejected', () => {
    const base = encodeMessage({ kind: 'suspect', incarnation: 1, name: 'ab', from: 'cd' }, 512)
    const badUtf8 = Uint8Array.from(base)
    badUtf8.set([0xff, 0xfe], 6)
    rejects(encodePacket([badUtf8]), 'malformed')
    const emptyName = Uint8Array.from([6, 0, 0, 0, 1, 0, 2, 0x63, 0x64])
    rejects(encodePacket([emptyName]), 'malformed')
    const ping = encodeMessage({ kind: 'ping', seq: 1, target: 'a', sourceName: 'b', sourceAddress: 'nohostport' }, 512)
    rejects(encodePacket([ping]), 'malformed')
  })

  test('meta: oversized, repeated or non-printable keys are rejected; encodeMeta enforces the same', () => {
    assert.throws(() => encodeMeta({ big: 'x'.repeat(600) }, 512), /more than 512/)
    assert.throws(() => encodeMeta({ 'has space': 'v' }, 512), /printable ASCII/)
    const alive = encodeMessage({ kind: 'alive', incarnation: 1, name: 'n', address: 'h:1', meta: { big: 'x'.repeat(600) } }, 4096)
    rejects(encodePacket([alive]), 'oversized', 4096)
    const twice = Uint8Array.from([5, 0, 0, 0, 1, 1, 0x6e, 3, 0x68, 0x3a, 0x31, 2, 1, 0x6b, 0, 0, 1, 0x6b, 0, 0])
    rejects(encodePacket([twice]), 'malformed')
  })

  test('a push/pull that claims more members than its bytes hold is rejected before allocating', () => {
    const body = Uint8Array.from([9, 0, 1, 0x6e, 0x00, 0xff, 0xff, 0xff, 0, 0, 0, 0])
    assert.throws(() => decodePacket(encodePacket([body]), { ...streamLimits, membersMax: 1e9 }), (err: unknown) => err instanceof DecodeError && err.reason === 'truncated')
    rejects(encodePacket([body]), 'oversized', 1 << 20)
  })

  test('addresses: host:port with a port in 1..65535', () => {
    for (const good of ['10.0.0.1:8301', 'host-a.example:1', '[::1]:8301']) assert.ok(isValidAddress(good), good)
    for (const bad of ['10.0.0.1', '10.0.0.1:0', '10.0.0.1:65536', ':8301', 'a b:1', 'h:12345678']) assert.ok(!isValidAddress(bad), bad)
  })

  test('seeded fuzz: mutated packets decode or throw DecodeError, nothing else', () => {
    const prng = new SeededPrng(20240601)
    const packets = [
      encodePacket(samples.slice(0, 8).map(message => encodeMessage(message, 512))),
      encodePacket([encodeMessage(samples[8]!, 512)])
    ]
    for (let round = 0; round < 20_000; round += 1) {
      const original = packets[round % packets.length]!
      const mutated = Uint8Array.from(original)
      const flips = 1 + prng.nextInt(4)
      for (let i = 0; i < flips; i += 1) mutated[prng.nextInt(mutated.length)] = prng.nextInt(256)
      const cut = prng.nextInt(4) === 0 ? mutated.subarray(0, prng.nextInt(mutated.length + 1)) : mutated
      try {
        decodePacket(cut, streamLimits)
      } catch (err) {
        assert.ok(err instanceof DecodeError, `round ${round}: ${String(err)}`)
      }
    }
  })
})
