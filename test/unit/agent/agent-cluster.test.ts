/**
 * Agents in one process, each on its own loopback address with Consul's ports, as if on four
 * machines: three servers bootstrap through -retry-join with bootstrap_expect 3, accept writes
 * through any of them, admit a fourth server as learner and promote it, and a client agent
 * reaches them over RPC.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pino } from 'pino'
import { Agent, type AgentSettings } from '../../../src/agent/agent.js'
import { waitFor } from '../../../src/util/wait-for.js'
import type { QueryOptions } from '../../../src/rpc/types.js'

const logger = pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' })
const encoder = new TextEncoder()
const stale: QueryOptions = { consistency: 'stale', minQueryIndex: 0, maxQueryTimeMs: 0, token: null }
const consistent: QueryOptions = { ...stale, consistency: 'consistent' }

function settings (dir: string, name: string, ip: string, overrides: Partial<AgentSettings> = {}): AgentSettings {
  return {
    nodeName: name,
    datacenter: 'dc1',
    dataDir: join(dir, name),
    server: true,
    bootstrap: false,
    bootstrapExpect: 3,
    bindAddr: ip,
    advertiseAddr: ip,
    serverPort: 8300,
    serfLanPort: 8301,
    clientAddr: ip,
    httpPort: 8500,
    retryJoin: ['127.0.0.41', '127.0.0.42', '127.0.0.43'],
    retryIntervalMs: 200,
    encrypt: 'aGVsbG8gd29ybGQgdGhpcyBpcyBhIDMyIGJ5dGUga2U=',
    raftTickMs: 10,
    raftElectionTicks: 20,
    raftHeartbeatTicks: 2,
    version: '0.1.0',
    connectEnabled: true,
    caConfig: {},
    dev: false,
    ...overrides
  }
}

test('three servers bootstrap once via retry-join, a fourth joins and is promoted, a client reaches them', { timeout: 60_000 }, async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'weft-agent-'))
  const agents: Agent[] = []
  t.after(async () => {
    for (const agent of agents.reverse()) await agent.stop({ leave: false }).catch(() => {})
    await rm(dir, { recursive: true, force: true })
  })
  // Start in reverse order with delays-free interleaving: the bootstrap must not depend on order.
  for (const [name, ip] of [['s3', '127.0.0.43'], ['s1', '127.0.0.41'], ['s2', '127.0.0.42']] as const) {
    const agent = new Agent(settings(dir, name, ip), logger.child({ node: name }))
    agents.push(agent)
    await agent.start()
  }
  const leader = await waitFor(() => agents.find(a => a.raft?.isLeader === true), { timeoutMs: 20_000, what: 'a leader' })
  const voters = leader.raft!.status().configuration.voters
  assert.equal(voters.length, 3)
  // A founder that saw the others bootstrap first learns the same founding configuration from
  // the leader's log instead of writing it: either way every server ends in the one cluster.
  for (const agent of agents) {
    await waitFor(() => agent.raft!.started && agent.raft!.status().configuration.voters.length === 3 && agent.raft!.leaderId === leader.nodeId,
      { timeoutMs: 10_000, what: `${agent.settings.nodeName} to follow the one cluster` })
  }

  const follower = agents.find(a => a !== leader)!
  assert.equal(await follower.serverApi!.kvPut('a/b', encoder.encode('1'), { flags: 0, cas: null }, { token: null }), true)
  const read = await agents[2]!.serverApi!.kvGet('a/b', { recurse: false }, consistent)
  assert.equal(new TextDecoder().decode(read.value[0]!.Value!), '1')

  const fourth = new Agent(settings(dir, 's4', '127.0.0.44', { bootstrapExpect: 0 }), logger.child({ node: 's4' }))
  agents.push(fourth)
  await fourth.start()
  await waitFor(() => leader.raft!.status().configuration.voters.includes(fourth.nodeId), { timeoutMs: 20_000, what: 's4 promoted to voter' })
  await waitFor(async () => (await fourth.serverApi!.kvGet('a/b', { recurse: false }, stale)).value.length === 1, { timeoutMs: 10_000, what: 's4 has the data' })

  const client = new Agent(settings(dir, 'c1', '127.0.0.45', { server: false, bootstrapExpect: 0 }), logger.child({ node: 'c1' }))
  agents.push(client)
  await client.start()
  await waitFor(async () => {
    try {
      return await client.serverApi!.kvPut('from/client', encoder.encode('x'), { flags: 0, cas: null }, { token: null })
    } catch { return false }
  }, { timeoutMs: 10_000, what: 'a write through the client agent' })
  const viaClient = await client.serverApi!.kvGet('from/client', { recurse: false }, { ...stale, consistency: 'default' })
  assert.equal(viaClient.value.length, 1)
})
