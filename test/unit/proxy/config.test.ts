/**
 * Proxy configuration from `weft connect proxy` flags and from a sidecar registration
 * (src/proxy/config.ts), and the CLI's parse and banner (cmd/commands/connect-proxy.ts).
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { configFromAgentService, configFromFlags, findSidecarProxyId, parseHostPort, parseUpstreamFlag } from '../../../src/proxy/config.js'
import { formatBanner, parseConnectProxy } from '../../../cmd/commands/connect-proxy.js'
import type { FlagValues } from '../../../cmd/flags.js'

function flags (entries: Record<string, string | boolean | readonly string[]>): FlagValues {
  return new Map(Object.entries(entries))
}

test('parseUpstreamFlag: NAME:PORT and NAME:HOST:PORT, .service suffix, refusals naming the value', () => {
  assert.deepEqual(parseUpstreamFlag('socat:9191'), { destinationName: 'socat', datacenter: '', localBindAddress: '127.0.0.1', localBindPort: 9191, connectTimeoutMs: 10_000 })
  assert.equal(parseUpstreamFlag('socat.service:10.0.0.5:9191').localBindAddress, '10.0.0.5')
  assert.equal(parseUpstreamFlag('socat.service:9191').destinationName, 'socat')
  assert.throws(() => parseUpstreamFlag('socat'), /-upstream must be NAME:PORT or NAME:HOST:PORT, got "socat"/)
  assert.throws(() => parseUpstreamFlag('socat:99999'), /port in 0\.\.65535, got ":99999"/)
  assert.throws(() => parseUpstreamFlag('db.query:9191'), /prepared-query upstreams/)
  assert.throws(() => parseUpstreamFlag('bad name:9191'), /service name/)
  assert.deepEqual(parseHostPort('[::1]:8443', 'x'), { host: '::1', port: 8443 })
  assert.deepEqual(parseHostPort(':8443', 'x'), { host: '', port: 8443 })
})

test('configFromFlags: -listen needs -service-addr; duplicate binds are refused', () => {
  const config = configFromFlags({ service: 'socat', upstreams: [], listen: ':21000', serviceAddr: '127.0.0.1:8181' })
  assert.deepEqual(config.publicListener, { bindAddress: '0.0.0.0', bindPort: 21000, localServiceAddress: '127.0.0.1', localServicePort: 8181, localConnectTimeoutMs: 1_000, handshakeTimeoutMs: 10_000 })
  assert.throws(() => configFromFlags({ service: 'socat', upstreams: [], listen: ':21000', serviceAddr: undefined }), /-service-addr must be specified with -listen so the proxy knows the backend service address\./)
  assert.throws(() => configFromFlags({ service: 'web', upstreams: ['a:9000', 'b:127.0.0.1:9000'], listen: undefined, serviceAddr: undefined }), /upstreams cannot contain duplicates: two upstreams bind 127\.0\.0\.1:9000/)
})

const sidecar = {
  Kind: 'connect-proxy', ID: 'web-sidecar-proxy', Service: 'web-sidecar-proxy', Port: 21000, Address: '',
  Proxy: {
    DestinationServiceName: 'web', DestinationServiceID: 'web', LocalServiceAddress: '127.0.0.1', LocalServicePort: 8080,
    Upstreams: [{ DestinationType: 'service', DestinationName: 'socat', LocalBindPort: 9191 }, { DestinationName: 'db', LocalBindAddress: '127.0.0.2', LocalBindPort: 5432, Datacenter: 'dc2', Config: { connect_timeout_ms: 2500 } }]
  }
}

test('configFromAgentService: a sidecar registration becomes the public listener, local app and upstreams (spec §7.4)', () => {
  const config = configFromAgentService(sidecar)
  assert.equal(config.service, 'web')
  assert.deepEqual(config.publicListener, { bindAddress: '0.0.0.0', bindPort: 21000, localServiceAddress: '127.0.0.1', localServicePort: 8080, localConnectTimeoutMs: 1_000, handshakeTimeoutMs: 10_000 })
  assert.deepEqual(config.upstreams, [
    { destinationName: 'socat', datacenter: '', localBindAddress: '127.0.0.1', localBindPort: 9191, connectTimeoutMs: 10_000 },
    { destinationName: 'db', datacenter: 'dc2', localBindAddress: '127.0.0.2', localBindPort: 5432, connectTimeoutMs: 2_500 }
  ])
  const configured = configFromAgentService({ ...sidecar, Address: '10.0.0.7', Proxy: { ...sidecar.Proxy, Config: { bind_address: '127.0.0.9', bind_port: 21001, local_service_address: '127.0.0.3:9000' } } })
  assert.equal(configured.publicListener?.bindAddress, '127.0.0.9')
  assert.equal(configured.publicListener?.bindPort, 21001)
  assert.equal(configured.publicListener?.localServicePort, 9000)
  assert.equal(configFromAgentService({ ...sidecar, Proxy: { Config: { local_service_address: '127.0.0.1:8181' } }, ProxyDestination: 'legacy', Port: 20000 } as never).service, 'legacy')
  assert.throws(() => configFromAgentService({ ...sidecar, Kind: '' }), /is not a connect-proxy/)
  assert.throws(() => configFromAgentService({ ...sidecar, Proxy: { ...sidecar.Proxy, Upstreams: [{ DestinationType: 'prepared_query', DestinationName: 'q', LocalBindPort: 1 }] } }), /DestinationType "prepared_query" is not supported/)
})

test('findSidecarProxyId finds the one connect-proxy for a service, with Consul\'s errors otherwise', () => {
  const services = { web: { ID: 'web', Service: 'web' }, 'web-sidecar-proxy': sidecar }
  assert.equal(findSidecarProxyId(services, 'web'), 'web-sidecar-proxy')
  assert.throws(() => findSidecarProxyId(services, 'socat'), /^.*No sidecar proxy registered for socat$/)
  const two = { ...services, other: { ...sidecar, ID: 'other-proxy' } }
  assert.throws(() => findSidecarProxyId(two, 'web'), /More than one sidecar proxy registered for web\.\n {4}Start proxy with -proxy-id and one of the following IDs: other-proxy, web-sidecar-proxy/)
})

test('weft connect proxy: parse errors use Consul\'s texts; the banner matches the tutorial', () => {
  assert.throws(() => parseConnectProxy({ flags: flags({}), args: [] }), /-service or -proxy-id must be specified so that proxy can configure itself\./)
  assert.throws(() => parseConnectProxy({ flags: flags({ service: 'web' }), args: ['extra'] }), /Should have no non-flag arguments\./)
  assert.throws(() => parseConnectProxy({ flags: flags({ service: 'web', register: true }), args: [] }), /-register may only be specified with -service and -listen/)
  assert.throws(() => parseConnectProxy({ flags: flags({ service: 'web', 'log-level': 'loud' }), args: [] }), /-log-level/)
  const tutorial = parseConnectProxy({ flags: flags({ service: 'web', upstream: ['socat:9191'] }), args: [] })
  assert.equal(formatBanner(tutorial), [
    '==> weft Connect proxy starting...',
    '    Configuration mode: Flags',
    '               Service: web',
    '              Upstream: socat => :9191',
    '       Public listener: Disabled',
    '',
    '==> Log data will now stream in as it occurs:',
    '', ''
  ].join('\n'))
  const inbound = parseConnectProxy({ flags: flags({ service: 'socat', listen: ':8443', 'service-addr': '127.0.0.1:8181', 'log-level': 'ERR' }), args: [] })
  assert.match(formatBanner(inbound), /\n {7}Public listener: :8443 => 127\.0\.0\.1:8181\n/)
  assert.equal(inbound.logLevel, 'error')
  const sidecarMode = parseConnectProxy({ flags: flags({ 'sidecar-for': 'web' }), args: [] })
  assert.match(formatBanner(sidecarMode, 'web-sidecar-proxy'), /Configuration mode: Agent API\n {8}Sidecar for ID: web\n {14}Proxy ID: web-sidecar-proxy\n/)
})
