/**
 * /v1/connect/intentions* and /v1/agent/connect/authorize over real HTTP (spec §8.2, §7.3,
 * §1.2), against the in-memory ServerApi whose intentions run the real server logic over a real
 * FSM: each endpoint's happy path and its bad input, with the status and the exact text.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { request, requestJson, startApiFor, type ApiHarness } from '../../support/api-harness.js'

const serviceUri = (service: string): string => `spiffe://11111111-2222-3333-4444-555555555555.consul/ns/default/dc/dc1/svc/${service}`

async function create (h: ApiHarness, body: unknown): Promise<string> {
  const response = await requestJson(`${h.base}/v1/connect/intentions`, { method: 'POST', body: JSON.stringify(body) })
  assert.equal(response.status, 200, JSON.stringify(response.json))
  const id = (response.json as { ID: string }).ID
  assert.match(id, /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/)
  return id
}

test('GET /v1/connect/intentions lists [] when empty, then every intention in evaluation order with index headers', async (t) => {
  const h = await startApiFor(t)
  const empty = await request(`${h.base}/v1/connect/intentions`)
  assert.equal(empty.status, 200)
  assert.equal(empty.text, '[]')
  assert.equal(empty.headers.get('x-consul-index'), '1')
  await create(h, { SourceName: '*', DestinationName: 'db', Action: 'deny' })
  await create(h, { SourceName: 'web', DestinationName: 'db', Action: 'allow' })
  const list = await requestJson(`${h.base}/v1/connect/intentions`)
  const rows = list.json as Array<Record<string, unknown>>
  assert.deepEqual(rows.map(row => [row.SourceName, row.DestinationName, row.Action, row.Precedence]), [['web', 'db', 'allow', 9], ['*', 'db', 'deny', 8]])
  assert.equal(list.headers.get('x-consul-index'), '3')
  assert.equal(list.headers.get('x-consul-knownleader'), 'true')
  assert.equal(list.headers.get('x-consul-effective-consistency'), 'leader')
})

test('the list is a blocking query: ?index waits for the next intention write', async (t) => {
  const h = await startApiFor(t)
  await create(h, { SourceName: 'web', DestinationName: 'db', Action: 'allow' })
  const blocked = requestJson(`${h.base}/v1/connect/intentions?index=2&wait=30s`)
  const deadline = Date.now() + 5_000
  while (h.server.intentions.waiterCount === 0) {
    assert.ok(Date.now() < deadline, 'the blocking query never reached the server')
    await new Promise(resolve => setImmediate(resolve))
  }
  await create(h, { SourceName: 'api', DestinationName: 'db', Action: 'deny' })
  const answer = await blocked
  assert.equal(answer.headers.get('x-consul-index'), '3')
  assert.equal((answer.json as unknown[]).length, 2)
})

test('POST creates (legacy), GET /<id> reads it with Consul\'s JSON, unknown is 404, malformed 400', async (t) => {
  const h = await startApiFor(t)
  const id = await create(h, { sourcename: 'web', destination_name: 'socat', action: 'deny', meta: { team: 'a' }, Precedence: 1, CreatedAt: 'ignored' })
  const got = await request(`${h.base}/v1/connect/intentions/${id}`)
  assert.equal(got.status, 200)
  const body = JSON.parse(got.text) as Record<string, unknown>
  assert.deepEqual(Object.keys(body), ['ID', 'Description', 'SourceNS', 'SourceName', 'DestinationNS', 'DestinationName', 'SourceType', 'Action', 'Meta', 'Precedence', 'CreatedAt', 'UpdatedAt', 'CreateIndex', 'ModifyIndex'])
  assert.deepEqual([body.SourceName, body.DestinationName, body.Action, body.Meta, body.Precedence, body.SourceType], ['web', 'socat', 'deny', { team: 'a' }, 9, 'consul'])
  assert.match(String(body.CreatedAt), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/)
  const unknown = await request(`${h.base}/v1/connect/intentions/5d3f0c8e-3b9a-4f67-8a5e-2f9d1b7c6a41`)
  assert.deepEqual([unknown.status, unknown.text], [404, 'Intention not found'])
  assert.ok(Number(unknown.headers.get('x-consul-index')) >= 1)
  const malformed = await request(`${h.base}/v1/connect/intentions/not-a-uuid`)
  assert.deepEqual([malformed.status, malformed.text], [400, 'Intention ID must be a UUID (8-4-4-4-12 hex digits), got "not-a-uuid"'])
})

test('POST refuses a duplicate pair with Consul\'s 500 text, an ID with 400, invalid fields with 400', async (t) => {
  const h = await startApiFor(t)
  const id = await create(h, { SourceName: 'web', DestinationName: 'db', Action: 'allow' })
  const duplicate = await request(`${h.base}/v1/connect/intentions`, { method: 'POST', body: JSON.stringify({ SourceName: 'web', DestinationName: 'db', Action: 'deny' }) })
  assert.deepEqual([duplicate.status, duplicate.text], [500, `duplicate intention found: ALLOW default/web => default/db (ID: ${id}, Precedence: 9)`])
  const withId = await request(`${h.base}/v1/connect/intentions`, { method: 'POST', body: JSON.stringify({ ID: id, SourceName: 'a', DestinationName: 'b', Action: 'allow' }) })
  assert.deepEqual([withId.status, withId.text], [400, `ID must be empty when creating a new intention, got "${id}"`])
  const invalid = await request(`${h.base}/v1/connect/intentions`, { method: 'POST', body: JSON.stringify({ SourceName: 'we*b', DestinationName: '', Action: 'permit' }) })
  assert.equal(invalid.status, 400)
  assert.equal(invalid.text, '3 errors occurred:\n' +
    '\t* SourceName: wildcard character \'*\' cannot be used with partial values, got "we*b"\n' +
    '\t* DestinationName must be set\n' +
    '\t* Action must be set to \'allow\' or \'deny\', got "permit"\n\n')
  const badType = await request(`${h.base}/v1/connect/intentions`, { method: 'POST', body: JSON.stringify({ SourceName: 5, DestinationName: 'db', Action: 'allow' }) })
  assert.deepEqual([badType.status, badType.text], [400, 'SourceName must be a string, got 5'])
  const badJson = await request(`${h.base}/v1/connect/intentions`, { method: 'POST', body: '{"SourceName":' })
  assert.equal(badJson.status, 400)
  assert.match(badJson.text, /^Request decode failed: /)
  // Nothing invalid was written: only the first intention exists.
  assert.equal((await requestJson(`${h.base}/v1/connect/intentions`)).headers.get('x-consul-index'), '2')
})

test('PUT /<id> replaces the intention (the pair may change); unknown is Consul\'s 500', async (t) => {
  const h = await startApiFor(t)
  const id = await create(h, { SourceName: 'web', DestinationName: 'db', Action: 'allow', Description: 'old' })
  const updated = await requestJson(`${h.base}/v1/connect/intentions/${id}`, { method: 'PUT', body: JSON.stringify({ ID: 'ignored', SourceName: '*', DestinationName: 'db', Action: 'deny' }) })
  assert.deepEqual([updated.status, updated.json], [200, { ID: id }])
  const got = await requestJson(`${h.base}/v1/connect/intentions/${id}`)
  const body = got.json as Record<string, unknown>
  assert.deepEqual([body.SourceName, body.Action, body.Description, body.Precedence], ['*', 'deny', '', 8])
  const missing = '5d3f0c8e-3b9a-4f67-8a5e-2f9d1b7c6a41'
  const unknown = await request(`${h.base}/v1/connect/intentions/${missing}`, { method: 'PUT', body: JSON.stringify({ SourceName: 'a', DestinationName: 'b', Action: 'allow' }) })
  assert.deepEqual([unknown.status, unknown.text], [500, `Cannot modify non-existent intention: '${missing}'`])
  const malformed = await request(`${h.base}/v1/connect/intentions/xyz`, { method: 'PUT', body: JSON.stringify({ SourceName: 'a', DestinationName: 'b', Action: 'allow' }) })
  assert.equal(malformed.status, 400)
})

test('DELETE /<id> answers true; unknown is Consul\'s 500', async (t) => {
  const h = await startApiFor(t)
  const id = await create(h, { SourceName: 'web', DestinationName: 'db', Action: 'allow' })
  const deleted = await request(`${h.base}/v1/connect/intentions/${id}`, { method: 'DELETE' })
  assert.deepEqual([deleted.status, deleted.text], [200, 'true'])
  const again = await request(`${h.base}/v1/connect/intentions/${id}`, { method: 'DELETE' })
  assert.deepEqual([again.status, again.text], [500, `Cannot delete non-existent intention: '${id}'`])
})

test('/exact: PUT upserts by the query\'s names, GET reads, DELETE removes; missing params are 400', async (t) => {
  const h = await startApiFor(t)
  const put = await request(`${h.base}/v1/connect/intentions/exact?source=web&destination=db`, { method: 'PUT', body: JSON.stringify({ SourceName: 'ignored', Action: 'deny', Description: 'd' }) })
  assert.deepEqual([put.status, put.text], [200, 'true'])
  const got = await requestJson(`${h.base}/v1/connect/intentions/exact?source=default/web&destination=db`)
  assert.equal(got.status, 200)
  const body = got.json as Record<string, unknown>
  assert.deepEqual([body.SourceName, body.DestinationName, body.Action, body.Description], ['web', 'db', 'deny', 'd'])
  assert.match(String(body.ID), /^[0-9a-f-]{36}$/, 'exact upserts get an ID too (spec §18.3)')
  const replaced = await request(`${h.base}/v1/connect/intentions/exact?source=web&destination=db`, { method: 'PUT', body: JSON.stringify({ Action: 'allow' }) })
  assert.equal(replaced.status, 200)
  assert.equal(((await requestJson(`${h.base}/v1/connect/intentions/exact?source=web&destination=db`)).json as Record<string, unknown>).ID, body.ID)
  const deleted = await request(`${h.base}/v1/connect/intentions/exact?source=web&destination=db`, { method: 'DELETE' })
  assert.deepEqual([deleted.status, deleted.text], [200, 'true'])
  const gone = await request(`${h.base}/v1/connect/intentions/exact?source=web&destination=db`)
  assert.deepEqual([gone.status, gone.text], [404, 'Intention not found'])

  const cases: Array<[string, string, number, string]> = [
    ['GET', '?destination=db', 400, "required query parameter 'source' not set"],
    ['GET', '?source=web', 400, "required query parameter 'destination' not set"],
    ['DELETE', '?source=&destination=db', 400, "required query parameter 'source' not set"],
    ['GET', '?source=a/b/c/d&destination=db', 400, 'input can contain at most one \'/\' (two with a partition): ?source got "a/b/c/d"'],
    ['GET', '?source=team/web&destination=db', 400, '?source: namespaces and partitions are Enterprise-only features: they must be "default", got "team/web"'],
    ['GET', '?source=peer:other/web&destination=db', 400, '?source: cluster peering is not supported by weft, got "peer:other/web"']
  ]
  for (const [method, query, status, text] of cases) {
    const response = await request(`${h.base}/v1/connect/intentions/exact${query}`, { method })
    assert.deepEqual([response.status, response.text], [status, text], `${method} ${query}`)
  }
  const badBody = await request(`${h.base}/v1/connect/intentions/exact?source=web&destination=db`, { method: 'PUT', body: JSON.stringify({ Action: 'maybe' }) })
  assert.deepEqual([badBody.status, badBody.text], [400, '1 error occurred:\n\t* Action must be set to \'allow\' or \'deny\', got "maybe"\n\n'])
  const badName = await request(`${h.base}/v1/connect/intentions/exact?source=we%20b&destination=db`, { method: 'PUT', body: JSON.stringify({ Action: 'allow' }) })
  assert.equal(badName.status, 400)
  assert.match(badName.text, /SourceName must be a service name without whitespace/)
})

test('L7 intentions are stored with their Permissions and no Action', async (t) => {
  const h = await startApiFor(t)
  const permissions = [{ Action: 'allow', HTTP: { PathPrefix: '/api', Methods: ['GET'], Header: [{ Name: 'x-team', Exact: 'a' }] } }]
  const put = await request(`${h.base}/v1/connect/intentions/exact?source=web&destination=db`, { method: 'PUT', body: JSON.stringify({ permissions }) })
  assert.equal(put.status, 200, put.text)
  const body = (await requestJson(`${h.base}/v1/connect/intentions/exact?source=web&destination=db`)).json as Record<string, unknown>
  assert.equal('Action' in body, false)
  assert.deepEqual(body.Permissions, permissions)
})

test('/match: every name is a key with its matches in evaluation order; bad params are 400', async (t) => {
  const h = await startApiFor(t)
  await create(h, { SourceName: 'web', DestinationName: 'db', Action: 'allow' })
  await create(h, { SourceName: '*', DestinationName: 'db', Action: 'deny' })
  await create(h, { SourceName: 'web', DestinationName: '*', Action: 'deny' })
  const match = await requestJson(`${h.base}/v1/connect/intentions/match?by=destination&name=db&name=cache`)
  assert.equal(match.status, 200)
  const result = match.json as Record<string, Array<{ SourceName: string, DestinationName: string }>>
  assert.deepEqual(Object.keys(result), ['db', 'cache'])
  assert.deepEqual(result.db?.map(i => `${i.SourceName}=>${i.DestinationName}`), ['web=>db', '*=>db', 'web=>*'])
  assert.deepEqual(result.cache?.map(i => `${i.SourceName}=>${i.DestinationName}`), ['web=>*'])
  const bySource = await requestJson(`${h.base}/v1/connect/intentions/match?by=source&name=api`)
  assert.deepEqual((bySource.json as Record<string, Array<{ SourceName: string }>>).api?.map(i => i.SourceName), ['*'])
  const none = await requestJson(`${h.base}/v1/connect/intentions/match?by=source&name=nobody&name=web`)
  assert.deepEqual(Object.keys(none.json as object), ['nobody', 'web'])
  for (const [query, text] of [
    ['?name=db', "required query parameter 'by' not set"],
    ['?by=dest&name=db', "'by' parameter must be one of 'source' or 'destination', got \"dest\""],
    ['?by=source', "required query parameter 'name' not set"]
  ] as const) {
    const response = await request(`${h.base}/v1/connect/intentions/match${query}`)
    assert.deepEqual([response.status, response.text], [400, text], query)
  }
  const wrongMethod = await request(`${h.base}/v1/connect/intentions/match?by=source&name=x`, { method: 'PUT' })
  assert.deepEqual([wrongMethod.status, wrongMethod.text, wrongMethod.headers.get('allow')], [405, 'method PUT not allowed', 'OPTIONS,GET'])
})

test('/check answers Allowed from the intentions, then the server\'s ACL default', async (t) => {
  const h = await startApiFor(t)
  const check = async (query: string): Promise<unknown> => {
    const response = await requestJson(`${h.base}/v1/connect/intentions/check${query}`)
    assert.equal(response.status, 200)
    return response.json
  }
  assert.deepEqual(await check('?source=web&destination=db'), { Allowed: true })
  await create(h, { SourceName: 'web', DestinationName: 'db', Action: 'deny' })
  assert.deepEqual(await check('?source=web&destination=db&source-type=consul'), { Allowed: false })
  assert.deepEqual(await check('?source=api&destination=db'), { Allowed: true })
  h.server.intentions.defaults = { aclsEnabled: true, aclDefaultPolicy: 'deny' }
  assert.deepEqual(await check('?source=api&destination=db'), { Allowed: false })
  const missing = await request(`${h.base}/v1/connect/intentions/check?source=web`)
  assert.deepEqual([missing.status, missing.text], [400, "required query parameter 'destination' not set"])
  const sourceType = await request(`${h.base}/v1/connect/intentions/check?source=web&destination=db&source-type=aws`)
  assert.deepEqual([sourceType.status, sourceType.text], [400, 'SourceType must be set to \'consul\': ?source-type got "aws"'])
})

test('?filter is refused until the filter subset exists; routes have Consul\'s Allow headers', async (t) => {
  const h = await startApiFor(t)
  const filtered = await request(`${h.base}/v1/connect/intentions?filter=${encodeURIComponent('SourceName == "web"')}`)
  assert.equal(filtered.status, 400)
  assert.match(filtered.text, /^\?filter is not supported by weft yet/)
  for (const [path, allow] of [
    ['/v1/connect/intentions', 'OPTIONS,GET,POST'],
    ['/v1/connect/intentions/exact', 'OPTIONS,GET,PUT,DELETE'],
    ['/v1/connect/intentions/check', 'OPTIONS,GET'],
    ['/v1/connect/intentions/5d3f0c8e-3b9a-4f67-8a5e-2f9d1b7c6a41', 'OPTIONS,GET,PUT,DELETE'],
    ['/v1/agent/connect/authorize', 'OPTIONS,POST']
  ] as const) {
    const options = await request(`${h.base}${path}`, { method: 'OPTIONS' })
    assert.deepEqual([options.status, options.headers.get('allow')], [200, allow], path)
  }
})

test('POST /v1/agent/connect/authorize passes the target and the certificate\'s service to the agent', async (t) => {
  const h = await startApiFor(t)
  h.agent.connectAuthorizeValue = { Authorized: false, Reason: 'Matched L4 intention: web => db (deny)' }
  const body = { Target: 'db', ClientCertURI: serviceUri('web'), ClientCertSerial: '0a' }
  const response = await request(`${h.base}/v1/agent/connect/authorize`, { method: 'POST', body: JSON.stringify(body) })
  assert.deepEqual([response.status, response.text], [200, '{"Authorized":false,"Reason":"Matched L4 intention: web => db (deny)"}'])
  assert.deepEqual(h.agent.calls.at(-1)?.args[0], { target: 'db', sourceNamespace: 'default', sourceName: 'web', clientCertUri: serviceUri('web'), clientCertSerial: '0a' })
})

test('POST /v1/agent/connect/authorize: bad bodies get the spec\'s 400 texts', async (t) => {
  const h = await startApiFor(t)
  const cases: Array<[unknown, RegExp | string]> = [
    [{ ClientCertURI: serviceUri('web') }, 'Target service must be specified'],
    [{ Target: '', ClientCertURI: serviceUri('web') }, 'Target service must be specified'],
    [{ Target: 'db' }, /^ClientCertURI not a valid Connect identifier: /],
    [{ Target: 'db', ClientCertURI: 'https://example.com/ns/default/dc/dc1/svc/web' }, /^ClientCertURI not a valid Connect identifier: /],
    [{ Target: 'db', ClientCertURI: 'spiffe://abc.consul/not/a/known/path' }, /^ClientCertURI not a valid Connect identifier: /],
    [{ Target: 'db', ClientCertURI: 'spiffe://abc.consul' }, /^ClientCertURI not a valid Service identifier: /],
    [{ Target: 'db', ClientCertURI: 'spiffe://abc.consul/agent/client/dc/dc1/id/n1' }, /^ClientCertURI not a valid Service identifier: /],
    [{ Target: 'db', ClientCertURI: serviceUri('web'), Namespace: 'team' }, /^"Namespace" is an Enterprise-only feature/],
    [{ Target: 5 }, 'Target must be a string, got 5']
  ]
  for (const [body, text] of cases) {
    const response = await request(`${h.base}/v1/agent/connect/authorize`, { method: 'POST', body: JSON.stringify(body) })
    assert.equal(response.status, 400, `${JSON.stringify(body)}: ${response.text}`)
    if (typeof text === 'string') assert.equal(response.text, text)
    else assert.match(response.text, text)
  }
  const empty = await request(`${h.base}/v1/agent/connect/authorize`, { method: 'POST' })
  assert.equal(empty.status, 400)
  assert.match(empty.text, /^Request decode failed: /)
  assert.equal(h.agent.calls.filter(call => call.method === 'connectAuthorize').length, 0)
})
