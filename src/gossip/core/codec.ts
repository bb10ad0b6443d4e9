/**
 * The gossip wire format: a small big-endian binary encoding with a bounds-checked reader. Used
 * only by the SWIM core (swim.ts); the shell encrypts and frames the bytes it produces but never
 * looks inside. Every decode validates fully and throws DecodeError (never anything else) on bad
 * input, so the core can count and drop.
 *
 * Packet (one UDP datagram, or one TCP frame's plaintext), at most packetBytesMax / streamBytesMax:
 *
 *   magic u8 = 0x57 ('W') | version u8 = 1 | message
 *
 * where `message` is `kind u8 | body`, or a compound of several (UDP only, never nested):
 *
 *   kind u8 = 15 | count u8 (2..255) | count x ( length u16 | message )
 *
 * Bodies (str8 = u8 length + UTF-8, str16 = u16 length + UTF-8, bytes16 = u16 length + bytes;
 * names are 1..128 bytes, addresses `host:port` 3..255 bytes, incarnations and sequences u32):
 *
 *   1 ping      seq u32 | target str8 | sourceName str8 | sourceAddress str8
 *   2 pingReq   seq u32 | target str8 | targetAddress str8 | wantNack u8 | sourceName str8 | sourceAddress str8
 *   3 ack       seq u32
 *   4 nack      seq u32
 *   5 alive     incarnation u32 | name str8 | address str8 | meta
 *   6 suspect   incarnation u32 | name str8 | from str8
 *   7 dead      incarnation u32 | name str8 | from str8        (from == name means the member left)
 *   8 user      origin str8 | epoch u32 | seq u32 | payload bytes16
 *   9 pushPull  flags u8 (1 = join, 2 = reply) | sender str8
 *               | memberCount u32 | memberCount x (name str8 | address str8 | incarnation u32 | status u8 | meta)
 *               | broadcastCount u16 | broadcastCount x (user body)
 *               | seenCount u16 | seenCount x (origin str8 | epoch u32 | seq u32)
 *
 *   meta    = pairCount u8 | pairCount x (key str8 of printable ASCII 1..64 bytes | value str16),
 *             keys unique, whole meta at most metaBytesMax bytes
 *   status  = 0 alive | 1 suspect | 2 dead | 3 left
 *
 * Anything else (bad magic, unknown version or kind, trailing bytes, a count or length beyond the
 * remaining bytes or a limit, invalid UTF-8, a malformed address) is rejected.
 */
import type { MemberMeta, MemberStatus } from './types.js'

export const MAGIC = 0x57
export const PROTOCOL_VERSION = 1
export const PACKET_HEADER_BYTES = 2
/** Compound kind + count. */
export const COMPOUND_HEADER_BYTES = 2
/** Length prefix of each part of a compound. */
export const COMPOUND_PART_OVERHEAD_BYTES = 2
export const COMPOUND_PARTS_MAX = 255
export const NAME_BYTES_MAX = 128
const ADDRESS_BYTES_MAX = 255
const META_KEY_BYTES_MAX = 64
const META_PAIRS_MAX = 64

export const Kind = Object.freeze({
  ping: 1,
  pingReq: 2,
  ack: 3,
  nack: 4,
  alive: 5,
  suspect: 6,
  dead: 7,
  user: 8,
  pushPull: 9,
  compound: 15
} as const)

export interface PingMessage { readonly kind: 'ping', readonly seq: number, readonly target: string, readonly sourceName: string, readonly sourceAddress: string }
export interface PingReqMessage {
  readonly kind: 'pingReq'
  readonly seq: number
  readonly target: string
  readonly targetAddress: string
  readonly wantNack: boolean
  readonly sourceName: string
  readonly sourceAddress: string
}
export interface AckMessage { readonly kind: 'ack', readonly seq: number }
export interface NackMessage { readonly kind: 'nack', readonly seq: number }
export interface AliveMessage { readonly kind: 'alive', readonly incarnation: number, readonly name: string, readonly address: string, readonly meta: MemberMeta }
export interface SuspectMessage { readonly kind: 'suspect', readonly incarnation: number, readonly name: string, readonly from: string }
export interface DeadMessage { readonly kind: 'dead', readonly incarnation: number, readonly name: string, readonly from: string }
export interface BroadcastId { readonly origin: string, readonly epoch: number, readonly seq: number }
export interface UserMessage extends BroadcastId { readonly kind: 'user', readonly payload: Uint8Array }
export interface PushPullMember {
  readonly name: string
  readonly address: string
  readonly incarnation: number
  readonly status: MemberStatus
  readonly meta: MemberMeta
}
export interface PushPullMessage {
  readonly kind: 'pushPull'
  readonly join: boolean
  readonly reply: boolean
  readonly sender: string
  readonly members: readonly PushPullMember[]
  readonly broadcasts: readonly UserMessage[]
  readonly seen: readonly BroadcastId[]
}

export type Message =
  | PingMessage | PingReqMessage | AckMessage | NackMessage | AliveMessage | SuspectMessage | DeadMessage
  | UserMessage | PushPullMessage

export type DecodeFailure = 'truncated' | 'malformed' | 'oversized' | 'unknownVersion'

/** The only error decoding throws; `reason` is the drop counter to bump. */
export class DecodeError extends Error {
  override readonly name = 'DecodeError'
  constructor (readonly reason: DecodeFailure, message: string) {
    super(message)
  }
}

export interface DecodeLimits {
  readonly bytesMax: number
  readonly metaBytesMax: number
  readonly userPayloadBytesMax: number
  readonly membersMax: number
}

const STATUS_CODES: readonly MemberStatus[] = ['alive', 'suspect', 'dead', 'left']
const U32_MAX = 0xffffffff
const utf8Encoder = new TextEncoder()
const utf8Decoder = new TextDecoder('utf-8', { fatal: true })
const META_KEY_PATTERN = /^[\x21-\x7e]+$/
const ADDRESS_PATTERN = /^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+):([0-9]{1,5})$/

export function isValidAddress (address: string): boolean {
  const match = ADDRESS_PATTERN.exec(address)
  if (match === null) return false
  const port = Number(match[1])
  return port >= 1 && port <= 65535 && address.length <= ADDRESS_BYTES_MAX
}

// ---------------------------------------------------------------------------------------------
// Writer

class Writer {
  private buffer: Uint8Array
  private view: DataView
  length = 0

  constructor (initialBytes = 256) {
    this.buffer = new Uint8Array(initialBytes)
    this.view = new DataView(this.buffer.buffer)
  }

  private reserve (bytes: number): void {
    if (this.length + bytes <= this.buffer.length) return
    let size = this.buffer.length * 2
    while (size < this.length + bytes) size *= 2
    const next = new Uint8Array(size)
    next.set(this.buffer.subarray(0, this.length))
    this.buffer = next
    this.view = new DataView(next.buffer)
  }

  u8 (value: number): void {
    this.reserve(1)
    this.buffer[this.length] = value
    this.length += 1
  }

  u16 (value: number): void {
    this.reserve(2)
    this.view.setUint16(this.length, value)
    this.length += 2
  }

  u32 (value: number): void {
    if (!(Number.isInteger(value) && value >= 0 && value <= U32_MAX)) throw new RangeError(`u32 out of range: ${value}`)
    this.reserve(4)
    this.view.setUint32(this.length, value)
    this.length += 4
  }

  bytes (value: Uint8Array): void {
    this.reserve(value.length)
    this.buffer.set(value, this.length)
    this.length += value.length
  }

  str8 (value: string, what: string): void {
    const encoded = utf8Encoder.encode(value)
    if (encoded.length > 255) throw new RangeError(`${what} is ${encoded.length} bytes encoded, more than 255`)
    this.u8(encoded.length)
    this.bytes(encoded)
  }

  str16 (value: string, what: string): void {
    const encoded = utf8Encoder.encode(value)
    if (encoded.length > 0xffff) throw new RangeError(`${what} is ${encoded.length} bytes encoded, more than 65535`)
    this.u16(encoded.length)
    this.bytes(encoded)
  }

  bytes16 (value: Uint8Array): void {
    if (value.length > 0xffff) throw new RangeError(`payload is ${value.length} bytes, more than 65535`)
    this.u16(value.length)
    this.bytes(value)
  }

  finish (): Uint8Array {
    return this.buffer.slice(0, this.length)
  }
}

// ---------------------------------------------------------------------------------------------
// Reader

class Reader {
  private offset = 0
  private readonly view: DataView

  constructor (private readonly buffer: Uint8Array, private readonly end = buffer.length) {
    this.view = new DataView(buffer.buffer, buffer.byteOffset, buffer.byteLength)
  }

  get remaining (): number {
    return this.end - this.offset
  }

  private need (bytes: number, what: string): void {
    if (this.offset + bytes > this.end) throw new DecodeError('truncated', `${what}: needs ${bytes} bytes, ${this.end - this.offset} left`)
  }

  u8 (what: string): number {
    this.need(1, what)
    const value = this.buffer[this.offset]!
    this.offset += 1
    return value
  }

  u16 (what: string): number {
    this.need(2, what)
    const value = this.view.getUint16(this.offset)
    this.offset += 2
    return value
  }

  u32 (what: string): number {
    this.need(4, what)
    const value = this.view.getUint32(this.offset)
    this.offset += 4
    return value
  }

  bytes (length: number, what: string): Uint8Array {
    this.need(length, what)
    const value = this.buffer.slice(this.offset, this.offset + length)
    this.offset += length
    return value
  }

  text (length: number, what: string): string {
    this.need(length, what)
    try {
      const value = utf8Decoder.decode(this.buffer.subarray(this.offset, this.offset + length))
      this.offset += length
      return value
    } catch {
      throw new DecodeError('malformed', `${what} is not valid UTF-8`)
    }
  }

  str8 (what: string): string {
    return this.text(this.u8(`${what} length`), what)
  }

  str16 (what: string): string {
    return this.text(this.u16(`${what} length`), what)
  }

  /** A sub-reader over the next `length` bytes; this reader skips past them. */
  slice (length: number, what: string): Reader {
    this.need(length, what)
    const sub = new Reader(this.buffer.subarray(this.offset, this.offset + length))
    this.offset += length
    return sub
  }

  expectEnd (what: string): void {
    if (this.offset !== this.end) throw new DecodeError('malformed', `${what}: ${this.end - this.offset} trailing bytes`)
  }
}

function malformed (message: string): never {
  throw new DecodeError('malformed', message)
}

function readName (reader: Reader, what: string): string {
  const length = reader.u8(`${what} length`)
  if (length === 0 || length > NAME_BYTES_MAX) malformed(`${what} must be 1..${NAME_BYTES_MAX} bytes, got ${length}`)
  return reader.text(length, what)
}

function readAddress (reader: Reader, what: string): string {
  const address = reader.str8(what)
  if (!isValidAddress(address)) malformed(`${what} ${JSON.stringify(address.slice(0, 64))} is not host:port`)
  return address
}

// ---------------------------------------------------------------------------------------------
// Meta

/** Throws RangeError naming the problem; callers turn it into their own error. */
export function encodeMeta (meta: MemberMeta, metaBytesMax: number): Uint8Array {
  const entries = Object.entries(meta)
  if (entries.length > META_PAIRS_MAX) throw new RangeError(`meta has ${entries.length} keys, more than ${META_PAIRS_MAX}`)
  const writer = new Writer(64)
  writer.u8(entries.length)
  for (const [key, value] of entries) {
    if (typeof value !== 'string') throw new RangeError(`meta value for ${JSON.stringify(key)} must be a string, got ${typeof value}`)
    if (key.length === 0 || key.length > META_KEY_BYTES_MAX || !META_KEY_PATTERN.test(key)) {
      throw new RangeError(`meta key ${JSON.stringify(key)} must be 1..${META_KEY_BYTES_MAX} printable ASCII characters without spaces`)
    }
    writer.str8(key, 'meta key')
    writer.str16(value, `meta value for ${key}`)
  }
  const bytes = writer.finish()
  if (bytes.length > metaBytesMax) throw new RangeError(`meta is ${bytes.length} bytes encoded, more than ${metaBytesMax}`)
  return bytes
}

function readMeta (reader: Reader, metaBytesMax: number): MemberMeta {
  const before = reader.remaining
  const count = reader.u8('meta count')
  if (count > META_PAIRS_MAX) malformed(`meta has ${count} keys, more than ${META_PAIRS_MAX}`)
  const entries: Array<[string, string]> = []
  const seen = new Set<string>()
  for (let i = 0; i < count; i += 1) {
    const key = reader.str8('meta key')
    if (key.length === 0 || key.length > META_KEY_BYTES_MAX || !META_KEY_PATTERN.test(key)) malformed('meta key is not 1..64 printable ASCII characters')
    if (seen.has(key)) malformed(`meta key ${JSON.stringify(key)} repeats`)
    seen.add(key)
    entries.push([key, reader.str16('meta value')])
    if (before - reader.remaining > metaBytesMax) throw new DecodeError('oversized', `meta exceeds ${metaBytesMax} bytes`)
  }
  return Object.freeze(Object.fromEntries(entries))
}

function writeMetaBytes (writer: Writer, metaBytes: Uint8Array): void {
  writer.bytes(metaBytes)
}

// ---------------------------------------------------------------------------------------------
// Encoding

/**
 * Encodes one message without the packet header (`kind | body`), ready to be a compound part or
 * a queued broadcast. Alive messages take their meta pre-encoded (encodeMeta) so a member's meta
 * is validated and encoded once.
 */
export function encodeMessage (message: Message, metaBytesMax: number): Uint8Array {
  const writer = new Writer(message.kind === 'pushPull' ? 4096 : 128)
  writeMessage(writer, message, metaBytesMax)
  return writer.finish()
}

function writeMessage (writer: Writer, message: Message, metaBytesMax: number): void {
  switch (message.kind) {
    case 'ping':
      writer.u8(Kind.ping)
      writer.u32(message.seq)
      writer.str8(message.target, 'target')
      writer.str8(message.sourceName, 'source name')
      writer.str8(message.sourceAddress, 'source address')
      return
    case 'pingReq':
      writer.u8(Kind.pingReq)
      writer.u32(message.seq)
      writer.str8(message.target, 'target')
      writer.str8(message.targetAddress, 'target address')
      writer.u8(message.wantNack ? 1 : 0)
      writer.str8(message.sourceName, 'source name')
      writer.str8(message.sourceAddress, 'source address')
      return
    case 'ack':
    case 'nack':
      writer.u8(message.kind === 'ack' ? Kind.ack : Kind.nack)
      writer.u32(message.seq)
      return
    case 'alive':
      writer.u8(Kind.alive)
      writer.u32(message.incarnation)
      writer.str8(message.name, 'name')
      writer.str8(message.address, 'address')
      writeMetaBytes(writer, encodeMeta(message.meta, metaBytesMax))
      return
    case 'suspect':
    case 'dead':
      writer.u8(message.kind === 'suspect' ? Kind.suspect : Kind.dead)
      writer.u32(message.incarnation)
      writer.str8(message.name, 'name')
      writer.str8(message.from, 'from')
      return
    case 'user':
      writer.u8(Kind.user)
      writeUserBody(writer, message)
      return
    case 'pushPull':
      writePushPull(writer, message, metaBytesMax)
      return
  }
}

function writeUserBody (writer: Writer, message: UserMessage): void {
  writer.str8(message.origin, 'origin')
  writer.u32(message.epoch)
  writer.u32(message.seq)
  writer.bytes16(message.payload)
}

function writePushPull (writer: Writer, message: PushPullMessage, metaBytesMax: number): void {
  writer.u8(Kind.pushPull)
  writer.u8((message.join ? 1 : 0) | (message.reply ? 2 : 0))
  writer.str8(message.sender, 'sender')
  writer.u32(message.members.length)
  for (const member of message.members) {
    writer.str8(member.name, 'member name')
    writer.str8(member.address, 'member address')
    writer.u32(member.incarnation)
    writer.u8(STATUS_CODES.indexOf(member.status))
    writeMetaBytes(writer, encodeMeta(member.meta, metaBytesMax))
  }
  writer.u16(message.broadcasts.length)
  for (const broadcast of message.broadcasts) writeUserBody(writer, broadcast)
  writer.u16(message.seen.length)
  for (const id of message.seen) {
    writer.str8(id.origin, 'origin')
    writer.u32(id.epoch)
    writer.u32(id.seq)
  }
}

/** Wraps encoded messages (encodeMessage) into one packet: a plain message, or a compound. */
export function encodePacket (parts: readonly Uint8Array[]): Uint8Array {
  if (parts.length === 0 || parts.length > COMPOUND_PARTS_MAX) throw new RangeError(`a packet holds 1..${COMPOUND_PARTS_MAX} messages, got ${parts.length}`)
  const single = parts.length === 1
  let size = PACKET_HEADER_BYTES + (single ? 0 : COMPOUND_HEADER_BYTES)
  for (const part of parts) size += part.length + (single ? 0 : COMPOUND_PART_OVERHEAD_BYTES)
  const out = new Uint8Array(size)
  out[0] = MAGIC
  out[1] = PROTOCOL_VERSION
  if (single) {
    out.set(parts[0]!, PACKET_HEADER_BYTES)
    return out
  }
  out[2] = Kind.compound
  out[3] = parts.length
  let offset = PACKET_HEADER_BYTES + COMPOUND_HEADER_BYTES
  for (const part of parts) {
    if (part.length > 0xffff) throw new RangeError(`compound part of ${part.length} bytes`)
    out[offset] = part.length >>> 8
    out[offset + 1] = part.length & 0xff
    out.set(part, offset + 2)
    offset += part.length + 2
  }
  return out
}

// ---------------------------------------------------------------------------------------------
// Decoding

/** Decodes one packet into its messages (one, or a compound's parts in order). */
export function decodePacket (bytes: Uint8Array, limits: DecodeLimits): Message[] {
  if (bytes.length > limits.bytesMax) throw new DecodeError('oversized', `packet of ${bytes.length} bytes exceeds ${limits.bytesMax}`)
  const reader = new Reader(bytes)
  const magic = reader.u8('magic')
  if (magic !== MAGIC) malformed(`bad magic byte 0x${magic.toString(16)}`)
  const version = reader.u8('version')
  if (version !== PROTOCOL_VERSION) throw new DecodeError('unknownVersion', `protocol version ${version}, this member speaks ${PROTOCOL_VERSION}`)
  const messages: Message[] = []
  const kind = reader.u8('kind')
  if (kind !== Kind.compound) {
    messages.push(readBody(reader, kind, limits))
    reader.expectEnd('message')
    return messages
  }
  const count = reader.u8('compound count')
  if (count < 2) malformed(`compound of ${count} parts`)
  for (let i = 0; i < count; i += 1) {
    const length = reader.u16('compound part length')
    const part = reader.slice(length, 'compound part')
    const partKind = part.u8('part kind')
    if (partKind === Kind.compound) malformed('nested compound')
    messages.push(readBody(part, partKind, limits))
    part.expectEnd('compound part')
  }
  reader.expectEnd('compound')
  return messages
}

function readBody (reader: Reader, kind: number, limits: DecodeLimits): Message {
  switch (kind) {
    case Kind.ping:
      return { kind: 'ping', seq: reader.u32('seq'), target: readName(reader, 'target'), sourceName: readName(reader, 'source name'), sourceAddress: readAddress(reader, 'source address') }
    case Kind.pingReq: {
      const seq = reader.u32('seq')
      const target = readName(reader, 'target')
      const targetAddress = readAddress(reader, 'target address')
      const wantNack = reader.u8('wantNack')
      if (wantNack > 1) malformed(`wantNack must be 0 or 1, got ${wantNack}`)
      return { kind: 'pingReq', seq, target, targetAddress, wantNack: wantNack === 1, sourceName: readName(reader, 'source name'), sourceAddress: readAddress(reader, 'source address') }
    }
    case Kind.ack:
      return { kind: 'ack', seq: reader.u32('seq') }
    case Kind.nack:
      return { kind: 'nack', seq: reader.u32('seq') }
    case Kind.alive:
      return { kind: 'alive', incarnation: reader.u32('incarnation'), name: readName(reader, 'name'), address: readAddress(reader, 'address'), meta: readMeta(reader, limits.metaBytesMax) }
    case Kind.suspect:
    case Kind.dead:
      return { kind: kind === Kind.suspect ? 'suspect' : 'dead', incarnation: reader.u32('incarnation'), name: readName(reader, 'name'), from: readName(reader, 'from') }
    case Kind.user:
      return readUserBody(reader, limits)
    case Kind.pushPull:
      return readPushPull(reader, limits)
    default:
      return malformed(`unknown message kind ${kind}`)
  }
}

function readUserBody (reader: Reader, limits: DecodeLimits): UserMessage {
  const origin = readName(reader, 'origin')
  const epoch = reader.u32('epoch')
  const seq = reader.u32('seq')
  const length = reader.u16('payload length')
  if (length > limits.userPayloadBytesMax) throw new DecodeError('oversized', `user payload of ${length} bytes exceeds ${limits.userPayloadBytesMax}`)
  return { kind: 'user', origin, epoch, seq, payload: reader.bytes(length, 'payload') }
}

function readPushPull (reader: Reader, limits: DecodeLimits): PushPullMessage {
  const flags = reader.u8('flags')
  if ((flags & ~3) !== 0) malformed(`unknown push/pull flags 0x${flags.toString(16)}`)
  const sender = readName(reader, 'sender')
  const memberCount = reader.u32('member count')
  if (memberCount > limits.membersMax) throw new DecodeError('oversized', `push/pull of ${memberCount} members exceeds ${limits.membersMax}`)
  // Each member needs at least 11 bytes; a count the remaining bytes cannot hold is a lie.
  if (memberCount * 11 > reader.remaining) throw new DecodeError('truncated', `push/pull claims ${memberCount} members in ${reader.remaining} bytes`)
  const members: PushPullMember[] = []
  const names = new Set<string>()
  for (let i = 0; i < memberCount; i += 1) {
    const name = readName(reader, 'member name')
    if (names.has(name)) malformed(`push/pull lists ${JSON.stringify(name)} twice`)
    names.add(name)
    const address = readAddress(reader, 'member address')
    const incarnation = reader.u32('member incarnation')
    const statusCode = reader.u8('member status')
    const status = STATUS_CODES[statusCode]
    if (status === undefined) malformed(`unknown member status ${statusCode}`)
    members.push({ name, address, incarnation, status, meta: readMeta(reader, limits.metaBytesMax) })
  }
  const broadcastCount = reader.u16('broadcast count')
  const broadcasts: UserMessage[] = []
  for (let i = 0; i < broadcastCount; i += 1) broadcasts.push(readUserBody(reader, limits))
  const seenCount = reader.u16('seen count')
  const seen: BroadcastId[] = []
  for (let i = 0; i < seenCount; i += 1) seen.push({ origin: readName(reader, 'origin'), epoch: reader.u32('epoch'), seq: reader.u32('seq') })
  return { kind: 'pushPull', join: (flags & 1) !== 0, reply: (flags & 2) !== 0, sender, members, broadcasts, seen }
}
