/**
 * CRC-32C (Castagnoli), table-driven, for checksumming records on disk.
 *
 * Why CRC-32C rather than zlib's CRC-32: it detects more error patterns in the record sizes we
 * store (it is what iSCSI, ext4 and LevelDB itself use), and writing it here keeps the module pure
 * (no node:* import, no Node minor-version dependency) so any layer may use it. Callers are the
 * storage implementations in src/raft/.
 *
 * Chaining: `crc32c(b, crc32c(a))` equals `crc32c(a ++ b)`, so a record can be checksummed in
 * pieces without concatenating them.
 */

// Reflected form of the Castagnoli polynomial 0x1EDC6F41.
const polynomialReflected = 0x82f63b78

const table: Uint32Array = buildTable()

function buildTable (): Uint32Array {
  const result = new Uint32Array(256)
  for (let byte = 0; byte < 256; byte += 1) {
    let crc = byte
    for (let bit = 0; bit < 8; bit += 1) {
      crc = (crc & 1) === 1 ? (crc >>> 1) ^ polynomialReflected : crc >>> 1
    }
    result[byte] = crc >>> 0
  }
  return result
}

/**
 * Returns the CRC-32C of `bytes` as an unsigned 32-bit integer. Pass the result of a previous
 * call as `previous` to continue a checksum over more bytes.
 */
export function crc32c (bytes: Uint8Array, previous = 0): number {
  let crc = ~previous >>> 0
  for (let offset = 0; offset < bytes.length; offset += 1) {
    // Both indexes are in range by construction; the non-null assertions only satisfy
    // noUncheckedIndexedAccess in this hot loop.
    crc = table[(crc ^ bytes[offset]!) & 0xff]! ^ (crc >>> 8)
  }
  return ~crc >>> 0
}
