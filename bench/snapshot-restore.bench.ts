/**
 * `node dist/bench/snapshot-restore.bench.js`: how much memory a PUT /v1/snapshot costs each
 * server. Three weft servers (127.0.59.11-13, fsync on, raft_multiplier 1) are loaded with
 * BENCH_RESTORE_MIB MiB of KV data (256 KiB incompressible values) and a snapshot is taken with
 * GET /v1/snapshot. Then, as in a disaster recovery, the cluster is stopped and a fresh, empty
 * one restores the snapshot with PUT /v1/snapshot sent to its leader; an idle fresh server makes
 * the "before" figure a clean baseline (the loaded servers keep garbage from the load that V8
 * has not handed back). For each server it reports the resident set before the PUT, its peak
 * during the PUT (the kernel's VmHWM from /proc/<pid>/status, reset through
 * /proc/<pid>/clear_refs just before), and after it, in MiB, plus the restore's duration.
 * Linux only.
 *
 * Peak RSS is a rough figure: V8 grows its heap lazily and collects when it likes, so the same
 * run can differ by tens of MiB. Compare sizes and roles, not single megabytes.
 *
 * Prints progress on stderr and one JSON line per server and size on stdout.
 * Environment: BENCH_RESTORE_MIB ("64,256").
 */
import { readFile, writeFile } from 'node:fs/promises'
import { SeededPrng } from '../src/util/prng.js'
import { installCleanupHooks, makeTempDir, removeTempDir } from './support/procs.js'
import type { Member } from './support/kv-cluster.js'
import { WeftCluster } from './support/weft-cluster.js'
import { waitFor } from '../src/util/wait-for.js'

const sizesMiB = (process.env.BENCH_RESTORE_MIB ?? '64,256').split(',').map(Number)
const valueBytes = 256 * 1024
const block = 71 // not an e2e block (51-68), so the bench can run beside the tests

function url (member: Member, path: string): string {
  return `http://${member.host}:${member.port}${path}`
}

async function must (response: Promise<Response>, what: string): Promise<Response> {
  const answer = await response
  if (!answer.ok) throw new Error(`${what}: HTTP ${answer.status} ${(await answer.text()).slice(0, 300)}`)
  return answer
}

async function memoryMiB (pid: number): Promise<{ rss: number, peak: number }> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8')
  const kib = (field: string): number => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN)
  return { rss: Math.round(kib('VmRSS') / 1024), peak: Math.round(kib('VmHWM') / 1024) }
}

/** Writes `mib` MiB of KV values to the leader, four requests at a time. */
async function load (leader: Member, mib: number): Promise<void> {
  const prng = new SeededPrng(mib)
  const keys = Math.ceil(mib * 1024 * 1024 / valueBytes)
  let next = 0
  const worker = async (): Promise<void> => {
    for (let key = next++; key < keys; key = next++) {
      const value = Uint8Array.from({ length: valueBytes }, () => prng.nextInt(256))
      await must(fetch(url(leader, `/v1/kv/bench/${String(key).padStart(6, '0')}`), { method: 'PUT', body: value, signal: AbortSignal.timeout(30_000) }), `PUT key ${key}`)
    }
  }
  await Promise.all([worker(), worker(), worker(), worker()])
}

/** A cluster loaded with `mib` MiB of KV data, saved, stopped. */
async function savedSnapshot (mib: number): Promise<Uint8Array> {
  const dir = await makeTempDir('weft-bench-restore-source-')
  const cluster = await WeftCluster.start({ block, dir, raftMultiplier: 1 })
  try {
    const leader = await waitFor(async () => await cluster.leader(), { timeoutMs: 30_000, what: 'a leader' })
    process.stderr.write(`loading ${mib} MiB into ${leader.name}\n`)
    await load(leader, mib)
    return new Uint8Array(await (await must(fetch(url(leader, '/v1/snapshot'), { signal: AbortSignal.timeout(300_000) }), 'GET /v1/snapshot')).arrayBuffer())
  } finally {
    await cluster.stop()
    await removeTempDir(dir)
  }
}

async function runSize (mib: number): Promise<void> {
  const snapshot = await savedSnapshot(mib)
  const dir = await makeTempDir('weft-bench-restore-')
  const cluster = await WeftCluster.start({ block, dir, raftMultiplier: 1 })
  try {
    const leader = await waitFor(async () => await cluster.leader(), { timeoutMs: 30_000, what: 'a leader' })
    process.stderr.write(`snapshot of ${(snapshot.length / 2 ** 20).toFixed(1)} MiB; restoring into a fresh cluster through ${leader.name}\n`)
    const pids = cluster.members.map(member => ({ member, pid: member.proc!.pid }))
    const before = new Map<string, number>()
    for (const { member, pid } of pids) {
      await writeFile(`/proc/${pid}/clear_refs`, '5')
      before.set(member.name, (await memoryMiB(pid)).rss)
    }
    const started = performance.now()
    await must(fetch(url(leader, '/v1/snapshot'), { method: 'PUT', body: snapshot, signal: AbortSignal.timeout(900_000) }), 'PUT /v1/snapshot')
    const seconds = (performance.now() - started) / 1000
    // The PUT returns once the leader applied the finish; the followers may still be applying it.
    for (const member of cluster.members) {
      await waitFor(async () => await cluster.hasKey(member, 'bench/000000'), { timeoutMs: 300_000, intervalMs: 200, what: `${member.name} to apply the restore` })
    }
    for (const { member, pid } of pids) {
      const after = await memoryMiB(pid)
      console.log(JSON.stringify({
        case: 'snapshot-restore',
        snapshotMiB: Number((snapshot.length / 2 ** 20).toFixed(1)),
        server: member.name,
        role: member === leader ? 'leader' : 'follower',
        rssBeforeMiB: before.get(member.name),
        rssPeakMiB: after.peak,
        rssAfterMiB: after.rss,
        peakOverBeforeMiB: after.peak - (before.get(member.name) ?? 0),
        seconds: Number(seconds.toFixed(2))
      }))
    }
  } finally {
    await cluster.stop()
    await removeTempDir(dir)
  }
}

installCleanupHooks()
for (const mib of sizesMiB) await runSize(mib)
