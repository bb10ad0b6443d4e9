/**
 * PKCS#10 CSRs (spec §6.4): the agent's CSR round trips and satisfies `openssl req -verify`;
 * CSRs made by openssl parse with all their SANs; tampering, bad PEM and bad DER are refused with
 * clear messages; and the sign-time SAN rules report the URI count.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { createPrivateKey } from 'node:crypto'
import { createCsrPem, generateLeafKey, parseCsrPem, singleUriOf, spkiDerOf } from '../../../src/ca/index.js'
import { childrenOf, rawOf, readSingle, sequence } from '../../../src/ca/der.js'
import { decodePemBlocks, encodePem } from '../../../src/ca/pem.js'
import { isControlPlaneError } from '../../../src/util/errors.js'
import { trustDomain, Workdir } from './helpers.js'

const webUri = `spiffe://${trustDomain}/ns/default/dc/dc1/svc/web`

function invalidInput (pattern: RegExp): (err: unknown) => boolean {
  return (err: unknown) => isControlPlaneError(err, 'ERR_INVALID_INPUT') && pattern.test((err as Error).message)
}

test('generateLeafKey makes a P-256 key with SEC1 PEM', () => {
  const { privateKey, privateKeyPem } = generateLeafKey()
  assert.match(privateKeyPem, /^-----BEGIN EC PRIVATE KEY-----\n[\s\S]+-----END EC PRIVATE KEY-----\n$/)
  assert.equal(privateKey.asymmetricKeyDetails?.namedCurve, 'prime256v1')
  assert.deepEqual(spkiDerOf(createPrivateKey(privateKeyPem)), spkiDerOf(privateKey))
})

test('createCsrPem -> parseCsrPem round trip, and openssl req -verify accepts it', (t) => {
  const work = new Workdir(t)
  const { privateKey } = generateLeafKey()
  const csrPem = createCsrPem({ privateKey, uri: webUri })
  assert.match(csrPem, /^-----BEGIN CERTIFICATE REQUEST-----\n/)
  const parsed = parseCsrPem(csrPem)
  assert.deepEqual(parsed.uris, [webUri])
  assert.deepEqual(parsed.dnsNames, [])
  assert.deepEqual(parsed.ipAddresses, [])
  assert.deepEqual(parsed.emails, [])
  assert.deepEqual(parsed.spec, { type: 'ec', bits: 256 })
  assert.deepEqual(parsed.publicKeySpki, spkiDerOf(privateKey))
  assert.equal(singleUriOf(parsed), webUri)

  const file = work.write('agent.csr', csrPem)
  const verify = work.openssl(['req', '-in', file, '-verify', '-noout', '-text'])
  assert.ok(verify.ok, verify.stderr)
  assert.match(verify.stderr + verify.stdout, /verify OK/)
  assert.match(verify.stdout, /Subject: \n/)
  assert.match(verify.stdout, new RegExp(`URI:${webUri.replace(/[.]/g, '\\.')}\\n`))
  assert.match(verify.stdout, /Signature Algorithm: ecdsa-with-SHA256/)
})

test('CSRs made by openssl parse with every SAN kind; the URI count is reported', (t) => {
  const work = new Workdir(t)
  const keyFile = work.file('k.pem')
  work.opensslOk(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', keyFile])
  const make = (name: string, san: string | null): string => {
    const out = work.file(`${name}.csr`)
    work.opensslOk(['req', '-new', '-key', keyFile, '-subj', '/CN=x', ...(san === null ? [] : ['-addext', `subjectAltName=${san}`]), '-out', out])
    return work.opensslOk(['req', '-in', out])
  }
  const two = parseCsrPem(make('two', `URI:${webUri},URI:spiffe://${trustDomain}/ns/default/dc/dc1/svc/db,DNS:web.example,IP:10.0.0.1,IP:2001:db8::1`))
  assert.deepEqual(two.uris, [webUri, `spiffe://${trustDomain}/ns/default/dc/dc1/svc/db`])
  assert.deepEqual(two.dnsNames, ['web.example'])
  assert.deepEqual(two.ipAddresses, ['10.0.0.1', '2001:db8::1'])
  assert.throws(() => singleUriOf(two), invalidInput(/^CSR SAN contains an invalid number of URIs: 2$/))

  const none = parseCsrPem(make('none', null))
  assert.deepEqual(none.uris, [])
  assert.throws(() => singleUriOf(none), invalidInput(/^CSR SAN contains an invalid number of URIs: 0$/))

  const email = parseCsrPem(make('email', `URI:${webUri},email:ops@example.com`))
  assert.deepEqual(email.emails, ['ops@example.com'])
  assert.throws(() => singleUriOf(email), invalidInput(/^CSR SAN must not contain email addresses, found 1$/))

  const rsaKey = work.file('rsa.pem')
  work.opensslOk(['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', rsaKey])
  const rsaCsr = work.file('rsa.csr')
  work.opensslOk(['req', '-new', '-key', rsaKey, '-subj', '/', '-addext', `subjectAltName=URI:${webUri}`, '-out', rsaCsr])
  const rsa = parseCsrPem(work.opensslOk(['req', '-in', rsaCsr]))
  assert.deepEqual(rsa.spec, { type: 'rsa', bits: 2048 })
  assert.deepEqual(rsa.uris, [webUri])
})

test('a tampered CSR fails signature verification', () => {
  const { privateKey } = generateLeafKey()
  const der = decodePemBlocks(createCsrPem({ privateKey, uri: webUri }), 'CSR')[0]!.der
  const uriOffset = Buffer.from(der).indexOf(Buffer.from('/svc/web'))
  assert.ok(uriOffset > 0)
  const tampered = new Uint8Array(der)
  tampered[uriOffset + 5] = 'd'.charCodeAt(0) // "/svc/deb"
  const pem = encodePem('CERTIFICATE REQUEST', tampered)
  assert.throws(() => parseCsrPem(pem), invalidInput(/^CSR signature is invalid: it does not verify with the public key in the CSR$/))
  // A signature from a different key is refused the same way.
  const other = generateLeafKey()
  const otherDer = decodePemBlocks(createCsrPem({ privateKey: other.privateKey, uri: webUri }), 'CSR')[0]!.der
  const [info, algorithm] = childrenOf(readSingle(der, 'csr'), 'csr')
  const otherSignature = childrenOf(readSingle(otherDer, 'csr'), 'csr')[2]!
  const swapped = sequence(rawOf(info!), rawOf(algorithm!), rawOf(otherSignature))
  assert.throws(() => parseCsrPem(encodePem('CERTIFICATE REQUEST', swapped)), invalidInput(/^CSR signature is invalid/))
})

test('malformed CSR input is refused with a clear message', () => {
  assert.throws(() => parseCsrPem('hello'), invalidInput(/^CSR is not valid PEM: no "-----BEGIN \.\.\.-----" line found/))
  assert.throws(() => parseCsrPem('-----BEGIN CERTIFICATE REQUEST-----\n!!!\n-----END CERTIFICATE REQUEST-----\n'), invalidInput(/^CSR is not valid PEM: the body of the CERTIFICATE REQUEST block is not valid base64$/))
  assert.throws(() => parseCsrPem(encodePem('CERTIFICATE', new Uint8Array([0x30, 0]))), invalidInput(/^CSR has no "CERTIFICATE REQUEST" or "NEW CERTIFICATE REQUEST" PEM block \(found: CERTIFICATE\)$/))
  assert.throws(() => parseCsrPem(encodePem('CERTIFICATE REQUEST', new Uint8Array([0x30, 0x03, 0x02, 0x01, 0x00]))), invalidInput(/^CSR is not a valid PKCS#10 request: CertificationRequest: expected 3 elements/))
  assert.throws(() => parseCsrPem(encodePem('CERTIFICATE REQUEST', new Uint8Array([0x30, 0x80, 0, 0]))), invalidInput(/^CSR is not a valid PKCS#10 request: .*indefinite length/))
  const { privateKey } = generateLeafKey()
  assert.throws(() => createCsrPem({ privateKey, uri: 'spiffe://x/ y' }), invalidInput(/^CSR URI must be printable ASCII without spaces/))
  assert.throws(() => createCsrPem({ privateKey, uri: '' }), invalidInput(/^CSR URI must be a non-empty string$/))
})

test('thousands of agent key+CSR rounds finish (regression: Node 20 JWK-export deadlock on generated keys)', () => {
  // Run in a child with a deadline: a native deadlock would otherwise hang this test file forever.
  const library = new URL('../../../src/ca/index.js', import.meta.url).href
  const script = `const ca = await import(${JSON.stringify(library)}); for (let i = 0; i < 5000; i += 1) ca.createCsrPem({ privateKey: ca.generateLeafKey().privateKey, uri: ${JSON.stringify(webUri)} }); console.log('done')`
  const result = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 120_000 })
  assert.equal(result.signal, null, 'child was killed at the deadline: key+CSR generation hung')
  assert.equal(result.status, 0, result.stderr)
  assert.equal(result.stdout.trim(), 'done')
})
