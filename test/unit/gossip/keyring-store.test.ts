/**
 * The keyring file (src/gossip/keyring-store.ts) in real temporary directories: creation from
 * `encrypt` with mode 0600, restarts that keep installed keys and the primary, the file beating
 * the flag (with a warning when it lacks the flag's key), corrupt and over-permissive files
 * stopping startup with the path and a remedy, the -dev mode without a file, and saves in call
 * order leaving no temporary files behind.
 */
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { Keyring } from '../../../src/gossip/keyring.js'
import { decodeKeyringFile, encodeKeyringFile, keyringFilePath, loadOrCreateKeyring, saveKeyring, type KeyringLogger } from '../../../src/gossip/keyring-store.js'
import { isControlPlaneError } from '../../../src/util/errors.js'

const posix = process.platform !== 'win32'
const b64 = (bytes: Uint8Array): string => Buffer.from(bytes).toString('base64')

function recordingLogger (): KeyringLogger & { lines: Array<{ level: string, fields: Record<string, unknown>, message: string }> } {
  const lines: Array<{ level: string, fields: Record<string, unknown>, message: string }> = []
  return {
    lines,
    warn: (fields, message) => { lines.push({ level: 'warn', fields, message }) },
    info: (fields, message) => { lines.push({ level: 'info', fields, message }) }
  }
}

describe('keyring file', () => {
  let root = ''
  let count = 0
  const freshDataDir = async (): Promise<string> => {
    count += 1
    const dataDir = join(root, `agent-${count}`)
    await mkdir(dataDir)
    return dataDir
  }

  before(async () => { root = await mkdtemp(join(tmpdir(), 'weft-keyring-')) })
  after(async () => { await rm(root, { recursive: true, force: true }) })

  test('first start with encrypt writes serf/local.keyring, mode 0600, as a JSON array', async () => {
    const dataDir = await freshDataDir()
    const key = b64(randomBytes(32))
    const logger = recordingLogger()
    const loaded = await loadOrCreateKeyring({ dataDir, encryptKey: key, logger })
    const path = join(dataDir, 'serf', 'local.keyring')
    assert.equal(loaded.source, 'encrypt')
    assert.equal(loaded.path, path)
    assert.deepEqual(loaded.keyring?.list(), { primary: key, keys: [key] })
    assert.equal(await readFile(path, 'utf8'), JSON.stringify([key]))
    if (posix) {
      assert.equal((await stat(path)).mode & 0o777, 0o600)
      assert.equal((await stat(dirname(path))).mode & 0o777, 0o700)
    }
    assert.deepEqual(logger.lines.map(line => line.message), ['gossip keyring file created from encrypt'])
  })

  test('a restart keeps installed keys and the primary, and ignores the original encrypt', async () => {
    const dataDir = await freshDataDir()
    const original = randomBytes(32)
    const { keyring } = await loadOrCreateKeyring({ dataDir, encryptKey: b64(original), logger: recordingLogger() })
    assert.ok(keyring !== null)
    const rotated = randomBytes(16)
    keyring.install(rotated)
    keyring.use(rotated)
    await saveKeyring(dataDir, keyring)

    const logger = recordingLogger()
    const reloaded = await loadOrCreateKeyring({ dataDir, encryptKey: b64(original), logger })
    assert.equal(reloaded.source, 'file')
    assert.deepEqual(reloaded.keyring?.list(), { primary: b64(rotated), keys: [b64(rotated), b64(original)] })
    assert.deepEqual(logger.lines, [], 'the flag key is still installed: nothing to warn about')
    const sealed = keyring.encrypt(Buffer.from('before restart'))
    assert.equal(Buffer.from(reloaded.keyring?.decrypt(sealed) ?? []).toString(), 'before restart')
  })

  test('the file wins over encrypt, with a warning when it lacks that key', async () => {
    const dataDir = await freshDataDir()
    const fileKey = randomBytes(32)
    await saveKeyring(dataDir, new Keyring([], fileKey))
    const logger = recordingLogger()
    const loaded = await loadOrCreateKeyring({ dataDir, encryptKey: b64(randomBytes(32)), logger })
    assert.equal(loaded.source, 'file')
    assert.deepEqual(loaded.keyring?.list().keys, [b64(fileKey)])
    assert.deepEqual(logger.lines, [{
      level: 'warn',
      fields: { path: keyringFilePath(dataDir), keyring: 'LAN' },
      message: 'keyring file does not include the key given by encrypt; using the keyring file'
    }])
  })

  test('a file is loaded even without encrypt; neither gives no keyring and no file', async () => {
    const withFile = await freshDataDir()
    await saveKeyring(withFile, new Keyring([], randomBytes(24)))
    assert.equal((await loadOrCreateKeyring({ dataDir: withFile, logger: recordingLogger() })).source, 'file')

    const empty = await freshDataDir()
    const loaded = await loadOrCreateKeyring({ dataDir: empty, logger: recordingLogger() })
    assert.deepEqual(loaded, { keyring: null, source: 'none', path: keyringFilePath(empty) })
    assert.deepEqual(await readdir(empty), [])
  })

  test('an invalid encrypt stops startup naming encrypt, even when a file exists', async () => {
    const dataDir = await freshDataDir()
    await saveKeyring(dataDir, new Keyring([], randomBytes(32)))
    await assert.rejects(loadOrCreateKeyring({ dataDir, encryptKey: b64(randomBytes(20)), logger: recordingLogger() }),
      (err: unknown) => isControlPlaneError(err, 'ERR_INVALID_INPUT') && err.message.startsWith('encrypt is not a valid gossip key: key size must be 16, 24 or 32 bytes, got 20 bytes'))
  })

  test('a corrupt file stops startup with the path and what to do', async () => {
    const cases: Array<[string, string]> = [
      ['{not json', 'is not valid JSON'],
      ['{"keys": []}', 'is not a JSON array of base64 keys'],
      ['[]', 'holds no keys'],
      ['[42]', 'entry 0 is not a string'],
      [JSON.stringify([b64(randomBytes(32)), 'c2hvcnQ=']), 'has an invalid key: entry 1 is not a valid gossip key: key size must be 16, 24 or 32 bytes, got 5 bytes']
    ]
    for (const [content, problem] of cases) {
      const dataDir = await freshDataDir()
      const path = keyringFilePath(dataDir)
      await mkdir(dirname(path), { recursive: true })
      await writeFile(path, content, { mode: 0o600 })
      await assert.rejects(loadOrCreateKeyring({ dataDir, encryptKey: b64(randomBytes(32)), logger: recordingLogger() }), (err: unknown) => {
        assert.ok(isControlPlaneError(err, 'ERR_CORRUPT_STORAGE'), String(err))
        assert.ok(err.message.startsWith(`gossip keyring file ${path} ${problem}`), err.message)
        assert.ok(err.message.endsWith("Restore it from a backup, or move it away and start the agent with -encrypt set to a key the cluster uses ('weft keyring -list' on another member shows them)"))
        assert.equal(err.details.path, path)
        return true
      }, content)
    }
  })

  test('a keyring file other users can read is refused with the chmod to run', { skip: !posix }, async () => {
    const dataDir = await freshDataDir()
    await saveKeyring(dataDir, new Keyring([], randomBytes(32)))
    const path = keyringFilePath(dataDir)
    await chmod(path, 0o644)
    await assert.rejects(loadOrCreateKeyring({ dataDir, logger: recordingLogger() }), (err: unknown) => isControlPlaneError(err, 'ERR_INVALID_INPUT') &&
      err.message === `gossip keyring file ${path} has mode 0644, expected 0600: the keys in it let anyone read and forge gossip (run: chmod 600 ${path})`)
  })

  test('disable_keyring_file uses encrypt alone and writes nothing', async () => {
    const dataDir = await freshDataDir()
    const key = b64(randomBytes(32))
    const loaded = await loadOrCreateKeyring({ dataDir, encryptKey: key, keyringFileDisabled: true, logger: recordingLogger() })
    assert.deepEqual({ source: loaded.source, path: loaded.path, keys: loaded.keyring?.list().keys }, { source: 'encrypt', path: null, keys: [key] })
    assert.deepEqual(await readdir(dataDir), [])
  })

  test('saves run in call order, the last state wins, and no temporary file is left', async () => {
    const dataDir = await freshDataDir()
    const keyring = new Keyring([], randomBytes(32))
    const saves: Array<Promise<void>> = []
    const installed: string[] = []
    for (let step = 0; step < 8; step += 1) {
      const key = randomBytes(16)
      installed.push(b64(key))
      keyring.install(key)
      saves.push(saveKeyring(dataDir, keyring))
    }
    await Promise.all(saves)
    assert.deepEqual(JSON.parse(await readFile(keyringFilePath(dataDir), 'utf8')), keyring.list().keys)
    assert.deepEqual(keyring.list().keys.slice(1), installed)
    assert.deepEqual(await readdir(join(dataDir, 'serf')), ['local.keyring'])
  })

  test('encode and decode agree with Consul\'s format, primary first', () => {
    const primary = randomBytes(32)
    const other = randomBytes(16)
    const text = encodeKeyringFile(new Keyring([other], primary))
    assert.equal(text, `["${b64(primary)}","${b64(other)}"]`)
    assert.deepEqual(decodeKeyringFile(text, '/x').list(), { primary: b64(primary), keys: [b64(primary), b64(other)] })
  })
})
