/**
 * Catalog register/deregister through the FSM: nodes, services and checks with their indexes,
 * Consul's "unchanged writes move nothing" rule, atomic rejection, case-insensitive lookups,
 * service-name indexes for blocking health queries, and connect (proxy/native) lookups.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { check, FsmHarness, registration, service } from './helpers.js'

test('register creates node, service and checks with the entry index', () => {
  const harness = new FsmHarness()
  const outcome = harness.apply({
    type: 'catalogRegister',
    Registration: registration({
      ID: '6f1a2c9e-2b7d-4f0c-9d4a-1e5b7c3a9f10',
      TaggedAddresses: { lan: '10.0.0.1' },
      NodeMeta: { external: 'true' },
      Service: service({ ID: 'pg-1', Service: 'postgres', Tags: ['primary'], Port: 5432 }),
      Checks: [check({ CheckID: 'pg-1-alive', ServiceID: 'pg-1', Definition: { TCP: '10.0.0.1:5432' } }), check({ CheckID: 'serfHealth' })]
    })
  })
  assert.deepEqual(outcome, { ok: true })
  const reader = harness.reader
  const node = reader.catalogNode('alpha')
  assert.equal(node?.Address, '10.0.0.1')
  assert.deepEqual(node?.Meta, { external: 'true' })
  assert.equal(node?.CreateIndex, 1)
  const [instance] = reader.catalogServiceInstances('postgres')
  assert.equal(instance?.service.ID, 'pg-1')
  assert.equal(instance?.service.Node, 'alpha')
  assert.equal(instance?.node.Node, 'alpha')
  const checks = reader.catalogNodeChecks('alpha')
  assert.deepEqual(checks.map(row => [row.CheckID, row.ServiceName, row.ServiceTags]), [['pg-1-alive', 'postgres', ['primary']], ['serfHealth', '', []]])
  assert.deepEqual(checks[0]?.Definition, { TCP: '10.0.0.1:5432' })
  for (const table of ['nodes', 'services', 'checks'] as const) assert.equal(reader.tableIndex(table), 1)
  assert.equal(reader.serviceIndex('postgres'), 1)
})

test('re-registering identical content moves no index and notifies nobody', () => {
  const harness = new FsmHarness()
  const body = registration({ Service: service(), Checks: [check({ CheckID: 'c', ServiceID: 'web' })] })
  harness.apply({ type: 'catalogRegister', Registration: body })
  let notified = 0
  harness.reader.onChange(() => { notified += 1 })
  harness.apply({ type: 'catalogRegister', Registration: body })
  assert.equal(notified, 0)
  assert.equal(harness.reader.maxTableIndex(['nodes', 'services', 'checks']), 1)
  assert.equal(harness.reader.catalogNodeServices('alpha')[0]?.ModifyIndex, 1)
  assert.equal(harness.reader.appliedIndex(), 2)
})

test('a changed check moves only the checks table and keeps CreateIndex', () => {
  const harness = new FsmHarness()
  harness.apply({ type: 'catalogRegister', Registration: registration({ Service: service(), Checks: [check({ CheckID: 'c', ServiceID: 'web', Status: 'passing' })] }) })
  harness.apply({ type: 'catalogRegister', Registration: registration({ SkipNodeUpdate: true, Checks: [check({ CheckID: 'c', ServiceID: 'web', Status: 'critical', Output: 'down' })] }) })
  const reader = harness.reader
  const row = reader.catalogNodeChecks('alpha')[0]
  assert.equal(row?.Status, 'critical')
  assert.equal(row?.CreateIndex, 1)
  assert.equal(row?.ModifyIndex, 2)
  assert.equal(reader.tableIndex('checks'), 2)
  assert.equal(reader.tableIndex('services'), 1)
  assert.equal(reader.tableIndex('nodes'), 1)
  assert.equal(reader.serviceIndex('web'), 2, 'a service check change wakes watchers of the service')
})

test('SkipNodeUpdate keeps the stored node but still creates a missing one', () => {
  const harness = new FsmHarness()
  harness.apply({ type: 'catalogRegister', Registration: registration({ Address: '10.0.0.1' }) })
  harness.apply({ type: 'catalogRegister', Registration: registration({ Address: '10.9.9.9', SkipNodeUpdate: true }) })
  assert.equal(harness.reader.catalogNode('alpha')?.Address, '10.0.0.1')
  harness.apply({ type: 'catalogRegister', Registration: registration({ Node: 'beta', Address: '', SkipNodeUpdate: true }) })
  assert.equal(harness.reader.catalogNode('beta')?.CreateIndex, 3)
})

test('a check naming an unknown service rejects the whole registration', () => {
  const harness = new FsmHarness()
  const outcome = harness.apply({
    type: 'catalogRegister',
    Registration: registration({ Service: service(), Checks: [check({ CheckID: 'ok', ServiceID: 'web' }), check({ CheckID: 'bad', ServiceID: 'nope' })] })
  })
  assert.deepEqual(outcome, { ok: false, code: 'ERR_INVALID_INPUT', message: 'unknown service ID "nope" for check ID "bad" on node "alpha"' })
  assert.equal(harness.reader.catalogNode('alpha'), undefined)
  assert.deepEqual(harness.reader.catalogNodes(), [])
  assert.equal(harness.reader.maxTableIndex(['nodes', 'services', 'checks']), 0)
})

test('a node ID already used by another node is rejected', () => {
  const harness = new FsmHarness()
  harness.apply({ type: 'catalogRegister', Registration: registration({ Node: 'alpha', ID: 'id-1' }) })
  const outcome = harness.apply({ type: 'catalogRegister', Registration: registration({ Node: 'beta', ID: 'id-1' }) })
  assert.deepEqual(outcome, { ok: false, code: 'ERR_CONFLICT', message: 'node ID "id-1" for node "beta" aliases existing node "alpha"' })
  assert.equal(harness.reader.catalogNode('beta'), undefined)
  assert.deepEqual(harness.apply({ type: 'catalogRegister', Registration: registration({ Node: 'alpha', ID: 'id-2' }) }), { ok: true })
  assert.deepEqual(harness.apply({ type: 'catalogRegister', Registration: registration({ Node: 'beta', ID: 'id-1' }) }), { ok: true }, 'the old ID was released')
})

test('lookups ignore case; names keep the spelling they were created with', () => {
  const harness = new FsmHarness()
  harness.apply({ type: 'catalogRegister', Registration: registration({ Node: 'Alpha', Service: service({ ID: 'Web-1', Service: 'Web' }) }) })
  harness.apply({ type: 'catalogRegister', Registration: registration({ Node: 'ALPHA', SkipNodeUpdate: true, Checks: [check({ CheckID: 'C', ServiceID: 'web-1' })] }) })
  assert.equal(harness.reader.catalogNode('alpha')?.Node, 'Alpha')
  assert.equal(harness.reader.catalogNodes().length, 1)
  assert.equal(harness.reader.catalogServiceInstances('WEB')[0]?.service.ID, 'Web-1')
  assert.equal(harness.reader.catalogNodeChecks('alpha')[0]?.ServiceName, 'Web')
  assert.equal(harness.reader.catalogService('ALPHA', 'WEB-1')?.Service, 'Web')
})

test('updating a service carries its new name and tags into its checks', () => {
  const harness = new FsmHarness()
  harness.apply({ type: 'catalogRegister', Registration: registration({ Service: service({ ID: 's1', Service: 'web', Tags: ['v1'] }), Checks: [check({ CheckID: 'c', ServiceID: 's1' })] }) })
  harness.apply({ type: 'catalogRegister', Registration: registration({ Service: service({ ID: 's1', Service: 'web', Tags: ['v2'] }) }) })
  const row = harness.reader.catalogNodeChecks('alpha')[0]
  assert.deepEqual(row?.ServiceTags, ['v2'])
  assert.equal(row?.ModifyIndex, 2)
  harness.apply({ type: 'catalogRegister', Registration: registration({ Service: service({ ID: 's1', Service: 'api', Tags: ['v2'] }) }) })
  assert.equal(harness.reader.catalogNodeChecks('alpha')[0]?.ServiceName, 'api')
  assert.deepEqual(harness.reader.catalogServiceInstances('web'), [])
  assert.equal(harness.reader.catalogServiceInstances('api').length, 1)
})

test('deregister a check, a service (with its checks), then the node (with everything)', () => {
  const harness = new FsmHarness()
  harness.apply({
    type: 'catalogRegister',
    Registration: registration({ Service: service({ ID: 'web-1' }), Checks: [check({ CheckID: 'svc', ServiceID: 'web-1' }), check({ CheckID: 'serfHealth' }), check({ CheckID: 'extra' })] })
  })
  harness.apply({ type: 'catalogRegister', Registration: registration({ Service: service({ ID: 'web-2' }), Checks: [check({ CheckID: 'svc2', ServiceID: 'web-2' })] }) })
  const reader = harness.reader

  harness.apply({ type: 'catalogDeregister', Deregistration: { Node: 'alpha', Target: 'check', CheckID: 'extra' } })
  assert.deepEqual(reader.catalogNodeChecks('alpha').map(row => row.CheckID), ['serfHealth', 'svc', 'svc2'])
  assert.equal(reader.tableIndex('checks'), 3)

  harness.apply({ type: 'catalogDeregister', Deregistration: { Node: 'alpha', Target: 'service', ServiceID: 'web-1' } })
  assert.deepEqual(reader.catalogNodeServices('alpha').map(row => row.ID), ['web-2'])
  assert.deepEqual(reader.catalogNodeChecks('alpha').map(row => row.CheckID), ['serfHealth', 'svc2'])
  assert.equal(reader.tableIndex('services'), 4)
  assert.equal(reader.tableIndex('checks'), 4)
  assert.equal(reader.serviceIndex('web'), 4)

  harness.apply({ type: 'catalogDeregister', Deregistration: { Node: 'alpha', Target: 'node' } })
  assert.equal(reader.catalogNode('alpha'), undefined)
  assert.deepEqual(reader.catalogNodeServices('alpha'), [])
  assert.deepEqual(reader.healthChecksInState('any'), [])
  for (const table of ['nodes', 'services', 'checks'] as const) assert.equal(reader.tableIndex(table), 5)
  assert.equal(reader.serviceIndex('web'), 5, 'a deleted service name falls back to the catalog index')
})

test('deregistering unknown targets succeeds and changes nothing', () => {
  const harness = new FsmHarness()
  harness.apply({ type: 'catalogRegister', Registration: registration() })
  for (const deregistration of [
    { Node: 'ghost', Target: 'node' as const },
    { Node: 'alpha', Target: 'service' as const, ServiceID: 'nope' },
    { Node: 'alpha', Target: 'check' as const, CheckID: 'nope' }
  ]) {
    assert.deepEqual(harness.apply({ type: 'catalogDeregister', Deregistration: deregistration }), { ok: true })
  }
  assert.equal(harness.reader.maxTableIndex(['nodes', 'services', 'checks']), 1)
})

test('service-name indexes let a health watcher of one service sleep through others', () => {
  const harness = new FsmHarness()
  harness.apply({ type: 'catalogRegister', Registration: registration({ Node: 'a', Service: service({ ID: 'web-1', Service: 'web' }) }) })
  harness.apply({ type: 'catalogRegister', Registration: registration({ Node: 'b', Service: service({ ID: 'db-1', Service: 'db' }) }) })
  harness.apply({ type: 'catalogRegister', Registration: registration({ Node: 'b', SkipNodeUpdate: true, Checks: [check({ CheckID: 'db', ServiceID: 'db-1', Status: 'critical' })] }) })
  const reader = harness.reader
  assert.equal(reader.serviceIndex('web'), 1)
  assert.equal(reader.serviceIndex('db'), 3)
  harness.apply({ type: 'catalogRegister', Registration: registration({ Node: 'a', SkipNodeUpdate: true, Checks: [check({ CheckID: 'serfHealth', Status: 'critical' })] }) })
  assert.equal(reader.serviceIndex('web'), 4, 'a node check affects every service on the node')
  assert.equal(reader.serviceIndex('db'), 3)
  harness.apply({ type: 'catalogRegister', Registration: registration({ Node: 'a', Address: '10.1.1.1' }) })
  assert.equal(reader.serviceIndex('web'), 5, 'a node change affects every service on the node')
  assert.equal(reader.serviceIndex('unknown'), 5)
})

test('health and connect queries: node checks included, proxies and natives by destination', () => {
  const harness = new FsmHarness()
  harness.apply({ type: 'catalogRegister', Registration: registration({ Node: 'b', Service: service({ ID: 'web-2', Service: 'web' }), Checks: [check({ CheckID: 'serfHealth' })] }) })
  harness.apply({ type: 'catalogRegister', Registration: registration({ Node: 'a', Service: service({ ID: 'web-1', Service: 'web', Tags: ['v2'] }), Checks: [check({ CheckID: 'w', ServiceID: 'web-1', Status: 'warning' })] }) })
  harness.apply({
    type: 'catalogRegister',
    Registration: registration({ Node: 'a', SkipNodeUpdate: true, Service: service({ ID: 'web-1-proxy', Service: 'web-sidecar-proxy', Kind: 'connect-proxy', Port: 21000, Proxy: { DestinationServiceName: 'web' } }) })
  })
  harness.apply({ type: 'catalogRegister', Registration: registration({ Node: 'c', Service: service({ ID: 'n', Service: 'native', Connect: { Native: true } }) }) })
  const reader = harness.reader

  const health = reader.healthService('web', { connect: false })
  assert.deepEqual(health.map(entry => [entry.node.Node, entry.service.ID, entry.checks.map(row => row.CheckID)]), [
    ['a', 'web-1', ['w']],
    ['b', 'web-2', ['serfHealth']]
  ])
  assert.deepEqual(reader.catalogConnectInstances('web').map(entry => entry.service.ID), ['web-1-proxy'])
  assert.deepEqual(reader.healthService('web', { connect: true }).map(entry => entry.service.ID), ['web-1-proxy'])
  assert.deepEqual(reader.catalogConnectInstances('native').map(entry => entry.service.ID), ['n'])
  assert.equal(reader.serviceIndex('web'), 3, 'a proxy change wakes watchers of its destination')
  assert.deepEqual(reader.healthServiceChecks('web').map(row => row.CheckID), ['w'])
  assert.deepEqual(reader.healthChecksInState('warning').map(row => row.CheckID), ['w'])
  assert.deepEqual(reader.healthChecksInState('passing').map(row => row.CheckID), ['serfHealth'])
  assert.deepEqual(reader.catalogServiceSummaries(), [
    { Name: 'native', Tags: [] },
    { Name: 'web', Tags: ['v2'] },
    { Name: 'web-sidecar-proxy', Tags: [] }
  ])
  assert.deepEqual(reader.catalogNodes().map(node => node.Node), ['a', 'b', 'c'])
})
