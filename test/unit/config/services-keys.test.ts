/**
 * Agent services (#5/#6) configuration keys: ports.proxy_min_port / proxy_max_port (legacy managed
 * proxies), check_update_interval (Consul's, 5 min) and anti_entropy_interval (a weft extension,
 * 60 s), with their defaults and range checks; and service definitions staying raw (validated by
 * the agent, so one bad definition does not stop the agent from starting).
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { CLIENT, configOf, errorsOf, warningsOf } from './helpers.js'

const FILE = '/etc/weft.d/agent.json'

test('defaults: proxy ports 20000-20255, check_update_interval 5m, anti_entropy_interval 60s', () => {
  const config = configOf(CLIENT)
  assert.deepEqual([config.ports.proxyMinPort, config.ports.proxyMaxPort], [20000, 20255])
  assert.equal(config.checkUpdateIntervalMs, 300_000)
  assert.equal(config.antiEntropyIntervalMs, 60_000)
})

test('the keys are read from files (no longer "ignored" warnings)', () => {
  const files = [[FILE, { ports: { proxy_min_port: 30000, proxy_max_port: 30010 }, check_update_interval: '0s', anti_entropy_interval: '1s' }]] as const
  const config = configOf(CLIENT, files)
  assert.deepEqual([config.ports.proxyMinPort, config.ports.proxyMaxPort, config.checkUpdateIntervalMs, config.antiEntropyIntervalMs], [30000, 30010, 0, 1_000])
  assert.deepEqual(warningsOf(CLIENT, files), [])
})

test('bad values and ranges are refused naming the key', () => {
  assert.deepEqual(errorsOf(CLIENT, [[FILE, { ports: { proxy_min_port: 20300 } }]]), [
    `ports.proxy_min_port in ${FILE} (20300) must be <= ports.proxy_max_port (default) (20255); to turn proxy port allocation off, set both to 0`
  ])
  assert.deepEqual(errorsOf(CLIENT, [[FILE, { anti_entropy_interval: '10ms' }]]).length, 1)
  assert.match(errorsOf(CLIENT, [[FILE, { check_update_interval: 'soon' }]])[0] ?? '', /^check_update_interval in .* must be a duration/)
})

test('service definitions stay raw in the config: a bad one is the agent\'s to report, not a start-up failure', () => {
  const config = configOf(CLIENT, [[FILE, { services: [{ name: 'web', port: 'eighty' }] }]])
  assert.deepEqual(config.services, [{ source: FILE, definition: { name: 'web', port: 'eighty' } }])
})
