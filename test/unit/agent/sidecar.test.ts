/**
 * Sidecar expansion and port allocation (spec §3.4.1, §3.4.4): Consul's defaults for every
 * field of a sidecar_service, overrides taken as given, default checks, the lowest free port in
 * the range, a registered sidecar keeping its port, the persisted port preferred when free,
 * Consul's texts when allocation is off or the range is exhausted, and the legacy managed proxy.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { decodeServiceDefinition } from '../../../src/api/service-definition.js'
import {
  allocatePort, expandManagedProxy, expandSidecar, serviceCheckRecords, serviceRecord, sidecarPortError
} from '../../../src/agent/services/sidecar.js'

const decode = (raw: unknown, origin: 'api' | 'config' = 'api'): ReturnType<typeof decodeServiceDefinition> => decodeServiceDefinition(raw, { origin })

test('defaults: ID, name, kind, tags and meta copied from the parent, proxy destination and local service', () => {
  const definition = decode({ name: 'web', id: 'web-1', port: 8080, tags: ['v1'], meta: { team: 'a' }, address: '10.0.0.5', connect: { sidecar_service: {} } })
  const parent = serviceRecord(definition)
  const sidecar = expandSidecar(parent, definition.sidecarService!, { port: 21000, parentToken: 'parent-token' })
  assert.deepEqual(sidecar.service, {
    ID: 'web-1-sidecar-proxy',
    Service: 'web-sidecar-proxy',
    Kind: 'connect-proxy',
    Tags: ['v1'],
    Address: '10.0.0.5',
    TaggedAddresses: {},
    Meta: { team: 'a' },
    Port: 21000,
    SocketPath: '',
    Weights: { Passing: 1, Warning: 1 },
    EnableTagOverride: false,
    Proxy: {
      DestinationServiceName: 'web', DestinationServiceID: 'web-1', LocalServiceAddress: '127.0.0.1', LocalServicePort: 8080,
      LocalServiceSocketPath: '', Mode: '', TransparentProxy: null, Config: null, Upstreams: [], MeshGateway: {}, Expose: {}
    },
    ConnectNative: false
  })
  assert.equal(sidecar.token, 'parent-token')
  const checks = serviceCheckRecords(sidecar.service, sidecar.checks)
  assert.deepEqual(checks.map(check => [check.record.CheckID, check.record.Name, check.record.Type, check.definition.tcp, check.definition.aliasService]), [
    ['service:web-1-sidecar-proxy:1', 'Connect Sidecar Listening', 'tcp', '10.0.0.5:21000', ''],
    ['service:web-1-sidecar-proxy:2', 'Connect Sidecar Aliasing web-1', 'alias', '', 'web-1']
  ])
})

test('overrides are kept: name, tags, meta, port, proxy local service, checks, token', () => {
  const definition = decode({
    name: 'web', port: 8080, tags: ['v1'],
    connect: {
      sidecar_service: {
        name: 'edge', tags: ['mine'], meta: { m: '1' }, port: 19000, token: 'sidecar-token',
        proxy: { local_service_address: '127.0.0.2', local_service_port: 8443, config: { handshake_timeout_ms: 5000 } },
        check: { name: 'custom', ttl: '10s' }
      }
    }
  })
  const sidecar = expandSidecar(serviceRecord(definition), definition.sidecarService!, { port: 21000, parentToken: '' })
  assert.deepEqual([sidecar.service.Service, sidecar.service.Tags, sidecar.service.Meta, sidecar.service.Port, sidecar.token], ['edge', ['mine'], { m: '1' }, 19000, 'sidecar-token'])
  assert.deepEqual([sidecar.service.Proxy?.LocalServiceAddress, sidecar.service.Proxy?.LocalServicePort, sidecar.service.Proxy?.Config], ['127.0.0.2', 8443, { handshake_timeout_ms: 5000 }])
  const checks = serviceCheckRecords(sidecar.service, sidecar.checks)
  assert.deepEqual(checks.map(check => [check.record.CheckID, check.record.Name]), [['service:web-sidecar-proxy', 'custom']])
})

test('a parent with a socket path gives the sidecar LocalServiceSocketPath; the TCP check falls back to the local address', () => {
  const definition = decode({ name: 'web', socket_path: '/run/web.sock', connect: { sidecar_service: {} } })
  const sidecar = expandSidecar(serviceRecord(definition), definition.sidecarService!, { port: 21000, parentToken: '' })
  assert.equal(sidecar.service.Proxy?.LocalServiceSocketPath, '/run/web.sock')
  assert.equal(sidecar.service.Proxy?.LocalServiceAddress, '')
})

test('config files may not name a sidecar ID; HTTP silently overrides it', () => {
  assert.throws(() => decode({ name: 'web', connect: { sidecar_service: { id: 'x' } } }, 'config'), { message: 'sidecar_service can\'t specify an ID' })
  const definition = decode({ name: 'web', connect: { sidecar_service: { id: 'x' } } })
  assert.equal(expandSidecar(serviceRecord(definition), definition.sidecarService!, { port: 21000, parentToken: '' }).service.ID, 'web-sidecar-proxy')
})

test('port allocation: lowest free port, current port kept, previous port preferred when free', () => {
  const range = { min: 21000, max: 21003 }
  const base = { serviceId: 'web-sidecar-proxy', range, currentPort: null, previousPort: null }
  assert.equal(allocatePort({ ...base, usedPorts: new Set() }), 21000)
  assert.equal(allocatePort({ ...base, usedPorts: new Set([21000, 21002]) }), 21001)
  assert.equal(allocatePort({ ...base, usedPorts: new Set([21000]), currentPort: 21003 }), 21003, 'a registered sidecar keeps its port')
  assert.equal(allocatePort({ ...base, usedPorts: new Set(), currentPort: 8080 }), 21000, 'a port outside the range is not kept')
  assert.equal(allocatePort({ ...base, usedPorts: new Set(), previousPort: 21002 }), 21002, 'the port from before a restart')
  assert.equal(allocatePort({ ...base, usedPorts: new Set([21002]), previousPort: 21002 }), 21000, 'unless another service has it now')
  assert.equal(allocatePort({ ...base, usedPorts: new Set([21000, 21001, 21002, 21003]) }), null)
  assert.equal(allocatePort({ ...base, range: { min: 0, max: 0 }, usedPorts: new Set() }), null)
})

test('no port: Consul\'s texts for allocation off and an exhausted range (500s)', () => {
  const off = sidecarPortError({ min: 0, max: 0 })
  assert.equal(off.code, 'ERR_REJECTED')
  assert.equal(off.message, 'no port provided for sidecar_service and auto-assignment disabled in config')
  assert.equal(sidecarPortError({ min: 21000, max: 21255 }).message, 'no port provided for sidecar_service and none left in the configured range [21000, 21255]')
})

test('managed proxy (connect.proxy): <id>-proxy, bind_port or the allocated port, upstreams from config.upstreams (1.2 form)', () => {
  const definition = decode({
    name: 'web', port: 8080,
    connect: { proxy: { config: { upstreams: [{ destination_name: 'socat', local_bind_port: 9191 }] } } }
  }, 'config')
  const managed = definition.managedProxy!
  assert.deepEqual(managed.upstreams.map(upstream => [upstream.DestinationName, upstream.LocalBindPort]), [['socat', 9191]])
  const proxy = expandManagedProxy(serviceRecord(definition), managed, { port: 20000 })
  assert.deepEqual([proxy.service.ID, proxy.service.Service, proxy.service.Kind, proxy.service.Port, proxy.service.Address], ['web-proxy', 'web-proxy', 'connect-proxy', 20000, ''])
  assert.deepEqual([proxy.service.Proxy?.DestinationServiceName, proxy.service.Proxy?.LocalServiceAddress, proxy.service.Proxy?.LocalServicePort], ['web', '127.0.0.1', 8080])
  assert.deepEqual(proxy.checks.map(check => [check.name, check.tcp]), [['Connect Proxy Listening', '127.0.0.1:20000']])
})
