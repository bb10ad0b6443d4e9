/**
 * /v1/kv over real HTTP (spec §9.1): DirEntry JSON, base64 values, raw reads, recurse, keys with
 * separator, flags, CAS writes and deletes, 404 with index headers, "Missing key name",
 * "Conflicting flags", bad numbers, and the 413 for oversized values.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { request as httpRequest } from 'node:http'
import { request, requestJson, startApiFor, type ApiHarness } from '../../support/api-harness.js'

async function put (h: ApiHarness, path: string, body: string | Uint8Array = ''): Promise<string> {
  const response = await request(`${h.base}/v1/kv/${path}`, { method: 'PUT', body })
  assert.equal(response.status, 200, `PUT ${path}: ${response.text}`)
  return response.text
}

test('PUT then GET returns one DirEntry with exactly Consul\'s keys and a base64 value', async (t) => {
  const h = await startApiFor(t)
  assert.equal(await put(h, 'config/billing/limit?flags=42', '100'), 'true')
  const response = await request(`${h.base}/v1/kv/config/billing/limit`)
  assert.equal(response.status, 200)
  assert.equal(response.text, '[{"LockIndex":0,"Key":"config/billing/limit","Flags":42,"Value":"MTAw","CreateIndex":2,"ModifyIndex":2}]')
  assert.equal(response.headers.get('x-consul-index'), '2')
  assert.equal(response.headers.get('x-consul-knownleader'), 'true')
  assert.equal(response.headers.get('x-consul-lastcontact'), '0')
  assert.equal(response.headers.get('x-consul-effective-consistency'), 'leader')
})

test('an empty value is null; binary values round-trip through base64 and ?raw', async (t) => {
  const h = await startApiFor(t)
  await put(h, 'empty')
  const empty = await requestJson(`${h.base}/v1/kv/empty`)
  assert.equal((empty.json as Array<{ Value: unknown }>)[0]?.Value, null)
  const bytes = Uint8Array.from({ length: 256 }, (_, index) => index)
  await put(h, 'binary', bytes)
  const json = await requestJson(`${h.base}/v1/kv/binary`)
  assert.equal((json.json as Array<{ Value: string }>)[0]?.Value, Buffer.from(bytes).toString('base64'))
  const raw = await fetch(`${h.base}/v1/kv/binary?raw`)
  assert.equal(raw.status, 200)
  assert.deepEqual(new Uint8Array(await raw.arrayBuffer()), bytes)
  assert.equal(raw.headers.get('content-type'), 'text/plain')
  assert.equal(raw.headers.get('x-content-type-options'), 'nosniff')
  assert.equal(raw.headers.get('content-security-policy'), 'sandbox')
  assert.equal(raw.headers.get('x-consul-index'), '3')
})

test('keys come from the decoded path and may contain slashes, spaces and UTF-8', async (t) => {
  const h = await startApiFor(t)
  await put(h, 'a%2Fb%20c/%E2%82%AC', 'v')
  assert.equal(h.server.lastCall('kvPut')?.[0], 'a/b c/€')
})

test('a missing key is 404 with an empty body and still carries the index headers', async (t) => {
  const h = await startApiFor(t)
  const fresh = await request(`${h.base}/v1/kv/missing`)
  assert.equal(fresh.status, 404)
  assert.equal(fresh.text, '')
  assert.equal(fresh.headers.get('x-consul-index'), '1', 'never 0')
  await put(h, 'other', 'x')
  const later = await request(`${h.base}/v1/kv/missing?raw`)
  assert.equal(later.status, 404)
  assert.equal(later.headers.get('x-consul-index'), '2')
  assert.equal(later.headers.get('x-consul-knownleader'), 'true')
})

test('?recurse lists the prefix sorted by key, the empty prefix lists all, none is 404', async (t) => {
  const h = await startApiFor(t)
  for (const key of ['app/b', 'app/a', 'apple', 'zeta']) await put(h, key, key)
  const app = await requestJson(`${h.base}/v1/kv/app/?recurse`)
  assert.deepEqual((app.json as Array<{ Key: string }>).map(entry => entry.Key), ['app/a', 'app/b'])
  const all = await requestJson(`${h.base}/v1/kv/?recurse=true`)
  assert.deepEqual((all.json as Array<{ Key: string }>).map(entry => entry.Key), ['app/a', 'app/b', 'apple', 'zeta'])
  const none = await request(`${h.base}/v1/kv/nothing/?recurse`)
  assert.equal(none.status, 404)
  assert.equal(none.text, '')
  assert.deepEqual(h.server.lastCall('kvGet')?.slice(0, 2), ['nothing/', { recurse: true }])
  const rawRecurse = await requestJson(`${h.base}/v1/kv/app/?recurse&raw`)
  assert.equal(Array.isArray(rawRecurse.json), true, '?raw applies to single gets only')
})

test('?keys lists keys, truncated after the separator; the misspelled ?seperator works too', async (t) => {
  const h = await startApiFor(t)
  for (const key of ['a/x/1', 'a/y/2', 'a/z', 'b']) await put(h, key)
  assert.deepEqual((await requestJson(`${h.base}/v1/kv/a/?keys&separator=/`)).json, ['a/x/', 'a/y/', 'a/z'])
  assert.deepEqual((await requestJson(`${h.base}/v1/kv/a/?keys&seperator=/`)).json, ['a/x/', 'a/y/', 'a/z'])
  assert.deepEqual((await requestJson(`${h.base}/v1/kv/?keys`)).json, ['a/x/1', 'a/y/2', 'a/z', 'b'])
  assert.deepEqual(h.server.lastCall('kvKeys')?.slice(0, 2), ['', null])
  const missing = await request(`${h.base}/v1/kv/c/?keys`)
  assert.equal(missing.status, 404)
  assert.equal(missing.headers.get('x-consul-index'), '5')
})

test('?keys on an empty store lists [] for the root', async (t) => {
  const h = await startApiFor(t)
  const response = await request(`${h.base}/v1/kv/?keys`)
  assert.equal(response.status, 200)
  assert.equal(response.text, '[]')
})

test('?cas=0 creates only if absent; ?cas=N writes only at ModifyIndex N; answers true/false', async (t) => {
  const h = await startApiFor(t)
  assert.equal(await put(h, 'lock?cas=0', 'one'), 'true')
  assert.equal(await put(h, 'lock?cas=0', 'two'), 'false')
  assert.equal(await put(h, 'lock?cas=99', 'two'), 'false')
  assert.equal(await put(h, 'lock?cas=2', 'two'), 'true')
  assert.deepEqual(h.server.lastCall('kvPut')?.[2], { flags: 0, cas: 2 })
  const entry = (await requestJson(`${h.base}/v1/kv/lock`)).json as Array<{ Value: string, ModifyIndex: number, CreateIndex: number }>
  assert.equal(Buffer.from(entry[0]?.Value ?? '', 'base64').toString(), 'two')
  assert.equal(entry[0]?.CreateIndex, 2)
  assert.equal(entry[0]?.ModifyIndex, 3)
})

test('DELETE answers true; ?cas deletes only at the index; ?recurse deletes the prefix', async (t) => {
  const h = await startApiFor(t)
  for (const key of ['d/1', 'd/2', 'keep']) await put(h, key)
  assert.equal((await request(`${h.base}/v1/kv/d/1?cas=99`, { method: 'DELETE' })).text, 'false')
  assert.equal((await request(`${h.base}/v1/kv/d/1?cas=2`, { method: 'DELETE' })).text, 'true')
  assert.equal((await request(`${h.base}/v1/kv/never-existed`, { method: 'DELETE' })).text, 'true')
  assert.equal((await request(`${h.base}/v1/kv/d/?recurse`, { method: 'DELETE' })).text, 'true')
  assert.deepEqual(h.server.lastCall('kvDelete')?.slice(0, 2), ['d/', { recurse: true, cas: null }])
  assert.deepEqual((await requestJson(`${h.base}/v1/kv/?keys`)).json, ['keep'])
  assert.equal((await request(`${h.base}/v1/kv/?recurse`, { method: 'DELETE' })).text, 'true', 'the empty key with recurse deletes everything')
})

test('an empty key is "Missing key name" unless the read or delete is recursive', async (t) => {
  const h = await startApiFor(t)
  for (const method of ['GET', 'PUT', 'DELETE']) {
    const response = await request(`${h.base}/v1/kv/`, { method })
    assert.equal(response.status, 400, method)
    assert.equal(response.text, 'Missing key name')
  }
})

test('conflicting flags are 400 with the encoded query (token left out)', async (t) => {
  const h = await startApiFor(t)
  const deleted = await request(`${h.base}/v1/kv/a?recurse&cas=1&token=s3cret`, { method: 'DELETE' })
  assert.equal(deleted.status, 400)
  assert.equal(deleted.text, 'Conflicting flags: cas=1&recurse=\n')
  const put = await request(`${h.base}/v1/kv/a?cas=1&acquire=s1`, { method: 'PUT' })
  assert.equal(put.status, 400)
  assert.equal(put.text, 'Conflicting flags: acquire=s1&cas=1\n')
  assert.equal(h.server.calls.length, 0)
})

test('bad ?flags and ?cas are 400 naming the parameter and the value', async (t) => {
  const h = await startApiFor(t)
  const cases: Array<[string, string, string]> = [
    ['PUT', 'a?cas=abc', '?cas must be an unsigned integer no greater than 9007199254740991, got "abc"'],
    ['PUT', 'a?cas=-1', '?cas must be an unsigned integer no greater than 9007199254740991, got "-1"'],
    ['PUT', 'a?flags=1.5', '?flags must be an unsigned integer no greater than 9007199254740991, got "1.5"'],
    ['PUT', 'a?flags', '?flags must be an unsigned integer no greater than 9007199254740991, got ""'],
    ['PUT', 'a?flags=18446744073709551615', '?flags must be an unsigned integer no greater than 9007199254740991, got "18446744073709551615"'],
    ['DELETE', 'a?cas=x1', '?cas must be an unsigned integer no greater than 9007199254740991, got "x1"']
  ]
  for (const [method, path, message] of cases) {
    const response = await request(`${h.base}/v1/kv/${path}`, { method, body: method === 'PUT' ? 'v' : null })
    assert.equal(response.status, 400, path)
    assert.equal(response.text, message)
  }
  assert.equal(h.server.calls.length, 0)
})

test('session flags are refused until sessions exist', async (t) => {
  const h = await startApiFor(t)
  const response = await request(`${h.base}/v1/kv/a?acquire=4ca8e74b`, { method: 'PUT', body: 'v' })
  assert.equal(response.status, 400)
  assert.equal(response.text, '?acquire is not supported by weft yet (sessions are not implemented), got "4ca8e74b"')
})

const tooLargeText = (bytes: number): string =>
  `Request body(${bytes} bytes) too large, max size: 524288 bytes. See https://www.consul.io/docs/agent/config/config-files#kv_max_value_size.`

test('a value over kv_max_value_size is 413 with Consul\'s text; exactly the limit is fine', async (t) => {
  const h = await startApiFor(t)
  const over = await request(`${h.base}/v1/kv/big`, { method: 'PUT', body: 'x'.repeat(524_289) })
  assert.equal(over.status, 413)
  assert.equal(over.text, tooLargeText(524_289))
  assert.equal(over.headers.get('content-type'), 'text/plain; charset=utf-8')
  assert.equal(h.server.calls.length, 0)
  assert.equal(await put(h, 'big', 'x'.repeat(524_288)), 'true')
  const stored = h.server.lastCall('kvPut')?.[1] as Uint8Array
  assert.equal(stored.length, 524_288)
})

test('a chunked value over the limit is 413 too', async (t) => {
  const h = await startApiFor(t)
  const url = new URL(`${h.base}/v1/kv/chunked`)
  const response = await new Promise<{ status: number, body: string }>((resolve, reject) => {
    const outgoing = httpRequest(url, { method: 'PUT', headers: { 'transfer-encoding': 'chunked' } }, (incoming) => {
      let body = ''
      incoming.setEncoding('utf8')
      incoming.on('data', (chunk: string) => { body += chunk })
      incoming.on('end', () => { resolve({ status: incoming.statusCode ?? 0, body }) })
    })
    outgoing.on('error', reject)
    for (let chunk = 0; chunk < 9; chunk += 1) outgoing.write('z'.repeat(64 * 1024))
    outgoing.end()
  })
  assert.equal(response.status, 413)
  assert.match(response.body, /^Request body\(\d+ bytes\) too large, max size: 524288 bytes\. See https:\/\/www\.consul\.io\/docs\/agent\/config\/config-files#kv_max_value_size\.$/)
  const after = await request(`${h.base}/v1/status/leader`)
  assert.equal(after.status, 200, 'the node keeps serving')
})

test('the write carries the request token', async (t) => {
  const h = await startApiFor(t)
  await request(`${h.base}/v1/kv/a`, { method: 'PUT', body: 'v', headers: { 'X-Consul-Token': 'tok-1' } })
  assert.deepEqual(h.server.lastCall('kvPut')?.[3], { token: 'tok-1' })
  await request(`${h.base}/v1/kv/a?cas=2`, { method: 'DELETE', headers: { 'X-Consul-Token': 'tok-2' } })
  assert.deepEqual(h.server.lastCall('kvDelete')?.[2], { token: 'tok-2' })
})
