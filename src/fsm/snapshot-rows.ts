/**
 * Validators for the rows a snapshot carries, one per table. A snapshot may come from a peer
 * (InstallSnapshot), from local storage, or from a user (`PUT /v1/snapshot`), so every row is
 * checked like a command: fresh frozen objects with the known fields, or an ERR_INVALID_INPUT
 * error naming the field.
 *
 * Callers: snapshot.ts.
 */
import {
  validateAclPolicy, validateCaConfig, validateCaProviderState, validateCaRoot, validateCheck, validateIntention,
  validateAclTokenFields, validateMetaEntry, validateNodeIdentity, validateServiceIdentity, validateService
} from './inputs.js'
import {
  expectArray, expectBoolean, expectBytes, expectIndex, expectNonEmptyString, expectRecord, expectString,
  expectStringArray, expectStringMap, invalid, optional, type Raw
} from './shape.js'
import type {
  AclLink, AclPolicyRow, AclTokenRow, CaConfigRow, CaProviderStateRow, CaRootRow, CheckRow, ClusterMetaRow,
  IntentionRow, KvEntry, NodeRow, RowIndexes, ServiceRow
} from './types.js'
import { restoreChunkBytesMax, restoreSessionLengthMax } from './commands.js'
import type { RestoreStagingRow } from './tables/restore-staging.js'

export function validateRowIndexes (raw: Raw, path: string): RowIndexes {
  const create = expectIndex(raw.CreateIndex, `${path}.CreateIndex`)
  const modify = expectIndex(raw.ModifyIndex, `${path}.ModifyIndex`)
  if (create > modify) throw invalid(`${path}.CreateIndex`, `at most ModifyIndex ${modify}`, create)
  return { CreateIndex: create, ModifyIndex: modify }
}

export function validateKvRow (value: unknown, path: string): KvEntry {
  const raw = expectRecord(value, path)
  const base = {
    Key: expectNonEmptyString(raw.Key, `${path}.Key`),
    Value: expectBytes(raw.Value, `${path}.Value`),
    Flags: expectIndex(raw.Flags, `${path}.Flags`),
    LockIndex: expectIndex(raw.LockIndex, `${path}.LockIndex`),
    ...validateRowIndexes(raw, path)
  }
  const session = optional(raw.Session, `${path}.Session`, expectNonEmptyString)
  return Object.freeze(session === undefined ? base : { ...base, Session: session })
}

export function validateNodeRow (value: unknown, path: string): NodeRow {
  const raw = expectRecord(value, path)
  return Object.freeze({
    ID: expectString(raw.ID, `${path}.ID`),
    Node: expectNonEmptyString(raw.Node, `${path}.Node`),
    Address: expectString(raw.Address, `${path}.Address`),
    Datacenter: expectString(raw.Datacenter, `${path}.Datacenter`),
    TaggedAddresses: expectStringMap(raw.TaggedAddresses, `${path}.TaggedAddresses`),
    Meta: expectStringMap(raw.Meta, `${path}.Meta`),
    ...validateRowIndexes(raw, path)
  })
}

export function validateServiceRow (value: unknown, path: string): ServiceRow {
  const raw = expectRecord(value, path)
  return Object.freeze({
    ...validateService(raw, path),
    Node: expectNonEmptyString(raw.Node, `${path}.Node`),
    ...validateRowIndexes(raw, path)
  })
}

export function validateCheckRow (value: unknown, path: string): CheckRow {
  const raw = expectRecord(value, path)
  return Object.freeze({
    ...validateCheck(raw, path),
    Node: expectNonEmptyString(raw.Node, `${path}.Node`),
    ServiceName: expectString(raw.ServiceName, `${path}.ServiceName`),
    ServiceTags: expectStringArray(raw.ServiceTags, `${path}.ServiceTags`),
    ...validateRowIndexes(raw, path)
  })
}

export function validateIntentionRow (value: unknown, path: string): IntentionRow {
  const raw = expectRecord(value, path)
  return Object.freeze({
    ...validateIntention(raw, path),
    Precedence: expectIndex(raw.Precedence, `${path}.Precedence`),
    ...validateRowIndexes(raw, path)
  })
}

export function validateCaConfigRow (value: unknown, path: string): CaConfigRow {
  const raw = expectRecord(value, path)
  return Object.freeze({ ...validateCaConfig(raw, path), ...validateRowIndexes(raw, path) })
}

export function validateCaRootRow (value: unknown, path: string): CaRootRow {
  const raw = expectRecord(value, path)
  return Object.freeze({ ...validateCaRoot(raw, path), ...validateRowIndexes(raw, path) })
}

export function validateCaProviderStateRow (value: unknown, path: string): CaProviderStateRow {
  const raw = expectRecord(value, path)
  return Object.freeze({ ...validateCaProviderState(raw, path), ...validateRowIndexes(raw, path) })
}

function validateLink (value: unknown, path: string): AclLink {
  const raw = expectRecord(value, path)
  return Object.freeze({ ID: expectNonEmptyString(raw.ID, `${path}.ID`), Name: expectString(raw.Name, `${path}.Name`) })
}

export function validateAclTokenRow (value: unknown, path: string): AclTokenRow {
  const raw = expectRecord(value, path)
  return Object.freeze({
    ...validateAclTokenFields(raw, path),
    Policies: expectArray(raw.Policies, `${path}.Policies`, validateLink),
    ...validateRowIndexes(raw, path)
  })
}

export function validateAclPolicyRow (value: unknown, path: string): AclPolicyRow {
  const raw = expectRecord(value, path)
  return Object.freeze({ ...validateAclPolicy(raw, path), ...validateRowIndexes(raw, path) })
}

export function validateClusterMetaRow (value: unknown, path: string): ClusterMetaRow {
  const raw = expectRecord(value, path)
  return Object.freeze({ ...validateMetaEntry(raw, path), ...validateRowIndexes(raw, path) })
}

/** A staged restore chunk; Data is copied (a view would pin the whole snapshot buffer). */
export function validateRestoreStagingRow (value: unknown, path: string): RestoreStagingRow {
  const raw = expectRecord(value, path)
  const session = expectNonEmptyString(raw.Session, `${path}.Session`)
  if (session.length > restoreSessionLengthMax) throw invalid(`${path}.Session`, `at most ${restoreSessionLengthMax} characters`, session)
  const data = expectBytes(raw.Data, `${path}.Data`)
  if (data.byteLength === 0 || data.byteLength > restoreChunkBytesMax) throw invalid(`${path}.Data`, `1..${restoreChunkBytesMax} bytes of binary data`, data)
  return Object.freeze({ Session: session, Seq: expectIndex(raw.Seq, `${path}.Seq`), Data: data })
}
