/**
 * GET /v1/health/connect/<service> and /v1/catalog/connect/<service> (spec §4, §5; handlers in
 * src/api/handlers/connect-catalog.ts) against the in-memory ServerApi: the mesh-capable
 * endpoints of a service are its connect proxies and its Connect-native instances; ?passing is
 * parsed like /health/service's; both are blocking queries with query-meta headers.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { request, requestJson, startApiFor } from '../../support/api-harness.js'

async function register (base: string, service: Record<string, unknown>): Promise<void> {
  const answer = await request(`${base}/v1/catalog/register`, { method: 'PUT', body: JSON.stringify({ Node: 'n1', Address: '10.0.0.1', Service: service }) })
  assert.equal(answer.status, 200, answer.text)
}

test('connect endpoints list the proxies and natives of a service, block on ?index and validate ?passing', async (t) => {
  const api = await startApiFor(t)
  await register(api.base, { ID: 'socat', Service: 'socat', Port: 8181 })
  await register(api.base, { ID: 'socat-sidecar-proxy', Service: 'socat-sidecar-proxy', Kind: 'connect-proxy', Port: 21000, Proxy: { DestinationServiceName: 'socat' } })
  await register(api.base, { ID: 'db-proxy', Service: 'db-proxy', Kind: 'connect-proxy', Port: 21001, Proxy: { DestinationServiceName: 'db' } })
  await register(api.base, { ID: 'native-socat', Service: 'socat', Port: 8443, Connect: { Native: true } })

  const health = await requestJson(`${api.base}/v1/health/connect/socat?passing`)
  assert.equal(health.status, 200)
  assert.deepEqual((health.json as Array<{ Service: { ID: string } }>).map(entry => entry.Service.ID).sort(), ['native-socat', 'socat-sidecar-proxy'])
  const index = Number(health.headers.get('x-consul-index'))
  assert.ok(index >= 1)
  assert.equal(health.headers.get('x-consul-knownleader'), 'true')
  assert.deepEqual(api.server.lastCall('healthConnect')?.slice(0, 2), ['socat', { passing: true, tags: [] }])

  const catalog = await requestJson(`${api.base}/v1/catalog/connect/socat`)
  assert.deepEqual((catalog.json as Array<{ ServiceID: string }>).map(entry => entry.ServiceID).sort(), ['native-socat', 'socat-sidecar-proxy'])
  assert.deepEqual((await requestJson(`${api.base}/v1/health/connect/nothing`)).json, [])

  assert.equal((await request(`${api.base}/v1/health/connect/socat?passing=maybe`)).status, 400)
  assert.match((await request(`${api.base}/v1/health/connect/socat?passing=maybe`)).text, /Invalid value for \?passing/)
  assert.equal((await request(`${api.base}/v1/catalog/connect/`)).status, 400)

  // Blocking: a query at the current index returns once a new proxy registers.
  const blocked = requestJson(`${api.base}/v1/health/connect/socat?index=${index}&wait=10s`)
  await register(api.base, { ID: 'socat-proxy-2', Service: 'socat-proxy', Kind: 'connect-proxy', Port: 21002, Proxy: { DestinationServiceName: 'socat' } })
  const woken = await blocked
  assert.ok(Number(woken.headers.get('x-consul-index')) > index)
  assert.equal((woken.json as unknown[]).length, 3)
})
