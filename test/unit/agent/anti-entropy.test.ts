/**
 * Anti-entropy (spec §3.6) against a catalog on the real FSM: local registrations reach the
 * catalog with their checks; a full sync repairs a service deleted from the catalog and removes
 * catalog entries of this node the agent does not have (never `consul` or `serfHealth`); an
 * unchanged full sync writes nothing; output-only changes wait for check_update_interval while
 * status changes go at once; failures are retried with back-off; a refused entry does not stop
 * the others. Passes are driven directly (syncChanges/syncFull) except where the timers are the
 * point, which are awaited with waitFor.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { scaledIntervalMs } from '../../../src/agent/services/anti-entropy.js'
import { decodeServiceDefinition } from '../../../src/api/service-definition.js'
import { ControlPlaneError } from '../../../src/util/errors.js'
import { waitFor } from '../../../src/util/wait-for.js'
import { testLocalServices, testNode } from '../../support/local-services.js'
import { FsmCatalog } from './services-helpers.js'

const node = testNode.name
const call = { token: null }
const definition = (raw: unknown): ReturnType<typeof decodeServiceDefinition> => decodeServiceDefinition(raw, { origin: 'api' })

function setup (options: { checkUpdateIntervalMs?: number, antiEntropyIntervalMs?: number } = {}): { catalog: FsmCatalog, services: ReturnType<typeof testLocalServices> } {
  const catalog = new FsmCatalog()
  const services = testLocalServices({
    serverApi: catalog.asServerApi(),
    antiEntropyDebounceMs: 1,
    settings: { checkUpdateIntervalMs: options.checkUpdateIntervalMs ?? 300_000, antiEntropyIntervalMs: options.antiEntropyIntervalMs ?? 60_000 }
  })
  return { catalog, services }
}

test('a registration reaches the catalog: node info, the service, its sidecar and their checks', async (t) => {
  const { catalog, services } = setup()
  t.after(async () => { await services.stop() })
  await services.registerService(definition({ Name: 'web', Port: 8080, Check: { TTL: '30s' }, Connect: { SidecarService: {} } }), { replaceExistingChecks: false }, call)
  await services.antiEntropy.syncChanges()
  assert.deepEqual(catalog.serviceIds(node), ['web', 'web-sidecar-proxy'])
  assert.deepEqual(catalog.checks(node).map(check => check.CheckID), ['service:web', 'service:web-sidecar-proxy:1', 'service:web-sidecar-proxy:2'])
  const catalogNode = catalog.fsm.reader.catalogNode(node)
  assert.equal(catalogNode?.ID, testNode.id)
  assert.equal(catalogNode?.Address, testNode.address)
  assert.deepEqual(catalogNode?.Meta, { 'consul-network-segment': '', 'consul-version': testNode.version })
  assert.deepEqual(catalog.fsm.reader.catalogService(node, 'web-sidecar-proxy')?.Proxy, {
    DestinationServiceName: 'web', DestinationServiceID: 'web', LocalServiceAddress: '127.0.0.1', LocalServicePort: 8080, Mode: '', MeshGateway: {}, Expose: {}
  })
  // Everything is in sync now: a full sync compares and writes nothing.
  const writes = catalog.writes
  const index = catalog.catalogIndex
  await services.antiEntropy.syncFull()
  assert.equal(catalog.writes, writes, 'an unchanged full sync writes nothing')
  assert.equal(catalog.catalogIndex, index)
  // Deregistration is pushed as a tombstone.
  await services.deregisterService('web', call)
  await services.antiEntropy.syncChanges()
  assert.deepEqual(catalog.serviceIds(node), [])
  assert.deepEqual(catalog.checks(node), [])
})

test('a full sync repairs a service deleted from the catalog and removes entries the agent does not have', async (t) => {
  const { catalog, services } = setup()
  t.after(async () => { await services.stop() })
  await services.registerService(definition({ Name: 'web', Port: 8080, Check: { TTL: '30s', Status: 'passing' } }), { replaceExistingChecks: false }, call)
  await services.antiEntropy.syncChanges()
  // Manual catalog changes: the service goes, a stranger, a node check, the leader's entries appear.
  await catalog.catalogDeregister({ Node: node, ServiceID: 'web' })
  await catalog.catalogRegister({ Node: node, Address: testNode.address, ID: testNode.id, SkipNodeUpdate: true, Service: { Service: 'stranger', Port: 1 }, Checks: [{ CheckID: 'stranger-check', Name: 's', ServiceID: 'stranger' }] })
  await catalog.catalogRegister({ Node: node, Address: testNode.address, ID: testNode.id, SkipNodeUpdate: true, Service: { Service: 'consul', Port: 8300 }, Checks: [{ CheckID: 'serfHealth', Name: 'Serf Health Status', Status: 'passing' }, { CheckID: 'node-extra', Name: 'extra' }] })
  assert.deepEqual(catalog.serviceIds(node), ['consul', 'stranger'])
  await services.antiEntropy.syncFull()
  assert.deepEqual(catalog.serviceIds(node), ['consul', 'web'])
  assert.deepEqual(catalog.checks(node).map(check => check.CheckID), ['serfHealth', 'service:web'])
  assert.equal(catalog.checks(node).find(check => check.CheckID === 'service:web')?.Status, 'passing')
})

test('a deleted node is re-registered whole; changed node info is pushed again', async (t) => {
  const { catalog, services } = setup()
  t.after(async () => { await services.stop() })
  await services.registerService(definition({ Name: 'web', Port: 8080 }), { replaceExistingChecks: false }, call)
  await services.antiEntropy.syncChanges()
  await catalog.catalogDeregister({ Node: node })
  assert.equal(catalog.fsm.reader.catalogNode(node), undefined)
  await services.antiEntropy.syncFull()
  assert.deepEqual(catalog.serviceIds(node), ['web'])
  await catalog.catalogRegister({ Node: node, Address: '10.9.9.9', ID: testNode.id })
  await services.antiEntropy.syncFull()
  assert.equal(catalog.fsm.reader.catalogNode(node)?.Address, testNode.address)
})

test('EnableTagOverride: catalog-side tags are adopted, not overwritten', async (t) => {
  const { catalog, services } = setup()
  t.after(async () => { await services.stop() })
  await services.registerService(definition({ Name: 'web', Tags: ['v1'], EnableTagOverride: true }), { replaceExistingChecks: false }, call)
  await services.registerService(definition({ Name: 'db', Tags: ['v1'] }), { replaceExistingChecks: false }, call)
  await services.antiEntropy.syncChanges()
  for (const name of ['web', 'db']) {
    await catalog.catalogRegister({ Node: node, Address: testNode.address, ID: testNode.id, SkipNodeUpdate: true, Service: { Service: name, Tags: ['v2'], EnableTagOverride: name === 'web' } })
  }
  await services.antiEntropy.syncFull()
  assert.deepEqual(catalog.fsm.reader.catalogService(node, 'web')?.Tags, ['v2'])
  assert.deepEqual(catalog.fsm.reader.catalogService(node, 'db')?.Tags, ['v1'])
  assert.deepEqual((await services.listServices(call)).web?.Tags, ['v2'])
})

test('status changes are pushed at once; output-only changes wait for check_update_interval', async (t) => {
  const { catalog, services } = setup({ checkUpdateIntervalMs: 300 })
  t.after(async () => { await services.stop() })
  await services.registerCheck({ ...checkOf('mem'), ttlMs: 60_000 }, call)
  services.antiEntropy.start()
  await waitFor(() => catalog.checks(node).length === 1, { timeoutMs: 5_000, what: 'the check in the catalog' })
  await services.updateTtlCheck('mem', { status: 'passing', output: 'one' }, call)
  await waitFor(() => catalog.checks(node)[0]?.Status === 'passing', { timeoutMs: 5_000, what: 'the passing status in the catalog' })
  const startedMs = Date.now()
  await services.updateTtlCheck('mem', { status: 'passing', output: 'two' }, call)
  assert.equal(catalog.checks(node)[0]?.Output, 'one', 'not pushed at once')
  await waitFor(() => catalog.checks(node)[0]?.Output === 'two', { timeoutMs: 5_000, what: 'the new output in the catalog' })
  assert.ok(Date.now() - startedMs >= 250, `output pushed after ${Date.now() - startedMs} ms, before check_update_interval`)
})

test('sync failures are retried with back-off until the catalog takes the change', async (t) => {
  const { catalog, services } = setup()
  t.after(async () => { await services.stop() })
  const down = new ControlPlaneError('ERR_NO_LEADER', 'No cluster leader')
  catalog.failures.push(down, down, down)
  await services.registerService(definition({ Name: 'web' }), { replaceExistingChecks: false }, call)
  services.antiEntropy.start()
  await waitFor(() => catalog.serviceIds(node).includes('web'), { timeoutMs: 10_000, what: 'web in the catalog after three failures' })
  assert.equal(catalog.failures.length, 0)
  assert.equal(services.antiEntropy.failures, 0, 'the failure count is reset on success')
})

test('a refused entry is logged and skipped; the others still sync', async (t) => {
  const { catalog, services } = setup()
  t.after(async () => { await services.stop() })
  catalog.refuseServiceId = 'bad'
  await services.registerService(definition({ Name: 'bad' }), { replaceExistingChecks: false }, call)
  await services.registerService(definition({ Name: 'good' }), { replaceExistingChecks: false }, call)
  await services.antiEntropy.syncChanges()
  assert.deepEqual(catalog.serviceIds(node), ['good'])
})

test('the periodic full sync repairs the catalog without any local change (interval knob)', async (t) => {
  const { catalog, services } = setup({ antiEntropyIntervalMs: 100 })
  t.after(async () => { await services.stop() })
  await services.registerService(definition({ Name: 'web' }), { replaceExistingChecks: false }, call)
  services.antiEntropy.start()
  await waitFor(() => catalog.serviceIds(node).includes('web'), { timeoutMs: 5_000, what: 'web in the catalog' })
  await catalog.catalogDeregister({ Node: node, ServiceID: 'web' })
  await waitFor(() => catalog.serviceIds(node).includes('web'), { timeoutMs: 5_000, what: 'web back in the catalog' })
})

test('the full-sync interval scales with cluster size as Consul\'s aeScale', () => {
  assert.equal(scaledIntervalMs(60_000, 1), 60_000)
  assert.equal(scaledIntervalMs(60_000, 128), 60_000)
  assert.equal(scaledIntervalMs(60_000, 129), 120_000)
  assert.equal(scaledIntervalMs(60_000, 256), 120_000)
  assert.equal(scaledIntervalMs(60_000, 257), 180_000)
  assert.equal(scaledIntervalMs(60_000, 4096), 360_000)
})

function checkOf (name: string): Parameters<ReturnType<typeof testLocalServices>['registerCheck']>[0] {
  return {
    checkId: name, name, notes: '', status: '', serviceId: '', type: 'ttl', ttlMs: 30_000, intervalMs: 0, timeoutMs: 0, http: '', method: '', header: {}, body: '',
    disableRedirects: false, tlsServerName: '', tlsSkipVerify: false, tcp: '', aliasNode: '', aliasService: '', outputBytesMax: 4096,
    successBeforePassing: 0, failuresBeforeWarning: 0, failuresBeforeCritical: 0, deregisterCriticalAfterMs: 0
  }
}
