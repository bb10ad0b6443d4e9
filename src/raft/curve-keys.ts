/**
 * A node's CURVE identity: the long-lived Curve25519 key pair its Raft transport uses for
 * ZeroMQ CURVE encryption and authentication, plus the small amount of key arithmetic the
 * transport needs on top of what zeromq.js offers.
 *
 * Invariants:
 * - Keys are Z85 text (ZMQ RFC 32), 40 characters for 32 bytes, as zeromq.js expects them.
 * - `<dataDir>/curve.key` is JSON `{ "publicKey", "secretKey" }`, mode 0600, and is only ever
 *   replaced whole (written to a temporary file, fsynced, then renamed), so a crash leaves
 *   either no key file or a complete one. A loaded pair must be consistent (the public key is
 *   derived from the secret key) or loading fails: running with a half-corrupt identity would
 *   make every peer reject us with no hint why.
 *
 * Called by the agent at startup (loadOrCreateCurveKeyPair) and by zmq-transport.ts (the
 * pairwise shared secret that authenticates a sender's routing id).
 */
import { createPrivateKey, createPublicKey, diffieHellman, randomBytes } from 'node:crypto'
import { mkdir, open, readFile, rename, stat, unlink } from 'node:fs/promises'
import { join } from 'node:path'
import * as zmq from 'zeromq'
import { assert } from '../util/assert.js'
import { ControlPlaneError } from '../util/errors.js'

export interface CurveKeyPair {
  /** Z85, 40 characters. Shared with peers (PeerInfo.publicKey). */
  readonly publicKey: string
  /** Z85, 40 characters. Never logged, never leaves this node. */
  readonly secretKey: string
}

export const curveKeyFileName = 'curve.key'
const curveKeyBytes = 32
const curveKeyZ85Length = 40

const z85Alphabet = '0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#'
const z85Values: ReadonlyMap<string, number> = new Map([...z85Alphabet].map((character, value) => [character, value]))

/** Z85 encoding (ZMQ RFC 32). The input length must be a multiple of 4. */
export function z85Encode (bytes: Uint8Array): string {
  assert(bytes.length % 4 === 0, `z85Encode needs a multiple of 4 bytes, got ${bytes.length}`)
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  let text = ''
  for (let offset = 0; offset < bytes.length; offset += 4) {
    let value = view.getUint32(offset, false)
    const group: string[] = []
    for (let digit = 0; digit < 5; digit += 1) {
      group.push(z85Alphabet[value % 85] as string)
      value = Math.floor(value / 85)
    }
    text += group.reverse().join('')
  }
  return text
}

/** Z85 decoding (ZMQ RFC 32). Returns undefined for text that is not valid Z85. */
export function z85Decode (text: string): Uint8Array | undefined {
  if (text.length % 5 !== 0) return undefined
  const bytes = new Uint8Array(text.length / 5 * 4)
  const view = new DataView(bytes.buffer)
  for (let offset = 0; offset < text.length; offset += 5) {
    let value = 0
    for (let digit = 0; digit < 5; digit += 1) {
      const digitValue = z85Values.get(text[offset + digit] as string)
      if (digitValue === undefined) return undefined
      value = value * 85 + digitValue
    }
    if (value > 0xffffffff) return undefined
    view.setUint32(offset / 5 * 4, value, false)
  }
  return bytes
}

/** True for a Z85 string that encodes exactly 32 bytes: the shape of every CURVE key. */
export function isCurveKey (value: unknown): value is string {
  return typeof value === 'string' && value.length === curveKeyZ85Length && z85Decode(value) !== undefined
}

export function generateCurveKeyPair (): CurveKeyPair {
  assert(zmq.capability.curve === true, 'the zeromq build in use has no CURVE support')
  const keyPair = zmq.curveKeyPair()
  return { publicKey: keyPair.publicKey, secretKey: keyPair.secretKey }
}

// DER prefixes that wrap a raw 32-byte X25519 key (RFC 8410) so node:crypto can import it.
// CURVE keys are plain Curve25519 (X25519) keys, so no conversion is needed.
const x25519Pkcs8Prefix = Uint8Array.from([0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x6e, 0x04, 0x22, 0x04, 0x20])
const x25519SpkiPrefix = Uint8Array.from([0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x6e, 0x03, 0x21, 0x00])

function decodeCurveKey (key: string, what: string): Uint8Array {
  const bytes = z85Decode(key)
  assert(bytes !== undefined && bytes.length === curveKeyBytes, `${what} must be a 40-character Z85 CURVE key`)
  return bytes
}

function concatBytes (first: Uint8Array, second: Uint8Array): Uint8Array {
  const joined = new Uint8Array(first.length + second.length)
  joined.set(first, 0)
  joined.set(second, first.length)
  return joined
}

/** The public key that belongs to a CURVE secret key. */
export function curvePublicKeyOf (secretKey: string): string {
  const privateKey = createPrivateKey({ key: Buffer.from(concatBytes(x25519Pkcs8Prefix, decodeCurveKey(secretKey, 'secretKey'))), format: 'der', type: 'pkcs8' })
  const spki = createPublicKey(privateKey).export({ format: 'der', type: 'spki' })
  assert(spki.length === x25519SpkiPrefix.length + curveKeyBytes, `unexpected X25519 SPKI length ${spki.length}`)
  return z85Encode(new Uint8Array(spki.subarray(x25519SpkiPrefix.length)))
}

/**
 * The X25519 shared secret of our secret key and a peer's public key; both ends compute the
 * same 32 bytes and nobody else can. Throws a ControlPlaneError ERR_INVALID_INPUT for a
 * degenerate (low-order) peer key.
 */
export function curveSharedSecret (options: { secretKey: string, peerPublicKey: string }): Uint8Array {
  const privateKey = createPrivateKey({ key: Buffer.from(concatBytes(x25519Pkcs8Prefix, decodeCurveKey(options.secretKey, 'secretKey'))), format: 'der', type: 'pkcs8' })
  const publicKey = createPublicKey({ key: Buffer.from(concatBytes(x25519SpkiPrefix, decodeCurveKey(options.peerPublicKey, 'peerPublicKey'))), format: 'der', type: 'spki' })
  try {
    return new Uint8Array(diffieHellman({ privateKey, publicKey }))
  } catch (err) {
    throw new ControlPlaneError('ERR_INVALID_INPUT', `peer public key ${options.peerPublicKey} is not usable for key agreement`, { cause: err })
  }
}

/** Describes what is wrong with a key pair, or returns undefined when it is consistent. */
export function checkCurveKeyPair (value: unknown): string | undefined {
  if (typeof value !== 'object' || value === null) return 'must be an object with publicKey and secretKey'
  const candidate = value as { publicKey?: unknown, secretKey?: unknown }
  if (!isCurveKey(candidate.publicKey)) return 'publicKey must be a 40-character Z85 string'
  if (!isCurveKey(candidate.secretKey)) return 'secretKey must be a 40-character Z85 string'
  if (curvePublicKeyOf(candidate.secretKey) !== candidate.publicKey) return 'publicKey does not belong to secretKey'
  return undefined
}

export interface LoadedCurveKeyPair {
  readonly keyPair: CurveKeyPair
  /** True when no key file existed and a new pair was generated and stored. */
  readonly created: boolean
}

/**
 * Loads `<dataDir>/curve.key`, or generates a pair and stores it there when the file does not
 * exist. Rejects with ERR_CORRUPT_STORAGE when the file exists but is not a valid, consistent
 * pair, and with ERR_INVALID_INPUT when it is readable by group or others (as ssh does for
 * private keys): the secret key is the node's identity in the cluster.
 */
export async function loadOrCreateCurveKeyPair (dataDir: string, options: { generate?: () => CurveKeyPair } = {}): Promise<LoadedCurveKeyPair> {
  const path = join(dataDir, curveKeyFileName)
  const existing = await maybeReadKeyFile(path)
  if (existing !== undefined) return { keyPair: existing, created: false }
  await mkdir(dataDir, { recursive: true, mode: 0o700 })
  const keyPair = (options.generate ?? generateCurveKeyPair)()
  const problem = checkCurveKeyPair(keyPair)
  assert(problem === undefined, `generated CURVE key pair is invalid: ${problem ?? ''}`)
  await writeKeyFileAtomically(path, keyPair)
  const readBack = await maybeReadKeyFile(path)
  assert(readBack !== undefined && readBack.publicKey === keyPair.publicKey, `CURVE key file ${path} did not read back as written`)
  return { keyPair: readBack, created: true }
}

async function maybeReadKeyFile (path: string): Promise<CurveKeyPair | undefined> {
  let text: string
  try {
    const info = await stat(path)
    if ((info.mode & 0o077) !== 0) {
      throw new ControlPlaneError('ERR_INVALID_INPUT', `CURVE key file ${path} has mode 0${(info.mode & 0o777).toString(8)}, expected 0600 (run: chmod 600 ${path})`, { details: { path } })
    }
    text = await readFile(path, 'utf8')
  } catch (err) {
    if ((err as { code?: unknown }).code === 'ENOENT') return undefined
    throw err
  }
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch (err) {
    throw new ControlPlaneError('ERR_CORRUPT_STORAGE', `CURVE key file ${path} is not valid JSON`, { cause: err, details: { path } })
  }
  const problem = checkCurveKeyPair(parsed)
  if (problem !== undefined) {
    throw new ControlPlaneError('ERR_CORRUPT_STORAGE', `CURVE key file ${path} is invalid: ${problem}`, { details: { path } })
  }
  const keyPair = parsed as CurveKeyPair
  return { publicKey: keyPair.publicKey, secretKey: keyPair.secretKey }
}

async function writeKeyFileAtomically (path: string, keyPair: CurveKeyPair): Promise<void> {
  const temporaryPath = `${path}.tmp-${process.pid}-${randomBytes(6).toString('hex')}`
  const file = await open(temporaryPath, 'wx', 0o600)
  try {
    await file.writeFile(`${JSON.stringify({ publicKey: keyPair.publicKey, secretKey: keyPair.secretKey })}\n`, 'utf8')
    await file.sync()
  } catch (err) {
    await file.close()
    await unlink(temporaryPath).catch(() => undefined)
    throw err
  }
  await file.close()
  await rename(temporaryPath, path)
  // The rename is durable only once the directory entry is.
  const directory = await open(join(path, '..'), 'r')
  try {
    await directory.sync()
  } finally {
    await directory.close()
  }
}
