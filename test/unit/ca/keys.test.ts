/**
 * CA keys: generation in Consul's stored PEM formats, parsing of SEC1/PKCS#1/PKCS#8 and of
 * openssl's own output, and the §6.2 validation messages for key type and size.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createPublicKey, generateKeyPairSync } from 'node:crypto'
import { generateEcKey, generatePrivateKeyPem, parsePrivateKeyPem, publicKeyFromSpki, spkiDerOf, validateKeySpec } from '../../../src/ca/keys.js'
import { isControlPlaneError } from '../../../src/util/errors.js'
import { Workdir } from './helpers.js'

function invalidInput (pattern: RegExp): (err: unknown) => boolean {
  return (err: unknown) => isControlPlaneError(err, 'ERR_INVALID_INPUT') && pattern.test((err as Error).message)
}

test('generated keys use SEC1 / PKCS#1 PEM and parse back to the same spec', () => {
  for (const bits of [224, 256, 384, 521]) {
    const pem = generatePrivateKeyPem({ type: 'ec', bits })
    assert.match(pem, /^-----BEGIN EC PRIVATE KEY-----\n/)
    assert.deepEqual(parsePrivateKeyPem(pem).spec, { type: 'ec', bits })
  }
  const rsa = generatePrivateKeyPem({ type: 'rsa', bits: 2048 })
  assert.match(rsa, /^-----BEGIN RSA PRIVATE KEY-----\n/)
  assert.deepEqual(parsePrivateKeyPem(rsa).spec, { type: 'rsa', bits: 2048 })
})

test('validateKeySpec uses Consul\'s messages', () => {
  assert.throws(() => validateKeySpec({ type: 'dsa', bits: 256 }), invalidInput(/^private key type must be either 'ec' or 'rsa'$/))
  assert.throws(() => validateKeySpec({ type: 'ec', bits: 255 }), invalidInput(/^EC key length must be one of \(224, 256, 384, 521\) bits$/))
  assert.throws(() => validateKeySpec({ type: 'rsa', bits: 256 }), invalidInput(/^RSA key length must be 2048 or 4096 bits$/))
  assert.throws(() => generatePrivateKeyPem({ type: 'rsa', bits: 1024 }), invalidInput(/RSA key length must be 2048 or 4096 bits/))
  assert.deepEqual(validateKeySpec({ type: 'rsa', bits: 4096 }), { type: 'rsa', bits: 4096 })
})

test('PKCS#8 keys and openssl ecparam output (EC PARAMETERS block first) are accepted', (t) => {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'secp384r1' })
  const pkcs8 = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString()
  const parsed = parsePrivateKeyPem(pkcs8)
  assert.deepEqual(parsed.spec, { type: 'ec', bits: 384 })
  assert.deepEqual(spkiDerOf(parsed.key), spkiDerOf(privateKey))
  const work = new Workdir(t)
  const ecparam = work.opensslOk(['ecparam', '-name', 'prime256v1', '-genkey'])
  assert.match(ecparam, /BEGIN EC PARAMETERS/)
  assert.deepEqual(parsePrivateKeyPem(ecparam).spec, { type: 'ec', bits: 256 })
  const rsaPkcs8 = work.opensslOk(['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048'])
  assert.match(rsaPkcs8, /BEGIN PRIVATE KEY/)
  assert.deepEqual(parsePrivateKeyPem(rsaPkcs8).spec, { type: 'rsa', bits: 2048 })
})

test('parsePrivateKeyPem refuses bad input with the field name and the reason', () => {
  assert.throws(() => parsePrivateKeyPem('not a key'), invalidInput(/^PrivateKey is not valid PEM: no "-----BEGIN/))
  assert.throws(() => parsePrivateKeyPem('garbage', 'private_key'), invalidInput(/^private_key is not valid PEM/))
  const bogusBody = '-----BEGIN EC PRIVATE KEY-----\nAAECAwQFBgcICQ==\n-----END EC PRIVATE KEY-----\n'
  assert.throws(() => parsePrivateKeyPem(bogusBody), invalidInput(/^PrivateKey is not a valid EC PRIVATE KEY: /))
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' })
  const encrypted = privateKey.export({ type: 'pkcs8', format: 'pem', cipher: 'aes-128-cbc', passphrase: 'secret' }).toString()
  assert.throws(() => parsePrivateKeyPem(encrypted), invalidInput(/^PrivateKey is encrypted; provide the key unencrypted$/))
  const ed25519 = generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }).toString()
  assert.throws(() => parsePrivateKeyPem(ed25519), invalidInput(/^PrivateKey has key type ed25519; only ec and rsa keys are supported$/))
  const k1 = generateKeyPairSync('ec', { namedCurve: 'secp256k1' }).privateKey.export({ type: 'sec1', format: 'pem' }).toString()
  assert.throws(() => parsePrivateKeyPem(k1), invalidInput(/^PrivateKey uses EC curve secp256k1; supported curves are P-224, P-256, P-384 and P-521$/))
  const certOnly = '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n'
  assert.throws(() => parsePrivateKeyPem(certOnly), invalidInput(/^PrivateKey has no "EC PRIVATE KEY" or "RSA PRIVATE KEY" or "PRIVATE KEY" or "ENCRYPTED PRIVATE KEY" PEM block \(found: CERTIFICATE\)$/))
})

test('spkiDerOf (JWK fast path for our own keys, DER otherwise) equals OpenSSL\'s SPKI export; publicKeyFromSpki reads it back', () => {
  for (const [namedCurve, bits] of [['prime256v1', 256], ['secp384r1', 384], ['secp521r1', 521], ['secp224r1', 224]] as const) {
    for (let round = 0; round < 8; round += 1) {
      const generated = generateKeyPairSync('ec', { namedCurve })
      const parsed = parsePrivateKeyPem(generatePrivateKeyPem({ type: 'ec', bits })).key
      const fresh = namedCurve === 'secp224r1' ? [] : [generateEcKey(namedCurve)]
      for (const privateKey of [generated.privateKey, parsed, ...fresh]) {
        const publicKey = createPublicKey(privateKey)
        const expected = new Uint8Array(publicKey.export({ type: 'spki', format: 'der' }))
        assert.deepEqual(spkiDerOf(privateKey), expected, namedCurve)
        assert.deepEqual(spkiDerOf(publicKey), expected, namedCurve)
        const imported = publicKeyFromSpki(expected, 'CSR public key')
        assert.ok(imported.equals(publicKey), namedCurve)
        assert.deepEqual(spkiDerOf(imported), expected, namedCurve)
      }
    }
  }
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey
  const rsaSpki = new Uint8Array(rsa.export({ type: 'spki', format: 'der' }))
  assert.deepEqual(spkiDerOf(rsa), rsaSpki)
  assert.ok(publicKeyFromSpki(rsaSpki, 'key').equals(rsa))
})

test('publicKeyFromSpki refuses a point off the curve and bytes that are not a key', () => {
  const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' })
  const spki = new Uint8Array(publicKey.export({ type: 'spki', format: 'der' }))
  const offCurve = new Uint8Array(spki)
  offCurve[offCurve.length - 1]! ^= 0x01
  assert.throws(() => publicKeyFromSpki(offCurve, 'CSR public key'), invalidInput(/^CSR public key is not a valid public key: /))
  assert.throws(() => publicKeyFromSpki(new Uint8Array([0x30, 0x03, 0x02, 0x01, 0x00]), 'CSR public key'), invalidInput(/^CSR public key is not a valid public key: /))
})
