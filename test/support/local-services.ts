/**
 * Agent services (#5/#6) for tests: a real LocalServices (src/agent/services) on node "alpha"
 * with Consul's default port ranges, no data dir, a silent logger and no jitter. Its catalog is
 * a MemoryServerApi of its own unless `serverApi` or `catalog` is given. Not started: callers
 * that want anti-entropy and persisted state call start(), and always stop() at the end.
 *
 * Callers: test/support/api-harness.ts (MemoryAgentApi.services), test/unit/agent/*.test.ts.
 */
import { LocalServices, type LocalServicesOptions, type LocalServicesSettings } from '../../src/agent/services/local-services.js'
import { MemoryServerApi } from './api-memory-server.js'

export const testNode = Object.freeze({ id: 'a1b2c3d4-0000-0000-0000-000000000001', name: 'alpha', datacenter: 'dc1', address: '127.0.0.1', version: '0.1.0' })

export const testSettings: LocalServicesSettings = Object.freeze({
  definitions: { services: [], checks: [] },
  sidecarPorts: { min: 21000, max: 21255 },
  proxyPorts: { min: 20000, max: 20255 },
  antiEntropyIntervalMs: 60_000,
  checkUpdateIntervalMs: 300_000,
  nodeMeta: {}
})

export const silentLogger = Object.freeze({ debug: () => {}, info: () => {}, warn: () => {}, error: () => {} })

export function testLocalServices (overrides: Partial<Omit<LocalServicesOptions, 'settings'>> & { settings?: Partial<LocalServicesSettings> } = {}): LocalServices {
  const { settings, ...rest } = overrides
  return new LocalServices({
    node: testNode,
    dataDir: null,
    serverApi: new MemoryServerApi(),
    clusterSize: () => 1,
    httpAddress: () => '',
    logger: silentLogger,
    env: {},
    random: () => 0,
    ...rest,
    settings: { ...testSettings, ...settings }
  })
}
