/**
 * Object identifiers and signature algorithms used by the CA, as precomputed DER.
 *
 * The signing hash follows the signer's key: SHA-256 for P-224/P-256 and RSA, SHA-384 for P-384,
 * SHA-512 for P-521, matching what Go's x509 picks for each curve. Verification accepts the
 * ECDSA and PKCS#1 v1.5 RSA variants with SHA-256/384/512, which covers every CSR and root we
 * accept (spec §6.4 leaves use ECDSA-SHA256).
 *
 * Called by: certs.ts, csr.ts, leaf-signer.ts.
 */
import { assert } from '../util/assert.js'
import { nullValue, oid, sequence } from './der.js'
import type { KeySpec } from './keys.js'

export const OID = {
  commonName: '2.5.4.3',
  subjectKeyIdentifier: '2.5.29.14',
  keyUsage: '2.5.29.15',
  subjectAltName: '2.5.29.17',
  basicConstraints: '2.5.29.19',
  authorityKeyIdentifier: '2.5.29.35',
  extKeyUsage: '2.5.29.37',
  serverAuth: '1.3.6.1.5.5.7.3.1',
  clientAuth: '1.3.6.1.5.5.7.3.2',
  extensionRequest: '1.2.840.113549.1.9.14',
  ecdsaWithSha256: '1.2.840.10045.4.3.2',
  ecdsaWithSha384: '1.2.840.10045.4.3.3',
  ecdsaWithSha512: '1.2.840.10045.4.3.4',
  sha256WithRsa: '1.2.840.113549.1.1.11',
  sha384WithRsa: '1.2.840.113549.1.1.12',
  sha512WithRsa: '1.2.840.113549.1.1.13'
} as const

export type HashName = 'sha256' | 'sha384' | 'sha512'

export interface SignatureAlgorithm {
  readonly oid: string
  readonly hash: HashName
  readonly keyType: KeySpec['type']
  /** AlgorithmIdentifier DER: ECDSA omits parameters, RSA carries NULL (RFC 5758 §3.2, RFC 4055 §5). */
  readonly identifierDer: Uint8Array
}

function algorithm (o: { oid: string, hash: HashName, keyType: KeySpec['type'] }): SignatureAlgorithm {
  const identifierDer = o.keyType === 'ec' ? sequence(oid(o.oid)) : sequence(oid(o.oid), nullValue())
  return { ...o, identifierDer }
}

const algorithms: readonly SignatureAlgorithm[] = [
  algorithm({ oid: OID.ecdsaWithSha256, hash: 'sha256', keyType: 'ec' }),
  algorithm({ oid: OID.ecdsaWithSha384, hash: 'sha384', keyType: 'ec' }),
  algorithm({ oid: OID.ecdsaWithSha512, hash: 'sha512', keyType: 'ec' }),
  algorithm({ oid: OID.sha256WithRsa, hash: 'sha256', keyType: 'rsa' }),
  algorithm({ oid: OID.sha384WithRsa, hash: 'sha384', keyType: 'rsa' }),
  algorithm({ oid: OID.sha512WithRsa, hash: 'sha512', keyType: 'rsa' })
]

/** The algorithm a key of `spec` signs certificates and CSRs with. */
export function signatureAlgorithmFor (spec: KeySpec): SignatureAlgorithm {
  const hash: HashName = spec.type === 'rsa' ? 'sha256' : spec.bits === 384 ? 'sha384' : spec.bits === 521 ? 'sha512' : 'sha256'
  const found = algorithms.find(candidate => candidate.keyType === spec.type && candidate.hash === hash)
  assert(found !== undefined, `no signature algorithm for ${spec.type} ${spec.bits}`)
  return found
}

/** The algorithm named by a signatureAlgorithm OID, or undefined if we do not verify it. */
export function signatureAlgorithmByOid (algorithmOid: string): SignatureAlgorithm | undefined {
  return algorithms.find(candidate => candidate.oid === algorithmOid)
}
