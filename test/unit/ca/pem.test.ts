/**
 * PEM framing: strict base64, matching BEGIN/END labels, precise messages that name the field,
 * and 64-column output with a trailing newline.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { decodePemBlocks, encodePem, findPemBlock } from '../../../src/ca/pem.js'

test('encodePem wraps at 64 columns and ends with a newline; decode round trips', () => {
  const der = new Uint8Array(100).map((_, index) => index)
  const pem = encodePem('CERTIFICATE', der)
  assert.ok(pem.endsWith('-----END CERTIFICATE-----\n'))
  for (const line of pem.split('\n')) assert.ok(line.length <= 64 || line.startsWith('-----'))
  const blocks = decodePemBlocks(`junk before\n${pem}junk after\n${encodePem('EC PRIVATE KEY', der.subarray(0, 10))}`, 'RootCert')
  assert.deepEqual(blocks.map(block => block.label), ['CERTIFICATE', 'EC PRIVATE KEY'])
  assert.deepEqual(blocks[0]!.der, der)
})

test('decodePemBlocks names the field and the problem', () => {
  assert.throws(() => decodePemBlocks('hello world', 'PrivateKey'), /^ControlPlaneError: PrivateKey is not valid PEM: no "-----BEGIN ...-----" line found \(input starts with "hello world"\)$/)
  assert.throws(() => decodePemBlocks('', 'PrivateKey'), /PrivateKey is not valid PEM: .*input is empty/)
  assert.throws(() => decodePemBlocks('-----BEGIN CERTIFICATE-----\nAAAA\n', 'RootCert'), /RootCert is not valid PEM: "-----BEGIN CERTIFICATE-----" has no matching "-----END CERTIFICATE-----" line/)
  assert.throws(() => decodePemBlocks('-----BEGIN CERTIFICATE-----\nA*AA\n-----END CERTIFICATE-----\n', 'RootCert'), /RootCert is not valid PEM: the body of the CERTIFICATE block is not valid base64/)
  assert.throws(() => decodePemBlocks(42, 'RootCert'), /RootCert is not valid PEM: expected a string, got number/)
  const blocks = decodePemBlocks(encodePem('EC PARAMETERS', new Uint8Array([6, 1, 0])), 'PrivateKey')
  assert.throws(() => findPemBlock({ blocks, labels: ['EC PRIVATE KEY'], field: 'PrivateKey' }), /PrivateKey has no "EC PRIVATE KEY" PEM block \(found: EC PARAMETERS\)/)
})

test('legacy encrypted PEM headers are detected', () => {
  const pem = '-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,00112233445566778899AABBCCDDEEFF\n\nAAAA\n-----END RSA PRIVATE KEY-----\n'
  assert.equal(decodePemBlocks(pem, 'PrivateKey')[0]!.encrypted, true)
})
