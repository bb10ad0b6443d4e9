/**
 * LocalServices (spec §3, issue #6 point 1): config-file definitions at start and on reload
 * (added services appear, removed ones go with their sidecars, unchanged ones are untouched: same
 * entry, same check state, no catalog write), a bad definition reported with its file and key
 * while the others load, API registrations and sidecar ports persisted across restarts,
 * DeregisterCriticalServiceAfter, and managed proxies started and stopped with their service.
 */
import { test, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { ConfigDefinitions } from '../../../src/agent/services/local-services.js'
import { decodeCheckDefinition, decodeServiceDefinition } from '../../../src/api/service-definition.js'
import type { RawDefinition } from '../../../src/config/schema.js'
import { waitFor } from '../../../src/util/wait-for.js'
import { testLocalServices, testNode } from '../../support/local-services.js'
import { FsmCatalog } from './services-helpers.js'

const call = { token: null }
const node = testNode.name

function raw (source: string, definition: Record<string, unknown>): RawDefinition {
  return { source, definition }
}

function capturingLogger (): { logger: { debug: () => void, info: () => void, warn: () => void, error: (fields: Record<string, unknown>) => void }, errors: string[] } {
  const errors: string[] = []
  return { logger: { debug: () => {}, info: () => {}, warn: () => {}, error: fields => { errors.push(String(fields.problem ?? fields.err ?? '')) } }, errors }
}

async function tempDir (t: TestContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'weft-local-services-'))
  t.after(async () => { await rm(dir, { recursive: true, force: true }) })
  return dir
}

test('start-up: config definitions load; a bad one is reported with its file and key, the others still load', async (t) => {
  const { logger, errors } = capturingLogger()
  const services = testLocalServices({
    logger,
    settings: {
      definitions: {
        services: [
          raw('/etc/weft.d/web.json', { name: 'web', port: 8080, connect: { sidecar_service: {} } }),
          raw('/etc/weft.d/more.json', { name: 'db', port: 5432 }),
          raw('/etc/weft.d/more.json', { name: 'cache', port: '63 79' }),
          raw('/etc/weft.d/nested.json', { name: 'bad', connect: { sidecar_service: { id: 'x' } } })
        ],
        checks: [raw('/etc/weft.d/checks.json', { name: 'disk', ttl: '30s' }), raw('/etc/weft.d/checks.json', { name: 'nope' })]
      }
    }
  })
  t.after(async () => { await services.stop() })
  await services.start()
  assert.deepEqual(Object.keys(await services.listServices(call)), ['db', 'web', 'web-sidecar-proxy'])
  assert.deepEqual(Object.keys(await services.listChecks(call)).sort(), ['disk', 'service:web-sidecar-proxy:1', 'service:web-sidecar-proxy:2'])
  assert.deepEqual(errors, [
    '/etc/weft.d/more.json: services[1] ("cache"): Port must be an integer in 0..65535, got "63 79"',
    '/etc/weft.d/nested.json: service ("bad"): sidecar_service can\'t specify an ID',
    '/etc/weft.d/checks.json: checks[1] ("nope"): Invalid check: TTL must be > 0 for TTL checks'
  ])
})

test('reload: added services appear, removed ones go with their sidecars, unchanged ones are untouched', async (t) => {
  const catalog = new FsmCatalog()
  let current: ConfigDefinitions = {
    services: [
      raw('/d/web.json', { name: 'web', port: 8080, connect: { sidecar_service: {} } }),
      raw('/d/db.json', { name: 'db', port: 5432, check: { ttl: '1h' }, connect: { sidecar_service: {} } })
    ],
    checks: []
  }
  const services = testLocalServices({
    serverApi: catalog.asServerApi(),
    antiEntropyDebounceMs: 1,
    settings: { definitions: current, loadDefinitions: async () => current }
  })
  t.after(async () => { await services.stop() })
  await services.start()
  await waitFor(() => catalog.serviceIds(node).length === 4, { timeoutMs: 5_000, what: 'four services in the catalog' })
  await services.updateTtlCheck('service:db', { status: 'passing', output: 'fine' }, call)
  await waitFor(() => catalog.checks(node).find(check => check.CheckID === 'service:db')?.Status === 'passing', { timeoutMs: 5_000, what: 'db passing in the catalog' })
  const dbEntry = services.state.service('db')
  const dbRow = catalog.fsm.reader.catalogService(node, 'db')
  const dbSidecarPort = services.state.service('db-sidecar-proxy')?.service.Port
  current = {
    services: [
      raw('/d/db.json', { name: 'db', port: 5432, check: { ttl: '1h' }, connect: { sidecar_service: {} } }),
      raw('/d/api.json', { name: 'api', port: 9000, connect: { sidecar_service: {} } })
    ],
    checks: []
  }
  await services.reload()
  assert.deepEqual(Object.keys(await services.listServices(call)), ['api', 'api-sidecar-proxy', 'db', 'db-sidecar-proxy'])
  assert.equal(services.state.service('db'), dbEntry, 'the unchanged service is the same entry')
  assert.equal(services.state.service('db-sidecar-proxy')?.service.Port, dbSidecarPort)
  assert.equal(services.state.check('service:db')?.check.Status, 'passing', 'its check keeps its state')
  await waitFor(() => catalog.serviceIds(node).join() === 'api,api-sidecar-proxy,db,db-sidecar-proxy', { timeoutMs: 5_000, what: 'the catalog to follow the reload' })
  assert.equal(catalog.fsm.reader.catalogService(node, 'db')?.ModifyIndex, dbRow?.ModifyIndex, 'no catalog write for the unchanged service')
  // A changed definition is re-registered; a broken file changes nothing and says why.
  current = { services: [raw('/d/db.json', { name: 'db', port: 5433 }), raw('/d/api.json', { name: 'api', port: 'x' })], checks: [] }
  await assert.rejects(services.reload(), (err: Error & { code?: string }) => {
    assert.equal(err.code, 'ERR_REJECTED')
    assert.equal(err.message, 'Failed to reload configs: a definition was rejected (the others were loaded):\n/d/api.json: service ("api"): Port must be an integer in 0..65535, got "x"')
    return true
  })
  assert.equal(services.state.service('db')?.service.Port, 5433)
  assert.deepEqual(Object.keys(await services.listServices(call)), ['api', 'api-sidecar-proxy', 'db'], 'a rejected definition keeps the registration it would replace')
  assert.equal(services.state.service('api')?.service.Port, 9000)
})

test('API registrations and sidecar ports survive a restart; config sidecars do not take a restored sidecar\'s port', async (t) => {
  const dataDir = await tempDir(t)
  const first = testLocalServices({ dataDir })
  await first.start()
  await first.registerService(decodeServiceDefinition({ Name: 'a', Port: 1, Connect: { SidecarService: {} } }, { origin: 'api' }), { replaceExistingChecks: false }, call)
  await first.registerService(decodeServiceDefinition({ Name: 'b', Port: 2, Connect: { SidecarService: {} }, Check: { TTL: '1m' } }, { origin: 'api' }), { replaceExistingChecks: false }, call)
  await first.registerCheck(decodeCheckDefinition({ Name: 'mem', TTL: '30s' }, { origin: 'api' }), call)
  await first.deregisterService('a', call)
  await first.registerService(decodeServiceDefinition({ Name: 'c', Port: 3, Connect: { SidecarService: {} } }, { origin: 'api' }), { replaceExistingChecks: false }, call)
  const ports = { b: first.state.service('b-sidecar-proxy')?.service.Port, c: first.state.service('c-sidecar-proxy')?.service.Port }
  assert.deepEqual(ports, { b: 21001, c: 21000 })
  await first.stop()
  const persisted = JSON.parse(await readFile(join(dataDir, 'local-services.json'), 'utf8')) as { ports: Record<string, number> }
  assert.deepEqual(persisted.ports, { 'b-sidecar-proxy': 21001, 'c-sidecar-proxy': 21000 })

  const second = testLocalServices({
    dataDir,
    settings: { definitions: { services: [raw('/d/new.json', { name: 'new', port: 4, connect: { sidecar_service: {} } })], checks: [] } }
  })
  t.after(async () => { await second.stop() })
  await second.start()
  assert.deepEqual(Object.keys(await second.listServices(call)), ['b', 'b-sidecar-proxy', 'c', 'c-sidecar-proxy', 'new', 'new-sidecar-proxy'])
  assert.equal(second.state.service('b-sidecar-proxy')?.service.Port, 21001)
  assert.equal(second.state.service('c-sidecar-proxy')?.service.Port, 21000)
  assert.equal(second.state.service('new-sidecar-proxy')?.service.Port, 21002)
  assert.ok(second.state.check('mem') !== undefined)
  assert.equal(second.state.service('b')?.origin, 'api')
})

test('a malformed persisted file is reported and ignored', async (t) => {
  const dataDir = await tempDir(t)
  await writeFile(join(dataDir, 'local-services.json'), '{"version": 9}')
  const { logger, errors } = capturingLogger()
  const services = testLocalServices({ dataDir, logger })
  t.after(async () => { await services.stop() })
  await services.start()
  assert.equal(errors.length, 1)
  assert.match(errors[0] ?? '', /local-services\.json is malformed and is ignored: expected \{"version": 1/)
})

test('DeregisterCriticalServiceAfter: the reaper removes a service whose check stayed critical that long', async (t) => {
  const services = testLocalServices({ deregisterCriticalMinimumMs: 0 })
  t.after(async () => { await services.stop() })
  await services.registerService(decodeServiceDefinition({ Name: 'web', Check: { TTL: '1h', DeregisterCriticalServiceAfter: '50ms' } }, { origin: 'api' }), { replaceExistingChecks: false }, call)
  await services.registerService(decodeServiceDefinition({ Name: 'db', Check: { TTL: '1h', Status: 'passing', DeregisterCriticalServiceAfter: '50ms' } }, { origin: 'api' }), { replaceExistingChecks: false }, call)
  const since = services.state.check('service:web')?.criticalSinceMs ?? 0
  services.reapCritical(since + 10)
  assert.ok(services.state.service('web') !== undefined, 'not yet')
  services.reapCritical(since + 60)
  assert.equal(services.state.service('web'), undefined)
  assert.ok(services.state.service('db') !== undefined, 'a passing service stays')
})

test('managed proxies (connect.proxy) start with their service, restart after an exit and stop when it goes', async (t) => {
  const dir = await tempDir(t)
  const argsFile = join(dir, 'args.json')
  const script = join(dir, 'fake-weft.mjs')
  // A stand-in for `weft connect proxy`: records its arguments, exits once, then stays up.
  await writeFile(script, [
    'import { existsSync, writeFileSync } from "node:fs"',
    `const out = ${JSON.stringify(argsFile)}`,
    'const first = !existsSync(out)',
    'writeFileSync(out, JSON.stringify({ args: process.argv.slice(2), proxyId: process.env.CONSUL_PROXY_ID }))',
    'if (first) process.exit(3)',
    'setInterval(() => {}, 1000)'
  ].join('\n'))
  let current: ConfigDefinitions = {
    services: [raw('/d/socat.json', { name: 'socat', port: 8181, connect: { proxy: { config: { upstreams: [{ destination_name: 'db', local_bind_port: 9191 }] } } } })],
    checks: []
  }
  const services = testLocalServices({
    httpAddress: () => '127.0.0.1:8500',
    supervisor: { weftScript: script, backoffInitialMs: 20 },
    settings: { definitions: current, loadDefinitions: async () => current }
  })
  t.after(async () => { await services.stop() })
  await services.start()
  assert.deepEqual(Object.keys(await services.listServices(call)), ['socat', 'socat-proxy'])
  assert.equal(services.state.service('socat-proxy')?.service.Port, 20000)
  const running = await waitFor(() => {
    const status = services.supervisor.status().get('socat-proxy')
    return status !== undefined && status.restarts >= 1 && status.pid !== null ? status : undefined
  }, { timeoutMs: 10_000, what: 'the managed proxy restarted after its first exit' })
  const recorded = JSON.parse(await readFile(argsFile, 'utf8')) as { args: string[], proxyId: string }
  assert.deepEqual(recorded, {
    args: ['connect', 'proxy', '-service', 'socat', '-listen', '0.0.0.0:20000', '-service-addr', '127.0.0.1:8181', '-http-addr', 'http://127.0.0.1:8500', '-upstream', 'db:9191'],
    proxyId: 'socat-proxy'
  })
  const config = await services.managedProxyConfig('socat-proxy', { hash: null, maxWaitMs: 0 }, call)
  assert.deepEqual([config.config.TargetServiceName, (config.config.Config as Record<string, unknown>).bind_port], ['socat', 20000])
  current = { services: [], checks: [] }
  await services.reload()
  assert.deepEqual(await services.listServices(call), {})
  await waitFor(() => !isAlive(running.pid ?? 0), { timeoutMs: 10_000, what: 'the managed proxy process to exit' })
  assert.equal(services.supervisor.status().size, 0)
})

function isAlive (pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}
