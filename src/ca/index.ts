/**
 * The Connect CA crypto library: pure, synchronous building blocks for the CA provider, the sign
 * endpoint, the agent's leaf cache and the proxy. No I/O, no Raft, no clocks except where a
 * caller may omit `now`.
 *
 * Called by: src/ca provider/manager code, src/rpc endpoints, src/agent, src/proxy.
 */
export { agentUri, colonHex, meshGatewayUri, parseSpiffeId, serialHex, serviceUri, signingUri, trustDomainFor, type SpiffeId } from './spiffe.js'
export { generatePrivateKeyPem, keySpecOf, parsePrivateKeyPem, publicKeyFromSpki, spkiDerOf, validateKeySpec, type KeySpec } from './keys.js'
export { createRootCert, crossSign, keyIdOf, parseCertPem, validateExternalCa, type CertInfo } from './certs.js'
export { createCsrPem, generateLeafKey, parseCsrPem, singleUriOf, type ParsedCsr } from './csr.js'
export { LeafSigner, rawSignRate, type LeafSignRequest, type SignedLeaf } from './leaf-signer.js'
