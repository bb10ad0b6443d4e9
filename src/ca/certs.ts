/**
 * CA certificates: parsing (`CertInfo`, the fields a CARoot is built from), root creation with
 * the built-in provider's profile (spec §6.4), validation of a user-supplied PrivateKey/RootCert
 * pair, and cross-signing a new root with the old key for rotation (spec §6.6).
 *
 * Everything here is synchronous and decides nothing about time or serials by itself: the caller
 * (the leader, before proposing; see STYLE "Decide before you log") passes `serial`, `notBefore`
 * and `now`. The only randomness is the 8-character unique part of a root's CN.
 *
 * Every certificate built here is verified against its issuer's public key with OpenSSL before
 * it is returned, so a builder bug fails loudly instead of producing a root nobody can use.
 *
 * Called by: the CA provider and CA manager (bootstrap, config changes, rotation), leaf-signer.ts.
 */
import { Buffer } from 'node:buffer'
import { createHash, createPublicKey, randomBytes, X509Certificate, type KeyObject } from 'node:crypto'
import { assert } from '../util/assert.js'
import { ControlPlaneError } from '../util/errors.js'
import { OID, signatureAlgorithmFor } from './algorithms.js'
import { DerFormatError, ia5Bytes } from './der.js'
import { keySpecOf, parsePrivateKeyPem, spkiDerOf, type KeySpec } from './keys.js'
import { decodePemBlocks, encodePem, findPemBlock } from './pem.js'
import { colonHex, parseSpiffeId, signingUri, trustDomainFor } from './spiffe.js'
import {
  authorityKeyIdDer, basicConstraintsDer, commonNameDer, extensionDer, generalNamesDer, KEY_USAGE, keyUsageDer,
  parseCertificateDer, readAuthorityKeyId, readBasicConstraintsIsCa, readGeneralNames, readSubjectKeyId, signedDer,
  subjectKeyIdDer, tbsCertificateDer, type ParsedCertificate
} from './x509.js'

export interface CertInfo {
  /** Colon-hex SHA-1 of the DER: a CARoot's `ID`. */
  readonly id: string
  readonly serialNumber: bigint
  readonly notBefore: Date
  readonly notAfter: Date
  /** Colon-hex SubjectKeyIdentifier, "" when absent; for the signing cert this is `SigningKeyID`. */
  readonly subjectKeyId: string
  /** Colon-hex AuthorityKeyIdentifier keyIdentifier, "" when absent. */
  readonly authorityKeyId: string
  readonly isCa: boolean
  /** URI SANs in certificate order. */
  readonly uris: string[]
  /** Type and size of the certificate's public key (`PrivateKeyType`/`PrivateKeyBits`). */
  readonly spec: KeySpec
  /** OpenSSL's one-line subject, e.g. "CN=pri-1x2y3z4w.consul.ca.d2b5f1c0.consul". */
  readonly subject: string
  readonly publicKeySpki: Uint8Array
  readonly der: Uint8Array
  /** Re-encoded PEM of `der`, ending in "\n". */
  readonly pem: string
}

/** Cross-signed certificates start this long before `now`, to absorb clock skew. */
export const crossSignBackdateMs = 60_000
/** Cross-signed certificates are valid for this long after `now` (spec §6.6). */
export const crossSignLifetimeMs = 7 * 24 * 3_600_000

interface ReadCertificate {
  readonly info: CertInfo
  readonly parsed: ParsedCertificate
  readonly x509: X509Certificate
  /** Raw SubjectKeyIdentifier bytes, empty when absent. */
  readonly subjectKeyIdBytes: Uint8Array
  readonly hasBasicConstraints: boolean
}

function invalidInput (message: string, o: { field?: string, cause?: unknown } = {}): ControlPlaneError {
  return new ControlPlaneError('ERR_INVALID_INPUT', message, {
    ...(o.cause === undefined ? {} : { cause: o.cause }),
    ...(o.field === undefined ? {} : { details: { field: o.field } })
  })
}

/** Parses the first CERTIFICATE block of `pem`. `field` names the input in error messages. */
export function parseCertPem (pem: string, field = 'RootCert'): CertInfo {
  return readCertificatePem(pem, field).info
}

function readCertificatePem (pem: string, field: string): ReadCertificate {
  const block = findPemBlock({ blocks: decodePemBlocks(pem, field), labels: ['CERTIFICATE'], field })
  return readCertificateDer(block.der, field)
}

function readCertificateDer (der: Uint8Array, field: string): ReadCertificate {
  let parsed: ParsedCertificate
  let x509: X509Certificate
  try {
    parsed = parseCertificateDer(der)
    x509 = new X509Certificate(Buffer.from(der))
  } catch (err) {
    throw invalidInput(`${field} is not a valid X.509 certificate: ${(err as Error).message}`, { field, cause: err })
  }
  let isCa = false
  let hasBasicConstraints = false
  let subjectKeyIdBytes: Uint8Array = new Uint8Array(0)
  let authorityKeyId: Uint8Array = new Uint8Array(0)
  let uris: string[] = []
  try {
    for (const extension of parsed.extensions) {
      if (extension.oid === OID.basicConstraints) {
        hasBasicConstraints = true
        isCa = readBasicConstraintsIsCa(extension.value)
      }
      else if (extension.oid === OID.subjectKeyIdentifier) subjectKeyIdBytes = readSubjectKeyId(extension.value)
      else if (extension.oid === OID.authorityKeyIdentifier) authorityKeyId = readAuthorityKeyId(extension.value)
      else if (extension.oid === OID.subjectAltName) uris = readGeneralNames(extension.value).uris
    }
  } catch (err) {
    if (!(err instanceof DerFormatError)) throw err
    throw invalidInput(`${field} has a malformed extension: ${err.message}`, { field, cause: err })
  }
  const copy = new Uint8Array(der)
  const info: CertInfo = {
    id: colonHex(createHash('sha1').update(copy).digest()),
    serialNumber: parsed.serialNumber,
    notBefore: parsed.notBefore,
    notAfter: parsed.notAfter,
    subjectKeyId: colonHex(subjectKeyIdBytes),
    authorityKeyId: colonHex(authorityKeyId),
    isCa,
    uris,
    spec: keySpecOf(x509.publicKey, `${field} public key`),
    // Node reports an empty subject (a Connect leaf's) as undefined despite its typing.
    subject: (x509.subject as string | undefined ?? '').replace(/\n/g, ', '),
    publicKeySpki: new Uint8Array(parsed.spkiDer),
    der: copy,
    pem: encodePem('CERTIFICATE', copy)
  }
  return { info, parsed, x509, subjectKeyIdBytes, hasBasicConstraints }
}

function checkedSerial (serial: bigint | number, what: string): bigint {
  if (typeof serial === 'number' && !Number.isSafeInteger(serial)) throw invalidInput(`${what} must be a safe integer, got ${serial}`)
  const value = BigInt(serial)
  // RFC 5280 §4.1.2.2: positive, at most 20 octets.
  if (value <= 0n || value >= (1n << 159n)) throw invalidInput(`${what} must be a positive integer of at most 20 bytes, got ${value}`)
  return value
}

function checkedDate (date: Date, what: string): Date {
  if (!(date instanceof Date) || !Number.isFinite(date.getTime())) throw invalidInput(`${what} must be a valid Date`)
  return date
}

const base36Digits = '0123456789abcdefghijklmnopqrstuvwxyz'

/** `count` uniformly random lowercase base36 characters (rejection sampling, no modulo bias). */
function randomBase36 (count: number): string {
  let out = ''
  while (out.length < count) {
    for (const byte of randomBytes(count * 2)) {
      if (byte < 252 && out.length < count) out += base36Digits[byte % 36]!
    }
  }
  return out
}

/** SHA-256 over SubjectPublicKeyInfo DER: the key id used for SKI and AKI (spec §6.4). */
export function keyIdOf (spkiDer: Uint8Array): Uint8Array {
  return new Uint8Array(createHash('sha256').update(spkiDer).digest())
}

/**
 * A self-signed root with the built-in provider's profile (spec §6.4). NotAfter is
 * `notBefore + ttlMs`; both are truncated to whole seconds by the encoding.
 */
export function createRootCert (o: { privateKeyPem: string, clusterId: string, serial: bigint | number, notBefore: Date, ttlMs: number }): string {
  const { key, spec } = parsePrivateKeyPem(o.privateKeyPem, 'PrivateKey')
  const serial = checkedSerial(o.serial, 'root serial')
  const notBefore = checkedDate(o.notBefore, 'root notBefore')
  if (!Number.isSafeInteger(o.ttlMs) || o.ttlMs <= 0) throw invalidInput(`root TTL must be a positive number of milliseconds, got ${o.ttlMs}`)
  const trustDomain = trustDomainFor(o.clusterId)
  const commonName = `pri-${randomBase36(8)}.consul.ca.${trustDomain.slice(0, 8)}.consul`
  const name = commonNameDer(commonName)
  const spkiDer = spkiDerOf(key)
  const keyId = keyIdOf(spkiDer)
  const algorithm = signatureAlgorithmFor(spec)
  const sanValue = generalNamesDer({ uris: [ia5Bytes(signingUri(trustDomain))], dnsNames: [] })
  const tbsDer = tbsCertificateDer({
    serial,
    algorithm,
    issuerDer: name,
    notBefore,
    notAfter: new Date(notBefore.getTime() + o.ttlMs),
    subjectDer: name,
    spkiDer,
    extensions: [
      basicConstraintsDer(true),
      keyUsageDer([KEY_USAGE.digitalSignature, KEY_USAGE.keyCertSign, KEY_USAGE.cRLSign]),
      subjectKeyIdDer(keyId),
      authorityKeyIdDer(keyId),
      extensionDer({ oid: OID.subjectAltName, critical: false, value: sanValue })
    ]
  })
  const der = signedDer({ tbsDer, algorithm, key })
  assertVerifies({ der, issuerKey: key, what: 'new root certificate' })
  return encodePem('CERTIFICATE', der)
}

/** Pairs a build with a read-back: OpenSSL must parse the result and accept its signature. */
function assertVerifies (o: { der: Uint8Array, issuerKey: KeyObject, what: string }): void {
  const certificate = new X509Certificate(Buffer.from(o.der))
  assert(certificate.verify(createPublicKey(o.issuerKey)), `${o.what} does not verify with its issuer key`)
}

/**
 * Checks a user-supplied PrivateKey + RootCert pair (spec §6.2): the key parses and is EC P-256,
 * EC P-384 or RSA of at least 2048 bits; the certificate parses, is a CA, carries the key's public
 * half and has not expired at `now`; if `trustDomain` is given, every spiffe URI SAN it has must be
 * `spiffe://<trustDomain>`. (RootCert without PrivateKey is the caller's check.)
 */
export function validateExternalCa (o: { privateKeyPem: string, rootCertPem: string, trustDomain?: string | undefined, now?: Date | undefined }): { spec: KeySpec, cert: CertInfo } {
  const { key, spec } = parsePrivateKeyPem(o.privateKeyPem, 'PrivateKey')
  checkExternalKeySpec(spec)
  const { info, x509, hasBasicConstraints } = readCertificatePem(o.rootCertPem, 'RootCert')
  if (!info.isCa) {
    const reason = hasBasicConstraints ? 'BasicConstraints CA is false' : 'it has no BasicConstraints extension'
    throw invalidInput(`RootCert is not a CA certificate (${reason})`, { field: 'RootCert' })
  }
  if (!x509.checkPrivateKey(key)) {
    throw invalidInput(`PrivateKey does not match RootCert (the certificate's public key is a ${describeSpec(info.spec)} key, the private key is ${describeSpec(spec)})`, { field: 'PrivateKey' })
  }
  const now = o.now ?? new Date()
  if (info.notAfter.getTime() <= now.getTime()) {
    throw invalidInput(`RootCert has expired: NotAfter ${info.notAfter.toISOString()} is before now (${now.toISOString()})`, { field: 'RootCert' })
  }
  if (o.trustDomain !== undefined) checkTrustDomain({ uris: info.uris, trustDomain: o.trustDomain })
  return { spec, cert: info }
}

function describeSpec (spec: KeySpec): string {
  return spec.type === 'ec' ? `EC P-${spec.bits}` : `RSA ${spec.bits}-bit`
}

function checkExternalKeySpec (spec: KeySpec): void {
  if (spec.type === 'rsa' && spec.bits < 2048) throw invalidInput(`RSA keys must be at least 2048 bits, got ${spec.bits}`, { field: 'PrivateKey' })
  if (spec.type === 'ec' && spec.bits !== 256 && spec.bits !== 384) {
    throw invalidInput(`EC keys must use curve P-256 or P-384, got P-${spec.bits}`, { field: 'PrivateKey' })
  }
}

function checkTrustDomain (o: { uris: readonly string[], trustDomain: string }): void {
  const expected = signingUri(o.trustDomain)
  for (const uri of o.uris) {
    if (uri.slice(0, 9).toLowerCase() !== 'spiffe://') continue
    let matches = false
    try {
      const parsed = parseSpiffeId(uri)
      matches = parsed.kind === 'signing' && parsed.trustDomain === o.trustDomain.toLowerCase()
    } catch {
      matches = false
    }
    if (!matches) throw invalidInput(`RootCert URI SAN must be ${expected}, found ${uri}`, { field: 'RootCert' })
  }
}

/**
 * Re-signs the new root `certPem` with the old CA (`signerKeyPem`/`signerCertPem`) so leaves of the
 * new root chain to the old root during rotation (spec §6.6). Subject, public key and extensions
 * are the new root's (its SKI kept); issuer is the old root's subject, AKI the old root's SKI
 * (dropped if the old root has none), validity [now − 1 min, now + 7 days].
 */
export function crossSign (o: { certPem: string, signerKeyPem: string, signerCertPem: string, serial: bigint | number, now: Date }): string {
  const target = readCertificatePem(o.certPem, 'certificate to cross-sign')
  const signer = readCertificatePem(o.signerCertPem, 'signing certificate')
  const { key, spec } = parsePrivateKeyPem(o.signerKeyPem, 'signing key')
  if (!signer.x509.checkPrivateKey(key)) throw invalidInput('signing key does not match the signing certificate')
  if (!signer.info.isCa) throw invalidInput('signing certificate is not a CA certificate (BasicConstraints CA is false)')
  const serial = checkedSerial(o.serial, 'cross-signed certificate serial')
  const now = checkedDate(o.now, 'cross-sign time')
  const authorityKeyId = signer.subjectKeyIdBytes.length === 0 ? [] : [authorityKeyIdDer(signer.subjectKeyIdBytes)]
  const extensions: Uint8Array[] = []
  let replacedAuthorityKeyId = false
  for (const extension of target.parsed.extensions) {
    if (extension.oid === OID.authorityKeyIdentifier) {
      extensions.push(...authorityKeyId)
      replacedAuthorityKeyId = true
    } else {
      extensions.push(extension.raw)
    }
  }
  if (!replacedAuthorityKeyId) extensions.push(...authorityKeyId)
  const algorithm = signatureAlgorithmFor(spec)
  const tbsDer = tbsCertificateDer({
    serial,
    algorithm,
    issuerDer: signer.parsed.subjectDer,
    notBefore: new Date(now.getTime() - crossSignBackdateMs),
    notAfter: new Date(now.getTime() + crossSignLifetimeMs),
    subjectDer: target.parsed.subjectDer,
    spkiDer: target.parsed.spkiDer,
    extensions
  })
  const der = signedDer({ tbsDer, algorithm, key })
  assertVerifies({ der, issuerKey: key, what: 'cross-signed certificate' })
  return encodePem('CERTIFICATE', der)
}
