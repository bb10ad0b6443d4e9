/**
 * PKCS#10 certificate signing requests (RFC 2986) for Connect leaves (spec §6.4).
 *
 * Agent side: `generateLeafKey` makes the P-256 key the agent keeps, and `createCsrPem` builds a
 * CSR with an empty subject and exactly one URI SAN (the SPIFFE ID), signed ECDSA-SHA256.
 * Server side: `parseCsrPem` reads any well-formed CSR, verifies its self-signature and returns
 * the SANs and public key; `singleUriOf` applies the sign-time SAN rules with Consul's messages.
 * Identity checks on the URI (trust domain, datacenter, ACLs) belong to the sign endpoint.
 *
 * Called by: the agent's leaf cache (create), the ConnectCA.Sign endpoint (parse), tests.
 */
import { verify, type KeyObject } from 'node:crypto'
import { ControlPlaneError } from '../util/errors.js'
import { OID, signatureAlgorithmByOid, signatureAlgorithmFor } from './algorithms.js'
import {
  childrenOf, contextTag, DerFormatError, explicit, expectTag, ia5Bytes, integer, oid, rawOf, readBitString, readInteger,
  readOid, readSingle, sequence, setOf, TAG, type DerElement
} from './der.js'
import { generateEcKey, keySpecOf, publicKeyFromSpki, spkiDerOf, type KeySpec } from './keys.js'
import { decodePemBlocks, encodePem, findPemBlock } from './pem.js'
import { spiffeIdCharsMax } from './spiffe.js'
import { emptyNameDer, extensionDer, generalNamesDer, parseExtensions, readGeneralNames, signedDer, type GeneralNames } from './x509.js'

export interface ParsedCsr {
  readonly uris: string[]
  readonly dnsNames: string[]
  readonly ipAddresses: string[]
  readonly emails: string[]
  /** DER SubjectPublicKeyInfo, ready for LeafSigner.sign. */
  readonly publicKeySpki: Uint8Array
  readonly spec: KeySpec
}

function invalidCsr (message: string, cause?: unknown): ControlPlaneError {
  return new ControlPlaneError('ERR_INVALID_INPUT', message, { ...(cause === undefined ? {} : { cause }), details: { field: 'CSR' } })
}

/** Parses a PEM CSR and verifies its signature with the public key it carries. */
export function parseCsrPem (pem: string): ParsedCsr {
  const block = findPemBlock({ blocks: decodePemBlocks(pem, 'CSR'), labels: ['CERTIFICATE REQUEST', 'NEW CERTIFICATE REQUEST'], field: 'CSR' })
  let structure: CsrStructure
  try {
    structure = readCsrStructure(block.der)
  } catch (err) {
    if (!(err instanceof DerFormatError)) throw err
    throw invalidCsr(`CSR is not a valid PKCS#10 request: ${err.message}`, err)
  }
  const algorithm = signatureAlgorithmByOid(structure.signatureAlgorithmOid)
  if (algorithm === undefined) throw invalidCsr(`CSR signature algorithm ${structure.signatureAlgorithmOid} is not supported`)
  const publicKey = publicKeyFromSpki(structure.spkiDer, 'CSR public key')
  const spec = keySpecOf(publicKey, 'CSR public key')
  if (algorithm.keyType !== spec.type) throw invalidCsr(`CSR signature algorithm ${algorithm.oid} does not fit its ${spec.type} public key`)
  let signatureValid: boolean
  try {
    signatureValid = verify(algorithm.hash, structure.infoDer, publicKey, structure.signature)
  } catch {
    signatureValid = false
  }
  if (!signatureValid) throw invalidCsr('CSR signature is invalid: it does not verify with the public key in the CSR')
  return { ...structure.names, publicKeySpki: new Uint8Array(structure.spkiDer), spec }
}

interface CsrStructure {
  readonly infoDer: Uint8Array
  readonly spkiDer: Uint8Array
  readonly names: GeneralNames
  readonly signatureAlgorithmOid: string
  readonly signature: Uint8Array
}

function readCsrStructure (der: Uint8Array): CsrStructure {
  const request = expectTag(readSingle(der, 'CertificationRequest'), TAG.sequence, 'CertificationRequest')
  const parts = childrenOf(request, 'CertificationRequest')
  if (parts.length !== 3) throw new DerFormatError(`CertificationRequest: expected 3 elements (info, algorithm, signature), found ${parts.length}`)
  const [info, algorithm, signature] = parts as [DerElement, DerElement, DerElement]
  const fields = childrenOf(expectTag(info, TAG.sequence, 'CertificationRequestInfo'), 'CertificationRequestInfo')
  if (fields.length !== 4) throw new DerFormatError(`CertificationRequestInfo: expected 4 elements (version, subject, key, attributes), found ${fields.length}`)
  const [versionElement, subject, spki, attributes] = fields as [DerElement, DerElement, DerElement, DerElement]
  const version = readInteger(versionElement, 'CertificationRequestInfo version')
  if (version !== 0n) throw new DerFormatError(`CertificationRequestInfo: version must be 0 (v1), found ${version}`)
  expectTag(subject, TAG.sequence, 'CertificationRequestInfo subject')
  expectTag(spki, TAG.sequence, 'CertificationRequestInfo subjectPKInfo')
  expectTag(attributes, contextTag(0, true), 'CertificationRequestInfo attributes')
  const algorithmFields = childrenOf(expectTag(algorithm, TAG.sequence, 'CertificationRequest signatureAlgorithm'), 'CertificationRequest signatureAlgorithm')
  if (algorithmFields[0] === undefined) throw new DerFormatError('CertificationRequest signatureAlgorithm: empty AlgorithmIdentifier')
  return {
    infoDer: rawOf(info),
    spkiDer: rawOf(spki),
    names: readRequestedNames(attributes),
    signatureAlgorithmOid: readOid(algorithmFields[0], 'CertificationRequest signatureAlgorithm'),
    signature: readBitString(signature, 'CertificationRequest signature').bytes
  }
}

/** SANs from the extensionRequest attribute (PKCS#9); other attributes are ignored. */
function readRequestedNames (attributes: DerElement): GeneralNames {
  for (const attribute of childrenOf(attributes, 'CSR attributes')) {
    const items = childrenOf(expectTag(attribute, TAG.sequence, 'CSR attribute'), 'CSR attribute')
    if (items.length !== 2) throw new DerFormatError(`CSR attribute: expected type and values, found ${items.length} elements`)
    if (readOid(items[0]!, 'CSR attribute type') !== OID.extensionRequest) continue
    const values = childrenOf(expectTag(items[1]!, TAG.set, 'CSR extensionRequest values'), 'CSR extensionRequest values')
    if (values.length !== 1) throw new DerFormatError(`CSR extensionRequest: expected one value, found ${values.length}`)
    const extensions = parseExtensions(values[0]!, 'CSR extensionRequest')
    const subjectAltName = extensions.find(extension => extension.oid === OID.subjectAltName)
    if (subjectAltName !== undefined) return readGeneralNames(subjectAltName.value)
  }
  return { uris: [], dnsNames: [], ipAddresses: [], emails: [] }
}

/** Sign-time SAN rules (spec §6.4): exactly one URI SAN and no email SANs. Returns the URI. */
export function singleUriOf (csr: ParsedCsr): string {
  if (csr.uris.length !== 1) throw invalidCsr(`CSR SAN contains an invalid number of URIs: ${csr.uris.length}`)
  if (csr.emails.length > 0) throw invalidCsr(`CSR SAN must not contain email addresses, found ${csr.emails.length}`)
  return csr.uris[0]!
}

/** An agent-side CSR: empty subject, one URI SAN, signed by `privateKey` (ECDSA-SHA256 for P-256). */
export function createCsrPem (o: { privateKey: KeyObject, uri: string }): string {
  if (o.privateKey.type !== 'private') throw invalidCsr(`CSR key must be a private key, got a ${o.privateKey.type} key`)
  const uriBytes = checkedUriBytes(o.uri)
  const spec = keySpecOf(o.privateKey, 'CSR key')
  const algorithm = signatureAlgorithmFor(spec)
  const sanExtension = extensionDer({ oid: OID.subjectAltName, critical: false, value: generalNamesDer({ uris: [uriBytes], dnsNames: [] }) })
  const extensionRequest = sequence(oid(OID.extensionRequest), setOf(sequence(sanExtension)))
  const infoDer = sequence(integer(0), emptyNameDer, spkiDerOf(o.privateKey), explicit(0, extensionRequest))
  return encodePem('CERTIFICATE REQUEST', signedDer({ tbsDer: infoDer, algorithm, key: o.privateKey }))
}

function checkedUriBytes (uri: string): Uint8Array {
  if (typeof uri !== 'string' || uri === '') throw invalidCsr('CSR URI must be a non-empty string')
  if (uri.length > spiffeIdCharsMax) throw invalidCsr(`CSR URI is ${uri.length} characters, more than the ${spiffeIdCharsMax} allowed`)
  if (!/^[\x21-\x7e]+$/.test(uri)) throw invalidCsr(`CSR URI must be printable ASCII without spaces, got ${JSON.stringify(uri)}`)
  return ia5Bytes(uri)
}

/** A fresh leaf key: ECDSA P-256, with its SEC1 "EC PRIVATE KEY" PEM (the IssuedCert PrivateKeyPEM). */
export function generateLeafKey (): { privateKey: KeyObject, privateKeyPem: string } {
  const privateKey = generateEcKey('prime256v1')
  return { privateKey, privateKeyPem: privateKey.export({ type: 'sec1', format: 'pem' }).toString() }
}
