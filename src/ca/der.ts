/**
 * A minimal ASN.1 DER encoder and reader, just enough for X.509 certificates and PKCS#10 CSRs.
 *
 * The encoder builds each element with one allocation from already-encoded children, so callers
 * on the hot path (leaf-signer.ts) can precompute constant elements once and splice byte slices.
 * The reader is strict about DER framing (single-byte tags, definite minimal lengths, no bytes
 * past an element) and reports problems as `DerFormatError` with the offset; the parsers in
 * certs.ts and csr.ts turn that into a ControlPlaneError naming the input field.
 *
 * Called by: certs.ts, csr.ts, leaf-signer.ts, extensions.ts, algorithms.ts.
 */
import { Buffer } from 'node:buffer'
import { assert } from '../util/assert.js'

export const TAG = {
  boolean: 0x01,
  integer: 0x02,
  bitString: 0x03,
  octetString: 0x04,
  null: 0x05,
  oid: 0x06,
  utf8String: 0x0c,
  printableString: 0x13,
  ia5String: 0x16,
  utcTime: 0x17,
  generalizedTime: 0x18,
  sequence: 0x30,
  set: 0x31
} as const

/** Identifier octet of a context-specific tag `[number]`, constructed or primitive. */
export function contextTag (number: number, constructed: boolean): number {
  assert(Number.isInteger(number) && number >= 0 && number <= 30, `context tag number must be in 0..30, got ${number}`)
  return (constructed ? 0xa0 : 0x80) | number
}

// ---------------------------------------------------------------------------------------------
// Encoder
// ---------------------------------------------------------------------------------------------

/** Number of bytes the length field takes for a content of `length` bytes. */
function lengthFieldBytes (length: number): number {
  if (length < 0x80) return 1
  let count = 1
  for (let rest = length; rest > 0; rest = Math.floor(rest / 256)) count += 1
  return count
}

function writeLength (out: Uint8Array, offset: number, length: number): number {
  if (length < 0x80) {
    out[offset] = length
    return offset + 1
  }
  const octets = lengthFieldBytes(length) - 1
  out[offset] = 0x80 | octets
  for (let i = octets; i >= 1; i -= 1) {
    out[offset + i] = length & 0xff
    length = Math.floor(length / 256)
  }
  return offset + 1 + octets
}

/** One element: tag, definite length, then the concatenation of `parts` as content. */
export function tlv (tag: number, ...parts: readonly Uint8Array[]): Uint8Array {
  assert(Number.isInteger(tag) && tag >= 0 && tag <= 0xff && (tag & 0x1f) !== 0x1f, `tag must be a single-byte tag, got ${tag}`)
  let contentLength = 0
  for (const part of parts) contentLength += part.length
  const out = new Uint8Array(1 + lengthFieldBytes(contentLength) + contentLength)
  out[0] = tag
  let offset = writeLength(out, 1, contentLength)
  for (const part of parts) {
    out.set(part, offset)
    offset += part.length
  }
  assert(offset === out.length, 'tlv: encoded size mismatch')
  return out
}

/** The header (tag + length) of an element whose content is `contentLength` bytes. */
export function header (tag: number, contentLength: number): Uint8Array {
  const out = new Uint8Array(1 + lengthFieldBytes(contentLength))
  out[0] = tag
  writeLength(out, 1, contentLength)
  return out
}

export function concatBytes (parts: readonly Uint8Array[]): Uint8Array {
  let length = 0
  for (const part of parts) length += part.length
  const out = new Uint8Array(length)
  let offset = 0
  for (const part of parts) {
    out.set(part, offset)
    offset += part.length
  }
  return out
}

export function sequence (...items: readonly Uint8Array[]): Uint8Array {
  return tlv(TAG.sequence, ...items)
}

/** A DER SET OF: members sorted by their encodings, as X.690 §11.6 requires. */
export function setOf (...items: readonly Uint8Array[]): Uint8Array {
  const sorted = [...items].sort(compareBytes)
  return tlv(TAG.set, ...sorted)
}

function compareBytes (left: Uint8Array, right: Uint8Array): number {
  const length = Math.min(left.length, right.length)
  for (let i = 0; i < length; i += 1) {
    const difference = left[i]! - right[i]!
    if (difference !== 0) return difference
  }
  return left.length - right.length
}

/** Two's-complement minimal content octets of an INTEGER. */
export function integerContent (value: bigint | number): Uint8Array {
  let big: bigint
  if (typeof value === 'number') {
    assert(Number.isSafeInteger(value), `INTEGER must be a safe integer, got ${value}`)
    big = BigInt(value)
  } else {
    big = value
  }
  if (big >= 0n) {
    const hex = big.toString(16)
    const magnitude = hexToBytes(hex.length % 2 === 1 ? `0${hex}` : hex)
    // A set high bit would read as negative: prefix 0x00 to keep the value positive.
    return magnitude[0]! >= 0x80 ? concatBytes([new Uint8Array([0]), magnitude]) : magnitude
  }
  let byteCount = 1
  while (big < -(1n << BigInt(8 * byteCount - 1))) byteCount += 1
  const twosComplement = (1n << BigInt(8 * byteCount)) + big
  return hexToBytes(twosComplement.toString(16).padStart(byteCount * 2, '0'))
}

export function integer (value: bigint | number): Uint8Array {
  return tlv(TAG.integer, integerContent(value))
}

/** INTEGER from an unsigned big-endian magnitude (leading zero bytes are dropped). */
export function unsignedInteger (magnitude: Uint8Array): Uint8Array {
  let start = 0
  while (start < magnitude.length - 1 && magnitude[start] === 0) start += 1
  const trimmed = magnitude.subarray(start)
  if (trimmed.length === 0) return tlv(TAG.integer, new Uint8Array([0]))
  return trimmed[0]! >= 0x80 ? tlv(TAG.integer, new Uint8Array([0]), trimmed) : tlv(TAG.integer, trimmed)
}

export function oid (dotted: string): Uint8Array {
  const arcs = dotted.split('.').map(Number)
  assert(arcs.length >= 2, `OID needs at least two arcs, got "${dotted}"`)
  for (const arc of arcs) assert(Number.isSafeInteger(arc) && arc >= 0, `OID arc must be a non-negative integer in "${dotted}"`)
  const first = arcs[0]!
  const second = arcs[1]!
  assert(first <= 2 && (first === 2 || second < 40), `OID "${dotted}" has invalid first arcs`)
  const bytes: number[] = []
  for (const arc of [first * 40 + second, ...arcs.slice(2)]) {
    const chunk: number[] = [arc % 128]
    for (let rest = Math.floor(arc / 128); rest > 0; rest = Math.floor(rest / 128)) chunk.unshift(0x80 | (rest % 128))
    bytes.push(...chunk)
  }
  return tlv(TAG.oid, new Uint8Array(bytes))
}

export function bitString (bytes: Uint8Array, unusedBits = 0): Uint8Array {
  assert(Number.isInteger(unusedBits) && unusedBits >= 0 && unusedBits <= 7, `BIT STRING unused bits must be 0..7, got ${unusedBits}`)
  assert(bytes.length > 0 || unusedBits === 0, 'an empty BIT STRING has no unused bits')
  return tlv(TAG.bitString, new Uint8Array([unusedBits]), bytes)
}

/**
 * A named-bit-list BIT STRING (KeyUsage): bit 0 is the most significant bit of the first byte,
 * and DER drops trailing zero bits (X.690 §11.2.2).
 */
export function namedBitString (bits: readonly number[]): Uint8Array {
  if (bits.length === 0) return bitString(new Uint8Array(0))
  const highest = Math.max(...bits)
  const bytes = new Uint8Array(Math.floor(highest / 8) + 1)
  for (const bit of bits) {
    assert(Number.isInteger(bit) && bit >= 0, `named bit must be a non-negative integer, got ${bit}`)
    bytes[bit >> 3]! |= 0x80 >> (bit & 7)
  }
  return bitString(bytes, 7 - (highest & 7))
}

export function octetString (bytes: Uint8Array): Uint8Array {
  return tlv(TAG.octetString, bytes)
}

export function nullValue (): Uint8Array {
  return new Uint8Array([TAG.null, 0])
}

export function boolean (value: boolean): Uint8Array {
  return new Uint8Array([TAG.boolean, 1, value ? 0xff : 0x00])
}

const textEncoder = new TextEncoder()

export function utf8String (value: string): Uint8Array {
  return tlv(TAG.utf8String, textEncoder.encode(value))
}

const printablePattern = /^[A-Za-z0-9 '()+,\-./:=?]*$/

export function printableString (value: string): Uint8Array {
  assert(printablePattern.test(value), `PrintableString cannot hold ${JSON.stringify(value)}`)
  return tlv(TAG.printableString, textEncoder.encode(value))
}

/** IA5String (ASCII). Callers validate user input first; this asserts. */
export function ia5String (value: string): Uint8Array {
  return tlv(TAG.ia5String, ia5Bytes(value))
}

export function ia5Bytes (value: string): Uint8Array {
  const out = new Uint8Array(value.length)
  for (let i = 0; i < value.length; i += 1) {
    const code = value.charCodeAt(i)
    assert(code < 0x80, `IA5String cannot hold non-ASCII character at index ${i}`)
    out[i] = code
  }
  return out
}

/** Explicitly tagged `[number]` wrapper around one already-encoded element. */
export function explicit (number: number, inner: Uint8Array): Uint8Array {
  return tlv(contextTag(number, true), inner)
}

/** Implicitly tagged primitive `[number]` with raw content (e.g. GeneralName URI, AKI keyIdentifier). */
export function implicitPrimitive (number: number, content: Uint8Array): Uint8Array {
  return tlv(contextTag(number, false), content)
}

function twoDigits (value: number): string {
  return value < 10 ? `0${value}` : String(value)
}

/**
 * An X.509 Time (RFC 5280 §4.1.2.5): UTCTime for years 1950..2049, GeneralizedTime otherwise,
 * always in UTC with whole seconds (milliseconds are truncated).
 */
export function time (date: Date): Uint8Array {
  const { tag, text } = timeText(date)
  return tlv(tag, ia5Bytes(text))
}

/** Tag and ASCII content of `time(date)`, for writers that place it themselves. */
export function timeText (date: Date): { tag: number, text: string } {
  const milliseconds = date.getTime()
  assert(Number.isFinite(milliseconds), 'time: invalid Date')
  const year = date.getUTCFullYear()
  assert(year >= 0 && year <= 9999, `time: year must be in 0..9999, got ${year}`)
  const rest = twoDigits(date.getUTCMonth() + 1) + twoDigits(date.getUTCDate()) + twoDigits(date.getUTCHours()) +
    twoDigits(date.getUTCMinutes()) + twoDigits(date.getUTCSeconds()) + 'Z'
  if (year >= 1950 && year < 2050) return { tag: TAG.utcTime, text: twoDigits(year % 100) + rest }
  return { tag: TAG.generalizedTime, text: String(year).padStart(4, '0') + rest }
}

/** Total size of an element (tag, length field, content) whose content is `contentLength` bytes. */
export function encodedLength (contentLength: number): number {
  return 1 + lengthFieldBytes(contentLength) + contentLength
}

/**
 * Writes DER into one buffer sized up front, for the leaf signer: the caller computes every
 * nested length first (with `encodedLength`), then writes headers and contents in order.
 * `finish` asserts the buffer was filled exactly, catching any length miscalculation.
 */
export class DerWriter {
  readonly bytes: Uint8Array
  private offset = 0

  constructor (length: number) {
    // A pooled Buffer: cheap to allocate for small sizes, and its base64 encoder is native.
    this.bytes = Buffer.allocUnsafe(length)
  }

  header (tag: number, contentLength: number): void {
    this.bytes[this.offset] = tag
    this.offset = writeLength(this.bytes, this.offset + 1, contentLength)
  }

  raw (bytes: Uint8Array): void {
    this.bytes.set(bytes, this.offset)
    this.offset += bytes.length
  }

  /** ASCII text; callers have checked every character is below 0x80. */
  ascii (text: string): void {
    for (let i = 0; i < text.length; i += 1) this.bytes[this.offset + i] = text.charCodeAt(i)
    this.offset += text.length
  }

  finish (): Uint8Array {
    assert(this.offset === this.bytes.length, `DerWriter: wrote ${this.offset} of ${this.bytes.length} bytes`)
    return this.bytes
  }
}

const hexDigits = '0123456789abcdef'

export function hexToBytes (hex: string): Uint8Array {
  assert(hex.length % 2 === 0 && /^[0-9a-fA-F]*$/.test(hex), `not an even-length hex string: "${hex}"`)
  const out = new Uint8Array(hex.length / 2)
  for (let i = 0; i < out.length; i += 1) out[i] = parseInt(hex.slice(i * 2, i * 2 + 2), 16)
  return out
}

export function bytesToHex (bytes: Uint8Array): string {
  let out = ''
  for (const byte of bytes) out += hexDigits[byte >> 4]! + hexDigits[byte & 15]!
  return out
}

// ---------------------------------------------------------------------------------------------
// Reader
// ---------------------------------------------------------------------------------------------

/** Malformed DER. `message` names what was being read and where; parsers wrap it with the field. */
export class DerFormatError extends Error {
  override readonly name = 'DerFormatError'
}

/** One element located inside `bytes`; content is bytes[contentStart, end). Nothing is copied. */
export interface DerElement {
  readonly tag: number
  readonly bytes: Uint8Array
  readonly start: number
  readonly contentStart: number
  readonly end: number
}

/** Reads the element at `offset`, checking its framing stays inside `limit`. */
export function readElement (bytes: Uint8Array, offset: number, limit: number, what: string): DerElement {
  if (offset >= limit) throw new DerFormatError(`${what}: expected an element at offset ${offset}, found end of data`)
  const tag = bytes[offset]!
  if ((tag & 0x1f) === 0x1f) throw new DerFormatError(`${what}: multi-byte tags are not supported (offset ${offset})`)
  if (offset + 1 >= limit) throw new DerFormatError(`${what}: truncated length at offset ${offset + 1}`)
  const first = bytes[offset + 1]!
  let length: number
  let contentStart: number
  if (first < 0x80) {
    length = first
    contentStart = offset + 2
  } else {
    const octets = first & 0x7f
    if (octets === 0) throw new DerFormatError(`${what}: indefinite length is not allowed in DER (offset ${offset + 1})`)
    if (octets > 4) throw new DerFormatError(`${what}: length field of ${octets} bytes is too large (offset ${offset + 1})`)
    if (offset + 2 + octets > limit) throw new DerFormatError(`${what}: truncated length at offset ${offset + 1}`)
    length = 0
    for (let i = 0; i < octets; i += 1) length = length * 256 + bytes[offset + 2 + i]!
    if (length < 0x80 || bytes[offset + 2] === 0) throw new DerFormatError(`${what}: non-minimal length encoding at offset ${offset + 1}`)
    contentStart = offset + 2 + octets
  }
  const end = contentStart + length
  if (end > limit) throw new DerFormatError(`${what}: element at offset ${offset} claims ${length} content bytes but only ${limit - contentStart} remain`)
  return { tag, bytes, start: offset, contentStart, end }
}

/** `bytes` must hold exactly one element, with nothing after it. */
export function readSingle (bytes: Uint8Array, what: string): DerElement {
  const element = readElement(bytes, 0, bytes.length, what)
  if (element.end !== bytes.length) throw new DerFormatError(`${what}: ${bytes.length - element.end} unexpected bytes after the element`)
  return element
}

export function expectTag (element: DerElement, tag: number, what: string): DerElement {
  if (element.tag !== tag) {
    throw new DerFormatError(`${what}: expected tag 0x${tag.toString(16).padStart(2, '0')}, found 0x${element.tag.toString(16).padStart(2, '0')} at offset ${element.start}`)
  }
  return element
}

/** The children of a constructed element, which must exactly fill its content. */
export function childrenOf (element: DerElement, what: string): DerElement[] {
  if ((element.tag & 0x20) === 0) throw new DerFormatError(`${what}: expected a constructed element at offset ${element.start}`)
  const out: DerElement[] = []
  let offset = element.contentStart
  while (offset < element.end) {
    const child = readElement(element.bytes, offset, element.end, what)
    out.push(child)
    offset = child.end
  }
  return out
}

export function contentOf (element: DerElement): Uint8Array {
  return element.bytes.subarray(element.contentStart, element.end)
}

/** The full encoding (tag, length, content) of an element. */
export function rawOf (element: DerElement): Uint8Array {
  return element.bytes.subarray(element.start, element.end)
}

export function readInteger (element: DerElement, what: string): bigint {
  expectTag(element, TAG.integer, what)
  const content = contentOf(element)
  if (content.length === 0) throw new DerFormatError(`${what}: empty INTEGER at offset ${element.start}`)
  const unsigned = BigInt(`0x${bytesToHex(content)}`)
  return content[0]! >= 0x80 ? unsigned - (1n << BigInt(8 * content.length)) : unsigned
}

export function readOid (element: DerElement, what: string): string {
  expectTag(element, TAG.oid, what)
  const content = contentOf(element)
  if (content.length === 0) throw new DerFormatError(`${what}: empty OBJECT IDENTIFIER at offset ${element.start}`)
  const arcs: number[] = []
  let value = 0
  for (let i = 0; i < content.length; i += 1) {
    const byte = content[i]!
    if (value === 0 && byte === 0x80) throw new DerFormatError(`${what}: non-minimal OID arc at offset ${element.contentStart + i}`)
    value = value * 128 + (byte & 0x7f)
    if (value > Number.MAX_SAFE_INTEGER) throw new DerFormatError(`${what}: OID arc too large at offset ${element.contentStart + i}`)
    if ((byte & 0x80) === 0) {
      arcs.push(value)
      value = 0
    } else if (i === content.length - 1) {
      throw new DerFormatError(`${what}: truncated OID at offset ${element.start}`)
    }
  }
  const first = arcs[0]!
  const head = first < 40 ? [0, first] : first < 80 ? [1, first - 40] : [2, first - 80]
  return [...head, ...arcs.slice(1)].join('.')
}

export function readBitString (element: DerElement, what: string): { unusedBits: number, bytes: Uint8Array } {
  expectTag(element, TAG.bitString, what)
  const content = contentOf(element)
  if (content.length === 0) throw new DerFormatError(`${what}: BIT STRING without its unused-bits octet at offset ${element.start}`)
  const unusedBits = content[0]!
  if (unusedBits > 7 || (content.length === 1 && unusedBits !== 0)) {
    throw new DerFormatError(`${what}: invalid BIT STRING unused-bits count ${unusedBits} at offset ${element.start}`)
  }
  return { unusedBits, bytes: content.subarray(1) }
}

export function readOctetString (element: DerElement, what: string): Uint8Array {
  return contentOf(expectTag(element, TAG.octetString, what))
}

export function readBoolean (element: DerElement, what: string): boolean {
  const content = contentOf(expectTag(element, TAG.boolean, what))
  if (content.length !== 1) throw new DerFormatError(`${what}: BOOLEAN must have one content byte, found ${content.length}`)
  return content[0] !== 0
}

const textDecoder = new TextDecoder('utf-8', { fatal: true })

/** UTF8String, PrintableString or IA5String content as a JS string. */
export function readString (element: DerElement, what: string): string {
  if (element.tag !== TAG.utf8String && element.tag !== TAG.printableString && element.tag !== TAG.ia5String) {
    throw new DerFormatError(`${what}: expected a string, found tag 0x${element.tag.toString(16)} at offset ${element.start}`)
  }
  try {
    return textDecoder.decode(contentOf(element))
  } catch {
    throw new DerFormatError(`${what}: string at offset ${element.start} is not valid UTF-8`)
  }
}

const utcTimePattern = /^(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/
const generalizedTimePattern = /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(?:\.\d+)?Z$/

/** UTCTime (YY < 50 means 20YY, RFC 5280 §4.1.2.5.1) or GeneralizedTime, UTC only. */
export function readTime (element: DerElement, what: string): Date {
  const text = String.fromCharCode(...contentOf(element))
  let match: RegExpExecArray | null
  let year: number
  if (element.tag === TAG.utcTime) {
    match = utcTimePattern.exec(text)
    if (match === null) throw new DerFormatError(`${what}: UTCTime "${text}" is not YYMMDDHHMMSSZ`)
    const shortYear = Number(match[1])
    year = shortYear < 50 ? 2000 + shortYear : 1900 + shortYear
  } else if (element.tag === TAG.generalizedTime) {
    match = generalizedTimePattern.exec(text)
    if (match === null) throw new DerFormatError(`${what}: GeneralizedTime "${text}" is not YYYYMMDDHHMMSSZ`)
    year = Number(match[1])
  } else {
    throw new DerFormatError(`${what}: expected UTCTime or GeneralizedTime, found tag 0x${element.tag.toString(16)}`)
  }
  const [month, day, hours, minutes, seconds] = match.slice(2, 7).map(Number) as [number, number, number, number, number]
  // setUTCFullYear (unlike Date.UTC) takes years below 100 literally.
  const date = new Date(0)
  date.setUTCFullYear(year, month - 1, day)
  date.setUTCHours(hours, minutes, seconds, 0)
  // Out-of-range fields (month 13, day 32) roll over; a round trip catches that.
  if (date.getUTCMonth() !== month - 1 || date.getUTCDate() !== day || hours > 23 || minutes > 59 || seconds > 59) {
    throw new DerFormatError(`${what}: "${text}" is not a valid date`)
  }
  return date
}
