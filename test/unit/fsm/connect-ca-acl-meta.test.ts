/**
 * Connect CA (config, roots, provider state, serial counter), ACL tokens and policies, and
 * cluster metadata through the FSM, including their compare-and-set rules.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { aclPolicy, aclToken, caConfig, caRoot, FsmHarness } from './helpers.js'

test('CA config: cas 0 only creates; cas N only replaces ModifyIndex N; CreateIndex stays', () => {
  const harness = new FsmHarness()
  assert.equal(harness.apply({ type: 'caSetConfig', Config: caConfig(), Cas: 0 }), true)
  assert.equal(harness.apply({ type: 'caSetConfig', Config: caConfig({ Provider: 'other' }), Cas: 0 }), false)
  assert.equal(harness.apply({ type: 'caSetConfig', Config: caConfig({ Config: { LeafCertTTL: '24h' } }), Cas: 1 }), true)
  const config = harness.reader.caConfig()
  assert.deepEqual(config?.Config, { LeafCertTTL: '24h' })
  assert.deepEqual([config?.CreateIndex, config?.ModifyIndex], [1, 3])
  assert.equal(harness.apply({ type: 'caSetConfig', Config: caConfig() }), true, 'no cas: unconditional')
  assert.equal(harness.reader.tableIndex('connect-ca-config'), 4)
})

test('CA roots: CAS on the roots table index, rotation with config in one apply', () => {
  const harness = new FsmHarness()
  assert.equal(harness.apply({ type: 'caSetRoots', Roots: [caRoot({ ID: 'r1' })], Cas: 0, Config: caConfig() }), true)
  let roots = harness.reader.caRoots()
  assert.equal(roots.ActiveRootID, 'r1')
  assert.equal(harness.reader.caConfig()?.ModifyIndex, 1)
  assert.equal(harness.apply({ type: 'caSetRoots', Roots: [caRoot({ ID: 'r9' })], Cas: 0 }), false, 'a racing bootstrap loses')
  const rotated = [caRoot({ ID: 'r2', IntermediateCerts: ['cross-signed'] }), caRoot({ ID: 'r1', Active: false, RotatedOutAt: '2024-06-01T00:00:00Z' })]
  assert.equal(harness.apply({ type: 'caSetRoots', Roots: rotated, Cas: 1, Config: caConfig({ Config: { PrivateKeyType: 'rsa' } }) }), true)
  roots = harness.reader.caRoots()
  assert.equal(roots.ActiveRootID, 'r2')
  assert.deepEqual(roots.Roots.map(root => [root.ID, root.Active, root.CreateIndex, root.ModifyIndex]), [['r1', false, 1, 3], ['r2', true, 3, 3]])
  assert.equal(harness.reader.caActiveRoot()?.IntermediateCerts[0], 'cross-signed')
  assert.equal(harness.reader.caConfig()?.ModifyIndex, 3)
  assert.equal(harness.reader.tableIndex('connect-ca-roots'), 3)
})

test('CA roots must have exactly one active root (rejected before it reaches the log)', () => {
  const harness = new FsmHarness()
  assert.throws(() => harness.apply({ type: 'caSetRoots', Roots: [caRoot({ ID: 'a', Active: false })] }), { code: 'ERR_INVALID_INPUT' })
  assert.throws(() => harness.apply({ type: 'caSetRoots', Roots: [caRoot({ ID: 'a' }), caRoot({ ID: 'b' })] }), { code: 'ERR_INVALID_INPUT' })
  assert.throws(() => harness.apply({ type: 'caSetRoots', Roots: [caRoot({ ID: 'a' }), caRoot({ ID: 'a', Active: false })] }), { code: 'ERR_INVALID_INPUT' })
  assert.equal(harness.reader.caRoots().ActiveRootID, '')
})

test('CA provider state holds the private key; serials count up from 1', () => {
  const harness = new FsmHarness()
  harness.apply({ type: 'caSetProviderState', State: { ID: 'p1', PrivateKey: 'KEY', RootCert: 'PEM', IntermediateCert: '' } })
  assert.equal(harness.reader.caProviderState('p1')?.PrivateKey, 'KEY')
  assert.equal(harness.apply({ type: 'caIncrementSerial' }), 1)
  assert.equal(harness.apply({ type: 'caIncrementSerial' }), 2)
  assert.equal(harness.reader.caLastSerial(), 2)
  assert.equal(harness.reader.tableIndex('connect-ca-builtin-serial'), 3)
  assert.equal(harness.apply({ type: 'caDeleteProviderState', ID: 'p1' }), true)
  assert.equal(harness.apply({ type: 'caDeleteProviderState', ID: 'p1' }), false)
  assert.equal(harness.reader.caProviderState('p1'), undefined)
  assert.equal(harness.reader.tableIndex('connect-ca-builtin'), 4)
})

test('ACL policies: unique names, rename frees the old name, delete', () => {
  const harness = new FsmHarness()
  assert.deepEqual(harness.apply({ type: 'aclPolicySet', Policy: aclPolicy({ ID: 'p1', Name: 'ops' }) }), { ok: true })
  const clash = harness.apply({ type: 'aclPolicySet', Policy: aclPolicy({ ID: 'p2', Name: 'ops' }) })
  assert.deepEqual(clash, { ok: false, code: 'ERR_CONFLICT', message: 'Invalid Policy: A Policy with Name "ops" already exists' })
  harness.apply({ type: 'aclPolicySet', Policy: aclPolicy({ ID: 'p1', Name: 'ops-renamed' }) })
  assert.equal(harness.reader.aclPolicyByName('ops'), undefined)
  assert.equal(harness.reader.aclPolicyByName('ops-renamed')?.CreateIndex, 1)
  assert.deepEqual(harness.apply({ type: 'aclPolicySet', Policy: aclPolicy({ ID: 'p2', Name: 'ops' }) }), { ok: true })
  assert.equal(harness.apply({ type: 'aclPolicyDelete', ID: 'p2' }), true)
  assert.deepEqual(harness.reader.aclPolicies().map(policy => policy.ID), ['p1'])
  assert.equal(harness.reader.tableIndex('acl-policies'), 5)
})

test('ACL tokens: policy links must exist, names follow renames, deleted policies drop out', () => {
  const harness = new FsmHarness()
  const missing = harness.apply({ type: 'aclTokenSet', Token: aclToken({ PolicyIDs: ['p1'] }) })
  assert.deepEqual(missing, { ok: false, code: 'ERR_INVALID_INPUT', message: 'No such policy with ID: p1' })
  harness.apply({ type: 'aclPolicySet', Policy: aclPolicy({ ID: 'p1', Name: 'ops' }) })
  assert.deepEqual(harness.apply({ type: 'aclTokenSet', Token: aclToken({ PolicyIDs: ['p1'] }) }), { ok: true })
  assert.deepEqual(harness.reader.aclTokenBySecret('secret-1')?.Policies, [{ ID: 'p1', Name: 'ops' }])
  harness.apply({ type: 'aclPolicySet', Policy: aclPolicy({ ID: 'p1', Name: 'ops2' }) })
  assert.deepEqual(harness.reader.aclToken('accessor-1')?.Policies, [{ ID: 'p1', Name: 'ops2' }])
  assert.deepEqual(harness.reader.aclTokens({ policyId: 'p1' }).map(token => token.AccessorID), ['accessor-1'])
  harness.apply({ type: 'aclPolicyDelete', ID: 'p1' })
  assert.deepEqual(harness.reader.aclToken('accessor-1')?.Policies, [])
})

test('ACL tokens: SecretIDs are unique; an update may change the secret; delete frees it', () => {
  const harness = new FsmHarness()
  harness.apply({ type: 'aclTokenSet', Token: aclToken({ AccessorID: 'a1', SecretID: 's1' }) })
  assert.deepEqual(harness.apply({ type: 'aclTokenSet', Token: aclToken({ AccessorID: 'a2', SecretID: 's1' }) }), { ok: false, code: 'ERR_CONFLICT', message: 'Invalid Token: SecretID is already in use' })
  harness.apply({ type: 'aclTokenSet', Token: aclToken({ AccessorID: 'a1', SecretID: 's2' }) })
  assert.equal(harness.reader.aclTokenBySecret('s1'), undefined)
  assert.equal(harness.reader.aclTokenBySecret('s2')?.AccessorID, 'a1')
  assert.equal(harness.reader.aclToken('a1')?.CreateIndex, 1)
  assert.equal(harness.apply({ type: 'aclTokenDelete', AccessorID: 'a1' }), true)
  assert.equal(harness.apply({ type: 'aclTokenDelete', AccessorID: 'a1' }), false)
  assert.equal(harness.reader.aclTokenBySecret('s2'), undefined)
  assert.equal(harness.reader.tableIndex('acl-tokens'), 4)
})

test('cluster metadata: IfAbsent keeps the first cluster ID', () => {
  const harness = new FsmHarness()
  assert.equal(harness.apply({ type: 'setClusterMeta', Entries: [{ Key: 'cluster-id', Value: 'first' }], IfAbsent: true }), true)
  assert.equal(harness.apply({ type: 'setClusterMeta', Entries: [{ Key: 'cluster-id', Value: 'second' }], IfAbsent: true }), false)
  assert.equal(harness.reader.clusterId(), 'first')
  assert.equal(harness.reader.tableIndex('cluster-meta'), 1)
  harness.apply({ type: 'setClusterMeta', Entries: [{ Key: 'cluster-id', Value: 'third' }, { Key: 'x', Value: 'y' }], IfAbsent: false })
  assert.deepEqual(harness.reader.clusterMetaList().map(row => [row.Key, row.Value, row.CreateIndex, row.ModifyIndex]), [['cluster-id', 'third', 1, 3], ['x', 'y', 3, 3]])
})

test('caIncrementSerial with Count allocates a block and returns its last serial', () => {
  const harness = new FsmHarness()
  assert.equal(harness.apply({ type: 'caIncrementSerial' }), 1)
  assert.equal(harness.apply({ type: 'caIncrementSerial', Count: 1024 }), 1025)
  assert.equal(harness.apply({ type: 'caIncrementSerial' }), 1026)
})
