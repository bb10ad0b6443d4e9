/**
 * Test helpers for the FSM: input builders with Consul-like defaults, an Fsm wrapper that
 * numbers entries itself, and a seeded generator of random commands over small name spaces (so
 * that random sequences collide: the same keys, nodes and intentions are written, deleted and
 * written again).
 */
import type { Entry } from '../../../src/raft/core/types.js'
import { encodeCommand, type Command, type CommandResult, type CommandType } from '../../../src/fsm/commands.js'
import { Fsm } from '../../../src/fsm/fsm.js'
import type {
  AclPolicyInput, AclTokenInput, CaConfigInput, CaRootInput, CatalogRegistration, CheckInput, IntentionInput,
  KvTxnOp, ServiceInput
} from '../../../src/fsm/types.js'
import { tableNames } from '../../../src/fsm/types.js'
import { SeededPrng, type Prng } from '../../../src/util/prng.js'

export const bytes = (text: string): Uint8Array => new TextEncoder().encode(text)
export const text = (data: Uint8Array | null | undefined): string | undefined => data == null ? undefined : new TextDecoder().decode(data)

export function commandEntry (index: number, command: Command, term = 1): Entry {
  return { index, term, type: 'command', data: encodeCommand(command) }
}

/** An Fsm fed through encoded entries, with the Raft index counted for the caller. */
export class FsmHarness {
  readonly fsm = new Fsm()
  index = 0

  apply<T extends CommandType> (command: Extract<Command, { type: T }>): CommandResult<T> {
    this.index += 1
    return this.fsm.apply(commandEntry(this.index, command)) as CommandResult<T>
  }

  /** Skips Raft indexes (entries that are not commands, e.g. noops and config changes). */
  skip (count: number): void {
    this.index += count
  }

  get reader (): Fsm['reader'] {
    return this.fsm.reader
  }
}

export function service (overrides: Partial<ServiceInput> = {}): ServiceInput {
  return {
    ID: overrides.Service ?? 'web',
    Service: 'web',
    Kind: '',
    Tags: [],
    Address: '',
    TaggedAddresses: {},
    Meta: {},
    Port: 8080,
    SocketPath: '',
    Weights: { Passing: 1, Warning: 1 },
    EnableTagOverride: false,
    Proxy: {},
    Connect: {},
    ...overrides
  }
}

export function check (overrides: Partial<CheckInput> = {}): CheckInput {
  return {
    CheckID: 'check',
    Name: 'check',
    Status: 'passing',
    Notes: '',
    Output: '',
    ServiceID: '',
    Type: 'tcp',
    Interval: '10s',
    Timeout: '2s',
    ExposedPort: 0,
    Definition: {},
    ...overrides
  }
}

export function registration (overrides: Partial<CatalogRegistration> = {}): CatalogRegistration {
  return {
    ID: '',
    Node: 'alpha',
    Address: '10.0.0.1',
    Datacenter: 'dc1',
    TaggedAddresses: {},
    NodeMeta: {},
    Service: null,
    Checks: [],
    SkipNodeUpdate: false,
    ...overrides
  }
}

export function intention (overrides: Partial<IntentionInput> = {}): IntentionInput {
  return {
    ID: 'id-1',
    Description: '',
    SourceNS: 'default',
    SourceName: 'web',
    DestinationNS: 'default',
    DestinationName: 'db',
    SourceType: 'consul',
    Action: 'allow',
    Permissions: [],
    Meta: {},
    CreatedAt: '2024-05-01T10:00:00Z',
    UpdatedAt: '2024-05-01T10:00:00Z',
    ...overrides
  }
}

export function caConfig (overrides: Partial<CaConfigInput> = {}): CaConfigInput {
  return {
    ClusterID: 'd2b5f1c0-8a4e-4b2f-9c61-0e7d3a5b9f42',
    Provider: 'consul',
    Config: { LeafCertTTL: '72h', IntermediateCertTTL: '8760h', RootCertTTL: '87600h' },
    State: {},
    ForceWithoutCrossSigning: false,
    ...overrides
  }
}

export function caRoot (overrides: Partial<CaRootInput> = {}): CaRootInput {
  return {
    ID: 'aa:bb',
    Name: 'Consul CA Primary Cert',
    SerialNumber: 1,
    SigningKeyID: '5a:0d',
    ExternalTrustDomain: 'd2b5f1c0',
    NotBefore: '2024-05-01T10:00:00Z',
    NotAfter: '2034-04-29T10:00:00Z',
    RootCert: '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n',
    IntermediateCerts: [],
    SigningCert: '',
    Active: true,
    PrivateKeyType: 'ec',
    PrivateKeyBits: 256,
    RotatedOutAt: '',
    ...overrides
  }
}

export function aclPolicy (overrides: Partial<AclPolicyInput> = {}): AclPolicyInput {
  return { ID: 'policy-1', Name: 'read-all', Description: '', Rules: 'node_prefix "" { policy = "read" }', Datacenters: [], Hash: bytes('h'), ...overrides }
}

export function aclToken (overrides: Partial<AclTokenInput> = {}): AclTokenInput {
  return {
    AccessorID: 'accessor-1',
    SecretID: 'secret-1',
    Description: '',
    PolicyIDs: [],
    ServiceIdentities: [],
    NodeIdentities: [],
    Local: false,
    ExpirationTime: '',
    CreateTime: '2024-05-01T10:10:00Z',
    Hash: bytes('h'),
    ...overrides
  }
}

// ---------------------------------------------------------------------------------------------
// Random commands

function pick<T> (prng: Prng, items: readonly T[]): T {
  return items[prng.nextInt(items.length)] as T
}

const kvKeys = ['a', 'a/b', 'a/b/c', 'a/c', 'b', 'b/x/y', 'c/', 'é/ü', '😀/k', '\uffff/z']
const nodeNames = ['alpha', 'beta', 'Gamma', 'ALPHA']
const serviceNames = ['web', 'db', 'api']
const intentionNames = ['web', 'db', 'api', '*']

export function randomKvTxnOp (prng: Prng, maxIndex: number): KvTxnOp {
  const key = pick(prng, kvKeys)
  const index = prng.nextInt(maxIndex + 2)
  switch (prng.nextInt(10)) {
    case 0: return { Verb: 'set', Key: key, Value: bytes(`v${prng.nextInt(100)}`), Flags: prng.nextInt(3) }
    case 1: return { Verb: 'cas', Key: key, Value: bytes(`c${prng.nextInt(100)}`), Flags: 0, Index: index }
    case 2: return { Verb: 'get', Key: key }
    case 3: return { Verb: 'get-or-empty', Key: key }
    case 4: return { Verb: 'get-tree', Key: pick(prng, ['', 'a', 'a/', 'b']) }
    case 5: return { Verb: 'check-index', Key: key, Index: index }
    case 6: return { Verb: 'check-not-exists', Key: key }
    case 7: return { Verb: 'delete', Key: key }
    case 8: return { Verb: 'delete-tree', Key: pick(prng, ['a/', 'b', 'zzz']) }
    default: return { Verb: 'delete-cas', Key: key, Index: index }
  }
}

function randomRegistration (prng: Prng): CatalogRegistration {
  const serviceName = pick(prng, serviceNames)
  const serviceId = `${serviceName}-${prng.nextInt(2)}`
  const withService = prng.nextInt(3) > 0
  const proxy = prng.nextInt(4) === 0
  const svc = service({
    ID: proxy ? `${serviceId}-proxy` : serviceId,
    Service: proxy ? `${serviceName}-sidecar-proxy` : serviceName,
    Kind: proxy ? 'connect-proxy' : '',
    Tags: prng.nextInt(2) === 0 ? [] : [`t${prng.nextInt(3)}`],
    Port: 8000 + prng.nextInt(3),
    Meta: { z: 'last', a: `${prng.nextInt(2)}` },
    Proxy: proxy ? { DestinationServiceName: serviceName, Config: { b: 1, a: [true, null] } } : {},
    Connect: prng.nextInt(5) === 0 ? { Native: true } : {}
  })
  const checks: CheckInput[] = []
  if (prng.nextInt(2) === 0) checks.push(check({ CheckID: 'serfHealth', Status: pick(prng, ['passing', 'critical'] as const) }))
  if (withService && prng.nextInt(2) === 0) checks.push(check({ CheckID: `service:${svc.ID}`, ServiceID: svc.ID, Status: pick(prng, ['passing', 'warning', 'critical'] as const) }))
  return registration({
    Node: pick(prng, nodeNames),
    Address: `10.0.0.${prng.nextInt(3)}`,
    NodeMeta: prng.nextInt(2) === 0 ? {} : { rack: `r${prng.nextInt(2)}` },
    Service: withService ? svc : null,
    Checks: checks,
    SkipNodeUpdate: prng.nextInt(4) === 0
  })
}

function randomIntention (prng: Prng): IntentionInput {
  const permissions = prng.nextInt(5) === 0
  return intention({
    ID: `ixn-${prng.nextInt(6)}`,
    SourceName: pick(prng, intentionNames),
    DestinationName: pick(prng, intentionNames),
    Action: permissions ? '' : pick(prng, ['allow', 'deny'] as const),
    Permissions: permissions ? [{ Action: 'allow', HTTP: { PathPrefix: '/v1' } }] : [],
    Meta: prng.nextInt(2) === 0 ? {} : { owner: 'team' },
    UpdatedAt: `2024-05-01T10:00:0${prng.nextInt(10)}Z`
  })
}

/** One random command; `maxIndex` bounds the CAS indexes it guesses. */
export function randomCommand (prng: Prng, maxIndex: number): Command {
  const casIndex = (): number | undefined => prng.nextInt(3) === 0 ? undefined : prng.nextInt(maxIndex + 2)
  switch (prng.nextInt(20)) {
    case 0: case 1: case 2: {
      const cas = casIndex()
      const base = { type: 'kvSet' as const, Key: pick(prng, kvKeys), Value: bytes(`v${prng.nextInt(1000)}`), Flags: prng.nextInt(4) }
      return cas === undefined || prng.nextInt(2) === 0 ? base : { ...base, Cas: cas }
    }
    case 3: {
      const recurse = prng.nextInt(3) === 0
      const cas = recurse ? undefined : casIndex()
      const base = { type: 'kvDelete' as const, Key: recurse ? pick(prng, ['', 'a/', 'b']) : pick(prng, kvKeys), Recurse: recurse }
      return cas === undefined ? base : { ...base, Cas: cas }
    }
    case 4: return { type: 'kvTxn', Ops: Array.from({ length: 1 + prng.nextInt(4) }, () => randomKvTxnOp(prng, maxIndex)) }
    case 5: case 6: case 7: return { type: 'catalogRegister', Registration: randomRegistration(prng) }
    case 8: return randomDeregistration(prng)
    case 9: return { type: 'intentionUpsert', Mode: pick(prng, ['create', 'update', 'upsert'] as const), Intention: randomIntention(prng) }
    case 10: return prng.nextInt(2) === 0
      ? { type: 'intentionDelete', Target: { By: 'id', ID: `ixn-${prng.nextInt(6)}` } }
      : { type: 'intentionDelete', Target: { By: 'pair', SourceNS: 'default', SourceName: pick(prng, intentionNames), DestinationNS: 'default', DestinationName: pick(prng, intentionNames) } }
    case 11: {
      const cas = casIndex()
      const base = { type: 'caSetConfig' as const, Config: caConfig({ Config: { LeafCertTTL: `${prng.nextInt(100)}h` } }) }
      return cas === undefined ? base : { ...base, Cas: cas }
    }
    case 12: return randomRoots(prng, casIndex())
    case 13: return { type: 'caSetProviderState', State: { ID: `provider-${prng.nextInt(2)}`, PrivateKey: `key-${prng.nextInt(100)}`, RootCert: 'pem', IntermediateCert: '' } }
    case 14: return prng.nextInt(2) === 0 ? { type: 'caIncrementSerial' } : { type: 'caDeleteProviderState', ID: `provider-${prng.nextInt(2)}` }
    case 15: return { type: 'aclPolicySet', Policy: aclPolicy({ ID: `policy-${prng.nextInt(3)}`, Name: `name-${prng.nextInt(3)}` }) }
    case 16: return { type: 'aclTokenSet', Token: aclToken({ AccessorID: `accessor-${prng.nextInt(3)}`, SecretID: `secret-${prng.nextInt(4)}`, PolicyIDs: prng.nextInt(2) === 0 ? [] : [`policy-${prng.nextInt(3)}`] }) }
    case 17: return prng.nextInt(2) === 0
      ? { type: 'aclTokenDelete', AccessorID: `accessor-${prng.nextInt(3)}` }
      : { type: 'aclPolicyDelete', ID: `policy-${prng.nextInt(3)}` }
    case 18: return { type: 'setClusterMeta', Entries: [{ Key: pick(prng, ['cluster-id', 'other']), Value: `v${prng.nextInt(5)}` }], IfAbsent: prng.nextInt(2) === 0 }
    default: return { type: 'noop' }
  }
}

function randomDeregistration (prng: Prng): Command {
  const node = pick(prng, nodeNames)
  const serviceId = `${pick(prng, serviceNames)}-${prng.nextInt(2)}`
  switch (prng.nextInt(3)) {
    case 0: return { type: 'catalogDeregister', Deregistration: { Node: node, Target: 'node' } }
    case 1: return { type: 'catalogDeregister', Deregistration: { Node: node, Target: 'service', ServiceID: serviceId } }
    default: return { type: 'catalogDeregister', Deregistration: { Node: node, Target: 'check', CheckID: pick(prng, ['serfHealth', `service:${serviceId}`]) } }
  }
}

function randomRoots (prng: Prng, cas: number | undefined): Command {
  const count = 1 + prng.nextInt(2)
  const active = prng.nextInt(count)
  const roots = Array.from({ length: count }, (_, position) => caRoot({ ID: `root-${prng.nextInt(3)}-${position}`, Active: position === active, SerialNumber: prng.nextInt(50) }))
  const base = { type: 'caSetRoots' as const, Roots: roots }
  const withCas = cas === undefined ? base : { ...base, Cas: cas }
  return prng.nextInt(2) === 0 ? withCas : { ...withCas, Config: caConfig() }
}

/** Everything a reader can see, as plain data, for comparing two stores. */
export function readerView (reader: Fsm['reader']): unknown {
  const names = ['web', 'db', 'api', 'web-sidecar-proxy', 'unknown']
  return {
    appliedIndex: reader.appliedIndex(),
    tableIndexes: tableNames.map(table => [table, reader.tableIndex(table)]),
    kv: reader.kvList(''),
    keys: reader.kvKeys('', '/'),
    nodes: reader.catalogNodes().map(node => ({ node, services: reader.catalogNodeServices(node.Node), checks: reader.catalogNodeChecks(node.Node) })),
    summaries: reader.catalogServiceSummaries(),
    services: names.map(name => ({
      name,
      index: reader.serviceIndex(name),
      health: reader.healthService(name, { connect: false }),
      connect: reader.healthService(name, { connect: true })
    })),
    checks: reader.healthChecksInState('any'),
    intentions: reader.intentions(),
    matches: ['web', 'db', '*'].map(name => reader.intentionMatch({ by: 'destination', namespace: 'default', name })),
    ca: { config: reader.caConfig(), roots: reader.caRoots(), serial: reader.caLastSerial(), providers: ['provider-0', 'provider-1'].map(id => reader.caProviderState(id)) },
    acl: { tokens: reader.aclTokens(), policies: reader.aclPolicies() },
    meta: reader.clusterMetaList()
  }
}

/** Applies `count` random commands from `seed` (indexes with occasional gaps). */
export function applyRandomCommands (harness: FsmHarness, options: { seed: number, count: number }): void {
  const prng = new SeededPrng(options.seed)
  for (let step = 0; step < options.count; step += 1) {
    if (prng.nextInt(10) === 0) harness.skip(1 + prng.nextInt(3))
    harness.apply(randomCommand(prng, harness.index))
  }
}
