/**
 * LevelStorage: the RaftStorage compliance suite, then what only a disk can do wrong: damaged
 * records (found by checksums, repaired or refused by `load`) and a writer killed with SIGKILL.
 * Each test works in its own temporary directory, removed after the test.
 */
import { test, describe, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Level } from 'level'
import { LevelStorage, levelStorageKeys, type StorageLogger } from '../../../src/raft/level-storage.js'
import { isControlPlaneError } from '../../../src/util/errors.js'
import { waitFor } from '../../../src/util/wait-for.js'
import { makeEntries, makeHardState, makeSnapshot, runStorageConformance } from './storage-conformance.js'
import { writerEntryData, writerTerm } from './fixtures/level-storage-writer.js'

interface LogRecord {
  readonly fields: Record<string, unknown>
  readonly message: string
}

class RecordingLogger implements StorageLogger {
  readonly warnings: LogRecord[] = []
  readonly infos: LogRecord[] = []
  info (fields: Record<string, unknown>, message: string): void { this.infos.push({ fields, message }) }
  warn (fields: Record<string, unknown>, message: string): void { this.warnings.push({ fields, message }) }
}

async function makeTempDirectory (): Promise<string> {
  return await mkdtemp(join(tmpdir(), 'weft-level-storage-'))
}

/** A database path inside a fresh temporary directory that is removed after the test. */
async function databasePath (t: TestContext): Promise<string> {
  const directory = await makeTempDirectory()
  t.after(async () => await rm(directory, { recursive: true, force: true }))
  return join(directory, 'raft')
}

/** Opens a LevelStorage that the test closes itself, or that is closed after the test. */
async function openStorage (t: TestContext, path: string, logger: StorageLogger = new RecordingLogger()): Promise<LevelStorage> {
  const storage = await LevelStorage.open({ path, logger })
  t.after(async () => await storage.close())
  return storage
}

/** Runs `change` on the database without LevelStorage in the way, as an outside fault would. */
async function withRawDatabase (path: string, change: (db: Level<Uint8Array, Uint8Array>) => Promise<void>): Promise<void> {
  const db = new Level<Uint8Array, Uint8Array>(path, { keyEncoding: 'view', valueEncoding: 'view' })
  await db.open({ createIfMissing: false })
  try {
    await change(db)
  } finally {
    await db.close()
  }
}

async function flipLastByte (path: string, key: Uint8Array): Promise<void> {
  await withRawDatabase(path, async (db) => {
    const value = await db.get(key) as Uint8Array | undefined
    assert.ok(value !== undefined, 'the record to damage must exist')
    const damaged = new Uint8Array(value)
    damaged[damaged.length - 1] = damaged[damaged.length - 1]! ^ 0x40
    await db.put(key, damaged, { sync: true })
  })
}

/** Entries 1..10 in term 1, committed through 5, then closed. */
async function writeTenEntries (t: TestContext, path: string): Promise<void> {
  const storage = await openStorage(t, path)
  await storage.save({ hardState: makeHardState(1, 5), entries: makeEntries({ firstIndex: 1, lastIndex: 10, term: 1 }), snapshot: null })
  await storage.close()
}

function assertCorruptStorage (options: { index?: number, record?: string, path: string }): (err: unknown) => boolean {
  return (err) => {
    assert.ok(isControlPlaneError(err, 'ERR_CORRUPT_STORAGE'), `expected ERR_CORRUPT_STORAGE, got ${String(err)}`)
    if (options.index !== undefined) assert.ok(err.message.includes(`log entry ${options.index} `), err.message)
    if (options.record !== undefined) assert.ok(err.message.includes(`the ${options.record} record`), err.message)
    assert.ok(err.message.includes(options.path), err.message)
    assert.ok(err.message.includes('re-join it to the cluster'), err.message)
    return true
  }
}

runStorageConformance('LevelStorage', async () => {
  const directory = await makeTempDirectory()
  const path = join(directory, 'raft')
  const logger = new RecordingLogger()
  return {
    open: async () => await LevelStorage.open({ path, logger }),
    reopen: async () => await LevelStorage.open({ path, logger }),
    cleanup: async () => await rm(directory, { recursive: true, force: true })
  }
})

describe('LevelStorage on damaged disks', () => {
  test('a corrupt entry above the commit index is dropped with every entry after it, durably', async (t) => {
    const path = await databasePath(t)
    await writeTenEntries(t, path)
    await flipLastByte(path, levelStorageKeys.entry(8))
    const logger = new RecordingLogger()
    const storage = await openStorage(t, path, logger)
    const loaded = await storage.load()
    assert.deepStrictEqual(loaded.entries, makeEntries({ firstIndex: 1, lastIndex: 7, term: 1 }))
    assert.deepStrictEqual(loaded.hardState, makeHardState(1, 5))
    assert.equal(logger.warnings.length, 1)
    assert.equal(logger.warnings[0]?.message, 'truncated corrupt log tail')
    assert.equal(logger.warnings[0]?.fields.index, 8)
    assert.equal(logger.warnings[0]?.fields.reason, 'checksum mismatch')
    // The log continues from 8 and a restart sees no damage any more.
    await storage.save({ hardState: null, entries: makeEntries({ firstIndex: 8, lastIndex: 8, term: 1 }), snapshot: null })
    await storage.close()
    const reopenedLogger = new RecordingLogger()
    const reopened = await openStorage(t, path, reopenedLogger)
    assert.deepStrictEqual((await reopened.load()).entries, makeEntries({ firstIndex: 1, lastIndex: 8, term: 1 }))
    assert.equal(reopenedLogger.warnings.length, 0)
  })

  test('a corrupt entry at or below the commit index refuses to load', async (t) => {
    const path = await databasePath(t)
    await writeTenEntries(t, path)
    await flipLastByte(path, levelStorageKeys.entry(3))
    const storage = await openStorage(t, path)
    await assert.rejects(storage.load(), assertCorruptStorage({ index: 3, path }))
    // Refusing must not repair anything: the next attempt fails the same way.
    await assert.rejects(storage.load(), assertCorruptStorage({ index: 3, path }))
  })

  test('the entry at the commit index counts as committed', async (t) => {
    const path = await databasePath(t)
    await writeTenEntries(t, path)
    await flipLastByte(path, levelStorageKeys.entry(5))
    const storage = await openStorage(t, path)
    await assert.rejects(storage.load(), assertCorruptStorage({ index: 5, path }))
  })

  test('a missing entry truncates above the commit index and refuses at or below it', async (t) => {
    const path = await databasePath(t)
    await writeTenEntries(t, path)
    await withRawDatabase(path, async (db) => await db.del(levelStorageKeys.entry(7), { sync: true }))
    const logger = new RecordingLogger()
    const storage = await openStorage(t, path, logger)
    assert.deepStrictEqual((await storage.load()).entries, makeEntries({ firstIndex: 1, lastIndex: 6, term: 1 }))
    assert.deepStrictEqual(logger.warnings.map(record => record.fields.reason), ['missing'])
    await storage.close()
    await withRawDatabase(path, async (db) => await db.del(levelStorageKeys.entry(4), { sync: true }))
    const again = await openStorage(t, path)
    await assert.rejects(again.load(), assertCorruptStorage({ index: 4, path }))
  })

  test('a value that is not a record at all is treated as damage', async (t) => {
    const path = await databasePath(t)
    await writeTenEntries(t, path)
    await withRawDatabase(path, async (db) => await db.put(levelStorageKeys.entry(9), new Uint8Array([1, 2]), { sync: true }))
    const logger = new RecordingLogger()
    const storage = await openStorage(t, path, logger)
    assert.deepStrictEqual((await storage.load()).entries, makeEntries({ firstIndex: 1, lastIndex: 8, term: 1 }))
    assert.deepStrictEqual(logger.warnings.map(record => record.fields), [{ index: 9, reason: 'malformed', commit: 5, droppedCount: 2, path }])
  })

  test('a damaged hard state refuses to open', async (t) => {
    const path = await databasePath(t)
    await writeTenEntries(t, path)
    await flipLastByte(path, levelStorageKeys.hardState())
    await assert.rejects(LevelStorage.open({ path, logger: new RecordingLogger() }), assertCorruptStorage({ record: 'hard state', path }))
  })

  test('damaged snapshot data refuses to load', async (t) => {
    const path = await databasePath(t)
    const storage = await openStorage(t, path)
    await storage.save({ hardState: makeHardState(1, 4), entries: makeEntries({ firstIndex: 1, lastIndex: 6, term: 1 }), snapshot: null })
    await storage.compact(makeSnapshot(4, 1, 1000))
    await storage.close()
    await flipLastByte(path, levelStorageKeys.snapshotData())
    const reopened = await openStorage(t, path)
    await assert.rejects(reopened.load(), assertCorruptStorage({ record: 'snapshot', path }))
  })

  test('a second open of the same database rejects while the first holds it', async (t) => {
    const path = await databasePath(t)
    await openStorage(t, path)
    await assert.rejects(LevelStorage.open({ path, logger: new RecordingLogger() }))
  })
})

describe('LevelStorage durability', () => {
  const writerPath = fileURLToPath(new URL('./fixtures/level-storage-writer.js', import.meta.url))
  const acknowledgementsMin = 200

  test('every entry acknowledged before a SIGKILL survives it with the same bytes', async (t) => {
    const path = await databasePath(t)
    const child = spawn(process.execPath, [writerPath, path], { stdio: ['ignore', 'pipe', 'pipe'] })
    let isClosed = false
    t.after(() => { if (!isClosed) child.kill('SIGKILL') })
    child.on('close', () => { isClosed = true })
    let acknowledged = 0
    let stdoutPending = ''
    let stderr = ''
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => { stderr += chunk })
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      const lines = (stdoutPending + chunk).split('\n')
      stdoutPending = lines.pop() ?? ''
      for (const line of lines) {
        assert.equal(line, `ack ${acknowledged + 1}`, 'the writer acknowledges entries in order')
        acknowledged += 1
      }
    })

    const progress = await waitFor(() => isClosed ? 'exited' : acknowledged >= acknowledgementsMin && 'acknowledged',
      { timeoutMs: 60_000, what: `the writer to acknowledge ${acknowledgementsMin} entries` })
    assert.equal(progress, 'acknowledged', `the writer exited early: ${stderr}`)
    child.kill('SIGKILL')
    // 'close' comes after the pipes drain, so every acknowledgement the writer printed is counted.
    await waitFor(() => isClosed, { timeoutMs: 10_000, what: 'the killed writer to close' })
    assert.equal(child.signalCode, 'SIGKILL', `the writer must die by the kill, not finish: ${stderr}`)

    const storage = await openStorage(t, path)
    const loaded = await storage.load()
    assert.ok(loaded.entries.length >= acknowledged, `${loaded.entries.length} entries survived, ${acknowledged} were acknowledged`)
    assert.ok(loaded.hardState.commit >= acknowledged, `commit ${loaded.hardState.commit} is behind ${acknowledged} acknowledged entries`)
    for (let index = 1; index <= acknowledged; index += 1) {
      assert.deepStrictEqual(loaded.entries[index - 1], { index, term: writerTerm, type: 'command', data: writerEntryData(index) })
    }
  })
})
