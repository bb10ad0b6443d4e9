/**
 * Leaf certificate signing: the hot path of the Connect CA (every service instance renews its leaf
 * every few days, and a cluster start or root rotation asks for all of them at once).
 *
 * A `LeafSigner` is built once per active signing key. The constructor validates the key/cert pair
 * and precomputes every constant byte string of the leaf profile (spec §6.4): the issuer Name,
 * the signature AlgorithmIdentifier, BasicConstraints CA=false, KeyUsage, ExtKeyUsage and the
 * AuthorityKeyIdentifier. `sign` then only encodes the per-leaf parts (serial, validity, SPKI,
 * SKI = SHA-256 of the SPKI, the critical URI SAN), splices them with the constants, and makes one
 * synchronous node:crypto signature. Nothing here awaits or allocates per-leaf objects beyond the
 * byte arrays themselves.
 *
 * `sign` trusts `publicKeySpki` to be a key the caller has parsed (parseCsrPem verified it); it
 * checks only its DER framing, because a full key parse per leaf would cost as much as the
 * signature. Serials are allocated by the caller (unique through Raft); times are the caller's
 * decision too (NotBefore = now − 1 min by spec), so the same inputs give the same TBS bytes.
 *
 * Called by: the CA provider's sign path on the leader (ConnectCA.Sign), bench/ca-sign.bench.ts.
 */
import { Buffer } from 'node:buffer'
import { createHash, generateKeyPairSync, randomBytes, sign, X509Certificate, type KeyObject } from 'node:crypto'
import { ControlPlaneError } from '../util/errors.js'
import { OID, signatureAlgorithmFor, type HashName } from './algorithms.js'
import { bitString, DerFormatError, explicit, expectTag, hexToBytes, ia5Bytes, integer, readSingle, sequence, TAG, time } from './der.js'
import { keyIdOf, parseCertPem, type CertInfo } from './certs.js'
import { parsePrivateKeyPem } from './keys.js'
import { encodePem } from './pem.js'
import { colonHex, serialHex, spiffeIdCharsMax } from './spiffe.js'
import {
  authorityKeyIdDer, basicConstraintsDer, emptyNameDer, extensionDer, extKeyUsageDer, generalNamesDer, KEY_USAGE,
  keyUsageDer, parseCertificateDer, subjectKeyIdDer
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
  /** version [0], serial goes after; then algorithm + issuer (constant). */
  private readonly versionDer = explicit(0, integer(2))
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
    this.signingKeyId = cert.subjectKeyId === '' ? colonHex(keyIdBytes) : cert.subjectKeyId
    this.key = key
    this.hash = algorithm.hash
    this.algorithmDer = algorithm.identifierDer
    this.algorithmAndIssuerDer = concat([algorithm.identifierDer, parseCertificateDer(cert.der).subjectDer])
    this.constantExtensionsDer = concat([
      basicConstraintsDer(false),
      keyUsageDer([KEY_USAGE.digitalSignature, KEY_USAGE.keyEncipherment, KEY_USAGE.keyAgreement, KEY_USAGE.dataEncipherment]),
      extKeyUsageDer([OID.serverAuth, OID.clientAuth]),
      authorityKeyIdDer(keyIdBytes)
    ])
    const sampleSubjectKeyId = subjectKeyIdDer(new Uint8Array(32))
    this.subjectKeyIdPrefixDer = sampleSubjectKeyId.slice(0, sampleSubjectKeyId.length - 32)
  }

  /** Signs one leaf with the profile of spec §6.4. Synchronous; throws ERR_INVALID_INPUT on bad input. */
  sign (o: LeafSignRequest): SignedLeaf {
    const serial = checkedSerial(o.serial)
    checkValidity(o.notBefore, o.notAfter)
    checkSpki(o.publicKeySpki)
    const uriBytes = checkedAscii(o.uri, { what: 'leaf URI', charsMax: spiffeIdCharsMax })
    const dnsNames = o.dnsNames ?? []
    if (dnsNames.length > leafDnsNamesMax) throw invalidInput(`leaf DNS names: at most ${leafDnsNamesMax} allowed, got ${dnsNames.length}`)
    const dnsBytes = dnsNames.map(name => checkedAscii(name, { what: 'leaf DNS name', charsMax: dnsNameCharsMax }))
    const keyId = createHash('sha256').update(o.publicKeySpki).digest()
    // The subject is empty, so the SAN must be critical (RFC 5280 §4.2.1.6).
    const subjectAltName = extensionDer({ oid: OID.subjectAltName, critical: true, value: generalNamesDer({ uris: [uriBytes], dnsNames: dnsBytes }) })
    const tbsDer = sequence(
      this.versionDer,
      integer(serial),
      this.algorithmAndIssuerDer,
      sequence(time(o.notBefore), time(o.notAfter)),
      emptyNameDer,
      o.publicKeySpki,
      explicit(3, sequence(this.constantExtensionsDer, this.subjectKeyIdPrefixDer, keyId, subjectAltName))
    )
    const signature = sign(this.hash, tbsDer, this.key)
    const certificateDer = sequence(tbsDer, this.algorithmDer, bitString(signature))
    return { certPem: encodePem('CERTIFICATE', certificateDer), serialHex: serialHex(serial) }
  }
}

function concat (parts: readonly Uint8Array[]): Uint8Array {
  return new Uint8Array(Buffer.concat(parts))
}

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

function checkedAscii (value: string, o: { what: string, charsMax: number }): Uint8Array {
  if (typeof value !== 'string' || value === '') throw invalidInput(`${o.what} must be a non-empty string`)
  if (value.length > o.charsMax) throw invalidInput(`${o.what} is ${value.length} characters, more than the ${o.charsMax} allowed`)
  if (!/^[\x21-\x7e]+$/.test(value)) throw invalidInput(`${o.what} must be printable ASCII without spaces, got ${JSON.stringify(value)}`)
  return ia5Bytes(value)
}

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
