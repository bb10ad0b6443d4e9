/**
 * Config-file keys: unknown keys are errors (as Consul's "invalid config key"), with a hint;
 * Consul keys weft does not use are accepted with a warning (or silently); legacy spellings
 * merge into the modern key with a deprecation warning, the modern key winning in one file.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { build, configOf, errorsOf, SERVER, warningsOf } from './helpers.js'

const FILE = '/etc/weft/a.json'

test('unknown keys are errors naming the key and file, at any depth, with a hint', () => {
  assert.deepEqual(errorsOf(SERVER, [[FILE, { bootstrap_expct: 3, ports: { htpp: 1 }, acl: { tokens: { managment: 'x' } }, frobnicate: true }]]), [
    `bootstrap_expct in ${FILE} is not a known config key (did you mean bootstrap_expect?)`,
    `ports.htpp in ${FILE} is not a known config key (did you mean ports.http?)`,
    `acl.tokens.managment in ${FILE} is not a known config key`,
    `frobnicate in ${FILE} is not a known config key`
  ])
})

test('a problem carries the key as written and the file as its source', () => {
  const result = build(SERVER, [[FILE, { nope: 1 }]])
  assert.ok(!result.ok)
  assert.deepEqual(result.errors, [{ key: 'nope', source: FILE, message: `nope in ${FILE} is not a known config key` }])
})

test('objects that group keys must be objects', () => {
  assert.deepEqual(errorsOf(SERVER, [[FILE, { ports: 8500, acl: { tokens: ['a'] } }]]), [
    `ports in ${FILE} must be an object, got 8500`,
    `acl.tokens in ${FILE} must be an object, got ["a"]`
  ])
})

test('Consul keys weft does not use load with a warning; meaningless ones silently', () => {
  const files = [[FILE, { telemetry: { prometheus_retention_time: '24h' }, ports: { grpc_tls: 8503 }, disable_update_check: true }]] as const
  const result = build(SERVER, files)
  assert.ok(result.ok)
  assert.deepEqual(result.warnings.map((item) => item.message), [
    `telemetry in ${FILE} is a Consul setting weft does not use; it is ignored`,
    `ports.grpc_tls in ${FILE} is a Consul setting weft does not use; it is ignored`
  ])
})

test('Consul agent flags weft does not use are accepted with a warning', () => {
  assert.deepEqual(warningsOf([...SERVER, '-syslog', '--log-file=/var/log/weft.log']), [
    '-syslog is a Consul flag weft does not use; it is ignored',
    '--log-file is a Consul flag weft does not use; it is ignored'
  ])
})

test('legacy ui and acl token names merge into the modern keys, with a deprecation warning', () => {
  const files = [[FILE, { ui: true, acl: { tokens: { master: 'm-token', agent_master: 'r-token' } } }]] as const
  const result = build(SERVER, files)
  assert.ok(result.ok)
  assert.equal(result.config.uiEnabled, true)
  assert.deepEqual(result.config.acl.tokens, { initialManagement: 'm-token', agentRecovery: 'r-token' })
  assert.deepEqual(result.warnings.map((item) => item.message), [
    `ui in ${FILE} is deprecated; use ui_config.enabled instead`,
    `acl.tokens.master in ${FILE} is deprecated; use acl.tokens.initial_management instead`,
    `acl.tokens.agent_master in ${FILE} is deprecated; use acl.tokens.agent_recovery instead`
  ])
})

test('pre-1.4 acl_* keys still work; acl_datacenter also turns ACLs on', () => {
  const config = configOf(SERVER, [[FILE, {
    acl_datacenter: 'dc1', acl_default_policy: 'deny', acl_down_policy: 'allow', acl_ttl: '45s',
    acl_master_token: 'm', acl_token: 'd', acl_agent_token: 'a', acl_agent_master_token: 'r'
  }]])
  assert.equal(config.primaryDatacenter, 'dc1')
  assert.equal(config.acl.enabled, true)
  assert.equal(config.acl.defaultPolicy, 'deny')
  assert.equal(config.acl.downPolicy, 'allow')
  assert.equal(config.acl.tokenTtlMs, 45_000)
  assert.deepEqual(config.acl.tokens, { initialManagement: 'm', default: 'd', agent: 'a', agentRecovery: 'r' })
})

test('in one file the modern key wins over its legacy spelling, whatever the key order', () => {
  const config = configOf(SERVER, [[FILE, { ui_config: { enabled: false }, ui: true, acl: { enabled: false }, acl_datacenter: 'dc1' }]])
  assert.equal(config.uiEnabled, false)
  assert.equal(config.acl.enabled, false)
  // across files, the later file wins as usual
  assert.equal(configOf(SERVER, [[FILE, { ui_config: { enabled: false } }], ['/b.json', { ui: true }]]).uiEnabled, true)
})

test('legacy keys are checked like the modern ones, and named as written', () => {
  assert.deepEqual(errorsOf(SERVER, [[FILE, { acl_default_policy: 'nope', acl: { tokens: { master: 7 } } }]]), [
    `acl_default_policy in ${FILE} must be one of "allow", "deny", got "nope"`,
    `acl.tokens.master in ${FILE} must be a string, got a number`
  ])
})
