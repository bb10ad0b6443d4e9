/**
 * Intentions for the in-memory ServerApi (api-memory-server.ts): the real server logic
 * (src/rpc/intention-endpoints.ts: validation, ID and timestamp assignment, the FSM's refusals,
 * match and check) over a real Fsm, with Raft replaced by applying each command at the next
 * index and forwarding by running locally. Blocking reads wait on the FSM's change listener
 * until the intentions table passes ?index or the wait ends (or `release` is called).
 *
 * Callers: test/support/api-memory-server.ts, test/unit/agent/intention-cache.test.ts.
 */
import { Fsm, type Command, type CommandResult, type CommandType } from '../../src/fsm/index.js'
import { IntentionEndpoints } from '../../src/rpc/intention-endpoints.js'
import type { IntentionDefault } from '../../src/rpc/intentions.js'
import type { QueryMeta, QueryOptions } from '../../src/rpc/types.js'

export interface MemoryIntentionsOptions {
  /** The query meta to report for a read at `index`. */
  readonly meta: (index: number, query: QueryOptions) => QueryMeta
  readonly nowMs?: () => number
  readonly newId?: () => string
}

export class MemoryIntentions {
  readonly fsm = new Fsm()
  /** What /check answers when nothing matches; tests may change it. */
  defaults: IntentionDefault = { aclsEnabled: false, aclDefaultPolicy: 'allow' }
  readonly endpoints: IntentionEndpoints
  #index = 1
  #releasing = false
  readonly #release = new Set<() => void>()

  constructor (options: MemoryIntentionsOptions) {
    const reader = this.fsm.reader
    const owner = this // the defaults getter below reads the current value
    this.endpoints = new IntentionEndpoints({
      reader,
      read: async (_method, _args, query, run) => {
        if (query.minQueryIndex > 0) await this.#waitPast(query.minQueryIndex, query.maxQueryTimeMs)
        const value = run()
        return { meta: options.meta(Math.max(1, reader.tableIndex('connect-intentions')), query), value }
      },
      onLeader: async (_method, _args, run) => await run(),
      apply: async <K extends CommandType>(command: Command & { type: K }) => {
        this.#index += 1
        return this.fsm.applyCommand(this.#index, command as never) as CommandResult<K>
      },
      ...(options.nowMs !== undefined ? { nowMs: options.nowMs } : {}),
      ...(options.newId !== undefined ? { newId: options.newId } : {}),
      get defaults () { return owner.defaults }
    })
  }

  /** Skips Raft indexes, as other tables' writes would. */
  skip (count: number): void {
    this.#index += count
  }

  /** Ends every blocked read now, and every later one at once (teardown). */
  release (): void {
    this.#releasing = true
    for (const wake of [...this.#release]) wake()
  }

  get waiterCount (): number {
    return this.#release.size
  }

  async #waitPast (index: number, waitMs: number): Promise<void> {
    const reader = this.fsm.reader
    if (reader.tableIndex('connect-intentions') > index || this.#releasing) return
    await new Promise<void>(resolve => {
      const done = (): void => {
        clearTimeout(timer)
        unsubscribe()
        this.#release.delete(done)
        resolve()
      }
      const timer = setTimeout(done, waitMs)
      const unsubscribe = reader.onChange(change => {
        if (change.tables.has('connect-intentions')) done()
      })
      this.#release.add(done)
    })
  }
}
