/**
 * Validation: every rule with its exact message (key as the user wrote it, value received,
 * what was expected), and every problem reported at once rather than the first.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { build, CLIENT, configOf, errorsOf, SERVER, warningsOf } from './helpers.js'

const FILE = '/etc/weft/server.json'
const key16 = Buffer.alloc(16, 1).toString('base64')
const key24 = Buffer.alloc(24, 2).toString('base64')
const key32 = Buffer.alloc(32, 3).toString('base64')

test('every problem is reported at once, in merge order (files, then flags), then relations', () => {
  const result = build(['-http-port=80a', '-log-level=loud', '-dns-port=8301'], [[FILE, {
    bootstrap_expect: 'three',
    server: 'yes',
    encrypt: 'c2hvcnQ=',
    ports: { serf_lan: 70000, sidecar_min_port: 30000 },
    datacenter: 'DC 1'
  }]])
  assert.equal(result.ok, false)
  assert.ok(!result.ok)
  assert.deepEqual(result.errors.map((item) => item.message), [
    `bootstrap_expect in ${FILE} must be an integer >= 0, got "three"`,
    `server in ${FILE} must be true or false, got "yes"`,
    `encrypt in ${FILE} must be a base64-encoded key of 16, 24 or 32 bytes ("weft keygen" prints one), got a value of 8 characters (it decodes to 5 bytes)`,
    `ports.serf_lan in ${FILE} must be an integer in 1..65535 or 0 for an OS-assigned port, got 70000`,
    `datacenter in ${FILE} must be a name of lowercase letters, digits, "-" and "_", got "DC 1"`,
    '-http-port must be an integer in 1..65535, 0 for an OS-assigned port or -1 to disable, got "80a"',
    '-log-level must be one of "TRACE", "DEBUG", "INFO", "WARN", "ERR" (any case), got "loud"',
    'data_dir is required unless -dev is given: set "data_dir" in a config file or pass -data-dir DIR',
    `ports.sidecar_min_port in ${FILE} (30000) must be <= ports.sidecar_max_port (default) (21255); to turn sidecar port allocation off, set both to 0`,
    '-dns-port and ports.serf_lan (default) are both 8301 on 127.0.0.1: listeners on the same address need distinct ports'
  ])
  assert.deepEqual(result.errors[0], { key: 'bootstrap_expect', source: FILE, message: result.errors[0]?.message })
  assert.deepEqual(result.errors[5], { key: '-http-port', source: 'command line', message: result.errors[5]?.message })
})

test('file values are strictly typed, as in Consul', () => {
  assert.deepEqual(errorsOf(SERVER, [[FILE, { bootstrap_expect: '3', retry_max: 1.5, log_json: 'true', retry_join: '10.0.0.1' }]]), [
    `bootstrap_expect in ${FILE} must be an integer >= 0, got "3"`,
    `retry_max in ${FILE} must be an integer >= 0, got 1.5`,
    `log_json in ${FILE} must be true or false, got "true"`,
    `retry_join in ${FILE} must be a list of addresses, got "10.0.0.1"`
  ])
})

test('flag values use Go parsing: booleans 1/0/t/f/TRUE/False..., integers with an optional sign', () => {
  assert.equal(configOf([...SERVER, '-ui=1']).uiEnabled, true)
  assert.equal(configOf([...SERVER, '-ui=F']).uiEnabled, false)
  assert.equal(configOf([...SERVER, '-bootstrap-expect=+3']).bootstrapExpect, 3)
  assert.deepEqual(errorsOf([...SERVER, '-ui=yes', '-bootstrap-expect=-1', '-retry-max=1e3']), [
    '-ui must be true or false, got "yes"',
    '-bootstrap-expect must be an integer >= 0, got "-1"',
    '-retry-max must be an integer >= 0, got "1e3"'
  ])
  assert.deepEqual(errorsOf(['-dev=maybe', ...SERVER]), ['-dev must be true or false, got "maybe"'])
})

test('bootstrap_expect and bootstrap need server mode', () => {
  assert.deepEqual(errorsOf(CLIENT, [[FILE, { bootstrap_expect: 3, bootstrap: true }]]), [
    `bootstrap_expect in ${FILE} (3) needs server mode, but server (default) is false: set "server": true in a config file or pass -server`,
    `bootstrap in ${FILE} (true) needs server mode, but server (default) is false: set "server": true in a config file or pass -server`
  ])
  assert.deepEqual(errorsOf([...CLIENT, '-server=false', '-bootstrap']), [
    '-bootstrap (true) needs server mode, but -server is false: set "server": true in a config file or pass -server'
  ])
})

test('bootstrap and bootstrap_expect > 1 are mutually exclusive', () => {
  assert.deepEqual(errorsOf([...SERVER, '-bootstrap', '-bootstrap-expect=3']), [
    '-bootstrap (true) and -bootstrap-expect (3) are mutually exclusive: use bootstrap_expect for a cluster of several servers, or bootstrap alone for a single server'
  ])
})

test('bootstrap_expect = 1 means bootstrap (with a warning); 2 and even counts warn', () => {
  const config = configOf([...SERVER, '-bootstrap-expect=1'])
  assert.equal(config.bootstrap, true)
  assert.equal(config.bootstrapExpect, 0)
  assert.deepEqual(warningsOf([...SERVER, '-bootstrap-expect=1']), ['-bootstrap-expect (1) is the same as "bootstrap": true: this server elects itself'])
  assert.deepEqual(warningsOf([...SERVER, '-bootstrap-expect=2']), ['-bootstrap-expect (2): a cluster of 2 servers has no failure tolerance'])
  assert.deepEqual(warningsOf([...SERVER], [[FILE, { bootstrap_expect: 4 }]]), [
    `bootstrap_expect in ${FILE} (4) is even: an odd number of servers tolerates the same failures with fewer machines`
  ])
  assert.deepEqual(warningsOf([...SERVER, '-bootstrap-expect=3']), [])
  assert.deepEqual(warningsOf([...SERVER, '-bootstrap']), ['-bootstrap (true): this server elects itself; do not enable it on more than one server'])
})

test('-dev refuses bootstrap_expect > 1 (a dev agent elects itself)', () => {
  assert.deepEqual(errorsOf(['-dev', '-bootstrap-expect=3']), [
    '-bootstrap-expect (3) is not allowed with -dev: a dev agent is a single server that elects itself'
  ])
})

test('data_dir is required unless -dev', () => {
  const result = build(['-server'])
  assert.ok(!result.ok)
  assert.deepEqual(result.errors, [{
    key: 'data_dir', source: 'defaults',
    message: 'data_dir is required unless -dev is given: set "data_dir" in a config file or pass -data-dir DIR'
  }])
  // a bad data_dir is reported once, without a follow-on "required"
  assert.deepEqual(errorsOf(['-server', '-data-dir=']), ['-data-dir must be a non-empty string, got ""'])
  assert.deepEqual(errorsOf([...SERVER, '-node=a b', '-advertise=x'], [], { hostname: '', privateIpv4Addresses: [] }), [
    '-node must be a name of letters, digits, ".", "-" and "_" (at most 128), starting with a letter or digit, got "a b"',
    '-advertise must be an IP address other than 0.0.0.0 or ::, got "x"'
  ])
})

test('ports: range, -1 only where a listener can be disabled, distinct on the same address', () => {
  assert.deepEqual(errorsOf([...SERVER, '-server-port=-1', '-https-port=-2', '-grpc-port=65536']), [
    '-server-port must be an integer in 1..65535 or 0 for an OS-assigned port, got "-1"',
    '-https-port must be an integer in 1..65535, 0 for an OS-assigned port or -1 to disable, got "-2"',
    '-grpc-port must be an integer in 1..65535, 0 for an OS-assigned port or -1 to disable, got "65536"'
  ])
  assert.deepEqual(errorsOf(SERVER, [[FILE, { ports: { http: 8300 } }]]), [
    `ports.http in ${FILE} and ports.server (default) are both 8300 on 127.0.0.1: listeners on the same address need distinct ports`
  ])
  assert.deepEqual(errorsOf(SERVER, [[FILE, { client_addr: '0.0.0.0', bind_addr: '10.0.0.5', ports: { dns: 8302 } }]]), [
    `ports.dns in ${FILE} and ports.serf_wan (default) are both 8302 on 10.0.0.5: listeners on the same address need distinct ports`
  ])
})

test('ports may repeat on different addresses, and disabled or OS-assigned ports never clash', () => {
  configOf([...SERVER, '-bind=10.0.0.5', '-http-port=8300'])
  configOf([...SERVER, '-http-port=0', '-dns-port=0', '-https-port=-1'])
})

test('sidecar and expose ranges: min <= max, or both 0 to turn allocation off', () => {
  assert.deepEqual(errorsOf(SERVER, [[FILE, { ports: { sidecar_min_port: 0, expose_min_port: 22000, expose_max_port: 21000 } }]]), [
    `ports.sidecar_min_port in ${FILE} (0) and ports.sidecar_max_port (default) (21255) must both be 0 (sidecar port allocation off) or both be set`,
    `ports.expose_min_port in ${FILE} (22000) must be <= ports.expose_max_port in ${FILE} (21000); to turn expose port allocation off, set both to 0`
  ])
  const off = configOf(SERVER, [[FILE, { ports: { sidecar_min_port: 0, sidecar_max_port: 0 } }]])
  assert.equal(off.ports.sidecarMinPort, 0)
})

test('encrypt: standard base64 of 16, 24 or 32 bytes; the key itself is never echoed', () => {
  for (const key of [key16, key24, key32]) assert.equal(configOf([...SERVER, `-encrypt=${key}`]).encrypt, key)
  assert.deepEqual(errorsOf([...SERVER, '-encrypt', 'not base64!']), [
    '-encrypt must be a base64-encoded key of 16, 24 or 32 bytes ("weft keygen" prints one), got a value of 11 characters (not valid standard base64)'
  ])
  assert.deepEqual(errorsOf(SERVER, [[FILE, { encrypt: 12345 }]]), [
    `encrypt in ${FILE} must be a base64-encoded key of 16, 24 or 32 bytes ("weft keygen" prints one), got a number`
  ])
  const unpadded = key16.replace(/=+$/, '')
  assert.equal(errorsOf([...SERVER, `-encrypt=${unpadded}`]).length, 1)
})

test('ACL tokens are never echoed; enumerations name the allowed values', () => {
  assert.deepEqual(errorsOf(SERVER, [[FILE, { acl: { default_policy: 'block', down_policy: 'cache', tokens: { agent: 42 } } }]]), [
    `acl.default_policy in ${FILE} must be one of "allow", "deny", got "block"`,
    `acl.down_policy in ${FILE} must be one of "allow", "deny", "extend-cache", "async-cache", got "cache"`,
    `acl.tokens.agent in ${FILE} must be a string, got a number`
  ])
})

test('node_name: letters, digits, ".", "-", "_"; a name that is not a DNS label only warns (as Consul)', () => {
  assert.deepEqual(errorsOf([...SERVER, '-node', 'web 1']), [
    '-node must be a name of letters, digits, ".", "-" and "_" (at most 128), starting with a letter or digit, got "web 1"'
  ])
  assert.deepEqual(warningsOf([...SERVER, '-node=web_1.example']), [
    '-node is "web_1.example", which is not a DNS label (letters, digits and "-", at most 63): the node will not be discoverable via DNS'
  ])
  assert.deepEqual(errorsOf(SERVER, [], { hostname: '', privateIpv4Addresses: ['10.0.0.5'] }), [
    'node_name (taken from the hostname; set node_name or pass -node) must be a name of letters, digits, ".", "-" and "_" (at most 128), starting with a letter or digit, got ""'
  ])
  assert.equal(configOf([...SERVER, '-node=s1'], [], { hostname: 'bad host', privateIpv4Addresses: ['10.0.0.5'] }).nodeName, 's1')
})

test('node_id must be a UUID; node_meta keys and values are checked', () => {
  assert.deepEqual(errorsOf([...SERVER, '-node-id=abc', '-node-meta=novalue', '-node-meta=consul-x:1'], [[FILE, { node_meta: { rack: 1 } }]]), [
    `node_meta in ${FILE} must be an object with string values, got {"rack":1} ("rack" is 1)`,
    '-node-id must be a UUID such as "6f1a2c9e-2b7d-4f0c-9d4a-1e5b7c3a9f10", got "abc"',
    '-node-meta must be key:value, got "novalue"',
    '-node-meta must be an object with string values, got "consul-x:1" (key "consul-x" uses the reserved prefix "consul-")'
  ])
  const many = Object.fromEntries(Array.from({ length: 65 }, (_, index) => [`k${index}`, 'v']))
  assert.deepEqual(errorsOf(SERVER, [[FILE, { node_meta: many }]]), [`node_meta in ${FILE} has 65 entries; at most 64 are allowed`])
})

test('addresses: IPs only (no go-sockaddr templates), advertise never 0.0.0.0', () => {
  assert.deepEqual(errorsOf([...SERVER, '-bind={{ GetPrivateIP }}', '-advertise=0.0.0.0', '-client=127.0.0.1 localhost']), [
    '-bind must be an IP address, got "{{ GetPrivateIP }}" (go-sockaddr templates are not supported; give an IP address)',
    '-advertise must be an IP address other than 0.0.0.0 or ::, got "0.0.0.0"',
    '-client must be one or more IP addresses separated by spaces, got "127.0.0.1 localhost" ("localhost" is not an IP address)'
  ])
  assert.deepEqual(configOf([...SERVER, '-client', '127.0.0.1 ::1']).clientAddrs, ['127.0.0.1', '::1'])
})

test('binding 0.0.0.0 needs exactly one private IPv4 to advertise, or an explicit address', () => {
  const none = { hostname: 'alpha', privateIpv4Addresses: [] }
  const two = { hostname: 'alpha', privateIpv4Addresses: ['10.0.0.5', '192.168.1.9'] }
  assert.deepEqual(errorsOf(SERVER, [], none), [
    'bind_addr (default) is 0.0.0.0 and no private IPv4 address was found to advertise: set advertise_addr (-advertise) or bind_addr (-bind) to the address other nodes should use'
  ])
  assert.deepEqual(errorsOf(SERVER, [], two), [
    'bind_addr (default) is 0.0.0.0 and several private IPv4 addresses were found (10.0.0.5, 192.168.1.9): set advertise_addr (-advertise) or bind_addr (-bind) to the address other nodes should use'
  ])
  assert.deepEqual(errorsOf([...SERVER, '-bind=::']), [
    '-bind is :: and weft does not detect an IPv6 address to advertise: set advertise_addr (-advertise) or bind_addr (-bind) to the address other nodes should use'
  ])
  assert.equal(configOf([...SERVER, '-advertise=192.168.1.9'], [], two).advertiseAddr, '192.168.1.9')
})

test('join addresses: host, host:port, IPv6; no cloud auto-join', () => {
  assert.deepEqual(errorsOf([...SERVER, '-retry-join=provider=aws tag_key=consul'], [[FILE, { retry_join: ['s1', 's2:99999'] }]]), [
    // list flags merge before files (Consul), so their problems come first
    '-retry-join must be an address such as "10.0.0.12", "10.0.0.12:8301", "server-2" or "[::1]:8301", got "provider=aws tag_key=consul" (cloud auto-join is not supported; list the addresses)',
    `retry_join in ${FILE} must be a list of addresses, got ["s1","s2:99999"] (bad entry "s2:99999": the port must be in 1..65535)`
  ])
  assert.deepEqual(configOf([...SERVER, '-retry-join=s1.example.com:8301', '-retry-join=fe80::1', '-retry-join=[fe80::1]:8301']).retryJoin,
    ['s1.example.com:8301', 'fe80::1', '[fe80::1]:8301'])
})

test('durations must be Go duration strings; positive where zero makes no sense', () => {
  assert.deepEqual(errorsOf([...SERVER, '-retry-interval=30', '-max-query-time=0s'], [[FILE, { acl: { token_ttl: 30 } }]]), [
    `acl.token_ttl in ${FILE} must be a positive duration such as "30s", "1m30s" or "500ms", got 30`,
    '-retry-interval must be a positive duration such as "30s", "1m30s" or "500ms", got "30"',
    '-max-query-time must be a positive duration such as "30s", "1m30s" or "500ms", got "0s"'
  ])
})

test('limits, performance and raft_protocol ranges', () => {
  assert.deepEqual(errorsOf(SERVER, [[FILE, {
    limits: { kv_max_value_size: 0, txn_max_req_len: 2 ** 40, http_max_conns_per_client: -1 },
    performance: { raft_multiplier: 11 },
    raft_protocol: 2
  }]]), [
    `limits.kv_max_value_size in ${FILE} must be an integer in 1..67108864, got 0`,
    `limits.txn_max_req_len in ${FILE} must be an integer in 1..67108864, got 1099511627776`,
    `limits.http_max_conns_per_client in ${FILE} must be an integer >= 0, got -1`,
    `performance.raft_multiplier in ${FILE} must be an integer in 1..10, got 11`,
    `raft_protocol in ${FILE} must be an integer in 3..3, got 2`
  ])
})

test('connect: only the built-in "consul" CA provider; ca_config must be an object', () => {
  assert.deepEqual(errorsOf(SERVER, [[FILE, { connect: { ca_provider: 'vault', ca_config: 'x' } }]]), [
    `connect.ca_provider in ${FILE} must be "consul" (weft has only the built-in CA provider), got "vault"`,
    `connect.ca_config in ${FILE} must be an object, got "x"`
  ])
})

test('http_config.response_headers must be valid header names and values', () => {
  assert.deepEqual(errorsOf(SERVER, [[FILE, { http_config: { response_headers: { 'Bad Header': 'x' } } }]]), [
    `http_config.response_headers in ${FILE} must be an object with string values, got {"Bad Header":"x"} ("Bad Header" is not a valid header name)`
  ])
})

test('service definitions must be objects (their contents are checked by the agent)', () => {
  assert.deepEqual(errorsOf(SERVER, [[FILE, { service: ['web'], services: { name: 'db' } }]]), [
    `service in ${FILE} must be an object, got ["web"]`,
    `services in ${FILE} must be a list of objects, got {"name":"db"}`
  ])
})

test('server-only settings on a client are ignored with a warning (as Consul)', () => {
  assert.deepEqual(warningsOf(CLIENT, [[FILE, { connect: { ca_config: { leaf_cert_ttl: '1h' } }, acl: { tokens: { initial_management: 's3cr3t' } } }]]), [
    `connect.ca_config in ${FILE} has no effect on a client agent (server (default) is false)`,
    `acl.tokens.initial_management in ${FILE} has no effect on a client agent (server (default) is false)`
  ])
  assert.deepEqual(warningsOf(SERVER, [[FILE, { connect: { ca_config: { leaf_cert_ttl: '1h' } } }]]), [])
})
