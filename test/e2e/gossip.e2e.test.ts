/**
 * Gossip with real processes (issue #5): three servers and three client agents form one
 * encrypted pool; an agent with another key is refused and says why; the keyring rotates (install,
 * use, remove) while writes flow, losing no member and no write; a killed client's services go
 * critical in health within the failure-detection bound and come back when it restarts; a client
 * that leaves shows as left and leaves the catalog. Address block 74.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { waitFor } from '../../src/util/wait-for.js'
import { AgentCluster } from './agent-cluster.js'
import { killHard, spawnReady } from './harness.js'
import { http, runWeft, withLogs } from './http-client.js'

const weft = fileURLToPath(new URL('../../cmd/weft.js', import.meta.url))
const key = randomBytes(32).toString('base64')

interface AgentMember { Name: string, Status: number }

async function memberStates (base: string): Promise<Map<string, number>> {
  const answer = await http(base, 'GET', '/v1/agent/members')
  assert.equal(answer.status, 200, answer.text)
  return new Map((answer.json as AgentMember[]).map(member => [member.Name, member.Status]))
}

async function passingInstances (base: string, service: string): Promise<number> {
  const answer = await http(base, 'GET', `/v1/health/service/${service}?passing`)
  assert.equal(answer.status, 200, answer.text)
  return (answer.json as unknown[]).length
}

test('gossip: one encrypted pool, wrong key refused, keyring rotation under load, failure detection in health', { timeout: 300_000 }, async (t) => {
  const cluster = await AgentCluster.start({ block: 74, servers: 3, clients: 3, extraArgs: [`-encrypt=${key}`] })
  t.after(async () => await cluster.stop())
  const names = ['s1', 's2', 's3', 'c1', 'c2', 'c3']
  const s1 = cluster.get('s1').http

  await t.test('six agents, every one sees every other alive', async (st) => withLogs(st, () => cluster, async () => {
    for (const name of names) {
      await waitFor(async () => {
        const states = await memberStates(cluster.get(name).http)
        return names.every(other => states.get(other) === 1)
      }, { timeoutMs: 30_000, what: `${name} to see all six members alive` })
    }
    const listed = await runWeft(['members', `-http-addr=${cluster.get('c1').ip}:8500`])
    assert.equal(listed.code, 0, listed.stderr)
    assert.match(listed.stdout, /^Node\s+Address\s+Status\s+Type\s+Build\s+Protocol\s+DC/)
    assert.equal(listed.stdout.split('\n').filter(line => / alive /.test(line)).length, 6)
  }))

  await t.test('an agent with another gossip key cannot join and says why', async (st) => withLogs(st, () => cluster, async () => {
    const intruder = await spawnReady(process.execPath, [
      weft, 'agent', '-node=intruder', '-bind=127.0.74.9', '-client=127.0.74.9', `-data-dir=${join(cluster.dir, 'intruder')}`,
      '-retry-join=127.0.74.11', `-encrypt=${randomBytes(32).toString('base64')}`, '-log-json'
    ], { timeoutMs: 30_000, what: 'intruder agent' })
    try {
      await waitFor(async () => /no reply could be decrypted — is the gossip key \(-encrypt\) the same on every agent\?/.test(intruder.logs()),
        { timeoutMs: 20_000, what: 'the intruder to report the key mismatch' })
      await waitFor(async () => /dropped gossip that no installed key decrypts/.test(cluster.get('s1').proc!.logs()),
        { timeoutMs: 20_000, what: 's1 to warn about undecryptable gossip' })
      assert.equal((await memberStates(s1)).has('intruder'), false, 'the intruder is not a member')
    } finally {
      await killHard(intruder)
    }
  }))

  await t.test('keyring rotation while writes flow: no member lost, no write failed', async (st) => withLogs(st, () => cluster, async () => {
    const c1 = `${cluster.get('c1').ip}:8500`
    let writing = true
    const failures: string[] = []
    let acknowledged = 0
    const writer = (async () => {
      for (let i = 0; writing; i += 1) {
        const answer = await http(cluster.get('c2').http, 'PUT', `/v1/kv/rotation/${i}`, { body: String(i) }).catch((err: Error) => ({ status: 0, text: err.message }))
        if (answer.status === 200) acknowledged += 1
        else failures.push(`${i}: ${answer.status} ${answer.text}`)
      }
    })()
    const newKey = randomBytes(32).toString('base64')
    for (const args of [['-install', newKey], ['-use', newKey], ['-remove', key]]) {
      const result = await runWeft(['keyring', ...args, `-http-addr=${c1}`], { timeoutMs: 30_000 })
      assert.equal(result.code, 0, `keyring ${args[0]!}: ${result.stderr}${result.stdout}`)
    }
    const listed = await runWeft(['keyring', '-list', `-http-addr=${c1}`])
    assert.equal(listed.code, 0, listed.stderr)
    assert.ok(listed.stdout.includes(`${newKey} [6/6]`), listed.stdout)
    assert.ok(!listed.stdout.includes(key), 'the old key is gone everywhere')
    // Every member is still alive after the old key went away.
    for (const name of names) assert.ok([...(await memberStates(cluster.get(name).http)).entries()].filter(([n]) => names.includes(n)).every(([, s]) => s === 1), `${name} lost a member`)
    writing = false
    await writer
    assert.deepEqual(failures.slice(0, 5), [], `${failures.length} writes failed during the rotation`)
    assert.ok(acknowledged > 10, `only ${acknowledged} writes`)
    // Saved: the keyring file of a client now holds only the new key.
    assert.deepEqual(JSON.parse(await readFile(join(cluster.dir, 'c3', 'serf', 'local.keyring'), 'utf8')), [newKey])
  }))

  await t.test('a killed client goes critical in health within the detection bound, and comes back on restart', async (st) => withLogs(st, () => cluster, async () => {
    const c3 = cluster.get('c3').http
    const registered = await http(c3, 'PUT', '/v1/agent/service/register', { body: JSON.stringify({ Name: 'gossip-probe', Port: 9000 }) })
    assert.equal(registered.status, 200, registered.text)
    await waitFor(async () => await passingInstances(s1, 'gossip-probe') === 1, { timeoutMs: 20_000, what: 'the service to be passing' })
    await cluster.kill('c3')
    const killedAt = Date.now()
    await waitFor(async () => await passingInstances(s1, 'gossip-probe') === 0, { timeoutMs: 30_000, what: 'the service to drop out of ?passing' })
    const detectionMs = Date.now() - killedAt
    st.diagnostic(`c3 dropped out of ?passing ${detectionMs} ms after kill -9`)
    // LAN defaults: 1 s probes, suspicion 4 x log10(6) ~ 3 s (more when confirmations are few) plus a leader round.
    assert.ok(detectionMs < 20_000, `detection took ${detectionMs} ms`)
    assert.equal((await memberStates(s1)).get('c3'), 4, 'c3 is failed')
    await cluster.startAgent('c3')
    await waitFor(async () => await passingInstances(s1, 'gossip-probe') === 1, { timeoutMs: 30_000, what: 'the service to pass again after the restart' })
  }))

  await t.test('a client that leaves shows as left and leaves the catalog', async (st) => withLogs(st, () => cluster, async () => {
    const left = await runWeft(['leave', `-http-addr=${cluster.get('c2').ip}:8500`])
    assert.equal(left.code, 0, left.stderr)
    await waitFor(async () => (await memberStates(s1)).get('c2') === 3, { timeoutMs: 20_000, what: 'c2 to show as left' })
    await waitFor(async () => (await http(s1, 'GET', '/v1/catalog/node/c2')).text === 'null', { timeoutMs: 20_000, what: 'c2 to leave the catalog' })
  }))
})
