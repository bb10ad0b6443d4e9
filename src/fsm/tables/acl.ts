/**
 * ACL tokens and policies (Consul's `acl-tokens` and `acl-policies`). Only the tables for now:
 * resolving a token to its permissions is the ACL system's job, in a later issue.
 *
 * Invariants: SecretIDs are unique across tokens and policy names across policies; a token can
 * only be written while every policy it links exists. Deleting a policy leaves links to it in
 * tokens, as Consul does; readers get links with current names and without deleted policies
 * (`resolveLinks`).
 *
 * Callers: state-store.ts, snapshot.ts.
 */
import type { AclLink, AclPolicyInput, AclPolicyRow, AclTokenInput, AclTokenRow, WriteOutcome, WriteRejected } from '../types.js'
import { compareKeys } from './sorted-keys.js'
import type { TableIndexes } from './table-indexes.js'

export class AclTables {
  private readonly tokens = new Map<string, AclTokenRow>()
  private readonly accessorBySecret = new Map<string, string>()
  private readonly policies = new Map<string, AclPolicyRow>()
  private readonly policyIdByName = new Map<string, string>()

  constructor (private readonly indexes: TableIndexes) {}

  token (accessorId: string): AclTokenRow | undefined {
    const row = this.tokens.get(accessorId)
    return row === undefined ? undefined : this.resolveLinks(row)
  }

  tokenBySecret (secretId: string): AclTokenRow | undefined {
    const accessorId = this.accessorBySecret.get(secretId)
    return accessorId === undefined ? undefined : this.token(accessorId)
  }

  /** Every token sorted by AccessorID; with `policyId`, only tokens linking that policy. */
  listTokens (filter: { policyId?: string } = {}): AclTokenRow[] {
    const rows = this.tokenRows().map(row => this.resolveLinks(row))
    const policyId = filter.policyId
    return policyId === undefined ? rows : rows.filter(row => row.Policies.some(link => link.ID === policyId))
  }

  policy (id: string): AclPolicyRow | undefined {
    return this.policies.get(id)
  }

  policyByName (name: string): AclPolicyRow | undefined {
    const id = this.policyIdByName.get(name)
    return id === undefined ? undefined : this.policies.get(id)
  }

  /** Every policy sorted by ID. */
  listPolicies (): AclPolicyRow[] {
    return [...this.policies.keys()].sort(compareKeys).map(id => this.policies.get(id) as AclPolicyRow)
  }

  setToken (index: number, input: AclTokenInput): WriteOutcome {
    const holder = this.accessorBySecret.get(input.SecretID)
    if (holder !== undefined && holder !== input.AccessorID) return reject('ERR_CONFLICT', 'Invalid Token: SecretID is already in use')
    const links: AclLink[] = []
    for (const id of input.PolicyIDs) {
      const policy = this.policies.get(id)
      if (policy === undefined) return reject('ERR_INVALID_INPUT', `No such policy with ID: ${id}`)
      links.push(Object.freeze({ ID: policy.ID, Name: policy.Name }))
    }
    const existing = this.tokens.get(input.AccessorID)
    if (existing !== undefined) this.accessorBySecret.delete(existing.SecretID)
    this.tokens.set(input.AccessorID, buildToken(index, input, { links, existing }))
    this.accessorBySecret.set(input.SecretID, input.AccessorID)
    this.indexes.bump('acl-tokens', index)
    return { ok: true }
  }

  deleteToken (index: number, accessorId: string): boolean {
    const existing = this.tokens.get(accessorId)
    if (existing === undefined) return false
    this.tokens.delete(accessorId)
    this.accessorBySecret.delete(existing.SecretID)
    this.indexes.bump('acl-tokens', index)
    return true
  }

  setPolicy (index: number, input: AclPolicyInput): WriteOutcome {
    const holder = this.policyIdByName.get(input.Name)
    if (holder !== undefined && holder !== input.ID) return reject('ERR_CONFLICT', `Invalid Policy: A Policy with Name ${JSON.stringify(input.Name)} already exists`)
    const existing = this.policies.get(input.ID)
    if (existing !== undefined) this.policyIdByName.delete(existing.Name)
    this.policies.set(input.ID, Object.freeze({ ...input, CreateIndex: existing?.CreateIndex ?? index, ModifyIndex: index }))
    this.policyIdByName.set(input.Name, input.ID)
    this.indexes.bump('acl-policies', index)
    return { ok: true }
  }

  deletePolicy (index: number, id: string): boolean {
    const existing = this.policies.get(id)
    if (existing === undefined) return false
    this.policies.delete(id)
    this.policyIdByName.delete(existing.Name)
    this.indexes.bump('acl-policies', index)
    return true
  }

  // -------------------------------------------------------------------------------------------
  // Snapshots: stored rows as they are (links unresolved).

  tokenRows (): AclTokenRow[] {
    return [...this.tokens.keys()].sort(compareKeys).map(id => this.tokens.get(id) as AclTokenRow)
  }

  loadToken (row: AclTokenRow): string | undefined {
    if (this.tokens.has(row.AccessorID)) return `ACL token ${JSON.stringify(row.AccessorID)} appears twice`
    if (this.accessorBySecret.has(row.SecretID)) return `ACL token ${JSON.stringify(row.AccessorID)} repeats another token's SecretID`
    this.tokens.set(row.AccessorID, row)
    this.accessorBySecret.set(row.SecretID, row.AccessorID)
    return undefined
  }

  loadPolicy (row: AclPolicyRow): string | undefined {
    if (this.policies.has(row.ID)) return `ACL policy ${JSON.stringify(row.ID)} appears twice`
    if (this.policyIdByName.has(row.Name)) return `ACL policy name ${JSON.stringify(row.Name)} appears twice`
    this.policies.set(row.ID, row)
    this.policyIdByName.set(row.Name, row.ID)
    return undefined
  }

  /** The token with links renamed to their policies' current names and dangling links dropped. */
  private resolveLinks (row: AclTokenRow): AclTokenRow {
    const fresh = row.Policies.flatMap(link => {
      const policy = this.policies.get(link.ID)
      return policy === undefined ? [] : [policy.Name === link.Name ? link : Object.freeze({ ID: link.ID, Name: policy.Name })]
    })
    const unchanged = fresh.length === row.Policies.length && fresh.every((link, position) => link === row.Policies[position])
    return unchanged ? row : Object.freeze({ ...row, Policies: Object.freeze(fresh) })
  }
}

function buildToken (index: number, input: AclTokenInput, context: { links: readonly AclLink[], existing: AclTokenRow | undefined }): AclTokenRow {
  return Object.freeze({
    AccessorID: input.AccessorID,
    SecretID: input.SecretID,
    Description: input.Description,
    Policies: Object.freeze([...context.links]),
    ServiceIdentities: input.ServiceIdentities,
    NodeIdentities: input.NodeIdentities,
    Local: input.Local,
    ExpirationTime: input.ExpirationTime,
    CreateTime: input.CreateTime,
    Hash: input.Hash,
    CreateIndex: context.existing?.CreateIndex ?? index,
    ModifyIndex: index
  })
}

function reject (code: WriteRejected['code'], message: string): WriteRejected {
  return { ok: false, code, message }
}
