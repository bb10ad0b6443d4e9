/**
 * The npm `consul` client (node-consul 2.x), unchanged, against a weft client agent on
 * 127.0.57.1:8500 backed by three servers: KV set/get/keys/del (with flags, cas and ?consistent),
 * catalog register / service nodes / health / deregister, status.leader and status.peers,
 * agent.self and agent.members, a transaction, and a KV watch that sees a change made through a
 * server and then a delete. What is checked is what a node-consul user gets back.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import Consul from 'consul'
import { AgentCluster, type AgentProcess } from './agent-cluster.js'
import { http, withLogs } from './http-client.js'
import { waitFor } from '../../src/util/wait-for.js'

interface KvPair { Key: string, Value: string | null, Flags: number, ModifyIndex: number, CreateIndex: number }

test('the npm consul client works unchanged against a weft client agent', { timeout: 90_000 }, async (t) => {
  const cluster = await AgentCluster.start({ block: 57, servers: 3, clients: 1 })
  const watches: Array<{ end: () => void }> = []
  t.after(async () => {
    for (const watch of watches) watch.end()
    await cluster.stop()
  })
  const client = cluster.get('c1')
  const consul = new Consul({ host: client.ip, port: 8500 })
  const [s1, s2] = cluster.servers() as [AgentProcess, AgentProcess, AgentProcess]
  const logs = (): AgentCluster => cluster

  await t.test('kv.set / kv.get / kv.keys / kv.del', async (st) => withLogs(st, logs, async () => {
    assert.equal(await consul.kv.set('app/name', 'weft'), true)
    assert.equal(await consul.kv.set({ key: 'app/flagged', value: 'with flags', flags: 42 }), true)
    assert.equal(await consul.kv.set('app/nested/deep', 'down here'), true)

    const name = await consul.kv.get({ key: 'app/name', consistent: true } as never) as KvPair
    assert.equal(name.Key, 'app/name')
    assert.equal(name.Value, 'weft')
    assert.equal(name.Flags, 0)
    const flagged = await consul.kv.get('app/flagged') as KvPair
    assert.equal(flagged.Value, 'with flags')
    assert.equal(flagged.Flags, 42)
    assert.equal(await consul.kv.get('app/missing'), undefined, 'a missing key is undefined, not an error')

    const all = await consul.kv.get({ key: 'app/', recurse: true }) as KvPair[]
    assert.deepEqual(all.map(pair => pair.Key), ['app/flagged', 'app/name', 'app/nested/deep'])
    assert.deepEqual(await consul.kv.keys('app/'), ['app/flagged', 'app/name', 'app/nested/deep'])
    assert.deepEqual(await consul.kv.keys({ key: 'app/', separator: '/' }), ['app/flagged', 'app/name', 'app/nested/'])

    // Check-and-set on the ModifyIndex just read: the first wins, a stale index loses.
    // (node-consul's typings lack the common options such as `consistent`, hence the casts.)
    assert.equal(await consul.kv.set({ key: 'app/name', value: 'weft-2', cas: name.ModifyIndex }), true)
    // Consul answers `false`; node-consul hands that on as a falsy result.
    assert.ok(!(await consul.kv.set({ key: 'app/name', value: 'weft-3', cas: name.ModifyIndex })), 'a cas on a stale index succeeded')
    assert.equal((await consul.kv.get({ key: 'app/name', consistent: true } as never) as KvPair).Value, 'weft-2')

    assert.equal(await consul.kv.del('app/flagged'), true)
    assert.equal(await consul.kv.get({ key: 'app/flagged', consistent: true } as never), undefined)
    assert.equal(await consul.kv.del({ key: 'app/', recurse: true }), true)
    // No key under the prefix: Consul's 404, which node-consul raises as "not found".
    await assert.rejects(consul.kv.keys({ key: 'app/', consistent: true } as never), /not found/)
  }))

  await t.test('catalog.register, catalog.service.nodes, health.service, catalog.deregister', async (st) => withLogs(st, logs, async () => {
    await consul.catalog.register({
      node: 'ext-api-1',
      address: '10.0.7.1',
      service: { id: 'api-1', service: 'api', tags: ['v1', 'blue'], port: 9000 },
      check: { name: 'api alive', status: 'passing', serviceid: 'api-1' }
    } as never)
    await consul.catalog.register({ node: 'ext-api-2', address: '10.0.7.2', service: { id: 'api-2', service: 'api', tags: ['v2'], port: 9001 } } as never)

    const nodes = await consul.catalog.service.nodes({ service: 'api', consistent: true } as never) as Array<Record<string, unknown>>
    assert.deepEqual(nodes.map(n => [n.Node, n.Address, n.ServiceID, n.ServicePort, n.ServiceTags]), [
      ['ext-api-1', '10.0.7.1', 'api-1', 9000, ['v1', 'blue']],
      ['ext-api-2', '10.0.7.2', 'api-2', 9001, ['v2']]
    ])
    const tagged = await consul.catalog.service.nodes({ service: 'api', tag: 'v2' } as never) as Array<Record<string, unknown>>
    assert.deepEqual(tagged.map(n => n.Node), ['ext-api-2'])
    const services = await consul.catalog.service.list({ consistent: true } as never) as Record<string, string[]>
    assert.deepEqual([...(services.api ?? [])].sort(), ['blue', 'v1', 'v2'])

    const healthy = await consul.health.service({ service: 'api', passing: true, consistent: true } as never) as Array<{ Node: { Node: string }, Service: { ID: string }, Checks: Array<{ Status: string }> }>
    assert.deepEqual(healthy.map(entry => entry.Service.ID).sort(), ['api-1', 'api-2'])

    await consul.catalog.deregister({ node: 'ext-api-2' } as never)
    const after = await consul.catalog.service.nodes({ service: 'api', consistent: true } as never) as Array<Record<string, unknown>>
    assert.deepEqual(after.map(n => n.Node), ['ext-api-1'])
    await consul.catalog.deregister({ node: 'ext-api-1' } as never)
    assert.deepEqual(await consul.catalog.service.nodes({ service: 'api', consistent: true } as never), [])
  }))

  await t.test('status.leader, status.peers, agent.self, agent.members', async (st) => withLogs(st, logs, async () => {
    const leader = await consul.status.leader()
    const expected = await cluster.waitForLeader()
    assert.equal(leader, `${expected.ip}:8300`)
    const peers = await consul.status.peers() as string[]
    assert.deepEqual([...peers].sort(), cluster.servers().map(s => `${s.ip}:8300`).sort())

    const self = await consul.agent.self() as { Config: Record<string, unknown>, Member: Record<string, unknown> }
    assert.equal(self.Config.NodeName, 'c1')
    assert.equal(self.Config.Server, false)
    assert.equal(self.Config.Datacenter, 'dc1')
    assert.equal(self.Member.Name, 'c1')

    const members = await consul.agent.members() as Array<{ Name: string }>
    assert.ok(members.some(m => m.Name === 'c1'), JSON.stringify(members))
  }))

  await t.test('transaction.create', async (st) => withLogs(st, logs, async () => {
    const result = await consul.transaction.create([
      { KV: { Verb: 'set', Key: 'txn/a', Value: Buffer.from('one').toString('base64') } },
      { KV: { Verb: 'set', Key: 'txn/b', Value: Buffer.from('two').toString('base64') } },
      { KV: { Verb: 'get', Key: 'txn/a' } }
    ] as never) as { Results: Array<{ KV: { Key: string, Value: string | null } }> }
    assert.equal(result.Results.length, 3)
    assert.equal(Buffer.from(result.Results[2]!.KV.Value ?? '', 'base64').toString(), 'one')
    assert.deepEqual(await consul.kv.keys({ key: 'txn/', consistent: true } as never), ['txn/a', 'txn/b'])
  }))

  await t.test('a kv watch sees a change made through a server, then the delete', async (st) => withLogs(st, logs, async () => {
    assert.equal(await consul.kv.set('watched/key', 'v1'), true)
    const seen: Array<string | null> = []
    const errors: unknown[] = []
    const watch = consul.watch({ method: consul.kv.get, options: { key: 'watched/key', wait: '20s' } as never })
    watches.push(watch)
    watch.on('change', (data: KvPair | undefined) => { seen.push(data === undefined ? null : data.Value) })
    watch.on('error', (err: unknown) => { errors.push(err) })

    await waitFor(() => seen.includes('v1'), { timeoutMs: 10_000, what: 'the watch to report the current value' })
    // The watch is now blocked on the key's index; a write through a server must wake it.
    const put = await http(s1, 'PUT', '/v1/kv/watched/key', { body: 'v2' })
    assert.equal(put.status, 200, put.text)
    await waitFor(() => seen.includes('v2'), { timeoutMs: 10_000, what: `the watch to see v2 (seen ${JSON.stringify(seen)})` })

    const deleted = await http(s2, 'DELETE', '/v1/kv/watched/key')
    assert.equal(deleted.status, 200, deleted.text)
    await waitFor(() => seen.at(-1) === null, { timeoutMs: 10_000, what: `the watch to see the delete (seen ${JSON.stringify(seen)})` })
    watch.end()
    assert.deepEqual(errors, [], 'the watch reported errors')
    assert.deepEqual(seen, ['v1', 'v2', null])
  }))
})
