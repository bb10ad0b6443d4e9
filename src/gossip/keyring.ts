/**
 * Gossip encryption: the keyring of shared AES-GCM keys every member holds, the sealed-message
 * format, and the pure pieces of cluster-wide key rotation (`weft keyring`, spec §13).
 *
 * Who calls what:
 * - The gossip shell seals every outgoing packet and stream frame with `encrypt` (primary key)
 *   and opens every incoming one with `decrypt` (any installed key, primary first). A
 *   ControlPlaneError from `decrypt` means "drop it"; `details.reason` says why, for the
 *   rate-limited warning that names the sender.
 * - The agent builds the keyring at startup with keyring-store.ts (`loadOrCreateKeyring`) and
 *   saves it after every change (`saveKeyring`).
 * - Rotation travels over gossip: the operator's request becomes a KeyringCommand, broadcast to
 *   every member; each applies it (`applyKeyringCommand`), saves its file and publishes its key
 *   fingerprints in its gossip metadata (`keyringTagValue`). The server that took the request
 *   watches the metadata until every alive member reflects the command
 *   (`summarizeKeyringOperation`), and answers `GET /v1/operator/keyring` from the same
 *   metadata (`summarizeKeyrings`). Keys never travel in metadata, only fingerprints.
 *
 * Sealed message format, version 1 (fixed; a change gets a new version byte):
 *
 *   offset 0         1 byte    version = 1
 *   offset 1        12 bytes   nonce
 *   offset 13        n bytes   ciphertext: AES-GCM of the n-byte plaintext (no padding)
 *   offset 13 + n   16 bytes   GCM tag
 *
 * The key size picks AES-128, AES-192 or AES-256. The version byte is GCM additional data and
 * the nonce feeds GCM's counter block, so version, nonce and ciphertext are all authenticated:
 * changing any byte fails the tag. The plaintext is secret; its length and the version are not.
 * The overhead is 29 bytes per message.
 *
 * Nonces: each Keyring starts from 12 random bytes and counts up by one per message. GCM needs
 * nonces that never repeat under one key, not unpredictable ones; a counter never repeats
 * within a process, and two processes collide only if their counter ranges overlap, which is
 * far less likely than a collision among per-message random nonces (memberlist's choice).
 *
 * Invariants: the keyring holds 1..keyringKeysMax distinct keys of 16, 24 or 32 bytes; the
 * first is the primary. Keys are compared by their bytes, so two spellings of one key in
 * base64 are the same key; `list` always prints the canonical spelling.
 */
import { createCipheriv, createDecipheriv, createHash, createSecretKey, randomBytes, type KeyObject } from 'node:crypto'
import { assert } from '../util/assert.js'
import { ControlPlaneError } from '../util/errors.js'

/** Key sizes in bytes: AES-128, AES-192, AES-256. */
export const gossipKeyBytesAllowed: readonly number[] = [16, 24, 32]
/** What `weft keygen` makes (Consul ≥ 1.8 does the same). */
export const gossipKeyBytesGenerated = 32
export const sealedVersion = 1
export const sealedNonceBytes = 12
export const sealedTagBytes = 16
/** Version byte + nonce. */
export const sealedHeaderBytes = 1 + sealedNonceBytes
/** Bytes a sealed message adds to its plaintext. */
export const sealedOverheadBytes = sealedHeaderBytes + sealedTagBytes
/**
 * The most keys one keyring holds. Rotation needs two at a time; the cap keeps a forgotten
 * series of installs from growing every member's metadata (17 characters per fingerprint) and
 * the cost of decrypting a packet no key opens (one AES-GCM attempt per key).
 */
export const keyringKeysMax = 16
/** Hex characters in a key fingerprint (the first 8 bytes of a SHA-256). */
export const fingerprintHexChars = 16

/** Why `decrypt` refused a message (ControlPlaneError `details.reason`). */
export type DecryptFailure = 'truncated' | 'unknownVersion' | 'noKey'

const fingerprintLabel = Buffer.from('weft gossip key fingerprint v1\0', 'utf8')

interface InstalledKey {
  readonly bytes: Buffer
  readonly secret: KeyObject
  readonly algorithm: 'aes-128-gcm' | 'aes-192-gcm' | 'aes-256-gcm'
  readonly base64: string
  readonly fingerprint: string
}

/** A new random key, base64 of 32 bytes, as `weft keygen` prints it. */
export function generateGossipKey (): string {
  return randomBytes(gossipKeyBytesGenerated).toString('base64')
}

/**
 * A short ID of a key that reveals nothing usable about it: the first 8 bytes of SHA-256 over a
 * weft-specific label and the key, in hex. Members publish these, never the keys.
 */
export function fingerprintOf (key: Uint8Array): string {
  return createHash('sha256').update(fingerprintLabel).update(key).digest().subarray(0, fingerprintHexChars / 2).toString('hex')
}

export class Keyring {
  /** Primary first. */
  private keys: InstalledKey[]
  /** The next nonce; advanced before every use. */
  private readonly nonce: Buffer = randomBytes(sealedNonceBytes)

  /**
   * Decodes a key given as standard base64 (padding required, no whitespace), the form
   * `weft keygen` prints. Throws ERR_INVALID_INPUT naming `field`, what was wrong (never the
   * key itself: it is a secret) and what is allowed.
   */
  static parseKey (base64: string, field = 'key'): Uint8Array {
    const problem = base64Problem(base64)
    if (problem !== undefined) {
      throw invalidKey(field, `${problem}; expected standard base64 of 16, 24 or 32 bytes, as 'weft keygen' prints`)
    }
    const bytes = Buffer.from(base64, 'base64')
    if (!gossipKeyBytesAllowed.includes(bytes.length)) {
      throw invalidKey(field, `key size must be 16, 24 or 32 bytes, got ${bytes.length} bytes; make a key with 'weft keygen'`)
    }
    return new Uint8Array(bytes)
  }

  /**
   * `keys` in any order; `primary` need not be among them (it is added). Duplicates collapse
   * into one. Throws ERR_INVALID_INPUT on a key of the wrong size or too many keys.
   */
  constructor (keys: readonly Uint8Array[], primary: Uint8Array) {
    const installed = [makeInstalledKey(primary, 'primary key')]
    keys.forEach((key, position) => {
      const candidate = makeInstalledKey(key, `keys[${position}]`)
      if (!installed.some(existing => existing.bytes.equals(candidate.bytes))) installed.push(candidate)
    })
    if (installed.length > keyringKeysMax) {
      throw new ControlPlaneError('ERR_INVALID_INPUT', `a keyring holds at most ${keyringKeysMax} keys, got ${installed.length}; ` +
        'drop keys no member uses any more', { details: { keyCount: installed.length, keysMax: keyringKeysMax } })
    }
    this.keys = installed
  }

  /** Number of installed keys, the primary included. */
  get size (): number {
    return this.keys.length
  }

  /** Seals `plaintext` under the primary key (format in the header). Synchronous, one output buffer. */
  encrypt (plaintext: Uint8Array): Uint8Array {
    const primary = this.keys[0]
    assert(primary !== undefined, 'a keyring always holds a primary key')
    advanceNonce(this.nonce)
    const sealed = Buffer.allocUnsafe(sealedOverheadBytes + plaintext.length)
    sealed[0] = sealedVersion
    this.nonce.copy(sealed, 1)
    const cipher = createCipheriv(primary.algorithm, primary.secret, sealed.subarray(1, sealedHeaderBytes), { authTagLength: sealedTagBytes })
    cipher.setAAD(sealed.subarray(0, 1))
    const written = cipher.update(plaintext).copy(sealed, sealedHeaderBytes) + cipher.final().copy(sealed, sealedHeaderBytes + plaintext.length)
    assert(written === plaintext.length, `AES-GCM wrote ${written} bytes for a ${plaintext.length}-byte plaintext`)
    cipher.getAuthTag().copy(sealed, sealedHeaderBytes + plaintext.length)
    return sealed
  }

  /**
   * Opens a sealed message with the first installed key whose tag verifies, primary first.
   * Throws ControlPlaneError ERR_INVALID_INPUT with `details.reason` (a DecryptFailure) when the
   * message is too short, has another version, or no installed key opens it.
   */
  decrypt (sealed: Uint8Array): Uint8Array {
    if (sealed.length < sealedOverheadBytes) {
      throw decryptError('truncated', `encrypted gossip message is ${sealed.length} bytes, shorter than the ${sealedOverheadBytes}-byte minimum`, sealed.length)
    }
    if (sealed[0] !== sealedVersion) {
      throw decryptError('unknownVersion', `encrypted gossip message has format version ${String(sealed[0])}, this weft reads version ${sealedVersion}; ` +
        'the sender may be unencrypted or run another weft version', sealed.length)
    }
    const additionalData = sealed.subarray(0, 1)
    const nonce = sealed.subarray(1, sealedHeaderBytes)
    const ciphertext = sealed.subarray(sealedHeaderBytes, sealed.length - sealedTagBytes)
    const tag = sealed.subarray(sealed.length - sealedTagBytes)
    for (const key of this.keys) {
      const plaintext = tryOpen(key, { nonce, additionalData, ciphertext, tag })
      if (plaintext !== undefined) return plaintext
    }
    throw decryptError('noKey', 'no installed gossip key decrypts this message', sealed.length)
  }

  /** Adds a key for decryption. Returns false when it was installed already. */
  install (key: Uint8Array): boolean {
    const candidate = makeInstalledKey(key, 'key')
    if (this.indexOf(candidate.bytes) >= 0) return false
    if (this.keys.length >= keyringKeysMax) {
      throw new ControlPlaneError('ERR_REJECTED', `the keyring already holds ${keyringKeysMax} keys, the most weft keeps; ` +
        "remove a key no member encrypts with any more ('weft keyring -remove KEY') before installing another",
      { details: { keysMax: keyringKeysMax } })
    }
    this.keys.push(candidate)
    return true
  }

  /** Makes an installed key the primary. Returns false when it already was. */
  use (key: Uint8Array): boolean {
    const index = this.indexOf(makeInstalledKey(key, 'key').bytes)
    if (index < 0) throw new ControlPlaneError('ERR_REJECTED', 'Requested key is not in the keyring')
    if (index === 0) return false
    const [chosen] = this.keys.splice(index, 1)
    assert(chosen !== undefined, 'splice at a found index returns the key')
    this.keys.unshift(chosen)
    return true
  }

  /** Drops a key that is not the primary. Returns false when it was not installed. */
  remove (key: Uint8Array): boolean {
    const index = this.indexOf(makeInstalledKey(key, 'key').bytes)
    if (index === 0) throw new ControlPlaneError('ERR_REJECTED', 'Removing the primary key is not allowed')
    if (index < 0) return false
    this.keys.splice(index, 1)
    return true
  }

  /** The keys in base64, primary first (`keys[0] === primary`). */
  list (): { primary: string, keys: string[] } {
    const keys = this.keys.map(key => key.base64)
    assert(keys[0] !== undefined, 'a keyring always holds a primary key')
    return { primary: keys[0], keys }
  }

  /** Fingerprints of the installed keys, primary first. */
  fingerprints (): string[] {
    return this.keys.map(key => key.fingerprint)
  }

  primaryFingerprint (): string {
    const primary = this.keys[0]
    assert(primary !== undefined, 'a keyring always holds a primary key')
    return primary.fingerprint
  }

  /** Whether `key` (base64 or bytes) is installed; false for a string that is not a valid key. */
  has (key: Uint8Array | string): boolean {
    if (typeof key !== 'string') return this.indexOf(Buffer.from(key.buffer, key.byteOffset, key.byteLength)) >= 0
    return base64Problem(key) === undefined && this.indexOf(Buffer.from(key, 'base64')) >= 0
  }

  private indexOf (bytes: Buffer): number {
    return this.keys.findIndex(key => key.bytes.equals(bytes))
  }
}

// ---------------------------------------------------------------------------------------------
// Gossip metadata: which keys a member holds, by fingerprint.

/**
 * The value a member publishes in its gossip metadata: its key fingerprints joined by commas,
 * primary first (at most 16 × 17 − 1 = 271 characters).
 */
export function keyringTagValue (keyring: Keyring): string {
  return keyring.fingerprints().join(',')
}

/** Reads a `keyringTagValue`; undefined when the text is not one (an old or foreign member). */
export function parseKeyringTag (value: string): { primaryFingerprint: string, fingerprints: string[] } | undefined {
  const fingerprints = value.split(',')
  if (fingerprints.length > keyringKeysMax) return undefined
  if (!fingerprints.every(fingerprint => /^[0-9a-f]{16}$/.test(fingerprint))) return undefined
  const [primaryFingerprint] = fingerprints
  if (primaryFingerprint === undefined) return undefined
  return { primaryFingerprint, fingerprints }
}

// ---------------------------------------------------------------------------------------------
// Keyring commands: what a cluster-wide rotation step broadcasts to every member.

export type KeyringOperation = 'install' | 'use' | 'remove'

export interface KeyringCommand {
  readonly op: KeyringOperation
  /** Standard base64 of a 16, 24 or 32-byte key. */
  readonly key: string
}

const keyringOperations: readonly KeyringOperation[] = ['install', 'use', 'remove']
/** An encoded command is ~70 bytes; anything much larger is not one. */
export const keyringCommandBytesMax = 256

/**
 * Checks an untrusted value is a KeyringCommand with a valid key. Throws ERR_INVALID_INPUT
 * naming `field`. Returns a fresh object with only the two fields.
 */
export function validateKeyringCommand (value: unknown, field = 'keyring command'): KeyringCommand {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new ControlPlaneError('ERR_INVALID_INPUT', `${field} must be an object { op, key }, got ${describeType(value)}`)
  }
  const { op, key } = value as { op?: unknown, key?: unknown }
  if (typeof op !== 'string' || !keyringOperations.includes(op as KeyringOperation)) {
    throw new ControlPlaneError('ERR_INVALID_INPUT', `${field}.op must be one of ${keyringOperations.join(', ')}, got ${describeValue(op)}`)
  }
  if (typeof key !== 'string') {
    throw new ControlPlaneError('ERR_INVALID_INPUT', `${field}.key must be a base64 string, got ${describeType(key)}`)
  }
  Keyring.parseKey(key, `${field}.key`)
  return { op: op as KeyringOperation, key }
}

/** UTF-8 JSON `{"op":…,"key":…}`; the gossip layer encrypts it like any other message. */
export function encodeKeyringCommand (command: KeyringCommand): Uint8Array {
  const valid = validateKeyringCommand(command)
  return Buffer.from(JSON.stringify({ op: valid.op, key: valid.key }), 'utf8')
}

/** The inverse of encodeKeyringCommand; throws ERR_INVALID_INPUT on anything else. */
export function decodeKeyringCommand (bytes: Uint8Array): KeyringCommand {
  if (bytes.length > keyringCommandBytesMax) {
    throw new ControlPlaneError('ERR_INVALID_INPUT', `keyring command is ${bytes.length} bytes, more than the ${keyringCommandBytesMax}-byte maximum`)
  }
  let parsed: unknown
  try {
    parsed = JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8'))
  } catch (err) {
    throw new ControlPlaneError('ERR_INVALID_INPUT', `keyring command is not valid JSON: ${(err as Error).message}`, { cause: err })
  }
  return validateKeyringCommand(parsed)
}

/**
 * Applies one command to this member's keyring. Idempotent, so a re-delivered broadcast is
 * harmless: installing an installed key, using the primary or removing an absent key changes
 * nothing (`changed: false`; the caller saves the file only when true). Refusals carry Consul's
 * texts as ERR_REJECTED: `Requested key is not in the keyring`, `Removing the primary key is
 * not allowed`.
 */
export function applyKeyringCommand (keyring: Keyring, command: KeyringCommand): { changed: boolean } {
  const key = Keyring.parseKey(command.key, 'keyring command key')
  switch (command.op) {
    case 'install': return { changed: keyring.install(key) }
    case 'use': return { changed: keyring.use(key) }
    case 'remove': return { changed: keyring.remove(key) }
  }
}

/**
 * Turns the body of POST/PUT/DELETE /v1/operator/keyring (`{"Key": "..."}`, already parsed
 * JSON) into a command, for the HTTP handler. Throws ERR_INVALID_INPUT (a 400) naming `Key`.
 */
export function parseKeyringRequestBody (op: KeyringOperation, body: unknown): KeyringCommand {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new ControlPlaneError('ERR_INVALID_INPUT', `Request decode failed: the body must be a JSON object {"Key": "<base64 key>"}, got ${describeType(body)}`)
  }
  const key = (body as { Key?: unknown }).Key
  if (key === undefined || key === '') {
    throw new ControlPlaneError('ERR_INVALID_INPUT', 'Key is required: send {"Key": "<base64 key>"} in the body')
  }
  if (typeof key !== 'string') throw new ControlPlaneError('ERR_INVALID_INPUT', `Key must be a base64 string, got ${describeType(key)}`)
  Keyring.parseKey(key, 'Key')
  return { op, key }
}

// ---------------------------------------------------------------------------------------------
// Cluster views, computed from the fingerprints members publish.

/** What one member's gossip metadata says about its keyring. */
export interface MemberKeyringState {
  readonly name: string
  /** Fingerprints of every key it holds, its primary included. */
  readonly fingerprints: readonly string[]
  /** null when it published no keyring tag (encryption off, or not known yet). */
  readonly primaryFingerprint: string | null
}

/** One element of GET /v1/operator/keyring, in Consul's shape (spec §13). */
export interface KeyringResponse {
  readonly WAN: boolean
  readonly Datacenter: string
  readonly Segment: string
  /** Per-member notes (member name → text); omitted when empty, as Consul does. */
  readonly Messages?: Readonly<Record<string, string>>
  /** Key → how many members hold it. */
  readonly Keys: Readonly<Record<string, number>>
  /** Key → how many members use it as their primary. */
  readonly PrimaryKeys: Readonly<Record<string, number>>
  readonly NumNodes: number
}

/**
 * The LAN pool's keyring view from the alive members' metadata. `knownKeys` are the keys
 * (base64) this server can name, normally its own keyring's `list().keys`; a fingerprint that
 * matches none of them is reported in Messages under the member's name instead of a key,
 * because members never send keys around. Keys are ordered by count, then by text.
 */
export function summarizeKeyrings (
  members: readonly MemberKeyringState[],
  knownKeys: readonly string[],
  options: { readonly datacenter: string, readonly segment?: string }
): KeyringResponse {
  const keyByFingerprint = new Map(knownKeys.map(key => [fingerprintOf(Keyring.parseKey(key, 'known key')), Buffer.from(key, 'base64').toString('base64')]))
  const keys = new Map<string, number>()
  const primaryKeys = new Map<string, number>()
  const messages: Record<string, string> = {}
  for (const member of members) {
    const unknown = new Set<string>()
    for (const fingerprint of new Set(member.fingerprints)) {
      const key = keyByFingerprint.get(fingerprint)
      if (key === undefined) unknown.add(fingerprint)
      else keys.set(key, (keys.get(key) ?? 0) + 1)
    }
    if (member.primaryFingerprint === null) {
      messages[member.name] = 'reported no gossip keyring (encryption off, or its metadata has not arrived yet)'
      continue
    }
    const primary = keyByFingerprint.get(member.primaryFingerprint)
    if (primary !== undefined) primaryKeys.set(primary, (primaryKeys.get(primary) ?? 0) + 1)
    else unknown.add(member.primaryFingerprint)
    if (unknown.size > 0) messages[member.name] = describeUnknownKeys(member, [...unknown].sort())
  }
  return {
    WAN: false,
    Datacenter: options.datacenter,
    Segment: options.segment ?? '',
    ...(Object.keys(messages).length > 0 ? { Messages: sortedRecord(Object.entries(messages).sort(([nameA], [nameB]) => compareText(nameA, nameB))) } : {}),
    Keys: countsRecord(keys),
    PrimaryKeys: countsRecord(primaryKeys),
    NumNodes: members.length
  }
}

/** Whether a member's published keyring shows the command took effect there. */
export function isKeyringCommandReflected (command: KeyringCommand, member: MemberKeyringState): boolean {
  const fingerprint = fingerprintOf(Keyring.parseKey(command.key, 'keyring command key'))
  switch (command.op) {
    case 'install': return member.fingerprints.includes(fingerprint)
    case 'use': return member.primaryFingerprint === fingerprint
    case 'remove': return member.primaryFingerprint !== null && !member.fingerprints.includes(fingerprint)
  }
}

export type KeyringOperationStatus =
  | { readonly state: 'done' }
  | { readonly state: 'pending', readonly pending: readonly string[] }
  /** `message` is the 500 body Consul sends (go-multierror's list, spec §13). */
  | { readonly state: 'failed', readonly message: string }

/**
 * Where a broadcast command stands across the alive members. `failures` holds members that
 * reported they could not apply it (name → their error text). Done when every member reflects
 * it; failed once every member has either reflected it or failed and at least one failed, or
 * when `deadlinePassed` with members still pending; otherwise pending.
 */
export function summarizeKeyringOperation (
  command: KeyringCommand,
  members: readonly MemberKeyringState[],
  options: { readonly datacenter: string, readonly failures?: ReadonlyMap<string, string>, readonly deadlinePassed?: boolean }
): KeyringOperationStatus {
  const failures = options.failures ?? new Map<string, string>()
  const failed = members.filter(member => failures.has(member.name) && !isKeyringCommandReflected(command, member))
  const pending = members.filter(member => !failures.has(member.name) && !isKeyringCommandReflected(command, member))
  const pool = `${options.datacenter} (LAN)`
  if (failed.length === 0 && pending.length === 0) return { state: 'done' }
  if (pending.length > 0 && options.deadlinePassed !== true) return { state: 'pending', pending: pending.map(member => member.name).sort() }
  const lines = failed.map(member => `${member.name}: ${failures.get(member.name) ?? ''}`)
  lines.push(...pending.map(member => `${member.name}: did not confirm the change before the deadline`))
  lines.sort()
  const headline = failed.length > 0
    ? `${pool} error: ${failed.length}/${members.length} nodes reported failure`
    : `${pool} error: ${members.length - pending.length}/${members.length} nodes reported success`
  return { state: 'failed', message: multiErrorText([headline, ...lines]) }
}

// ---------------------------------------------------------------------------------------------
// Helpers.

function makeInstalledKey (key: Uint8Array, field: string): InstalledKey {
  if (!gossipKeyBytesAllowed.includes(key.length)) {
    throw invalidKey(field, `key size must be 16, 24 or 32 bytes, got ${key.length} bytes; make a key with 'weft keygen'`)
  }
  const bytes = Buffer.from(key) // a private copy: the caller may reuse its array
  const algorithm = key.length === 16 ? 'aes-128-gcm' : key.length === 24 ? 'aes-192-gcm' : 'aes-256-gcm'
  return { bytes, secret: createSecretKey(bytes), algorithm, base64: bytes.toString('base64'), fingerprint: fingerprintOf(bytes) }
}

function tryOpen (
  key: InstalledKey,
  parts: { nonce: Uint8Array, additionalData: Uint8Array, ciphertext: Uint8Array, tag: Uint8Array }
): Uint8Array | undefined {
  const decipher = createDecipheriv(key.algorithm, key.secret, parts.nonce, { authTagLength: sealedTagBytes })
  decipher.setAAD(parts.additionalData)
  decipher.setAuthTag(parts.tag)
  const plaintext = decipher.update(parts.ciphertext)
  try {
    decipher.final() // throws when the tag does not verify under this key
  } catch {
    return undefined
  }
  return plaintext
}

/** Big-endian increment of the whole nonce, in place, wrapping at 2^96. */
function advanceNonce (nonce: Buffer): void {
  for (let index = nonce.length - 1; index >= 0; index -= 1) {
    const next = ((nonce[index] as number) + 1) & 0xff
    nonce[index] = next
    if (next !== 0) return
  }
}

/** Why `text` is not standard padded base64, or undefined when it is. Never quotes the text. */
function base64Problem (text: string): string | undefined {
  if (text.length === 0) return 'it is empty'
  const illegalAt = text.search(/[^A-Za-z0-9+/=]/)
  if (illegalAt >= 0) return `illegal base64 data at input byte ${illegalAt}`
  if (text.length % 4 !== 0) return `its length ${text.length} is not a multiple of 4`
  const paddingAt = text.indexOf('=')
  if (paddingAt >= 0 && !/^={1,2}$/.test(text.slice(paddingAt))) return `illegal base64 data at input byte ${paddingAt}`
  return undefined
}

function invalidKey (field: string, detail: string): ControlPlaneError {
  return new ControlPlaneError('ERR_INVALID_INPUT', `${field} is not a valid gossip key: ${detail}`, { details: { field } })
}

function decryptError (reason: DecryptFailure, message: string, byteCount: number): ControlPlaneError {
  return new ControlPlaneError('ERR_INVALID_INPUT', message, { details: { reason, bytes: byteCount } })
}

function describeUnknownKeys (member: MemberKeyringState, fingerprints: readonly string[]): string {
  const primaryNote = member.primaryFingerprint !== null && fingerprints.includes(member.primaryFingerprint) ? ', its primary among them' : ''
  const noun = fingerprints.length === 1 ? 'key' : 'keys'
  return `holds ${fingerprints.length} ${noun} this server does not have${primaryNote} (fingerprints ${fingerprints.join(', ')})`
}

function countsRecord (counts: ReadonlyMap<string, number>): Record<string, number> {
  return sortedRecord([...counts].sort(([keyA, countA], [keyB, countB]) => countB - countA || compareText(keyA, keyB)))
}

/** Code-unit order, independent of locale. */
function compareText (a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}

function sortedRecord<Value> (entries: ReadonlyArray<readonly [string, Value]>): Record<string, Value> {
  const record: Record<string, Value> = {}
  for (const [name, value] of entries) record[name] = value
  return record
}

/** go-multierror's default text, which Consul's HTTP layer sends as the body of a 500. */
function multiErrorText (errors: readonly string[]): string {
  if (errors.length === 1) return `1 error occurred:\n\t* ${errors[0] ?? ''}\n\n`
  return `${errors.length} errors occurred:\n\t${errors.map(text => `* ${text}`).join('\n\t')}\n\n`
}

function describeType (value: unknown): string {
  if (value === null) return 'null'
  if (Array.isArray(value)) return 'an array'
  return typeof value === 'object' ? 'an object' : `a ${typeof value}`
}

function describeValue (value: unknown): string {
  return typeof value === 'string' ? JSON.stringify(value.slice(0, 32)) : describeType(value)
}
