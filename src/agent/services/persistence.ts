/**
 * What the agent keeps of its local services across restarts, in `<data_dir>/local-services.json`
 * (mode 0600: definitions may carry ACL tokens):
 *   - services and checks registered through the HTTP API (Consul persists these too, so a
 *     restart does not make anti-entropy delete them from the catalog);
 *   - the port each sidecar and managed proxy was given, so allocation is stable across
 *     restarts even when definitions are added or reordered.
 * Config-file definitions are not stored: they are read again at every start.
 *
 * Writes are atomic (temporary file, then rename) and serialized: each save waits for the
 * previous one, and saves requested meanwhile collapse into one write of the latest state.
 * A missing file is an empty state; an unreadable or malformed one is reported and ignored (the
 * agent starts with what its config files define).
 *
 * Callers: local-services.ts.
 */
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { CheckDefinition, ServiceDefinition } from '../../api/service-definition.js'

export const persistedFileName = 'local-services.json'
const formatVersion = 1

export interface PersistedState {
  readonly services: ReadonlyArray<{ readonly definition: ServiceDefinition, readonly token: string }>
  readonly checks: ReadonlyArray<{ readonly definition: CheckDefinition, readonly token: string }>
  /** Service ID → port, for sidecars and managed proxies. */
  readonly ports: Readonly<Record<string, number>>
}

export const emptyPersistedState: PersistedState = Object.freeze({ services: [], checks: [], ports: {} })

export class Persistence {
  #pending: PersistedState | null = null
  #writing: Promise<void> | null = null

  /** null: nothing is persisted (-dev without a data dir). */
  constructor (private readonly dataDir: string | null, private readonly onError: (err: Error) => void) {}

  async load (): Promise<PersistedState> {
    if (this.dataDir === null) return emptyPersistedState
    const path = join(this.dataDir, persistedFileName)
    let text: string
    try {
      text = await readFile(path, 'utf8')
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return emptyPersistedState
      this.onError(new Error(`${path} cannot be read: ${(err as Error).message}`))
      return emptyPersistedState
    }
    try {
      const parsed = JSON.parse(text) as { version?: unknown, services?: unknown, checks?: unknown, ports?: unknown }
      if (parsed.version !== formatVersion || !Array.isArray(parsed.services) || !Array.isArray(parsed.checks) || typeof parsed.ports !== 'object' || parsed.ports === null) {
        throw new Error(`expected {"version": ${formatVersion}, "services": [...], "checks": [...], "ports": {...}}`)
      }
      return { services: parsed.services, checks: parsed.checks, ports: parsed.ports as Record<string, number> }
    } catch (err) {
      this.onError(new Error(`${path} is malformed and is ignored: ${(err as Error).message}`))
      return emptyPersistedState
    }
  }

  /** Schedules a write of `state`; resolves when it (or a later state) is on disk. */
  async save (state: PersistedState): Promise<void> {
    if (this.dataDir === null) return
    this.#pending = state
    while (this.#writing !== null) await this.#writing
    const next = this.#pending
    if (next === null) return
    this.#pending = null
    this.#writing = this.write(next).catch(err => this.onError(err as Error)).finally(() => { this.#writing = null })
    await this.#writing
  }

  private async write (state: PersistedState): Promise<void> {
    const dataDir = this.dataDir as string
    const path = join(dataDir, persistedFileName)
    await mkdir(dataDir, { recursive: true, mode: 0o700 })
    const text = JSON.stringify({ version: formatVersion, ...state }, null, 2) + '\n'
    await writeFile(`${path}.tmp`, text, { mode: 0o600 })
    await rename(`${path}.tmp`, path)
  }
}
