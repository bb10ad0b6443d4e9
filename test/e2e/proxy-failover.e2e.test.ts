/**
 * kill -9 of the Raft leader while traffic flows through the sidecars (issue #6), on three
 * servers and a client agent c1 (block 76, test/e2e/agent-cluster.ts, default LeafCertTTL):
 *   - an echo service registered on c1 with a sidecar_service, `weft connect proxy -sidecar-for
 *     echo` and `weft connect proxy -service web -upstream echo:PORT`, both talking to c1 only;
 *   - traffic: one long-lived connection echoes a line every 100 ms, and two loops each open a
 *     new connection, echo one line and close it, one after another;
 *   - the leader is SIGKILLed; the long-lived connection must keep echoing and no new connection
 *     may fail, before, during or after the election (the data path needs no server: the proxies
 *     hold their leaves, endpoints and authorize answers come from c1's caches);
 *   - after the re-election c1 issues a leaf for a service it never saw, and certificates are
 *     renewed through the new leader: a CA rotation (an operator key, via c1) wakes a blocking
 *     leaf query with a leaf from the new root, both proxies load new leaves and the new bundle,
 *     and traffic still does not fail;
 *   - the proxies' watches recovered too: a denying intention closes the long-lived connection.
 * The renewal step depends on c1's blocking queries that were in flight to the killed server (or
 * forwarded to it by a follower) moving to another server when the connection drops; before the
 * transport abandoned them, c1's CA roots watch stayed on the dead server for its 5-minute wait.
 * Failures are counted, not retried; the diagnostics give the counts per phase and the timings.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { X509Certificate } from 'node:crypto'
import { generatePrivateKeyPem } from '../../src/ca/index.js'
import { waitFor } from '../../src/util/wait-for.js'
import { AgentCluster } from './agent-cluster.js'
import { freePort, type Spawned } from './harness.js'
import { http, runWeft, withLogs } from './http-client.js'
import { echoOnce, LineClient, logLines, startEcho, startProxy, type EchoService } from './proxy-harness.js'

const block = 76
/** Between two lines of the long-lived connection. */
const longLivedPeriodMs = 100
/** One echo, long-lived or new connection, must come back within this. */
const echoTimeoutMs = 3_000
const dialLoops = 2

interface Leaf { SerialNumber: string, CertPEM: string, ModifyIndex: number }
interface Roots { ActiveRootID: string, Roots: Array<{ ID: string, RootCert: string, Active: boolean }> }
type Phase = 'before' | 'election' | 'after' | 'rotation'

/** Counts echoes per phase; a failure keeps what happened and when. */
class Tally {
  phase: Phase = 'before'
  readonly ok = new Map<Phase, number>()
  readonly failures: string[] = []
  pass (): void { this.ok.set(this.phase, (this.ok.get(this.phase) ?? 0) + 1) }
  fail (what: string): void { this.failures.push(`${new Date().toISOString()} [${this.phase}] ${what}`) }
  summary (): string { return [...this.ok].map(([phase, count]) => `${phase} ${count}`).join(', ') }
}

async function pause (ms: number): Promise<void> {
  await new Promise(resolve => setTimeout(resolve, ms))
}

test('kill -9 of the leader under sidecar traffic: no failed echo or dial; leaves issue and renew through the new leader', { timeout: 300_000 }, async (t) => {
  const cluster = await AgentCluster.start({ block, servers: 3, clients: 1 })
  const proxies: Array<Spawned & { stop (): Promise<void> }> = []
  let echo: EchoService | null = null
  let running = true
  const loops: Array<Promise<void>> = []
  t.after(async () => {
    running = false
    await Promise.all(loops)
    for (const proxy of proxies) await proxy.stop().catch(() => {})
    await echo?.stop()
    await cluster.stop()
  })
  const c1 = cluster.get('c1')
  await withLogs(t, () => cluster, async () => {
    try {
      await waitFor(async () => (await http(c1, 'GET', '/v1/agent/connect/ca/leaf/web')).status === 200, { timeoutMs: 30_000, what: 'a first leaf from c1' })
      echo = await startEcho()
      const sidecarPort = await freePort()
      const registered = await http(c1, 'PUT', '/v1/agent/service/register', {
        body: JSON.stringify({ Name: 'echo', Port: echo.port, Connect: { SidecarService: { Port: sidecarPort } } })
      })
      assert.equal(registered.status, 200, registered.text)
      const sidecar = await startProxy(c1.http, ['-sidecar-for', 'echo'], 'echo sidecar')
      proxies.push(sidecar)
      const upstream = await freePort()
      const web = await startProxy(c1.http, ['-service', 'web', '-upstream', `echo:${upstream}`], 'web proxy')
      proxies.push(web)
      await waitFor(async () => (await echoOnce(upstream, 'ready?', echoTimeoutMs)).kind === 'echoed', { timeoutMs: 30_000, intervalMs: 100, what: 'an echo through the sidecars' })

      const longLived = new Tally()
      const dials = new Tally()
      const held = await LineClient.open(upstream)
      loops.push((async () => {
        for (let i = 0; running && !held.isClosed; i += 1) {
          const outcome = await held.echo(`long-lived ${i}`, echoTimeoutMs)
          if (outcome.kind === 'echoed') longLived.pass()
          else longLived.fail(`line ${i}: ${JSON.stringify(outcome)}`)
          await pause(longLivedPeriodMs)
        }
      })())
      for (let loop = 0; loop < dialLoops; loop += 1) {
        loops.push((async () => {
          for (let i = 0; running; i += 1) {
            const outcome = await echoOnce(upstream, `dial ${loop}.${i}`, echoTimeoutMs).catch((err: Error) => ({ kind: 'error', message: err.message }))
            if (outcome.kind === 'echoed') dials.pass()
            else dials.fail(`dial ${loop}.${i}: ${JSON.stringify(outcome)}`)
          }
        })())
      }
      const setPhase = (phase: Phase): void => { longLived.phase = phase; dials.phase = phase }
      await waitFor(() => (dials.ok.get('before') ?? 0) >= 50 && (longLived.ok.get('before') ?? 0) >= 20, { timeoutMs: 30_000, what: 'traffic before the kill' })

      const leader = await cluster.waitForLeader()
      setPhase('election')
      const killedAtMs = Date.now()
      await cluster.kill(leader.name)
      const next = await waitFor(async () => { const l = await cluster.leader(); return l !== undefined && l.name !== leader.name ? l : undefined },
        { timeoutMs: 30_000, intervalMs: 50, what: 'a new leader' })
      const electedMs = Date.now() - killedAtMs
      setPhase('after')
      t.diagnostic(`killed ${leader.name} (leader); ${next.name} leads ${electedMs} ms later`)

      // A leaf for a service c1 never saw: c1 makes the key and CSR, the new leader signs.
      const leafStartedMs = Date.now()
      const fresh = await http(c1, 'GET', '/v1/agent/connect/ca/leaf/after-failover', { timeoutMs: 20_000 })
      assert.equal(fresh.status, 200, fresh.text)
      t.diagnostic(`new leaf after the election in ${Date.now() - leafStartedMs} ms`)
      const rootsBefore = (await http(c1, 'GET', '/v1/agent/connect/ca/roots')).json as Roots
      assert.ok(new X509Certificate((fresh.json as Leaf).CertPEM).checkIssued(new X509Certificate(rootsBefore.Roots.find(r => r.Active)!.RootCert)))
      await waitFor(() => (dials.ok.get('after') ?? 0) >= 50, { timeoutMs: 30_000, what: 'traffic after the election' })

      // Renewal through the new leader: rotate the CA; a blocking leaf query wakes with a new leaf.
      setPhase('rotation')
      const webLeaf = (await http(c1, 'GET', '/v1/agent/connect/ca/leaf/web')).json as Leaf
      const proxyLeaves = { web: logLines(web, 'leaf certificate loaded').length, sidecar: logLines(sidecar, 'leaf certificate loaded').length }
      const blocking = http(c1, 'GET', `/v1/agent/connect/ca/leaf/web?index=${webLeaf.ModifyIndex}&wait=60s`, { timeoutMs: 70_000 })
      const rotatedAtMs = Date.now()
      const rotated = await http(c1, 'PUT', '/v1/connect/ca/configuration', {
        body: JSON.stringify({ Provider: 'consul', Config: { PrivateKey: generatePrivateKeyPem({ type: 'ec', bits: 256 }) } })
      })
      assert.equal(rotated.status, 200, rotated.text)
      await waitFor(async () => ((await http(c1, 'GET', '/v1/agent/connect/ca/roots')).json as Roots).ActiveRootID !== rootsBefore.ActiveRootID,
        { timeoutMs: 30_000, intervalMs: 50, what: 'c1 to learn the new root' })
      t.diagnostic(`c1 served the new root ${Date.now() - rotatedAtMs} ms after the rotation request (PUT took ${Math.round(rotated.elapsedMs)} ms)`)
      const renewed = await blocking
      t.diagnostic(`blocking leaf query returned ${Date.now() - rotatedAtMs} ms after the rotation request`)
      assert.equal(renewed.status, 200, renewed.text)
      const renewedLeaf = renewed.json as Leaf
      assert.notEqual(renewedLeaf.SerialNumber, webLeaf.SerialNumber, 'the blocking query returned a new leaf')
      assert.ok(renewedLeaf.ModifyIndex > webLeaf.ModifyIndex)
      const rootsAfter = (await http(c1, 'GET', '/v1/agent/connect/ca/roots')).json as Roots
      assert.notEqual(rootsAfter.ActiveRootID, rootsBefore.ActiveRootID)
      assert.equal(rootsAfter.Roots.length, 2, 'the old root stays trusted')
      const newRoot = new X509Certificate(rootsAfter.Roots.find(r => r.Active)!.RootCert)
      assert.ok(new X509Certificate(renewedLeaf.CertPEM).checkIssued(newRoot), 'the renewed leaf is signed by the new root')
      await waitFor(() => logLines(web, 'leaf certificate loaded').length > proxyLeaves.web && logLines(sidecar, 'leaf certificate loaded').length > proxyLeaves.sidecar,
        { timeoutMs: 45_000, what: 'both proxies to load a leaf from the new root (each agent re-issues within 30 s of a root change)' })
      const accepted = await waitFor(async () => {
        await echoOnce(upstream, 'new leaf?', echoTimeoutMs)
        const last = logLines(sidecar, 'connection accepted').at(-1)
        return last?.source === 'web' && last.serial === String(logLines(web, 'leaf certificate loaded').at(-1)?.serial) ? last : undefined
      }, { timeoutMs: 15_000, what: 'a new connection presenting web\'s renewed leaf' })
      assert.equal(accepted.source, 'web')
      await waitFor(() => (dials.ok.get('rotation') ?? 0) >= 50, { timeoutMs: 30_000, what: 'traffic after the rotation' })

      running = false
      await Promise.all(loops.splice(0))
      t.diagnostic(`long-lived echoes: ${longLived.summary()}; failures ${longLived.failures.length}`)
      t.diagnostic(`new connections: ${dials.summary()}; failures ${dials.failures.length}`)
      assert.deepEqual(longLived.failures, [], 'the long-lived connection kept echoing')
      assert.equal(held.isClosed, false)
      assert.deepEqual(dials.failures.slice(0, 10), [], `${dials.failures.length} new connections failed`)

      // The proxies' watches survived the failover: a deny closes the open connection.
      const deny = await runWeft(['intention', 'create', '-deny', `-http-addr=${c1.http}`, 'web', 'echo'])
      assert.deepEqual([deny.code, deny.stdout], [0, 'Created: web => echo (deny)\n'], deny.stderr)
      const deniedAtMs = Date.now()
      const closedAtMs = await Promise.race([held.closed, pause(5_000).then(() => -1)])
      assert.notEqual(closedAtMs, -1, 'the long-lived connection was not closed within 5 s of the deny')
      t.diagnostic(`long-lived connection closed ${closedAtMs - deniedAtMs} ms after the deny`)
    } catch (err) {
      for (const proxy of proxies) t.diagnostic(proxy.logs().split('\n').filter(line => !/"level":30/.test(line)).slice(-30).join('\n'))
      throw err
    }
  })
})
