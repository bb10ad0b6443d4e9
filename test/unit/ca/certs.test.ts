/**
 * CA certificates, judged by the real openssl: the built-in root profile (spec §6.4) for EC
 * P-256, P-384 and RSA 2048; validation of operator-supplied PrivateKey/RootCert pairs (§6.2);
 * and cross-signing for rotation (§6.6), where a leaf of the new root must verify against the
 * old root through the cross-signed certificate.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createHash, generateKeyPairSync, X509Certificate } from 'node:crypto'
import { createRootCert, crossSign, generateLeafKey, LeafSigner, parseCertPem, spkiDerOf, validateExternalCa, type KeySpec } from '../../../src/ca/index.js'
import { colonHex } from '../../../src/ca/spiffe.js'
import { isControlPlaneError } from '../../../src/util/errors.js'
import { clusterId, hourMs, makeRoot, trustDomain, wholeSeconds, Workdir } from './helpers.js'

function invalidInput (pattern: RegExp): (err: unknown) => boolean {
  return (err: unknown) => isControlPlaneError(err, 'ERR_INVALID_INPUT') && pattern.test((err as Error).message)
}

const rootCases: Array<{ spec: KeySpec, signatureAlgorithm: string }> = [
  { spec: { type: 'ec', bits: 256 }, signatureAlgorithm: 'ecdsa-with-SHA256' },
  { spec: { type: 'ec', bits: 384 }, signatureAlgorithm: 'ecdsa-with-SHA384' },
  { spec: { type: 'rsa', bits: 2048 }, signatureAlgorithm: 'sha256WithRSAEncryption' }
]

for (const { spec, signatureAlgorithm } of rootCases) {
  test(`root ${spec.type} ${spec.bits}: profile, self-verification and key ids (openssl)`, (t) => {
    const work = new Workdir(t)
    const notBefore = wholeSeconds(-60_000)
    const { certPem } = makeRoot({ spec, serial: 7, notBefore, ttlMs: 87_600 * hourMs })
    const rootFile = work.write('root.pem', certPem)
    const text = work.opensslOk(['x509', '-in', rootFile, '-noout', '-text'])
    assert.match(text, /X509v3 Basic Constraints: critical\n\s+CA:TRUE\n/)
    assert.match(text, /X509v3 Key Usage: critical\n\s+Digital Signature, Certificate Sign, CRL Sign\n/)
    assert.match(text, new RegExp(`X509v3 Subject Alternative Name: \\n\\s+URI:spiffe://${trustDomain}\\n`))
    assert.match(text, new RegExp(`Signature Algorithm: ${signatureAlgorithm}`))
    assert.match(text, /Subject: CN = pri-[0-9a-z]{8}\.consul\.ca\.d2b5f1c0\.consul\n/)
    assert.match(work.opensslOk(['verify', '-x509_strict', '-CAfile', rootFile, rootFile]), /root\.pem: OK/)

    const spki = spkiDerOf(new X509Certificate(certPem).publicKey)
    const keyId = colonHex(createHash('sha256').update(spki).digest())
    const info = parseCertPem(certPem)
    assert.equal(info.subjectKeyId, keyId)
    assert.equal(info.authorityKeyId, keyId)
    assert.match(text, new RegExp(`X509v3 Subject Key Identifier: \\n\\s+${keyId.toUpperCase()}\\n`))
    assert.match(text, new RegExp(`X509v3 Authority Key Identifier: \\n\\s+${keyId.toUpperCase()}\\n`))

    const fingerprint = work.opensslOk(['x509', '-in', rootFile, '-noout', '-fingerprint', '-sha1']).trim().split('=')[1]!
    assert.equal(info.id, fingerprint.toLowerCase())
    assert.equal(work.opensslOk(['x509', '-in', rootFile, '-noout', '-serial']).trim(), 'serial=07')
    const dates = work.opensslOk(['x509', '-in', rootFile, '-noout', '-startdate', '-enddate', '-dateopt', 'iso_8601'])
    const notAfter = new Date(notBefore.getTime() + 87_600 * hourMs)
    assert.equal(dates, `notBefore=${notBefore.toISOString().replace('T', ' ').replace('.000Z', 'Z')}\nnotAfter=${notAfter.toISOString().replace('T', ' ').replace('.000Z', 'Z')}\n`)
    assert.equal(info.serialNumber, 7n)
    assert.equal(info.notBefore.getTime(), notBefore.getTime())
    assert.equal(info.notAfter.getTime(), notAfter.getTime())
    assert.equal(info.isCa, true)
    assert.deepEqual(info.uris, [`spiffe://${trustDomain}`])
    assert.deepEqual(info.spec, spec)
    assert.equal(info.pem, certPem)
    assert.ok(info.pem.endsWith('\n'))
  })
}

test('root CNs differ per call; a root valid past 2049 uses GeneralizedTime and still verifies', (t) => {
  const work = new Workdir(t)
  const first = parseCertPem(makeRoot().certPem)
  const second = parseCertPem(makeRoot().certPem)
  assert.notEqual(first.subject, second.subject)
  const { certPem } = makeRoot({ ttlMs: 40 * 8760 * hourMs })
  assert.ok(parseCertPem(certPem).notAfter.getUTCFullYear() >= 2050)
  const file = work.write('long.pem', certPem)
  assert.match(work.opensslOk(['verify', '-CAfile', file, file]), /OK/)
})

test('createRootCert and parseCertPem refuse bad input precisely', () => {
  const { keyPem, certPem } = makeRoot()
  const base = { privateKeyPem: keyPem, clusterId, serial: 1, notBefore: new Date(), ttlMs: hourMs }
  assert.throws(() => createRootCert({ ...base, serial: 0 }), invalidInput(/^root serial must be a positive integer of at most 20 bytes, got 0$/))
  assert.throws(() => createRootCert({ ...base, ttlMs: 0 }), invalidInput(/^root TTL must be a positive number of milliseconds, got 0$/))
  assert.throws(() => createRootCert({ ...base, privateKeyPem: 'nope' }), invalidInput(/^PrivateKey is not valid PEM/))
  assert.throws(() => createRootCert({ ...base, clusterId: 'bad id' }), invalidInput(/^cluster ID must be/))
  assert.throws(() => parseCertPem('garbage'), invalidInput(/^RootCert is not valid PEM: no "-----BEGIN/))
  assert.throws(() => parseCertPem(keyPem), invalidInput(/^RootCert has no "CERTIFICATE" PEM block \(found: EC PRIVATE KEY\)$/))
  // Drop the second base64 line: still valid base64, no longer a valid certificate.
  const truncated = certPem.replace(/(-----\n[A-Za-z0-9+/]{64}\n)[A-Za-z0-9+/]{64}\n/, '$1')
  assert.notEqual(truncated, certPem)
  assert.throws(() => parseCertPem(truncated, 'root_cert'), invalidInput(/^root_cert is not a valid X\.509 certificate: /))
  const junk = '-----BEGIN CERTIFICATE-----\nMAMCAQE=\n-----END CERTIFICATE-----\n'
  assert.throws(() => parseCertPem(junk), invalidInput(/^RootCert is not a valid X\.509 certificate: Certificate: expected 3 elements/))
})

// ---------------------------------------------------------------------------------------------
// External (operator-supplied) CA
// ---------------------------------------------------------------------------------------------

interface ExternalCa { keyPem: string, certPem: string }

/** An operator-style CA made by `openssl req -x509` with the given key options and extensions. */
function opensslCa (work: Workdir, o: { name: string, keyArgs: readonly string[], basicConstraints: string, uri?: string }): ExternalCa {
  const config = [
    '[req]', 'distinguished_name = dn', 'prompt = no', 'x509_extensions = ext',
    '[dn]', `CN = ${o.name}`,
    '[ext]', `basicConstraints = ${o.basicConstraints}`, 'keyUsage = critical,keyCertSign,cRLSign,digitalSignature',
    'subjectKeyIdentifier = hash', ...(o.uri === undefined ? [] : [`subjectAltName = URI:${o.uri}`]), ''
  ].join('\n')
  const configFile = work.write(`${o.name}.cnf`, config)
  const keyFile = work.file(`${o.name}.key`)
  const certFile = work.file(`${o.name}.pem`)
  work.opensslOk(['req', '-x509', '-config', configFile, ...o.keyArgs, '-nodes', '-keyout', keyFile, '-out', certFile, '-days', '30'])
  return { keyPem: work.opensslOk(['pkey', '-in', keyFile]), certPem: work.opensslOk(['x509', '-in', certFile]) }
}

const ec256 = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256']
const ec384 = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-384']
const rsa2048 = ['-newkey', 'rsa:2048']
const caTrue = 'critical,CA:TRUE'

test('external CA: EC P-256, EC P-384 and RSA 2048 from openssl pass', (t) => {
  const work = new Workdir(t)
  const cases: Array<[readonly string[], KeySpec]> = [[ec256, { type: 'ec', bits: 256 }], [ec384, { type: 'ec', bits: 384 }], [rsa2048, { type: 'rsa', bits: 2048 }]]
  for (const [keyArgs, spec] of cases) {
    const ca = opensslCa(work, { name: `ext-${spec.type}-${spec.bits}`, keyArgs, basicConstraints: caTrue, uri: `spiffe://${trustDomain}` })
    const result = validateExternalCa({ privateKeyPem: ca.keyPem, rootCertPem: ca.certPem, trustDomain })
    assert.deepEqual(result.spec, spec)
    assert.deepEqual(result.cert.spec, spec)
    assert.equal(result.cert.isCa, true)
    // The imported pair signs leaves that openssl accepts.
    const signer = new LeafSigner({ signingKeyPem: ca.keyPem, signingCertPem: ca.certPem })
    const { privateKey } = generateLeafKey()
    const leaf = signer.sign({ publicKeySpki: spkiDerOf(privateKey), uri: `spiffe://${trustDomain}/ns/default/dc/dc1/svc/web`, serial: 2, notBefore: new Date(Date.now() - 60_000), notAfter: new Date(Date.now() + hourMs) })
    const rootFile = work.write(`ext-${spec.type}-${spec.bits}-root.pem`, ca.certPem)
    const leafFile = work.write(`ext-${spec.type}-${spec.bits}-leaf.pem`, leaf.certPem)
    assert.match(work.opensslOk(['verify', '-CAfile', rootFile, '-purpose', 'sslclient', leafFile]), /OK/)
  }
  // No trust domain given: any URI SAN is accepted; without a URI SAN at all, too.
  const noUri = opensslCa(work, { name: 'ext-nouri', keyArgs: ec256, basicConstraints: caTrue })
  assert.deepEqual(validateExternalCa({ privateKeyPem: noUri.keyPem, rootCertPem: noUri.certPem, trustDomain }).cert.uris, [])
})

test('external CA: RSA 1024, non-CA, mismatched pair, garbage, expired and foreign trust domain are refused precisely', (t) => {
  const work = new Workdir(t)
  const rsa1024 = opensslCa(work, { name: 'rsa1024', keyArgs: ['-newkey', 'rsa:1024'], basicConstraints: caTrue })
  assert.throws(() => validateExternalCa({ privateKeyPem: rsa1024.keyPem, rootCertPem: rsa1024.certPem }), invalidInput(/^RSA keys must be at least 2048 bits, got 1024$/))

  const notCa = opensslCa(work, { name: 'notca', keyArgs: ec256, basicConstraints: 'critical,CA:FALSE' })
  assert.throws(() => validateExternalCa({ privateKeyPem: notCa.keyPem, rootCertPem: notCa.certPem }), invalidInput(/^RootCert is not a CA certificate \(BasicConstraints CA is false\)$/))

  const good = opensslCa(work, { name: 'good', keyArgs: ec256, basicConstraints: caTrue, uri: `spiffe://${trustDomain}` })
  const other = opensslCa(work, { name: 'other', keyArgs: ec256, basicConstraints: caTrue })
  assert.throws(() => validateExternalCa({ privateKeyPem: other.keyPem, rootCertPem: good.certPem }), invalidInput(/^PrivateKey does not match RootCert/))

  assert.throws(() => validateExternalCa({ privateKeyPem: 'garbage', rootCertPem: good.certPem }), invalidInput(/^PrivateKey is not valid PEM: /))
  assert.throws(() => validateExternalCa({ privateKeyPem: good.keyPem, rootCertPem: 'garbage' }), invalidInput(/^RootCert is not valid PEM: /))

  const expired = createRootCert({ privateKeyPem: good.keyPem, clusterId, serial: 3, notBefore: new Date('2020-01-01T00:00:00Z'), ttlMs: 24 * hourMs })
  assert.throws(() => validateExternalCa({ privateKeyPem: good.keyPem, rootCertPem: expired }),
    invalidInput(/^RootCert has expired: NotAfter 2020-01-02T00:00:00\.000Z is before now \(/))

  assert.throws(() => validateExternalCa({ privateKeyPem: good.keyPem, rootCertPem: good.certPem, trustDomain: 'aaaaaaaa-0000-0000-0000-000000000000.consul' }),
    invalidInput(new RegExp(`^RootCert URI SAN must be spiffe://aaaaaaaa-0000-0000-0000-000000000000\\.consul, found spiffe://${trustDomain}$`)))

  const p521 = generateKeyPairSync('ec', { namedCurve: 'secp521r1' }).privateKey.export({ type: 'sec1', format: 'pem' }).toString()
  const p521Root = createRootCert({ privateKeyPem: p521, clusterId, serial: 4, notBefore: new Date(), ttlMs: hourMs })
  assert.throws(() => validateExternalCa({ privateKeyPem: p521, rootCertPem: p521Root }), invalidInput(/^EC keys must use curve P-256 or P-384, got P-521$/))
})

// ---------------------------------------------------------------------------------------------
// Cross-signing
// ---------------------------------------------------------------------------------------------

const crossCases: Array<{ old: KeySpec, next: KeySpec }> = [
  { old: { type: 'ec', bits: 256 }, next: { type: 'ec', bits: 256 } },
  { old: { type: 'rsa', bits: 2048 }, next: { type: 'ec', bits: 384 } }
]

for (const { old, next } of crossCases) {
  test(`cross-sign ${old.type} ${old.bits} -> ${next.type} ${next.bits}: new leaves verify against the old root via the cross-signed cert`, (t) => {
    const work = new Workdir(t)
    const oldRoot = makeRoot({ spec: old, serial: 1 })
    const newRoot = makeRoot({ spec: next, serial: 10 })
    const now = wholeSeconds(0)
    const crossPem = crossSign({ certPem: newRoot.certPem, signerKeyPem: oldRoot.keyPem, signerCertPem: oldRoot.certPem, serial: 11, now })

    const cross = parseCertPem(crossPem, 'cross')
    const oldInfo = parseCertPem(oldRoot.certPem)
    const newInfo = parseCertPem(newRoot.certPem)
    assert.equal(cross.serialNumber, 11n)
    assert.equal(cross.subject, newInfo.subject)
    assert.equal(cross.subjectKeyId, newInfo.subjectKeyId)
    assert.equal(cross.authorityKeyId, oldInfo.subjectKeyId)
    assert.deepEqual(cross.publicKeySpki, newInfo.publicKeySpki)
    assert.deepEqual(cross.uris, newInfo.uris)
    assert.equal(cross.isCa, true)
    assert.equal(cross.notBefore.getTime(), now.getTime() - 60_000)
    assert.equal(cross.notAfter.getTime(), now.getTime() + 7 * 24 * hourMs)
    assert.equal(new X509Certificate(crossPem).issuer, new X509Certificate(oldRoot.certPem).subject)

    const signer = new LeafSigner({ signingKeyPem: newRoot.keyPem, signingCertPem: newRoot.certPem })
    const { privateKey } = generateLeafKey()
    const leaf = signer.sign({ publicKeySpki: spkiDerOf(privateKey), uri: `spiffe://${trustDomain}/ns/default/dc/dc1/svc/web`, serial: 12, notBefore: new Date(Date.now() - 60_000), notAfter: new Date(Date.now() + 72 * hourMs) })
    const oldFile = work.write('old.pem', oldRoot.certPem)
    const newFile = work.write('new.pem', newRoot.certPem)
    const crossFile = work.write('cross.pem', crossPem)
    const leafFile = work.write('leaf.pem', leaf.certPem)
    assert.match(work.opensslOk(['verify', '-CAfile', oldFile, '-untrusted', crossFile, leafFile]), /leaf\.pem: OK/)
    assert.match(work.opensslOk(['verify', '-CAfile', newFile, leafFile]), /leaf\.pem: OK/)
    assert.match(work.opensslOk(['verify', '-CAfile', oldFile, crossFile]), /cross\.pem: OK/)
    // Without the cross-signed certificate the old root alone does not vouch for new leaves.
    assert.equal(work.openssl(['verify', '-CAfile', oldFile, leafFile]).ok, false)
  })
}

test('crossSign refuses a signing key that does not match the signing certificate', () => {
  const oldRoot = makeRoot()
  const newRoot = makeRoot()
  assert.throws(() => crossSign({ certPem: newRoot.certPem, signerKeyPem: newRoot.keyPem, signerCertPem: oldRoot.certPem, serial: 3, now: new Date() }),
    invalidInput(/^signing key does not match the signing certificate$/))
})
