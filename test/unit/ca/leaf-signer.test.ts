/**
 * Leaf signing (spec §6.4), judged by openssl and by real TLS: the profile (empty subject,
 * critical URI SAN, CA=false, key usages, serverAuth+clientAuth, SKI/AKI), exact serials and
 * validity, verification for both TLS purposes under EC P-256, EC P-384 and RSA CAs, mutual TLS
 * between two leaves in Node, refusal of a foreign root's leaf, and a printed throughput figure.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createHash, X509Certificate } from 'node:crypto'
import { once } from 'node:events'
import type { AddressInfo, Socket } from 'node:net'
import tls from 'node:tls'
import { createCsrPem, crossSign, generateLeafKey, LeafSigner, parseCertPem, parseCsrPem, rawSignRate, spkiDerOf, type KeySpec } from '../../../src/ca/index.js'
import { OID, signatureAlgorithmFor } from '../../../src/ca/algorithms.js'
import { hexToBytes, ia5Bytes } from '../../../src/ca/der.js'
import { colonHex } from '../../../src/ca/spiffe.js'
import {
  authorityKeyIdDer, basicConstraintsDer, emptyNameDer, extensionDer, extKeyUsageDer, generalNamesDer, KEY_USAGE, keyUsageDer, parseCertificateDer,
  subjectKeyIdDer, tbsCertificateDer
} from '../../../src/ca/x509.js'
import { isControlPlaneError } from '../../../src/util/errors.js'
import { hourMs, makeRoot, trustDomain, wholeSeconds, Workdir } from './helpers.js'

const webUri = `spiffe://${trustDomain}/ns/default/dc/dc1/svc/web`
const dbUri = `spiffe://${trustDomain}/ns/default/dc/dc1/svc/db`

function invalidInput (pattern: RegExp): (err: unknown) => boolean {
  return (err: unknown) => isControlPlaneError(err, 'ERR_INVALID_INPUT') && pattern.test((err as Error).message)
}

function isoSeconds (date: Date): string {
  return date.toISOString().replace('T', ' ').replace('.000Z', 'Z')
}

/** A leaf for `uri` issued through the real agent path: key, CSR, parse, sign. */
function issue (signer: LeafSigner, o: { uri: string, serial: bigint | number, dnsNames?: string[] }): { certPem: string, keyPem: string, serialHex: string } {
  const { privateKey, privateKeyPem } = generateLeafKey()
  const csr = parseCsrPem(createCsrPem({ privateKey, uri: o.uri }))
  const signed = signer.sign({
    publicKeySpki: csr.publicKeySpki,
    uri: csr.uris[0]!,
    dnsNames: o.dnsNames,
    serial: o.serial,
    notBefore: new Date(Date.now() - 60_000),
    notAfter: new Date(Date.now() + 72 * hourMs)
  })
  return { certPem: signed.certPem, keyPem: privateKeyPem, serialHex: signed.serialHex }
}

const caSpecs: KeySpec[] = [{ type: 'ec', bits: 256 }, { type: 'ec', bits: 384 }, { type: 'rsa', bits: 2048 }]

for (const spec of caSpecs) {
  test(`leaf from a ${spec.type} ${spec.bits} CA: profile and openssl verify for sslclient and sslserver`, (t) => {
    const work = new Workdir(t)
    const root = makeRoot({ spec })
    const rootInfo = parseCertPem(root.certPem)
    const signer = new LeafSigner({ signingKeyPem: root.keyPem, signingCertPem: root.certPem })
    assert.equal(signer.signingKeyId, rootInfo.subjectKeyId)
    const { privateKey } = generateLeafKey()
    const csr = parseCsrPem(createCsrPem({ privateKey, uri: webUri }))
    const notBefore = wholeSeconds(-60_000)
    const notAfter = new Date(notBefore.getTime() + 72 * hourMs)
    const signed = signer.sign({ publicKeySpki: csr.publicKeySpki, uri: webUri, serial: 300, notBefore, notAfter })
    assert.equal(signed.serialHex, '01:2c')
    assert.ok(signed.certPem.endsWith('-----END CERTIFICATE-----\n'))

    const rootFile = work.write('root.pem', root.certPem)
    const leafFile = work.write('leaf.pem', signed.certPem)
    for (const purpose of ['sslclient', 'sslserver']) {
      assert.match(work.opensslOk(['verify', '-x509_strict', '-CAfile', rootFile, '-purpose', purpose, leafFile]), /leaf\.pem: OK/, purpose)
    }
    const text = work.opensslOk(['x509', '-in', leafFile, '-noout', '-text'])
    assert.match(text, /Subject: \n/)
    assert.match(text, /X509v3 Basic Constraints: critical\n\s+CA:FALSE\n/)
    assert.match(text, /X509v3 Key Usage: critical\n\s+Digital Signature, Key Encipherment, Data Encipherment, Key Agreement\n/)
    assert.match(text, /X509v3 Extended Key Usage: \n\s+TLS Web Server Authentication, TLS Web Client Authentication\n/)
    assert.match(text, /X509v3 Subject Alternative Name: critical\n\s+URI:(\S+)\n/)
    assert.equal(/Subject Alternative Name: critical\n\s+(.+)\n/.exec(text)?.[1], `URI:${webUri}`)
    const leafKeyId = colonHex(createHash('sha256').update(spkiDerOf(privateKey)).digest())
    assert.match(text, new RegExp(`X509v3 Subject Key Identifier: \\n\\s+${leafKeyId.toUpperCase()}\\n`))
    assert.match(text, new RegExp(`X509v3 Authority Key Identifier: \\n\\s+${rootInfo.subjectKeyId.toUpperCase()}\\n`))
    assert.equal(work.opensslOk(['x509', '-in', leafFile, '-noout', '-serial']).trim(), 'serial=012C')
    assert.equal(work.opensslOk(['x509', '-in', leafFile, '-noout', '-startdate', '-enddate', '-dateopt', 'iso_8601']),
      `notBefore=${isoSeconds(notBefore)}\nnotAfter=${isoSeconds(notAfter)}\n`)

    const info = parseCertPem(signed.certPem, 'leaf')
    assert.equal(info.isCa, false)
    assert.deepEqual(info.uris, [webUri])
    assert.equal(info.authorityKeyId, signer.signingKeyId)
    assert.equal(info.subjectKeyId, leafKeyId)
    assert.deepEqual(info.spec, { type: 'ec', bits: 256 })
  })
}

test('serials of every size encode as positive DER INTEGERs; DNS SANs follow the URI', (t) => {
  const work = new Workdir(t)
  const root = makeRoot()
  const signer = new LeafSigner({ signingKeyPem: root.keyPem, signingCertPem: root.certPem })
  const cases: Array<[bigint | number, string, string]> = [
    [1, '01', 'serial=01'],
    [0x7f, '7f', 'serial=7F'],
    [0x80, '80', 'serial=80'],
    [0xffff, 'ff:ff', 'serial=FFFF'],
    [(1n << 159n) - 1n, `7f:${Array(19).fill('ff').join(':')}`, `serial=7F${'FF'.repeat(19)}`]
  ]
  const rootFile = work.write('root.pem', root.certPem)
  for (const [serial, hex, opensslSerial] of cases) {
    const leaf = issue(signer, { uri: webUri, serial })
    assert.equal(leaf.serialHex, hex)
    assert.equal(parseCertPem(leaf.certPem, 'leaf').serialNumber, BigInt(serial))
    const file = work.write(`leaf-${hex.replace(/:/g, '')}.pem`, leaf.certPem)
    assert.equal(work.opensslOk(['x509', '-in', file, '-noout', '-serial']).trim(), opensslSerial)
    assert.match(work.opensslOk(['verify', '-CAfile', rootFile, file]), /OK/)
  }
  const withDns = issue(signer, { uri: webUri, serial: 99, dnsNames: ['web.service.consul', '*.web.example'] })
  assert.equal(new X509Certificate(withDns.certPem).subjectAltName, `URI:${webUri}, DNS:web.service.consul, DNS:*.web.example`)
})

test('the single-buffer TBS writer matches the general DER builder byte for byte', () => {
  const root = makeRoot()
  const signer = new LeafSigner({ signingKeyPem: root.keyPem, signingCertPem: root.certPem })
  const issuer = parseCertificateDer(parseCertPem(root.certPem).der).subjectDer
  const keyId = hexToBytes(signer.signingKeyId.replaceAll(':', ''))
  const cases: Array<{ serial: bigint, dnsNames: string[], uri: string, notAfter: Date }> = [
    { serial: 1n, dnsNames: [], uri: webUri, notAfter: new Date(Date.now() + 72 * hourMs) },
    { serial: 0x80n, dnsNames: ['a.example', 'b'.repeat(200)], uri: webUri, notAfter: new Date(Date.UTC(2051, 0, 1)) },
    { serial: (1n << 159n) - 1n, dnsNames: [], uri: `${webUri}/${'x'.repeat(300)}`, notAfter: new Date(Date.now() + hourMs) }
  ]
  for (const { serial, dnsNames, uri, notAfter } of cases) {
    const spki = spkiDerOf(generateLeafKey().privateKey)
    const notBefore = wholeSeconds(-60_000)
    const signed = signer.sign({ publicKeySpki: spki, uri, dnsNames, serial, notBefore, notAfter })
    const parsed = parseCertificateDer(parseCertPem(signed.certPem, 'leaf').der)
    const expected = tbsCertificateDer({
      serial,
      algorithm: signatureAlgorithmFor({ type: 'ec', bits: 256 }),
      issuerDer: issuer,
      notBefore,
      notAfter,
      subjectDer: emptyNameDer,
      spkiDer: spki,
      extensions: [
        basicConstraintsDer(false),
        keyUsageDer([KEY_USAGE.digitalSignature, KEY_USAGE.keyEncipherment, KEY_USAGE.keyAgreement, KEY_USAGE.dataEncipherment]),
        extKeyUsageDer([OID.serverAuth, OID.clientAuth]),
        authorityKeyIdDer(keyId),
        subjectKeyIdDer(new Uint8Array(createHash('sha256').update(spki).digest())),
        extensionDer({ oid: OID.subjectAltName, critical: true, value: generalNamesDer({ uris: [ia5Bytes(uri)], dnsNames: dnsNames.map(ia5Bytes) }) })
      ]
    })
    assert.deepEqual(new Uint8Array(parsed.tbsDer), expected, `serial ${serial}`)
  }
})

test('LeafSigner refuses a mismatched key, a non-CA signing cert and bad sign input', () => {
  const root = makeRoot()
  const other = makeRoot()
  assert.throws(() => new LeafSigner({ signingKeyPem: other.keyPem, signingCertPem: root.certPem }), invalidInput(/^signing key does not match the signing certificate$/))
  const signer = new LeafSigner({ signingKeyPem: root.keyPem, signingCertPem: root.certPem })
  const leaf = issue(signer, { uri: webUri, serial: 5 })
  assert.throws(() => new LeafSigner({ signingKeyPem: leaf.keyPem, signingCertPem: leaf.certPem }), invalidInput(/^signing certificate is not a CA certificate/))
  assert.throws(() => new LeafSigner({ signingKeyPem: 'x', signingCertPem: root.certPem }), invalidInput(/^signing key is not valid PEM/))

  const spki = spkiDerOf(generateLeafKey().privateKey)
  const good = { publicKeySpki: spki, uri: webUri, serial: 1, notBefore: new Date(), notAfter: new Date(Date.now() + hourMs) }
  assert.throws(() => signer.sign({ ...good, serial: 0 }), invalidInput(/^leaf serial must be a positive integer of at most 20 bytes, got 0$/))
  assert.throws(() => signer.sign({ ...good, serial: 1n << 159n }), invalidInput(/^leaf serial must be a positive integer of at most 20 bytes/))
  assert.throws(() => signer.sign({ ...good, serial: 1.5 }), invalidInput(/^leaf serial must be a safe integer, got 1\.5$/))
  assert.throws(() => signer.sign({ ...good, notAfter: good.notBefore }), invalidInput(/^leaf notAfter \(.*\) must be after notBefore/))
  assert.throws(() => signer.sign({ ...good, notBefore: new Date(NaN) }), invalidInput(/^leaf notBefore must be a valid Date$/))
  assert.throws(() => signer.sign({ ...good, uri: 'spiffe://é' }), invalidInput(/^leaf URI must be printable ASCII without spaces/))
  assert.throws(() => signer.sign({ ...good, dnsNames: ['a b'] }), invalidInput(/^leaf DNS name must be printable ASCII without spaces/))
  assert.throws(() => signer.sign({ ...good, publicKeySpki: new Uint8Array([0x30, 0x05, 0x00]) }), invalidInput(/^leaf public key is not DER SubjectPublicKeyInfo: /))
  assert.throws(() => signer.sign({ ...good, publicKeySpki: new Uint8Array([0x04, 0x00]) }), invalidInput(/^leaf public key is not DER SubjectPublicKeyInfo: .*expected tag 0x30/))
})

// ---------------------------------------------------------------------------------------------
// Real TLS
// ---------------------------------------------------------------------------------------------

type Outcome = { ok: true, peerSan: string } | { ok: false, error: string }

/**
 * One mutual-TLS connection on loopback; both sides' outcomes. Every path settles: a server that
 * rejects a client certificate destroys the socket without emitting an event of its own (Node
 * only emits tlsClientError for some failures), so a raw socket closing first counts as refusal.
 */
async function handshake (o: { server: { keyPem: string, certPem: string, ca: string[] }, client: { keyPem: string, certPem: string, ca: string[] } }): Promise<{ server: Outcome, client: Outcome }> {
  const server = tls.createServer({ key: o.server.keyPem, cert: o.server.certPem, ca: o.server.ca, requestCert: true, rejectUnauthorized: true })
  const rawSockets: Socket[] = []
  const serverOutcome = new Promise<Outcome>(resolve => {
    server.on('connection', (raw: Socket) => {
      rawSockets.push(raw)
      raw.once('close', () => resolve({ ok: false, error: 'connection closed before the handshake completed' }))
    })
    server.on('secureConnection', socket => {
      resolve({ ok: true, peerSan: socket.getPeerCertificate().subjectaltname ?? '' })
      socket.end('ok')
    })
    server.on('tlsClientError', err => resolve({ ok: false, error: err.message }))
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address() as AddressInfo
  let socket: tls.TLSSocket | undefined
  const clientOutcome = new Promise<Outcome>(resolve => {
    // Connect leaves carry no DNS names; identity is the SPIFFE URI, so skip hostname checks.
    socket = tls.connect({ host: '127.0.0.1', port, key: o.client.keyPem, cert: o.client.certPem, ca: o.client.ca, checkServerIdentity: () => undefined })
    let data = ''
    let peerSan = ''
    socket.on('secureConnect', () => { peerSan = socket?.getPeerCertificate().subjectaltname ?? '' })
    socket.on('data', chunk => { data += String(chunk) })
    socket.on('error', err => resolve({ ok: false, error: err.message }))
    socket.on('close', () => resolve(data === 'ok' ? { ok: true, peerSan } : { ok: false, error: 'closed before the server answered' }))
  })
  try {
    const [serverResult, clientResult] = await Promise.all([serverOutcome, clientOutcome])
    return { server: serverResult, client: clientResult }
  } finally {
    socket?.destroy()
    for (const raw of rawSockets) raw.destroy()
    server.close()
  }
}

test('mutual TLS between two leaves of one root succeeds and each side sees the other\'s SPIFFE ID', { timeout: 20_000 }, async () => {
  const root = makeRoot()
  const signer = new LeafSigner({ signingKeyPem: root.keyPem, signingCertPem: root.certPem })
  const web = issue(signer, { uri: webUri, serial: 2 })
  const db = issue(signer, { uri: dbUri, serial: 3 })
  const result = await handshake({ server: { ...db, ca: [root.certPem] }, client: { ...web, ca: [root.certPem] } })
  assert.deepEqual(result.server, { ok: true, peerSan: `URI:${webUri}` })
  assert.deepEqual(result.client, { ok: true, peerSan: `URI:${dbUri}` })
})

test('a leaf from a foreign root is refused in the TLS handshake, on either side', { timeout: 20_000 }, async () => {
  const root = makeRoot()
  const foreign = makeRoot()
  const signer = new LeafSigner({ signingKeyPem: root.keyPem, signingCertPem: root.certPem })
  const foreignSigner = new LeafSigner({ signingKeyPem: foreign.keyPem, signingCertPem: foreign.certPem })
  const db = issue(signer, { uri: dbUri, serial: 2 })
  const intruder = issue(foreignSigner, { uri: webUri, serial: 2 })
  const clientRefused = await handshake({ server: { ...db, ca: [root.certPem] }, client: { ...intruder, ca: [root.certPem] } })
  assert.equal(clientRefused.server.ok, false)
  assert.equal(clientRefused.client.ok, false)
  const serverRefused = await handshake({ server: { ...intruder, ca: [root.certPem] }, client: { ...db, ca: [root.certPem] } })
  assert.equal(serverRefused.client.ok, false)
})

test('during rotation a peer trusting only the old root accepts a new leaf sent with the cross-signed cert', { timeout: 20_000 }, async () => {
  const oldRoot = makeRoot({ serial: 1 })
  const newRoot = makeRoot({ serial: 2 })
  const cross = crossSign({ certPem: newRoot.certPem, signerKeyPem: oldRoot.keyPem, signerCertPem: oldRoot.certPem, serial: 3, now: new Date() })
  const oldSigner = new LeafSigner({ signingKeyPem: oldRoot.keyPem, signingCertPem: oldRoot.certPem })
  const newSigner = new LeafSigner({ signingKeyPem: newRoot.keyPem, signingCertPem: newRoot.certPem })
  const stale = issue(oldSigner, { uri: dbUri, serial: 4 })
  const fresh = issue(newSigner, { uri: webUri, serial: 5 })
  // CertPEM = leaf followed by the active root's intermediates (spec §6.4).
  const freshChain = { keyPem: fresh.keyPem, certPem: fresh.certPem + cross }
  const result = await handshake({ server: { ...stale, ca: [oldRoot.certPem] }, client: { ...freshChain, ca: [oldRoot.certPem, newRoot.certPem] } })
  assert.deepEqual(result.server, { ok: true, peerSan: `URI:${webUri}` })
  assert.equal(result.client.ok, true)
})

test('throughput (printed, not asserted): LeafSigner.sign vs raw P-256 signatures, and agent key+CSR', (t) => {
  const root = makeRoot()
  const signer = new LeafSigner({ signingKeyPem: root.keyPem, signingCertPem: root.certPem })
  const spki = spkiDerOf(generateLeafKey().privateKey)
  const notBefore = new Date(Date.now() - 60_000)
  const notAfter = new Date(Date.now() + 72 * hourMs)
  const measure = (durationMs: number, run: () => void): number => {
    const started = performance.now()
    let count = 0
    while (performance.now() - started < durationMs) {
      for (let i = 0; i < 32; i += 1) run()
      count += 32
    }
    return count / ((performance.now() - started) / 1000)
  }
  let serial = 1
  const leavesPerSecond = measure(500, () => { signer.sign({ publicKeySpki: spki, uri: webUri, serial: serial++, notBefore, notAfter }) })
  const rawPerSecond = rawSignRate(500)
  const agentPerSecond = measure(500, () => { createCsrPem({ privateKey: generateLeafKey().privateKey, uri: webUri }) })
  t.diagnostic(`LeafSigner.sign (P-256 CA): ${Math.round(leavesPerSecond)} leaves/s; raw P-256 sign: ${Math.round(rawPerSecond)} ops/s (${Math.round(100 * leavesPerSecond / rawPerSecond)}%)`)
  t.diagnostic(`agent generateLeafKey + createCsrPem: ${Math.round(agentPerSecond)}/s`)
  assert.ok(leavesPerSecond > 0)
})
