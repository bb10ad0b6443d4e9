/**
 * The RPC surface of a server: a forwarded call runs only if it names a ServerApi method;
 * private helpers of LocalServerApi (`hold`, `read`, `apply`, ...) and prototype names are refused,
 * and so are the local-only methods whose arguments cannot cross a frame.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { LocalServerApi } from '../../../src/rpc/server-api.js'
import { rpcLocalOnlyMethods, serverApiMethods } from '../../../src/rpc/types.js'
import { isControlPlaneError } from '../../../src/util/errors.js'

test('only ServerApi methods can be called over RPC', async () => {
  const api = new LocalServerApi({} as never)
  for (const name of ['hold', 'read', 'apply', 'forwardToLeader', 'drain', 'handle', 'constructor', '__proto__', 'toString']) {
    await assert.rejects(api.handle({ kind: 'rpc', method: name as never, args: [] }), (err: unknown) =>
      isControlPlaneError(err, 'ERR_INVALID_INPUT') && err.message === `unknown RPC method ${name}`, name)
  }
  for (const name of serverApiMethods) assert.equal(typeof (api as unknown as Record<string, unknown>)[name], 'function', name)
})

test('a local-only ServerApi method (snapshotRestore takes a stream) is refused over RPC', async () => {
  const api = new LocalServerApi({} as never)
  for (const name of rpcLocalOnlyMethods) {
    await assert.rejects(api.handle({ kind: 'rpc', method: name, args: [new Uint8Array(3), { token: null }] }), (err: unknown) =>
      isControlPlaneError(err, 'ERR_INVALID_INPUT') && err.message === `RPC method ${name} is local only: its arguments cannot cross one RPC frame`, name)
  }
  assert.deepEqual([...rpcLocalOnlyMethods], ['snapshotRestore'])
})
