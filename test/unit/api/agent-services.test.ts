/**
 * Local services and checks over HTTP (spec §3): registration bodies (case-insensitive keys,
 * snake_case), the AgentService and HealthCheck shapes, sidecar_service as the spec's example
 * shows it, Consul's 400 texts for bad bodies, 404s for unknown IDs, TTL updates, maintenance,
 * hash blocking on /v1/agent/service/<id>, and the health-by-id/name status codes. The agent
 * behind the API is the real LocalServices (not started: no anti-entropy).
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { request, requestJson, startApiFor, type ApiHarness } from '../../support/api-harness.js'

const put = async (url: string, body?: unknown): Promise<{ status: number, text: string }> =>
  await request(url, { method: 'PUT', ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }) })

async function services (h: ApiHarness): Promise<Record<string, Record<string, unknown>>> {
  const answer = await requestJson(`${h.base}/v1/agent/services`)
  assert.equal(answer.status, 200)
  return answer.json as Record<string, Record<string, unknown>>
}

async function checks (h: ApiHarness): Promise<Record<string, Record<string, unknown>>> {
  return (await requestJson(`${h.base}/v1/agent/checks`)).json as Record<string, Record<string, unknown>>
}

test('register: lenient keys; /v1/agent/services shows Consul\'s AgentService with Tags [] and Meta {} forced', async (t) => {
  const h = await startApiFor(t)
  const response = await put(`${h.base}/v1/agent/service/register`, {
    name: 'billing', id: 'billing-1', PORT: 9090, tags: ['v2'], meta: { team: 'payments' }, enable_tag_override: true,
    weights: { passing: 3, warning: 1 }, unknown_field: 'ignored'
  })
  assert.equal(response.status, 200)
  assert.equal(response.text, '')
  await put(`${h.base}/v1/agent/service/register`, { Name: 'plain' })
  assert.deepEqual(await services(h), {
    'billing-1': {
      ID: 'billing-1', Service: 'billing', Tags: ['v2'], Meta: { team: 'payments' }, Port: 9090, Address: '',
      Weights: { Passing: 3, Warning: 1 }, EnableTagOverride: true, Datacenter: 'dc1'
    },
    plain: { ID: 'plain', Service: 'plain', Tags: [], Meta: {}, Port: 0, Address: '', Weights: { Passing: 1, Warning: 1 }, EnableTagOverride: false, Datacenter: 'dc1' }
  })
})

test('sidecar_service expands as spec §3.4.1 shows: ID, name, kind, port 21000, proxy defaults, upstream', async (t) => {
  const h = await startApiFor(t)
  const response = await put(`${h.base}/v1/agent/service/register`, {
    name: 'web', port: 8080,
    connect: { sidecar_service: { proxy: { upstreams: [{ destination_name: 'socat', local_bind_port: 9191 }] } } }
  })
  assert.equal(response.status, 200, response.text)
  assert.deepEqual(await services(h), {
    web: { ID: 'web', Service: 'web', Tags: [], Meta: {}, Port: 8080, Address: '', Weights: { Passing: 1, Warning: 1 }, EnableTagOverride: false, Datacenter: 'dc1' },
    'web-sidecar-proxy': {
      Kind: 'connect-proxy', ID: 'web-sidecar-proxy', Service: 'web-sidecar-proxy', Tags: [], Meta: {}, Port: 21000, Address: '',
      Weights: { Passing: 1, Warning: 1 }, EnableTagOverride: false, Datacenter: 'dc1',
      Proxy: {
        DestinationServiceName: 'web', DestinationServiceID: 'web', LocalServiceAddress: '127.0.0.1', LocalServicePort: 8080, Mode: '',
        MeshGateway: {}, Expose: {},
        Upstreams: [{ DestinationType: 'service', DestinationName: 'socat', LocalBindPort: 9191, MeshGateway: {} }]
      }
    }
  })
  const sidecarChecks = await checks(h)
  assert.deepEqual(Object.keys(sidecarChecks), ['service:web-sidecar-proxy:1', 'service:web-sidecar-proxy:2'])
  assert.deepEqual(
    { ...sidecarChecks['service:web-sidecar-proxy:1'], Output: undefined },
    {
      Node: 'alpha', CheckID: 'service:web-sidecar-proxy:1', Name: 'Connect Sidecar Listening', Status: 'critical', Notes: '', Output: undefined,
      ServiceID: 'web-sidecar-proxy', ServiceName: 'web-sidecar-proxy', ServiceTags: [], Type: 'tcp', Interval: '10s', ExposedPort: 0,
      Definition: { TCP: '127.0.0.1:21000', Interval: '10s' }, CreateIndex: 0, ModifyIndex: 0
    }
  )
  assert.equal(sidecarChecks['service:web-sidecar-proxy:2']?.Name, 'Connect Sidecar Aliasing web')
  assert.equal(sidecarChecks['service:web-sidecar-proxy:2']?.Type, 'alias')
  // A second sidecar gets the next free port; the first keeps its port when re-registered.
  await put(`${h.base}/v1/agent/service/register`, { name: 'api', port: 9000, connect: { sidecar_service: {} } })
  await put(`${h.base}/v1/agent/service/register`, { name: 'web', port: 8081, connect: { sidecar_service: {} } })
  const after = await services(h)
  assert.equal(after['api-sidecar-proxy']?.Port, 21001)
  assert.equal(after['web-sidecar-proxy']?.Port, 21000)
  assert.equal((after['web-sidecar-proxy']?.Proxy as Record<string, unknown>).LocalServicePort, 8081)
})

test('deregistering a parent removes its sidecar and every check; re-registering without sidecar_service removes the sidecar', async (t) => {
  const h = await startApiFor(t)
  await put(`${h.base}/v1/agent/service/register`, { name: 'web', port: 8080, check: { ttl: '30s' }, connect: { sidecar_service: {} } })
  assert.deepEqual(Object.keys(await services(h)).sort(), ['web', 'web-sidecar-proxy'])
  await put(`${h.base}/v1/agent/service/register`, { name: 'web', port: 8080 })
  assert.deepEqual(Object.keys(await services(h)), ['web'])
  assert.deepEqual(Object.keys(await checks(h)), ['service:web'], 'without ?replace-existing-checks the old check stays')
  await put(`${h.base}/v1/agent/service/register?replace-existing-checks`, { name: 'web', port: 8080, connect: { sidecar_service: {} } })
  assert.deepEqual(Object.keys(await checks(h)), ['service:web-sidecar-proxy:1', 'service:web-sidecar-proxy:2'])
  const response = await put(`${h.base}/v1/agent/service/deregister/web`)
  assert.equal(response.status, 200)
  assert.deepEqual(await services(h), {})
  assert.deepEqual(await checks(h), {})
  assert.equal((await put(`${h.base}/v1/agent/service/deregister/never-registered`)).status, 200, 'unknown ID: no-op')
})

test('bad bodies get Consul\'s 400 texts', async (t) => {
  const h = await startApiFor(t)
  const cases: Array<[unknown, string]> = [
    ['{', 'Request decode failed: '],
    [{ Port: 80 }, 'Missing service name'],
    [{ Name: 'x', Address: '0.0.0.0' }, 'Invalid service address'],
    [{ Name: 'x', Weights: { Passing: 0, Warning: 1 } }, 'Invalid Weights: Passing must be greater than 0'],
    [{ Name: 'x', Meta: { 'consul-x': 'y' } }, 'Invalid Service Meta: Couldn\'t load metadata pair (\'consul-x\', \'y\'): Key prefix \'consul-\' is reserved for internal use'],
    [{ Name: 'x', Meta: { 'bad key': 'y' } }, 'Invalid Service Meta: Couldn\'t load metadata pair (\'bad key\', \'y\'): Key contains invalid characters'],
    [{ Name: 'x', Port: '80a' }, 'Port must be an integer in 0..65535, got "80a"'],
    [{ Name: 'x', Check: { TTL: '0s' } }, 'Invalid check: TTL must be > 0 for TTL checks'],
    [{ Name: 'x', Check: { HTTP: 'http://127.0.0.1/' } }, 'Invalid check: Interval must be > 0 for Script, HTTP, H2PING, TCP or UDP checks'],
    [{ Name: 'x', Check: { TTL: '10s', Interval: '10s' } }, 'Invalid check: Interval and TTL cannot both be specified'],
    [{ Name: 'x', Checks: [{ TTL: '10s', Status: 'bogus' }] }, 'Status for checks must \'passing\', \'warning\', \'critical\''],
    [{ Name: 'x', Check: { GRPC: '127.0.0.1:1', Interval: '10s' } }, 'Invalid check: weft does not run gRPC checks (supported: TTL, HTTP, TCP and alias checks)'],
    [{ Name: 'p', Kind: 'connect-proxy', Port: 1 }, 'Validation failed: 1 error occurred:\n\t* Proxy.DestinationServiceName must be non-empty for Connect proxy services\n\n'],
    [{ Name: 'p', Kind: 'connect-proxy', Proxy: { DestinationServiceName: 'web' }, Connect: { Native: true } },
      'Validation failed: 2 errors occurred:\n\t* Port or SocketPath must be set for a Connect proxy\n\t* A Proxy cannot also be Connect Native, only typical services\n\n'],
    [{ Name: 'p', Kind: 'connect-proxy', Port: 1, Proxy: { DestinationServiceName: 'web', Upstreams: [{ DestinationName: 'a', LocalBindPort: 1 }, { DestinationName: 'b', LocalBindPort: 1 }] } },
      'Validation failed: 1 error occurred:\n\t* upstreams cannot contain duplicates by local bind address and port or unix path; "127.0.0.1:1" is specified twice\n\n'],
    [{ Name: 'web', Connect: { SidecarService: { Connect: { SidecarService: {} } } } }, 'Invalid SidecarService: sidecar_service can\'t have a nested sidecar_service'],
    [{ Name: 'web', Connect: { SidecarService: { Check: { TTL: '0s' } } } }, 'Invalid check in sidecar_service: TTL must be > 0 for TTL checks'],
    [{ Name: 'web', Connect: { SidecarService: { Proxy: { Upstreams: [{ DestinationName: 'db' }] } } } },
      'Invalid SidecarService: Validation failed: 1 error occurred:\n\t* upstream local bind port or local socket path must be defined and nonzero\n\n'],
    [{ Name: 'web', Connect: { Proxy: {} } }, 'Managed proxy registration via the API is disallowed: define connect.proxy in a service definition file in -config-dir']
  ]
  for (const [body, expected] of cases) {
    const response = await put(`${h.base}/v1/agent/service/register`, body)
    assert.equal(response.status, 400, `${JSON.stringify(body)}: ${response.text}`)
    assert.ok(response.text.startsWith(expected), `${JSON.stringify(body)}: got ${JSON.stringify(response.text)}, expected ${JSON.stringify(expected)}`)
  }
  const script = await put(`${h.base}/v1/agent/service/register`, { Name: 'x', Check: { Args: ['true'], Interval: '10s' } })
  assert.equal(script.status, 500)
  assert.match(script.text, /^Scripts are disabled on this agent from remote calls; to enable, configure 'enable_script_checks' to true/)
  assert.deepEqual(await services(h), {}, 'nothing of a rejected registration is kept')
})

test('a sidecar_service ID is overridden through HTTP; an explicit port is used as given', async (t) => {
  const h = await startApiFor(t)
  await put(`${h.base}/v1/agent/service/register`, { Name: 'web', Port: 8080, Connect: { SidecarService: { ID: 'mine', Port: 19000, Name: 'custom' } } })
  const all = await services(h)
  assert.equal(all['web-sidecar-proxy']?.Service, 'custom')
  assert.equal(all['web-sidecar-proxy']?.Port, 19000)
  assert.equal(all.mine, undefined)
})

test('GET /v1/agent/service/<id>: ContentHash header and field, hash blocking, 404 text', async (t) => {
  const h = await startApiFor(t)
  await put(`${h.base}/v1/agent/service/register`, { Name: 'web', Port: 8080 })
  const first = await requestJson(`${h.base}/v1/agent/service/web`)
  assert.equal(first.status, 200)
  const hash = first.headers.get('x-consul-contenthash')
  assert.match(hash ?? '', /^[0-9a-f]{16}$/)
  assert.equal((first.json as Record<string, unknown>).ContentHash, hash)
  // A different hash answers at once; the current hash waits for a change (or ?wait).
  const other = await requestJson(`${h.base}/v1/agent/service/web?hash=0000`)
  assert.equal(other.status, 200)
  const timedOut = await requestJson(`${h.base}/v1/agent/service/web?hash=${hash}&wait=50ms`)
  assert.equal(timedOut.headers.get('x-consul-contenthash'), hash)
  const blocked = requestJson(`${h.base}/v1/agent/service/web?hash=${hash}&wait=30s`)
  await put(`${h.base}/v1/agent/service/register`, { Name: 'web', Port: 8081 })
  const changed = await blocked
  assert.notEqual(changed.headers.get('x-consul-contenthash'), hash)
  assert.equal((changed.json as Record<string, unknown>).Port, 8081)
  const missing = await request(`${h.base}/v1/agent/service/nope`)
  assert.equal(missing.status, 404)
  assert.equal(missing.text, 'unknown service ID: nope')
})

test('check register/deregister, TTL pass/warn/fail/update with Consul\'s texts', async (t) => {
  const h = await startApiFor(t)
  assert.equal((await put(`${h.base}/v1/agent/check/register`, { ID: 'x', TTL: '10s' })).text, 'Missing check name')
  assert.equal((await put(`${h.base}/v1/agent/check/register`, { Name: 'x', TTL: '10s', Status: 'up' })).text, 'Bad check status')
  const unknownService = await put(`${h.base}/v1/agent/check/register`, { Name: 'x', TTL: '10s', ServiceID: 'ghost' })
  assert.equal(unknownService.status, 404)
  assert.equal(unknownService.text, 'ServiceID "ghost" does not exist')
  assert.equal((await put(`${h.base}/v1/agent/check/register`, { Name: 'mem', TTL: '30s' })).status, 200)
  assert.equal((await checks(h)).mem?.Status, 'critical', 'TTL checks start critical')
  assert.equal((await put(`${h.base}/v1/agent/check/pass/mem?note=all%20good`)).status, 200)
  assert.deepEqual([(await checks(h)).mem?.Status, (await checks(h)).mem?.Output], ['passing', 'all good'])
  await put(`${h.base}/v1/agent/check/warn/mem`)
  assert.equal((await checks(h)).mem?.Status, 'warning')
  await put(`${h.base}/v1/agent/check/update/mem`, { Status: 'critical', Output: 'x'.repeat(5000) })
  const updated = (await checks(h)).mem
  assert.equal(updated?.Status, 'critical')
  assert.equal(updated?.Output, `${'x'.repeat(4096)} ... (captured 4096 of 5000 bytes)`)
  assert.equal((await put(`${h.base}/v1/agent/check/update/mem`, { Status: 'fine' })).text, 'Invalid check status: \'fine\'')
  const unknown = await put(`${h.base}/v1/agent/check/pass/nope`)
  assert.equal(unknown.status, 404)
  assert.equal(unknown.text, 'Unknown check ID "nope". Ensure that the check ID is passed, not the check name.')
  await put(`${h.base}/v1/agent/service/register`, { Name: 'web', Check: { TCP: '127.0.0.1:1', Interval: '1h' } })
  const notTtl = await put(`${h.base}/v1/agent/check/fail/service:web`)
  assert.equal(notTtl.status, 400)
  assert.equal(notTtl.text, 'CheckID "service:web" does not have associated TTL')
  assert.equal((await put(`${h.base}/v1/agent/check/deregister/mem`)).status, 200)
  assert.equal((await put(`${h.base}/v1/agent/check/deregister/mem`)).status, 200, 'unknown ID: no-op')
  assert.deepEqual(Object.keys(await checks(h)), ['service:web'])
})

test('maintenance: service and node checks with Consul\'s names and notes; enable errors; 404 for unknown services', async (t) => {
  const h = await startApiFor(t)
  await put(`${h.base}/v1/agent/service/register`, { Name: 'web', Tags: ['a'] })
  assert.equal((await put(`${h.base}/v1/agent/service/maintenance/web`)).text, 'Missing value for enable')
  assert.equal((await put(`${h.base}/v1/agent/service/maintenance/web?enable=maybe`)).text, 'Invalid value for enable: "maybe"')
  const unknown = await put(`${h.base}/v1/agent/service/maintenance/ghost?enable=true`)
  assert.equal(unknown.status, 404)
  assert.equal(unknown.text, 'No service registered with ID "ghost"')
  assert.equal((await put(`${h.base}/v1/agent/service/maintenance/web?enable=true&reason=deploy`)).status, 200)
  assert.equal((await put(`${h.base}/v1/agent/maintenance?enable=true`)).status, 200)
  const all = await checks(h)
  assert.deepEqual(
    [all['_service_maintenance:web']?.Name, all['_service_maintenance:web']?.Notes, all['_service_maintenance:web']?.Status, all['_service_maintenance:web']?.ServiceTags],
    ['Service Maintenance Mode', 'deploy', 'critical', ['a']]
  )
  assert.deepEqual([all._node_maintenance?.Name, all._node_maintenance?.Notes], [
    'Node Maintenance Mode', 'Maintenance mode is enabled for this node, but no reason was provided. This is a default message.'
  ])
  const health = await request(`${h.base}/v1/agent/health/service/id/web?format=text`)
  assert.deepEqual([health.status, health.text], [503, 'maintenance'])
  await put(`${h.base}/v1/agent/service/maintenance/web?enable=false`)
  await put(`${h.base}/v1/agent/maintenance?enable=false`)
  assert.deepEqual(await checks(h), {})
})

test('agent health by ID and by name: status codes follow the worst check; 404 texts', async (t) => {
  const h = await startApiFor(t)
  await put(`${h.base}/v1/agent/service/register`, { Name: 'web', ID: 'web-1', Check: { TTL: '1h', Status: 'passing' } })
  await put(`${h.base}/v1/agent/service/register`, { Name: 'web', ID: 'web-2', Check: { TTL: '1h', Status: 'warning' } })
  const one = await requestJson(`${h.base}/v1/agent/health/service/id/web-1`)
  assert.equal(one.status, 200)
  assert.equal((one.json as Record<string, unknown>).AggregatedStatus, 'passing')
  const byName = await requestJson(`${h.base}/v1/agent/health/service/name/web`)
  assert.equal(byName.status, 429)
  assert.equal((byName.json as unknown[]).length, 2)
  const missing = await request(`${h.base}/v1/agent/health/service/id/nope`)
  assert.deepEqual([missing.status, missing.text], [404, 'ServiceId nope not found'])
  const noName = await request(`${h.base}/v1/agent/health/service/name/nope`)
  assert.deepEqual([noName.status, noName.text], [404, 'ServiceName nope Not Found'])
})

test('methods: register is PUT only (405 with Allow), GET /v1/agent/service/<id> is GET only', async (t) => {
  const h = await startApiFor(t)
  const wrong = await request(`${h.base}/v1/agent/service/register`)
  assert.equal(wrong.status, 405)
  assert.equal(wrong.headers.get('allow'), 'OPTIONS,PUT')
  const wrongRead = await request(`${h.base}/v1/agent/service/web`, { method: 'PUT' })
  assert.equal(wrongRead.status, 405)
  assert.equal(wrongRead.headers.get('allow'), 'OPTIONS,GET')
})
