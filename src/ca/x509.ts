/**
 * X.509 building blocks shared by the root builder, the cross-signer, the leaf signer and the
 * CSR code: Name and extension encoders (RFC 5280 §4.1, §4.2), TBSCertificate assembly and
 * signing, and a structural certificate parser.
 *
 * The parser reads only what the CA needs (serial, names as raw DER, validity, SPKI, extensions)
 * and keeps raw byte ranges, so the cross-signer can copy a subject and extensions byte for byte.
 * It throws DerFormatError; callers add the field name. OpenSSL (X509Certificate) still parses
 * every certificate we accept, as a second opinion.
 *
 * Called by: certs.ts, csr.ts, leaf-signer.ts.
 */
import { sign, type KeyObject } from 'node:crypto'
import { assert } from '../util/assert.js'
import type { SignatureAlgorithm } from './algorithms.js'
import { OID } from './algorithms.js'
import {
  bitString, boolean, childrenOf, concatBytes, contentOf, contextTag, DerFormatError, expectTag, explicit,
  implicitPrimitive, integer, namedBitString, octetString, oid, rawOf, readBitString, readBoolean, readElement,
  readInteger, readOctetString, readOid, readSingle, readTime, sequence, setOf, TAG, tlv, time, utf8String,
  type DerElement
} from './der.js'

/** KeyUsage bit positions (RFC 5280 §4.2.1.3). */
export const KEY_USAGE = {
  digitalSignature: 0,
  keyEncipherment: 2,
  dataEncipherment: 3,
  keyAgreement: 4,
  keyCertSign: 5,
  cRLSign: 6
} as const

/** GeneralName tags (RFC 5280 §4.2.1.6), all implicit and primitive for the kinds we handle. */
export const GENERAL_NAME = { email: 1, dns: 2, uri: 6, ip: 7 } as const

/** The empty Name (a SEQUENCE with no RDNs), used as a leaf subject and in CSRs. */
export const emptyNameDer = sequence()

/** A Name with a single CN attribute, UTF8String per RFC 5280 §4.1.2.6. */
export function commonNameDer (commonName: string): Uint8Array {
  return sequence(setOf(sequence(oid(OID.commonName), utf8String(commonName))))
}

export function extensionDer (o: { oid: string, critical: boolean, value: Uint8Array }): Uint8Array {
  return o.critical ? sequence(oid(o.oid), boolean(true), octetString(o.value)) : sequence(oid(o.oid), octetString(o.value))
}

/** BasicConstraints, always critical as Go marks it; no path length constraint. */
export function basicConstraintsDer (isCa: boolean): Uint8Array {
  return extensionDer({ oid: OID.basicConstraints, critical: true, value: isCa ? sequence(boolean(true)) : sequence() })
}

export function keyUsageDer (bits: readonly number[]): Uint8Array {
  return extensionDer({ oid: OID.keyUsage, critical: true, value: namedBitString(bits) })
}

export function extKeyUsageDer (purposes: readonly string[]): Uint8Array {
  return extensionDer({ oid: OID.extKeyUsage, critical: false, value: sequence(...purposes.map(purpose => oid(purpose))) })
}

export function subjectKeyIdDer (keyId: Uint8Array): Uint8Array {
  return extensionDer({ oid: OID.subjectKeyIdentifier, critical: false, value: octetString(keyId) })
}

/** AuthorityKeyIdentifier with only keyIdentifier [0]. */
export function authorityKeyIdDer (keyId: Uint8Array): Uint8Array {
  return extensionDer({ oid: OID.authorityKeyIdentifier, critical: false, value: sequence(implicitPrimitive(0, keyId)) })
}

/** The GeneralNames SEQUENCE holding URIs then DNS names; inputs are ASCII-checked by callers. */
export function generalNamesDer (o: { uris: readonly Uint8Array[], dnsNames: readonly Uint8Array[] }): Uint8Array {
  const names = [
    ...o.uris.map(uri => implicitPrimitive(GENERAL_NAME.uri, uri)),
    ...o.dnsNames.map(name => implicitPrimitive(GENERAL_NAME.dns, name))
  ]
  return sequence(...names)
}

/**
 * TBSCertificate (RFC 5280 §4.1). `extensions` are already-encoded Extension elements.
 */
export function tbsCertificateDer (o: {
  serial: bigint | number
  algorithm: SignatureAlgorithm
  issuerDer: Uint8Array
  notBefore: Date
  notAfter: Date
  subjectDer: Uint8Array
  spkiDer: Uint8Array
  extensions: readonly Uint8Array[]
}): Uint8Array {
  return sequence(
    explicit(0, integer(2)),
    integer(o.serial),
    o.algorithm.identifierDer,
    o.issuerDer,
    sequence(time(o.notBefore), time(o.notAfter)),
    o.subjectDer,
    o.spkiDer,
    explicit(3, sequence(...o.extensions))
  )
}

/** Signs a TBS (certificate or CSR info) and wraps it as SEQUENCE { tbs, algorithm, signature }. */
export function signedDer (o: { tbsDer: Uint8Array, algorithm: SignatureAlgorithm, key: KeyObject }): Uint8Array {
  assert(o.key.type === 'private', 'signedDer needs a private key')
  // ECDSA signatures come back DER-encoded (dsaEncoding defaults to 'der'), as X.509 wants.
  const signature = sign(o.algorithm.hash, o.tbsDer, o.key)
  return sequence(o.tbsDer, o.algorithm.identifierDer, bitString(signature))
}

// ---------------------------------------------------------------------------------------------
// Parsing
// ---------------------------------------------------------------------------------------------

export interface ParsedExtension {
  readonly oid: string
  readonly critical: boolean
  /** Content of the extnValue OCTET STRING: the extension's own DER. */
  readonly value: Uint8Array
  /** The whole Extension element, for copying unchanged. */
  readonly raw: Uint8Array
}

export interface ParsedCertificate {
  readonly tbsDer: Uint8Array
  readonly serialNumber: bigint
  readonly issuerDer: Uint8Array
  readonly subjectDer: Uint8Array
  readonly notBefore: Date
  readonly notAfter: Date
  readonly spkiDer: Uint8Array
  readonly extensions: readonly ParsedExtension[]
  readonly signatureAlgorithmOid: string
  readonly signature: Uint8Array
}

/** Structure of an X.509 v1..v3 certificate. Throws DerFormatError. */
export function parseCertificateDer (der: Uint8Array): ParsedCertificate {
  const certificate = expectTag(readSingle(der, 'Certificate'), TAG.sequence, 'Certificate')
  const parts = childrenOf(certificate, 'Certificate')
  if (parts.length !== 3) throw new DerFormatError(`Certificate: expected 3 elements (tbs, algorithm, signature), found ${parts.length}`)
  const [tbs, algorithm, signatureElement] = parts as [DerElement, DerElement, DerElement]
  const fields = childrenOf(expectTag(tbs, TAG.sequence, 'TBSCertificate'), 'TBSCertificate')
  let index = 0
  if (fields[0]?.tag === contextTag(0, true)) index += 1 // version; the structure below is the same for v1..v3
  const take = (what: string): DerElement => {
    const field = fields[index]
    if (field === undefined) throw new DerFormatError(`TBSCertificate: missing ${what}`)
    index += 1
    return field
  }
  const serialNumber = readInteger(take('serialNumber'), 'TBSCertificate serialNumber')
  take('signature')
  const issuer = expectTag(take('issuer'), TAG.sequence, 'TBSCertificate issuer')
  const validity = childrenOf(expectTag(take('validity'), TAG.sequence, 'TBSCertificate validity'), 'TBSCertificate validity')
  if (validity.length !== 2) throw new DerFormatError(`TBSCertificate validity: expected 2 times, found ${validity.length}`)
  const subject = expectTag(take('subject'), TAG.sequence, 'TBSCertificate subject')
  const spki = expectTag(take('subjectPublicKeyInfo'), TAG.sequence, 'TBSCertificate subjectPublicKeyInfo')
  let extensions: ParsedExtension[] = []
  for (const rest of fields.slice(index)) {
    if (rest.tag === contextTag(3, true)) {
      const inner = childrenOf(rest, 'TBSCertificate extensions')
      if (inner.length !== 1) throw new DerFormatError('TBSCertificate extensions: expected one SEQUENCE inside [3]')
      extensions = parseExtensions(inner[0]!, 'TBSCertificate extensions')
    }
  }
  const algorithmFields = childrenOf(expectTag(algorithm, TAG.sequence, 'Certificate signatureAlgorithm'), 'Certificate signatureAlgorithm')
  if (algorithmFields[0] === undefined) throw new DerFormatError('Certificate signatureAlgorithm: empty AlgorithmIdentifier')
  const signatureBits = readBitString(signatureElement, 'Certificate signature')
  return {
    tbsDer: rawOf(tbs),
    serialNumber,
    issuerDer: rawOf(issuer),
    subjectDer: rawOf(subject),
    notBefore: readTime(validity[0]!, 'TBSCertificate notBefore'),
    notAfter: readTime(validity[1]!, 'TBSCertificate notAfter'),
    spkiDer: rawOf(spki),
    extensions,
    signatureAlgorithmOid: readOid(algorithmFields[0], 'Certificate signatureAlgorithm'),
    signature: signatureBits.bytes
  }
}

/** A SEQUENCE OF Extension (in a certificate's [3] or a CSR's extensionRequest attribute). */
export function parseExtensions (element: DerElement, what: string): ParsedExtension[] {
  const out: ParsedExtension[] = []
  for (const extension of childrenOf(expectTag(element, TAG.sequence, what), what)) {
    const items = childrenOf(expectTag(extension, TAG.sequence, what), what)
    if (items.length < 2 || items.length > 3) throw new DerFormatError(`${what}: an Extension has ${items.length} elements, expected 2 or 3`)
    const extensionOid = readOid(items[0]!, what)
    const critical = items.length === 3 ? readBoolean(items[1]!, `${what} ${extensionOid} critical`) : false
    const value = readOctetString(items[items.length - 1]!, `${what} ${extensionOid} value`)
    if (out.some(seen => seen.oid === extensionOid)) throw new DerFormatError(`${what}: extension ${extensionOid} appears twice`)
    out.push({ oid: extensionOid, critical, value, raw: rawOf(extension) })
  }
  return out
}

/** cA from a BasicConstraints extension value. */
export function readBasicConstraintsIsCa (value: Uint8Array): boolean {
  const items = childrenOf(expectTag(readSingle(value, 'BasicConstraints'), TAG.sequence, 'BasicConstraints'), 'BasicConstraints')
  const first = items[0]
  return first !== undefined && first.tag === TAG.boolean && readBoolean(first, 'BasicConstraints cA')
}

export function readSubjectKeyId (value: Uint8Array): Uint8Array {
  return readOctetString(readSingle(value, 'SubjectKeyIdentifier'), 'SubjectKeyIdentifier')
}

/** keyIdentifier [0] of an AuthorityKeyIdentifier, or an empty array when absent. */
export function readAuthorityKeyId (value: Uint8Array): Uint8Array {
  const items = childrenOf(expectTag(readSingle(value, 'AuthorityKeyIdentifier'), TAG.sequence, 'AuthorityKeyIdentifier'), 'AuthorityKeyIdentifier')
  const keyIdentifier = items.find(item => item.tag === contextTag(0, false))
  return keyIdentifier === undefined ? new Uint8Array(0) : contentOf(keyIdentifier)
}

export interface GeneralNames {
  readonly uris: string[]
  readonly dnsNames: string[]
  readonly ipAddresses: string[]
  readonly emails: string[]
}

/** URIs, DNS names, IPs and emails of a SubjectAltName value; other name kinds are skipped. */
export function readGeneralNames (value: Uint8Array): GeneralNames {
  const out: GeneralNames = { uris: [], dnsNames: [], ipAddresses: [], emails: [] }
  const sequenceElement = expectTag(readSingle(value, 'SubjectAltName'), TAG.sequence, 'SubjectAltName')
  for (const name of childrenOf(sequenceElement, 'SubjectAltName')) {
    const content = contentOf(name)
    if (name.tag === contextTag(GENERAL_NAME.uri, false)) out.uris.push(ascii(content, 'SubjectAltName URI'))
    else if (name.tag === contextTag(GENERAL_NAME.dns, false)) out.dnsNames.push(ascii(content, 'SubjectAltName DNS name'))
    else if (name.tag === contextTag(GENERAL_NAME.email, false)) out.emails.push(ascii(content, 'SubjectAltName email'))
    else if (name.tag === contextTag(GENERAL_NAME.ip, false)) out.ipAddresses.push(formatIp(content))
  }
  return out
}

function ascii (bytes: Uint8Array, what: string): string {
  for (const byte of bytes) if (byte >= 0x80) throw new DerFormatError(`${what} contains a non-ASCII byte`)
  return String.fromCharCode(...bytes)
}

function formatIp (bytes: Uint8Array): string {
  if (bytes.length === 4) return Array.from(bytes).join('.')
  if (bytes.length !== 16) throw new DerFormatError(`SubjectAltName IP address has ${bytes.length} bytes, expected 4 or 16`)
  const groups: number[] = []
  for (let i = 0; i < 16; i += 2) groups.push(bytes[i]! * 256 + bytes[i + 1]!)
  // Compress the longest run (at least two) of zero groups as "::" (RFC 5952 §4.2).
  let bestStart = -1
  let bestLength = 1
  for (let start = 0; start < 8; start += 1) {
    let length = 0
    while (start + length < 8 && groups[start + length] === 0) length += 1
    if (length > bestLength) {
      bestStart = start
      bestLength = length
    }
  }
  const hex = groups.map(group => group.toString(16))
  if (bestStart < 0) return hex.join(':')
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLength).join(':')}`
}

