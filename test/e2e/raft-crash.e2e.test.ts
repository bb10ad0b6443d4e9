/**
 * kill -9 of Raft server processes, the leader included, under a continuous write load: no
 * acknowledged write is lost, and every server ends with the same applied sequence.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { loadOrCreateCurveKeyPair } from '../../src/raft/curve-keys.js'
import { formatPeerAddress } from '../../src/raft/node.js'
import { waitFor } from '../../src/util/wait-for.js'
import { freePort, killHard, spawnReady, type Spawned } from './harness.js'

const fixture = fileURLToPath(new URL('./fixtures/raft-server.js', import.meta.url))

interface Server { id: string, args: string, proc: Spawned, http: string }

async function startServer (id: string, args: string): Promise<Server> {
  const proc = await spawnReady(process.execPath, [fixture, args], { timeoutMs: 15_000, what: `raft server ${id}` })
  return { id, args, proc, http: proc.ready.http as string }
}

async function getJson (url: string): Promise<{ status: number, body: Record<string, unknown> }> {
  const response = await fetch(url, { signal: AbortSignal.timeout(6_000) })
  return { status: response.status, body: await response.json() as Record<string, unknown> }
}

test('kill -9 of any server, the leader included, loses no acknowledged write', { timeout: 180_000 }, async (t) => {
  const root = await mkdtemp(join(tmpdir(), 'weft-e2e-raft-'))
  const ids = ['n1', 'n2', 'n3']
  const addresses: Record<string, string> = {}
  const argsById: Record<string, string> = {}
  const endpoints: Record<string, string> = {}
  for (const id of ids) {
    const { keyPair } = await loadOrCreateCurveKeyPair(join(root, id))
    endpoints[id] = `tcp://127.0.0.1:${await freePort()}`
    addresses[id] = formatPeerAddress({ endpoint: endpoints[id], publicKey: keyPair.publicKey })
  }
  const bootstrap = { voters: ids, learners: [], addresses }
  for (const id of ids) argsById[id] = JSON.stringify({ id, dataDir: join(root, id), endpoint: endpoints[id], bootstrap })
  const servers = new Map<string, Server>()
  let running = true
  let passed = false
  t.after(async () => {
    running = false
    if (!passed) {
      for (const server of servers.values()) {
        const tail = server.proc.logs().split('\n').filter(line => /"level":"(warn|error)"|raft state changed|stepping|became leader/.test(line)).slice(-40)
        t.diagnostic(`--- ${server.id} log tail ---\n${tail.join('\n')}`)
      }
    }
    for (const server of servers.values()) await killHard(server.proc)
    await rm(root, { recursive: true, force: true })
  })
  for (const id of ids) servers.set(id, await startServer(id, argsById[id]!))

  // Writers: each sends values to a server in turn; a 200 means acknowledged (durable on a quorum).
  const acknowledged = new Set<string>()
  let failures = 0
  let counter = 0
  const writer = async (writerId: number): Promise<void> => {
    while (running) {
      const server = [...servers.values()][counter % servers.size]!
      const value = `w${writerId}-${counter++}`
      try {
        const response = await fetch(`${server.http}/propose`, { method: 'POST', body: value, signal: AbortSignal.timeout(6_000) })
        if (response.status === 200) acknowledged.add(value)
        else failures += 1
        await response.arrayBuffer()
      } catch {
        failures += 1 // the server was killed mid-request: outcome unknown, not acknowledged
        await new Promise(resolve => setTimeout(resolve, 20))
      }
    }
  }
  const writers = Array.from({ length: 4 }, async (_, i) => await writer(i))

  const leaderOf = async (): Promise<string> => await waitFor(async () => {
    for (const server of servers.values()) {
      const result = await getJson(`${server.http}/status`).catch(() => null)
      if (result?.body.isLeader === true) return server.id
    }
    return undefined
  }, { timeoutMs: 10_000, what: 'a leader' })
  // Crash rounds: kill -9 one server (the leader in odd rounds), let the others make progress
  // without it, restart it from its data directory.
  for (let round = 0; round < 4; round += 1) {
    const before = acknowledged.size
    await waitFor(() => acknowledged.size >= before + 50, { timeoutMs: 30_000, what: `progress before crash round ${round}` })
    const victimId = round % 2 === 1 ? await leaderOf() : ids[round % 3]!
    const victim = servers.get(victimId)!
    await killHard(victim.proc)
    servers.delete(victimId)
    const during = acknowledged.size
    await waitFor(() => acknowledged.size >= during + 30, { timeoutMs: 30_000, what: `progress while ${victimId} is down` })
    servers.set(victimId, await startServer(victimId, argsById[victimId]!))
  }
  running = false
  await Promise.all(writers)
  assert.ok(acknowledged.size > 200, `only ${acknowledged.size} writes were acknowledged`)

  // Every server, after a read barrier, holds every acknowledged value, in the same order.
  const sequences = new Map<string, string[]>()
  for (const server of servers.values()) {
    const values = await waitFor(async () => {
      const result = await getJson(`${server.http}/values`)
      if (result.status !== 200) return undefined
      const list = result.body.values as string[]
      return [...acknowledged].every(v => list.includes(v)) ? list : undefined
    }, { timeoutMs: 30_000, what: `${server.id} to hold every acknowledged write` })
    sequences.set(server.id, values)
  }
  const [first, ...rest] = [...sequences.values()]
  for (const other of rest) {
    const common = Math.min(first!.length, other.length)
    assert.deepEqual(other.slice(0, common), first!.slice(0, common), 'servers applied different sequences')
  }
  passed = true
  t.diagnostic(`acknowledged ${acknowledged.size} writes, ${failures} unacknowledged attempts across 4 kill -9 rounds`)
})
