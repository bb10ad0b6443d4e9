/**
 * The built-in CA provider's configuration (spec §6.2): reading it from the agent's
 * `connect.ca_config` (snake_case keys) or from `PUT /v1/connect/ca/configuration` (PascalCase),
 * checking every value once, and the stored form.
 *
 * The stored `Config` map keeps PascalCase keys with the defaults filled in, and is echoed by
 * `GET /v1/connect/ca/configuration` as it was stored (Consul does the same, including a
 * user-supplied PrivateKey). `parseCaConfig` turns it into typed settings; every caller goes
 * through it, so a value that reached the log has passed these checks.
 *
 * Decisions:
 * - Unknown keys are refused with the key's name (Consul ignores them silently; a typo in
 *   `LeafCertTtl` would otherwise leave the 72h default in place unnoticed).
 * - Durations are Go duration strings, or numbers of nanoseconds (Go's weakly typed decode).
 * - `minimumLeafTtlMs`: 1h as in Consul, except that a `-dev` agent accepts down to 10s so that
 *   renewal, rotation and pruning can be watched in minutes.
 *
 * Callers: src/rpc/connect-ca.ts (bootstrap, PUT configuration, signing), tests.
 */
import { ControlPlaneError } from '../util/errors.js'
import { formatGoDuration, parseGoDurationNs } from '../util/go-duration.js'

export type PrivateKeyType = 'ec' | 'rsa'

export interface CaSettings {
  readonly leafCertTtlMs: number
  readonly intermediateCertTtlMs: number
  readonly rootCertTtlMs: number
  /** How long a generated root stays active before the leader rotates to a new one. */
  readonly rotationPeriodMs: number
  readonly privateKeyType: PrivateKeyType
  readonly privateKeyBits: number
  /** PEM of an operator-supplied CA key, or null to generate one. */
  readonly privateKey: string | null
  /** PEM of an operator-supplied root for `privateKey`, or null to self-sign one. */
  readonly rootCert: string | null
  /** 0 disables the limit. */
  readonly csrMaxPerSecond: number
  readonly csrMaxConcurrent: number
}

export type StoredCaConfig = Readonly<Record<string, string | number | boolean>>

interface KeySpecEntry {
  readonly stored: string
  readonly agent: string
  readonly kind: 'duration' | 'string' | 'integer' | 'pem'
}

const keys: readonly KeySpecEntry[] = [
  { stored: 'LeafCertTTL', agent: 'leaf_cert_ttl', kind: 'duration' },
  { stored: 'IntermediateCertTTL', agent: 'intermediate_cert_ttl', kind: 'duration' },
  { stored: 'RootCertTTL', agent: 'root_cert_ttl', kind: 'duration' },
  { stored: 'RotationPeriod', agent: 'rotation_period', kind: 'duration' },
  { stored: 'PrivateKeyType', agent: 'private_key_type', kind: 'string' },
  { stored: 'PrivateKeyBits', agent: 'private_key_bits', kind: 'integer' },
  { stored: 'PrivateKey', agent: 'private_key', kind: 'pem' },
  { stored: 'RootCert', agent: 'root_cert', kind: 'pem' },
  { stored: 'CSRMaxPerSecond', agent: 'csr_max_per_second', kind: 'integer' },
  { stored: 'CSRMaxConcurrent', agent: 'csr_max_concurrent', kind: 'integer' }
]

/** Lower-cased key without underscores -> entry: accepts `LeafCertTTL`, `leaf_cert_ttl`, `leafcertttl`. */
const keysByFolded = new Map<string, KeySpecEntry>(keys.map(entry => [fold(entry.stored), entry]))

/** The defaults a fresh CA is stored with (Consul's modern defaults). */
export const defaultStoredCaConfig: StoredCaConfig = Object.freeze({
  LeafCertTTL: '72h',
  IntermediateCertTTL: '8760h',
  RootCertTTL: '87600h'
})

const hourMs = 3_600_000
const defaults = {
  leafCertTtlMs: 72 * hourMs,
  intermediateCertTtlMs: 8760 * hourMs,
  rootCertTtlMs: 87600 * hourMs,
  rotationPeriodMs: 2160 * hourMs,
  csrMaxPerSecond: 50,
  csrMaxConcurrent: 0
}

export interface ParseCaConfigOptions {
  /** 1h normally; a -dev agent allows shorter leaves (see the header). */
  readonly minimumLeafTtlMs: number
}

export const standardMinimumLeafTtlMs = hourMs
export const devMinimumLeafTtlMs = 10_000

function fold (key: string): string {
  return key.replace(/_/g, '').toLowerCase()
}

function invalid (message: string): ControlPlaneError {
  return new ControlPlaneError('ERR_INVALID_INPUT', message)
}

/**
 * Normalizes a config map from either source into the stored form: PascalCase keys, values
 * checked for type, defaults added for the TTLs. Throws ERR_INVALID_INPUT naming the key.
 * `cluster_id` (agent config only) is returned apart: it fixes the trust domain and is not stored.
 */
export function normalizeCaConfig (raw: Readonly<Record<string, unknown>>, options: ParseCaConfigOptions): { config: StoredCaConfig, clusterId: string | null } {
  const stored: Record<string, string | number | boolean> = { ...defaultStoredCaConfig }
  let clusterId: string | null = null
  for (const [key, value] of Object.entries(raw)) {
    if (fold(key) === 'clusterid') {
      if (typeof value !== 'string' || !/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(value)) {
        throw invalid(`CA config ${key} must be a UUID, got ${JSON.stringify(value)}`)
      }
      clusterId = value.toLowerCase()
      continue
    }
    const entry = keysByFolded.get(fold(key))
    if (entry === undefined) {
      throw invalid(`unknown CA config key ${JSON.stringify(key)}; known keys: ${keys.map(k => k.stored).join(', ')}`)
    }
    stored[entry.stored] = checkValue(entry, key, value)
  }
  const config = Object.freeze(stored)
  parseCaConfig(config, options)
  return { config, clusterId }
}

function checkValue (entry: KeySpecEntry, key: string, value: unknown): string | number | boolean {
  switch (entry.kind) {
    case 'duration':
      if (typeof value === 'number' && Number.isFinite(value)) return value
      if (typeof value === 'string' && parseGoDurationNs(value) !== null) return value
      throw invalid(`CA config ${key} must be a duration such as "72h", got ${JSON.stringify(value)}`)
    case 'integer':
      if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0) return value
      if (typeof value === 'string' && /^[0-9]+$/.test(value)) return Number(value)
      throw invalid(`CA config ${key} must be a non-negative integer, got ${JSON.stringify(value)}`)
    case 'string':
      if (typeof value === 'string') return value
      throw invalid(`CA config ${key} must be a string, got ${JSON.stringify(value)}`)
    case 'pem':
      if (typeof value === 'string') return value
      throw invalid(`CA config ${key} must be a PEM string, got ${typeof value}`)
  }
}

function durationMs (config: StoredCaConfig, key: string, fallbackMs: number): number {
  const value = config[key]
  if (value === undefined) return fallbackMs
  if (typeof value === 'number') return value / 1e6
  const ns = parseGoDurationNs(String(value))
  if (ns === null) throw invalid(`CA config ${key} must be a duration such as "72h", got ${JSON.stringify(value)}`)
  return ns / 1e6
}

function goDuration (ms: number): string {
  return formatGoDuration(ms * 1e6)
}

/** Checks a stored config map and returns typed settings; throws ERR_INVALID_INPUT with Consul's texts. */
export function parseCaConfig (config: StoredCaConfig, options: ParseCaConfigOptions): CaSettings {
  const leafCertTtlMs = durationMs(config, 'LeafCertTTL', defaults.leafCertTtlMs)
  const intermediateCertTtlMs = durationMs(config, 'IntermediateCertTTL', defaults.intermediateCertTtlMs)
  const rootCertTtlMs = durationMs(config, 'RootCertTTL', defaults.rootCertTtlMs)
  const rotationPeriodMs = durationMs(config, 'RotationPeriod', defaults.rotationPeriodMs)
  if (leafCertTtlMs < options.minimumLeafTtlMs) throw invalid(`leaf cert TTL must be greater or equal than ${goDuration(options.minimumLeafTtlMs)}`)
  if (leafCertTtlMs > 8760 * hourMs) throw invalid(`leaf cert TTL must be less than ${goDuration(8760 * hourMs)}`)
  const intermediateMinMs = Math.max(options.minimumLeafTtlMs === standardMinimumLeafTtlMs ? 3 * hourMs : 0, 3 * leafCertTtlMs)
  if (intermediateCertTtlMs < intermediateMinMs) {
    throw invalid(`Intermediate Cert TTL must be greater or equal than 3 * LeafCertTTL (>=${goDuration(3 * leafCertTtlMs)}).`)
  }
  if (rootCertTtlMs < intermediateCertTtlMs) throw invalid(`root cert TTL is set and is less than intermediate cert TTL (${goDuration(rootCertTtlMs)} < ${goDuration(intermediateCertTtlMs)})`)
  if (rotationPeriodMs <= 0) throw invalid('CA config RotationPeriod must be positive')

  const type = String(config.PrivateKeyType ?? 'ec')
  if (type !== 'ec' && type !== 'rsa') throw invalid("private key type must be either 'ec' or 'rsa'")
  const bitsRaw = config.PrivateKeyBits
  let bits: number
  if (type === 'ec') {
    bits = bitsRaw === undefined || bitsRaw === 0 ? 256 : Number(bitsRaw)
    if (![224, 256, 384, 521].includes(bits)) throw invalid('EC key length must be one of (224, 256, 384, 521) bits')
  } else {
    bits = Number(bitsRaw ?? 0)
    if (bits !== 2048 && bits !== 4096) throw invalid('RSA key length must be 2048 or 4096 bits')
  }

  const privateKey = typeof config.PrivateKey === 'string' && config.PrivateKey.trim() !== '' ? config.PrivateKey : null
  const rootCert = typeof config.RootCert === 'string' && config.RootCert.trim() !== '' ? config.RootCert : null
  if (rootCert !== null && privateKey === null) throw invalid('must provide a private key when providing a root cert')

  return Object.freeze({
    leafCertTtlMs,
    intermediateCertTtlMs,
    rootCertTtlMs,
    rotationPeriodMs,
    privateKeyType: type,
    privateKeyBits: bits,
    privateKey,
    rootCert,
    csrMaxPerSecond: Number(config.CSRMaxPerSecond ?? defaults.csrMaxPerSecond),
    csrMaxConcurrent: Number(config.CSRMaxConcurrent ?? defaults.csrMaxConcurrent)
  })
}

/** Whether two stored configs would make the same root (the fields that decide the key and certificate). */
export function sameRootInputs (a: CaSettings, b: CaSettings): boolean {
  return a.privateKey === b.privateKey && a.rootCert === b.rootCert &&
    a.privateKeyType === b.privateKeyType && a.privateKeyBits === b.privateKeyBits
}
