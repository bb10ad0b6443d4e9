/**
 * Real `weft agent` processes under faults: kill -9 of the leader, writes through followers, a
 * paused majority, and a linearizability check of ?consistent reads and ?cas writes recorded by
 * concurrent clients while servers crash and pause.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { AgentCluster, type AgentProcess } from './agent-cluster.js'
import { waitFor } from '../../src/util/wait-for.js'
import { checkRegisterHistory, type HistoryEntry } from '../support/linearizability.js'

/** Long enough for a leader election plus the servers' hold; short enough to move on from a paused server. */
const requestTimeoutMs = 4_000

async function put (agent: AgentProcess, key: string, value: string, query = '', timeoutMs = 15_000): Promise<{ status: number, body: string }> {
  const response = await fetch(`${agent.http}/v1/kv/${key}${query}`, { method: 'PUT', body: value, signal: AbortSignal.timeout(timeoutMs) })
  return { status: response.status, body: await response.text() }
}

async function get (agent: AgentProcess, key: string, query = '', timeoutMs = 15_000): Promise<{ status: number, value: string | null, index: number }> {
  const response = await fetch(`${agent.http}/v1/kv/${key}${query}`, { signal: AbortSignal.timeout(timeoutMs) })
  const index = Number(response.headers.get('x-consul-index') ?? 0)
  if (response.status === 404) { await response.arrayBuffer(); return { status: 404, value: null, index } }
  const body = await response.json() as Array<{ Value: string | null }>
  const raw = body[0]?.Value ?? null
  return { status: response.status, value: raw === null ? '' : Buffer.from(raw, 'base64').toString('utf8'), index }
}

test('an acknowledged write survives kill -9 of the leader, and the new leader accepts writes', { timeout: 120_000 }, async (t) => {
  const cluster = await AgentCluster.start({ block: 51, clients: 0 })
  t.after(async () => await cluster.stop())
  const leader = await cluster.waitForLeader()
  const follower = cluster.servers().find(s => s !== leader)!
  for (let i = 0; i < 20; i += 1) assert.equal((await put(follower, `survive/${i}`, `v${i}`)).status, 200)
  await cluster.kill(leader.name)
  const newLeader = await waitFor(async () => {
    const found = await cluster.leader()
    return found !== undefined && found !== leader ? found : undefined
  }, { timeoutMs: 30_000, what: 'a new leader' })
  for (let i = 0; i < 20; i += 1) {
    const read = await get(newLeader, `survive/${i}`, '?consistent')
    assert.equal(read.value, `v${i}`, `acknowledged survive/${i} was lost`)
  }
  assert.equal((await put(newLeader, 'after', 'kill')).status, 200)
  await cluster.startAgent(leader.name)
  await waitFor(async () => (await get(leader, 'after', '?stale')).value === 'kill', { timeoutMs: 30_000, what: 'the restarted server to catch up' })
})

test('a write to a follower is forwarded; a minority cut off from the majority acknowledges nothing', { timeout: 120_000 }, async (t) => {
  const cluster = await AgentCluster.start({ block: 52, clients: 0 })
  let passed = false
  t.after(async () => {
    if (!passed) t.diagnostic(cluster.logs())
    await cluster.stop()
  })
  const leader = await cluster.waitForLeader()
  const [lonely, other] = cluster.servers().filter(s => s !== leader)
  assert.equal((await put(lonely!, 'forwarded', 'yes')).status, 200)
  assert.equal((await get(leader, 'forwarded', '?consistent')).value, 'yes')
  // Pause the leader and the other follower: `lonely` is a minority of one.
  cluster.pause(leader.name)
  cluster.pause(other!.name)
  try {
    const attempt = await put(lonely!, 'minority', 'must-not-commit').catch(err => ({ status: 0, body: String(err) }))
    assert.notEqual(attempt.status, 200, `a minority acknowledged a write: ${attempt.body}`)
  } finally {
    cluster.resume(leader.name)
    cluster.resume(other!.name)
  }
  await cluster.waitForLeader()
  // Whatever the minority did with it, the write was never acknowledged; the cluster serves on.
  // Service resumes once the majority is back (the election after the pause may take a moment).
  // TODO(weft): recovery here has once taken over 30 s under a fully loaded CI run (#3); the
  // deadline is generous so the test measures correctness, and the note tracks the latency.
  await waitFor(async () => (await put(lonely!, 'after-pause', 'ok', '', 8_000).catch(() => ({ status: 0 }))).status === 200, { timeoutMs: 90_000, what: 'writes to resume after the pause' })
  passed = true
})

test('?consistent reads and ?cas writes stay linearizable while servers crash and pause', { timeout: 240_000 }, async (t) => {
  const cluster = await AgentCluster.start({ block: 53, clients: 0 })
  let running = true
  let passed = false
  t.after(async () => {
    running = false
    if (!passed) t.diagnostic(cluster.logs())
    await cluster.stop()
  })
  await cluster.waitForLeader()
  const started = performance.now()
  const history: HistoryEntry[] = []
  const key = 'register'
  const errors: string[] = []
  const picks: Record<string, number> = {}
  let counter = 0
  const clientLoop = async (process: number): Promise<void> => {
    for (let step = 0; running; step += 1) {
      // Each client rotates over every server it believes is up, paused ones included (as a
      // real client would, not knowing); requests there time out and are recorded as such.
      const servers = cluster.servers().filter(s => s.proc !== null)
      const server = servers[(process + step) % servers.length]!
      const choice = (process + step * 7) % 3
      counter += 1
      picks[server.name] = (picks[server.name] ?? 0) + 1
      const invokeMs = performance.now() - started
      let sentCas: { invokeMs: number, expected: string | null, value: string } | null = null
      try {
        if (choice === 0) {
          const read = await get(server, key, '?consistent', requestTimeoutMs)
          if (read.status === 200 || read.status === 404) {
            history.push({ process, invokeMs, completeMs: performance.now() - started, op: { kind: 'read', value: read.value }, known: true })
          }
        } else {
          const current = await get(server, key, '?consistent', requestTimeoutMs)
          if (current.status !== 200 && current.status !== 404) continue
          const value = `p${process}-${counter}`
          const casIndex = current.status === 404 ? 0 : current.index
          const casInvokeMs = performance.now() - started
          sentCas = { invokeMs: casInvokeMs, expected: current.value, value }
          // cas on the index just read: succeeds only if nobody wrote in between.
          const modify = await fetch(`${server.http}/v1/kv/${key}?cas=${casIndex}`, { method: 'PUT', body: value, signal: AbortSignal.timeout(requestTimeoutMs) })
          const text = await modify.text()
          if (modify.status === 200) {
            history.push({ process, invokeMs: casInvokeMs, completeMs: performance.now() - started, op: { kind: 'cas', expected: current.value, value, succeeded: text.trim() === 'true' }, known: true })
          } else {
            history.push({ process, invokeMs: casInvokeMs, completeMs: Infinity, op: { kind: 'cas', expected: current.value, value, succeeded: false }, known: false })
          }
        }
      } catch (err) {
        errors.push(`${server.name}: ${(err as Error).message}`)
        if (sentCas !== null) history.push({ process, invokeMs: sentCas.invokeMs, completeMs: Infinity, op: { kind: 'cas', expected: sentCas.expected, value: sentCas.value, succeeded: false }, known: false })
        await new Promise(resolve => setTimeout(resolve, 50))
      }
    }
  }
  const clients = Array.from({ length: 3 }, async (_, i) => await clientLoop(i))
  // Faults: kill -9 a server, restart it; pause another, resume it.
  for (let round = 0; round < 3; round += 1) {
    const before = history.length
    await waitFor(() => history.length >= before + 20, { timeoutMs: 60_000, what: `progress before fault round ${round}` })
    const victim = round === 1 ? (await cluster.waitForLeader()) : cluster.servers()[round % 3]!
    if (round === 2) {
      cluster.pause(victim.name)
      const during = history.length
      await waitFor(() => history.length >= during + 10, { timeoutMs: 60_000, what: `progress while ${victim.name} is paused` }).catch((err: Error) => {
        throw new Error(`${err.message}; history ${history.length} (was ${during}); picks ${JSON.stringify(picks)}; last client errors: ${errors.slice(-8).join(' | ')}`)
      })
      cluster.resume(victim.name)
    } else {
      await cluster.kill(victim.name)
      const during = history.length
      await waitFor(() => history.length >= during + 10, { timeoutMs: 60_000, what: `progress while ${victim.name} is down` })
      await cluster.startAgent(victim.name)
    }
  }
  running = false
  await Promise.all(clients)
  // The cas op above reads "expected" from a separate read, so a cas "succeeded" means the
  // register held `expected` at its linearization point: that is what the checker verifies.
  const result = checkRegisterHistory(history, null)
  t.diagnostic(`${history.length} operations: ${result.detail}`)
  assert.ok(result.decided, result.detail)
  assert.ok(result.linearizable, result.detail)
  passed = true
})
