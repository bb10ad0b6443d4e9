/**
 * CA private keys: generation in Consul's stored formats (SEC1 "EC PRIVATE KEY", PKCS#1
 * "RSA PRIVATE KEY"), parsing of user-supplied keys (SEC1, PKCS#1 or PKCS#8 "PRIVATE KEY"),
 * and the key type/size (`KeySpec`) of any key. Validation messages for PrivateKeyType and
 * PrivateKeyBits are the ones in spec §6.2.
 *
 * Called by: certs.ts, csr.ts, leaf-signer.ts, and the CA provider (key generation at bootstrap
 * and rotation, config validation).
 */
import { Buffer } from 'node:buffer'
import { createPrivateKey, createPublicKey, generateKeyPairSync, type JsonWebKey, type KeyObject } from 'node:crypto'
import { assert } from '../util/assert.js'
import { ControlPlaneError } from '../util/errors.js'
import { bitString, concatBytes, oid, sequence } from './der.js'
import { decodePemBlocks, findPemBlock } from './pem.js'

export interface KeySpec {
  readonly type: 'ec' | 'rsa'
  readonly bits: number
}

/** Named curve (OpenSSL/Node name) per EC key size; §6.2 allows exactly these sizes. */
const curveByBits: ReadonlyMap<number, string> = new Map([[224, 'secp224r1'], [256, 'prime256v1'], [384, 'secp384r1'], [521, 'secp521r1']])
const bitsByCurve: ReadonlyMap<string, number> = new Map([...curveByBits].map(([bits, curve]) => [curve, bits]))

const rsaBitsAllowed: readonly number[] = [2048, 4096]

function invalidInput (message: string, field?: string): ControlPlaneError {
  return new ControlPlaneError('ERR_INVALID_INPUT', message, field === undefined ? {} : { details: { field } })
}

/** Checks a PrivateKeyType/PrivateKeyBits pair with Consul's messages (spec §6.2). */
export function validateKeySpec (spec: { readonly type: unknown, readonly bits: unknown }): KeySpec {
  if (spec.type !== 'ec' && spec.type !== 'rsa') throw invalidInput("private key type must be either 'ec' or 'rsa'", 'PrivateKeyType')
  const bits = spec.bits
  if (spec.type === 'ec') {
    if (typeof bits !== 'number' || !curveByBits.has(bits)) throw invalidInput('EC key length must be one of (224, 256, 384, 521) bits', 'PrivateKeyBits')
    return { type: 'ec', bits }
  }
  if (typeof bits !== 'number' || !rsaBitsAllowed.includes(bits)) throw invalidInput('RSA key length must be 2048 or 4096 bits', 'PrivateKeyBits')
  return { type: 'rsa', bits }
}

/** A new private key as PEM: SEC1 "EC PRIVATE KEY" or PKCS#1 "RSA PRIVATE KEY". */
export function generatePrivateKeyPem (spec: KeySpec): string {
  const checked = validateKeySpec(spec)
  if (checked.type === 'ec') {
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: curveByBits.get(checked.bits)! })
    return privateKey.export({ type: 'sec1', format: 'pem' }).toString()
  }
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: checked.bits, publicExponent: 65537 })
  return privateKey.export({ type: 'pkcs1', format: 'pem' }).toString()
}

const derTypeByLabel: ReadonlyMap<string, 'sec1' | 'pkcs1' | 'pkcs8'> = new Map([
  ['EC PRIVATE KEY', 'sec1'],
  ['RSA PRIVATE KEY', 'pkcs1'],
  ['PRIVATE KEY', 'pkcs8']
])

/**
 * Parses an unencrypted private key. Blocks other than keys (e.g. the "EC PARAMETERS" block that
 * `openssl ecparam -genkey` writes first) are skipped; the first key block is used.
 */
export function parsePrivateKeyPem (pem: string, field = 'PrivateKey'): { key: KeyObject, spec: KeySpec } {
  const blocks = decodePemBlocks(pem, field)
  const block = findPemBlock({ blocks, labels: [...derTypeByLabel.keys(), 'ENCRYPTED PRIVATE KEY'], field })
  const derType = derTypeByLabel.get(block.label)
  if (derType === undefined || block.encrypted) throw invalidInput(`${field} is encrypted; provide the key unencrypted`, field)
  let key: KeyObject
  try {
    key = createPrivateKey({ key: Buffer.from(block.der), format: 'der', type: derType })
    importedKeys.add(key)
  } catch (err) {
    throw new ControlPlaneError('ERR_INVALID_INPUT', `${field} is not a valid ${block.label}: ${(err as Error).message}`, { cause: err, details: { field } })
  }
  return { key, spec: keySpecOf(key, field) }
}

/** Type and size of a private or public key; only EC on the §6.2 curves and RSA are supported. */
export function keySpecOf (key: KeyObject, field: string): KeySpec {
  const type = key.asymmetricKeyType
  if (type === 'ec') {
    const curve = key.asymmetricKeyDetails?.namedCurve ?? 'unknown'
    const bits = bitsByCurve.get(curve)
    if (bits === undefined) throw invalidInput(`${field} uses EC curve ${curve}; supported curves are P-224, P-256, P-384 and P-521`, field)
    return { type: 'ec', bits }
  }
  if (type === 'rsa') {
    const bits = key.asymmetricKeyDetails?.modulusLength
    if (bits === undefined) throw invalidInput(`${field} is an RSA key without a readable modulus length`, field)
    return { type: 'rsa', bits }
  }
  throw invalidInput(`${field} has key type ${type ?? 'unknown'}; only ec and rsa keys are supported`, field)
}

/**
 * EC curves whose SPKI we build and read through JWK: OpenSSL 3.0's SPKI encoder and decoder cost
 * ~100 µs per call, several times an ECDSA signature, while JWK export/import of the coordinates
 * is cheap. Both paths give the same key; the SPKI layout (named curve, uncompressed point) is
 * fixed by RFC 5480, so only the coordinates vary after a constant prefix.
 *
 * The JWK export is used only for keys this module created by import (`importedKeys`). Node 20
 * can deadlock exporting a JWK from a key that `generateKeyPairSync` returned: the export holds
 * the key's mutex while allocating, a GC then finalizes the finished key-generation job, and its
 * destructor takes the same mutex (seen in gdb as ExportJWKEcKey -> GC -> ~KeyGenJob ->
 * uv_mutex_lock, every few thousand keys). Other keys take the slower, safe DER export.
 */
const importedKeys = new WeakSet<KeyObject>()

interface JwkCurve {
  readonly namedCurve: string
  readonly jwkCurve: string
  readonly coordinateBytes: number
  /** SPKI DER up to the X coordinate: algorithm identifier, BIT STRING header, 0x00, 0x04. */
  readonly spkiPrefix: Uint8Array
}

function jwkCurve (o: { namedCurve: string, jwkCurve: string, curveOid: string, coordinateBytes: number }): JwkCurve {
  const point = new Uint8Array(1 + 2 * o.coordinateBytes)
  point[0] = 0x04
  const sample = sequence(sequence(oid(ecPublicKeyOid), oid(o.curveOid)), bitString(point))
  return { namedCurve: o.namedCurve, jwkCurve: o.jwkCurve, coordinateBytes: o.coordinateBytes, spkiPrefix: sample.slice(0, sample.length - 2 * o.coordinateBytes) }
}

const ecPublicKeyOid = '1.2.840.10045.2.1'
const jwkCurves: readonly JwkCurve[] = [
  jwkCurve({ namedCurve: 'prime256v1', jwkCurve: 'P-256', curveOid: '1.2.840.10045.3.1.7', coordinateBytes: 32 }),
  jwkCurve({ namedCurve: 'secp384r1', jwkCurve: 'P-384', curveOid: '1.3.132.0.34', coordinateBytes: 48 }),
  jwkCurve({ namedCurve: 'secp521r1', jwkCurve: 'P-521', curveOid: '1.3.132.0.35', coordinateBytes: 66 })
]

/** DER SubjectPublicKeyInfo of a key (the public half when given a private key). */
export function spkiDerOf (key: KeyObject): Uint8Array {
  const publicKey = key.type === 'private' ? createPublicKey(key) : key
  const namedCurve = publicKey.asymmetricKeyType === 'ec' && importedKeys.has(key) ? publicKey.asymmetricKeyDetails?.namedCurve : undefined
  const curve = jwkCurves.find(candidate => candidate.namedCurve === namedCurve)
  if (curve !== undefined) {
    const jwk = publicKey.export({ format: 'jwk' })
    const x = Buffer.from(jwk.x ?? '', 'base64url')
    const y = Buffer.from(jwk.y ?? '', 'base64url')
    if (x.length === curve.coordinateBytes && y.length === curve.coordinateBytes) return concatBytes([curve.spkiPrefix, x, y])
  }
  return new Uint8Array(publicKey.export({ type: 'spki', format: 'der' }))
}

/**
 * A public KeyObject from SPKI DER. Throws ERR_INVALID_INPUT naming `field` when the bytes are
 * not a key, or (for EC) when the point is not on the curve.
 */
export function publicKeyFromSpki (spki: Uint8Array, field: string): KeyObject {
  try {
    const curve = jwkCurves.find(candidate => spki.length === candidate.spkiPrefix.length + 2 * candidate.coordinateBytes && startsWith(spki, candidate.spkiPrefix))
    if (curve === undefined) return createPublicKey({ key: Buffer.from(spki), format: 'der', type: 'spki' })
    const coordinates = Buffer.from(spki.buffer, spki.byteOffset + curve.spkiPrefix.length, 2 * curve.coordinateBytes)
    const jwk = {
      kty: 'EC',
      crv: curve.jwkCurve,
      x: coordinates.subarray(0, curve.coordinateBytes).toString('base64url'),
      y: coordinates.subarray(curve.coordinateBytes).toString('base64url')
    }
    const key = createPublicKey({ key: jwk, format: 'jwk' })
    importedKeys.add(key)
    return key
  } catch (err) {
    throw new ControlPlaneError('ERR_INVALID_INPUT', `${field} is not a valid public key: ${(err as Error).message}`, { cause: err, details: { field } })
  }
}

function startsWith (bytes: Uint8Array, prefix: Uint8Array): boolean {
  for (let i = 0; i < prefix.length; i += 1) if (bytes[i] !== prefix[i]) return false
  return true
}

/**
 * A fresh EC key as a KeyObject that is safe for the JWK fast path (see `importedKeys`): the
 * generator hands the key over as JWK and it is imported again, so no KeyObject we keep shares
 * state with the key-generation job.
 */
export function generateEcKey (namedCurve: 'prime256v1' | 'secp384r1' | 'secp521r1'): KeyObject {
  assert(jwkCurves.some(curve => curve.namedCurve === namedCurve), `generateEcKey: no JWK curve for ${namedCurve}`)
  const { privateKey } = generateJwkKeyPair('ec', { namedCurve, privateKeyEncoding: { format: 'jwk' } })
  const key = createPrivateKey({ key: privateKey, format: 'jwk' })
  importedKeys.add(key)
  return key
}

/** generateKeyPairSync with a JWK private encoding (supported by Node, missing from @types/node 20). */
const generateJwkKeyPair = generateKeyPairSync as unknown as (
  type: 'ec', options: { namedCurve: string, privateKeyEncoding: { format: 'jwk' } }
) => { privateKey: JsonWebKey, publicKey: KeyObject }
