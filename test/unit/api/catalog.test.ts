/**
 * Catalog and health endpoints (spec §4, §5): lenient register/deregister bodies become
 * canonical PascalCase for the server, Consul's required fields are 400s, reads pass names, tags
 * and ?passing through and carry query-meta headers.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { request, requestJson, startApiFor } from '../../support/api-harness.js'

const put = async (url: string, body: unknown): Promise<{ status: number, text: string }> =>
  await request(url, { method: 'PUT', body: typeof body === 'string' ? body : JSON.stringify(body) })

test('register decodes keys case-insensitively and snake_case aliases into canonical fields', async (t) => {
  const h = await startApiFor(t)
  const response = await put(`${h.base}/v1/catalog/register`, {
    node: 'ext-db-1',
    ADDRESS: '10.0.4.7',
    tagged_addresses: { lan: '10.0.4.7', wan: '203.0.113.7' },
    node_meta: { external: 'true' },
    service: {
      id: 'pg-1', service: 'postgres', tags: ['primary'], port: 5432, meta: { version: '15' },
      weights: { passing: 3, warning: 1 }, enable_tag_override: true,
      proxy: { destination_service_name: 'db', upstreams: [{ destination_name: 'cache', local_bind_port: 9191, config: { some_key: 1 } }] }
    },
    check: { check_id: 'pg-1-alive', name: 'pg tcp', status: 'passing', service_id: 'pg-1', definition: { tcp: '10.0.4.7:5432', interval: '10s', timeout: 2_000_000_000 } },
    skip_node_update: false,
    unknown_field: 'ignored'
  })
  assert.equal(response.status, 200)
  assert.equal(response.text, 'true')
  assert.deepEqual(h.server.lastCall('catalogRegister'), [{
    Node: 'ext-db-1',
    Address: '10.0.4.7',
    TaggedAddresses: { lan: '10.0.4.7', wan: '203.0.113.7' },
    NodeMeta: { external: 'true' },
    Service: {
      ID: 'pg-1', Service: 'postgres', Tags: ['primary'], Port: 5432, Meta: { version: '15' },
      Weights: { Passing: 3, Warning: 1 }, EnableTagOverride: true,
      Proxy: { DestinationServiceName: 'db', Upstreams: [{ DestinationName: 'cache', LocalBindPort: 9191, Config: { some_key: 1 } }] }
    },
    Checks: [{ CheckID: 'pg-1-alive', Name: 'pg tcp', Status: 'passing', ServiceID: 'pg-1', Definition: { TCP: '10.0.4.7:5432', Interval: '10s', Timeout: '2s' } }],
    SkipNodeUpdate: false
  }, { token: null }])
})

test('the singular Check is appended after Checks', async (t) => {
  const h = await startApiFor(t)
  await put(`${h.base}/v1/catalog/register`, { Node: 'n', Address: 'a', Checks: [{ CheckID: 'one' }], Check: { CheckID: 'two' } })
  const registration = h.server.lastCall('catalogRegister')?.[0] as { Checks: Array<{ CheckID: string }>, Check?: unknown }
  assert.deepEqual(registration.Checks.map(check => check.CheckID), ['one', 'two'])
  assert.equal(registration.Check, undefined)
})

test('register rejects what Consul requires, and bad types, with 400s naming them', async (t) => {
  const h = await startApiFor(t)
  const cases: Array<[unknown, string | RegExp]> = [
    [{ Address: '10.0.0.1' }, 'Must provide node'],
    [{ Node: '', Address: '10.0.0.1' }, 'Must provide node'],
    [{ Node: 'n' }, 'Must provide address if SkipNodeUpdate is not set'],
    [{ Node: 'n', Address: 'a', Service: { Port: 80 } }, 'Must provide service name (Service.Service)'],
    [{ Node: 'n', Address: 'a', Service: { Service: 'web', Port: '80a' } }, 'Service.Port must be an integer in 0..65535, got "80a"'],
    [{ Node: 'n', Address: 'a', Service: { Service: 'web', Tags: 'primary' } }, 'Service.Tags must be an array, got "primary"'],
    [{ Node: 'n', Address: 'a', Checks: [{ Name: 'c', Status: 'ok' }] }, 'Checks[0].Status must be one of "passing", "warning", "critical", got "ok"'],
    [{ Node: 'n', Address: 'a', Check: { Definition: { Interval: 'often' } } }, 'Check.Definition.Interval must be a duration such as "10s" or integer nanoseconds, got "often"'],
    [{ Node: 5, Address: 'a' }, 'Node must be a string, got 5'],
    ['{"Node": ', /^Request decode failed: /],
    ['[]', 'the body must be a JSON object, got an array of 0']
  ]
  for (const [body, expected] of cases) {
    const response = await put(`${h.base}/v1/catalog/register`, body)
    assert.equal(response.status, 400, JSON.stringify(body))
    if (typeof expected === 'string') assert.equal(response.text, expected)
    else assert.match(response.text, expected)
  }
  assert.equal(h.server.calls.length, 0)
  assert.equal((await put(`${h.base}/v1/catalog/register`, { Node: 'n', SkipNodeUpdate: true })).status, 200, 'no address needed when skipping the node update')
})

test('deregister requires Node and passes the canonical body', async (t) => {
  const h = await startApiFor(t)
  const missing = await put(`${h.base}/v1/catalog/deregister`, { ServiceID: 's' })
  assert.equal(missing.status, 400)
  assert.equal(missing.text, 'Must provide node')
  const response = await put(`${h.base}/v1/catalog/deregister`, { node: 'n', service_id: 's' })
  assert.equal(response.text, 'true')
  assert.deepEqual(h.server.lastCall('catalogDeregister'), [{ Node: 'n', ServiceID: 's' }, { token: null }])
})

test('catalog reads pass names and tags through and carry the query meta', async (t) => {
  const h = await startApiFor(t)
  await put(`${h.base}/v1/catalog/register`, { Node: 'n1', Address: '10.0.0.1', Service: { Service: 'web', Tags: ['v1', 'blue'], Port: 80 } })
  await put(`${h.base}/v1/catalog/register`, { Node: 'n2', Address: '10.0.0.2', Service: { Service: 'web', Tags: ['v1'], Port: 80 } })

  const services = await requestJson(`${h.base}/v1/catalog/services`)
  assert.deepEqual(services.json, { web: ['blue', 'v1'] })
  assert.equal(services.headers.get('x-consul-index'), '3')
  assert.equal(services.headers.get('x-consul-effective-consistency'), 'leader')

  const nodes = await requestJson(`${h.base}/v1/catalog/nodes?stale`)
  assert.deepEqual((nodes.json as Array<{ Node: string }>).map(node => node.Node), ['n1', 'n2'])
  assert.equal(nodes.headers.get('x-consul-effective-consistency'), 'stale')

  const tagged = await requestJson(`${h.base}/v1/catalog/service/web?tag=v1&tag=blue`)
  assert.deepEqual((tagged.json as Array<{ Node: string }>).map(entry => entry.Node), ['n1'])
  assert.deepEqual(h.server.lastCall('catalogService')?.slice(0, 2), ['web', { tags: ['v1', 'blue'] }])

  const node = await requestJson(`${h.base}/v1/catalog/node/n1`)
  assert.equal((node.json as { Node: { Node: string } }).Node.Node, 'n1')
  const unknown = await request(`${h.base}/v1/catalog/node/nope`)
  assert.equal(unknown.status, 200)
  assert.equal(unknown.text, 'null')
  assert.equal(unknown.headers.get('x-consul-index'), '3')
})

test('reads of a name need the name', async (t) => {
  const h = await startApiFor(t)
  const cases: Array<[string, string]> = [
    ['/v1/catalog/service/', 'Missing service name'],
    ['/v1/catalog/node/', 'Missing node name'],
    ['/v1/health/service/', 'Missing service name']
  ]
  for (const [path, message] of cases) {
    const response = await request(`${h.base}${path}`)
    assert.equal(response.status, 400, path)
    assert.equal(response.text, message)
  }
})

test('health/service reads ?passing as Consul does and passes tags', async (t) => {
  const h = await startApiFor(t)
  const cases: Array<[string, boolean]> = [['', false], ['?passing', true], ['?passing=true', true], ['?passing=1', true], ['?passing=false', false], ['?passing=0', false]]
  for (const [query, passing] of cases) {
    const response = await request(`${h.base}/v1/health/service/web${query}${query === '' ? '?' : '&'}tag=v2`)
    assert.equal(response.status, 200, query)
    assert.deepEqual(h.server.lastCall('healthService')?.slice(0, 2), ['web', { passing, tags: ['v2'] }], query)
    assert.equal(response.headers.get('x-consul-index'), '1')
  }
  const invalid = await request(`${h.base}/v1/health/service/web?passing=yes`)
  assert.equal(invalid.status, 400)
  assert.equal(invalid.text, 'Invalid value for ?passing')
})
