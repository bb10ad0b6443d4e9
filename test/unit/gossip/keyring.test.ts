/**
 * The gossip keyring (src/gossip/keyring.ts): key parsing, the sealed-message format checked
 * against an independent AES-GCM decryption, refusal of wrong keys and damaged messages,
 * install/use/remove rules, fingerprints, keyring commands and the cluster views built from
 * members' fingerprints, and a three-member rotation in which every message stays readable.
 */
import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { createDecipheriv, randomBytes } from 'node:crypto'
import {
  applyKeyringCommand, decodeKeyringCommand, encodeKeyringCommand, fingerprintOf, generateGossipKey, isKeyringCommandReflected,
  Keyring, keyringCommandBytesMax, keyringKeysMax, keyringTagValue, parseKeyringRequestBody, parseKeyringTag, sealedOverheadBytes,
  summarizeKeyringOperation, summarizeKeyrings, type KeyringCommand, type MemberKeyringState
} from '../../../src/gossip/keyring.js'
import { isControlPlaneError } from '../../../src/util/errors.js'

const key16 = randomBytes(16)
const key24 = randomBytes(24)
const key32 = randomBytes(32)
const b64 = (bytes: Uint8Array): string => Buffer.from(bytes).toString('base64')
const text = (bytes: Uint8Array): string => Buffer.from(bytes).toString('utf8')
const bytesOf = (value: string): Uint8Array => Buffer.from(value, 'utf8')

function refusedWith (reason: string, message?: string) {
  return (err: unknown): boolean => {
    assert.ok(isControlPlaneError(err, 'ERR_INVALID_INPUT'), `expected ERR_INVALID_INPUT, got ${String(err)}`)
    assert.equal(err.details.reason, reason)
    if (message !== undefined) assert.equal(err.message, message)
    return true
  }
}

function rejectedWith (message: string) {
  return (err: unknown): boolean => isControlPlaneError(err, 'ERR_REJECTED') && err.message === message
}

describe('Keyring.parseKey', () => {
  test('accepts standard base64 of 16, 24 and 32 bytes', () => {
    for (const key of [key16, key24, key32]) assert.deepEqual(Buffer.from(Keyring.parseKey(b64(key))), key)
  })

  test('a wrong size names the field, the size found and the sizes allowed, and never echoes the key', () => {
    const twenty = b64(randomBytes(20))
    assert.throws(() => Keyring.parseKey(twenty, 'encrypt'), (err: unknown) => {
      assert.ok(isControlPlaneError(err, 'ERR_INVALID_INPUT'))
      assert.equal(err.message, "encrypt is not a valid gossip key: key size must be 16, 24 or 32 bytes, got 20 bytes; make a key with 'weft keygen'")
      assert.ok(!err.message.includes(twenty))
      return true
    })
  })

  test('text that is not standard padded base64 is refused with where it breaks', () => {
    const cases: Array<[string, string]> = [
      ['', 'it is empty'],
      ['abc$defg', 'illegal base64 data at input byte 3'],
      ['abc-defg', 'illegal base64 data at input byte 3'], // URL-safe alphabet is not Consul's
      [b64(key32).slice(0, -1), 'its length 43 is not a multiple of 4'],
      ['ab=cdefg', 'illegal base64 data at input byte 2'],
      [` ${b64(key16)}`, 'illegal base64 data at input byte 0']
    ]
    for (const [input, detail] of cases) {
      assert.throws(() => Keyring.parseKey(input, 'Key'), (err: unknown) => isControlPlaneError(err, 'ERR_INVALID_INPUT') &&
        err.message === `Key is not a valid gossip key: ${detail}; expected standard base64 of 16, 24 or 32 bytes, as 'weft keygen' prints`, input)
    }
  })

  test('generateGossipKey makes distinct 32-byte keys', () => {
    const first = generateGossipKey()
    assert.equal(Keyring.parseKey(first).length, 32)
    assert.notEqual(first, generateGossipKey())
  })
})

describe('sealing and opening', () => {
  test('round trip with each key size, including empty and large plaintexts', () => {
    for (const key of [key16, key24, key32]) {
      const keyring = new Keyring([], key)
      for (const plaintext of [new Uint8Array(0), bytesOf('ping 42'), randomBytes(64 * 1024)]) {
        const sealed = keyring.encrypt(plaintext)
        assert.equal(sealed.length, plaintext.length + sealedOverheadBytes)
        assert.deepEqual(Buffer.from(keyring.decrypt(sealed)), Buffer.from(plaintext))
      }
    }
  })

  test('the documented layout: version 1, nonce, ciphertext, tag, with the version byte as additional data', () => {
    for (const [key, algorithm] of [[key16, 'aes-128-gcm'], [key24, 'aes-192-gcm'], [key32, 'aes-256-gcm']] as const) {
      const sealed = new Keyring([], key).encrypt(bytesOf('layout check'))
      assert.equal(sealed[0], 1)
      const decipher = createDecipheriv(algorithm, key, sealed.subarray(1, 13), { authTagLength: 16 })
      decipher.setAAD(Uint8Array.of(1))
      decipher.setAuthTag(sealed.subarray(sealed.length - 16))
      const plaintext = Buffer.concat([decipher.update(sealed.subarray(13, sealed.length - 16)), decipher.final()])
      assert.equal(plaintext.toString('utf8'), 'layout check')
    }
  })

  test('every message gets a new nonce, so equal plaintexts seal differently', () => {
    const keyring = new Keyring([], key32)
    const nonces = new Set<string>()
    for (let count = 0; count < 1000; count += 1) nonces.add(Buffer.from(keyring.encrypt(bytesOf('same')).subarray(1, 13)).toString('hex'))
    assert.equal(nonces.size, 1000)
  })

  test('a keyring without the key refuses the message', () => {
    const sealed = new Keyring([], key32).encrypt(bytesOf('secret'))
    assert.throws(() => new Keyring([key16], key24).decrypt(sealed), refusedWith('noKey', 'no installed gossip key decrypts this message'))
  })

  test('changing any byte (version aside) fails authentication', () => {
    const keyring = new Keyring([], key32)
    const sealed = keyring.encrypt(bytesOf('do not touch'))
    for (let offset = 1; offset < sealed.length; offset += 1) {
      const tampered = Uint8Array.from(sealed)
      tampered[offset] = (tampered[offset] as number) ^ 0x01
      assert.throws(() => keyring.decrypt(tampered), refusedWith('noKey'), `byte ${offset}`)
    }
  })

  test('a foreign or unencrypted version byte is refused as such', () => {
    const keyring = new Keyring([], key32)
    const sealed = keyring.encrypt(bytesOf('versioned'))
    for (const version of [0, 2, 255]) {
      const foreign = Uint8Array.from(sealed)
      foreign[0] = version
      assert.throws(() => keyring.decrypt(foreign), refusedWith('unknownVersion',
        `encrypted gossip message has format version ${version}, this weft reads version 1; the sender may be unencrypted or run another weft version`))
    }
  })

  test('truncated messages are refused without reaching AES', () => {
    const keyring = new Keyring([], key32)
    const sealed = keyring.encrypt(bytesOf('long enough'))
    for (const length of [0, 1, 13, 28]) {
      assert.throws(() => keyring.decrypt(sealed.subarray(0, length)), refusedWith('truncated',
        `encrypted gossip message is ${length} bytes, shorter than the 29-byte minimum`))
    }
    assert.throws(() => keyring.decrypt(sealed.subarray(0, sealed.length - 1)), refusedWith('noKey'))
  })

  test('any installed key opens a message, primary or not', () => {
    const oldAndNew = new Keyring([key16], key32)
    const newOnly = new Keyring([], key16)
    assert.equal(text(oldAndNew.decrypt(newOnly.encrypt(bytesOf('from new')))), 'from new')
    assert.equal(text(new Keyring([key32], key16).decrypt(oldAndNew.encrypt(bytesOf('from old')))), 'from old')
  })

  test('the keyring keeps its own copy of a key the caller later overwrites', () => {
    const key = Uint8Array.from(key32)
    const keyring = new Keyring([], key)
    key.fill(0)
    assert.equal(text(new Keyring([], key32).decrypt(keyring.encrypt(bytesOf('copied')))), 'copied')
  })
})

describe('install, use, remove', () => {
  test('the constructor puts the primary first and collapses duplicates', () => {
    const keyring = new Keyring([key16, key32, key16], key32)
    assert.deepEqual(keyring.list(), { primary: b64(key32), keys: [b64(key32), b64(key16)] })
    assert.equal(keyring.size, 2)
  })

  test('install adds once; use switches the primary; remove drops a secondary', () => {
    const keyring = new Keyring([], key16)
    assert.equal(keyring.install(key32), true)
    assert.equal(keyring.install(key32), false)
    assert.deepEqual(keyring.list().keys, [b64(key16), b64(key32)])
    assert.equal(keyring.use(key32), true)
    assert.equal(keyring.use(key32), false)
    assert.equal(keyring.list().primary, b64(key32))
    assert.equal(keyring.remove(key16), true)
    assert.equal(keyring.remove(key16), false)
    assert.deepEqual(keyring.list(), { primary: b64(key32), keys: [b64(key32)] })
  })

  test("using a key that is not installed and removing the primary are refused with Consul's texts", () => {
    const keyring = new Keyring([key24], key16)
    assert.throws(() => keyring.use(key32), rejectedWith('Requested key is not in the keyring'))
    assert.throws(() => keyring.remove(key16), rejectedWith('Removing the primary key is not allowed'))
    assert.deepEqual(keyring.list().keys, [b64(key16), b64(key24)])
  })

  test('a key of the wrong size is refused by every operation', () => {
    const keyring = new Keyring([], key16)
    for (const operation of [(k: Uint8Array) => keyring.install(k), (k: Uint8Array) => keyring.use(k), (k: Uint8Array) => keyring.remove(k)]) {
      assert.throws(() => operation(randomBytes(20)), (err: unknown) => isControlPlaneError(err, 'ERR_INVALID_INPUT'))
    }
    assert.throws(() => new Keyring([], randomBytes(8)), (err: unknown) => isControlPlaneError(err, 'ERR_INVALID_INPUT') && err.message.includes('got 8 bytes'))
  })

  test(`at most ${keyringKeysMax} keys`, () => {
    const keyring = new Keyring([], key32)
    for (let count = 1; count < keyringKeysMax; count += 1) keyring.install(randomBytes(16))
    assert.equal(keyring.size, keyringKeysMax)
    assert.throws(() => keyring.install(randomBytes(16)), (err: unknown) => isControlPlaneError(err, 'ERR_REJECTED') &&
      err.message.startsWith(`the keyring already holds ${keyringKeysMax} keys`))
    assert.equal(keyring.install(key32), false) // an installed key is still a no-op at the cap
  })

  test('has() takes bytes or base64 and is false for junk', () => {
    const keyring = new Keyring([key16], key32)
    assert.equal(keyring.has(key16), true)
    assert.equal(keyring.has(b64(key32)), true)
    assert.equal(keyring.has(key24), false)
    assert.equal(keyring.has('not base64!'), false)
  })
})

describe('fingerprints', () => {
  test('16 hex characters, stable, distinct per key, primary first, not the key', () => {
    const keyring = new Keyring([key16, key24], key32)
    const fingerprints = keyring.fingerprints()
    assert.deepEqual(fingerprints, [fingerprintOf(key32), fingerprintOf(key16), fingerprintOf(key24)])
    assert.equal(keyring.primaryFingerprint(), fingerprintOf(key32))
    for (const fingerprint of fingerprints) assert.match(fingerprint, /^[0-9a-f]{16}$/)
    assert.equal(new Set(fingerprints).size, 3)
    assert.equal(fingerprintOf(Uint8Array.from(key16)), fingerprintOf(key16))
    assert.ok(!Buffer.from(key32).toString('hex').startsWith(fingerprintOf(key32)))
  })

  test('the metadata tag round-trips and rejects anything else', () => {
    const keyring = new Keyring([key16], key32)
    const tag = keyringTagValue(keyring)
    assert.equal(tag, `${fingerprintOf(key32)},${fingerprintOf(key16)}`)
    assert.deepEqual(parseKeyringTag(tag), { primaryFingerprint: fingerprintOf(key32), fingerprints: [fingerprintOf(key32), fingerprintOf(key16)] })
    for (const junk of ['', 'xyz', `${fingerprintOf(key32)},`, fingerprintOf(key32).toUpperCase(), Array(17).fill(fingerprintOf(key16)).join(',')]) {
      assert.equal(parseKeyringTag(junk), undefined, junk)
    }
  })
})

describe('keyring commands', () => {
  const install: KeyringCommand = { op: 'install', key: b64(key24) }

  test('encode and decode round trip', () => {
    for (const op of ['install', 'use', 'remove'] as const) {
      const command: KeyringCommand = { op, key: b64(key32) }
      assert.deepEqual(decodeKeyringCommand(encodeKeyringCommand(command)), command)
    }
  })

  test('decode refuses junk, oversize, unknown ops and bad keys', () => {
    const invalid = (message: string) => (err: unknown) => isControlPlaneError(err, 'ERR_INVALID_INPUT') && err.message.startsWith(message)
    assert.throws(() => decodeKeyringCommand(bytesOf('{')), invalid('keyring command is not valid JSON'))
    assert.throws(() => decodeKeyringCommand(new Uint8Array(keyringCommandBytesMax + 1)), invalid('keyring command is 257 bytes'))
    assert.throws(() => decodeKeyringCommand(bytesOf('[]')), invalid('keyring command must be an object { op, key }, got an array'))
    assert.throws(() => decodeKeyringCommand(bytesOf(JSON.stringify({ op: 'rotate', key: b64(key32) }))),
      invalid('keyring command.op must be one of install, use, remove, got "rotate"'))
    assert.throws(() => decodeKeyringCommand(bytesOf(JSON.stringify({ op: 'use', key: 7 }))), invalid('keyring command.key must be a base64 string, got a number'))
    assert.throws(() => decodeKeyringCommand(bytesOf(JSON.stringify({ op: 'use', key: b64(randomBytes(10)) }))),
      invalid('keyring command.key is not a valid gossip key: key size must be 16, 24 or 32 bytes, got 10 bytes'))
  })

  test('apply is idempotent and reports whether anything changed', () => {
    const keyring = new Keyring([], key32)
    assert.deepEqual(applyKeyringCommand(keyring, install), { changed: true })
    assert.deepEqual(applyKeyringCommand(keyring, install), { changed: false })
    assert.deepEqual(applyKeyringCommand(keyring, { op: 'use', key: b64(key24) }), { changed: true })
    assert.deepEqual(applyKeyringCommand(keyring, { op: 'remove', key: b64(key32) }), { changed: true })
    assert.deepEqual(applyKeyringCommand(keyring, { op: 'remove', key: b64(key32) }), { changed: false })
    assert.throws(() => applyKeyringCommand(keyring, { op: 'remove', key: b64(key24) }), rejectedWith('Removing the primary key is not allowed'))
    assert.throws(() => applyKeyringCommand(keyring, { op: 'use', key: b64(key16) }), rejectedWith('Requested key is not in the keyring'))
  })

  test('the HTTP body {"Key": …} becomes a command, or a 400 naming Key', () => {
    assert.deepEqual(parseKeyringRequestBody('install', { Key: b64(key16) }), { op: 'install', key: b64(key16) })
    const invalid = (message: string) => (err: unknown) => isControlPlaneError(err, 'ERR_INVALID_INPUT') && err.message === message
    assert.throws(() => parseKeyringRequestBody('use', {}), invalid('Key is required: send {"Key": "<base64 key>"} in the body'))
    assert.throws(() => parseKeyringRequestBody('use', { Key: 3 }), invalid('Key must be a base64 string, got a number'))
    assert.throws(() => parseKeyringRequestBody('use', 'x'), invalid('Request decode failed: the body must be a JSON object {"Key": "<base64 key>"}, got a string'))
    assert.throws(() => parseKeyringRequestBody('remove', { Key: 'abc' }), (err: unknown) => isControlPlaneError(err, 'ERR_INVALID_INPUT') &&
      err.message.startsWith('Key is not a valid gossip key: its length 3'))
  })
})

describe('cluster views from fingerprints', () => {
  const member = (name: string, keyring: Keyring): MemberKeyringState =>
    ({ name, fingerprints: keyring.fingerprints(), primaryFingerprint: keyring.primaryFingerprint() })

  test("summarizeKeyrings counts holders and primaries in Consul's shape", () => {
    const members = [
      member('alpha', new Keyring([key16], key32)),
      member('beta', new Keyring([key16], key32)),
      member('gamma', new Keyring([], key32))
    ]
    assert.deepEqual(summarizeKeyrings(members, [b64(key32), b64(key16)], { datacenter: 'dc1' }), {
      WAN: false,
      Datacenter: 'dc1',
      Segment: '',
      Keys: { [b64(key32)]: 3, [b64(key16)]: 2 },
      PrimaryKeys: { [b64(key32)]: 3 },
      NumNodes: 3
    })
  })

  test('keys the server does not know, and members without a keyring, are reported by member', () => {
    const foreign = randomBytes(32)
    const members = [
      member('alpha', new Keyring([], key32)),
      member('delta', new Keyring([key32], foreign)),
      { name: 'charlie', fingerprints: [], primaryFingerprint: null }
    ]
    const summary = summarizeKeyrings(members, [b64(key32)], { datacenter: 'dc1' })
    assert.deepEqual(summary.Keys, { [b64(key32)]: 2 })
    assert.deepEqual(summary.PrimaryKeys, { [b64(key32)]: 1 })
    assert.equal(summary.NumNodes, 3)
    assert.deepEqual(summary.Messages, {
      charlie: 'reported no gossip keyring (encryption off, or its metadata has not arrived yet)',
      delta: `holds 1 key this server does not have, its primary among them (fingerprints ${fingerprintOf(foreign)})`
    })
  })

  test('an operation is done when every member reflects it, pending before, failed with Consul\'s texts', () => {
    const use: KeyringCommand = { op: 'use', key: b64(key16) }
    const switched = member('alpha', new Keyring([key32], key16))
    const behind = member('beta', new Keyring([key16], key32))
    const lacking = member('gamma', new Keyring([], key32))
    assert.equal(isKeyringCommandReflected(use, switched), true)
    assert.equal(isKeyringCommandReflected(use, behind), false)
    assert.deepEqual(summarizeKeyringOperation(use, [switched], { datacenter: 'dc1' }), { state: 'done' })
    assert.deepEqual(summarizeKeyringOperation(use, [switched, behind, lacking], { datacenter: 'dc1' }), { state: 'pending', pending: ['beta', 'gamma'] })

    const failures = new Map([['gamma', 'Requested key is not in the keyring']])
    assert.deepEqual(summarizeKeyringOperation(use, [switched, behind, lacking], { datacenter: 'dc1', failures }), { state: 'pending', pending: ['beta'] })
    const switchedToo = member('beta', new Keyring([key32], key16))
    assert.deepEqual(summarizeKeyringOperation(use, [switched, switchedToo, lacking], { datacenter: 'dc1', failures }), {
      state: 'failed',
      message: '2 errors occurred:\n\t* dc1 (LAN) error: 1/3 nodes reported failure\n\t* gamma: Requested key is not in the keyring\n\n'
    })
    assert.deepEqual(summarizeKeyringOperation(use, [switched, behind], { datacenter: 'dc1', deadlinePassed: true }), {
      state: 'failed',
      message: '2 errors occurred:\n\t* dc1 (LAN) error: 1/2 nodes reported success\n\t* beta: did not confirm the change before the deadline\n\n'
    })
  })

  test('remove is reflected once the key is gone, install once it is there', () => {
    const keyring = new Keyring([key16], key32)
    assert.equal(isKeyringCommandReflected({ op: 'install', key: b64(key16) }, member('a', keyring)), true)
    assert.equal(isKeyringCommandReflected({ op: 'remove', key: b64(key16) }, member('a', keyring)), false)
    keyring.remove(key16)
    assert.equal(isKeyringCommandReflected({ op: 'remove', key: b64(key16) }, member('a', keyring)), true)
    assert.equal(isKeyringCommandReflected({ op: 'remove', key: b64(key16) }, { name: 'b', fingerprints: [], primaryFingerprint: null }), false)
  })
})

test('a three-member rotation keeps every pair talking after every single member applies each step', () => {
  const oldKey = key16
  const newKey = key32
  const members = ['alpha', 'beta', 'gamma'].map(name => ({ name, keyring: new Keyring([], oldKey) }))
  const assertAllTalk = (step: string): void => {
    for (const sender of members) {
      const sealed = sender.keyring.encrypt(bytesOf(`${sender.name} during ${step}`))
      for (const receiver of members) assert.equal(text(receiver.keyring.decrypt(sealed)), `${sender.name} during ${step}`, `${sender.name} → ${receiver.name} at ${step}`)
    }
  }
  for (const command of [{ op: 'install', key: b64(newKey) }, { op: 'use', key: b64(newKey) }, { op: 'remove', key: b64(oldKey) }] as const) {
    for (const target of members) {
      applyKeyringCommand(target.keyring, decodeKeyringCommand(encodeKeyringCommand(command)))
      assertAllTalk(`${command.op} applied on ${target.name}`)
    }
    const states = members.map(({ name, keyring }) => ({ name, fingerprints: keyring.fingerprints(), primaryFingerprint: keyring.primaryFingerprint() }))
    assert.deepEqual(summarizeKeyringOperation(command, states, { datacenter: 'dc1' }), { state: 'done' })
  }
  assert.throws(() => new Keyring([], oldKey).decrypt(members[0]?.keyring.encrypt(bytesOf('x')) ?? new Uint8Array()), refusedWith('noKey'))
})
