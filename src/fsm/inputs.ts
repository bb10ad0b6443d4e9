/**
 * Validators for the inputs commands carry (a service, a check, an intention, a CA root...).
 * Each takes decoded, untrusted data and returns a fresh frozen object holding exactly the
 * known fields in a fixed order, or throws an ERR_INVALID_INPUT ControlPlaneError naming the
 * field. They check shape and the invariants the tables rely on (e.g. an L7 intention has no
 * Action); friendlier validation of user input (Consul's messages, limits, defaults) is the
 * API layer's job and happens before a command exists.
 *
 * Callers: commands.ts (every command, on encode and decode), snapshot-rows.ts (row bodies).
 */
import {
  expectArray, expectBoolean, expectBytes, expectIndex, expectInteger, expectNonEmptyString, expectOneOf,
  expectPlainRecord, expectRecord, expectString, expectStringArray, expectStringMap, invalid, type Raw
} from './shape.js'
import {
  checkStatuses,
  type AclNodeIdentity, type AclPolicyInput, type AclServiceIdentity, type AclTokenInput, type CaConfigInput,
  type CaProviderStateInput, type CaRootInput, type CatalogRegistration, type CheckInput, type ClusterMetaEntry,
  type IntentionInput, type IntentionPair, type ServiceAddress, type ServiceInput, type ServiceWeights
} from './types.js'

const portRange = { min: 0, max: 65535 }

export function validateRegistration (value: unknown, path: string): CatalogRegistration {
  const raw = expectRecord(value, path)
  return Object.freeze({
    ID: expectString(raw.ID, `${path}.ID`),
    Node: expectNonEmptyString(raw.Node, `${path}.Node`),
    Address: expectString(raw.Address, `${path}.Address`),
    Datacenter: expectString(raw.Datacenter, `${path}.Datacenter`),
    TaggedAddresses: expectStringMap(raw.TaggedAddresses, `${path}.TaggedAddresses`),
    NodeMeta: expectStringMap(raw.NodeMeta, `${path}.NodeMeta`),
    Service: raw.Service === null ? null : validateService(raw.Service, `${path}.Service`),
    Checks: expectArray(raw.Checks, `${path}.Checks`, validateCheck),
    SkipNodeUpdate: expectBoolean(raw.SkipNodeUpdate, `${path}.SkipNodeUpdate`)
  })
}

export function validateService (value: unknown, path: string): ServiceInput {
  const raw = expectRecord(value, path)
  return Object.freeze({
    ID: expectNonEmptyString(raw.ID, `${path}.ID`),
    Service: expectNonEmptyString(raw.Service, `${path}.Service`),
    Kind: expectString(raw.Kind, `${path}.Kind`),
    Tags: expectStringArray(raw.Tags, `${path}.Tags`),
    Address: expectString(raw.Address, `${path}.Address`),
    TaggedAddresses: validateServiceAddresses(raw.TaggedAddresses, `${path}.TaggedAddresses`),
    Meta: expectStringMap(raw.Meta, `${path}.Meta`),
    Port: expectInteger(raw.Port, `${path}.Port`, portRange),
    SocketPath: expectString(raw.SocketPath, `${path}.SocketPath`),
    Weights: validateWeights(raw.Weights, `${path}.Weights`),
    EnableTagOverride: expectBoolean(raw.EnableTagOverride, `${path}.EnableTagOverride`),
    Proxy: expectPlainRecord(raw.Proxy, `${path}.Proxy`),
    Connect: expectPlainRecord(raw.Connect, `${path}.Connect`)
  })
}

function validateServiceAddresses (value: unknown, path: string): Readonly<Record<string, ServiceAddress>> {
  const raw = expectRecord(value, path)
  const result: Record<string, ServiceAddress> = {}
  for (const key of Object.keys(raw).sort()) {
    if (key === '__proto__') throw invalid(`${path} key`, 'anything but "__proto__"', key)
    const entryPath = `${path}[${JSON.stringify(key)}]`
    const entry = expectRecord(raw[key], entryPath)
    result[key] = Object.freeze({
      Address: expectString(entry.Address, `${entryPath}.Address`),
      Port: expectInteger(entry.Port, `${entryPath}.Port`, portRange)
    })
  }
  return Object.freeze(result)
}

function validateWeights (value: unknown, path: string): ServiceWeights {
  const raw = expectRecord(value, path)
  const range = { min: 0, max: Number.MAX_SAFE_INTEGER }
  return Object.freeze({
    Passing: expectInteger(raw.Passing, `${path}.Passing`, range),
    Warning: expectInteger(raw.Warning, `${path}.Warning`, range)
  })
}

export function validateCheck (value: unknown, path: string): CheckInput {
  const raw = expectRecord(value, path)
  return Object.freeze({
    CheckID: expectNonEmptyString(raw.CheckID, `${path}.CheckID`),
    Name: expectString(raw.Name, `${path}.Name`),
    Status: expectOneOf(raw.Status, `${path}.Status`, checkStatuses),
    Notes: expectString(raw.Notes, `${path}.Notes`),
    Output: expectString(raw.Output, `${path}.Output`),
    ServiceID: expectString(raw.ServiceID, `${path}.ServiceID`),
    Type: expectString(raw.Type, `${path}.Type`),
    Interval: expectString(raw.Interval, `${path}.Interval`),
    Timeout: expectString(raw.Timeout, `${path}.Timeout`),
    ExposedPort: expectInteger(raw.ExposedPort, `${path}.ExposedPort`, portRange),
    Definition: expectPlainRecord(raw.Definition, `${path}.Definition`)
  })
}

export function validatePair (raw: Raw, path: string): IntentionPair {
  return {
    SourceNS: expectNonEmptyString(raw.SourceNS, `${path}.SourceNS`),
    SourceName: expectNonEmptyString(raw.SourceName, `${path}.SourceName`),
    DestinationNS: expectNonEmptyString(raw.DestinationNS, `${path}.DestinationNS`),
    DestinationName: expectNonEmptyString(raw.DestinationName, `${path}.DestinationName`)
  }
}

export function validateIntention (value: unknown, path: string): IntentionInput {
  const raw = expectRecord(value, path)
  const intention: IntentionInput = Object.freeze({
    ID: expectNonEmptyString(raw.ID, `${path}.ID`),
    Description: expectString(raw.Description, `${path}.Description`),
    ...validatePair(raw, path),
    SourceType: expectString(raw.SourceType, `${path}.SourceType`),
    Action: expectOneOf(raw.Action, `${path}.Action`, ['allow', 'deny', ''] as const),
    Permissions: expectArray(raw.Permissions, `${path}.Permissions`, expectPlainRecord),
    Meta: expectStringMap(raw.Meta, `${path}.Meta`),
    CreatedAt: expectString(raw.CreatedAt, `${path}.CreatedAt`),
    UpdatedAt: expectString(raw.UpdatedAt, `${path}.UpdatedAt`)
  })
  if ((intention.Action === '') !== (intention.Permissions.length > 0)) {
    throw invalid(`${path}.Action`, '"allow" or "deny" without Permissions, or "" with Permissions', intention.Action)
  }
  return intention
}

export function validateCaConfig (value: unknown, path: string): CaConfigInput {
  const raw = expectRecord(value, path)
  return Object.freeze({
    ClusterID: expectString(raw.ClusterID, `${path}.ClusterID`),
    Provider: expectNonEmptyString(raw.Provider, `${path}.Provider`),
    Config: expectPlainRecord(raw.Config, `${path}.Config`),
    State: expectStringMap(raw.State, `${path}.State`),
    ForceWithoutCrossSigning: expectBoolean(raw.ForceWithoutCrossSigning, `${path}.ForceWithoutCrossSigning`)
  })
}

export function validateCaRoot (value: unknown, path: string): CaRootInput {
  const raw = expectRecord(value, path)
  return Object.freeze({
    ID: expectNonEmptyString(raw.ID, `${path}.ID`),
    Name: expectString(raw.Name, `${path}.Name`),
    SerialNumber: expectIndex(raw.SerialNumber, `${path}.SerialNumber`),
    SigningKeyID: expectString(raw.SigningKeyID, `${path}.SigningKeyID`),
    ExternalTrustDomain: expectString(raw.ExternalTrustDomain, `${path}.ExternalTrustDomain`),
    NotBefore: expectString(raw.NotBefore, `${path}.NotBefore`),
    NotAfter: expectString(raw.NotAfter, `${path}.NotAfter`),
    RootCert: expectNonEmptyString(raw.RootCert, `${path}.RootCert`),
    IntermediateCerts: expectStringArray(raw.IntermediateCerts, `${path}.IntermediateCerts`),
    SigningCert: expectString(raw.SigningCert, `${path}.SigningCert`),
    Active: expectBoolean(raw.Active, `${path}.Active`),
    PrivateKeyType: expectString(raw.PrivateKeyType, `${path}.PrivateKeyType`),
    PrivateKeyBits: expectIndex(raw.PrivateKeyBits, `${path}.PrivateKeyBits`),
    RotatedOutAt: expectString(raw.RotatedOutAt, `${path}.RotatedOutAt`)
  })
}

/** A root set as caSetRoots stores it: at least one root, unique IDs, exactly one active. */
export function validateCaRootSet (value: unknown, path: string): readonly CaRootInput[] {
  const roots = expectArray(value, path, validateCaRoot)
  const ids = new Set(roots.map(root => root.ID))
  if (ids.size !== roots.length) throw invalid(path, 'roots with distinct IDs', value)
  const activeCount = roots.filter(root => root.Active).length
  if (activeCount !== 1) throw invalid(path, 'a root set with exactly one active root', `${activeCount} active roots`)
  return roots
}

export function validateCaProviderState (value: unknown, path: string): CaProviderStateInput {
  const raw = expectRecord(value, path)
  return Object.freeze({
    ID: expectNonEmptyString(raw.ID, `${path}.ID`),
    PrivateKey: expectString(raw.PrivateKey, `${path}.PrivateKey`),
    RootCert: expectString(raw.RootCert, `${path}.RootCert`),
    IntermediateCert: expectString(raw.IntermediateCert, `${path}.IntermediateCert`)
  })
}

export function validateServiceIdentity (value: unknown, path: string): AclServiceIdentity {
  const raw = expectRecord(value, path)
  return Object.freeze({
    ServiceName: expectNonEmptyString(raw.ServiceName, `${path}.ServiceName`),
    Datacenters: expectStringArray(raw.Datacenters, `${path}.Datacenters`)
  })
}

export function validateNodeIdentity (value: unknown, path: string): AclNodeIdentity {
  const raw = expectRecord(value, path)
  return Object.freeze({
    NodeName: expectNonEmptyString(raw.NodeName, `${path}.NodeName`),
    Datacenter: expectString(raw.Datacenter, `${path}.Datacenter`)
  })
}

/** The fields a token command and a stored token row share (they differ only in how policies are named). */
export function validateAclTokenFields (raw: Readonly<Record<string, unknown>>, path: string): Omit<AclTokenInput, 'PolicyIDs'> {
  return {
    AccessorID: expectNonEmptyString(raw.AccessorID, `${path}.AccessorID`),
    SecretID: expectNonEmptyString(raw.SecretID, `${path}.SecretID`),
    Description: expectString(raw.Description, `${path}.Description`),
    ServiceIdentities: expectArray(raw.ServiceIdentities, `${path}.ServiceIdentities`, validateServiceIdentity),
    NodeIdentities: expectArray(raw.NodeIdentities, `${path}.NodeIdentities`, validateNodeIdentity),
    Local: expectBoolean(raw.Local, `${path}.Local`),
    ExpirationTime: expectString(raw.ExpirationTime, `${path}.ExpirationTime`),
    CreateTime: expectString(raw.CreateTime, `${path}.CreateTime`),
    Hash: expectBytes(raw.Hash, `${path}.Hash`)
  }
}

export function validateAclToken (value: unknown, path: string): AclTokenInput {
  const raw = expectRecord(value, path)
  return Object.freeze({
    ...validateAclTokenFields(raw, path),
    PolicyIDs: expectArray(raw.PolicyIDs, `${path}.PolicyIDs`, expectNonEmptyString)
  })
}

export function validateAclPolicy (value: unknown, path: string): AclPolicyInput {
  const raw = expectRecord(value, path)
  return Object.freeze({
    ID: expectNonEmptyString(raw.ID, `${path}.ID`),
    Name: expectNonEmptyString(raw.Name, `${path}.Name`),
    Description: expectString(raw.Description, `${path}.Description`),
    Rules: expectString(raw.Rules, `${path}.Rules`),
    Datacenters: expectStringArray(raw.Datacenters, `${path}.Datacenters`),
    Hash: expectBytes(raw.Hash, `${path}.Hash`)
  })
}

export function validateMetaEntry (value: unknown, path: string): ClusterMetaEntry {
  const raw = expectRecord(value, path)
  return Object.freeze({
    Key: expectNonEmptyString(raw.Key, `${path}.Key`),
    Value: expectString(raw.Value, `${path}.Value`)
  })
}
