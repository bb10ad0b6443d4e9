/**
 * Connect CA state: the CA configuration (one row), the trusted roots, the built-in provider's
 * private state (where the CA private key lives) and the provider's certificate serial counter.
 * Everything here was decided by the leader (keys, certificates, times); the store only records
 * it, with the compare-and-set checks Consul uses so that two leaders racing through a
 * bootstrap or a rotation cannot both win.
 *
 * Invariants: when roots exist exactly one is active (checked on the command, asserted here);
 * roots are kept sorted by ID; the serial counter only grows, starting from 1.
 *
 * Callers: state-store.ts, snapshot.ts.
 */
import { assert } from '../../util/assert.js'
import type { CaConfigInput, CaConfigRow, CaProviderStateInput, CaProviderStateRow, CaRootInput, CaRootRow, CaRoots } from '../types.js'
import { compareKeys } from './sorted-keys.js'
import type { TableIndexes } from './table-indexes.js'

export class ConnectCaTables {
  private config: CaConfigRow | undefined = undefined
  private roots: readonly CaRootRow[] = []
  private readonly providerStates = new Map<string, CaProviderStateRow>()
  private serial = 0

  constructor (private readonly indexes: TableIndexes) {}

  getConfig (): CaConfigRow | undefined {
    return this.config
  }

  getRoots (): CaRoots {
    return { ActiveRootID: this.activeRoot()?.ID ?? '', Roots: this.roots }
  }

  activeRoot (): CaRootRow | undefined {
    return this.roots.find(root => root.Active)
  }

  providerState (id: string): CaProviderStateRow | undefined {
    return this.providerStates.get(id)
  }

  /** The last serial handed out (0 before the first). */
  lastSerial (): number {
    return this.serial
  }

  /**
   * Stores the configuration. With `cas`, only if the stored config's ModifyIndex equals it
   * (0: only if there is none yet). Returns whether it was stored.
   */
  setConfig (index: number, input: CaConfigInput, cas: number | undefined): boolean {
    if (cas !== undefined && (this.config?.ModifyIndex ?? 0) !== cas) return false
    this.config = Object.freeze({ ...input, CreateIndex: this.config?.CreateIndex ?? index, ModifyIndex: index })
    this.indexes.bump('connect-ca-config', index)
    return true
  }

  /**
   * Replaces the whole root set (and the config, when given, in the same apply: a rotation).
   * With `cas`, only if the roots table index equals it. Returns whether it was stored.
   */
  setRoots (index: number, roots: readonly CaRootInput[], options: { cas: number | undefined, config: CaConfigInput | undefined }): boolean {
    if (options.cas !== undefined && this.indexes.get('connect-ca-roots') !== options.cas) return false
    assert(roots.filter(root => root.Active).length === 1, 'caSetRoots must carry exactly one active root')
    const previous = new Map(this.roots.map(root => [root.ID, root]))
    this.roots = Object.freeze([...roots].sort((a, b) => compareKeys(a.ID, b.ID)).map(root => {
      return Object.freeze({ ...root, CreateIndex: previous.get(root.ID)?.CreateIndex ?? index, ModifyIndex: index })
    }))
    this.indexes.bump('connect-ca-roots', index)
    if (options.config !== undefined) this.setConfig(index, options.config, undefined)
    return true
  }

  setProviderState (index: number, input: CaProviderStateInput): void {
    const existing = this.providerStates.get(input.ID)
    this.providerStates.set(input.ID, Object.freeze({ ...input, CreateIndex: existing?.CreateIndex ?? index, ModifyIndex: index }))
    this.indexes.bump('connect-ca-builtin', index)
  }

  deleteProviderState (index: number, id: string): boolean {
    if (!this.providerStates.delete(id)) return false
    this.indexes.bump('connect-ca-builtin', index)
    return true
  }

  /** Hands out the next `count` serial numbers (1, 2, ...) and returns the last of them. */
  incrementSerial (index: number, count: number): number {
    assert(Number.isSafeInteger(count) && count >= 1, `a serial block must hold at least one serial, got ${count}`)
    this.serial += count
    assert(Number.isSafeInteger(this.serial), 'CA serial counter overflowed')
    this.indexes.bump('connect-ca-builtin-serial', index)
    return this.serial
  }

  // -------------------------------------------------------------------------------------------
  // Snapshots

  rootRows (): readonly CaRootRow[] {
    return this.roots
  }

  providerStateRows (): CaProviderStateRow[] {
    return [...this.providerStates.keys()].sort(compareKeys).map(id => this.providerStates.get(id) as CaProviderStateRow)
  }

  loadConfig (row: CaConfigRow): string | undefined {
    if (this.config !== undefined) return 'CA configuration appears twice'
    this.config = row
    return undefined
  }

  loadRoot (row: CaRootRow): string | undefined {
    const last = this.roots[this.roots.length - 1]
    if (last !== undefined && compareKeys(last.ID, row.ID) >= 0) return `CA root ${JSON.stringify(row.ID)} is out of order or repeated`
    if (row.Active && this.activeRoot() !== undefined) return `CA root ${JSON.stringify(row.ID)} is a second active root`
    this.roots = [...this.roots, row]
    return undefined
  }

  /** Checks what only the whole root set can show; called once all rows are loaded. */
  finishLoad (): string | undefined {
    if (this.roots.length > 0 && this.activeRoot() === undefined) return 'CA roots have no active root'
    this.roots = Object.freeze(this.roots)
    return undefined
  }

  loadProviderState (row: CaProviderStateRow): string | undefined {
    if (this.providerStates.has(row.ID)) return `CA provider state ${JSON.stringify(row.ID)} appears twice`
    this.providerStates.set(row.ID, row)
    return undefined
  }

  loadSerial (value: number): void {
    this.serial = value
  }
}
