/**
 * buildConfig: the complete default Config, -dev defaults (§14.4), precedence (defaults <
 * -dev < file1 < file2 < flags), list accumulation and map overlay (§14.1), derived defaults
 * (primary_datacenter, leave_on_terminate, advertise address, Raft timers) and deep freezing.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { buildConfig, type Config } from '../../../src/config/load.js'
import { build, CLIENT, configOf, errorsOf, HOST, SERVER, warningsOf } from './helpers.js'

const CLIENT_DEFAULTS: Config = {
  nodeName: 'alpha',
  nodeMeta: {},
  datacenter: 'dc1',
  primaryDatacenter: 'dc1',
  dataDir: '/var/lib/weft',
  dev: false,
  server: false,
  bootstrap: false,
  bootstrapExpect: 0,
  bindAddr: '0.0.0.0',
  advertiseAddr: '10.0.0.5',
  clientAddrs: ['127.0.0.1'],
  ports: {
    http: 8500, https: -1, grpc: -1, dns: 8600, server: 8300, serfLan: 8301, serfWan: 8302,
    sidecarMinPort: 21000, sidecarMaxPort: 21255, exposeMinPort: 21500, exposeMaxPort: 21755,
    proxyMinPort: 20000, proxyMaxPort: 20255 // Agent services (#5/#6)
  },
  retryJoin: [],
  retryIntervalMs: 30_000,
  retryMaxAttempts: 0,
  startJoin: [],
  rejoinAfterLeave: false,
  leaveOnTerminate: true,
  skipLeaveOnInterrupt: false,
  logLevel: 'info',
  logJson: false,
  uiEnabled: false,
  encryptVerifyIncoming: true,
  encryptVerifyOutgoing: true,
  disableKeyringFile: false,
  defaultQueryTimeMs: 300_000,
  maxQueryTimeMs: 600_000,
  connect: { enabled: true, caProvider: 'consul', caConfig: {} },
  acl: {
    enabled: false,
    defaultPolicy: 'allow',
    downPolicy: 'extend-cache',
    enableTokenPersistence: false,
    enableKeyListPolicy: false,
    tokenTtlMs: 30_000,
    policyTtlMs: 30_000,
    roleTtlMs: 30_000,
    tokens: {}
  },
  limits: { httpMaxConnsPerClient: 200, kvMaxValueBytes: 524_288, txnMaxRequestBytes: 524_288 },
  performance: { raftMultiplier: 5 },
  raft: { tickMs: 50, electionTicks: 20, heartbeatTicks: 2 },
  httpConfig: { responseHeaders: {} },
  services: [],
  checks: [],
  checkUpdateIntervalMs: 300_000, // Agent services (#5/#6)
  antiEntropyIntervalMs: 60_000
}

test('a client with only -data-dir gets every Consul default', () => {
  const result = build(CLIENT)
  assert.ok(result.ok)
  assert.deepEqual(result.config, CLIENT_DEFAULTS)
  assert.deepEqual(result.warnings, [])
})

test('a server defaults to staying a member on SIGTERM and SIGINT (Consul: leave_on_terminate=false)', () => {
  const config = configOf(SERVER)
  assert.equal(config.server, true)
  assert.equal(config.leaveOnTerminate, false)
  assert.equal(config.skipLeaveOnInterrupt, true)
  const explicit = configOf(SERVER, [['/a.json', { leave_on_terminate: true, skip_leave_on_interrupt: false }]])
  assert.equal(explicit.leaveOnTerminate, true)
  assert.equal(explicit.skipLeaveOnInterrupt, false)
})

test('-dev: a self-bootstrapping in-memory server on 127.0.0.1 with Connect, the UI and debug logs', () => {
  const result = build(['-dev'])
  assert.ok(result.ok)
  assert.deepEqual(result.warnings, [])
  const config = result.config
  assert.deepEqual({
    dev: config.dev, server: config.server, bootstrap: config.bootstrap, bootstrapExpect: config.bootstrapExpect,
    dataDir: config.dataDir, nodeName: config.nodeName, datacenter: config.datacenter,
    bindAddr: config.bindAddr, advertiseAddr: config.advertiseAddr, clientAddrs: config.clientAddrs,
    connect: config.connect.enabled, ui: config.uiEnabled, logLevel: config.logLevel,
    disableKeyringFile: config.disableKeyringFile, acl: config.acl.enabled
  }, {
    dev: true, server: true, bootstrap: true, bootstrapExpect: 0, dataDir: null, nodeName: 'alpha', datacenter: 'dc1',
    bindAddr: '127.0.0.1', advertiseAddr: '127.0.0.1', clientAddrs: ['127.0.0.1'],
    connect: true, ui: true, logLevel: 'debug', disableKeyringFile: true, acl: false
  })
  assert.deepEqual(config.ports, { ...CLIENT_DEFAULTS.ports, grpc: 8502 })
  assert.deepEqual(config.performance, { raftMultiplier: 1 })
  assert.deepEqual(config.raft, { tickMs: 10, electionTicks: 20, heartbeatTicks: 2 })
})

test('-dev with -data-dir persists; files and flags still override dev defaults', () => {
  const config = configOf(['-dev', '-data-dir', '/tmp/weft-dev', '-log-level=warn'], [['/dev.json', { ports: { grpc: 9502 }, ui_config: { enabled: false } }]])
  assert.equal(config.dataDir, '/tmp/weft-dev')
  assert.equal(config.logLevel, 'warn')
  assert.equal(config.ports.grpc, 9502)
  assert.equal(config.uiEnabled, false)
  assert.equal(config.bootstrap, true)
})

test('-dev=false is not dev mode; -dev -server=false is a dev client that does not bootstrap', () => {
  assert.deepEqual(errorsOf(['-dev=false']), ['data_dir is required unless -dev is given: set "data_dir" in a config file or pass -data-dir DIR'])
  const client = configOf(['-dev', '-server=false'])
  assert.equal(client.server, false)
  assert.equal(client.bootstrap, false)
  assert.equal(client.dataDir, null)
})

test('precedence: defaults < file1 < file2 < flags, for single values', () => {
  const files = [
    ['/etc/weft/1.json', { datacenter: 'east', log_level: 'TRACE', ports: { http: 8600 + 1, dns: 8653 } }],
    ['/etc/weft/2.json', { datacenter: 'west', ports: { http: 8502 } }]
  ] as const
  const config = configOf([...SERVER, '-datacenter', 'north'], files)
  assert.equal(config.datacenter, 'north') // flag beats both files
  assert.equal(config.ports.http, 8502) // file2 beats file1
  assert.equal(config.ports.dns, 8653) // file1 beats the default
  assert.equal(config.logLevel, 'trace') // only file1 sets it
  assert.equal(config.ports.server, 8300) // default
  assert.equal(configOf(SERVER, files).datacenter, 'west')
})

test('an error names the source whose value won', () => {
  const files = [
    ['/etc/weft/1.json', { bootstrap_expect: 3 }],
    ['/etc/weft/2.json', { bootstrap_expect: 5 }]
  ] as const
  assert.deepEqual(errorsOf(CLIENT, files), [
    'bootstrap_expect in /etc/weft/2.json (5) needs server mode, but server (default) is false: set "server": true in a config file or pass -server'
  ])
  assert.deepEqual(errorsOf([...CLIENT, '-bootstrap-expect=4'], files), [
    '-bootstrap-expect (4) needs server mode, but server (default) is false: set "server": true in a config file or pass -server'
  ])
})

test('retry_join and start_join accumulate: flag entries first (as Consul), then files in order', () => {
  const files = [
    ['/1.json', { retry_join: ['10.0.0.11', '10.0.0.12'], start_join: ['c1'] }],
    ['/2.json', { retry_join: ['10.0.0.13'] }]
  ] as const
  const config = configOf([...SERVER, '-retry-join', '10.0.0.21', '-join=c2', '-retry-join=[::1]:8301'], files)
  assert.deepEqual(config.retryJoin, ['10.0.0.21', '[::1]:8301', '10.0.0.11', '10.0.0.12', '10.0.0.13'])
  assert.deepEqual(config.startJoin, ['c2', 'c1'])
})

test('service/services and check/checks accumulate across files, each with its file', () => {
  const files = [
    ['/1.json', { service: { name: 'web', port: 80 }, checks: [{ name: 'disk', ttl: '30s' }] }],
    ['/2.json', { services: [{ name: 'db' }, { name: 'cache' }], check: { name: 'mem' } }]
  ] as const
  const config = configOf(SERVER, files)
  assert.deepEqual(config.services, [
    { source: '/1.json', definition: { name: 'web', port: 80 } },
    { source: '/2.json', definition: { name: 'db' } },
    { source: '/2.json', definition: { name: 'cache' } }
  ])
  assert.deepEqual(config.checks, [
    { source: '/1.json', definition: { name: 'disk', ttl: '30s' } },
    { source: '/2.json', definition: { name: 'mem' } }
  ])
})

test('maps overlay key by key: node_meta, connect.ca_config, http_config.response_headers', () => {
  const files = [
    ['/1.json', { node_meta: { rack: 'r1', zone: 'a' }, connect: { ca_config: { leaf_cert_ttl: '24h', private_key_type: 'ec' } } }],
    ['/2.json', { node_meta: { zone: 'b' }, connect: { ca_config: { leaf_cert_ttl: '12h' } }, http_config: { response_headers: { 'X-Frame-Options': 'DENY' } } }]
  ] as const
  const config = configOf([...SERVER, '-node-meta', 'team:mesh'], files)
  assert.deepEqual(config.nodeMeta, { rack: 'r1', zone: 'b', team: 'mesh' })
  assert.deepEqual(config.connect.caConfig, { leaf_cert_ttl: '12h', private_key_type: 'ec' })
  assert.deepEqual(config.httpConfig.responseHeaders, { 'X-Frame-Options': 'DENY' })
})

test('a full server file maps onto the typed Config (the spec example, §14.2)', () => {
  const key = Buffer.alloc(32, 7).toString('base64')
  const config = configOf([], [['/etc/weft/server.json', {
    server: true, bootstrap_expect: 3, datacenter: 'dc1', node_name: 'srv-1', data_dir: '/var/lib/consul',
    bind_addr: '10.0.0.11', client_addr: '0.0.0.0', retry_join: ['10.0.0.12', '10.0.0.13'], encrypt: key,
    connect: { enabled: true, ca_config: { leaf_cert_ttl: '24h' } },
    acl: { enabled: true, default_policy: 'deny', tokens: { initial_management: 'b1f0', default: '' } },
    ui_config: { enabled: true }, ports: { grpc: 8502 }
  }]])
  assert.equal(config.nodeName, 'srv-1')
  assert.equal(config.bootstrapExpect, 3)
  assert.equal(config.bootstrap, false)
  assert.equal(config.advertiseAddr, '10.0.0.11')
  assert.deepEqual(config.clientAddrs, ['0.0.0.0'])
  assert.equal(config.encrypt, key)
  assert.deepEqual(config.acl.tokens, { initialManagement: 'b1f0' }) // "" means unset
  assert.equal(config.acl.defaultPolicy, 'deny')
  assert.equal(config.uiEnabled, true)
  assert.equal(config.ports.grpc, 8502)
})

test('derived values: primary_datacenter follows datacenter; Raft ticks follow raft_multiplier', () => {
  const config = configOf([...SERVER, '-datacenter=eu-1'], [['/p.json', { performance: { raft_multiplier: 2 } }]])
  assert.equal(config.primaryDatacenter, 'eu-1')
  assert.deepEqual(config.raft, { tickMs: 20, electionTicks: 20, heartbeatTicks: 2 })
  assert.equal(configOf([...SERVER, '-datacenter=eu-1'], [['/p.json', { primary_datacenter: 'us-1' }]]).primaryDatacenter, 'us-1')
})

test('advertise address: explicit, else the bind address, else the only private IPv4 when binding 0.0.0.0', () => {
  assert.equal(configOf([...SERVER, '-advertise=10.1.1.1']).advertiseAddr, '10.1.1.1')
  assert.equal(configOf([...SERVER, '-bind=127.0.0.11']).advertiseAddr, '127.0.0.11')
  assert.equal(configOf(SERVER).advertiseAddr, '10.0.0.5')
})

test('values are normalised as Consul does: datacenter and node_id lowercased, log level names mapped', () => {
  const config = configOf([...SERVER, '-datacenter=DC2', '-node-id=6F1A2C9E-2B7D-4F0C-9D4A-1E5B7C3A9F10', '-log-level=ERR'])
  assert.equal(config.datacenter, 'dc2')
  assert.equal(config.nodeId, '6f1a2c9e-2b7d-4f0c-9d4a-1e5b7c3a9f10')
  assert.equal(config.logLevel, 'error')
  assert.equal(configOf([...SERVER, '-log-level', 'Warn']).logLevel, 'warn')
})

test('durations are Go duration strings, in milliseconds', () => {
  const config = configOf([...SERVER, '-retry-interval=1m30s', '-retry-max=5'], [['/d.json', { acl: { token_ttl: '1.5s' }, max_query_time: '1h' }]])
  assert.equal(config.retryIntervalMs, 90_000)
  assert.equal(config.retryMaxAttempts, 5)
  assert.equal(config.acl.tokenTtlMs, 1500)
  assert.equal(config.maxQueryTimeMs, 3_600_000)
})

test('port 0 is accepted (OS-assigned, used by tests) and -1 disables a listener', () => {
  const config = configOf([...SERVER, '-http-port=0', '-server-port', '0', '-dns-port=-1', '-serf-lan-port=0'])
  assert.equal(config.ports.http, 0)
  assert.equal(config.ports.server, 0)
  assert.equal(config.ports.serfLan, 0)
  assert.equal(config.ports.dns, -1)
})

test('the environment is not read (CONSUL_HTTP_ADDR is for client commands)', () => {
  const env = { CONSUL_HTTP_ADDR: '10.9.9.9:8500', WEFT_HTTP_ADDR: '10.9.9.9:8500', CONSUL_DATACENTER: 'x', CONSUL_HTTP_TOKEN: 't' }
  const withEnv = buildConfig({ flags: { kind: 'flags', flags: [{ name: 'data-dir', spelled: '-data-dir', value: '/var/lib/weft' }], configPaths: [], configFormat: null }, files: [], host: HOST, env })
  assert.ok(withEnv.ok)
  assert.deepEqual(withEnv.config, CLIENT_DEFAULTS)
})

test('the Config is deep-frozen, including raw service definitions; the input files are not', () => {
  const data = { service: { name: 'web', tags: ['v1'] }, node_meta: { rack: 'r1' } }
  const config = configOf(SERVER, [['/s.json', data]])
  assert.ok(!Object.isFrozen(data.service.tags))
  assert.ok(!Object.isFrozen(data.node_meta))
  assert.ok(Object.isFrozen(config.nodeMeta))
  assert.ok(Object.isFrozen(config))
  assert.ok(Object.isFrozen(config.ports))
  assert.ok(Object.isFrozen(config.acl.tokens))
  assert.ok(Object.isFrozen(config.retryJoin))
  assert.ok(Object.isFrozen(config.services[0]?.definition.tags))
  assert.throws(() => { (config.ports as { http: number }).http = 1 }, TypeError)
  assert.throws(() => { (config.retryJoin as string[]).push('x') }, TypeError)
  assert.equal(config.ports.http, 8500)
})

test('building twice from the same input gives equal configs (no hidden state)', () => {
  assert.deepEqual(configOf(['-dev']), configOf(['-dev']))
  assert.deepEqual(warningsOf(['-dev']), [])
})
