/**
 * `npm run bench:raft`: three Raft nodes in one process over the real ZeroMQ CURVE transport and
 * LevelDB with fsync. For 1, 16 and 64 concurrent proposers, each proposing 256-byte commands on
 * the leader back to back for a fixed time: commits/s and p50/p99 commit latency (propose until
 * applied on the leader). Prints a table and one JSON line per case.
 *
 * Environment: BENCH_SECONDS (per case, default 10), BENCH_CONCURRENCY (e.g. "1,16,64").
 */
import { execFileSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { cpus } from 'node:os'
import { TestCluster } from '../test/support/raft-cluster.js'
import { waitFor } from '../src/util/wait-for.js'

const seconds = Number(process.env.BENCH_SECONDS ?? 10)
const concurrencies = (process.env.BENCH_CONCURRENCY ?? '1,16,64').split(',').map(Number)
const commandBytes = 256

function commit (): string {
  try { return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim() } catch { return 'unknown' }
}

function percentile (sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!
}

async function runCase (concurrency: number): Promise<Record<string, unknown>> {
  const cluster = await TestCluster.start({ size: 3, nodeOptions: { tickMs: 50, electionTicks: 20, heartbeatTicks: 2, snapshotEveryEntries: 20_000 } })
  try {
    const leader = await waitFor(() => cluster.leader(), { timeoutMs: 15_000, what: 'a leader' })
    await leader.node.propose(randomBytes(commandBytes))
    const latenciesMs: number[] = []
    let errors = 0
    const deadline = performance.now() + seconds * 1000
    const proposer = async (): Promise<void> => {
      while (performance.now() < deadline) {
        const started = performance.now()
        try {
          await leader.node.propose(randomBytes(commandBytes))
          latenciesMs.push(performance.now() - started)
        } catch {
          errors += 1
        }
      }
    }
    const started = performance.now()
    await Promise.all(Array.from({ length: concurrency }, proposer))
    const elapsedS = (performance.now() - started) / 1000
    latenciesMs.sort((a, b) => a - b)
    return {
      bench: 'raft',
      case: `propose-${commandBytes}B-c${concurrency}`,
      concurrency,
      commits: latenciesMs.length,
      errors,
      commitsPerSecond: Math.round(latenciesMs.length / elapsedS),
      p50Ms: Number(percentile(latenciesMs, 0.5).toFixed(2)),
      p99Ms: Number(percentile(latenciesMs, 0.99).toFixed(2)),
      seconds,
      nodes: 3,
      fsync: true,
      commit: commit(),
      cpus: cpus().length,
      node: process.version
    }
  } finally {
    await cluster.stop()
  }
}

const rows: Array<Record<string, unknown>> = []
for (const concurrency of concurrencies) {
  process.stderr.write(`bench:raft: ${concurrency} concurrent proposers for ${seconds} s...\n`)
  const row = await runCase(concurrency)
  rows.push(row)
  console.log(JSON.stringify(row))
}
console.log('')
console.log('case                       commits/s   p50 ms   p99 ms   errors')
for (const row of rows) {
  console.log(`${String(row.case).padEnd(26)} ${String(row.commitsPerSecond).padStart(9)} ${String(row.p50Ms).padStart(8)} ${String(row.p99Ms).padStart(8)} ${String(row.errors).padStart(8)}`)
}
