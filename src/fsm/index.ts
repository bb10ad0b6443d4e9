/**
 * The FSM's public surface, for the Raft shell, RPC endpoints and the snapshot HTTP handlers.
 *
 * - Fsm: the StateMachine the Raft shell applies entries to; `fsm.reader` is the read view.
 * - encodeCommand / Command / CommandResult: what RPC endpoints propose and what they get back.
 * - StateReader / StoreChange: reads and change notification for blocking queries.
 * - snapshotRecords / SnapshotRestorer / restoreFromRecords: streaming snapshot save and restore.
 */
export { Fsm } from './fsm.js'
export {
  commandFormatVersion, decodeCommand, describeCommand, encodeCommand, kvTxnOpsMax, restoreChunkBytesMax, validateCommand,
  type Command, type CommandOf, type CommandResult, type CommandResults, type CommandType
} from './commands.js'
export type { ChangeListener, IntentionMatchQuery, ServiceSummary, StateReader, StoreChange } from './state-reader.js'
export { StateStore } from './state-store.js'
export {
  restoreFromRecords, restoreStore, snapshotBytes, snapshotFormat, snapshotFormatVersion, snapshotRecords,
  SnapshotRestorer, type RestoredState, type SnapshotOptions
} from './snapshot.js'
export { compareIntentions, intentionPrecedence, intentionWildcard } from './tables/intentions.js'
export { compareKeys } from './tables/sorted-keys.js'
export * from './types.js'
