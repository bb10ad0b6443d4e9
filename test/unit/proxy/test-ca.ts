/**
 * A throwaway Connect CA for proxy tests: a root with the built-in provider's profile and leaves
 * for any SPIFFE ID, made with src/ca (no agent needed). Used by the unit tests and, as "a CA the
 * cluster does not trust", by the end-to-end tests.
 */
import { generateLeafKey, generatePrivateKeyPem, createRootCert, LeafSigner, spkiDerOf } from '../../../src/ca/index.js'

export interface TestLeaf {
  readonly certPem: string
  readonly keyPem: string
  readonly serialHex: string
  readonly uri: string
}

export interface TestCa {
  readonly rootPem: string
  readonly keyPem: string
  readonly trustDomain: string
  /** A leaf for `uri` (default: the service's SPIFFE ID in this trust domain, dc1), valid for `ttlMs`. */
  issue (o: { service?: string, uri?: string, ttlMs?: number }): TestLeaf
}

let serialCounter = 1_000

export function makeTestCa (o: { clusterId: string, signingKeyPem?: string }): TestCa {
  const keyPem = o.signingKeyPem ?? generatePrivateKeyPem({ type: 'ec', bits: 256 })
  const now = Date.now()
  const rootPem = createRootCert({ privateKeyPem: keyPem, clusterId: o.clusterId, serial: serialCounter++, notBefore: new Date(now - 60_000), ttlMs: 24 * 3_600_000 })
  const signer = new LeafSigner({ signingKeyPem: keyPem, signingCertPem: rootPem })
  const trustDomain = `${o.clusterId}.consul`
  return {
    rootPem,
    keyPem,
    trustDomain,
    issue (request) {
      const leafKey = generateLeafKey()
      const uri = request.uri ?? `spiffe://${trustDomain}/ns/default/dc/dc1/svc/${request.service ?? 'web'}`
      const notBefore = new Date(Date.now() - 60_000)
      const signed = signer.sign({
        publicKeySpki: spkiDerOf(leafKey.privateKey),
        uri,
        serial: serialCounter++,
        notBefore,
        notAfter: new Date(notBefore.getTime() + (request.ttlMs ?? 3_600_000))
      })
      return { certPem: signed.certPem, keyPem: leafKey.privateKeyPem, serialHex: signed.serialHex, uri }
    }
  }
}
