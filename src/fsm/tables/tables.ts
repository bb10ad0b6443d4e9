/**
 * One complete set of tables sharing one TableIndexes. The state store owns one set; restoring
 * a snapshot builds a fresh set and swaps it in whole.
 *
 * Callers: state-store.ts, snapshot.ts.
 */
import { AclTables } from './acl.js'
import { CatalogTables } from './catalog.js'
import { ClusterMetaTable } from './cluster-meta.js'
import { ConnectCaTables } from './connect-ca.js'
import { IntentionTable } from './intentions.js'
import { KvTable } from './kv.js'
import { RestoreStaging } from './restore-staging.js'
import { TableIndexes } from './table-indexes.js'

export class Tables {
  readonly indexes = new TableIndexes()
  readonly meta = new ClusterMetaTable(this.indexes)
  readonly catalog = new CatalogTables(this.indexes)
  readonly kv = new KvTable(this.indexes)
  readonly intentions = new IntentionTable(this.indexes)
  readonly ca = new ConnectCaTables(this.indexes)
  readonly acl = new AclTables(this.indexes)
  /** A PUT /v1/snapshot upload in progress; has no table index (nothing reads it). */
  readonly restoreStaging = new RestoreStaging()
}
