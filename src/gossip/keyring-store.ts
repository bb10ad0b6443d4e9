/**
 * The gossip keyring on disk, so a restart keeps the installed keys and the primary.
 *
 * File: `<dataDir>/serf/local.keyring`, Consul's path and format: a JSON array of base64 keys,
 * primary first, e.g. `["pK9m…Q=","a1i1…gw=="]`. Mode 0600 in a 0700 directory. It is only ever
 * replaced whole (temporary file, fsync, rename, fsync of the directory), so a crash leaves the
 * old file or the new one, never a mix.
 *
 * Startup rules (`loadOrCreateKeyring`, as Consul's agent):
 * - `encrypt` (config key or -encrypt flag) is validated whenever it is given.
 * - A keyring file that exists wins over `encrypt`; when the file does not hold that key, a
 *   warning says the file is used (after a rotation this is expected: update the config).
 * - No file and `encrypt` given: a new keyring with that one key, saved at once.
 * - No file and no `encrypt`: no keyring, gossip is unencrypted (the caller decides whether
 *   that is allowed).
 * - `keyringFileDisabled` (disable_keyring_file, set by -dev): the file is neither read nor
 *   written; the keyring is `encrypt` alone.
 * - A file that cannot be read or parsed, or is readable by other users, stops the agent with
 *   ERR_CORRUPT_STORAGE / ERR_INVALID_INPUT naming the path and what to do.
 *
 * Called by the agent at startup, and after every applied keyring command (`saveKeyring`).
 * Saves of one path run one at a time in call order, each writing the keyring as it was when
 * saveKeyring was called, so the file ends with the state of the last call.
 */
import { randomBytes } from 'node:crypto'
import { mkdir, open, readFile, rename, stat, unlink } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { assert } from '../util/assert.js'
import { ControlPlaneError } from '../util/errors.js'
import { Keyring } from './keyring.js'

/** Where the LAN keyring lives under the data dir (Consul's `serf/local.keyring`). */
export const keyringFileRelativePath = join('serf', 'local.keyring')
/** 16 keys of 44 characters are under 1 KiB; a file far past that is not a keyring. */
export const keyringFileBytesMax = 64 * 1024

/** The part of a pino logger this module uses. */
export interface KeyringLogger {
  warn (fields: Record<string, unknown>, message: string): void
  info (fields: Record<string, unknown>, message: string): void
}

export interface LoadKeyringOptions {
  readonly dataDir: string
  /** The `encrypt` setting (base64), if any. */
  readonly encryptKey?: string | undefined
  /** `disable_keyring_file`: keep the keyring in memory only. */
  readonly keyringFileDisabled?: boolean
  readonly logger: KeyringLogger
}

export interface LoadedKeyring {
  /** null: no key anywhere, gossip runs unencrypted. */
  readonly keyring: Keyring | null
  /** Where the keys came from: an existing file, `encrypt` (and now a new file), or nowhere. */
  readonly source: 'file' | 'encrypt' | 'none'
  /** The keyring file, or null when the file is disabled. */
  readonly path: string | null
}

export function keyringFilePath (dataDir: string): string {
  return join(dataDir, keyringFileRelativePath)
}

/** Builds this agent's keyring by the rules in the header. */
export async function loadOrCreateKeyring (options: LoadKeyringOptions): Promise<LoadedKeyring> {
  const encryptKey = options.encryptKey === undefined ? undefined : Keyring.parseKey(options.encryptKey, 'encrypt')
  if (options.keyringFileDisabled === true) {
    return { keyring: encryptKey === undefined ? null : new Keyring([], encryptKey), source: encryptKey === undefined ? 'none' : 'encrypt', path: null }
  }
  const path = keyringFilePath(options.dataDir)
  const text = await maybeReadKeyringFile(path)
  if (text !== undefined) {
    const keyring = decodeKeyringFile(text, path)
    if (encryptKey !== undefined && !keyring.has(encryptKey)) {
      options.logger.warn({ path, keyring: 'LAN' }, 'keyring file does not include the key given by encrypt; using the keyring file')
    }
    return { keyring, source: 'file', path }
  }
  if (encryptKey === undefined) return { keyring: null, source: 'none', path }
  const keyring = new Keyring([], encryptKey)
  await saveKeyring(options.dataDir, keyring)
  options.logger.info({ path }, 'gossip keyring file created from encrypt')
  return { keyring, source: 'encrypt', path }
}

/** `["<primary>","<other>",…]`: Consul's keyring file text (json.Marshal, no newline). */
export function encodeKeyringFile (keyring: Keyring): string {
  return JSON.stringify(keyring.list().keys)
}

/** Parses keyring file text; `path` is only for the messages. Throws ERR_CORRUPT_STORAGE. */
export function decodeKeyringFile (text: string, path: string): Keyring {
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch (err) {
    throw corruptFile(path, `is not valid JSON (${(err as Error).message})`, err)
  }
  if (!Array.isArray(parsed)) throw corruptFile(path, 'is not a JSON array of base64 keys')
  if (parsed.length === 0) throw corruptFile(path, 'holds no keys')
  const keys = parsed.map((entry: unknown, index) => {
    if (typeof entry !== 'string') throw corruptFile(path, `entry ${index} is not a string`)
    try {
      return Keyring.parseKey(entry, `entry ${index}`)
    } catch (err) {
      throw corruptFile(path, `has an invalid key: ${(err as Error).message}`, err)
    }
  })
  const [primary] = keys
  assert(primary !== undefined, 'a non-empty array has a first key')
  try {
    return new Keyring(keys, primary)
  } catch (err) {
    throw corruptFile(path, (err as Error).message, err)
  }
}

const savesInFlight = new Map<string, Promise<void>>()

/**
 * Replaces `<dataDir>/serf/local.keyring` with the keyring's current keys, atomically, mode
 * 0600, then reads it back to check. Resolves once the file and its directory entry are on disk.
 */
export async function saveKeyring (dataDir: string, keyring: Keyring): Promise<void> {
  const path = keyringFilePath(dataDir)
  const text = encodeKeyringFile(keyring) // the state at call time, whatever happens while waiting
  const previous = savesInFlight.get(path) ?? Promise.resolve()
  const save = previous.catch(() => undefined).then(async () => await writeAndVerify(path, text))
  savesInFlight.set(path, save)
  try {
    await save
  } finally {
    if (savesInFlight.get(path) === save) savesInFlight.delete(path)
  }
}

async function writeAndVerify (path: string, text: string): Promise<void> {
  try {
    await mkdir(dirname(path), { recursive: true, mode: 0o700 })
    await writeFileAtomically(path, text)
  } catch (err) {
    throw new Error(`saving the gossip keyring to ${path} failed: ${(err as Error).message}; ` +
      'check the data directory is writable and has space, then repeat the keyring operation', { cause: err })
  }
  const readBack = await readFile(path, 'utf8')
  assert(readBack === text, `gossip keyring file ${path} did not read back as written`)
}

async function writeFileAtomically (path: string, text: string): Promise<void> {
  const temporaryPath = `${path}.tmp-${process.pid}-${randomBytes(6).toString('hex')}`
  const file = await open(temporaryPath, 'wx', 0o600)
  try {
    await file.chmod(0o600) // exactly 0600, whatever the umask
    await file.writeFile(text, 'utf8')
    await file.sync()
  } catch (err) {
    await file.close()
    await unlink(temporaryPath).catch(() => undefined)
    throw err
  }
  await file.close()
  try {
    await rename(temporaryPath, path)
  } catch (err) {
    await unlink(temporaryPath).catch(() => undefined)
    throw err
  }
  // The rename is durable only once the directory entry is.
  const directory = await open(dirname(path), 'r')
  try {
    await directory.sync()
  } finally {
    await directory.close()
  }
}

/** The file's text, or undefined when there is no file. */
async function maybeReadKeyringFile (path: string): Promise<string | undefined> {
  let size: number
  try {
    const info = await stat(path)
    if (process.platform !== 'win32' && (info.mode & 0o077) !== 0) {
      throw new ControlPlaneError('ERR_INVALID_INPUT', `gossip keyring file ${path} has mode 0${(info.mode & 0o777).toString(8)}, ` +
        `expected 0600: the keys in it let anyone read and forge gossip (run: chmod 600 ${path})`, { details: { path } })
    }
    size = info.size
  } catch (err) {
    if ((err as { code?: unknown }).code === 'ENOENT') return undefined
    if (err instanceof ControlPlaneError) throw err
    throw unreadableFile(path, err)
  }
  if (size > keyringFileBytesMax) throw corruptFile(path, `is ${size} bytes, more than the ${keyringFileBytesMax}-byte maximum for a keyring`)
  try {
    return await readFile(path, 'utf8')
  } catch (err) {
    throw unreadableFile(path, err)
  }
}

function corruptFile (path: string, problem: string, cause?: unknown): ControlPlaneError {
  const message = `gossip keyring file ${path} ${problem}. Restore it from a backup, or move it away and start the agent ` +
    "with -encrypt set to a key the cluster uses ('weft keyring -list' on another member shows them)"
  return new ControlPlaneError('ERR_CORRUPT_STORAGE', message, { ...(cause === undefined ? {} : { cause }), details: { path } })
}

function unreadableFile (path: string, cause: unknown): ControlPlaneError {
  return new ControlPlaneError('ERR_CORRUPT_STORAGE', `cannot read gossip keyring file ${path}: ${(cause as Error).message}; ` +
    'make it readable by the user that runs weft (owner that user, mode 0600)', { cause, details: { path } })
}
