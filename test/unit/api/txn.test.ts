/**
 * PUT /v1/txn (spec §9.2): commit (200, Results, Errors null), rollback (409, Results null,
 * nothing applied), the op limit (413 text), base64 values in and out, lenient keys, and 400s for
 * malformed bodies and ops.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { request, requestJson, startApiFor, type ApiHarness } from '../../support/api-harness.js'
import type { TxnKvOp, QueryOptions } from '../../../src/rpc/types.js'

async function txn (h: ApiHarness, ops: unknown, query = ''): Promise<{ status: number, text: string }> {
  return await request(`${h.base}/v1/txn${query}`, { method: 'PUT', body: typeof ops === 'string' ? ops : JSON.stringify(ops) })
}

const b64 = (text: string): string => Buffer.from(text).toString('base64')

test('a committed transaction answers 200 with Results and Errors null; get returns base64 values', async (t) => {
  const h = await startApiFor(t)
  const response = await txn(h, [
    { KV: { Verb: 'set', Key: 'feature/x', Value: b64('on') } },
    { KV: { Verb: 'cas', Key: 'feature/y', Value: b64('off'), Index: 0 } },
    { KV: { Verb: 'get', Key: 'feature/x' } }
  ])
  assert.equal(response.status, 200)
  assert.deepEqual(JSON.parse(response.text), {
    Results: [
      { KV: { LockIndex: 0, Key: 'feature/x', Flags: 0, Value: null, CreateIndex: 2, ModifyIndex: 2 } },
      { KV: { LockIndex: 0, Key: 'feature/y', Flags: 0, Value: null, CreateIndex: 2, ModifyIndex: 2 } },
      { KV: { LockIndex: 0, Key: 'feature/x', Flags: 0, Value: b64('on'), CreateIndex: 2, ModifyIndex: 2 } }
    ],
    Errors: null
  })
  const stored = await requestJson(`${h.base}/v1/kv/feature/y`)
  assert.equal((stored.json as Array<{ Value: string }>)[0]?.Value, b64('off'))
})

test('a transaction without result rows answers Results null, as Go\'s nil slice', async (t) => {
  const h = await startApiFor(t)
  const response = await txn(h, [{ KV: { Verb: 'delete', Key: 'nothing' } }])
  assert.equal(response.status, 200)
  assert.equal(response.text, '{"Results":null,"Errors":null}')
})

test('a failed op rolls everything back: 409 with Results null and the op index', async (t) => {
  const h = await startApiFor(t)
  const response = await txn(h, [
    { KV: { Verb: 'set', Key: 'a', Value: b64('1') } },
    { KV: { Verb: 'cas', Key: 'b', Value: b64('2'), Index: 77 } }
  ])
  assert.equal(response.status, 409)
  assert.equal(response.text, '{"Results":null,"Errors":[{"OpIndex":1,"What":"failed to set key \\"b\\", index is stale"}]}')
  assert.equal((await request(`${h.base}/v1/kv/a`)).status, 404, 'the first op was not applied')
})

test('ops are decoded leniently and reach the server with every field set', async (t) => {
  const h = await startApiFor(t)
  const response = await txn(h, [
    { kv: { verb: 'set', key: 'k', value: b64('v'), flags: 7 } },
    { Kv: { VERB: 'check-index', KEY: 'k', index: 2, unknownField: true } },
    { KV: { Verb: 'get', Key: 'k', Value: null } }
  ])
  assert.equal(response.status, 200)
  const ops = h.server.lastCall('txn')?.[0] as TxnKvOp[]
  assert.deepEqual(ops.map(op => ({ ...op, Value: op.Value === null ? null : Buffer.from(op.Value).toString() })), [
    { Verb: 'set', Key: 'k', Value: 'v', Flags: 7, Index: 0, Session: '' },
    { Verb: 'check-index', Key: 'k', Value: null, Flags: 0, Index: 2, Session: '' },
    { Verb: 'get', Key: 'k', Value: null, Flags: 0, Index: 0, Session: '' }
  ])
})

test('more than txnMaxOps operations is 413 with Consul\'s text', async (t) => {
  const h = await startApiFor(t)
  const ops = Array.from({ length: 129 }, (_, index) => ({ KV: { Verb: 'set', Key: `k${index}`, Value: null } }))
  const response = await txn(h, ops)
  assert.equal(response.status, 413)
  assert.equal(response.text, 'Transaction contains too many operations (129 > 128)')
  assert.equal((await txn(h, ops.slice(0, 128))).status, 200)
})

test('malformed bodies and ops are 400 naming what is wrong', async (t) => {
  const h = await startApiFor(t)
  const cases: Array<[unknown, RegExp | string]> = [
    ['[{', /^Request decode failed: /],
    ['', 'Request decode failed: EOF (the body is empty, expected JSON)'],
    [{ KV: {} }, 'Request decode failed: the body must be a JSON array of operations, got an object'],
    [[{ KV: { Verb: 'frob', Key: 'a' } }], /^ops\[0\]\.KV\.Verb must be one of "set", "cas", .*"delete-cas", got "frob"$/],
    [[{ KV: { Key: 'a' } }], /^ops\[0\]\.KV\.Verb must be one of .* got nothing$/],
    [[{ KV: { Verb: 'set', Key: 'a', Value: 'not base64!' } }], 'ops[0].KV.Value must be a base64 string (standard alphabet, padded) or null, got "not base64!"'],
    [[{ KV: { Verb: 'set', Key: 'a', Value: 5 } }], 'ops[0].KV.Value must be a base64 string (standard alphabet, padded) or null, got 5'],
    [[{ KV: { Verb: 'cas', Key: 'a', Index: -1 } }], 'ops[0].KV.Index must be an integer in 0..9007199254740991, got -1'],
    [[{ KV: { Verb: 'set', Key: 3 } }], 'ops[0].KV.Key must be a string, got 3'],
    [[{ KV: { Verb: 'get', Key: 'a' } }, { Node: { Verb: 'get', Node: { Node: 'n' } } }], 'ops[1].Node is not supported by weft yet: only KV operations are'],
    [[{}], 'ops[0] must have a KV member, got an object'],
    [['set'], 'ops[0] must be a JSON object, got "set"']
  ]
  for (const [body, expected] of cases) {
    const response = await txn(h, body)
    assert.equal(response.status, 400, JSON.stringify(body))
    if (typeof expected === 'string') assert.equal(response.text, expected)
    else assert.match(response.text, expected)
  }
  assert.equal(h.server.calls.length, 0)
})

test('a value over kv_max_value_size is 413', async (t) => {
  const h = await startApiFor(t, { limits: { kvMaxValueSize: 8 } })
  const response = await txn(h, [{ KV: { Verb: 'set', Key: 'big', Value: b64('123456789') } }])
  assert.equal(response.status, 413)
  assert.equal(response.text, 'Value for key "big" is too large (9 > 8 bytes)')
})

test('a body over bodyBytesMax is 413 with Consul\'s txn text', async (t) => {
  const h = await startApiFor(t, { limits: { bodyBytesMax: 1024 } })
  const response = await txn(h, [{ KV: { Verb: 'set', Key: 'k', Value: b64('x'.repeat(2000)) } }])
  assert.equal(response.status, 413)
  assert.equal(response.text, 'Request body too large, max size: 1024 bytes')
})

test('read-only transactions carry the consistency mode; ?stale with ?consistent is 400', async (t) => {
  const h = await startApiFor(t)
  await txn(h, [{ KV: { Verb: 'get-tree', Key: '' } }], '?stale')
  assert.equal((h.server.lastCall('txn')?.[1] as QueryOptions).consistency, 'stale')
  await txn(h, [{ KV: { Verb: 'get-tree', Key: '' } }], '?consistent')
  assert.equal((h.server.lastCall('txn')?.[1] as QueryOptions).consistency, 'consistent')
  const conflicting = await txn(h, [{ KV: { Verb: 'get-tree', Key: '' } }], '?stale&consistent')
  assert.equal(conflicting.status, 400)
  assert.equal(conflicting.text, 'Cannot specify ?stale with ?consistent, conflicting semantics.')
})
