/**
 * The HTTP API's query semantics on a real cluster (three `weft agent -server` processes and a
 * client agent on 127.0.54.x): blocking queries on KV wake on a PUT or DELETE sent through
 * another server and time out at ?wait with the same index; ?consistent reads see the latest
 * write made through any server; ?stale is answered by a follower cut off from the majority
 * while a default read there fails with "No cluster leader" after the bounded hold; ?stale with
 * ?consistent is a 400; and a catalog registration made on one server is visible through the
 * catalog and health endpoints of the others until it is deregistered.
 *
 * Timing assertions are behaviour, not performance: a blocking query that times out must not
 * come back before most of its wait (or it did not block) nor long after (or it ignored it).
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { AgentCluster, type AgentProcess } from './agent-cluster.js'
import { consulIndex, http, kvValue, withLogs } from './http-client.js'
import { waitFor } from '../../src/util/wait-for.js'

/** Consul jitters a blocking wait by up to wait/16; the rest is a generous allowance for a loaded machine. */
function assertTimedOutAtWait (elapsedMs: number, waitMs: number, what: string): void {
  assert.ok(elapsedMs >= waitMs * 0.8, `${what} returned after ${Math.round(elapsedMs)} ms, before 80% of its ${waitMs} ms wait: it did not block`)
  assert.ok(elapsedMs <= waitMs + waitMs / 16 + 5_000, `${what} returned after ${Math.round(elapsedMs)} ms, long after its ${waitMs} ms wait`)
}

async function put (agent: AgentProcess, key: string, value: string): Promise<void> {
  const answer = await http(agent, 'PUT', `/v1/kv/${key}`, { body: value })
  assert.equal(answer.status, 200, `PUT ${key} through ${agent.name}: ${answer.text}`)
  assert.equal(answer.text, 'true')
}

test('HTTP API semantics on a three-server cluster', { timeout: 90_000 }, async (t) => {
  const cluster = await AgentCluster.start({ block: 54, servers: 3, clients: 1 })
  t.after(async () => await cluster.stop())
  const [s1, s2, s3] = cluster.servers() as [AgentProcess, AgentProcess, AgentProcess]
  const c1 = cluster.get('c1')
  const logs = (): AgentCluster => cluster

  await t.test('a blocking GET on a key wakes when another server writes it, with a higher index', async (st) => withLogs(st, logs, async () => {
    await put(s1, 'block/wake', 'v1')
    const current = await http(s2, 'GET', '/v1/kv/block/wake?consistent')
    assert.equal(current.status, 200)
    const index = consulIndex(current)
    assert.ok(index > 0)
    let settled = false
    const blocked = http(s2, 'GET', `/v1/kv/block/wake?index=${index}&wait=30s`, { timeoutMs: 45_000 })
      .finally(() => { settled = true })
    // A round trip to the same server: had the blocking GET not blocked, it would have had time to return.
    assert.equal((await http(s2, 'GET', '/v1/kv/block/wake?stale')).status, 200)
    assert.equal(settled, false, 'the blocking GET returned although nothing had changed')
    await put(s3, 'block/wake', 'v2')
    const woke = await blocked
    assert.equal(woke.status, 200, woke.text)
    assert.ok(consulIndex(woke) > index, `X-Consul-Index ${consulIndex(woke)} is not above ${index}`)
    assert.equal(kvValue(woke), 'v2')
    assert.ok(woke.elapsedMs < 30_000 * 0.8, `the blocking GET took ${Math.round(woke.elapsedMs)} ms: it timed out instead of waking`)
  }))

  await t.test('a blocking GET through the client agent wakes on a write made on a server', async (st) => withLogs(st, logs, async () => {
    await put(s2, 'block/client', 'v1')
    const index = consulIndex(await http(c1, 'GET', '/v1/kv/block/client?consistent'))
    const blocked = http(c1, 'GET', `/v1/kv/block/client?index=${index}&wait=30s`, { timeoutMs: 45_000 })
    await put(s1, 'block/client', 'v2')
    const woke = await blocked
    assert.equal(woke.status, 200, woke.text)
    assert.ok(consulIndex(woke) > index)
    assert.equal(kvValue(woke), 'v2')
    assert.ok(woke.elapsedMs < 30_000 * 0.8, `took ${Math.round(woke.elapsedMs)} ms`)
  }))

  await t.test('a blocking GET with nothing changing times out at ?wait with the same index', async (st) => withLogs(st, logs, async () => {
    await put(s3, 'block/timeout', 'still')
    const index = consulIndex(await http(s1, 'GET', '/v1/kv/block/timeout?consistent'))
    const waitMs = 2_000
    // On a follower (forwarded to the leader), on the leader's side via ?stale, and through the client agent.
    const [follower, stale, client] = await Promise.all([
      http(s2, 'GET', `/v1/kv/block/timeout?index=${index}&wait=2s`),
      http(s3, 'GET', `/v1/kv/block/timeout?index=${index}&wait=2000ms&stale`),
      http(c1, 'GET', `/v1/kv/block/timeout?index=${index}&wait=2s`)
    ])
    for (const [what, answer] of [['via a server', follower], ['?stale', stale], ['via the client agent', client]] as const) {
      assert.equal(answer.status, 200, `${what}: ${answer.text}`)
      assert.equal(consulIndex(answer), index, `${what}: the index moved although nothing was written`)
      assert.equal(kvValue(answer), 'still')
      assertTimedOutAtWait(answer.elapsedMs, waitMs, `blocking GET ${what}`)
    }
  }))

  await t.test('a DELETE wakes a blocked GET, which answers 404 with a higher index', async (st) => withLogs(st, logs, async () => {
    await put(s1, 'block/delete', 'doomed')
    const current = await http(s3, 'GET', '/v1/kv/block/delete?consistent')
    assert.equal(current.status, 200)
    const index = consulIndex(current)
    const blocked = http(s3, 'GET', `/v1/kv/block/delete?index=${index}&wait=30s`, { timeoutMs: 45_000 })
    const deleted = await http(s2, 'DELETE', '/v1/kv/block/delete')
    assert.equal(deleted.status, 200, deleted.text)
    const woke = await blocked
    assert.equal(woke.status, 404, woke.text)
    assert.equal(woke.text, '')
    assert.ok(consulIndex(woke) > index, `X-Consul-Index ${consulIndex(woke)} after the delete is not above ${index}`)
    assert.ok(woke.elapsedMs < 30_000 * 0.8, `took ${Math.round(woke.elapsedMs)} ms: it timed out instead of waking`)
  }))

  await t.test('?consistent returns the latest value written through another server', async (st) => withLogs(st, logs, async () => {
    const agents = [s1, s2, s3, c1]
    for (let i = 0; i < 12; i += 1) {
      const writer = agents[i % agents.length]!
      const reader = agents[(i + 1) % agents.length]!
      await put(writer, 'consistent/k', `v${i}`)
      const read = await http(reader, 'GET', '/v1/kv/consistent/k?consistent')
      assert.equal(read.status, 200, read.text)
      assert.equal(kvValue(read), `v${i}`, `${reader.name} answered a stale value after a write through ${writer.name}`)
      assert.equal(read.headers.get('x-consul-effective-consistency'), 'consistent')
      assert.equal(read.headers.get('x-consul-knownleader'), 'true')
    }
  }))

  await t.test('?stale together with ?consistent is refused with a 400', async (st) => withLogs(st, logs, async () => {
    for (const agent of [s1, c1]) {
      for (const query of ['?stale&consistent', '?consistent&stale=true', '?max_stale=5s&consistent']) {
        const answer = await http(agent, 'GET', `/v1/kv/consistent/k${query}`)
        assert.equal(answer.status, 400, `${query} on ${agent.name}`)
        assert.equal(answer.text, 'Cannot specify ?stale with ?consistent, conflicting semantics.')
      }
    }
  }))

  await t.test('a catalog registration made on one server is visible through the others until deregistered', async (st) => withLogs(st, logs, async () => {
    const registration = {
      Node: 'e2e-node-1',
      Address: '10.1.2.3',
      NodeMeta: { rack: 'r1' },
      Service: { ID: 'web-1', Service: 'web', Tags: ['v1', 'primary'], Port: 8080, Meta: { version: '1' } },
      Check: { CheckID: 'web-alive', Name: 'web alive', Status: 'passing', ServiceID: 'web-1' }
    }
    const registered = await http(s1, 'PUT', '/v1/catalog/register', { body: JSON.stringify(registration) })
    assert.equal(registered.status, 200, registered.text)
    assert.equal(registered.text, 'true')

    const instances = await http(s2, 'GET', '/v1/catalog/service/web?consistent')
    assert.equal(instances.status, 200, instances.text)
    const rows = instances.json as Array<Record<string, unknown>>
    assert.equal(rows.length, 1, instances.text)
    assert.deepEqual(
      { Node: rows[0]!.Node, Address: rows[0]!.Address, NodeMeta: rows[0]!.NodeMeta, ServiceID: rows[0]!.ServiceID, ServiceName: rows[0]!.ServiceName, ServicePort: rows[0]!.ServicePort, ServiceTags: rows[0]!.ServiceTags, ServiceMeta: rows[0]!.ServiceMeta },
      { Node: 'e2e-node-1', Address: '10.1.2.3', NodeMeta: { rack: 'r1' }, ServiceID: 'web-1', ServiceName: 'web', ServicePort: 8080, ServiceTags: ['v1', 'primary'], ServiceMeta: { version: '1' } })

    const health = await http(s3, 'GET', '/v1/health/service/web?consistent&passing')
    assert.equal(health.status, 200, health.text)
    const entries = health.json as Array<{ Node: Record<string, unknown>, Service: Record<string, unknown>, Checks: Array<Record<string, unknown>> }>
    assert.equal(entries.length, 1, health.text)
    assert.equal(entries[0]!.Node.Node, 'e2e-node-1')
    assert.equal(entries[0]!.Node.Address, '10.1.2.3')
    assert.equal(entries[0]!.Service.ID, 'web-1')
    assert.equal(entries[0]!.Service.Service, 'web')
    assert.equal(entries[0]!.Service.Port, 8080)
    const check = entries[0]!.Checks.find(c => c.CheckID === 'web-alive')
    assert.ok(check !== undefined, health.text)
    assert.equal(check.Status, 'passing')
    assert.equal(check.ServiceID, 'web-1')

    const services = await http(c1, 'GET', '/v1/catalog/services?consistent')
    assert.equal(services.status, 200, services.text)
    assert.deepEqual([...((services.json as Record<string, string[]>).web ?? [])].sort(), ['primary', 'v1'])

    // Deregistering through a third server wakes a blocked health query on the second.
    const index = consulIndex(health)
    const blocked = http(s2, 'GET', `/v1/health/service/web?index=${index}&wait=30s`, { timeoutMs: 45_000 })
    const deregistered = await http(s3, 'PUT', '/v1/catalog/deregister', { body: JSON.stringify({ Node: 'e2e-node-1' }) })
    assert.equal(deregistered.status, 200, deregistered.text)
    assert.equal(deregistered.text, 'true')
    const woke = await blocked
    assert.equal(woke.status, 200, woke.text)
    assert.ok(consulIndex(woke) > index)
    assert.deepEqual(woke.json, [])
    assert.ok(woke.elapsedMs < 30_000 * 0.8, `took ${Math.round(woke.elapsedMs)} ms`)

    assert.deepEqual((await http(s1, 'GET', '/v1/catalog/service/web?consistent')).json, [])
    const node = await http(s1, 'GET', '/v1/catalog/node/e2e-node-1?consistent')
    assert.equal(node.status, 200)
    assert.equal(node.json, null)
  }))

  // Last: it pauses two servers.
  await t.test('with the majority paused, ?stale is answered by the follower left; a default read fails with "No cluster leader"', async (st) => withLogs(st, logs, async () => {
    const leader = await cluster.waitForLeader()
    const [lonely, other] = cluster.servers().filter(s => s !== leader) as [AgentProcess, AgentProcess]
    await put(leader, 'stale/k', 'before-pause')
    await waitFor(async () => kvValue(await http(lonely, 'GET', '/v1/kv/stale/k?stale')) === 'before-pause', { timeoutMs: 10_000, what: `${lonely.name} to apply stale/k` })
    cluster.pause(leader.name)
    cluster.pause(other.name)
    try {
      const first = await http(lonely, 'GET', '/v1/kv/stale/k?stale', { timeoutMs: 5_000 })
      assert.equal(first.status, 200, first.text)
      assert.equal(kvValue(first), 'before-pause')
      assert.equal(first.headers.get('x-consul-effective-consistency'), 'stale')

      // No quorum, so no new leader: the read is held (rpc_hold_timeout), then fails; it never hangs.
      const fallback = await http(lonely, 'GET', '/v1/kv/stale/k', { timeoutMs: 40_000 })
      assert.equal(fallback.status, 500, `a default read with the majority paused answered ${fallback.status}: ${fallback.text}`)
      assert.equal(fallback.text, 'No cluster leader')
      assert.ok(fallback.elapsedMs < 20_000, `the default read took ${Math.round(fallback.elapsedMs)} ms to fail`)

      const later = await http(lonely, 'GET', '/v1/kv/stale/k?stale', { timeoutMs: 5_000 })
      assert.equal(later.status, 200, later.text)
      assert.equal(kvValue(later), 'before-pause')
      const knownLeader = later.headers.get('x-consul-knownleader')
      const lastContact = Number(later.headers.get('x-consul-lastcontact'))
      assert.ok(knownLeader === 'false' || lastContact > 0, `a stale read cut off from the leader reports KnownLeader ${knownLeader} and LastContact ${lastContact}`)
    } finally {
      cluster.resume(leader.name)
      cluster.resume(other.name)
    }
    await cluster.waitForLeader()
    await waitFor(async () => (await http(lonely, 'PUT', '/v1/kv/stale/after', { body: 'resumed' }).catch(() => undefined))?.status === 200,
      { timeoutMs: 30_000, what: 'writes to succeed once the majority is back' })
    assert.equal(kvValue(await http(lonely, 'GET', '/v1/kv/stale/after?consistent')), 'resumed')
  }))
})
