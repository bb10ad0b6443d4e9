/**
 * Every command except `agent` (dispatched before commander, see cli.ts), in help order.
 * Groups (`kv`, `operator raft`, `snapshot`) are derived from the paths.
 */
import type { Command } from '../command.js'
import { caGetConfigCommand } from './connect-ca-get-config.js'
import { caSetConfigCommand } from './connect-ca-set-config.js'
import { connectProxyCommand } from './connect-proxy.js' // Connect proxy (#6)
import { intentionCheckCommand } from './intention-check.js' // Intentions (#4)
import { intentionCreateCommand } from './intention-create.js' // Intentions (#4)
import { intentionDeleteCommand } from './intention-delete.js' // Intentions (#4)
import { intentionGetCommand } from './intention-get.js' // Intentions (#4)
import { intentionListCommand } from './intention-list.js' // Intentions (#4)
import { intentionMatchCommand } from './intention-match.js' // Intentions (#4)
import { joinCommand } from './join.js'
// Keyring (#5)
import { keygenCommand } from './keygen.js'
import { keyringCommand } from './keyring.js'
import { kvDeleteCommand } from './kv-delete.js'
import { kvGetCommand } from './kv-get.js'
import { kvPutCommand } from './kv-put.js'
import { leaveCommand } from './leave.js'
import { membersCommand } from './members.js'
import { listPeersCommand } from './operator-raft-list-peers.js'
import { removePeerCommand } from './operator-raft-remove-peer.js'
import { transferLeaderCommand } from './operator-raft-transfer-leader.js'
import { reloadCommand } from './reload.js' // Agent services (#5/#6)
import { servicesDeregisterCommand } from './services-deregister.js' // Agent services (#5/#6)
import { servicesRegisterCommand } from './services-register.js' // Agent services (#5/#6)
import { snapshotRestoreCommand } from './snapshot-restore.js'
import { snapshotSaveCommand } from './snapshot-save.js'
import { versionCommand } from './version.js'

export const commands: readonly Command[] = [
  caGetConfigCommand,
  caSetConfigCommand,
  connectProxyCommand, // Connect proxy (#6)
  // Intentions (#4)
  intentionCheckCommand,
  intentionCreateCommand,
  intentionDeleteCommand,
  intentionGetCommand,
  intentionListCommand,
  intentionMatchCommand,
  joinCommand,
  // Keyring (#5)
  keygenCommand,
  keyringCommand,
  kvDeleteCommand,
  kvGetCommand,
  kvPutCommand,
  leaveCommand,
  membersCommand,
  listPeersCommand,
  removePeerCommand,
  transferLeaderCommand,
  reloadCommand, // Agent services (#5/#6)
  servicesDeregisterCommand, // Agent services (#5/#6)
  servicesRegisterCommand, // Agent services (#5/#6)
  snapshotRestoreCommand,
  snapshotSaveCommand,
  versionCommand
]

/** One-line descriptions of the command groups, for `weft -h` and `weft kv -h`. */
export const groupSummaries: Readonly<Record<string, string>> = {
  connect: 'Interact with Connect, the service mesh',
  'connect ca': 'Interact with the Connect Certificate Authority (CA)',
  intention: 'Interact with Connect service intentions', // Intentions (#4)
  kv: 'Interact with the key-value store',
  operator: 'Provides cluster-level tools for weft operators',
  'operator raft': 'Inspects and changes the Raft peer set of the weft servers',
  services: 'Interact with services', // Agent services (#5/#6)
  snapshot: 'Saves and restores snapshots of weft server state'
}
