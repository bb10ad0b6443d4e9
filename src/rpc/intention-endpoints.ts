/**
 * The intention RPC endpoints (#4, spec §8.2) as they run on a server: validate, decide the
 * non-deterministic values on the leader, propose, and shape the reply. LocalServerApi exposes
 * each method as an RPC (the intention* methods there delegate here) and supplies the host
 * functions: its consistency-aware, blocking `read` over the intentions table, `onLeader`
 * (run here when this server leads, else forward the whole call to the leader) and `apply`
 * (propose a command and await its FSM result).
 *
 * Writes, in order:
 *   1. validate the request (intentions.ts) — on whichever server received it, so bad input
 *      never travels and never reaches the log;
 *   2. on the leader: pick the ID (a random UUID) and the CreatedAt/UpdatedAt timestamps
 *      (wall clock), which the FSM only records (STYLE "decide before you log");
 *   3. propose; the FSM is the one judge of state-dependent refusals (a duplicate pair, an
 *      unknown ID), so two racing creates of one pair cannot both succeed. Its refusals become
 *      ERR_REJECTED: Consul answers them with 500 and its text (`duplicate intention found:
 *      ALLOW default/web => default/db (ID: ..., Precedence: 9)`,
 *      `Cannot modify non-existent intention: '<id>'`, `Cannot delete non-existent intention: '<id>'`).
 *
 * Reads are blocking queries over the `connect-intentions` table index. `check` answers with
 * this server's ACL defaults (`IntentionDefault`): the server that evaluates decides, as in
 * Consul's Intention.Check RPC.
 *
 * Callers: server-api.ts (LocalServerApi), test/support (the in-memory ServerApi).
 */
import { randomUUID } from 'node:crypto'
import { ControlPlaneError } from '../util/errors.js'
import type { Command, CommandResult, CommandType, IntentionInput, IntentionPair, StateReader } from '../fsm/index.js'
import {
  decideIntention, defaultNamespace, formatGoTime, intentionReply, invalidIntentionId, isUuid, validateIntentionRequest,
  type IntentionDefault, type IntentionFields, type IntentionMatchBy, type IntentionReply, type IntentionRequest, type IntentionSelector
} from './intentions.js'
import type { QueryOptions, QueryResult, ServerApi, WriteOptions } from './types.js'

export interface IntentionEndpointsHost {
  readonly reader: StateReader
  /** Runs `run` under the query's consistency mode, blocking on the intentions table when asked. */
  read<T> (method: keyof ServerApi, args: readonly unknown[], query: QueryOptions, run: () => T): Promise<QueryResult<T>>
  /** Runs `run` on the leader: here when this server leads, otherwise the call (method, args) is forwarded. */
  onLeader<T> (method: keyof ServerApi, args: readonly unknown[], run: () => Promise<T>): Promise<T>
  /** Proposes a command and resolves with the FSM's result once it is applied. */
  apply<K extends CommandType> (command: Command & { type: K }): Promise<CommandResult<K>>
  /** Wall clock (epoch ms), read only on the leader before proposing. Default Date.now. */
  readonly nowMs?: () => number
  /** A fresh intention ID, made only on the leader before proposing. Default a random UUID. */
  readonly newId?: () => string
  /** What /check answers when no intention matches. */
  readonly defaults: IntentionDefault
}

function pair (source: string, destination: string): IntentionPair {
  return { SourceNS: defaultNamespace, SourceName: source, DestinationNS: defaultNamespace, DestinationName: destination }
}

export class IntentionEndpoints {
  private readonly nowMs: () => number
  private readonly newId: () => string

  constructor (private readonly host: IntentionEndpointsHost) {
    this.nowMs = host.nowMs ?? Date.now
    this.newId = host.newId ?? randomUUID
  }

  // Reads -------------------------------------------------------------------------------------

  async list (query: QueryOptions): Promise<QueryResult<readonly IntentionReply[]>> {
    return await this.host.read('intentionList', [query], query, () => this.host.reader.intentions().map(intentionReply))
  }

  /** null when no intention has this ID (the HTTP layer answers 404 `Intention not found`). */
  async get (id: string, query: QueryOptions): Promise<QueryResult<IntentionReply | null>> {
    return await this.host.read('intentionGet', [id, query], query, () => {
      const row = this.host.reader.intention(id)
      return row === undefined ? null : intentionReply(row)
    })
  }

  async getExact (source: string, destination: string, query: QueryOptions): Promise<QueryResult<IntentionReply | null>> {
    return await this.host.read('intentionGetExact', [source, destination, query], query, () => {
      const row = this.host.reader.intentionExact(pair(source, destination))
      return row === undefined ? null : intentionReply(row)
    })
  }

  /** Every name becomes a key, with its matches in evaluation order ([] when none). */
  async match (by: IntentionMatchBy, names: readonly string[], query: QueryOptions): Promise<QueryResult<Readonly<Record<string, readonly IntentionReply[]>>>> {
    return await this.host.read('intentionMatch', [by, names, query], query, () => {
      const result: Record<string, readonly IntentionReply[]> = {}
      for (const name of names) {
        result[name] = this.host.reader.intentionMatch({ by, namespace: defaultNamespace, name }).map(intentionReply)
      }
      return result
    })
  }

  async check (source: string, destination: string, query: QueryOptions): Promise<QueryResult<{ readonly Allowed: boolean }>> {
    return await this.host.read('intentionCheck', [source, destination, query], query, () => {
      const candidates = this.host.reader.intentionMatch({ by: 'destination', namespace: defaultNamespace, name: destination }).map(intentionReply)
      return { Allowed: decideIntention(candidates, { source, destination }, this.host.defaults).authorized }
    })
  }

  // Writes ------------------------------------------------------------------------------------

  /** Legacy POST: a new intention for a new pair; the leader assigns its ID. */
  async create (request: IntentionRequest, write: WriteOptions): Promise<{ readonly ID: string }> {
    const fields = validateIntentionRequest(request)
    return await this.host.onLeader('intentionCreate', [request, write], async () => {
      return await this.upsert('create', this.newId(), fields)
    })
  }

  /** Legacy PUT /<id>: replaces every field of the intention with this ID (its pair may change). */
  async update (id: string, request: IntentionRequest, write: WriteOptions): Promise<{ readonly ID: string }> {
    if (!isUuid(id)) throw invalidIntentionId(id)
    const fields = validateIntentionRequest(request)
    return await this.host.onLeader('intentionUpdate', [id, request, write], async () => await this.upsert('update', id, fields))
  }

  /** PUT /exact: creates or replaces the pair's intention; the names come from the query, not the body. */
  async upsertExact (source: string, destination: string, request: IntentionRequest, write: WriteOptions): Promise<{ readonly ID: string }> {
    const fields = validateIntentionRequest({ ...request, SourceNS: defaultNamespace, SourceName: source, DestinationNS: defaultNamespace, DestinationName: destination })
    return await this.host.onLeader('intentionUpsertExact', [source, destination, request, write], async () => {
      return await this.upsert('upsert', this.newId(), fields)
    })
  }

  /** By ID an unknown intention is refused (Consul's 500); by pair deleting nothing succeeds. */
  async delete (selector: IntentionSelector, write: WriteOptions): Promise<boolean> {
    if (selector.By === 'id' && !isUuid(selector.ID)) throw invalidIntentionId(selector.ID)
    return await this.host.onLeader('intentionDelete', [selector, write], async () => {
      const target = selector.By === 'id'
        ? { By: 'id' as const, ID: selector.ID }
        : { By: 'pair' as const, ...pair(selector.Source, selector.Destination) }
      const deleted = await this.host.apply({ type: 'intentionDelete', Target: target })
      if (!deleted && selector.By === 'id') throw new ControlPlaneError('ERR_REJECTED', `Cannot delete non-existent intention: '${selector.ID}'`)
      return true
    })
  }

  private async upsert (mode: 'create' | 'update' | 'upsert', id: string, fields: IntentionFields): Promise<{ readonly ID: string }> {
    const now = formatGoTime(this.nowMs())
    // Permissions are plain JSON once validated (intentions.ts keeps only known fields).
    const intention: IntentionInput = { ...fields, Permissions: fields.Permissions as IntentionInput['Permissions'], ID: id, CreatedAt: now, UpdatedAt: now }
    const outcome = await this.host.apply({ type: 'intentionUpsert', Mode: mode, Intention: intention })
    if (outcome.ok) return { ID: outcome.ID }
    // Duplicate pair (ERR_CONFLICT) and unknown ID (ERR_NOT_FOUND) are Consul's plain 500 refusals.
    const code = outcome.code === 'ERR_CONFLICT' || outcome.code === 'ERR_NOT_FOUND' ? 'ERR_REJECTED' : outcome.code
    throw new ControlPlaneError(code, outcome.message)
  }
}
