/**
 * The finite state machine the Raft shell applies committed entries to: decode the command,
 * call exactly one state-store write method with the entry's index, return its result.
 *
 * Purity: no clocks, randomness or I/O; the same entries in the same order give the same state
 * and the same snapshot bytes on every replica.
 *
 * Failure policy (as in Consul's FSM): an entry that cannot be decoded, or a snapshot that
 * cannot be restored, throws an AssertionError. Skipping it would let this replica diverge
 * from the others; stopping lets an operator look. A write the state refuses (CAS mismatch,
 * duplicate intention) is a normal result, not an error.
 *
 * Callers: src/raft/node.ts (apply/snapshot/restore through StateMachine), the simulator and
 * tests (applyCommand), RPC code (reader, to read state and watch for changes).
 */
import type { Entry } from '../raft/core/types.js'
import type { StateMachine } from '../raft/node.js'
import { AssertionError, assert, assertNever, assertSafeIndex } from '../util/assert.js'
import { decodeCommand, validateCommand, type Command, type CommandResult, type CommandType } from './commands.js'
import { restoreStore, snapshotBytes, type RestoreOptions, type SnapshotOptions } from './snapshot.js'
import type { StateReader } from './state-reader.js'
import { StateStore } from './state-store.js'

export class Fsm implements StateMachine {
  private readonly store = new StateStore()

  /** The read-only view for RPC endpoints and blocking queries. */
  get reader (): StateReader {
    return this.store
  }

  /** The underlying store (snapshot streaming needs it; never write through it). */
  get stateStore (): StateStore {
    return this.store
  }

  apply (entry: Entry): unknown {
    assert(entry.type === 'command', `the FSM only applies command entries, got a ${entry.type} entry at index ${entry.index}`)
    assertSafeIndex(entry.index, 'entry index')
    let command: Command
    try {
      command = decodeCommand(entry.data)
    } catch (err) {
      throw new AssertionError(`committed entry ${entry.index} (term ${entry.term}) is not a valid command: ${(err as Error).message}`, { cause: err })
    }
    return this.dispatch(entry.index, command)
  }

  /**
   * Applies a command without going through bytes (the simulator and tests). The command is
   * validated as decode would, so both paths store the same canonical rows.
   */
  applyCommand<T extends CommandType> (index: number, command: Extract<Command, { type: T }>): CommandResult<T> {
    return this.dispatch(index, validateCommand(command)) as CommandResult<T>
  }

  /** Raft's snapshot by default; `{ restoreStaging: false }` for a user's (GET /v1/snapshot). */
  snapshot (options: SnapshotOptions = {}): Uint8Array {
    return snapshotBytes(this.store, options)
  }

  /** `options.stampIndex`: a user's snapshot applied as the log entry at that index (see RestoreOptions). */
  restore (data: Uint8Array, options: RestoreOptions = {}): void {
    try {
      restoreStore(this.store, [data], options)
    } catch (err) {
      throw new AssertionError(`cannot restore the state machine from a ${data.length}-byte snapshot: ${(err as Error).message}`, { cause: err })
    }
  }

  private dispatch (index: number, command: Command): unknown {
    const store = this.store
    switch (command.type) {
      case 'noop':
        store.noop(index)
        return null
      case 'kvSet': return store.kvSet(index, command, command.Cas)
      case 'kvDelete': return store.kvDelete(index, command.Key, { recurse: command.Recurse, cas: command.Cas })
      case 'kvTxn': return store.kvTxn(index, command.Ops)
      case 'catalogRegister': return store.catalogRegister(index, command.Registration)
      case 'catalogDeregister': return store.catalogDeregister(index, command.Deregistration)
      case 'intentionUpsert': return store.intentionUpsert(index, command.Mode, command.Intention)
      case 'intentionDelete': return store.intentionDelete(index, command.Target)
      case 'caSetConfig': return store.caSetConfig(index, command.Config, command.Cas)
      case 'caSetRoots': return store.caSetRoots(index, command.Roots, { cas: command.Cas, config: command.Config })
      case 'caSetProviderState':
        store.caSetProviderState(index, command.State)
        return null
      case 'caDeleteProviderState': return store.caDeleteProviderState(index, command.ID)
      case 'caIncrementSerial': return store.caIncrementSerial(index, command.Count ?? 1)
      case 'aclTokenSet': return store.aclTokenSet(index, command.Token)
      case 'aclTokenDelete': return store.aclTokenDelete(index, command.AccessorID)
      case 'aclPolicySet': return store.aclPolicySet(index, command.Policy)
      case 'aclPolicyDelete': return store.aclPolicyDelete(index, command.ID)
      case 'setClusterMeta': return store.clusterMetaSet(index, command.Entries, { ifAbsent: command.IfAbsent })
      case 'restoreChunk': return store.restoreChunk(index, { session: command.Session, seq: command.Seq, data: command.Data })
      case 'restoreFinish': return store.restoreFinish(index, command)
      case 'restoreAbort': return store.restoreAbort(index, command.Session)
      default: return assertNever(command, 'command type')
    }
  }
}
