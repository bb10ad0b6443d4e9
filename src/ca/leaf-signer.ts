/**
 * Leaf certificate signing: the hot path of the Connect CA (every service instance renews its leaf
 * every few days, and a cluster start or root rotation asks for all of them at once).
 *
 * A `LeafSigner` is built once per active signing key. The constructor validates the key/cert pair
 * and precomputes every constant byte string of the leaf profile (spec §6.4): the issuer Name,
 * the signature AlgorithmIdentifier, BasicConstraints CA=false, KeyUsage, ExtKeyUsage and the
 * AuthorityKeyIdentifier. `sign` then only encodes the per-leaf parts (serial, validity, SPKI,
 * SKI = SHA-256 of the SPKI, the critical URI SAN) straight into one buffer sized up front,
 * splices in the constants, and makes one synchronous node:crypto signature; then one more
 * buffer for the Certificate and a base64 pass for the PEM. Nothing here awaits. On this
 * machine sign() runs at about 70% of the raw P-256 signature rate (bench/ca-sign.bench.ts).
 *
 * `sign` trusts `publicKeySpki` to be a key the caller has parsed (parseCsrPem verified it); it
 * checks only its DER framing, because a full key parse per leaf would cost as much as the
 * signature. Serials are allocated by the caller (unique through Raft); times are the caller's
 * decision too (NotBefore = now − 1 min by spec), so the same inputs give the same TBS bytes.
 *
 * Called by: the CA provider's sign path on the leader (ConnectCA.Sign), bench/ca-sign.bench.ts,
 * bench/ca.bench.ts.
 */
import { Buffer } from 'node:buffer'
import { createHash, generateKeyPairSync, randomBytes, sign, X509Certificate, type KeyObject } from 'node:crypto'
import { ControlPlaneError } from '../util/errors.js'
import { OID, signatureAlgorithmFor, type HashName } from './algorithms.js'
import {
  boolean, concatBytes, contextTag, DerFormatError, DerWriter, encodedLength, explicit, expectTag, hexToBytes, integer, integerContent, oid,
  readSingle, TAG, timeText
} from './der.js'
import { keyIdOf, parseCertPem, type CertInfo } from './certs.js'
import { parsePrivateKeyPem } from './keys.js'
import { encodePem } from './pem.js'
import { colonHex, serialHex, spiffeIdCharsMax } from './spiffe.js'
import {
  authorityKeyIdDer, basicConstraintsDer, emptyNameDer, extKeyUsageDer, GENERAL_NAME, KEY_USAGE, keyUsageDer, parseCertificateDer,
  subjectKeyIdDer
} from './x509.js'

/** At most this many DNS SANs per leaf (Consul's services use none; gateways a handful). */
export const leafDnsNamesMax = 64
const dnsNameCharsMax = 253
const spkiBytesMax = 4096

function invalidInput (message: string): ControlPlaneError {
  return new ControlPlaneError('ERR_INVALID_INPUT', message)
}

export interface LeafSignRequest {
  /** DER SubjectPublicKeyInfo of the leaf key (ParsedCsr.publicKeySpki). */
  readonly publicKeySpki: Uint8Array
  /** The SPIFFE ID for the URI SAN, already checked against trust domain and datacenter. */
  readonly uri: string
  readonly dnsNames?: readonly string[] | undefined
  /** Unique, positive, at most 20 bytes. */
  readonly serial: bigint | number
  readonly notBefore: Date
  readonly notAfter: Date
}

export interface SignedLeaf {
  /** The leaf alone, PEM with a trailing newline (the caller appends intermediates). */
  readonly certPem: string
  /** Serial in Consul's display form (§7.2): "0a", "01:2c". */
  readonly serialHex: string
}

export class LeafSigner {
  /** Colon-hex SKI of the signing cert: Consul's `SigningKeyID`, and every leaf's AKI. */
  readonly signingKeyId: string
  readonly signingCert: CertInfo
  private readonly key: KeyObject
  private readonly hash: HashName
  private readonly algorithmDer: Uint8Array
  /** version [0] EXPLICIT INTEGER 2. */
  private readonly versionDer = explicit(0, integer(2))
  /** signature AlgorithmIdentifier followed by the issuer Name: adjacent constants in the TBS. */
  private readonly algorithmAndIssuerDer: Uint8Array
  /** BasicConstraints, KeyUsage, ExtKeyUsage and AKI extensions, concatenated. */
  private readonly constantExtensionsDer: Uint8Array
  /** The SKI extension up to (not including) its 32 key id bytes. */
  private readonly subjectKeyIdPrefixDer: Uint8Array

  constructor (o: { signingKeyPem: string, signingCertPem: string }) {
    const { key, spec } = parsePrivateKeyPem(o.signingKeyPem, 'signing key')
    const cert = parseCertPem(o.signingCertPem, 'signing certificate')
    if (!new X509Certificate(Buffer.from(cert.der)).checkPrivateKey(key)) throw invalidInput('signing key does not match the signing certificate')
    if (!cert.isCa) throw invalidInput('signing certificate is not a CA certificate (BasicConstraints CA is false)')
    const keyIdBytes = cert.subjectKeyId === '' ? keyIdOf(cert.publicKeySpki) : hexToBytes(cert.subjectKeyId.replaceAll(':', ''))
    const algorithm = signatureAlgorithmFor(spec)
    this.signingCert = cert
    this.signingKeyId = colonHex(keyIdBytes)
    this.key = key
    this.hash = algorithm.hash
    this.algorithmDer = algorithm.identifierDer
    this.algorithmAndIssuerDer = concatBytes([algorithm.identifierDer, parseCertificateDer(cert.der).subjectDer])
    this.constantExtensionsDer = concatBytes([
      basicConstraintsDer(false),
      keyUsageDer([KEY_USAGE.digitalSignature, KEY_USAGE.keyEncipherment, KEY_USAGE.keyAgreement, KEY_USAGE.dataEncipherment]),
      extKeyUsageDer([OID.serverAuth, OID.clientAuth]),
      authorityKeyIdDer(keyIdBytes)
    ])
    const sampleSubjectKeyId = subjectKeyIdDer(new Uint8Array(keyIdBytesLength))
    this.subjectKeyIdPrefixDer = sampleSubjectKeyId.slice(0, sampleSubjectKeyId.length - keyIdBytesLength)
  }

  /** Signs one leaf with the profile of spec §6.4. Synchronous; throws ERR_INVALID_INPUT on bad input. */
  sign (o: LeafSignRequest): SignedLeaf {
    const serial = checkedSerial(o.serial)
    checkValidity(o.notBefore, o.notAfter)
    checkSpki(o.publicKeySpki)
    checkAscii(o.uri, { what: 'leaf URI', charsMax: spiffeIdCharsMax })
    const dnsNames = o.dnsNames ?? []
    if (dnsNames.length > leafDnsNamesMax) throw invalidInput(`leaf DNS names: at most ${leafDnsNamesMax} allowed, got ${dnsNames.length}`)
    for (const name of dnsNames) checkAscii(name, { what: 'leaf DNS name', charsMax: dnsNameCharsMax })
    const tbsDer = this.tbsDer({ serial, notBefore: o.notBefore, notAfter: o.notAfter, publicKeySpki: o.publicKeySpki, uri: o.uri, dnsNames })
    const signature = sign(this.hash, tbsDer, this.key)
    const bitStringLength = 1 + signature.length
    const certificateLength = tbsDer.length + this.algorithmDer.length + encodedLength(bitStringLength)
    const certificate = new DerWriter(encodedLength(certificateLength))
    certificate.header(TAG.sequence, certificateLength)
    certificate.raw(tbsDer)
    certificate.raw(this.algorithmDer)
    certificate.header(TAG.bitString, bitStringLength)
    certificate.raw(noUnusedBits)
    certificate.raw(signature)
    return { certPem: encodePem('CERTIFICATE', certificate.finish()), serialHex: serialHex(serial) }
  }

  /**
   * The TBSCertificate, written into one buffer: every nested length is computed first, then
   * constants and per-leaf parts are copied in order. Equivalent to x509.tbsCertificateDer with
   * the leaf extensions (BasicConstraints, KeyUsage, ExtKeyUsage, AKI, SKI, critical SAN).
   */
  private tbsDer (o: { serial: bigint, notBefore: Date, notAfter: Date, publicKeySpki: Uint8Array, uri: string, dnsNames: readonly string[] }): Uint8Array {
    const serialContent = integerContent(o.serial)
    const notBefore = timeText(o.notBefore)
    const notAfter = timeText(o.notAfter)
    const keyId = createHash('sha256').update(o.publicKeySpki).digest()
    let namesLength = encodedLength(o.uri.length)
    for (const name of o.dnsNames) namesLength += encodedLength(name.length)
    const generalNamesLength = encodedLength(namesLength)
    const subjectAltNameContentLength = subjectAltNameCriticalPrefixDer.length + encodedLength(generalNamesLength)
    const extensionsLength = this.constantExtensionsDer.length + this.subjectKeyIdPrefixDer.length + keyId.length + encodedLength(subjectAltNameContentLength)
    const validityLength = encodedLength(notBefore.text.length) + encodedLength(notAfter.text.length)
    const tbsLength = this.versionDer.length + encodedLength(serialContent.length) + this.algorithmAndIssuerDer.length +
      encodedLength(validityLength) + emptyNameDer.length + o.publicKeySpki.length + encodedLength(encodedLength(extensionsLength))

    const tbs = new DerWriter(encodedLength(tbsLength))
    tbs.header(TAG.sequence, tbsLength)
    tbs.raw(this.versionDer)
    tbs.header(TAG.integer, serialContent.length)
    tbs.raw(serialContent)
    tbs.raw(this.algorithmAndIssuerDer)
    tbs.header(TAG.sequence, validityLength)
    tbs.header(notBefore.tag, notBefore.text.length)
    tbs.ascii(notBefore.text)
    tbs.header(notAfter.tag, notAfter.text.length)
    tbs.ascii(notAfter.text)
    tbs.raw(emptyNameDer)
    tbs.raw(o.publicKeySpki)
    tbs.header(contextTag(3, true), encodedLength(extensionsLength))
    tbs.header(TAG.sequence, extensionsLength)
    tbs.raw(this.constantExtensionsDer)
    tbs.raw(this.subjectKeyIdPrefixDer)
    tbs.raw(keyId)
    // The subject is empty, so the SAN must be critical (RFC 5280 §4.2.1.6).
    tbs.header(TAG.sequence, subjectAltNameContentLength)
    tbs.raw(subjectAltNameCriticalPrefixDer)
    tbs.header(TAG.octetString, generalNamesLength)
    tbs.header(TAG.sequence, namesLength)
    tbs.header(contextTag(GENERAL_NAME.uri, false), o.uri.length)
    tbs.ascii(o.uri)
    for (const name of o.dnsNames) {
      tbs.header(contextTag(GENERAL_NAME.dns, false), name.length)
      tbs.ascii(name)
    }
    return tbs.finish()
  }
}

const keyIdBytesLength = 32
const noUnusedBits = new Uint8Array([0])
/** extnID subjectAltName and critical TRUE: the constant start of the leaf's SAN extension. */
const subjectAltNameCriticalPrefixDer = concatBytes([oid(OID.subjectAltName), boolean(true)])

function checkedSerial (serial: bigint | number): bigint {
  if (typeof serial === 'number' && !Number.isSafeInteger(serial)) throw invalidInput(`leaf serial must be a safe integer, got ${serial}`)
  const value = BigInt(serial)
  if (value <= 0n || value >= (1n << 159n)) throw invalidInput(`leaf serial must be a positive integer of at most 20 bytes, got ${value}`)
  return value
}

function checkValidity (notBefore: Date, notAfter: Date): void {
  const start = notBefore instanceof Date ? notBefore.getTime() : NaN
  const end = notAfter instanceof Date ? notAfter.getTime() : NaN
  if (!Number.isFinite(start)) throw invalidInput('leaf notBefore must be a valid Date')
  if (!Number.isFinite(end)) throw invalidInput('leaf notAfter must be a valid Date')
  if (end <= start) throw invalidInput(`leaf notAfter (${notAfter.toISOString()}) must be after notBefore (${notBefore.toISOString()})`)
}

function checkSpki (spki: Uint8Array): void {
  if (!(spki instanceof Uint8Array) || spki.length === 0 || spki.length > spkiBytesMax) {
    throw invalidInput(`leaf public key must be 1..${spkiBytesMax} bytes of DER SubjectPublicKeyInfo`)
  }
  try {
    expectTag(readSingle(spki, 'SubjectPublicKeyInfo'), TAG.sequence, 'SubjectPublicKeyInfo')
  } catch (err) {
    if (!(err instanceof DerFormatError)) throw err
    throw new ControlPlaneError('ERR_INVALID_INPUT', `leaf public key is not DER SubjectPublicKeyInfo: ${err.message}`, { cause: err })
  }
}

function checkAscii (value: string, o: { what: string, charsMax: number }): void {
  if (typeof value !== 'string' || value === '') throw invalidInput(`${o.what} must be a non-empty string`)
  if (value.length > o.charsMax) throw invalidInput(`${o.what} is ${value.length} characters, more than the ${o.charsMax} allowed`)
  if (!printableAscii.test(value)) throw invalidInput(`${o.what} must be printable ASCII without spaces, got ${JSON.stringify(value)}`)
}

const printableAscii = /^[\x21-\x7e]+$/

/**
 * P-256 ECDSA-SHA256 signatures per second that node:crypto makes on this machine over
 * `durationMs` of busy work: the ceiling LeafSigner.sign is compared against in benchmarks.
 */
export function rawSignRate (durationMs: number): number {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' })
  const message = randomBytes(400) // about the size of a leaf TBSCertificate
  const started = performance.now()
  let count = 0
  let elapsedMs = 0
  while (elapsedMs < durationMs) {
    for (let i = 0; i < 64; i += 1) sign('sha256', message, privateKey)
    count += 64
    elapsedMs = performance.now() - started
  }
  return count / (elapsedMs / 1000)
}
