/**
 * Agent-local endpoints (spec §2), status (§9.5), operator raft and snapshots (§10): shapes,
 * empty 200s, Consul's exact 400 texts for /v1/operator/raft/peer, the join failure text, and a
 * snapshot save/restore round trip with binary bodies. The restore body is streamed: with a
 * Content-Length or chunked, it reaches the ServerApi while the client is still sending; the
 * empty and over-limit answers hold for chunked uploads too; a restore that fails mid-upload
 * still gets its error text to the client.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import type { QueryOptions } from '../../../src/rpc/types.js'
import { ControlPlaneError } from '../../../src/util/errors.js'
import { waitFor } from '../../../src/util/wait-for.js'
import { member, request, requestJson, startApiFor } from '../../support/api-harness.js'

/** A PUT whose body is sent with Transfer-Encoding: chunked, one piece per chunk. */
function chunkedBody (pieces: readonly Uint8Array[]): RequestInit {
  const body = new ReadableStream<Uint8Array>({
    start (controller) {
      for (const piece of pieces) controller.enqueue(piece)
      controller.close()
    }
  })
  return { method: 'PUT', body, duplex: 'half' } as RequestInit
}

test('GET /v1/agent/self and /v1/agent/members answer the agent\'s objects', async (t) => {
  const h = await startApiFor(t)
  const self = await requestJson(`${h.base}/v1/agent/self`, { headers: { 'X-Consul-Token': 'agent-token' } })
  assert.equal(self.status, 200)
  const body = self.json as { Config: { Server: boolean, Datacenter: string, NodeName: string }, Member: { Name: string, Addr: string } }
  assert.equal(body.Config.Server, true)
  assert.equal(body.Config.Datacenter, 'dc1')
  assert.equal(body.Config.NodeName, 'alpha')
  assert.equal(body.Member.Addr, '127.0.0.1')
  assert.deepEqual(h.agent.calls.at(-1), { method: 'self', args: [{ token: 'agent-token' }] })
  const members = await requestJson(`${h.base}/v1/agent/members`)
  assert.deepEqual(members.json, [member])
  await request(`${h.base}/v1/agent/members?wan=1`)
  assert.deepEqual(h.agent.calls.at(-1)?.args[0], { wan: true })
})

test('join, leave and reload answer 200 with an empty body', async (t) => {
  const h = await startApiFor(t)
  for (const [path, method] of [['/v1/agent/join/10.0.0.5:8301?wan', 'join'], ['/v1/agent/leave', 'leave'], ['/v1/agent/reload', 'reload']] as const) {
    const response = await request(`${h.base}${path}`, { method: 'PUT' })
    assert.equal(response.status, 200, path)
    assert.equal(response.text, '')
    assert.equal(h.agent.calls.at(-1)?.method, method)
  }
  assert.deepEqual(h.agent.calls.find(call => call.method === 'join')?.args, ['10.0.0.5:8301', { wan: true }, { token: null }])
})

test('a failed join answers Consul\'s multierror text; a missing address is 400', async (t) => {
  const h = await startApiFor(t)
  const failed = await request(`${h.base}/v1/agent/join/unreachable:8301`, { method: 'PUT' })
  assert.equal(failed.status, 500)
  assert.equal(failed.text, '1 error occurred:\n\t* Failed to join unreachable:8301: dial tcp 10.9.9.9:8301: connect: connection refused\n\n')
  assert.equal(failed.headers.get('content-type'), 'text/plain; charset=utf-8')
  const missing = await request(`${h.base}/v1/agent/join/`, { method: 'PUT' })
  assert.equal(missing.status, 400)
  assert.equal(missing.text, 'Missing address to join: use PUT /v1/agent/join/<address>')
})

test('status endpoints answer the leader address and the peers', async (t) => {
  const h = await startApiFor(t)
  assert.equal((await request(`${h.base}/v1/status/leader`)).text, '"127.0.0.1:8300"')
  h.server.leader = ''
  assert.equal((await request(`${h.base}/v1/status/leader`)).text, '""', 'no leader is the empty string')
  assert.deepEqual((await requestJson(`${h.base}/v1/status/peers`)).json, ['127.0.0.1:8300'])
})

test('raft configuration answers Servers and Index; ?stale passes through', async (t) => {
  const h = await startApiFor(t)
  const response = await requestJson(`${h.base}/v1/operator/raft/configuration?stale`)
  assert.deepEqual(response.json, { Servers: h.server.raftServers, Index: 1 })
  assert.equal((h.server.lastCall('raftConfiguration')?.[0] as QueryOptions).consistency, 'stale')
})

test('removing a peer needs exactly one of ?id and ?address, with Consul\'s texts', async (t) => {
  const h = await startApiFor(t)
  const neither = await request(`${h.base}/v1/operator/raft/peer`, { method: 'DELETE' })
  assert.equal(neither.status, 400)
  assert.equal(neither.text, "Must specify either ?id with the server's ID or ?address with IP:port of peer to remove")
  const both = await request(`${h.base}/v1/operator/raft/peer?id=a&address=b`, { method: 'DELETE' })
  assert.equal(both.status, 400)
  assert.equal(both.text, 'Must specify only one of ?id or ?address')
  const empty = await request(`${h.base}/v1/operator/raft/peer?id=`, { method: 'DELETE' })
  assert.equal(empty.status, 400)
  assert.equal(empty.text, '?id must be a server ID (see /v1/operator/raft/configuration), got ""')
  assert.equal(h.server.calls.length, 0)

  const byId = await request(`${h.base}/v1/operator/raft/peer?id=a1b2c3d4-0000-0000-0000-000000000001`, { method: 'DELETE', headers: { 'X-Consul-Token': 'op' } })
  assert.equal(byId.status, 200)
  assert.equal(byId.text, '')
  assert.deepEqual(h.server.lastCall('raftRemovePeer'), [{ id: 'a1b2c3d4-0000-0000-0000-000000000001' }, { token: 'op' }])
  const byAddress = await request(`${h.base}/v1/operator/raft/peer?address=127.0.0.1:8300`, { method: 'DELETE' })
  assert.equal(byAddress.status, 200)
  assert.deepEqual(h.server.lastCall('raftRemovePeer')?.[0], { address: '127.0.0.1:8300' })
  const unknown = await request(`${h.base}/v1/operator/raft/peer?address=10.0.0.9:8300`, { method: 'DELETE' })
  assert.equal(unknown.status, 404)
  assert.equal(unknown.text, 'address "10.0.0.9:8300" was not found in the Raft configuration')
})

test('transfer-leader answers {"Success":true}, with an optional ?id', async (t) => {
  const h = await startApiFor(t)
  const any = await request(`${h.base}/v1/operator/raft/transfer-leader`, { method: 'POST' })
  assert.equal(any.status, 200)
  assert.equal(any.text, '{"Success":true}')
  assert.deepEqual(h.server.lastCall('raftTransferLeader'), [null, { token: null }])
  await request(`${h.base}/v1/operator/raft/transfer-leader?id=s2`, { method: 'POST' })
  assert.equal(h.server.lastCall('raftTransferLeader')?.[0], 's2')
  const empty = await request(`${h.base}/v1/operator/raft/transfer-leader?id=`, { method: 'POST' })
  assert.equal(empty.status, 400)
})

test('snapshot save and restore round-trip binary bodies', async (t) => {
  const h = await startApiFor(t)
  await request(`${h.base}/v1/kv/a`, { method: 'PUT', body: 'one' })
  await request(`${h.base}/v1/kv/b`, { method: 'PUT', body: 'two' })
  const saved = await fetch(`${h.base}/v1/snapshot?stale`)
  assert.equal(saved.status, 200)
  assert.equal(saved.headers.get('content-type'), 'application/octet-stream')
  assert.equal(saved.headers.get('x-consul-index'), '3')
  const snapshot = new Uint8Array(await saved.arrayBuffer())
  assert.equal((h.server.lastCall('snapshotSave')?.[0] as QueryOptions).consistency, 'stale')

  await request(`${h.base}/v1/kv/?recurse`, { method: 'DELETE' })
  assert.equal((await request(`${h.base}/v1/kv/a`)).status, 404)
  const restored = await request(`${h.base}/v1/snapshot`, { method: 'PUT', body: snapshot, headers: { 'content-type': 'application/octet-stream' } })
  assert.equal(restored.status, 200)
  assert.equal(restored.text, '')
  assert.deepEqual(h.server.lastCall('snapshotRestore')?.[0], snapshot)
  assert.deepEqual((await requestJson(`${h.base}/v1/kv/?keys`)).json, ['a', 'b'])
})

test('a chunked snapshot upload (no Content-Length) restores the same bytes', async (t) => {
  const h = await startApiFor(t)
  await request(`${h.base}/v1/kv/a`, { method: 'PUT', body: 'one' })
  const snapshot = new Uint8Array(await (await fetch(`${h.base}/v1/snapshot`)).arrayBuffer())
  await request(`${h.base}/v1/kv/a`, { method: 'DELETE' })
  const third = Math.ceil(snapshot.length / 3)
  const restored = await request(`${h.base}/v1/snapshot`, chunkedBody([snapshot.subarray(0, third), snapshot.subarray(third, 2 * third), snapshot.subarray(2 * third)]))
  assert.equal(restored.status, 200, restored.text)
  assert.deepEqual(h.server.lastCall('snapshotRestore')?.[0], snapshot)
  assert.equal((await request(`${h.base}/v1/kv/a?raw`)).text, 'one')
})

test('the snapshot body reaches the restore while the client is still sending it', async (t) => {
  const h = await startApiFor(t)
  const seen: number[] = []
  h.server.snapshotRestore = async (data) => { for await (const piece of data) seen.push(piece.byteLength) }
  let controller!: ReadableStreamDefaultController<Uint8Array>
  const body = new ReadableStream<Uint8Array>({ start (c) { controller = c } })
  controller.enqueue(new Uint8Array(1000).fill(1))
  const answer = fetch(`${h.base}/v1/snapshot`, { method: 'PUT', body, duplex: 'half' } as RequestInit)
  // A buffering server would wait for the end of the body: the first bytes would never show up.
  await waitFor(() => seen.length > 0, { timeoutMs: 10_000, what: 'the restore to receive the first piece' })
  controller.enqueue(new Uint8Array(2000).fill(2))
  controller.close()
  const response = await answer
  assert.equal(response.status, 200, await response.text())
  assert.equal(seen.reduce((sum, bytes) => sum + bytes, 0), 3000)
})

test('snapshot restore refuses an empty body, a bad snapshot, and one over snapshotBytesMax', async (t) => {
  const h = await startApiFor(t, { limits: { snapshotBytesMax: 1000 } })
  const emptyText = 'The snapshot body is empty: PUT /v1/snapshot expects a snapshot file as the body'
  const empty = await request(`${h.base}/v1/snapshot`, { method: 'PUT' })
  assert.equal(empty.status, 400)
  assert.equal(empty.text, emptyText)
  const emptyChunked = await request(`${h.base}/v1/snapshot`, chunkedBody([]))
  assert.equal(emptyChunked.status, 400)
  assert.equal(emptyChunked.text, emptyText)
  const bad = await request(`${h.base}/v1/snapshot`, { method: 'PUT', body: 'garbage' })
  assert.equal(bad.status, 400)
  assert.equal(bad.text, 'snapshot is not a weft snapshot')
  const big = await request(`${h.base}/v1/snapshot`, { method: 'PUT', body: new Uint8Array(1001) })
  assert.equal(big.status, 413)
  assert.equal(big.text, 'Request body(1001 bytes) too large, max size: 1000 bytes.')
  const bigChunked = await request(`${h.base}/v1/snapshot`, chunkedBody([new Uint8Array(600), new Uint8Array(600)]))
  assert.equal(bigChunked.status, 413)
  assert.equal(bigChunked.text, 'Request body(1200 bytes) too large, max size: 1000 bytes.')
  assert.equal(h.server.calls.filter(call => call.method === 'snapshotRestore').length, 1, 'only "garbage" got through whole')
})

test('a restore that fails mid-upload still gets its error text to the client', async (t) => {
  const h = await startApiFor(t)
  h.server.snapshotRestore = async (data) => {
    for await (const _piece of data) throw new ControlPlaneError('ERR_CONFLICT', 'another snapshot restore started')
  }
  // 4 MiB with a Content-Length: the server stops reading after the first piece.
  const failed = await request(`${h.base}/v1/snapshot`, { method: 'PUT', body: new Uint8Array(4 * 1024 * 1024) })
  assert.equal(failed.status, 409)
  assert.equal(failed.text, 'another snapshot restore started')
  // The server still answers on a new request afterwards.
  assert.equal((await request(`${h.base}/v1/status/leader`)).status, 200)
})
