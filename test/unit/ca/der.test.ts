/**
 * The DER encoder and reader: INTEGER sign handling (serials), lengths at the short/long form
 * boundaries, OIDs, named bit strings (KeyUsage), the UTCTime/GeneralizedTime switch at 2050
 * (RFC 5280 §4.1.2.5), and the reader's refusal of BER-only or truncated framing.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import {
  bitString, boolean, bytesToHex, childrenOf, DerFormatError, header, integer, integerContent, namedBitString, nullValue, octetString, oid,
  readBitString, readBoolean, readElement, readInteger, readOid, readSingle, readString, readTime, sequence, setOf, time, tlv, unsignedInteger,
  utf8String, printableString, TAG
} from '../../../src/ca/der.js'

const hex = (bytes: Uint8Array): string => bytesToHex(bytes)
const fromHex = (text: string): Uint8Array => new Uint8Array(Buffer.from(text.replace(/\s/g, ''), 'hex'))

test('INTEGER encodes minimal two\'s complement and keeps positives positive', () => {
  assert.equal(hex(integer(0)), '020100')
  assert.equal(hex(integer(1)), '020101')
  assert.equal(hex(integer(127)), '02017f')
  assert.equal(hex(integer(128)), '02020080')
  assert.equal(hex(integer(256)), '02020100')
  assert.equal(hex(integer(-1)), '0201ff')
  assert.equal(hex(integer(-128)), '020180')
  assert.equal(hex(integer(-129)), '0202ff7f')
  const big = (1n << 159n) - 1n
  assert.equal(hex(integerContent(big)), '7f' + 'ff'.repeat(19))
  assert.equal(hex(integerContent(1n << 159n)), '0080' + '00'.repeat(19))
  assert.equal(hex(unsignedInteger(fromHex('0000ff'))), '020200ff')
  assert.equal(hex(unsignedInteger(fromHex('0000'))), '020100')
})

test('INTEGER round trips through the reader', () => {
  for (const value of [0n, 1n, 127n, 128n, 255n, 256n, 65535n, -1n, -128n, -129n, (1n << 159n) - 1n, 1n << 100n]) {
    assert.equal(readInteger(readSingle(integer(value), 'int'), 'int'), value, `value ${value}`)
  }
})

test('lengths switch to the long form at 128 and use the fewest octets', () => {
  assert.equal(hex(header(TAG.octetString, 127)), '047f')
  assert.equal(hex(header(TAG.octetString, 128)), '048180')
  assert.equal(hex(header(TAG.octetString, 255)), '0481ff')
  assert.equal(hex(header(TAG.octetString, 256)), '04820100')
  assert.equal(hex(header(TAG.octetString, 65536)), '0483010000')
  for (const length of [0, 1, 127, 128, 255, 256, 65535, 65536]) {
    const encoded = octetString(new Uint8Array(length))
    const element = readSingle(encoded, 'octets')
    assert.equal(element.end - element.contentStart, length)
  }
})

test('OIDs encode base-128 arcs and read back', () => {
  assert.equal(hex(oid('1.2.840.10045.4.3.2')), '06082a8648ce3d040302')
  assert.equal(hex(oid('2.5.29.17')), '0603551d11')
  for (const dotted of ['1.2.840.113549.1.9.14', '2.5.4.3', '1.3.6.1.5.5.7.3.1', '2.999.3', '0.9.2342.19200300.100.1.1']) {
    assert.equal(readOid(readSingle(oid(dotted), 'oid'), 'oid'), dotted)
  }
})

test('named bit strings drop trailing zero bits (KeyUsage values)', () => {
  // digitalSignature | keyCertSign | cRLSign: bits 0, 5, 6.
  assert.equal(hex(namedBitString([0, 5, 6])), '03020186')
  // digitalSignature | keyEncipherment | dataEncipherment | keyAgreement: bits 0, 2, 3, 4.
  assert.equal(hex(namedBitString([0, 2, 3, 4])), '030203b8')
  assert.equal(hex(namedBitString([8])), '0303070080')
  const read = readBitString(readSingle(namedBitString([0, 5, 6]), 'ku'), 'ku')
  assert.equal(read.unusedBits, 1)
  assert.equal(hex(read.bytes), '86')
  assert.equal(hex(bitString(fromHex('abcd'))), '030300abcd')
})

test('Time is UTCTime before 2050 and GeneralizedTime from 2050, in whole seconds', () => {
  const utc = time(new Date(Date.UTC(2049, 11, 31, 23, 59, 59, 999)))
  assert.equal(utc[0], TAG.utcTime)
  assert.equal(Buffer.from(utc.subarray(2)).toString('latin1'), '491231235959Z')
  const generalized = time(new Date(Date.UTC(2050, 0, 1, 0, 0, 0)))
  assert.equal(generalized[0], TAG.generalizedTime)
  assert.equal(Buffer.from(generalized.subarray(2)).toString('latin1'), '20500101000000Z')
  const old = time(new Date(Date.UTC(1949, 5, 1)))
  assert.equal(old[0], TAG.generalizedTime)
  for (const date of [new Date(Date.UTC(1950, 0, 1)), new Date(Date.UTC(2024, 4, 1, 10)), new Date(Date.UTC(2049, 11, 31, 23, 59, 59)), new Date(Date.UTC(2050, 0, 1)), new Date(Date.UTC(9999, 11, 31, 23, 59, 59))]) {
    assert.equal(readTime(readSingle(time(date), 'time'), 'time').getTime(), date.getTime(), date.toISOString())
  }
})

test('reader decodes BOOLEAN, NULL, strings and nested structures', () => {
  const encoded = sequence(boolean(true), nullValue(), utf8String('héllo'), printableString('Consul CA 7'), setOf(integer(2), integer(1)))
  const items = childrenOf(readSingle(encoded, 'seq'), 'seq')
  assert.equal(items.length, 5)
  assert.equal(readBoolean(items[0]!, 'bool'), true)
  assert.equal(items[1]!.tag, TAG.null)
  assert.equal(readString(items[2]!, 'utf8'), 'héllo')
  assert.equal(readString(items[3]!, 'printable'), 'Consul CA 7')
  // SET OF is sorted by encoding.
  assert.deepEqual(childrenOf(items[4]!, 'set').map(child => readInteger(child, 'int')), [1n, 2n])
  assert.equal(hex(tlv(0x82, fromHex('6162'))), '82026162')
})

test('reader refuses indefinite, non-minimal, oversized and truncated framing', () => {
  const cases: Array<[string, string, RegExp]> = [
    ['indefinite length', '3080020101 0000', /indefinite length/],
    ['non-minimal long form', '04810161', /non-minimal length/],
    ['leading zero length octet', '0482000161', /non-minimal length/],
    ['content past the end', '040561', /claims 5 content bytes/],
    ['trailing bytes', '04016100', /1 unexpected bytes/],
    ['missing length', '04', /truncated length/],
    ['multi-byte tag', '1f8101', /multi-byte tags/],
    ['child past parent', '3003020501', /claims 5 content bytes/]
  ]
  for (const [name, bytes, pattern] of cases) {
    assert.throws(() => {
      const element = readSingle(fromHex(bytes), name)
      if ((element.tag & 0x20) !== 0) childrenOf(element, name)
    }, (err: unknown) => err instanceof DerFormatError && pattern.test(err.message), name)
  }
  assert.throws(() => readElement(new Uint8Array(0), 0, 0, 'empty'), /found end of data/)
  assert.throws(() => readTime(readSingle(fromHex('170d3234313333313030303030305a'), 't'), 't'), /not a valid date/)
  assert.throws(() => readInteger(readSingle(fromHex('0200'), 'i'), 'i'), /empty INTEGER/)
})
