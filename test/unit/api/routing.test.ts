/**
 * Consul's routing conventions over real HTTP (spec §1.1): 405 + Allow, OPTIONS, the two 404
 * texts, GET /, subtree redirects, the non-printable path filter, Content-Type ignored, JSON
 * content type and pretty printing, gzip, response headers and the shared query checks.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { get as httpGet } from 'node:http'
import { gunzipSync } from 'node:zlib'
import { routes, allowHeader, allowedMethods } from '../../../src/api/routes.js'
import { notFoundOtherText, notFoundV1Text, uiDisabledText } from '../../../src/api/server.js'
import { request, startApiFor } from '../../support/api-harness.js'

const text = 'text/plain; charset=utf-8'

test('GET / answers the UI-disabled text', async (t) => {
  const h = await startApiFor(t)
  const response = await request(`${h.base}/`)
  assert.equal(response.status, 200)
  assert.equal(response.text, 'weft agent: UI disabled. To enable, set ui_config.enabled=true in the agent configuration and restart.')
  assert.equal(response.text, uiDisabledText)
  assert.equal(response.headers.get('content-type'), text)
})

test('unknown paths get Consul\'s two 404 texts', async (t) => {
  const h = await startApiFor(t)
  for (const path of ['/v1/nope', '/v1/status/leader/', '/v1/kv2/x', '/v1/catalog/datacenter']) {
    const response = await request(`${h.base}${path}`)
    assert.equal(response.status, 404, path)
    assert.equal(response.text, 'Invalid URL path: not a recognized HTTP API endpoint\n', path)
    assert.equal(response.headers.get('content-type'), text)
  }
  for (const path of ['/nope', '/v1', '/ui/', '/v2/kv/x']) {
    const response = await request(`${h.base}${path}`)
    assert.equal(response.status, 404, path)
    assert.equal(response.text, "Invalid URL path: if attempting to use the HTTP API, ensure the path starts with '/v1/'\n", path)
  }
  assert.equal(notFoundV1Text.endsWith('\n'), true)
  assert.equal(notFoundOtherText.endsWith('\n'), true)
})

test('every route answers OPTIONS with its Allow list and 405 for a method it lacks', async (t) => {
  const h = await startApiFor(t)
  for (const route of routes) {
    const path = route.path.endsWith('/') ? `${route.path}x` : route.path
    const options = await request(`${h.base}${path}`, { method: 'OPTIONS' })
    assert.equal(options.status, 200, path)
    assert.equal(options.text, '')
    assert.equal(options.headers.get('allow'), allowHeader(route))
    const missing = ['GET', 'PUT', 'POST', 'DELETE', 'PATCH'].find(method => !(allowedMethods(route) as string[]).includes(method))
    assert.ok(missing !== undefined)
    const wrong = await request(`${h.base}${path}`, { method: missing })
    assert.equal(wrong.status, 405, `${missing} ${path}`)
    assert.equal(wrong.text, `method ${missing} not allowed`)
    assert.equal(wrong.headers.get('allow'), allowHeader(route))
    assert.equal(wrong.headers.get('content-type'), text)
  }
  assert.equal(h.server.calls.length, 0, 'no handler ran')
})

test('Allow lists follow Consul: OPTIONS first, no spaces', async (t) => {
  const h = await startApiFor(t)
  const cases: Array<[string, string, string]> = [
    ['POST', '/v1/kv/a', 'OPTIONS,GET,PUT,DELETE'],
    ['GET', '/v1/txn', 'OPTIONS,PUT'],
    ['HEAD', '/v1/status/leader', 'OPTIONS,GET'],
    ['GET', '/v1/operator/raft/peer', 'OPTIONS,DELETE'],
    ['GET', '/v1/operator/raft/transfer-leader', 'OPTIONS,POST'],
    ['POST', '/v1/snapshot', 'OPTIONS,GET,PUT']
  ]
  for (const [method, path, allow] of cases) {
    const response = await request(`${h.base}${path}`, { method })
    assert.equal(response.status, 405, `${method} ${path}`)
    assert.equal(response.headers.get('allow'), allow)
  }
})

test('a wrong method is refused before the body is read', async (t) => {
  const h = await startApiFor(t)
  const response = await request(`${h.base}/v1/kv/a`, { method: 'POST', body: 'x'.repeat(2 * 1024 * 1024) })
  assert.equal(response.status, 405)
})

test('a prefix route named without its slash redirects there, query kept', async (t) => {
  const h = await startApiFor(t)
  const response = await fetch(`${h.base}/v1/kv?recurse&token=abc`, { redirect: 'manual' })
  assert.equal(response.status, 301)
  assert.equal(response.headers.get('location'), '/v1/kv/?recurse&token=abc')
  await response.text()
})

test('paths with non-printable characters or bad escapes are 400', async (t) => {
  const h = await startApiFor(t)
  for (const path of ['/v1/kv/a%00b', '/v1/kv/a%0Ab', '/v1/kv/a%7Fb', '/v1/kv/a%E2%80%8Bb', '/nope%01']) {
    const response = await request(`${h.base}${path}`)
    assert.equal(response.status, 400, path)
    assert.match(response.text, /^Invalid URL path: it contains the non-printable character U\+[0-9A-F]{4}$/)
  }
  const badEscape = await request(`${h.base}/v1/kv/a%ZZ`)
  assert.equal(badEscape.status, 400)
  assert.match(badEscape.text, /^Invalid URL path: /)
  assert.equal(badEscape.headers.get('content-type'), text)
  const space = await request(`${h.base}/v1/kv/a%20b`, { method: 'PUT', body: 'v' })
  assert.equal(space.status, 200, 'a space is printable')
})

test('the request Content-Type is ignored, even when malformed', async (t) => {
  const h = await startApiFor(t)
  for (const contentType of ['application/json', 'text/plain; charset=utf-8', 'garbage;;', 'application/x-www-form-urlencoded']) {
    const response = await request(`${h.base}/v1/kv/ct`, { method: 'PUT', body: '{not json', headers: { 'content-type': contentType } })
    assert.equal(response.status, 200, contentType)
    assert.equal(response.text, 'true')
  }
  const register = await request(`${h.base}/v1/catalog/register`, { method: 'PUT', body: '{"Node":"n","Address":"a"}', headers: { 'content-type': 'text/plain' } })
  assert.equal(register.status, 200)
})

test('JSON replies are application/json, compact by default and pretty with ?pretty', async (t) => {
  const h = await startApiFor(t)
  const compact = await request(`${h.base}/v1/status/peers`)
  assert.equal(compact.headers.get('content-type'), 'application/json')
  assert.equal(compact.text, '["127.0.0.1:8300"]')
  const pretty = await request(`${h.base}/v1/status/peers?pretty`)
  assert.equal(pretty.text, '[\n    "127.0.0.1:8300"\n]\n')
})

test('dev mode pretty-prints every JSON reply', async (t) => {
  const h = await startApiFor(t, { pretty: true })
  const response = await request(`${h.base}/v1/operator/raft/transfer-leader`, { method: 'POST' })
  assert.equal(response.text, '{\n    "Success": true\n}\n')
})

test('replies with nothing to say are 200 with an empty body and no content type', async (t) => {
  const h = await startApiFor(t)
  const response = await request(`${h.base}/v1/agent/leave`, { method: 'PUT' })
  assert.equal(response.status, 200)
  assert.equal(response.text, '')
  assert.equal(response.headers.get('content-type'), null)
})

test('large JSON replies are gzipped when the client accepts gzip', async (t) => {
  const h = await startApiFor(t)
  await request(`${h.base}/v1/kv/big`, { method: 'PUT', body: 'y'.repeat(10_000) })
  const { headers, body } = await new Promise<{ headers: Record<string, unknown>, body: Buffer }>((resolve, reject) => {
    httpGet(`${h.base}/v1/kv/big`, { headers: { 'accept-encoding': 'gzip' } }, (response) => {
      const chunks: Buffer[] = []
      response.on('data', (chunk: Buffer) => chunks.push(chunk))
      response.on('end', () => { resolve({ headers: response.headers, body: Buffer.concat(chunks) }) })
    }).on('error', reject)
  })
  assert.equal(headers['content-encoding'], 'gzip')
  const entries = JSON.parse(gunzipSync(body).toString('utf8')) as Array<{ Key: string }>
  assert.equal(entries[0]?.Key, 'big')
  const small = await new Promise<Record<string, unknown>>((resolve, reject) => {
    httpGet(`${h.base}/v1/status/leader`, { headers: { 'accept-encoding': 'gzip' } }, (response) => {
      response.resume()
      response.on('end', () => { resolve(response.headers) })
    }).on('error', reject)
  })
  assert.equal(small['content-encoding'], undefined, 'small replies stay plain')
})

test('configured response headers are added to every response, errors included', async (t) => {
  const h = await startApiFor(t, { responseHeaders: { 'Access-Control-Allow-Origin': '*' } })
  for (const path of ['/v1/status/leader', '/v1/nope', '/v1/kv/?keys&index=x']) {
    const response = await request(`${h.base}${path}`)
    assert.equal(response.headers.get('access-control-allow-origin'), '*', path)
  }
})

test('?dc must name this datacenter; Enterprise scoping accepts only default', async (t) => {
  const h = await startApiFor(t, { datacenter: 'dc1' })
  assert.equal((await request(`${h.base}/v1/status/leader?dc=dc1`)).status, 200)
  const other = await request(`${h.base}/v1/kv/a?dc=dc2`)
  assert.equal(other.status, 400)
  assert.equal(other.text, 'No path to datacenter: ?dc must be this agent\'s datacenter "dc1", got "dc2"')
  assert.equal((await request(`${h.base}/v1/catalog/services?ns=default`)).status, 200)
  const namespace = await request(`${h.base}/v1/catalog/services?ns=team-a`)
  assert.equal(namespace.status, 400)
  assert.equal(namespace.text, '"Namespace" is an Enterprise-only feature: ?ns must be "default" or empty, got "team-a"')
  const partition = await request(`${h.base}/v1/catalog/services`, { headers: { 'X-Consul-Partition': 'p1' } })
  assert.equal(partition.status, 400)
})

test('unsupported query parameters are refused, not ignored', async (t) => {
  const h = await startApiFor(t)
  const filter = await request(`${h.base}/v1/catalog/services?filter=${encodeURIComponent('Service.Tags contains "v1"')}`)
  assert.equal(filter.status, 400)
  assert.equal(filter.text, '?filter is not supported by weft yet, got "Service.Tags contains \\"v1\\""')
  assert.equal((await request(`${h.base}/v1/catalog/nodes?node-meta=a:b`)).status, 400)
  assert.equal(h.server.calls.length, 0)
})
