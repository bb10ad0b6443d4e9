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
import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto'
import { ControlPlaneError } from '../util/errors.js'
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

/** DER SubjectPublicKeyInfo of a key (the public half when given a private key). */
export function spkiDerOf (key: KeyObject): Uint8Array {
  const publicKey = key.type === 'private' ? createPublicKey(key) : key
  return new Uint8Array(publicKey.export({ type: 'spki', format: 'der' }))
}
